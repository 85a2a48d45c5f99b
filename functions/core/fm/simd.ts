/**
 * The local FM trainer's mini-batch as two WebAssembly kernels, so nothing per example or per factor
 * runs in JavaScript: `batch` takes every one-hot row of a mini-batch (logit, sigmoid, metrics, and
 * its gradient into the batch's slots), `adam` the optimizer step on the rows of the batch's features.
 *
 * Arithmetic: the factor rows, their gradients and their Adam step are float32 SIMD (f32x4, four
 * factors per instruction): Adam's square root and division are the trainer's bottleneck and cost
 * the same per instruction at four float32 lanes as at two float64 ones. Logits, gradients of the
 * logit, metrics and the linear weights' Adam step are float64 as in the scalar reference trainer
 * (bench/reference/fm.ts). The difference to the reference is float32 rounding of the factor
 * updates; test/core/fm/train-equivalence.test.ts bounds it.
 *
 * WebAssembly has no exp or log: the sigmoid's e^−|ŷ| and the log loss's ln(1 + e^−|ŷ|) are computed
 * here by the textbook reductions (2^k·e^r, |r| ≤ ln2/2, with a degree-10 Taylor polynomial; and
 * 2·atanh(x/(2+x)) by 11 terms of its series), within 1e-12 relative: far below the float32 rounding
 * of the updates, and cheaper than calling JavaScript's Math.exp from wasm for every row.
 *
 * The kernels also read ahead: while a row (a slot) is processed they load one word per cache line
 * of the factor rows of the row ROWS_AHEAD later (the parameter and gradient rows of the slot
 * SLOTS_AHEAD later), which WebAssembly cannot prefetch otherwise; the parameter rows of ml-100k's
 * 2,600 features (2 MB) already exceed a core's L2.
 *
 * The module is assembled here from its opcodes (WebAssembly core spec §5, SIMD opcodes): a few
 * fixed functions do not justify a compiler toolchain (binaryen, wabt, AssemblyScript) in the build,
 * and the encoder is a few dozen lines. Where the data lives in the memory is the caller's
 * (`FmKernelLayout`), given to the module as imported constant globals.
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

/**
 * Where the kernels find their data: byte offsets in the memory (16-byte aligned) and two sizes.
 * Feature j's parameter row is `rowBytes` at `params + j·rowBytes`: its factors, then their Adam
 * first and second moments, `vecBytes` each (a multiple of 32, eight float32s: the loops take two
 * f32x4 per step; the factors beyond num_factors are zeros that every update keeps zero).
 */
export interface FmKernelLayout {
  readonly params: number;
  readonly rowBytes: number;
  readonly vecBytes: number;
  /** 1 for `binary_classifier` (sigmoid, log loss), 0 for `regressor` (squared error). */
  readonly classifier: number;
  /** Linear weights, then their Adam first and second moments: float32 per feature each. */
  readonly w1: number;
  readonly w1m: number;
  readonly w1q: number;
  /** The batch's rows: a byte per row, 1 when it is one-hot (two distinct columns, both 1). */
  readonly flags: number;
  /** The batch's CSR row pointers (uint32, n + 1 of them, absolute as in the data). */
  readonly rowPtr: number;
  /** The batch's columns (uint32) from its first row's first entry. */
  readonly cols: number;
  /** The batch's labels (float32). */
  readonly label: number;
  /** Slot of each feature in the batch, −1 when absent (int32 per feature). */
  readonly slotOf: number;
  /** Feature of each slot (int32). */
  readonly slotFeature: number;
  /** Linear gradient of each slot (float64). */
  readonly gradLinear: number;
  /** Factor gradient row of each slot, `vecBytes` each (float32). */
  readonly grad: number;
  /** One float64 per batch row: its logit, then its scaled gradient (scratch of `batch`). */
  readonly out: number;
  /** Two int32 per batch row: its columns (scratch of `batch`). */
  readonly pairs: number;
  /**
   * What `batch` reports (32 bytes): float64 loss sum at 0 (log loss or squared error, unscaled),
   * float64 sum of the scaled gradients of the logits at 8 (w0's gradient), int32 true positives at
   * 16, false positives at 20, false negatives at 24 (28: scratch).
   */
  readonly stats: number;
}

const LAYOUT_KEYS = [
  'params',
  'rowBytes',
  'vecBytes',
  'classifier',
  'w1',
  'w1m',
  'w1q',
  'flags',
  'rowPtr',
  'cols',
  'label',
  'slotOf',
  'slotFeature',
  'gradLinear',
  'grad',
  'out',
  'pairs',
  'stats',
] as const satisfies ReadonlyArray<keyof FmKernelLayout>;

/** The kernels over one wasm memory laid out as `FmKernelLayout` says. */
export interface FmSimdKernels {
  readonly memory: { readonly buffer: ArrayBuffer };
  /**
   * For each one-hot row i < n of the batch (columns a, b, label y), in order:
   * ŷ = ((w0 + w1[a]) + w1[b]) + ⟨v_a, v_b⟩; g = (σ(ŷ) − y) · scale for a classifier, (ŷ − y) · scale
   * for a regressor; its loss and confusion counts into `stats`; the two features get a slot when
   * they have none (from `slots` on); gradLinear[slot] += g; grad[slot a] += g·v_b and
   * grad[slot b] += g·v_a, where a slot the call makes fresh starts from 0 (its old gradients are
   * not read: the caller need not clear them). Rows that are not one-hot are skipped. Returns the
   * number of slots in use.
   */
  batch(n: number, w0: number, scale: number, slots: number): number;
  /**
   * MXNet Adam on the rows of the first `count` slots' features: the linear weight (float64 math,
   * `lrLinear`, `wdLinear`) and the factor row (float32, `lr`, `wd`), and releases the slots
   * (slotOf back to −1; their gradients are left as they are). The learning rates have the bias correction folded in.
   */
  adam(count: number, lr: number, wd: number, lrLinear: number, wdLinear: number): void;
}

/** Instantiates the kernels over a fresh memory of at least `bytes` bytes laid out as `layout`. */
export function createFmSimdKernels(bytes: number, layout: FmKernelLayout): FmSimdKernels {
  const memory = new wasm.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
  const env: Record<string, unknown> = { memory };
  for (const key of LAYOUT_KEYS) env[key] = layout[key];
  const instance = new wasm.Instance(compiled(), { env });
  const e = instance.exports as unknown as Omit<FmSimdKernels, 'memory'>;
  return { memory, batch: e.batch, adam: e.adam };
}

// --- The encoder ---------------------------------------------------------------------------------

const I32 = 0x7f;
const F32 = 0x7d;
const F64 = 0x7c;
const V128 = 0x7b;

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const f32Bytes = (x: number): number[] => [...new Uint8Array(new Float32Array([x]).buffer)];
const f64Bytes = (x: number): number[] => [...new Uint8Array(new Float64Array([x]).buffer)];

// Instructions (opcode bytes); the align hints are the natural ones.
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const tee = (i: number) => [0x22, ...uleb(i)];
const global = (key: (typeof LAYOUT_KEYS)[number]) => [0x23, ...uleb(LAYOUT_KEYS.indexOf(key))];
const i32c = (n: number) => [0x41, ...sleb(n)];
const f32c = (x: number) => [0x43, ...f32Bytes(x)];
const f64c = (x: number) => [0x44, ...f64Bytes(x)];
const SELECT = [0x1b];
const I32_ADD = [0x6a];
const I32_SUB = [0x6b];
const I32_MUL = [0x6c];
const I32_AND = [0x71];
const I32_XOR = [0x73];
const I32_LT_S = [0x48];
const I32_LT_U = [0x49];
const I32_GE_U = [0x4f];
const I32_LOAD = [0x28, 2, 0];
const i32Load = (offset: number) => [0x28, 2, ...uleb(offset)];
const i32Store = (offset: number) => [0x36, 2, ...uleb(offset)];
const I32_LOAD8_U = [0x2d, 0, 0];
const I32_STORE = [0x36, 2, 0];
const F32_LOAD = [0x2a, 2, 0];
const F32_STORE = [0x38, 2, 0];
const F64_LOAD = [0x2b, 3, 0];
const F64_STORE = [0x39, 3, 0];
const F64_GT = [0x64];
const F64_GE = [0x66];
const F64_ABS = [0x99];
const F64_NEG = [0x9a];
const F64_NEAREST = [0x9e];
const F64_SQRT = [0x9f];
const F64_ADD = [0xa0];
const F64_SUB = [0xa1];
const F64_MUL = [0xa2];
const F64_DIV = [0xa3];
const F64_MAX = [0xa5];
const I32_TRUNC_F64_S = [0xaa];
const I64_EXTEND_I32_S = [0xac];
const F32_DEMOTE_F64 = [0xb6];
const F64_PROMOTE_F32 = [0xbb];
const F64_REINTERPRET_I64 = [0xbf];
const i64c = (n: number) => [0x42, ...sleb(n)];
const I64_ADD = [0x7c];
const I64_SHL = [0x86];
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const IF = [0x04, 0x40];
const ELSE = [0x05];
const END = [0x0b];
const brIf = (depth: number) => [0x0d, ...uleb(depth)];
const br = (depth: number) => [0x0c, ...uleb(depth)];
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
/** v128 load/store at the address on the stack + `offset` (a memarg immediate). */
const v128Load = (offset = 0) => simd(0x00, 4, ...uleb(offset));
const v128Store = (offset = 0) => simd(0x0b, 4, ...uleb(offset));
const ZERO_V128 = simd(0x0c, ...new Array<number>(16).fill(0));
const F32X4_SPLAT = simd(0x13);
const f32Lane = (lane: number) => simd(0x1f, lane);
const F32X4_SQRT = simd(0xe3);
const F32X4_ADD = simd(0xe4);
const F32X4_SUB = simd(0xe5);
const F32X4_MUL = simd(0xe6);
const F32X4_DIV = simd(0xe7);

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

/**
 * A function's code with its parameters and locals by name: `params` in order, then `locals`;
 * `body` gets the index of each name.
 */
function func<P extends string, L extends string>(
  params: readonly P[],
  locals: ReadonlyArray<readonly [L, number]>,
  body: (at: Record<P | L, number>) => number[],
): number[] {
  const at = {} as Record<P | L, number>;
  params.forEach((name, i) => (at[name] = i));
  locals.forEach(([name], i) => (at[name] = params.length + i));
  const code = [...vec(locals.map(([, type]) => [1, type])), ...body(at), ...END];
  return [...uleb(code.length), ...code];
}

/** `base + index·size`, each an instruction sequence. */
const addr = (base: number[], index: number[], size: number[]) => [
  ...base,
  ...index,
  ...size,
  ...I32_MUL,
  ...I32_ADD,
];
/** The polynomial with `coefficients` (highest degree first) at the f64 local `x`, by Horner's rule. */
const horner = (x: number, coefficients: readonly number[]): number[] =>
  coefficients
    .slice(1)
    .reduce((code, c) => [...code, ...get(x), ...F64_MUL, ...f64c(c), ...F64_ADD], f64c(coefficients[0]));

/** How far ahead the kernels read: batch rows (logits pass), slots (Adam). */
const ROWS_AHEAD = 8;
const SLOTS_AHEAD = 4;

const LN2_HI = 6.9314718036912381649e-1; // fdlibm's split of ln 2: LN2_HI + LN2_LO
const LN2_LO = 1.90821492927058770002e-10;
/** 1/10!, 1/9!, …, 1/1!, 1/0! (Horner order). */
const EXP_TAYLOR = Array.from({ length: 11 }, (_, k) => 10 - k).map((k) => {
  let f = 1;
  for (let i = 2; i <= k; i++) f *= i;
  return 1 / f;
});

/**
 * e^x for the f64 local x ≤ 0 (clobbers x, k, r), on the stack: 2^k·e^r with k = round(x/ln2),
 * r = x − k·ln2, |r| ≤ ln2/2, so the degree-10 polynomial is within (ln2/2)¹¹/11! < 3e-13 relative.
 * x is clamped at −708 (e^−708 ≈ 3e-308 leaves 1 + e^x = 1 as e^x would; below, 2^k leaves
 * float64's normal range).
 */
// prettier-ignore
const expNeg = (x: number, k: number, r: number) => [
  ...get(x), ...f64c(-708), ...F64_MAX, ...tee(x),
  ...f64c(Math.LOG2E), ...F64_MUL, ...F64_NEAREST, ...set(k),
  ...get(x), ...get(k), ...f64c(LN2_HI), ...F64_MUL, ...F64_SUB,
  ...get(k), ...f64c(LN2_LO), ...F64_MUL, ...F64_SUB, ...set(r),
  ...horner(r, EXP_TAYLOR),
  // 2^k from its bits: exponent field k + 1023 (k ≥ −1022 here)
  ...get(k), ...I32_TRUNC_F64_S, ...I64_EXTEND_I32_S, ...i64c(1023), ...I64_ADD, ...i64c(52), ...I64_SHL,
  ...F64_REINTERPRET_I64,
  ...F64_MUL,
];

/** 1/21, 1/19, …, 1/3, 1 (Horner order in s²). */
const ATANH_SERIES = Array.from({ length: 11 }, (_, k) => 1 / (21 - 2 * k));

/**
 * ln(1 + x) for the f64 local 0 ≤ x ≤ 1 (clobbers s, s2), on the stack: 2·atanh(s) =
 * 2·(s + s³/3 + s⁵/5 + …) with s = x/(2 + x) ≤ 1/3, 11 terms (the rest is below (1/9)¹¹/23 < 2e-12,
 * relative).
 */
// prettier-ignore
const log1pUnit = (x: number, s: number, s2: number) => [
  ...get(x), ...f64c(2), ...get(x), ...F64_ADD, ...F64_DIV, ...tee(s),
  ...get(s), ...F64_MUL, ...set(s2),
  ...horner(s2, ATANH_SERIES),
  ...get(s), ...F64_MUL, ...f64c(2), ...F64_MUL,
];

/** The column of entry `k` (0 or 1) of batch row `r`: cols[rowPtr[r] − rowPtr[0] + k]. */
// prettier-ignore
const column = (r: number[], k: number) => [
  ...global('cols'),
  ...addr(global('rowPtr'), r, i32c(4)), ...I32_LOAD,
  ...global('rowPtr'), ...I32_LOAD, ...I32_SUB, ...i32c(k), ...I32_ADD,
  ...i32c(4), ...I32_MUL, ...I32_ADD, ...I32_LOAD,
];
const isOneHot = (r: number[]) => [...global('flags'), ...r, ...I32_ADD, ...I32_LOAD8_U];
/** `sink ^= (word at base + i)` for i = 0, 64, … < bytes: pulls the block's cache lines in. */
// prettier-ignore
const touch = (base: number[], bytes: number, i: number, sink: number) => forLoop(i, bytes, 64, [
  ...get(sink), ...base, ...get(i), ...I32_ADD, ...I32_LOAD, ...I32_XOR, ...set(sink),
]);

/**
 * `fresh = slotOf[j] < 0; if (fresh) { slotOf[j] = slots++; slotFeature[slotOf[j]] = j }; slot = slotOf[j]`:
 * a fresh slot's gradients are written rather than added to (nothing clears them in between).
 */
// prettier-ignore
const slotFor = (j: number, slot: number, slots: number, fresh: number) => [
  ...addr(global('slotOf'), get(j), i32c(4)), ...I32_LOAD, ...tee(slot),
  ...i32c(0), ...I32_LT_S, ...tee(fresh), ...IF,
    ...get(slots), ...set(slot),
    ...get(slots), ...i32c(1), ...I32_ADD, ...set(slots),
    ...addr(global('slotOf'), get(j), i32c(4)), ...get(slot), ...I32_STORE,
    ...addr(global('slotFeature'), get(slot), i32c(4)), ...get(j), ...I32_STORE,
  ...END,
];
/** gradLinear[slot] = g when fresh, else += g */
// prettier-ignore
const addLinear = (slot: number, g: number, fresh: number) => [
  ...addr(global('gradLinear'), get(slot), i32c(8)),
  ...get(g), ...f64c(0), ...addr(global('gradLinear'), get(slot), i32c(8)), ...F64_LOAD,
  ...get(fresh), ...SELECT, ...F64_ADD,
  ...F64_STORE,
];
/** row `into` (+i+o) = gv·row `from` (+i+o), four float32s; `+=` when `add` */
// prettier-ignore
const axpy = (into: number, from: number, i: number, o: number, gv: number, add: boolean) => [
  ...get(into), ...get(i), ...I32_ADD,
  ...(add ? [...get(into), ...get(i), ...I32_ADD, ...v128Load(o)] : []),
  ...get(gv), ...get(from), ...get(i), ...I32_ADD, ...v128Load(o), ...F32X4_MUL,
  ...(add ? F32X4_ADD : []), ...v128Store(o),
];
/** The gradient row of one side of a one-hot row: written when its slot is fresh, else added to. */
// prettier-ignore
const gradRow = (into: number, from: number, i: number, gv: number, vecBytes: number, fresh: number) => [
  ...get(fresh), ...IF,
    ...forLoop(i, vecBytes, 32, [0, 16].flatMap((o) => axpy(into, from, i, o, gv, false))),
  ...ELSE,
    ...forLoop(i, vecBytes, 32, [0, 16].flatMap((o) => axpy(into, from, i, o, gv, true))),
  ...END,
];
const lane = (v: number, k: number) => [...get(v), ...f32Lane(k), ...F64_PROMOTE_F32];

// batch(n, w0, scale, slots) -> slots, in three passes over the batch's one-hot rows: the logits
// into out (loads only), the gradients of the logits into out (scalar math whose rows are
// independent, so the processor overlaps their exp and log chains), the gradients into the slots.
// prettier-ignore
const BATCH_CODE = func(['n', 'w0', 'scale', 'slots'], [
  ['r', I32], ['a', I32], ['b', I32], ['sa', I32], ['sb', I32], ['va', I32], ['vb', I32], ['ga', I32],
  ['gb', I32], ['i', I32], ['vecBytes', I32], ['rowBytes', I32], ['tp', I32], ['fp', I32], ['fn', I32],
  ['predicted', I32], ['actual', I32], ['ahead', I32], ['sink', I32], ['o', I32], ['freshA', I32],
  ['freshB', I32], ['p', I32],
  ['yhat', F64], ['y', F64], ['e', F64], ['g', F64], ['loss', F64], ['gSum', F64], ['t1', F64], ['t2', F64],
  ['acc', V128], ['acc2', V128], ['gv', V128],
] as const, (L) => {
  // the one-hot rows with their columns a, b, and o = &out[r]; the first pass takes the columns
  // from the CSR arrays and keeps them in pairs, the last one reads them back
  const rowsOf = (columns: number[], body: number[]) => forLoop(L.r, L.n, 1, [...isOneHot(get(L.r)), ...IF,
    ...addr(global('out'), get(L.r), i32c(8)), ...set(L.o),
    ...addr(global('pairs'), get(L.r), i32c(8)), ...set(L.p),
    ...columns,
    ...body,
  ...END]);
  const fromCsr = [
    ...get(L.p), ...column(get(L.r), 0), ...tee(L.a), ...I32_STORE,
    ...get(L.p), ...column(get(L.r), 1), ...tee(L.b), ...i32Store(4),
  ];
  const fromPairs = [...get(L.p), ...I32_LOAD, ...set(L.a), ...get(L.p), ...i32Load(4), ...set(L.b)];
  const next = [...get(L.r), ...i32c(ROWS_AHEAD), ...I32_ADD];
  return [
  ...global('vecBytes'), ...set(L.vecBytes),
  ...global('rowBytes'), ...set(L.rowBytes),
  ...rowsOf(fromCsr, [
    ...addr(global('params'), get(L.a), get(L.rowBytes)), ...set(L.va),
    ...addr(global('params'), get(L.b), get(L.rowBytes)), ...set(L.vb),
    // read ahead: the next row's two factor rows
    ...next, ...get(L.n), ...I32_LT_U, ...IF,
      ...isOneHot(next), ...IF,
        ...addr(global('params'), column(next, 0), get(L.rowBytes)), ...set(L.ahead),
        ...touch(get(L.ahead), L.vecBytes, L.i, L.sink),
        ...addr(global('params'), column(next, 1), get(L.rowBytes)), ...set(L.ahead),
        ...touch(get(L.ahead), L.vecBytes, L.i, L.sink),
      ...END,
    ...END,
    // ŷ = ((w0 + w1[a]) + w1[b]) + ⟨v_a, v_b⟩, the dot product with two accumulators (even and odd
    // groups of four factors)
    ...ZERO_V128, ...set(L.acc),
    ...ZERO_V128, ...set(L.acc2),
    ...forLoop(L.i, L.vecBytes, 32, [0, 16].flatMap((o) => [
      ...get(o ? L.acc2 : L.acc),
      ...get(L.va), ...get(L.i), ...I32_ADD, ...v128Load(o),
      ...get(L.vb), ...get(L.i), ...I32_ADD, ...v128Load(o),
      ...F32X4_MUL, ...F32X4_ADD, ...set(o ? L.acc2 : L.acc),
    ])),
    ...get(L.acc), ...get(L.acc2), ...F32X4_ADD, ...set(L.acc),
    ...get(L.o),
    ...get(L.w0),
    ...addr(global('w1'), get(L.a), i32c(4)), ...F32_LOAD, ...F64_PROMOTE_F32, ...F64_ADD,
    ...addr(global('w1'), get(L.b), i32c(4)), ...F32_LOAD, ...F64_PROMOTE_F32, ...F64_ADD,
    ...lane(L.acc, 0), ...lane(L.acc, 1), ...F64_ADD, ...lane(L.acc, 2), ...lane(L.acc, 3), ...F64_ADD, ...F64_ADD,
    ...F64_ADD,
    ...F64_STORE,
  ]),
  ...forLoop(L.r, L.n, 1, [...isOneHot(get(L.r)), ...IF,
    ...addr(global('out'), get(L.r), i32c(8)), ...tee(L.o), ...F64_LOAD, ...set(L.yhat),
    ...addr(global('label'), get(L.r), i32c(4)), ...F32_LOAD, ...F64_PROMOTE_F32, ...set(L.y),
    ...global('classifier'), ...IF,
      // e = e^−|ŷ|; g = σ(ŷ) − y; loss += max(ŷ, 0) − ŷ·y + ln(1 + e); the confusion counts
      ...get(L.yhat), ...F64_ABS, ...F64_NEG, ...set(L.e),
      ...expNeg(L.e, L.t1, L.t2), ...set(L.e),
      ...f64c(1), ...get(L.e), ...get(L.yhat), ...f64c(0), ...F64_GE, ...SELECT,
      ...f64c(1), ...get(L.e), ...F64_ADD, ...F64_DIV,
      ...get(L.y), ...F64_SUB, ...set(L.g),
      ...get(L.loss),
      ...get(L.yhat), ...f64c(0), ...F64_MAX, ...get(L.yhat), ...get(L.y), ...F64_MUL, ...F64_SUB,
      ...log1pUnit(L.e, L.t1, L.t2), ...F64_ADD,
      ...F64_ADD, ...set(L.loss),
      ...get(L.yhat), ...f64c(0), ...F64_GT, ...set(L.predicted),
      ...get(L.y), ...f64c(0.5), ...F64_GE, ...set(L.actual),
      ...get(L.tp), ...get(L.predicted), ...get(L.actual), ...I32_AND, ...I32_ADD, ...set(L.tp),
      ...get(L.fp), ...get(L.predicted), ...get(L.actual), ...i32c(1), ...I32_XOR, ...I32_AND, ...I32_ADD, ...set(L.fp),
      ...get(L.fn), ...get(L.actual), ...get(L.predicted), ...i32c(1), ...I32_XOR, ...I32_AND, ...I32_ADD, ...set(L.fn),
    ...ELSE,
      // g = ŷ − y; loss += g²
      ...get(L.yhat), ...get(L.y), ...F64_SUB, ...set(L.g),
      ...get(L.loss), ...get(L.g), ...get(L.g), ...F64_MUL, ...F64_ADD, ...set(L.loss),
    ...END,
    ...get(L.o),
    ...get(L.g), ...get(L.scale), ...F64_MUL, ...tee(L.g),
    ...F64_STORE,
    ...get(L.gSum), ...get(L.g), ...F64_ADD, ...set(L.gSum),
  ...END]),
  ...rowsOf(fromPairs, [
    ...get(L.o), ...F64_LOAD, ...set(L.g),
    ...slotFor(L.a, L.sa, L.slots, L.freshA),
    ...slotFor(L.b, L.sb, L.slots, L.freshB),
    ...addLinear(L.sa, L.g, L.freshA),
    ...addLinear(L.sb, L.g, L.freshB),
    ...get(L.g), ...F32_DEMOTE_F64, ...F32X4_SPLAT, ...set(L.gv),
    ...addr(global('params'), get(L.a), get(L.rowBytes)), ...set(L.va),
    ...addr(global('params'), get(L.b), get(L.rowBytes)), ...set(L.vb),
    ...addr(global('grad'), get(L.sa), get(L.vecBytes)), ...set(L.ga),
    ...addr(global('grad'), get(L.sb), get(L.vecBytes)), ...set(L.gb),
    ...gradRow(L.ga, L.vb, L.i, L.gv, L.vecBytes, L.freshA),
    ...gradRow(L.gb, L.va, L.i, L.gv, L.vecBytes, L.freshB),
  ]),
  ...global('stats'), ...get(L.loss), ...F64_STORE,
  ...global('stats'), ...i32c(8), ...I32_ADD, ...get(L.gSum), ...F64_STORE,
  ...global('stats'), ...i32c(16), ...I32_ADD, ...get(L.tp), ...I32_STORE,
  ...global('stats'), ...i32c(20), ...I32_ADD, ...get(L.fp), ...I32_STORE,
  ...global('stats'), ...i32c(24), ...I32_ADD, ...get(L.fn), ...I32_STORE,
  ...global('stats'), ...i32c(28), ...I32_ADD, ...get(L.sink), ...I32_STORE,
  ...get(L.slots),
  ];
});

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-8;

// adam(count, lr, wd, lrLinear, wdLinear): per slot s, feature j = slotFeature[s]:
//   linear (float64 math, float32 storage, the reference's expressions):
//     g = gradLinear[s] + wd·w; m = β1·m + (1−β1)·g; q = β2·q + (1−β2)·g·g;
//     w −= lr·m / (√q + ε)
//   factors (f32x4): the same on the row w | m | q with the gradient row grad[s].
// prettier-ignore
const ADAM_CODE = func(['count', 'lr', 'wd', 'lrLinear', 'wdLinear'], [
  ['s', I32], ['j', I32], ['i', I32], ['vecBytes', I32], ['rowBytes', I32], ['w', I32], ['m', I32],
  ['q', I32], ['gp', I32], ['ahead', I32], ['sink', I32],
  ['lg', F64], ['lw', F64], ['lm', F64], ['lq', F64],
  ['lrv', V128], ['wdv', V128], ['b1', V128], ['c1', V128], ['b2', V128], ['c2', V128], ['eps', V128],
  ['g', V128], ['wv', V128], ['mv', V128], ['qv', V128],
] as const, (L) => {
  const splat = (x: number, into: number) => [...f32c(x), ...F32X4_SPLAT, ...set(into)];
  const at = (base: number) => [...get(base), ...get(L.i), ...I32_ADD];
  const linear = (key: 'w1' | 'w1m' | 'w1q') => addr(global(key), get(L.j), i32c(4));
  const feature = (s: number[]) => [...addr(global('slotFeature'), s, i32c(4)), ...I32_LOAD];
  return [
    ...global('vecBytes'), ...set(L.vecBytes),
    ...global('rowBytes'), ...set(L.rowBytes),
    ...get(L.lr), ...F32X4_SPLAT, ...set(L.lrv),
    ...get(L.wd), ...F32X4_SPLAT, ...set(L.wdv),
    ...splat(BETA1, L.b1), ...splat(1 - BETA1, L.c1), ...splat(BETA2, L.b2), ...splat(1 - BETA2, L.c2),
    ...splat(EPSILON, L.eps),
    ...forLoop(L.s, L.count, 1, [
      ...feature(get(L.s)), ...set(L.j),
      ...addr(global('slotOf'), get(L.j), i32c(4)), ...i32c(-1), ...I32_STORE,
      // read ahead: the next slot's parameter row and gradient row
      ...get(L.s), ...i32c(SLOTS_AHEAD), ...I32_ADD, ...get(L.count), ...I32_LT_U, ...IF,
        ...addr(global('params'), feature([...get(L.s), ...i32c(SLOTS_AHEAD), ...I32_ADD]), get(L.rowBytes)), ...set(L.ahead),
        ...touch(get(L.ahead), L.rowBytes, L.i, L.sink),
        ...addr(global('grad'), [...get(L.s), ...i32c(SLOTS_AHEAD), ...I32_ADD], get(L.vecBytes)), ...set(L.ahead),
        ...touch(get(L.ahead), L.vecBytes, L.i, L.sink),
      ...END,
      // the linear weight
      ...addr(global('gradLinear'), get(L.s), i32c(8)), ...F64_LOAD,
      ...get(L.wdLinear), ...linear('w1'), ...F32_LOAD, ...F64_PROMOTE_F32, ...tee(L.lw), ...F64_MUL, ...F64_ADD, ...set(L.lg),
      ...linear('w1m'),
      ...f64c(BETA1), ...linear('w1m'), ...F32_LOAD, ...F64_PROMOTE_F32, ...F64_MUL,
      ...f64c(1 - BETA1), ...get(L.lg), ...F64_MUL, ...F64_ADD, ...tee(L.lm),
      ...F32_DEMOTE_F64, ...F32_STORE,
      ...linear('w1q'),
      ...f64c(BETA2), ...linear('w1q'), ...F32_LOAD, ...F64_PROMOTE_F32, ...F64_MUL,
      ...f64c(1 - BETA2), ...get(L.lg), ...F64_MUL, ...get(L.lg), ...F64_MUL, ...F64_ADD, ...tee(L.lq),
      ...F32_DEMOTE_F64, ...F32_STORE,
      ...linear('w1'),
      ...get(L.lw), ...get(L.lrLinear), ...get(L.lm), ...F64_MUL,
      ...get(L.lq), ...F64_SQRT, ...f64c(EPSILON), ...F64_ADD, ...F64_DIV, ...F64_SUB,
      ...F32_DEMOTE_F64, ...F32_STORE,
      // the factor row
      ...addr(global('params'), get(L.j), get(L.rowBytes)), ...tee(L.w),
      ...get(L.vecBytes), ...I32_ADD, ...tee(L.m),
      ...get(L.vecBytes), ...I32_ADD, ...set(L.q),
      ...addr(global('grad'), get(L.s), get(L.vecBytes)), ...set(L.gp),
      ...forLoop(L.i, L.vecBytes, 32, [0, 16].flatMap((o) => [
        ...at(L.w), ...v128Load(o), ...tee(L.wv), ...get(L.wdv), ...F32X4_MUL,
        ...at(L.gp), ...v128Load(o), ...F32X4_ADD, ...set(L.g),
        ...at(L.m),
        ...get(L.b1), ...at(L.m), ...v128Load(o), ...F32X4_MUL,
        ...get(L.c1), ...get(L.g), ...F32X4_MUL, ...F32X4_ADD, ...tee(L.mv),
        ...v128Store(o),
        ...at(L.q),
        ...get(L.b2), ...at(L.q), ...v128Load(o), ...F32X4_MUL,
        ...get(L.c2), ...get(L.g), ...F32X4_MUL, ...get(L.g), ...F32X4_MUL, ...F32X4_ADD, ...tee(L.qv),
        ...v128Store(o),
        ...at(L.w),
        ...get(L.wv),
        ...get(L.lrv), ...get(L.mv), ...F32X4_MUL,
        ...get(L.qv), ...F32X4_SQRT, ...get(L.eps), ...F32X4_ADD,
        ...F32X4_DIV, ...F32X4_SUB,
        ...v128Store(o),
      ])),
    ]),
    // the read-ahead's sink, so the loads are not dead code
    ...global('stats'), ...i32c(28), ...I32_ADD, ...get(L.sink), ...I32_STORE,
  ];
});

const I32_GLOBAL = [0x03, I32, 0x00];

// prettier-ignore
const MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, vec([
    [0x60, ...vec([[I32], [F64], [F64], [I32]]), ...vec([[I32]])],
    [0x60, ...vec([[I32], [F32], [F32], [F64], [F64]]), ...vec([])],
  ])),
  ...section(2, vec([
    ...LAYOUT_KEYS.map((key) => [...wasmName('env'), ...wasmName(key), ...I32_GLOBAL]),
    [...wasmName('env'), ...wasmName('memory'), 0x02, 0x00, 0x01],
  ])),
  ...section(3, vec([[0], [1]])),
  ...section(7, vec([
    [...wasmName('batch'), 0x00, 0],
    [...wasmName('adam'), 0x00, 1],
  ])),
  ...section(10, vec([BATCH_CODE, ADAM_CODE])),
]);

let compiledModule: object | undefined;
function compiled(): object {
  compiledModule ??= new wasm.Module(MODULE_BYTES);
  return compiledModule;
}
