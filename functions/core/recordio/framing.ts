/**
 * RecordIO framing (dmlc-core `recordio.h`), the container of recordIO-protobuf:
 *
 *   u32 LE magic 0xCED7230A | u32 LE lrec | payload | zero pad to a multiple of 4
 *
 * `lrec` holds the payload length in its low 29 bits and a continuation flag in the top 3 (dmlc
 * `cflag`): 0 = a whole record; 1 / 2 / 3 = first / middle / last part of a record that dmlc's writer
 * split where the 4-byte-aligned magic occurred inside the data, the magic itself being dropped.
 * The SageMaker SDK writer never splits (always cflag 0, raw length), and so neither does this one,
 * which keeps its files byte-identical to the SDK's. The readers still mask the length and rejoin split
 * records (re-inserting the magic between parts), so files from dmlc writers read correctly too.
 */
import { ByteWriter } from './byte-writer';
import { RecordIOEncodeError, RecordIOFormatError } from './errors';
import { decodeRecordAt, planRecord, writeRecordPlan } from './protobuf';
import type { DecodedRecord, RecordIORecord } from './types';

/** The dmlc RecordIO magic number (bytes `0a 23 d7 ce` on disk). */
export const RECORDIO_MAGIC = 0xced7230a;
/** Largest payload one frame can declare: the length has 29 bits. */
export const MAX_RECORD_BYTES = 0x1fffffff;

/** Bytes a payload of `payloadLength` takes once framed (header + payload + pad). */
export function framedSize(payloadLength: number): number {
  return 8 + ((payloadLength + 3) & ~3);
}

/** Wraps one protobuf payload in a recordIO frame (cflag 0, as the SDK writes). */
export function frameRecord(payload: Uint8Array): Uint8Array {
  const w = new ByteWriter(framedSize(payload.length));
  writeFramed(payload, w);
  return w.toBytes();
}

/** Appends a framed payload to `w`. @internal */
export function writeFramed(payload: Uint8Array, w: ByteWriter): void {
  writeFrameHeader(payload.length, w);
  w.raw(payload);
  w.zeros(padOf(payload.length));
}

/** Reserves room for and writes the 8-byte header of a `length`-byte payload. @internal */
export function writeFrameHeader(length: number, w: ByteWriter): void {
  if (length > MAX_RECORD_BYTES) {
    throw new RecordIOEncodeError(`a recordIO payload holds at most 2^29 - 1 bytes, got ${length}`);
  }
  w.ensure(framedSize(length));
  w.u32le(RECORDIO_MAGIC);
  w.u32le(length);
}

/** Zero bytes after a payload of `length` bytes. */
export function padOf(length: number): number {
  return ((length + 3) & ~3) - length;
}

/** Encodes and frames every record into one recordIO stream (what a `.recordio` file holds). */
export function writeRecordIO(records: Iterable<RecordIORecord>): Uint8Array {
  const w = new ByteWriter(1024);
  for (const record of records) {
    const plan = planRecord(record);
    writeFrameHeader(plan.size, w);
    writeRecordPlan(plan, w);
    w.zeros(padOf(plan.size));
  }
  return w.toBytes();
}

/** Decodes every record of a recordIO stream. */
export function readRecordIO(bytes: Uint8Array): DecodedRecord[] {
  const scanner = new FrameScanner(bytes);
  const records: DecodedRecord[] = [];
  while (scanner.next()) records.push(scanner.decode());
  return records;
}

/** Decodes the records of a recordIO stream one at a time. Errors name the record and its offset. */
export function* iterateRecordIO(bytes: Uint8Array): Generator<DecodedRecord> {
  const scanner = new FrameScanner(bytes);
  while (scanner.next()) yield scanner.decode();
}

/**
 * The payloads of a recordIO stream, lazily. Whole records are views into `bytes` (no copy); split
 * records are rejoined into a new array.
 */
export function* iterateRecordIOPayloads(bytes: Uint8Array): Generator<Uint8Array> {
  const scanner = new FrameScanner(bytes);
  while (scanner.next()) yield scanner.payload();
}

/** Records in a recordIO stream (a split record counts once), reading only the frame headers. */
export function countRecordIORecords(bytes: Uint8Array): number {
  const scanner = new FrameScanner(bytes, false);
  let count = 0;
  while (scanner.next()) count++;
  return count;
}

/**
 * Walks the records of a stream, validating magic, lengths and the cflag sequence. After `next()`
 * returns true the current record's payload is `buf[start, end)`: a range of the stream for a whole
 * record, a rejoined copy for a split one. Nothing is allocated per whole record. @internal
 */
export class FrameScanner {
  buf: Uint8Array;
  start = 0;
  end = 0;
  /** Stream position of the record's (first) frame header. */
  offset = 0;
  /** Index of the current record in the stream (-1 before the first). */
  index = -1;
  /** True when the record is one cflag-0 frame, so payload byte i is stream byte offset + 8 + i. */
  single = true;
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    /** False to skip joining split records (counting). */
    private readonly withPayload = true,
  ) {
    this.buf = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  next(): boolean {
    const { bytes } = this;
    let parts: Uint8Array[] | undefined;
    let openAt = -1;
    while (this.pos < bytes.length) {
      const pos = this.pos;
      if (bytes.length - pos < 8) {
        throw new RecordIOFormatError(
          `truncated recordIO header at byte ${pos}: ${bytes.length - pos} of 8 bytes`,
          pos,
        );
      }
      const magic = this.view.getUint32(pos, true);
      if (magic !== RECORDIO_MAGIC) {
        throw new RecordIOFormatError(
          `bad recordIO magic 0x${magic.toString(16).padStart(8, '0')} at byte ${pos} (expected 0xced7230a)`,
          pos,
        );
      }
      const lrec = this.view.getUint32(pos + 4, true);
      const cflag = lrec >>> 29;
      const length = lrec & MAX_RECORD_BYTES;
      const next = pos + framedSize(length);
      if (next > bytes.length) {
        throw new RecordIOFormatError(
          `truncated record at byte ${pos}: it declares ${length} payload bytes (+${padOf(length)} pad) ` +
            `but only ${bytes.length - pos - 8} bytes follow the header`,
          pos,
        );
      }
      this.pos = next;
      if (cflag === 0 || cflag === 1) {
        if (parts) {
          throw new RecordIOFormatError(
            `record split at byte ${openAt} has no end part before the frame at byte ${pos} (cflag ${cflag})`,
            pos,
          );
        }
        if (cflag === 0) {
          this.buf = bytes;
          this.start = pos + 8;
          this.end = pos + 8 + length;
          this.offset = pos;
          this.single = true;
          this.index++;
          return true;
        }
        parts = [bytes.subarray(pos + 8, pos + 8 + length)];
        openAt = pos;
      } else if (cflag === 2 || cflag === 3) {
        if (!parts) {
          throw new RecordIOFormatError(
            `continuation frame (cflag ${cflag}) at byte ${pos} without a starting frame`,
            pos,
          );
        }
        parts.push(bytes.subarray(pos + 8, pos + 8 + length));
        if (cflag === 3) {
          this.buf = this.withPayload ? joinParts(parts) : EMPTY;
          this.start = 0;
          this.end = this.buf.length;
          this.offset = openAt;
          this.single = false;
          this.index++;
          return true;
        }
      } else {
        throw new RecordIOFormatError(`invalid recordIO cflag ${cflag} at byte ${pos}`, pos);
      }
    }
    if (parts) {
      throw new RecordIOFormatError(
        `truncated stream: the record split at byte ${openAt} has no end part (cflag 3)`,
        openAt,
      );
    }
    return false;
  }

  /** The current payload as an array (a view for a whole record). */
  payload(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }

  /** Decodes the current record; errors carry the record index and the stream offset. */
  decode(): DecodedRecord {
    try {
      return decodeRecordAt(this.buf, this.start, this.end);
    } catch (error) {
      throw this.placeError(error);
    }
  }

  /** A payload parse error of the current record, restated with its record index and stream offset. */
  placeError(error: unknown): unknown {
    if (!(error instanceof RecordIOFormatError)) return error;
    return new RecordIOFormatError(
      `record ${this.index} (framed at byte ${this.offset}): ${error.message}`,
      this.single ? this.offset + 8 + error.offset : this.offset,
      { cause: error },
    );
  }
}

const EMPTY = new Uint8Array(0);
const MAGIC_BYTES = new Uint8Array([0x0a, 0x23, 0xd7, 0xce]);

function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  let size = 4 * (parts.length - 1);
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let pos = 0;
  parts.forEach((part, i) => {
    if (i > 0) {
      out.set(MAGIC_BYTES, pos);
      pos += 4;
    }
    out.set(part, pos);
    pos += part.length;
  });
  return out;
}
