import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ByteWriter } from '../../../functions/core/recordio/byte-writer';
import { writeFrameHeader } from '../../../functions/core/recordio/framing';
import {
  RECORDIO_MAGIC,
  RecordIOEncodeError,
  RecordIOFormatError,
  countRecordIORecords,
  encodeRecord,
  frameRecord,
  iterateRecordIO,
  iterateRecordIOPayloads,
  readRecordIO,
  writeRecordIO,
  type RecordIORecord,
} from '../../../functions/core/recordio';

const FIXTURE_B = readFileSync(
  join(__dirname, '..', '..', 'fixtures', 'recordio', 'b_sparse_onehot_labeled.recordio'),
);

const MAGIC = [0x0a, 0x23, 0xd7, 0xce];

function u32le(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}

/** A frame with an explicit cflag (what dmlc writes for split records). */
function frame(cflag: number, part: ArrayLike<number>): number[] {
  const pad = ((part.length + 3) & ~3) - part.length;
  return [
    ...MAGIC,
    ...u32le(((cflag << 29) | part.length) >>> 0),
    ...Array.from(part),
    ...Array(pad).fill(0),
  ];
}

/**
 * dmlc-core RecordIOWriter::WriteRecord: the record is cut at every 4-aligned occurrence of the magic,
 * which is dropped; parts are flagged 1 (first), 2 (middle), 3 (last); an uncut record is flagged 0.
 */
function dmlcWrite(payloads: Uint8Array[]): Uint8Array {
  const out: number[] = [];
  for (const p of payloads) {
    let dptr = 0;
    for (let i = 0; i + 4 <= p.length; i += 4) {
      if (p[i] === MAGIC[0] && p[i + 1] === MAGIC[1] && p[i + 2] === MAGIC[2] && p[i + 3] === MAGIC[3]) {
        out.push(...frame(dptr === 0 ? 1 : 2, p.subarray(dptr, i)));
        dptr = i + 4;
      }
    }
    out.push(...frame(dptr !== 0 ? 3 : 0, p.subarray(dptr)));
  }
  return new Uint8Array(out);
}

/** The float32 whose little-endian bytes are the magic. */
const MAGIC_FLOAT = new Float32Array(new Uint32Array([RECORDIO_MAGIC]).buffer)[0];

function formatError(run: () => unknown): RecordIOFormatError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RecordIOFormatError);
    return error as RecordIOFormatError;
  }
  throw new Error('expected a RecordIOFormatError');
}

const dense = (values: number[], label?: number): RecordIORecord => ({
  features: { values: { dtype: 'float32', values } },
  ...(label === undefined ? {} : { label: { values: { dtype: 'float32', values: [label] } } }),
});

describe('recordIO framing', () => {
  it('frames a payload as magic | LE length | payload | zero pad, for every pad amount', () => {
    for (let n = 0; n < 8; n++) {
      const payload = new Uint8Array(n).fill(0xab);
      const framed = frameRecord(payload);
      const pad = (4 - (n % 4)) % 4;
      expect(Array.from(framed)).toEqual([
        ...MAGIC,
        n,
        0,
        0,
        0,
        ...Array(n).fill(0xab),
        ...Array(pad).fill(0),
      ]);
    }
  });

  it('writes an empty stream for no records and reads it back as none', () => {
    expect(writeRecordIO([])).toHaveLength(0);
    expect(readRecordIO(new Uint8Array(0))).toEqual([]);
    expect(countRecordIORecords(new Uint8Array(0))).toBe(0);
  });

  it('refuses a payload the 29-bit length cannot express', () => {
    expect(() => writeFrameHeader(2 ** 29, new ByteWriter())).toThrow(RecordIOEncodeError);
    expect(() => writeFrameHeader(2 ** 29 - 1, new ByteWriter())).not.toThrow();
  });

  it('round-trips random record streams', () => {
    const recordArb = fc
      .record({
        values: fc.array(fc.float({ noNaN: true }), { maxLength: 6 }),
        label: fc.option(fc.float({ noNaN: true }), { nil: undefined }),
      })
      .map(({ values, label }) => dense(values, label));
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 8 }), (records) => {
        const stream = writeRecordIO(records);
        const back = readRecordIO(stream);
        expect(back).toHaveLength(records.length);
        back.forEach((r, i) => {
          expect(Array.from(r.features.values.values)).toEqual(records[i].features.values.values);
          expect(r.label?.values.values[0]).toBe(records[i].label?.values.values[0]);
        });
        expect(Buffer.from(writeRecordIO(back)).equals(Buffer.from(stream))).toBe(true);
      }),
    );
  });

  it('yields payloads lazily as views of the stream, and reads streams at any byte offset', () => {
    // GIVEN a stream inside a larger buffer, followed by garbage
    const stream = writeRecordIO([dense([1]), dense([2, 3])]);
    const host = new Uint8Array(stream.length + 13);
    host.set(stream, 5);
    host.set([1, 2, 3, 4, 5, 6, 7, 8], 5 + stream.length);
    const bytes = host.subarray(5, 5 + stream.length + 8);
    // WHEN iterating
    const it = iterateRecordIOPayloads(bytes);
    const first = it.next().value as Uint8Array;
    const second = it.next().value as Uint8Array;
    // THEN the good records come out before the garbage is reached, without copies
    expect(first.buffer).toBe(host.buffer);
    expect(first.byteOffset).toBe(5 + 8);
    expect(Buffer.from(first).equals(Buffer.from(encodeRecord(dense([1]))))).toBe(true);
    expect(Buffer.from(second).equals(Buffer.from(encodeRecord(dense([2, 3]))))).toBe(true);
    expect(() => it.next()).toThrow(`bad recordIO magic 0x04030201 at byte ${stream.length}`);
    const records = iterateRecordIO(bytes);
    expect(Array.from(records.next().value!.features.values.values)).toEqual([1]);
  });

  describe('dmlc continuation flags', () => {
    it('rejoins a record split at an aligned magic inside its data, re-inserting the magic', () => {
      // GIVEN a dense row whose third float is the magic: it sits at payload offset 24, 4-aligned
      const record = dense([1, 2, MAGIC_FLOAT, 4, MAGIC_FLOAT, MAGIC_FLOAT], 1);
      const payload = encodeRecord(record);
      // WHEN dmlc writes it (split into cflag 1, 2, 2, 3 parts) between two whole records
      const stream = dmlcWrite([encodeRecord(dense([9])), payload, encodeRecord(dense([8]))]);
      const flags = [];
      for (let pos = 0; pos < stream.length;) {
        const lrec = new DataView(stream.buffer).getUint32(pos + 4, true);
        flags.push(lrec >>> 29);
        pos += 8 + (((lrec & 0x1fffffff) + 3) & ~3);
      }
      expect(flags).toEqual([0, 1, 2, 2, 3, 0]);
      // THEN readers see three records, the middle one byte-identical to the original payload
      const payloads = Array.from(iterateRecordIOPayloads(stream));
      expect(payloads).toHaveLength(3);
      expect(Buffer.from(payloads[1]).equals(Buffer.from(payload))).toBe(true);
      const records = readRecordIO(stream);
      expect(Array.from(records[1].features.values.values)).toEqual(
        Array.from(new Float32Array(record.features.values.values)),
      );
      expect(Array.from(records[2].features.values.values)).toEqual([8]);
      expect(countRecordIORecords(stream)).toBe(3);
    });

    it('rejoins any payload dmlc splits', () => {
      const payloadArb = fc
        .array(
          fc.oneof(
            fc.constant(MAGIC),
            fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
          ),
          {
            maxLength: 12,
          },
        )
        .chain((words) =>
          fc
            .array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 })
            .map((tail) => new Uint8Array([...words.flat(), ...tail])),
        );
      fc.assert(
        fc.property(fc.array(payloadArb, { maxLength: 4 }), (payloads) => {
          const read = Array.from(iterateRecordIOPayloads(dmlcWrite(payloads)));
          expect(read.map((p) => Buffer.from(p).toString('hex'))).toEqual(
            payloads.map((p) => Buffer.from(p).toString('hex')),
          );
        }),
      );
    });

    it.each<[string, number[], RegExp, number]>([
      [
        'a continuation without a start',
        [...frame(2, [1, 2, 3, 4])],
        /continuation frame \(cflag 2\) at byte 0 without a starting frame/,
        0,
      ],
      ['an end without a start', [...frame(0, []), ...frame(3, [])], /cflag 3\) at byte 8 without/, 8],
      [
        'a whole record inside a split one',
        [...frame(1, [1, 2, 3, 4]), ...frame(0, [])],
        /split at byte 0 has no end part before the frame at byte 12/,
        12,
      ],
      [
        'a split record never finished',
        [...frame(1, []), ...frame(2, [])],
        /record split at byte 0 has no end part \(cflag 3\)/,
        0,
      ],
      ['cflag 5', [...frame(5, [])], /invalid recordIO cflag 5 at byte 0/, 0],
    ])('rejects %s', (_what, stream, message, offset) => {
      const error = formatError(() => readRecordIO(new Uint8Array(stream)));
      expect(error.message).toMatch(message);
      expect(error.offset).toBe(offset);
    });
  });

  describe('damaged streams', () => {
    const stream = Buffer.from(FIXTURE_B); // 4 records of 51 bytes + 1 pad, at 0, 60, 120, 180

    it('rejects a bad magic with its offset', () => {
      const bad = Buffer.from(stream);
      bad[120] = 0x0b;
      const error = formatError(() => readRecordIO(bad));
      expect(error.message).toBe('bad recordIO magic 0xced7230b at byte 120 (expected 0xced7230a)');
      expect(error.offset).toBe(120);
    });

    it('rejects a truncated header, payload or final pad with its offset', () => {
      expect(formatError(() => readRecordIO(stream.subarray(0, 185))).message).toBe(
        'truncated recordIO header at byte 180: 5 of 8 bytes',
      );
      expect(formatError(() => readRecordIO(stream.subarray(0, 230))).message).toBe(
        'truncated record at byte 180: it declares 51 payload bytes (+1 pad) but only 42 bytes follow the header',
      );
      const noPad = formatError(() => countRecordIORecords(stream.subarray(0, 239)));
      expect(noPad.message).toMatch(/truncated record at byte 180/);
      expect(noPad.offset).toBe(180);
    });

    it('names the record and the stream offset of a damaged payload', () => {
      // GIVEN record 1 (framed at 60) whose first tag (payload byte 0, stream byte 68) is invalid
      const bad = Buffer.from(stream);
      bad[68] = 0x0f; // field 1, wire type 7
      const error = formatError(() => readRecordIO(bad));
      expect(error.message).toBe(
        'record 1 (framed at byte 60): invalid wire type 7 (field 1) at payload byte 0',
      );
      expect(error.offset).toBe(68);
      expect((error.cause as RecordIOFormatError).offset).toBe(0);
    });

    it('never throws anything but RecordIOFormatError on corrupted or truncated streams', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
          fc.nat({ max: stream.length }),
          (flips, cut) => {
            const bytes = Uint8Array.from(stream);
            for (const [at, value] of flips) bytes[at % bytes.length] = value;
            for (const candidate of [bytes, bytes.subarray(0, cut)]) {
              try {
                readRecordIO(candidate);
                countRecordIORecords(candidate);
              } catch (error) {
                expect(error).toBeInstanceOf(RecordIOFormatError);
              }
            }
          },
        ),
        { numRuns: 2000 },
      );
    });
  });
});
