/**
 * The local FM trainer's two hot loops as WebAssembly SIMD (f64x2) kernels: the dot product of two
 * factor rows with the matching gradient update of a one-hot example, and Adam on the factor rows of
 * a batch's features. They keep the scalar trainer's arithmetic (float32 storage, float64 math, the
 * same expressions in the same order), two factors per instruction and without JavaScript's typed-
 * array bounds checks and float32 conversions; Adam's results are bit-identical, the dot product sums
 * even and odd factors apart (a rounding difference near 1e-16).
 *
 * The module is assembled here from its opcodes (WebAssembly core spec §5, SIMD proposal opcodes):
 * three fixed functions do not justify a compiler toolchain (binaryen, wabt, AssemblyScript) in the
 * build, and the encoder is a few dozen lines. Every row is `stride` float32s with `stride` even (the
 * trainer pads factor rows with zeros, which stay zero under every update).
 */
import { section, sleb, uleb, wasmName } from '../wasm-bytes';

/**
 * The slice of the WebAssembly JS API used here: Node has it built in, the project's TypeScript libs
 * (ES2023 + @types/node) do not declare it, and the DOM lib would declare much more.
 */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The kernels over one wasm memory that the caller lays out. */
export interface FmSimdKernels {
  readonly memory: { readonly buffer: ArrayBuffer };
  /** Σ_f a[f]·b[f] over `n` float32s at byte offsets `a` and `b` (n even). */
  dot(a: number, b: number, n: number): number;
  /** ga[f] += g·vb[f], gb[f] += g·va[f] for `n` float64 gradients at `ga`/`gb` and float32 rows at `va`/`vb`. */
  axpy2(ga: number, gb: number, va: number, vb: number, g: number, n: number): void;
  /**
   * MXNet Adam on `count` rows of `stride` float32s: row s is at `w + rowOf[s]·stride·4` (and the
   * same offsets in the moments `s1`, `s2`), its gradient the s-th float64 row at `grad`, cleared on
   * the way. `lr` has the bias correction folded in.
   */
  adam(
    w: number,
    s1: number,
    s2: number,
    grad: number,
    rowOf: number,
    count: number,
    stride: number,
    lr: number,
    wd: number,
  ): void;
}

/** Instantiates the kernels over a fresh memory of at least `bytes` bytes. */
export function createFmSimdKernels(bytes: number): FmSimdKernels {
  const memory = new wasm.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
  const instance = new wasm.Instance(compiled(), { env: { memory } });
  const e = instance.exports as unknown as Omit<FmSimdKernels, 'memory'>;
  return { memory, dot: e.dot, axpy2: e.axpy2, adam: e.adam };
}

// --- The encoder ---------------------------------------------------------------------------------

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;

const f64Bytes = (x: number): number[] => [...new Uint8Array(new Float64Array([x]).buffer)];
const str = wasmName;
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];

// Instructions (opcode bytes); memory access is unaligned-safe, align hints are the natural ones.
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const tee = (i: number) => [0x22, ...uleb(i)];
const i32c = (n: number) => [0x41, ...sleb(n)];
const f64c = (x: number) => [0x44, ...f64Bytes(x)];
const I32_ADD = [0x6a];
const I32_MUL = [0x6c];
const I32_GE_U = [0x4f];
const I32_LOAD = [0x28, 2, 0];
const F64_ADD = [0xa0];
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = [0x0b];
const brIf = (depth: number) => [0x0d, ...uleb(depth)];
const br = (depth: number) => [0x0c, ...uleb(depth)];
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
const V128_LOAD = simd(0x00, 4, 0);
const V128_STORE = simd(0x0b, 4, 0);
const V128_LOAD64_ZERO = simd(0x5d, 3, 0);
const V128_STORE64_LANE0 = simd(0x5b, 3, 0, 0);
const F64X2_SPLAT = simd(0x14);
const extract = (lane: number) => simd(0x21, lane);
const DEMOTE = simd(0x5e);
const PROMOTE = simd(0x5f);
const F64X2_SQRT = simd(0xef);
const F64X2_ADD = simd(0xf0);
const F64X2_SUB = simd(0xf1);
const F64X2_MUL = simd(0xf2);
const F64X2_DIV = simd(0xf3);
/** Two float32 at the address on the stack, as an f64x2. */
const LOAD_F32X2 = [...V128_LOAD64_ZERO, ...PROMOTE];
const ZERO_V128 = simd(0x0c, ...new Array<number>(16).fill(0));

/** `for (i = 0; i < limit; i += step) body` with i32 locals. */
// prettier-ignore
function forLoop(i: number, limit: number, step: number, body: number[]): number[] {
  return [
    ...i32c(0), ...set(i),
    ...BLOCK, ...LOOP,
    ...get(i), ...get(limit), ...I32_GE_U, ...brIf(1),
    ...body,
    ...get(i), ...i32c(step), ...I32_ADD, ...set(i),
    ...br(0),
    ...END, ...END,
  ];
}

function func(locals: Array<[count: number, type: number]>, body: number[]): number[] {
  const code = [...vec(locals.map(([n, t]) => [...uleb(n), t])), ...body, ...END];
  return [...uleb(code.length), ...code];
}

// dot(a, b, n) -> f64. Locals: 0 a, 1 b, 2 n, 3 i (bytes), 4 nBytes, 5 acc.
// prettier-ignore
const DOT = func(
  [[2, I32], [1, V128]],
  [
    ...get(2), ...i32c(4), ...I32_MUL, ...set(4),
    ...forLoop(3, 4, 8, [
      ...get(5),
      ...get(0), ...get(3), ...I32_ADD, ...LOAD_F32X2,
      ...get(1), ...get(3), ...I32_ADD, ...LOAD_F32X2,
      ...F64X2_MUL, ...F64X2_ADD, ...set(5),
    ]),
    ...get(5), ...extract(0), ...get(5), ...extract(1), ...F64_ADD,
  ],
);

// axpy2(ga, gb, va, vb, g, n). Locals: 0 ga, 1 gb, 2 va, 3 vb, 4 g, 5 n, 6 i (float index ×4 bytes),
// 7 nBytes, 8 gv (g splat), 9 gi (gradient byte offset).
// prettier-ignore
const AXPY2 = func(
  [[2, I32], [1, V128], [1, I32]],
  [
    ...get(5), ...i32c(4), ...I32_MUL, ...set(7),
    ...get(4), ...F64X2_SPLAT, ...set(8),
    ...forLoop(6, 7, 8, [
      ...get(6), ...i32c(2), ...I32_MUL, ...set(9),
      // ga[i] += g * vb[i]
      ...get(0), ...get(9), ...I32_ADD,
      ...get(0), ...get(9), ...I32_ADD, ...V128_LOAD,
      ...get(8), ...get(3), ...get(6), ...I32_ADD, ...LOAD_F32X2, ...F64X2_MUL,
      ...F64X2_ADD, ...V128_STORE,
      // gb[i] += g * va[i]
      ...get(1), ...get(9), ...I32_ADD,
      ...get(1), ...get(9), ...I32_ADD, ...V128_LOAD,
      ...get(8), ...get(2), ...get(6), ...I32_ADD, ...LOAD_F32X2, ...F64X2_MUL,
      ...F64X2_ADD, ...V128_STORE,
    ]),
  ],
);

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-8;

// adam(w, s1, s2, grad, rowOf, count, stride, lr, wd). Locals: 0 w, 1 s1, 2 s2, 3 grad, 4 rowOf,
// 5 count, 6 stride, 7 lr, 8 wd, 9 s, 10 i (bytes in the f32 row), 11 rowBytes, 12 off (f32 row),
// 13 gOff (f64 row), 14 lrv, 15 wdv, 16 g, 17 wv, 18 m, 19 sq, 20-24 the constants β1, 1−β1, β2,
// 1−β2, ε splatted once.
const splat = (x: number) => [...f64c(x), ...F64X2_SPLAT];
const CONSTANTS = [BETA1, 1 - BETA1, BETA2, 1 - BETA2, EPSILON];
const constant = (x: number) => get(20 + CONSTANTS.indexOf(x));
const at = (base: number) => [...get(base), ...get(12), ...I32_ADD, ...get(10), ...I32_ADD];
const gAt = [...get(13), ...get(10), ...i32c(2), ...I32_MUL, ...I32_ADD];
// prettier-ignore
const ADAM = func(
  [[5, I32], [11, V128]],
  [
    ...CONSTANTS.flatMap((x, i) => [...splat(x), ...set(20 + i)]),
    ...get(6), ...i32c(4), ...I32_MUL, ...set(11),
    ...get(7), ...F64X2_SPLAT, ...set(14),
    ...get(8), ...F64X2_SPLAT, ...set(15),
    ...forLoop(9, 5, 1, [
      ...get(4), ...get(9), ...i32c(4), ...I32_MUL, ...I32_ADD, ...I32_LOAD,
      ...get(11), ...I32_MUL, ...set(12),
      ...get(3), ...get(9), ...get(11), ...i32c(2), ...I32_MUL, ...I32_MUL, ...I32_ADD, ...set(13),
      ...forLoop(10, 11, 8, [
        // g = grad + wd·w; grad = 0
        ...at(0), ...LOAD_F32X2, ...tee(17),
        ...get(15), ...F64X2_MUL, ...gAt, ...V128_LOAD, ...F64X2_ADD, ...set(16),
        ...gAt, ...ZERO_V128, ...V128_STORE,
        // m = β1·s1 + (1−β1)·g, stored as float32
        ...constant(BETA1), ...at(1), ...LOAD_F32X2, ...F64X2_MUL,
        ...constant(1 - BETA1), ...get(16), ...F64X2_MUL, ...F64X2_ADD, ...set(18),
        ...at(1), ...get(18), ...DEMOTE, ...V128_STORE64_LANE0,
        // sq = β2·s2 + (1−β2)·g·g
        ...constant(BETA2), ...at(2), ...LOAD_F32X2, ...F64X2_MUL,
        ...constant(1 - BETA2), ...get(16), ...F64X2_MUL, ...get(16), ...F64X2_MUL, ...F64X2_ADD, ...set(19),
        ...at(2), ...get(19), ...DEMOTE, ...V128_STORE64_LANE0,
        // w −= lr·m / (√sq + ε)
        ...at(0),
        ...get(17), ...get(14), ...get(18), ...F64X2_MUL,
        ...get(19), ...F64X2_SQRT, ...constant(EPSILON), ...F64X2_ADD, ...F64X2_DIV, ...F64X2_SUB,
        ...DEMOTE, ...V128_STORE64_LANE0,
      ]),
    ]),
  ],
);

// prettier-ignore
const MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, vec([
    [0x60, ...vec([[I32], [I32], [I32]]), ...vec([[F64]])],
    [0x60, ...vec([[I32], [I32], [I32], [I32], [F64], [I32]]), ...vec([])],
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [I32], [F64], [F64]]), ...vec([])],
  ])),
  ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, 0x01]])),
  ...section(3, vec([[0], [1], [2]])),
  ...section(7, vec([
    [...str('dot'), 0x00, 0],
    [...str('axpy2'), 0x00, 1],
    [...str('adam'), 0x00, 2],
  ])),
  ...section(10, vec([DOT, AXPY2, ADAM])),
]);

let compiledModule: object | undefined;
function compiled(): object {
  compiledModule ??= new wasm.Module(MODULE_BYTES);
  return compiledModule;
}
