/**
 * A bounds-checked protobuf wire reader for the recordIO decoder. Every read past the end of the
 * enclosing message is a `RecordIOFormatError` (never a RangeError or a silent garbage value), varints
 * are read as two 32-bit halves so uint64 values above 2^53 - 1 are detected instead of rounded, and
 * skipping unknown groups is depth-limited. One reader is reused across records (`reset`).
 */
import { RecordIOFormatError } from './errors';

const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true }); // keep a leading U+FEFF: it is data
/** protobuf's default recursion limit. */
const MAX_GROUP_DEPTH = 100;
const EMPTY = new Uint8Array(0);

/** A growable float64 list, reused from record to record (float32 and int32 values are exact in it). */
export class NumberList {
  data: Float64Array;
  length = 0;

  constructor(capacity = 16) {
    this.data = new Float64Array(capacity);
  }

  clear(): void {
    this.length = 0;
  }

  /** Makes room for `extra` more values. */
  reserve(extra: number): void {
    if (this.length + extra <= this.data.length) return;
    let capacity = this.data.length * 2;
    while (capacity < this.length + extra) capacity *= 2;
    const grown = new Float64Array(capacity);
    grown.set(this.data.subarray(0, this.length));
    this.data = grown;
  }

  push(value: number): void {
    if (this.length === this.data.length) this.reserve(1);
    this.data[this.length++] = value;
  }
}

export class ProtoReader {
  pos = 0;
  end = 0;
  private bytes: Uint8Array = EMPTY;
  private view: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer);
  /** Start of the payload: error offsets are relative to it. */
  private base = 0;
  /** The last varint read, as two unsigned 32-bit halves. */
  private lo = 0;
  private hi = 0;
  /** Position of the last tag read: skip errors point at the field they skip. */
  private tagPos = 0;
  /** Ends of the enclosing messages while inside a sub-message. */
  private readonly outerEnds: number[] = [];

  /** Points the reader at the payload `bytes[start, end)`. */
  reset(bytes: Uint8Array, start = 0, end = bytes.length): void {
    const view = this.view;
    if (
      bytes.buffer !== view.buffer ||
      bytes.byteOffset !== view.byteOffset ||
      bytes.byteLength !== view.byteLength
    ) {
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    this.bytes = bytes;
    this.base = start;
    this.pos = start;
    this.end = end;
    this.outerEnds.length = 0;
  }

  error(message: string, at: number = this.pos): RecordIOFormatError {
    return new RecordIOFormatError(`${message} at payload byte ${at - this.base}`, at - this.base);
  }

  private varint(): void {
    const bytes = this.bytes;
    const start = this.pos;
    const end = this.end;
    let pos = start;
    let lo = 0;
    let b: number;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) throw this.error('truncated varint', start);
      b = bytes[pos++];
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    if (pos >= end) throw this.error('truncated varint', start);
    b = bytes[pos++];
    lo |= (b & 0x7f) << 28;
    let hi = (b & 0x7f) >>> 4;
    if (b >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) throw this.error('varint longer than 10 bytes', start);
        if (pos >= end) throw this.error('truncated varint', start);
        b = bytes[pos++];
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** A field tag; field number 0 is invalid. */
  tag(): number {
    const start = this.pos;
    this.tagPos = start;
    this.varint();
    if (this.hi !== 0 || this.lo >>> 3 === 0) throw this.error('invalid field tag', start);
    return this.lo;
  }

  /** A uint64 as a number; values above 2^53 - 1 are rejected rather than rounded. */
  uint64(): number {
    const start = this.pos;
    this.varint();
    if (this.hi >= 0x200000) {
      throw this.error('uint64 value exceeds 2^53 - 1 (cannot be represented exactly)', start);
    }
    return this.hi * 0x100000000 + this.lo;
  }

  /** An int32 (a varint sign-extended to 64 bits; the low 32 bits are the value). */
  int32(): number {
    this.varint();
    return this.lo | 0;
  }

  /** A length prefix, checked against the bytes left in the enclosing message. */
  private length(): number {
    const start = this.pos;
    this.varint();
    if (this.hi !== 0 || this.lo > this.end - this.pos) {
      throw this.error(
        `length ${this.hi * 0x100000000 + this.lo} runs past the end of the enclosing message`,
        start,
      );
    }
    return this.lo;
  }

  /** Enters a length-delimited sub-message; returns its end, to pass to `leave`. */
  enter(): number {
    const len = this.length();
    this.outerEnds.push(this.end);
    this.end = this.pos + len;
    return this.end;
  }

  leave(end: number): void {
    this.pos = end;
    this.end = this.outerEnds.pop()!;
  }

  /** A string field; the ubiquitous map key "values" is recognized without decoding. */
  string(): string {
    const len = this.length();
    const start = this.pos;
    const bytes = this.bytes;
    this.pos += len;
    if (
      len === 6 &&
      bytes[start] === 0x76 &&
      bytes[start + 1] === 0x61 &&
      bytes[start + 2] === 0x6c &&
      bytes[start + 3] === 0x75 &&
      bytes[start + 4] === 0x65 &&
      bytes[start + 5] === 0x73
    ) {
      return 'values';
    }
    return utf8Decoder.decode(bytes.subarray(start, start + len));
  }

  fixed32Float(): number {
    if (this.end - this.pos < 4) throw this.error('truncated float');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  fixed64Float(): number {
    if (this.end - this.pos < 8) throw this.error('truncated double');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Appends a packed float (size 4) or double (size 8) field to `out`. */
  packedFloats(size: 4 | 8, out: NumberList): void {
    const lenPos = this.pos;
    const len = this.length();
    if (len % size !== 0) {
      throw this.error(`packed field of ${len} bytes is not a multiple of ${size}`, lenPos);
    }
    const n = len / size;
    out.reserve(n);
    const data = out.data;
    let at = out.length;
    const view = this.view;
    let pos = this.pos;
    if (size === 4) for (let i = 0; i < n; i++, pos += 4) data[at++] = view.getFloat32(pos, true);
    else for (let i = 0; i < n; i++, pos += 8) data[at++] = view.getFloat64(pos, true);
    out.length = at;
    this.pos = pos;
  }

  /** Appends a packed varint field (uint64, or int32 with `signed32`) to `out`. */
  packedVarints(out: NumberList, signed32: boolean): void {
    const lenPos = this.pos;
    const len = this.length();
    const end = this.pos + len;
    if (len > 0 && this.bytes[end - 1] >= 0x80) throw this.error('packed field ends inside a varint', lenPos);
    const outer = this.end;
    this.end = end;
    while (this.pos < end) out.push(signed32 ? this.int32() : this.uint64());
    this.end = outer;
  }

  /** Skips one field (unknown, or of an unexpected wire type), groups included. */
  skip(wire: number, field: number, depth = 0): void {
    const start = this.tagPos;
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
      case 5: {
        const size = wire === 1 ? 8 : 4;
        if (this.end - this.pos < size) throw this.error(`truncated fixed${size * 8} field ${field}`, start);
        this.pos += size;
        return;
      }
      case 2: {
        const len = this.length(); // read before `this.pos +=` evaluates this.pos
        this.pos += len;
        return;
      }
      case 3:
        if (depth >= MAX_GROUP_DEPTH) throw this.error('groups nested too deeply', start);
        for (;;) {
          if (this.pos >= this.end) throw this.error(`unterminated group (field ${field})`, start);
          const tag = this.tag();
          if ((tag & 7) === 4) {
            if (tag >>> 3 !== field) throw this.error(`mismatched end of group ${field}`, start);
            return;
          }
          this.skip(tag & 7, tag >>> 3, depth + 1);
        }
      default:
        throw this.error(`invalid wire type ${wire} (field ${field})`, start);
    }
  }
}
