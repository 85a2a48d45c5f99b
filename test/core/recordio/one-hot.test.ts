import fc from 'fast-check';
import { readRecordIO } from '../../../functions/core/recordio';
import { OneHotFramer, oneHotFramedSize, writeOneHotFramed } from '../../../functions/core/recordio/one-hot';
import { FramedRowEncoder } from '../../../functions/core/recordio/row-encoder';

describe('one-hot FM rows written in place', () => {
  it('writes exactly the bytes of the general sparse encoder', () => {
    const general = new FramedRowEncoder();
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 50_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.constantFrom(0, 1, 0.5, -3.25),
        (featureDim, x, y, label) => {
          const a = Math.floor(x * (featureDim - 1));
          const b = Math.min(featureDim - 1, a + 1 + Math.floor(y * (featureDim - 1 - a)));
          const expected = general.sparse([a, b], [1, 1], featureDim, label);
          const out = new Uint8Array(oneHotFramedSize(a, b, featureDim) + 8).fill(0xee);
          const end = writeOneHotFramed(out, new DataView(out.buffer), 4, a, b, featureDim, label);
          expect(end - 4).toBe(expected.length);
          expect(Buffer.from(out.subarray(4, end))).toEqual(Buffer.from(expected));
          expect(out[end]).toBe(0xee);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads back as the record it encodes', () => {
    const out = new Uint8Array(oneHotFramedSize(942, 2624, 2625));
    writeOneHotFramed(out, new DataView(out.buffer), 0, 942, 2624, 2625, 1);
    const [record] = readRecordIO(out);
    expect(Array.from(record.features.values.keys!)).toEqual([942, 2624]);
    expect(Array.from(record.features.values.shape!)).toEqual([2625]);
    expect(Array.from(record.label!.values.values)).toEqual([1]);
  });

  it('frames rows from templates with the same bytes, back to back', () => {
    const varintEdges = [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455, 268_435_456];
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 2 ** 31 - 1 }),
        fc.array(
          fc.tuple(
            fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...varintEdges)),
            fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...varintEdges)),
            fc.constantFrom(0, 1),
          ),
          { minLength: 1, maxLength: 40 },
        ),
        (featureDim, rows) => {
          const keys = rows.map(([x, y, label]) => {
            const key = (v: number) =>
              Number.isInteger(v) && v > 1 ? Math.min(v, featureDim - 1) : Math.floor(v * (featureDim - 1));
            return [key(x), key(y), label] as const;
          });
          const framer = new OneHotFramer(featureDim);
          const total = keys.reduce((sum, [a, b]) => sum + oneHotFramedSize(a, b, featureDim), 0);
          const expected = new Uint8Array(total);
          const actual = new Uint8Array(total + 4).fill(0xee);
          const words = new Uint32Array(actual.buffer);
          let e = 0;
          let at = 0;
          for (const [a, b, label] of keys) {
            expect(framer.size(a, b)).toBe(oneHotFramedSize(a, b, featureDim));
            e = writeOneHotFramed(expected, new DataView(expected.buffer), e, a, b, featureDim, label);
            at = framer.write(actual, words, at, a, b, label);
            expect(at).toBe(e);
          }
          expect(Buffer.from(actual.subarray(0, total))).toEqual(Buffer.from(expected));
          expect(actual[total]).toBe(0xee);
        },
      ),
      { numRuns: 300 },
    );
  });
});
