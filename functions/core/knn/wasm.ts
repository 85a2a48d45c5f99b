/**
 * The WebAssembly SIMD kernels of the exact k-NN search, and the few lines of wasm encoding they need.
 *
 * Why by hand: faiss-node and BLAS bindings need native builds that cannot be installed offline
 * (tooling.md §5), and no installed package emits wasm. A 128-bit wasm SIMD kernel is the fastest code
 * Node runs without native modules; the encoder below covers only the opcodes the kernels use.
 *
 * `scoreTiles` builds one kernel: 4 queries × (4 float64 or 8 float32) rows per step, rows packed
 * dimension-major (`packRows`) so one v128 load brings the same dimension of several rows, and each
 * lane sums one (query, row) pair for d ascending. The search uses the float32 kernel as a filter and
 * the float64 one (exact) for L2; the benchmark uses the float32 kernel as its GEMM reference.
 */
import { section, sleb, uleb, wasmName } from '../wasm-bytes';

/**
 * The slice of the WebAssembly JS API used here. Node has it built in, but the project's TypeScript libs
 * (ES2023 + @types/node 22) do not declare it, and adding the DOM lib would declare much more.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: object };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** A wasm memory of at least `bytes` bytes (fixed size: views on its buffer stay valid). */
export function createMemory(bytes: number): WasmMemory {
  return new wasmApi.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
}

/** Wasm value types and opcodes used here (core spec and the SIMD proposal, now standard). */
const I32 = 0x7f;
const V128 = 0x7b;
const OP = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32Mul: 0x6c,
  i32Store8: 0x3a,
} as const;
const SIMD = {
  v128Load: 0x00,
  load32Splat: 0x09,
  load64Splat: 0x0a,
  v128Store: 0x0b,
  v128Const: 0x0c,
  f32x4Add: 0xe4,
  f32x4Mul: 0xe6,
  f64x2Add: 0xf0,
  f64x2Mul: 0xf2,
  f32x4Le: 0x45,
  f64x2Le: 0x4b,
  v128Not: 0x4d,
  v128And: 0x4e,
  anyTrue: 0x53,
} as const;

/** A function body under construction: locals by name, instructions appended in order. */
export class WasmFunction {
  readonly code: number[] = [];
  private readonly locals = new Map<string, number>();
  private readonly extra: number[] = [];

  constructor(
    readonly exportName: string,
    readonly params: readonly string[],
  ) {
    params.forEach((p, i) => this.locals.set(p, i));
  }

  /** Declares a local (i32 or v128). */
  local(localName: string, type: 'i32' | 'v128'): this {
    this.locals.set(localName, this.params.length + this.extra.length);
    this.extra.push(type === 'i32' ? I32 : V128);
    return this;
  }

  get(l: string): this {
    return this.op(OP.localGet, ...uleb(this.idx(l)));
  }
  set(l: string): this {
    return this.op(OP.localSet, ...uleb(this.idx(l)));
  }
  tee(l: string): this {
    return this.op(OP.localTee, ...uleb(this.idx(l)));
  }
  i32(n: number): this {
    return this.op(OP.i32Const, ...sleb(n));
  }
  add(): this {
    return this.op(OP.i32Add);
  }
  mul(): this {
    return this.op(OP.i32Mul);
  }
  /** local += n (constant) or local += other local. */
  inc(l: string, by: number | string): this {
    this.get(l);
    if (typeof by === 'number') this.i32(by);
    else this.get(by);
    return this.add().set(l);
  }
  /** `do { body } while (local < limit)`: a loop whose body runs at least once. */
  doWhile(l: string, limit: string, body: () => void): this {
    this.op(OP.loop, 0x40);
    body();
    this.get(l).get(limit).op(OP.i32LtU, OP.brIf, 0);
    return this.op(OP.end);
  }
  simd(opcode: number, ...imm: number[]): this {
    return this.op(0xfd, ...uleb(opcode), ...imm);
  }
  /** Pushes v128 zero. */
  zero(): this {
    return this.simd(SIMD.v128Const, ...new Array<number>(16).fill(0));
  }
  load(offset: number): this {
    return this.simd(SIMD.v128Load, 4, ...uleb(offset));
  }
  store(offset: number): this {
    return this.simd(SIMD.v128Store, 4, ...uleb(offset));
  }
  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  encode(): number[] {
    const localDecls = this.extra.map((t) => [1, t]);
    const body = [...uleb(localDecls.length), ...localDecls.flat(), ...this.code, OP.end];
    return [...uleb(body.length), ...body];
  }

  private idx(l: string): number {
    const i = this.locals.get(l);
    if (i === undefined) throw new Error(`wasm: unknown local ${l}`);
    return i;
  }
}

/** Compiles functions (all parameters i32, no results) over an imported `env.memory`. */
export function compileWasm(functions: readonly WasmFunction[]): WasmModule {
  const types = functions.map((f) => [0x60, ...uleb(f.params.length), ...f.params.map(() => I32), 0]);
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [...uleb(types.length), ...types.flat()]),
    ...section(2, [1, ...wasmName('env'), ...wasmName('memory'), 0x02, 0x00, 0x01]),
    ...section(3, [...uleb(functions.length), ...functions.flatMap((_, i) => uleb(i))]),
    ...section(7, [
      ...uleb(functions.length),
      ...functions.flatMap((f, i) => [...wasmName(f.exportName), 0, ...uleb(i)]),
    ]),
    ...section(10, [...uleb(functions.length), ...functions.flatMap((f) => f.encode())]),
  ];
  return new wasmApi.Module(new Uint8Array(bytes));
}

/** Rows per packed group: two v128 per dimension, so 4 float64 rows or 8 float32 rows. */
export const ROW_GROUP = { f64: 4, f32: 8 } as const;
/** Queries per kernel tile. */
export const QUERY_TILE = 4;

/**
 * `scores(x, groups, q, tiles, dim, out, ldo[, th, flags])`: for `tiles` tiles of 4 queries (contiguous,
 * `dim` values each, from byte `q`) and `groups` packed row groups (from byte `x`; dimension-major, 32
 * bytes per dimension: 4 float64 rows, or 8 float32 rows), writes each tile's 4 × (rows per group ·
 * groups) inner products to `out` (query j of tile t at byte `out + (4t + j)·ldo`). All counts ≥ 1.
 * Each lane sums q[d]·x[d] for d ascending from 0, mul then add (wasm SIMD has no fused multiply-add).
 *
 * With `filter`, it also takes one threshold per query (`th`, same precision, 4 or 8 bytes each) and
 * sets byte `flags + (t·groups + g)·4 + j` to 1 when some score of query j of tile t in group g is not ≤
 * that query's threshold (NaN included), else 0, so the caller reads only the flagged scores.
 *
 * `f64` (2 lanes) is exact: products of float32 values are exact in double, so a score equals a plain
 * double loop's bit for bit. `f32` (4 lanes) is twice as fast and approximate; the search uses it as a
 * filter before exact rescoring, and the benchmark, without filter, as its GEMM reference.
 */
export function scoreTiles(precision: 'f64' | 'f32', filter: boolean, exportName = 'scores'): WasmFunction {
  const params = ['x', 'groups', 'q', 'tiles', 'dim', 'out', 'ldo'];
  const f = new WasmFunction(exportName, filter ? [...params, 'th', 'flags'] : params);
  const f64 = precision === 'f64';
  const elem = f64 ? 8 : 4;
  const splat = (offset: number): [number, ...number[]] =>
    f64 ? [SIMD.load64Splat, 3, ...uleb(offset)] : [SIMD.load32Splat, 2, ...uleb(offset)];
  const vmul = f64 ? SIMD.f64x2Mul : SIMD.f32x4Mul;
  const vadd = f64 ? SIMD.f64x2Add : SIMD.f32x4Add;
  const vle = f64 ? SIMD.f64x2Le : SIMD.f32x4Le;
  for (const l of ['t', 'g', 'xp', 'd8', 'dim8', 'qa', 'qb', 'qc', 'qd', 'o', 'tileBytes', 'ta', 'fa'])
    f.local(l, 'i32');
  for (let a = 0; a < 8; a++) f.local(`a${a}`, 'v128');
  f.local('x0', 'v128').local('x1', 'v128').local('s', 'v128');
  f.get('dim').i32(elem).mul().set('dim8');
  f.get('dim8').i32(QUERY_TILE).mul().set('tileBytes');
  f.i32(0).set('t');
  f.doWhile('t', 'tiles', () => {
    // Query pointers of this tile, its output row and its thresholds.
    f.get('q').get('t').get('tileBytes').mul().add().tee('qa').get('dim8').add().tee('qb');
    f.get('dim8').add().tee('qc').get('dim8').add().set('qd');
    f.get('out').get('t').get('ldo').i32(QUERY_TILE).mul().mul().add().set('o');
    if (filter)
      f.get('th')
        .get('t')
        .i32(QUERY_TILE * elem)
        .mul()
        .add()
        .set('ta');
    f.get('x').set('xp');
    f.i32(0).set('g');
    f.doWhile('g', 'groups', () => {
      for (let a = 0; a < 8; a++) f.zero().set(`a${a}`);
      f.i32(0).set('d8');
      f.doWhile('d8', 'dim8', () => {
        f.get('xp').load(0).set('x0');
        f.get('xp').load(16).set('x1');
        ['qa', 'qb', 'qc', 'qd'].forEach((qp, j) => {
          f.get(qp)
            .get('d8')
            .add()
            .simd(...splat(0))
            .set('s');
          for (let h = 0; h < 2; h++) {
            const acc = `a${2 * j + h}`;
            f.get(acc).get('s').get(`x${h}`).simd(vmul).simd(vadd).set(acc);
          }
        });
        f.inc('xp', 32).inc('d8', elem);
      });
      for (let j = 0; j < QUERY_TILE; j++) {
        for (let h = 0; h < 2; h++) {
          f.get('o');
          if (j > 0) f.get('ldo').i32(j).mul().add();
          f.get(`a${2 * j + h}`).store(16 * h);
        }
      }
      if (filter) {
        // flags[(t·groups + g)·4 + j] = some score of query j in this group is not ≤ its threshold.
        f.get('flags').get('t').get('groups').mul().get('g').add().i32(QUERY_TILE).mul().add().set('fa');
        for (let j = 0; j < QUERY_TILE; j++) {
          f.get('fa');
          f.get('ta')
            .simd(...splat(elem * j))
            .set('s');
          f.get(`a${2 * j}`)
            .get('s')
            .simd(vle);
          f.get(`a${2 * j + 1}`)
            .get('s')
            .simd(vle)
            .simd(SIMD.v128And);
          // All lanes ≤ threshold ⇔ no candidate: flag = any_true(not(and of the le masks)).
          f.simd(SIMD.v128Not)
            .simd(SIMD.anyTrue)
            .op(OP.i32Store8, 0, ...uleb(j));
        }
      }
      f.inc('o', 32).inc('g', 1);
    });
    f.inc('t', 1);
  });
  return f;
}

let searchModule: WasmModule | undefined;

/** The search kernels of one instance over a memory (signatures as `scoreTiles`). */
export interface SearchKernels {
  /** float32 scores and candidate flags (the inner-product filter). */
  filterF32(
    x: number,
    groups: number,
    q: number,
    tiles: number,
    dim: number,
    out: number,
    ldo: number,
    th: number,
    flags: number,
  ): void;
  /** Exact float64 scores (L2). */
  exactF64(x: number, groups: number, q: number, tiles: number, dim: number, out: number, ldo: number): void;
}

/** Instantiates a compiled module over `memory` (imported as `env.memory`). */
export function instantiate<T>(module: WasmModule, memory: WasmMemory): T {
  return new wasmApi.Instance(module, { env: { memory } }).exports as T;
}

export function searchKernels(memory: WasmMemory): SearchKernels {
  searchModule ??= compileWasm([scoreTiles('f32', true, 'filterF32'), scoreTiles('f64', false, 'exactF64')]);
  return instantiate<SearchKernels>(searchModule, memory);
}

/**
 * Writes `count` rows of `dim` values into `out` in groups of `group` rows (4 for float64 `out`, 8 for
 * float32), dimension-major: group g holds, for d = 0..dim-1, its rows at dimension d. Rows past
 * `count` in the last group are zero.
 */
export function packRows(
  vectors: Float32Array,
  count: number,
  dim: number,
  out: Float64Array | Float32Array,
  group: number,
): void {
  const groups = Math.ceil(count / group);
  out.fill(0, 0, groups * group * dim);
  for (let r = 0; r < count; r++) {
    const base = Math.floor(r / group) * group * dim + (r % group);
    const src = r * dim;
    for (let d = 0; d < dim; d++) out[base + d * group] = vectors[src + d];
  }
}

export type { WasmMemory, WasmModule };
