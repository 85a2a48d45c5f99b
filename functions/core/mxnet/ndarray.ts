/**
 * MXNet's NDArray-list binary format (`mx.nd.save` / `NDArray::Save`), the container of the FM model's
 * `params` member and of the k-means/PCA `model_algo-1`. No maintained npm package reads or writes it
 * (the only JS reader, Netron's `mxnet.js`, is part of an app, not a library), so it is done by hand
 * here, from apache/mxnet `src/ndarray/ndarray.cc` (`NDArray::Save/Load/LegacyLoad`) and
 * `include/mxnet/tuple.h` (`TShape::Load`). Everything is little-endian with no padding:
 *
 * ```
 * list   := u64 0x112 | u64 reserved | u64 n | n × array | u64 m | m × (u64 len, len bytes UTF-8)
 * array  := V2/V3: u32 magic | i32 stype | shape | i32 dev_type | i32 dev_id | i32 dtype | data
 *           V1:    u32 magic | shape | ctx | dtype | data
 *           legacy (no magic): u32 ndim | ndim × u32 dims | ctx | dtype | data
 * shape  := i32 ndim | ndim × i64 dims
 * ```
 *
 * Data offsets are not aligned, so every array's bytes are copied into a fresh buffer before a typed
 * array is laid over them.
 */

/** Thrown when bytes are not a valid NDArray list, or when arrays cannot be written as one. */
export class NDArrayFormatError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NDArrayFormatError';
  }
}

/** mshadow `TypeFlag` names, in flag order (the index is the on-disk `type_flag`). */
const DTYPES = [
  'float32',
  'float64',
  'float16',
  'uint8',
  'int32',
  'int8',
  'int64',
  'bool',
  'int16',
  'uint16',
  'uint32',
  'uint64',
  'bfloat16',
] as const;

/** An element type MXNet can store (mshadow `TypeFlag`). */
export type NDArrayDType = (typeof DTYPES)[number];

/**
 * The typed array holding an array's elements, by dtype:
 * float32, float16 and bfloat16 → `Float32Array` (the two 16-bit float types are widened exactly and
 * narrowed back with round-to-nearest-even on write, so values read from a file round-trip bit for bit);
 * float64 → `Float64Array`; int64 / uint64 → `BigInt64Array` / `BigUint64Array` (exact, unlike a
 * float64 widening); bool and uint8 → `Uint8Array`; the other integer types → their own typed array.
 */
export type NDArrayData =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** One dense array, row-major. */
export interface NDArray {
  /** Dimensions; `[]` is a 0-d scalar (1 element, V3 files only) or, with `none`, an array with no shape. */
  readonly shape: readonly number[];
  readonly dtype: NDArrayDType;
  /** `product(shape)` elements, row-major. */
  readonly data: NDArrayData;
  /**
   * MXNet's "none" NDArray (never initialised: no shape, no storage), which a file may hold in place
   * of an array. `shape` is then `[]` and `data` an empty `Float32Array`.
   */
  readonly none?: boolean;
}

/** The arrays of a list file and their names (`[]` when the file has none, else one per array). */
export interface NDArrayList {
  readonly arrays: NDArray[];
  readonly names: string[];
}

const LIST_MAGIC = 0x112n;
const V1_MAGIC = 0xf993fac8;
const V2_MAGIC = 0xf993fac9;
const V3_MAGIC = 0xf993faca;
const STYPE_UNDEFINED = -1;
const STYPE_DENSE = 0;
const STYPE_NAMES: Record<number, string> = { 1: 'row_sparse', 2: 'csr' };
const DEV_CPU = 1;

const BYTES_PER_ELEMENT: Record<NDArrayDType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  uint8: 1,
  int32: 4,
  int8: 1,
  int64: 8,
  bool: 1,
  int16: 2,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  bfloat16: 2,
};

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bounds-checked little-endian cursor; every failure names the byte offset and what was being read. */
class Cursor {
  private readonly view: DataView;
  offset = 0;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.byteLength - this.offset;
  }

  need(n: number, what: string): void {
    if (n > this.remaining) {
      throw new NDArrayFormatError(
        `NDArray list truncated at byte ${this.offset}: ${what} needs ${n} bytes, ${this.remaining} left ` +
          `(file is ${this.bytes.byteLength} bytes)`,
      );
    }
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  i32(what: string): number {
    this.need(4, what);
    const value = this.view.getInt32(this.offset, true);
    this.offset += 4;
    return value;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const value = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return value;
  }

  i64(what: string): bigint {
    this.need(8, what);
    const value = this.view.getBigInt64(this.offset, true);
    this.offset += 8;
    return value;
  }

  /** A u64 count whose items need at least `minBytesEach` bytes each: absurd counts fail here. */
  count(what: string, minBytesEach: number): number {
    const at = this.offset;
    const value = this.u64(what);
    if (value > BigInt(Math.floor(this.remaining / minBytesEach))) {
      throw new NDArrayFormatError(
        `NDArray list: ${what} at byte ${at} is ${value}, but only ${this.remaining} bytes follow ` +
          `(each item needs at least ${minBytesEach})`,
      );
    }
    return Number(value);
  }

  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}

/**
 * Parses an NDArray-list file (`mx.nd.save` output: an FM `params` member, a k-means `model_algo-1`).
 * Reads V1, V2, V3 (numpy shape semantics) and the legacy magic-less layout; dense storage only.
 * Trailing bytes after the names are an error (the files SageMaker writes end exactly there).
 *
 * @throws NDArrayFormatError on a wrong header, truncation, absurd counts or sizes, sparse storage,
 *   an unknown dtype, a names count that is neither 0 nor the array count, or invalid UTF-8 in a name.
 */
export function readNDArrayList(bytes: Uint8Array): NDArrayList {
  const cursor = new Cursor(bytes);
  const header = cursor.u64('the list header');
  if (header !== LIST_MAGIC) {
    throw new NDArrayFormatError(
      `not an MXNet NDArray list: header at byte 0 is 0x${header.toString(16)}, expected 0x112`,
    );
  }
  cursor.u64('the reserved word');
  // The smallest array record is 4 bytes (a legacy "none" array: ndim 0).
  const n = cursor.count('the array count', 4);
  const arrays: NDArray[] = [];
  for (let i = 0; i < n; i++) arrays.push(readArray(cursor, i));

  const m = cursor.count('the names count', 8);
  if (m !== 0 && m !== n) {
    throw new NDArrayFormatError(
      `NDArray list: ${m} names for ${n} arrays (byte ${cursor.offset - 8}); expected 0 or ${n}`,
    );
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const names: string[] = [];
  for (let i = 0; i < m; i++) {
    const at = cursor.offset;
    const length = cursor.count(`the length of name ${i}`, 1);
    const raw = cursor.take(length, `name ${i}`);
    try {
      names.push(decoder.decode(raw));
    } catch (error) {
      throw new NDArrayFormatError(`NDArray list: name ${i} at byte ${at} is not valid UTF-8`, {
        cause: error,
      });
    }
  }
  if (cursor.remaining !== 0) {
    throw new NDArrayFormatError(
      `NDArray list: ${cursor.remaining} unexpected trailing bytes after the names, from byte ${cursor.offset}`,
    );
  }
  return { arrays, names };
}

function readArray(cursor: Cursor, index: number): NDArray {
  const start = cursor.offset;
  const what = `array ${index} (byte ${start})`;
  const magic = cursor.u32(`the magic of ${what}`);

  let shape: number[] | null;
  if (magic === V2_MAGIC || magic === V3_MAGIC) {
    const stype = cursor.i32(`the storage type of ${what}`);
    if (stype in STYPE_NAMES) {
      throw new NDArrayFormatError(
        `${what} has ${STYPE_NAMES[stype]} storage (stype ${stype}); only dense arrays are supported`,
      );
    }
    if (stype !== STYPE_DENSE && stype !== STYPE_UNDEFINED) {
      throw new NDArrayFormatError(`${what} has an unknown storage type ${stype}`);
    }
    shape = readShape(cursor, what, magic === V3_MAGIC ? 'numpy' : 'classic');
    if (stype === STYPE_UNDEFINED && shape !== null) {
      throw new NDArrayFormatError(`${what} has undefined storage (stype -1) but a shape [${shape}]`);
    }
  } else if (magic === V1_MAGIC) {
    shape = readShape(cursor, what, 'classic');
  } else {
    shape = readLegacyShape(cursor, what, magic);
  }
  if (shape === null) return { shape: [], dtype: 'float32', data: new Float32Array(0), none: true };

  const devType = cursor.i32(`the device type of ${what}`);
  cursor.i32(`the device id of ${what}`);
  if (devType < 1 || devType > 5) {
    throw new NDArrayFormatError(
      `${what} has an invalid device type ${devType} at byte ${cursor.offset - 8}`,
    );
  }
  const flag = cursor.i32(`the dtype of ${what}`);
  const dtype = DTYPES[flag];
  if (dtype === undefined) {
    throw new NDArrayFormatError(`${what} has an unknown dtype flag ${flag} at byte ${cursor.offset - 4}`);
  }
  const size = BYTES_PER_ELEMENT[dtype];
  const elements = elementCount(shape, Math.floor(cursor.remaining / size), what, cursor.offset);
  const raw = cursor.take(elements * size, `the data of ${what}`);
  return { shape, dtype, data: decodeData(raw, dtype, elements) };
}

/**
 * `TShape::Load`: i32 ndim + i64 dims. Returns null for MXNet's "none" array: ndim 0 in classic (V1/V2)
 * semantics, ndim -1 or any dim -1 in numpy (V3) semantics. Classic V2 files written by MXNet >= 1.5
 * carry ndim -1 for a none array too, so -1 is none in both.
 */
function readShape(cursor: Cursor, what: string, semantics: 'classic' | 'numpy'): number[] | null {
  const at = cursor.offset;
  const ndim = cursor.i32(`the ndim of ${what}`);
  if (ndim === -1) return null;
  if (ndim < -1 || ndim * 8 > cursor.remaining) {
    throw new NDArrayFormatError(`${what} has an absurd ndim ${ndim} at byte ${at}`);
  }
  if (ndim === 0 && semantics === 'classic') return null;
  const shape: number[] = [];
  let unknown = false;
  for (let d = 0; d < ndim; d++) {
    const dimAt = cursor.offset;
    const dim = cursor.i64(`dim ${d} of ${what}`);
    if (dim === -1n && semantics === 'numpy') {
      unknown = true;
      continue;
    }
    if (dim < 0n || dim > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new NDArrayFormatError(`${what} has an absurd dim ${d} = ${dim} at byte ${dimAt}`);
    }
    shape.push(Number(dim));
  }
  return unknown ? null : shape;
}

/** Pre-V1 files: the first u32 is ndim itself, then ndim × u32 dims; ndim 0 is a none array. */
function readLegacyShape(cursor: Cursor, what: string, ndim: number): number[] | null {
  if (ndim === 0) return null;
  if (ndim * 4 > cursor.remaining) {
    throw new NDArrayFormatError(
      `${what}: unknown array magic 0x${ndim.toString(16)} (not V1/V2/V3); read as a legacy ndim (${ndim}) ` +
        `it needs ${ndim * 4} bytes of dims, ${cursor.remaining} left`,
    );
  }
  const shape: number[] = [];
  for (let d = 0; d < ndim; d++) shape.push(cursor.u32(`dim ${d} of ${what}`));
  return shape;
}

/** product(shape), failing as soon as it exceeds `limit` (so absurd dims never overflow). */
function elementCount(shape: readonly number[], limit: number, what: string, at: number): number {
  if (shape.includes(0)) return 0;
  let product = 1;
  for (const dim of shape) {
    product *= dim;
    if (product > limit) {
      throw new NDArrayFormatError(
        `${what} of shape [${shape}] needs more data than the ${limit} elements left at byte ${at}`,
      );
    }
  }
  return product;
}

/** Copies the (unaligned) little-endian bytes into a fresh buffer and views it with the dtype's array. */
function decodeData(raw: Uint8Array, dtype: NDArrayDType, elements: number): NDArrayData {
  const copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  const size = BYTES_PER_ELEMENT[dtype];
  if (!HOST_IS_LITTLE_ENDIAN && size > 1) swapBytes(copy, size);
  const buffer = copy.buffer;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, 0, elements);
    case 'float64':
      return new Float64Array(buffer, 0, elements);
    case 'float16':
      return widen16(new Uint16Array(buffer, 0, elements), halfToFloatBits);
    case 'bfloat16':
      return widen16(new Uint16Array(buffer, 0, elements), (h) => h << 16);
    case 'uint8':
    case 'bool':
      return copy;
    case 'int8':
      return new Int8Array(buffer, 0, elements);
    case 'int16':
      return new Int16Array(buffer, 0, elements);
    case 'uint16':
      return new Uint16Array(buffer, 0, elements);
    case 'int32':
      return new Int32Array(buffer, 0, elements);
    case 'uint32':
      return new Uint32Array(buffer, 0, elements);
    case 'int64':
      return new BigInt64Array(buffer, 0, elements);
    case 'uint64':
      return new BigUint64Array(buffer, 0, elements);
  }
}

function widen16(halves: Uint16Array, toBits: (h: number) => number): Float32Array {
  const out = new Float32Array(halves.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < halves.length; i++) bits[i] = toBits(halves[i]) >>> 0;
  return out;
}

/** IEEE half → float32 bit pattern, exact (subnormals normalised, NaN payloads kept). */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return sign | 0x7f800000 | (mant << 13);
  if (exp !== 0) return sign | ((exp + 112) << 23) | (mant << 13);
  if (mant === 0) return sign;
  let e = -14;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13);
}

/** float32 bit pattern → IEEE half, round to nearest even (MXNet's own conversion rounds the same way). */
function floatBitsToHalf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) {
    const payload = mant >>> 13;
    return sign | 0x7c00 | (mant !== 0 && payload === 0 ? 0x200 : payload);
  }
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** float32 bit pattern → bfloat16, round to nearest even; NaN stays NaN. */
function floatBitsToBfloat16(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
    const top = x >>> 16;
    return (top & 0x7f) === 0 ? top | 0x40 : top;
  }
  return ((x >>> 0) + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

type DataConstructor = new (length: number) => NDArrayData;

const DATA_CONSTRUCTOR: Record<NDArrayDType, DataConstructor> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Float32Array,
  bfloat16: Float32Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
};

/**
 * Serialises arrays (and optional names, one per array) as MXNet does with `mx.nd.save` outside numpy
 * mode: V2 records, dense storage, context (cpu, 0), every dtype. This is byte-identical to the files
 * SageMaker's MXNet writes (tested against real k-means artifacts). A 0-d scalar cannot be expressed in
 * V2 (ndim 0 means "none" there): reshape it to `[1]`.
 *
 * @throws NDArrayFormatError when a shape, dtype, data length or the names count is inconsistent.
 */
export function writeNDArrayList(arrays: readonly NDArray[], names: readonly string[] = []): Buffer {
  if (names.length !== 0 && names.length !== arrays.length) {
    throw new NDArrayFormatError(`cannot write ${names.length} names for ${arrays.length} arrays`);
  }
  const encoder = new TextEncoder();
  const encodedNames = names.map((name) => encoder.encode(name));
  let total = 24 + 8;
  for (let i = 0; i < arrays.length; i++) total += recordSize(arrays[i], i);
  for (const name of encodedNames) total += 8 + name.byteLength;

  const out = Buffer.alloc(total);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let at = 0;
  const u32 = (v: number) => {
    view.setUint32(at, v, true);
    at += 4;
  };
  const i32 = (v: number) => {
    view.setInt32(at, v, true);
    at += 4;
  };
  const u64 = (v: number | bigint) => {
    view.setBigUint64(at, BigInt(v), true);
    at += 8;
  };

  u64(LIST_MAGIC);
  u64(0);
  u64(arrays.length);
  for (const array of arrays) {
    u32(V2_MAGIC);
    if (array.none) {
      // What MXNet writes for an uninitialised array: undefined storage, ndim 0 (every loader's "none").
      i32(STYPE_UNDEFINED);
      i32(0);
      continue;
    }
    i32(STYPE_DENSE);
    i32(array.shape.length);
    for (const dim of array.shape) {
      view.setBigInt64(at, BigInt(dim), true);
      at += 8;
    }
    i32(DEV_CPU);
    i32(0);
    i32(DTYPES.indexOf(array.dtype));
    at += encodeData(array, out.subarray(at));
  }
  u64(encodedNames.length);
  for (const name of encodedNames) {
    u64(name.byteLength);
    out.set(name, at);
    at += name.byteLength;
  }
  return out;
}

function recordSize(array: NDArray, index: number): number {
  const what = `array ${index}`;
  if (array.none) {
    if (array.shape.length !== 0 || array.data.length !== 0) {
      throw new NDArrayFormatError(`cannot write ${what}: a none array has no shape and no data`);
    }
    return 12;
  }
  const dtypeIndex = DTYPES.indexOf(array.dtype);
  if (dtypeIndex < 0) throw new NDArrayFormatError(`cannot write ${what}: unknown dtype ${array.dtype}`);
  const expected = DATA_CONSTRUCTOR[array.dtype];
  if (!(array.data instanceof expected)) {
    throw new NDArrayFormatError(
      `cannot write ${what}: dtype ${array.dtype} needs a ${expected.name}, got ${array.data.constructor.name}`,
    );
  }
  if (array.shape.length === 0) {
    throw new NDArrayFormatError(`cannot write ${what}: a 0-d scalar has no V2 encoding; use shape [1]`);
  }
  let elements = 1;
  for (const dim of array.shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new NDArrayFormatError(
        `cannot write ${what}: invalid dimension ${dim} in shape [${array.shape}]`,
      );
    }
    elements *= dim;
  }
  if (array.data.length !== elements) {
    throw new NDArrayFormatError(
      `cannot write ${what}: shape [${array.shape}] has ${elements} elements, data has ${array.data.length}`,
    );
  }
  return 4 + 4 + 4 + 8 * array.shape.length + 12 + elements * BYTES_PER_ELEMENT[array.dtype];
}

/** Writes the array's elements little-endian at the start of `target`; returns the bytes written. */
function encodeData(array: NDArray, target: Uint8Array): number {
  const { dtype, data } = array;
  let bytes: Uint8Array;
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const source = data as Float32Array;
    const bits = new Uint32Array(source.buffer, source.byteOffset, source.length);
    const narrow = dtype === 'float16' ? floatBitsToHalf : floatBitsToBfloat16;
    const halves = new Uint16Array(source.length);
    for (let i = 0; i < source.length; i++) halves[i] = narrow(bits[i]);
    bytes = new Uint8Array(halves.buffer);
  } else {
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  target.set(bytes);
  const size = BYTES_PER_ELEMENT[dtype];
  if (!HOST_IS_LITTLE_ENDIAN && size > 1) swapBytes(target.subarray(0, bytes.byteLength), size);
  return bytes.byteLength;
}
