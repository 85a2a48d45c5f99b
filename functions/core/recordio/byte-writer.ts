/**
 * A growable little-endian byte buffer for the recordIO encoders. Encoders compute the exact size of
 * what they write first (protobuf needs every length before the bytes it prefixes), call `ensure` once,
 * then use the unchecked writers: no bounds test and no allocation per byte, which is what keeps
 * encoding tens of millions of rows cheap. The buffer is reused across rows by `reset()`.
 */
export class ByteWriter {
  bytes: Uint8Array;
  private view: DataView;
  pos = 0;

  constructor(initialCapacity = 4096) {
    this.bytes = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.bytes.buffer);
  }

  /** Makes room for `extra` more bytes after `pos` (amortized doubling; keeps what was written). */
  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < need) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.bytes.subarray(0, this.pos));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  reset(): void {
    this.pos = 0;
  }

  /** What was written, as an exactly sized array (the buffer itself when it is full, else a copy). */
  toBytes(): Uint8Array {
    return this.pos === this.bytes.length ? this.bytes : this.bytes.slice(0, this.pos);
  }

  /** A view of what was written since the last reset (valid until the next write or reset). */
  written(): Uint8Array {
    return this.bytes.subarray(0, this.pos);
  }

  u8(value: number): void {
    this.bytes[this.pos++] = value;
  }

  u32le(value: number): void {
    this.view.setUint32(this.pos, value, true);
    this.pos += 4;
  }

  f32(value: number): void {
    this.view.setFloat32(this.pos, value, true);
    this.pos += 4;
  }

  f64(value: number): void {
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  raw(source: Uint8Array): void {
    const n = source.length;
    if (n > 64) {
      this.bytes.set(source, this.pos);
      this.pos += n;
      return;
    }
    // A plain loop beats TypedArray#set for the short rows written one by one.
    const bytes = this.bytes;
    let pos = this.pos;
    for (let i = 0; i < n; i++) bytes[pos++] = source[i];
    this.pos = pos;
  }

  zeros(count: number): void {
    for (let i = 0; i < count; i++) this.bytes[this.pos++] = 0;
  }

  /** Writes a non-negative safe integer as a protobuf varint (uint32 / uint64 up to 2^53 - 1). */
  varint(value: number): void {
    const bytes = this.bytes;
    let pos = this.pos;
    if (value <= 0x7fffffff) {
      while (value > 0x7f) {
        bytes[pos++] = (value & 0x7f) | 0x80;
        value >>>= 7;
      }
    } else {
      while (value > 0x7f) {
        bytes[pos++] = (value % 128) | 0x80;
        value = Math.floor(value / 128);
      }
    }
    bytes[pos++] = value;
    this.pos = pos;
  }

  /** Writes an int32 as protobuf does: negative values are sign-extended to 64 bits (10 bytes). */
  varintInt32(value: number): void {
    if (value >= 0) {
      this.varint(value);
      return;
    }
    const bytes = this.bytes;
    let pos = this.pos;
    let lo = value >>> 0;
    let hi = 0xffffffff;
    while (hi !== 0) {
      bytes[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 0x7f) {
      bytes[pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    bytes[pos++] = lo;
    this.pos = pos;
  }
}

/** Bytes of `value` as a varint (non-negative safe integer). */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let size = 4;
  let rest = Math.floor(value / 0x10000000);
  while (rest > 0) {
    size++;
    rest = Math.floor(rest / 128);
  }
  return size;
}

/** Bytes of an int32 varint: negative values always take 10. */
export function varintInt32Size(value: number): number {
  return value < 0 ? 10 : varintSize(value);
}
