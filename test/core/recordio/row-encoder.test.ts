import fc from 'fast-check';
import {
  FramedRowEncoder,
  RecordIOEncodeError,
  encodeDenseRowFramed,
  encodeRecord,
  encodeSparseRowFramed,
  frameRecord,
  readRecordIO,
  type RecordIORecord,
} from '../../../functions/core/recordio';

/** The general path for the record the sparse fast path claims to write. */
function generalSparse(keys: number[], values: number[], featureDim: number, label?: number): Uint8Array {
  const record: RecordIORecord = {
    features: { values: { dtype: 'float32', values, keys, shape: [featureDim] } },
    ...(label === undefined ? {} : { label: { values: { dtype: 'float32', values: [label] } } }),
  };
  return frameRecord(encodeRecord(record));
}

function generalDense(values: number[], label?: number): Uint8Array {
  const record: RecordIORecord = {
    features: { values: { dtype: 'float32', values } },
    ...(label === undefined ? {} : { label: { values: { dtype: 'float32', values: [label] } } }),
  };
  return frameRecord(encodeRecord(record));
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const sparseRowArb = fc
  .oneof(
    fc.integer({ min: 1, max: 200 }),
    fc.integer({ min: 1, max: 2 ** 31 }),
    fc.integer({ min: 1, max: 2 ** 45 }),
  )
  .chain((featureDim) =>
    fc.record({
      featureDim: fc.constant(featureDim),
      entries: fc.array(fc.tuple(fc.integer({ min: 0, max: featureDim - 1 }), fc.float()), { maxLength: 20 }),
      label: fc.option(fc.float(), { nil: undefined }),
    }),
  );

describe('framed row fast paths', () => {
  it('writes exactly the bytes of the general path for sparse float32 rows', () => {
    fc.assert(
      fc.property(sparseRowArb, ({ featureDim, entries, label }) => {
        const keys = entries.map((e) => e[0]);
        const values = entries.map((e) => e[1]);
        expect(hex(encodeSparseRowFramed(keys, values, featureDim, label))).toBe(
          hex(generalSparse(keys, values, featureDim, label)),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('writes exactly the bytes of the general path for dense float32 rows', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float(), { maxLength: 70 }),
        fc.option(fc.float(), { nil: undefined }),
        (values, label) => {
          expect(hex(encodeDenseRowFramed(values, label))).toBe(hex(generalDense(values, label)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('encodes CSR slices with sparseRange / denseRange as the row on its own', () => {
    // GIVEN a 3-row CSR matrix (the middle row empty) and a row-major dense matrix
    const cols = new Uint32Array([0, 7, 3, 9, 1]);
    const vals = new Float32Array([1, 2, 3, 4, 5]);
    const rowPtr = [0, 2, 2, 5];
    const encoder = new FramedRowEncoder();
    for (let r = 0; r < 3; r++) {
      const keys = Array.from(cols.subarray(rowPtr[r], rowPtr[r + 1]));
      const values = Array.from(vals.subarray(rowPtr[r], rowPtr[r + 1]));
      expect(hex(encoder.sparseRange(cols, vals, rowPtr[r], rowPtr[r + 1], 10, r))).toBe(
        hex(generalSparse(keys, values, 10, r)),
      );
    }
    const matrix = new Float32Array([1, 2, 3, 4, 5, 6]);
    expect(hex(encoder.denseRange(matrix, 3, 6))).toBe(hex(generalDense([4, 5, 6])));
  });

  it('writes an empty sparse row with its shape only, as the SDK does for a row without non-zeros', () => {
    const [record] = readRecordIO(encodeSparseRowFramed([], [], 2625));
    expect(record.features.values.values).toHaveLength(0);
    expect(record.features.values.keys).toBeUndefined();
    expect(Array.from(record.features.values.shape!)).toEqual([2625]);
  });

  it('grows its buffer for wide rows', () => {
    const n = 100_000;
    const keys = Array.from({ length: n }, (_, i) => i * 3);
    const values = Array.from({ length: n }, (_, i) => i / 7);
    const encoder = new FramedRowEncoder();
    encoder.sparse([1], [1], 10);
    expect(hex(encoder.sparse(keys, values, 3 * n, 0.5))).toBe(hex(generalSparse(keys, values, 3 * n, 0.5)));
  });

  it('returns a reused view from the encoder and independent arrays from the functions', () => {
    const encoder = new FramedRowEncoder();
    const first = encoder.dense([1, 2]);
    const firstBytes = hex(first);
    encoder.dense([3, 4]);
    expect(hex(first)).not.toBe(firstBytes); // overwritten: the documented contract
    const a = encodeDenseRowFramed([1, 2]);
    const b = encodeDenseRowFramed([3, 4]);
    expect(hex(a)).toBe(firstBytes);
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.byteLength).toBe(a.buffer.byteLength);
  });

  it.each<[string, () => unknown, RegExp]>([
    [
      'keys and values of different lengths',
      () => encodeSparseRowFramed([1, 2], [1], 5),
      /2 keys for 1 values/,
    ],
    [
      'a key equal to featureDim',
      () => encodeSparseRowFramed([5], [1], 5),
      /key 5 \(entry 0\) is not a column index in \[0, 5\)/,
    ],
    ['a negative key', () => encodeSparseRowFramed([0, -1], [1, 1], 5), /key -1 \(entry 1\)/],
    ['a fractional key', () => encodeSparseRowFramed([1.5], [1], 5), /key 1.5/],
    ['a NaN key', () => encodeSparseRowFramed([NaN], [1], 5), /key NaN/],
    [
      'a fractional featureDim',
      () => encodeSparseRowFramed([], [], 2.5),
      /featureDim must be a non-negative integer/,
    ],
  ])('rejects %s with RecordIOEncodeError', (_what, run, message) => {
    expect(run).toThrow(RecordIOEncodeError);
    expect(run).toThrow(message);
  });
});
