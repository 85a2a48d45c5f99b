/**
 * Exact k-nearest-neighbour search: the local equivalent of the built-in k-NN's `faiss.Flat` index
 * (`IndexFlatIP` / `IndexFlatL2`), used by the local serving path and by batch evaluation.
 *
 * Semantics follow faiss: `INNER_PRODUCT` ranks by ⟨q, x⟩ (largest first) and reports the inner
 * product; `L2` ranks by squared Euclidean distance (smallest first) and reports it squared. Results
 * are exact (every score that ranks or is reported is computed in double precision, as a plain loop
 * would); equal scores are broken by the smaller row index, so results never depend on timing or platform.
 *
 * Speed without native code (faiss-node cannot be installed offline, see tooling.md §5): WebAssembly
 * SIMD kernels (wasm.ts) score register tiles of 4 queries × 8 rows, over row blocks that stay in cache
 * while a chunk of queries passes over them.
 * - Inner product: the kernel scores in float32 (4 lanes) and flags the rows that may beat their
 *   query's current k-th score, by a proven error bound; only those are rescored exactly (double,
 *   d ascending, the brute force's own sum) and offered to the query's heap. Inputs large enough to
 *   overflow float32, and searches of one query tile (an endpoint request: EXACT_MAX_QUERIES), go to
 *   the exact kernel instead.
 * - L2: an exact float64 kernel (2 lanes) through ‖q − x‖² = ‖q‖² + ‖x‖² − 2⟨q, x⟩, with the row
 *   norms cached per index.
 * Each query keeps a bounded heap of its k best, and only the final k are sorted. The packed rows
 * (float32 for inner products, float64 for L2) are built on an index's first search and cached with
 * its vectors array.
 */

import { createMemory, packRows, QUERY_TILE, ROW_GROUP, searchKernels, type SearchKernels } from './wasm';

export type KnnMetric = 'INNER_PRODUCT' | 'L2';

/** A flat (exhaustive) index: `count` row-major vectors of `dim` floats and one label per row. */
export interface KnnIndex {
  readonly dim: number;
  readonly count: number;
  readonly metric: KnnMetric;
  /** count × dim, row-major. */
  readonly vectors: Float32Array;
  /** One label per row (the built-in's labels are float32). */
  readonly labels: Float32Array;
}

/** Neighbours of `labels.length / k` queries, `k` per query, best first. */
export interface KnnSearchResult {
  /** Neighbours per query: min(requested k, index count). */
  readonly k: number;
  readonly metric: KnnMetric;
  /** nQueries × k labels, best first per query. */
  readonly labels: Float32Array;
  /** nQueries × k inner products (IP) or squared L2 distances (L2), best first per query. */
  readonly distances: Float32Array;
  /** nQueries × k row indices into the index, best first per query. */
  readonly rows: Int32Array;
}

/** Thrown for an index or query that cannot be searched (shape, non-finite values, bad k). */
export class KnnSearchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KnnSearchError';
  }
}

export const KNN_METRICS: readonly KnnMetric[] = ['INNER_PRODUCT', 'L2'];

/** Rows per kernel call: 512 rows of 64 dims in float32 is 128 KiB, inside a typical L2 cache. */
const ROW_BLOCK = 512;
/** Queries copied into wasm memory at a time (a multiple of the kernel's query tile). */
const QUERY_CHUNK = 64;
/** wasm32 memories stop at 4 GiB; keep clear of it. */
const MAX_WASM_BYTES = 2 ** 31;
/**
 * Inner-product searches of at most this many queries (one kernel tile: an endpoint request for one
 * or two users) score every row with the exact float64 kernel instead of the float32 filter. At one
 * tile the filter saves little kernel time and its rescoring (scalar, per flagged row) dominates;
 * reelflow's serving queries flag every row (a user query carries TAG_SUPPRESS = -1e6 on the tag
 * dimensions, which widens the filter's error bound past every movie score; a tag query ties at 0
 * with every movie row). Measured on the sample's index (1,024 rows × 89 dims, k 100, 2 queries):
 * 255 µs through the filter, 100 µs exact. The results are the same either way: both rank by
 * the same double sums.
 */
const EXACT_MAX_QUERIES = QUERY_TILE;
/** Bound on |q|·|x|·dim under which no float32 product or partial sum can overflow. */
const FLOAT32_SAFE = 2 ** 100;

/** Squared row norms per vectors array, computed once per index (L2 only). */
const normCache = new WeakMap<Float32Array, Float64Array>();

/**
 * Wraps vectors and labels as an index after checking them. The arrays are used as they are (not
 * copied): do not mutate them afterwards.
 */
export function buildKnnIndex(
  vectors: Float32Array,
  labels: Float32Array,
  dim: number,
  metric: KnnMetric,
): KnnIndex {
  if (!Number.isInteger(dim) || dim <= 0)
    throw new KnnSearchError(`dim must be a positive integer, got ${dim}`);
  if (!KNN_METRICS.includes(metric)) throw new KnnSearchError(`unsupported metric ${String(metric)}`);
  if (vectors.length % dim !== 0) {
    throw new KnnSearchError(`${vectors.length} values are not a whole number of ${dim}-dim vectors`);
  }
  const count = vectors.length / dim;
  if (labels.length !== count) throw new KnnSearchError(`${labels.length} labels for ${count} vectors`);
  assertFinite(vectors, 'index vectors', dim);
  assertFinite(labels, 'index labels', 1);
  return { dim, count, metric, vectors, labels };
}

/**
 * The `k` best rows of the index for each of `nQueries` row-major queries, best first (IP: largest
 * inner product; L2: smallest squared distance), ties to the smaller row. `k` larger than the index
 * returns every row. Working memory is about nQueries × k × 24 bytes (search very large query sets in
 * chunks), plus, per index, a packed copy of its rows (the same size for inner products, twice for L2).
 */
export function knnSearch(
  index: KnnIndex,
  queries: Float32Array,
  nQueries: number,
  k: number,
): KnnSearchResult {
  const { dim, count, metric, vectors } = index;
  if (!Number.isInteger(k) || k <= 0) throw new KnnSearchError(`k must be a positive integer, got ${k}`);
  if (!Number.isInteger(nQueries) || nQueries < 0) {
    throw new KnnSearchError(`nQueries must be a non-negative integer, got ${nQueries}`);
  }
  if (queries.length !== nQueries * dim) {
    throw new KnnSearchError(`${queries.length} query values for ${nQueries} queries of dim ${dim}`);
  }
  if (vectors.length !== count * dim || index.labels.length !== count) {
    throw new KnnSearchError(`index arrays do not match count ${count} and dim ${dim}`);
  }
  assertFinite(queries, 'queries', dim);

  const kk = Math.min(k, count);
  const heaps = new Heaps(nQueries, kk);
  if (kk > 0 && nQueries > 0) {
    if (metric === 'L2') {
      const norms = rowNorms(vectors, count, dim);
      scanExact(packedIndex(vectors, count, dim, 'f64'), count, queries, nQueries, norms, heaps);
    } else if (nQueries <= EXACT_MAX_QUERIES) {
      scanExact(packedIndex(vectors, count, dim, 'f64'), count, queries, nQueries, undefined, heaps);
    } else {
      const packed = packedIndex(vectors, count, dim, 'f32');
      // The float32 filter needs sums that cannot overflow float32 (2^128): else the exact kernel.
      if (packed.maxAbs * maxAbs(queries) * dim < FLOAT32_SAFE) {
        scanInnerProduct(packed, index, queries, nQueries, heaps);
      } else {
        scanExact(packedIndex(vectors, count, dim, 'f64'), count, queries, nQueries, undefined, heaps);
      }
    }
  }

  const labels = new Float32Array(nQueries * kk);
  const distances = new Float32Array(nQueries * kk);
  const rows = new Int32Array(nQueries * kk);
  const scores = new Float64Array(kk);
  for (let q = 0; q < nQueries; q++) {
    heaps.sortBestFirst(q, rows, scores);
    let qNorm = 0;
    if (metric === 'L2') {
      for (let d = 0, o = q * dim; d < dim; d++) qNorm += queries[o + d] * queries[o + d];
    }
    for (let i = 0; i < kk; i++) {
      const at = q * kk + i;
      labels[at] = index.labels[rows[at]];
      // L2 scores are 2⟨q,x⟩ − ‖x‖²; the distance adds ‖q‖² back (clamped: rounding can dip below 0).
      distances[at] = metric === 'L2' ? Math.max(0, qNorm - scores[i]) : scores[i];
    }
  }
  return { k: kk, metric, labels, distances, rows };
}

/**
 * Per-query bounded min-heaps on "goodness" (larger is better; ties: smaller row is better). The root
 * is the worst kept entry, and `threshold[q]` mirrors its score so the kernels can skip the heap for
 * most rows with one comparison. Rows arrive in increasing order, so a row that only ties the root is
 * never better than it.
 */
class Heaps {
  readonly score: Float64Array;
  readonly row: Int32Array;
  readonly size: Int32Array;
  readonly threshold: Float64Array;

  constructor(
    nQueries: number,
    readonly k: number,
  ) {
    this.score = new Float64Array(nQueries * k);
    this.row = new Int32Array(nQueries * k);
    this.size = new Int32Array(nQueries);
    this.threshold = new Float64Array(nQueries).fill(-Infinity);
  }

  /** Offers row `r` with score `s` to query `q`; callers check `s > threshold[q]` first. */
  push(q: number, r: number, s: number): void {
    const { k, score, row } = this;
    const base = q * k;
    const n = this.size[q];
    if (n < k) {
      // Sift up from the new leaf.
      let i = n;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(s, r, score[base + parent], row[base + parent])) break;
        score[base + i] = score[base + parent];
        row[base + i] = row[base + parent];
        i = parent;
      }
      score[base + i] = s;
      row[base + i] = r;
      this.size[q] = n + 1;
      if (n + 1 === k) this.threshold[q] = score[base];
      return;
    }
    this.siftDown(base, k, s, r);
    this.threshold[q] = score[base];
  }

  /** Writes query q's rows best first into `rows` at q*k, and their scores into `scores` at 0. */
  sortBestFirst(q: number, rows: Int32Array, scores: Float64Array): void {
    const { k, score, row } = this;
    const base = q * k;
    // Heap sort: pop the worst to the end until the heap is empty.
    for (let n = this.size[q]; n > 0; n--) {
      const s = score[base];
      const r = row[base];
      rows[base + n - 1] = r;
      scores[n - 1] = s;
      if (n > 1) this.siftDown(base, n - 1, score[base + n - 1], row[base + n - 1]);
    }
  }

  /** Replaces the root of the heap of size n at base with (s, r) and restores the heap order. */
  private siftDown(base: number, n: number, s: number, r: number): void {
    const { score, row } = this;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      let child = left;
      const right = left + 1;
      if (right < n && worse(score[base + right], row[base + right], score[base + left], row[base + left])) {
        child = right;
      }
      if (!worse(score[base + child], row[base + child], s, r)) break;
      score[base + i] = score[base + child];
      row[base + i] = row[base + child];
      i = child;
    }
    score[base + i] = s;
    row[base + i] = r;
  }
}

/** True when (sa, ra) ranks below (sb, rb). */
function worse(sa: number, ra: number, sb: number, rb: number): boolean {
  return sa < sb || (sa === sb && ra > rb);
}

/**
 * An index's rows packed for one wasm kernel, with the kernel's scratch behind them in the same memory:
 * float32 in groups of 8 rows for inner products (the filter), float64 in groups of 4 for L2 (exact).
 */
interface PackedIndex {
  readonly kernels: SearchKernels;
  readonly groups: number;
  readonly group: number;
  readonly dim: number;
  /** Byte offsets in the kernels' memory. */
  readonly at: {
    readonly queries: number;
    readonly scores: number;
    readonly th: number;
    readonly flags: number;
  };
  readonly queryChunk: Float32Array | Float64Array;
  readonly scores: Float32Array | Float64Array;
  readonly th: Float32Array;
  readonly flags: Uint8Array;
  /** Largest row norm ‖x‖ per row block (inner products only: the filter's error bound). */
  readonly blockNorm: Float64Array;
  /** Largest |value| of the rows. */
  readonly maxAbs: number;
}

/** Packed rows per vectors array and precision, built on an index's first search. */
const packCache = {
  f32: new WeakMap<Float32Array, PackedIndex>(),
  f64: new WeakMap<Float32Array, PackedIndex>(),
};

function packedIndex(
  vectors: Float32Array,
  count: number,
  dim: number,
  precision: 'f32' | 'f64',
): PackedIndex {
  const group = ROW_GROUP[precision];
  const groups = Math.ceil(count / group);
  const cached = packCache[precision].get(vectors);
  if (cached && cached.groups === groups && cached.dim === dim) return cached;
  const elem = precision === 'f32' ? 4 : 8;
  const rowBytes = groups * group * dim * elem;
  const at = {
    queries: rowBytes,
    scores: rowBytes + QUERY_CHUNK * dim * elem,
    th: rowBytes + QUERY_CHUNK * (dim + ROW_BLOCK) * elem,
    flags: rowBytes + QUERY_CHUNK * (dim + ROW_BLOCK) * elem + QUERY_CHUNK * 4,
  };
  const flagCount = QUERY_CHUNK * (ROW_BLOCK / ROW_GROUP.f32);
  const total = at.flags + flagCount;
  if (total > MAX_WASM_BYTES) {
    throw new KnnSearchError(
      `an index of ${count} rows × ${dim} dims needs ${total} bytes of wasm memory; at most ${MAX_WASM_BYTES}`,
    );
  }
  const memory = createMemory(total);
  const Floats = precision === 'f32' ? Float32Array : Float64Array;
  packRows(vectors, count, dim, new Floats(memory.buffer, 0, groups * group * dim), group);
  const blockNorm = new Float64Array(Math.ceil(count / ROW_BLOCK));
  if (precision === 'f32') {
    for (let r = 0; r < count; r++) {
      let s = 0;
      for (let d = 0, o = r * dim; d < dim; d++) s += vectors[o + d] * vectors[o + d];
      const b = Math.floor(r / ROW_BLOCK);
      blockNorm[b] = Math.max(blockNorm[b], Math.sqrt(s));
    }
  }
  const packed: PackedIndex = {
    kernels: searchKernels(memory),
    groups,
    group,
    dim,
    at,
    queryChunk: new Floats(memory.buffer, at.queries, QUERY_CHUNK * dim),
    scores: new Floats(memory.buffer, at.scores, QUERY_CHUNK * ROW_BLOCK),
    th: new Float32Array(memory.buffer, at.th, QUERY_CHUNK),
    flags: new Uint8Array(memory.buffer, at.flags, flagCount),
    blockNorm,
    maxAbs: maxAbs(vectors),
  };
  packCache[precision].set(vectors, packed);
  return packed;
}

/**
 * Inner products: the float32 kernel scores a row block for a chunk of queries and flags the tiles
 * holding a possible candidate; each flagged score is rescored exactly (double, d ascending, as the
 * brute force does) and offered to the heap. Nothing is missed: a float32 dot product of d terms is
 * within γ·‖q‖·‖x‖ of the exact one (γ = d·u / (1 − d·u), u = 2⁻²⁴; Higham, Accuracy and Stability
 * of Numerical Algorithms, §3.1), so a row whose exact score beats the threshold t has a float32
 * score above t − γ‖q‖·max‖x‖, the filter's bound (doubled for the rounding of the bound itself).
 * Thresholds only rise, so the bound passed with the kernel call stays safe for the whole block.
 * The caller keeps float32 from overflowing (|q|·|x|·d < 2^100); underflow costs at most d·2⁻¹⁴⁹,
 * inside the bound's 1e-30 margin.
 */
function scanInnerProduct(
  packed: PackedIndex,
  index: KnnIndex,
  queries: Float32Array,
  nQueries: number,
  heaps: Heaps,
): void {
  const { kernels, groups, group, dim, queryChunk, scores, at, flags, th, blockNorm } = packed;
  const { count, vectors } = index;
  const threshold = heaps.threshold;
  const groupsPerBlock = ROW_BLOCK / group;
  const gamma = (2 * dim * 2 ** -24) / (1 - dim * 2 ** -24);
  const slack = new Float64Array(QUERY_CHUNK);
  for (let q0 = 0; q0 < nQueries; q0 += QUERY_CHUNK) {
    const nq = Math.min(QUERY_CHUNK, nQueries - q0);
    const tiles = Math.ceil(nq / QUERY_TILE);
    queryChunk.set(queries.subarray(q0 * dim, (q0 + nq) * dim));
    queryChunk.fill(0, nq * dim, tiles * QUERY_TILE * dim);
    for (let j = 0; j < nq; j++) {
      let s = 0;
      for (let d = 0, o = (q0 + j) * dim; d < dim; d++) s += queries[o + d] * queries[o + d];
      slack[j] = gamma * Math.sqrt(s);
    }
    for (let g0 = 0, block = 0; g0 < groups; g0 += groupsPerBlock, block++) {
      const ng = Math.min(groups, g0 + groupsPerBlock) - g0;
      for (let j = 0; j < nq; j++) {
        // The bound in float32, rounded down (fround rounds to nearest: step one ulp-ish below).
        const bound = threshold[q0 + j] - slack[j] * blockNorm[block] - 1e-30;
        th[j] = bound === -Infinity ? bound : Math.fround(bound - Math.abs(bound) * 2 ** -22);
      }
      kernels.filterF32(
        g0 * group * dim * 4,
        ng,
        at.queries,
        tiles,
        dim,
        at.scores,
        ROW_BLOCK * 4,
        at.th,
        at.flags,
      );
      for (let t = 0; t < tiles; t++) {
        const jEnd = Math.min(QUERY_TILE, nq - t * QUERY_TILE);
        for (let g = 0; g < ng; g++) {
          const f = (t * ng + g) * QUERY_TILE;
          for (let j = 0; j < jEnd; j++) {
            if (flags[f + j] === 0) continue;
            const qj = t * QUERY_TILE + j;
            const q = q0 + qj;
            const r0 = (g0 + g) * group;
            const o = qj * ROW_BLOCK + g * group;
            const qo = q * dim;
            const iEnd = Math.min(group, count - r0);
            const bound = threshold[q] - slack[qj] * blockNorm[block];
            for (let i = 0; i < iEnd; i++) {
              if (scores[o + i] <= bound) continue;
              const xo = (r0 + i) * dim;
              let s = 0;
              for (let d = 0; d < dim; d++) s += queries[qo + d] * vectors[xo + d];
              if (s > threshold[q]) heaps.push(q, r0 + i, s);
            }
          }
        }
      }
    }
  }
}

/**
 * The exact float64 kernel scores a row block for a chunk of queries (bit-identical to a double loop),
 * and every score above its query's threshold goes to the heap: ⟨q,x⟩, or for L2 (with `norms`)
 * 2⟨q,x⟩ − ‖x‖².
 */
function scanExact(
  packed: PackedIndex,
  count: number,
  queries: Float32Array,
  nQueries: number,
  norms: Float64Array | undefined,
  heaps: Heaps,
): void {
  const { kernels, groups, group, dim, queryChunk, scores, at } = packed;
  const threshold = heaps.threshold;
  const groupsPerBlock = ROW_BLOCK / group;
  for (let q0 = 0; q0 < nQueries; q0 += QUERY_CHUNK) {
    const nq = Math.min(QUERY_CHUNK, nQueries - q0);
    const tiles = Math.ceil(nq / QUERY_TILE);
    queryChunk.set(queries.subarray(q0 * dim, (q0 + nq) * dim));
    queryChunk.fill(0, nq * dim, tiles * QUERY_TILE * dim);
    for (let g0 = 0; g0 < groups; g0 += groupsPerBlock) {
      const ng = Math.min(groups, g0 + groupsPerBlock) - g0;
      const r0 = g0 * group;
      kernels.exactF64(g0 * group * dim * 8, ng, at.queries, tiles, dim, at.scores, ROW_BLOCK * 8);
      const rows = Math.min(count - r0, ng * group);
      for (let j = 0; j < nq; j++) {
        const q = q0 + j;
        const o = j * ROW_BLOCK;
        for (let i = 0; i < rows; i++) {
          const s = norms ? 2 * scores[o + i] - norms[r0 + i] : scores[o + i];
          if (s > threshold[q]) heaps.push(q, r0 + i, s);
        }
      }
    }
  }
}

function maxAbs(values: Float32Array): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

function rowNorms(vectors: Float32Array, count: number, dim: number): Float64Array {
  let norms = normCache.get(vectors);
  if (!norms || norms.length !== count) {
    norms = new Float64Array(count);
    for (let r = 0; r < count; r++) {
      let s = 0;
      for (let d = 0, o = r * dim; d < dim; d++) s += vectors[o + d] * vectors[o + d];
      norms[r] = s;
    }
    normCache.set(vectors, norms);
  }
  return norms;
}

function assertFinite(values: Float32Array, what: string, width: number): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new KnnSearchError(
        `${what} hold a non-finite value (${values[i]}) at row ${Math.floor(i / width)}, column ${i % width}`,
      );
    }
  }
}
