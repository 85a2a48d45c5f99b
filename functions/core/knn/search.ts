/**
 * Exact k-nearest-neighbour search: the local equivalent of the built-in k-NN's `faiss.Flat` index
 * (`IndexFlatIP` / `IndexFlatL2`), used by the local serving path and by batch evaluation.
 *
 * Semantics follow faiss: `INNER_PRODUCT` ranks by ⟨q, x⟩ (largest first) and reports the inner
 * product; `L2` ranks by squared Euclidean distance (smallest first) and reports it squared. Results
 * are exact (every row is scored, in double precision); equal scores are broken by the smaller row
 * index, so results never depend on timing or platform.
 *
 * Speed without native code (faiss-node cannot be installed offline, see tooling.md §5): scores are
 * computed in register tiles of 4 queries × 2 rows, over row blocks that stay in cache while every
 * query group passes over them; each query keeps a bounded heap of its k best (a row only touches
 * the heap when it beats the current k-th), and only the final k are sorted. L2 uses the same
 * kernel through ‖q − x‖² = ‖q‖² + ‖x‖² − 2⟨q, x⟩ with the row norms cached per index.
 */

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

/** Rows per cache block: 512 rows of 65 floats is 130 KiB, inside a typical L2 cache. */
const ROW_BLOCK = 512;

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
 * returns every row. Working memory is about nQueries × k × 24 bytes: search very large query sets
 * (all users of a big catalogue) in chunks.
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
  if (kk > 0) {
    const norms = metric === 'L2' ? rowNorms(vectors, count, dim) : undefined;
    for (let r0 = 0; r0 < count; r0 += ROW_BLOCK) {
      const r1 = Math.min(r0 + ROW_BLOCK, count);
      let q = 0;
      for (; q + 4 <= nQueries; q += 4) scoreBlock4(vectors, queries, dim, q, r0, r1, norms, heaps);
      for (; q < nQueries; q++) scoreBlock1(vectors, queries, dim, q, r0, r1, norms, heaps);
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
 * Scores 4 queries (q..q+3) against rows r0..r1, two rows at a time: 8 accumulators, each loaded
 * value used 2 or 4 times. IP: score = ⟨q,x⟩; L2: score = 2⟨q,x⟩ − ‖x‖².
 */
function scoreBlock4(
  x: Float32Array,
  queries: Float32Array,
  dim: number,
  q: number,
  r0: number,
  r1: number,
  norms: Float64Array | undefined,
  heaps: Heaps,
): void {
  const o0 = q * dim;
  const o1 = o0 + dim;
  const o2 = o1 + dim;
  const o3 = o2 + dim;
  const th = heaps.threshold;
  let r = r0;
  for (; r + 2 <= r1; r += 2) {
    const xa = r * dim;
    const xb = xa + dim;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    let b3 = 0;
    for (let d = 0; d < dim; d++) {
      const va = x[xa + d];
      const vb = x[xb + d];
      const q0 = queries[o0 + d];
      const q1 = queries[o1 + d];
      const q2 = queries[o2 + d];
      const q3 = queries[o3 + d];
      a0 += q0 * va;
      b0 += q0 * vb;
      a1 += q1 * va;
      b1 += q1 * vb;
      a2 += q2 * va;
      b2 += q2 * vb;
      a3 += q3 * va;
      b3 += q3 * vb;
    }
    if (norms) {
      const na = norms[r];
      const nb = norms[r + 1];
      a0 = 2 * a0 - na;
      a1 = 2 * a1 - na;
      a2 = 2 * a2 - na;
      a3 = 2 * a3 - na;
      b0 = 2 * b0 - nb;
      b1 = 2 * b1 - nb;
      b2 = 2 * b2 - nb;
      b3 = 2 * b3 - nb;
    }
    if (a0 > th[q]) heaps.push(q, r, a0);
    if (b0 > th[q]) heaps.push(q, r + 1, b0);
    if (a1 > th[q + 1]) heaps.push(q + 1, r, a1);
    if (b1 > th[q + 1]) heaps.push(q + 1, r + 1, b1);
    if (a2 > th[q + 2]) heaps.push(q + 2, r, a2);
    if (b2 > th[q + 2]) heaps.push(q + 2, r + 1, b2);
    if (a3 > th[q + 3]) heaps.push(q + 3, r, a3);
    if (b3 > th[q + 3]) heaps.push(q + 3, r + 1, b3);
  }
  if (r < r1) {
    for (let j = 0; j < 4; j++) scoreRow(x, queries, dim, q + j, r, norms, heaps);
  }
}

/** One query against rows r0..r1, four rows at a time (independent sums for instruction-level parallelism). */
function scoreBlock1(
  x: Float32Array,
  queries: Float32Array,
  dim: number,
  q: number,
  r0: number,
  r1: number,
  norms: Float64Array | undefined,
  heaps: Heaps,
): void {
  const qo = q * dim;
  const th = heaps.threshold;
  let r = r0;
  for (; r + 4 <= r1; r += 4) {
    const xa = r * dim;
    const xb = xa + dim;
    const xc = xb + dim;
    const xd = xc + dim;
    let a = 0;
    let b = 0;
    let c = 0;
    let e = 0;
    for (let d = 0; d < dim; d++) {
      const v = queries[qo + d];
      a += v * x[xa + d];
      b += v * x[xb + d];
      c += v * x[xc + d];
      e += v * x[xd + d];
    }
    if (norms) {
      a = 2 * a - norms[r];
      b = 2 * b - norms[r + 1];
      c = 2 * c - norms[r + 2];
      e = 2 * e - norms[r + 3];
    }
    if (a > th[q]) heaps.push(q, r, a);
    if (b > th[q]) heaps.push(q, r + 1, b);
    if (c > th[q]) heaps.push(q, r + 2, c);
    if (e > th[q]) heaps.push(q, r + 3, e);
  }
  for (; r < r1; r++) scoreRow(x, queries, dim, q, r, norms, heaps);
}

/**
 * One query against one row. Every kernel sums q[d]·x[d] in the same order (d ascending, in double),
 * so a (query, row) pair gets the bit-identical score whichever kernel or batch position scores it.
 */
function scoreRow(
  x: Float32Array,
  queries: Float32Array,
  dim: number,
  q: number,
  r: number,
  norms: Float64Array | undefined,
  heaps: Heaps,
): void {
  const qo = q * dim;
  const xo = r * dim;
  let s = 0;
  for (let d = 0; d < dim; d++) s += queries[qo + d] * x[xo + d];
  if (norms) s = 2 * s - norms[r];
  if (s > heaps.threshold[q]) heaps.push(q, r, s);
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
