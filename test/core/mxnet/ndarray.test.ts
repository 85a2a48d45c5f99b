import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { readTarGz } from '../../../functions/core/archive';
import {
  type NDArray,
  type NDArrayDType,
  NDArrayFormatError,
  readNDArrayList,
  writeNDArrayList,
} from '../../../functions/core/mxnet/ndarray';
import { ByteBuilder, fmParamsBytes, listHeader, V1, V2, V3, v2Float32 } from './ndarray-bytes';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'mxnet');
const MODEL_ALGO = 'kmeans-model_algo-1';
const STATE = 'kmeans-state_cb7d8008-aba0-4e9e-b777-d124d6151379';

interface ExpectedArray {
  magic: string;
  stype: number;
  shape: number[];
  dtype_flag: number;
  data_offset: number;
  data_bytes: number;
  sum_float64: number;
  values_row_major?: number[];
  first_10?: number[];
  last_10?: number[];
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  files: Record<string, { bytes: number; sha256: string; names: string[]; arrays: ExpectedArray[] }>;
};

function fixture(name: string): Buffer {
  return readFileSync(join(FIXTURES, name));
}

/** A small FM params file (D=5, K=2) built byte by byte, independent of the writer. */
function smallParams(): Uint8Array {
  return fmParamsBytes({
    names: ['arg:w0_weight', 'arg:w1_weight', 'arg:v'],
    shapes: [[1], [5, 1], [5, 2]],
    values: [[0.25], [1, 2, 3, 4, 5], [0.5, -0.5, 1, 1.5, -2, 0, 0.125, 8, -1, 3]],
  });
}

describe('readNDArrayList on real SageMaker artifacts', () => {
  it.each([MODEL_ALGO, STATE])('reads %s exactly as the independent reference reader did', (name) => {
    // GIVEN a file written by SageMaker's MXNet and the reference reader's record of it
    const bytes = fixture(name);
    const want = expected.files[name];
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(want.sha256);
    // WHEN
    const { arrays, names } = readNDArrayList(bytes);
    // THEN names, shapes, dtypes and every recorded value agree
    expect(names).toEqual(want.names);
    expect(arrays).toHaveLength(want.arrays.length);
    arrays.forEach((array, i) => {
      const ref = want.arrays[i];
      expect(array.shape).toEqual(ref.shape);
      expect(array.dtype).toBe('float32');
      expect(array.data).toBeInstanceOf(Float32Array);
      expect(array.data.length * 4).toBe(ref.data_bytes);
      const values = Array.from(array.data as Float32Array);
      if (ref.values_row_major) expect(values).toEqual(ref.values_row_major);
      if (ref.first_10) expect(values.slice(0, 10)).toEqual(ref.first_10);
      if (ref.last_10) expect(values.slice(-10)).toEqual(ref.last_10);
      expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(ref.sum_float64, 6);
      // The data sits where the reference reader found it (offsets are unaligned in general).
      const at = ref.data_offset;
      expect(new Float32Array(Uint8Array.from(bytes.subarray(at, at + 4)).buffer)[0]).toBe(values[0]);
    });
  });

  it.each([MODEL_ALGO, STATE])('re-serializes %s byte-identically', (name) => {
    const bytes = fixture(name);
    const { arrays, names } = readNDArrayList(bytes);
    expect(Buffer.compare(writeNDArrayList(arrays, names), bytes)).toBe(0);
  });

  it('reads the model_algo-1 member straight out of the real model.tar.gz', async () => {
    const members = await readTarGz(fixture('kmeans-model.tar.gz'));
    const { arrays, names } = readNDArrayList(members.get('model_algo-1')!);
    expect(names).toEqual([]);
    expect(arrays[0].shape).toEqual([10, 10]);
  });
});

describe('readNDArrayList on hand-built files', () => {
  it('reads a named V2 float32 list at unaligned offsets', () => {
    // GIVEN names of odd lengths and a 3-element array, so nothing after the first array is aligned
    const { arrays, names } = readNDArrayList(smallParams());
    expect(names).toEqual(['arg:w0_weight', 'arg:w1_weight', 'arg:v']);
    expect(arrays.map((a) => a.shape)).toEqual([[1], [5, 1], [5, 2]]);
    expect(Array.from(arrays[2].data as Float32Array)).toEqual([0.5, -0.5, 1, 1.5, -2, 0, 0.125, 8, -1, 3]);
  });

  it('reads V1 records (no storage type) and legacy records (u32 ndim, u32 dims, no magic)', () => {
    const b = listHeader(2);
    b.u32(V1).i32(2).i64(1).i64(3).i32(1).i32(0).i32(0).f32(1, 2, 3);
    b.u32(2)
      .u32(3)
      .u32(1)
      .i32(2)
      .i32(0)
      .i32(4)
      .raw(new Uint8Array(new Int32Array([7, -8, 9]).buffer));
    b.u64(0);
    const { arrays } = readNDArrayList(b.bytes());
    expect(arrays[0]).toEqual({ shape: [1, 3], dtype: 'float32', data: Float32Array.of(1, 2, 3) });
    expect(arrays[1]).toEqual({ shape: [3, 1], dtype: 'int32', data: Int32Array.of(7, -8, 9) });
  });

  it('reads V3 numpy semantics: ndim 0 is a scalar, ndim -1 or a -1 dim is a none array', () => {
    const b = listHeader(3);
    b.u32(V3)
      .i32(0)
      .i32(0)
      .i32(1)
      .i32(0)
      .i32(1)
      .raw(new Uint8Array(Float64Array.of(2.5).buffer));
    b.u32(V3).i32(0).i32(-1);
    b.u32(V3).i32(0).i32(2).i64(-1).i64(4);
    b.u64(0);
    const { arrays } = readNDArrayList(b.bytes());
    expect(arrays[0]).toEqual({ shape: [], dtype: 'float64', data: Float64Array.of(2.5) });
    expect(arrays[1].none).toBe(true);
    expect(arrays[2].none).toBe(true);
  });

  it('reads none arrays of V2 (stype -1, ndim 0 or -1), V1 (ndim 0) and legacy (ndim 0)', () => {
    const b = listHeader(4);
    b.u32(V2).i32(-1).i32(0);
    b.u32(V2).i32(-1).i32(-1);
    b.u32(V1).i32(0);
    b.u32(0);
    b.u64(0);
    const { arrays } = readNDArrayList(b.bytes());
    expect(arrays.map((a) => a.none)).toEqual([true, true, true, true]);
    expect(arrays.every((a) => a.shape.length === 0 && a.data.length === 0)).toBe(true);
  });

  it('widens float16 and bfloat16 exactly and reads 64-bit integers as BigInt arrays', () => {
    const b = listHeader(3);
    b.u32(V2).i32(0).i32(1).i64(6).i32(1).i32(0).i32(2).u16(0x3c00, 0xc000, 0x0001, 0x7bff, 0xfc00, 0x8000);
    b.u32(V2).i32(0).i32(1).i64(2).i32(1).i32(0).i32(12).u16(0x3f80, 0xc049);
    b.u32(V2)
      .i32(0)
      .i32(1)
      .i64(2)
      .i32(1)
      .i32(0)
      .i32(6)
      .i64(-(2n ** 62n))
      .i64(2n ** 53n + 1n);
    b.u64(0);
    const { arrays } = readNDArrayList(b.bytes());
    expect(arrays[0].dtype).toBe('float16');
    expect(Array.from(arrays[0].data as Float32Array)).toEqual([1, -2, 2 ** -24, 65504, -Infinity, -0]);
    expect(Array.from(arrays[1].data as Float32Array)).toEqual([1, Math.fround(-3.140625)]);
    expect(arrays[2].data).toEqual(BigInt64Array.of(-(2n ** 62n), 2n ** 53n + 1n));
  });
});

describe('readNDArrayList errors', () => {
  function errorOf(bytes: Uint8Array): NDArrayFormatError {
    try {
      readNDArrayList(bytes);
    } catch (error) {
      expect(error).toBeInstanceOf(NDArrayFormatError);
      return error as NDArrayFormatError;
    }
    throw new Error('expected readNDArrayList to throw');
  }

  it('fails on a wrong list header, naming the byte and the value', () => {
    expect(errorOf(new ByteBuilder().u64(0x113).u64(0).u64(0).u64(0).bytes()).message).toMatch(
      /header at byte 0 is 0x113, expected 0x112/,
    );
    expect(errorOf(new Uint8Array(3)).message).toMatch(
      /truncated at byte 0: the list header needs 8 bytes, 3 left/,
    );
  });

  it('names row_sparse and csr storage', () => {
    const sparse = (stype: number) => listHeader(1).u32(V2).i32(stype).i32(1).i64(4).bytes();
    expect(errorOf(sparse(1)).message).toMatch(/array 0 \(byte 24\) has row_sparse storage \(stype 1\)/);
    expect(errorOf(sparse(2)).message).toMatch(/csr storage \(stype 2\)/);
    expect(errorOf(sparse(7)).message).toMatch(/unknown storage type 7/);
  });

  it('fails on absurd counts, ndims and dims before allocating anything', () => {
    expect(errorOf(listHeader(2 ** 40).bytes()).message).toMatch(
      /the array count at byte 16 is 1099511627776/,
    );
    expect(
      errorOf(
        listHeader(1)
          .u32(V2)
          .i32(0)
          .i32(1 << 30)
          .bytes(),
      ).message,
    ).toMatch(/absurd ndim 1073741824 at byte 32/);
    const hugeDims = listHeader(1)
      .u32(V2)
      .i32(0)
      .i32(2)
      .i64(1 << 30)
      .i64(1 << 30)
      .i32(1)
      .i32(0)
      .i32(0);
    expect(errorOf(hugeDims.bytes()).message).toMatch(/shape \[1073741824,1073741824\] needs more data/);
    expect(errorOf(listHeader(1).u32(V2).i32(0).i32(1).i64(-5).bytes()).message).toMatch(/absurd dim 0 = -5/);
    expect(errorOf(listHeader(1).u32(0xdeadbeef).bytes()).message).toMatch(/unknown array magic 0xdeadbeef/);
  });

  it('fails on an unknown dtype, a bad device, a names count mismatch, bad UTF-8 and trailing bytes', () => {
    const withDtype = (dtype: number, dev = 1) =>
      listHeader(1).u32(V2).i32(0).i32(1).i64(1).i32(dev).i32(0).i32(dtype).f32(1).u64(0).bytes();
    expect(readNDArrayList(withDtype(0)).arrays[0].data).toEqual(Float32Array.of(1));
    expect(errorOf(withDtype(13)).message).toMatch(/unknown dtype flag 13 at byte 52/);
    expect(errorOf(withDtype(0, 9)).message).toMatch(/invalid device type 9/);
    const twoNamesForOne = v2Float32(listHeader(1), [1], [1]).u64(2).string('a').string('b');
    expect(errorOf(twoNamesForOne.bytes()).message).toMatch(/2 names for 1 arrays/);
    const badUtf8 = v2Float32(listHeader(1), [1], [1]).u64(1).u64(2).raw([0xc3, 0x28]);
    expect(errorOf(badUtf8.bytes()).message).toMatch(/name 0 at byte 68 is not valid UTF-8/);
    const trailing = v2Float32(listHeader(1), [1], [1]).u64(0).raw([0]);
    expect(errorOf(trailing.bytes()).message).toMatch(
      /1 unexpected trailing bytes after the names, from byte 68/,
    );
  });

  it('fails on every truncation of a valid file with an NDArrayFormatError naming the offset', () => {
    // GIVEN a valid FM params file; WHEN it is cut anywhere; THEN only NDArrayFormatError comes out
    const valid = smallParams();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: valid.length - 1 }), (cut) => {
        const error = errorOf(valid.subarray(0, cut));
        expect(error.message).toMatch(/byte \d+/);
      }),
      { numRuns: valid.length, seed: 1 },
    );
  });

  it('never throws anything but NDArrayFormatError on corrupted bytes', () => {
    const valid = smallParams();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const bytes = valid.slice();
          for (const [at, value] of edits) bytes[at] = value;
          try {
            readNDArrayList(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(NDArrayFormatError);
          }
        },
      ),
      { numRuns: 2000, seed: 2 },
    );
  });
});

describe('writeNDArrayList', () => {
  it('writes the same bytes as the hand-built file', () => {
    const { arrays, names } = readNDArrayList(smallParams());
    expect(Buffer.from(writeNDArrayList(arrays, names))).toEqual(Buffer.from(smallParams()));
  });

  const samples: Record<NDArrayDType, NDArray['data']> = {
    float32: Float32Array.of(1.5, -0, Infinity, NaN, 3.4e38, 1e-45),
    float64: Float64Array.of(Math.PI, -1e300, 5e-324, NaN, -Infinity, 0),
    float16: Float32Array.of(1, -2, 2 ** -24, 65504, -Infinity, NaN),
    bfloat16: Float32Array.of(1, Math.fround(-3.140625), 2 ** -133, 3.3895313892515355e38, Infinity, -0),
    uint8: Uint8Array.of(0, 1, 127, 128, 254, 255),
    bool: Uint8Array.of(0, 1, 1, 0, 0, 1),
    int8: Int8Array.of(-128, -1, 0, 1, 2, 127),
    int16: Int16Array.of(-32768, -1, 0, 1, 2, 32767),
    uint16: Uint16Array.of(0, 1, 2, 3, 65534, 65535),
    int32: Int32Array.of(-(2 ** 31), -1, 0, 1, 2, 2 ** 31 - 1),
    uint32: Uint32Array.of(0, 1, 2, 3, 2 ** 32 - 2, 2 ** 32 - 1),
    int64: BigInt64Array.of(-(2n ** 63n), -1n, 0n, 1n, 2n ** 53n + 1n, 2n ** 63n - 1n),
    uint64: BigUint64Array.of(0n, 1n, 2n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n),
  };

  it.each(Object.keys(samples) as NDArrayDType[])(
    'round-trips %s with a [2, 3] shape and a name',
    (dtype) => {
      const array: NDArray = { shape: [2, 3], dtype, data: samples[dtype] };
      const bytes = writeNDArrayList([array], [`arg:${dtype}`]);
      const { arrays, names } = readNDArrayList(bytes);
      expect(names).toEqual([`arg:${dtype}`]);
      expect(arrays[0]).toEqual(array);
      expect(writeNDArrayList(arrays, names).equals(bytes)).toBe(true);
    },
  );

  it('narrows float16 and bfloat16 with round-to-nearest-even', () => {
    const halves = (values: number[], dtype: 'float16' | 'bfloat16') => {
      const bytes = writeNDArrayList([{ shape: [values.length], dtype, data: Float32Array.from(values) }]);
      const data = bytes.subarray(24 + 32, 24 + 32 + 2 * values.length);
      return Array.from(new Uint16Array(Uint8Array.from(data).buffer));
    };
    // 65520 is halfway between 65504 and 65536 (not representable) and rounds to even: infinity.
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10 and rounds to even: 1; 1 + 3·2^-11 rounds up.
    expect(
      halves([65519, 65520, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 2 ** -25 * 1.5, 1e-10], 'float16'),
    ).toEqual([0x7bff, 0x7c00, 0x3c00, 0x3c02, 0x0000, 0x0001, 0x0000]);
    expect(halves([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, NaN], 'bfloat16')).toEqual([
      0x3f80, 0x3f80, 0x3f82, 0x7fc0,
    ]);
  });

  it('writes a none array as MXNet does (stype -1, ndim 0) and reads it back', () => {
    const none: NDArray = { shape: [], dtype: 'float32', data: new Float32Array(0), none: true };
    const bytes = writeNDArrayList([none]);
    expect(Array.from(bytes.subarray(24, 36))).toEqual(
      Array.from(new ByteBuilder().u32(V2).i32(-1).i32(0).bytes()),
    );
    expect(readNDArrayList(bytes).arrays[0].none).toBe(true);
  });

  it('round-trips random float32 lists', () => {
    const arrayArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }).chain((shape) =>
      fc
        .array(fc.float(), {
          minLength: shape.reduce((a, b) => a * b, 1),
          maxLength: shape.reduce((a, b) => a * b, 1),
        })
        .map((values): NDArray => ({ shape, dtype: 'float32', data: Float32Array.from(values) })),
    );
    fc.assert(
      fc.property(fc.array(arrayArb, { maxLength: 4 }), fc.boolean(), (arrays, named) => {
        const names = named ? arrays.map((_, i) => `arg:p${i}é`) : [];
        const bytes = writeNDArrayList(arrays, names);
        const back = readNDArrayList(bytes);
        expect(back.names).toEqual(names);
        expect(back.arrays).toEqual(arrays);
      }),
      { seed: 3 },
    );
  });

  it('rejects arrays it cannot write', () => {
    const f32 = (shape: number[], n: number): NDArray => ({
      shape,
      dtype: 'float32',
      data: new Float32Array(n),
    });
    expect(() => writeNDArrayList([f32([2, 2], 3)])).toThrow(/shape \[2,2\] has 4 elements, data has 3/);
    expect(() => writeNDArrayList([f32([], 1)])).toThrow(/0-d scalar has no V2 encoding/);
    expect(() => writeNDArrayList([f32([1.5], 1)])).toThrow(/invalid dimension 1.5/);
    expect(() => writeNDArrayList([f32([1], 1)], ['a', 'b'])).toThrow(/2 names for 1 arrays/);
    expect(() => writeNDArrayList([{ shape: [1], dtype: 'int32', data: new Float32Array(1) }])).toThrow(
      /dtype int32 needs a Int32Array, got Float32Array/,
    );
    expect(() => writeNDArrayList([f32([1], 1)])).not.toThrow();
  });
});
