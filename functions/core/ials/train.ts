/**
 * Implicit alternating least squares (Hu, Koren & Volinsky 2008), the iALS trainer: every observed
 * (user, item) pair is a positive with confidence c = 1 + alpha * f(rating) * g(recency), every
 * unobserved pair a zero with weight 1, L2 regularization λ_row = λ (1 + n_row)^ν, optionally an item
 * bias. Users and items are solved in turn, each row exactly in closed form (`cholesky`) or by a few
 * warm-started conjugate-gradient steps (`cg`, Takács, Pilászy & Tikk 2011), using the Gramian trick: YᵀY is computed once per half-iteration and
 * each row adds Σ (c - 1) y yᵀ over its own positives only, so a half-iteration costs
 * O(n K² + nnz K) with CG instead of O(n · items · K²).
 *
 * Pure and deterministic: the same interactions, hyperparameters and seed give bit-identical factors
 * (float64 arithmetic in a fixed order, seeded initialization). Written here because no maintained
 * JavaScript library implements iALS (the well-kept ones, `implicit` and Spark's ALS, are Python/JVM).
 */
import { Rng } from '../random';
import type { IalsConfidence, IalsHyperparameters } from './config';

/** Observed pairs over dense indices: `user[p]` rated `item[p]` (with `rating[p]` when given). */
export interface IalsInteractions {
  readonly users: number;
  readonly items: number;
  readonly user: Uint32Array;
  readonly item: Uint32Array;
  /** The rating of each pair; needed by confidence `rating` and `log-rating`. */
  readonly rating?: Float32Array;
  /** When each pair was rated (any monotonic unit); needed by `recency_half_life` > 0. */
  readonly time?: Float64Array;
}

/** Trained factors: the score of (u, i) is ⟨userFactors[u], itemFactors[i]⟩ + itemBias[i]. */
export interface IalsFactors {
  readonly users: number;
  readonly items: number;
  readonly factors: number;
  /** users x factors, row-major. */
  readonly userFactors: Float32Array;
  /** items x factors, row-major. */
  readonly itemFactors: Float32Array;
  /** Per item: b_i with `item_bias`, else zeros. The score is ⟨U_u, V_i⟩ + b_i. */
  readonly itemBias: Float32Array;
}

/** One alternation's report. */
export interface IalsIterationReport {
  readonly iteration: number;
  readonly iterations: number;
  /** The weighted squared error over all users x items plus the regularization, per observed pair. */
  readonly loss: number;
  readonly millis: number;
}

export interface TrainIalsOptions {
  readonly onIteration?: (report: IalsIterationReport) => void;
  /** Compute the loss only after the last iteration (it costs about one CG step). @default false */
  readonly lossAtEndOnly?: boolean;
}

export interface TrainIalsResult {
  readonly factors: IalsFactors;
  /** Loss after each iteration (NaN where not computed). */
  readonly losses: readonly number[];
}

/** Thrown when the interactions are malformed (an index out of range, arrays of different lengths). */
export class IalsInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IalsInputError';
  }
}

/** Rows of one side in CSR form: row r's pairs are `[rowPtr[r], rowPtr[r+1])` of `cols`/`extra`. */
interface Csr {
  readonly rows: number;
  readonly rowPtr: Uint32Array;
  readonly cols: Uint32Array;
  /** c - 1 of each pair (the extra weight of a positive over an unobserved zero). */
  readonly extra: Float64Array;
}

/**
 * Trains iALS factors. O(iterations · ((users + items) K² (cg_steps + 1) + nnz K cg_steps)).
 *
 * With `item_bias`, each item also learns a bias b_i and the score is ⟨U_u, V_i⟩ + b_i: the item side
 * solves [V_i, b_i] against the users' [U_u, 1], the user side solves U_u against the targets p - b_i
 * (the zeros included: their right-hand side is -Σ_all b_i V_i, computed once per half-iteration).
 */
export function trainIals(
  data: IalsInteractions,
  params: IalsHyperparameters,
  options: TrainIalsOptions = {},
): TrainIalsResult {
  const k = params.num_factors;
  const bias = params.item_bias;
  // Rows are stored with stride K + 1 when there is a bias: the user's constant 1, the item's bias.
  const stride = bias ? k + 1 : k;
  const { byUser, byItem } = buildCsr(data, params);
  const rng = new Rng(params.seed);
  const scale = params.init_stddev / Math.sqrt(k);
  const userF = new Float64Array(data.users * stride);
  const itemF = new Float64Array(data.items * stride);
  for (let i = 0; i < data.items; i++)
    for (let a = 0; a < k; a++) itemF[i * stride + a] = rng.normal() * scale;
  for (let u = 0; u < data.users; u++) {
    for (let a = 0; a < k; a++) userF[u * stride + a] = rng.normal() * scale;
    if (bias) userF[u * stride + k] = 1;
  }
  const userReg = rowRegularization(byUser, params.regularization, params.regularization_exponent);
  const itemReg = rowRegularization(byItem, params.regularization, params.regularization_exponent);
  const users: Side = { csr: byUser, x: userF, y: itemF, stride, d: k, reg: userReg, shift: bias ? k : -1 };
  const items: Side = { csr: byItem, x: itemF, y: userF, stride, d: stride, reg: itemReg, shift: -1 };
  const losses: number[] = [];
  for (let it = 1; it <= params.iterations; it++) {
    const started = performance.now();
    solveSide(users, params);
    solveSide(items, params);
    const loss =
      !options.lossAtEndOnly || it === params.iterations
        ? ialsLoss(byUser, userF, itemF, stride, k, userReg, itemReg)
        : NaN;
    losses.push(loss);
    options.onIteration?.({
      iteration: it,
      iterations: params.iterations,
      loss,
      millis: performance.now() - started,
    });
  }
  return {
    factors: {
      users: data.users,
      items: data.items,
      factors: k,
      userFactors: columns(userF, stride, 0, k),
      itemFactors: columns(itemF, stride, 0, k),
      itemBias: bias ? columns(itemF, stride, k, 1) : new Float32Array(data.items),
    },
    losses,
  };
}

/** Columns [from, from + count) of a row-major matrix with `stride` columns, as float32. */
function columns(m: Float64Array, stride: number, from: number, count: number): Float32Array {
  const rows = m.length / stride;
  const out = new Float32Array(rows * count);
  for (let r = 0; r < rows; r++)
    for (let a = 0; a < count; a++) out[r * count + a] = m[r * stride + from + a];
  return out;
}

/** f(r) of the confidence c = 1 + alpha f(r). */
function confidenceOf(kind: IalsConfidence, rating: number): number {
  switch (kind) {
    case 'constant':
      return 1;
    case 'rating':
      return rating;
    case 'log-rating':
      return Math.log1p(rating);
  }
}

/**
 * Both CSR views of the pairs, columns ascending within a row. A pair given twice keeps its last
 * occurrence (the data are de-duplicated upstream; this only keeps the solver's sums well defined).
 */
function buildCsr(
  data: IalsInteractions,
  params: Pick<IalsHyperparameters, 'alpha' | 'confidence' | 'recency_half_life'>,
): { byUser: Csr; byItem: Csr } {
  const { alpha, confidence } = params;
  const n = data.user.length;
  if (
    data.item.length !== n ||
    (data.rating !== undefined && data.rating.length !== n) ||
    (data.time !== undefined && data.time.length !== n)
  ) {
    throw new IalsInputError(
      `user (${n}), item (${data.item.length}), rating (${data.rating?.length}) and time ` +
        `(${data.time?.length}) arrays differ in length`,
    );
  }
  if (confidence !== 'constant' && data.rating === undefined) {
    throw new IalsInputError(`confidence '${confidence}' needs the ratings`);
  }
  if (params.recency_half_life > 0 && data.time === undefined) {
    throw new IalsInputError(`recency_half_life ${params.recency_half_life} needs the rating times`);
  }
  for (let p = 0; p < n; p++) {
    if (data.user[p] >= data.users || data.item[p] >= data.items) {
      throw new IalsInputError(
        `pair ${p} (user ${data.user[p]}, item ${data.item[p]}) is outside ${data.users} users x ${data.items} items`,
      );
    }
  }
  // Counting sort by item, then a stable counting sort by user: user rows with items ascending, and
  // equal pairs adjacent in input order.
  const byItemOrder = countingOrder(data.item, data.items, identity(n));
  const order = countingOrder(data.user, data.users, byItemOrder);
  const keep = new Uint8Array(n);
  let kept = 0;
  for (let q = 0; q < n; q++) {
    const p = order[q];
    const next = q + 1 < n ? order[q + 1] : -1;
    if (next >= 0 && data.user[next] === data.user[p] && data.item[next] === data.item[p]) continue;
    keep[q] = 1;
    kept++;
  }
  const recency =
    params.recency_half_life > 0 ? recencyWeights(data, order, params.recency_half_life) : undefined;
  const users = new Uint32Array(kept);
  const items = new Uint32Array(kept);
  const extra = new Float64Array(kept);
  let w = 0;
  for (let q = 0; q < n; q++) {
    if (!keep[q]) continue;
    const p = order[q];
    users[w] = data.user[p];
    items[w] = data.item[p];
    extra[w] =
      alpha * confidenceOf(confidence, data.rating ? data.rating[p] : 1) * (recency ? recency[p] : 1);
    w++;
  }
  const byUser = csrFromSorted(users, items, extra, data.users);
  const itemOrder = countingOrder(items, data.items, identity(kept));
  const byItem = csrFromSorted(
    pick(items, itemOrder),
    pick(users, itemOrder),
    Float64Array.from(itemOrder, (p) => extra[p]),
    data.items,
  );
  return { byUser, byItem };
}

/**
 * g(pair) = 0.5^(m / halfLife), m = how many of the user's pairs are strictly later: a user's latest
 * ratings say most about what the user will rate next (the held-out split is each user's latest).
 * `order` groups the pairs by user.
 */
function recencyWeights(data: IalsInteractions, order: Uint32Array, halfLife: number): Float64Array {
  const time = data.time!;
  const weights = new Float64Array(order.length);
  let start = 0;
  while (start < order.length) {
    let end = start;
    while (end < order.length && data.user[order[end]] === data.user[order[start]]) end++;
    const times = Float64Array.from(order.subarray(start, end), (p) => time[p]).sort();
    for (let q = start; q < end; q++) {
      const p = order[q];
      // Pairs later than p: those after the last index holding a time <= time[p].
      let lo = 0;
      let hi = times.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (times[mid] <= time[p]) lo = mid + 1;
        else hi = mid;
      }
      weights[p] = Math.pow(0.5, (times.length - lo) / halfLife);
    }
    start = end;
  }
  return weights;
}

function identity(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

/** Stable counting sort of `order` by `key[order[q]]`. */
function countingOrder(key: Uint32Array, buckets: number, order: Uint32Array): Uint32Array {
  const start = new Uint32Array(buckets + 1);
  for (let q = 0; q < order.length; q++) start[key[order[q]] + 1]++;
  for (let b = 0; b < buckets; b++) start[b + 1] += start[b];
  const out = new Uint32Array(order.length);
  for (let q = 0; q < order.length; q++) out[start[key[order[q]]]++] = order[q];
  return out;
}

function pick(values: Uint32Array, order: Uint32Array): Uint32Array {
  return Uint32Array.from(order, (p) => values[p]);
}

function csrFromSorted(rowsOf: Uint32Array, cols: Uint32Array, extra: Float64Array, rows: number): Csr {
  const rowPtr = new Uint32Array(rows + 1);
  for (let p = 0; p < rowsOf.length; p++) rowPtr[rowsOf[p] + 1]++;
  for (let r = 0; r < rows; r++) rowPtr[r + 1] += rowPtr[r];
  return { rows, rowPtr, cols, extra };
}

function rowRegularization(csr: Csr, lambda: number, exponent: number): Float64Array {
  const reg = new Float64Array(csr.rows);
  for (let r = 0; r < csr.rows; r++)
    reg[r] = lambda * Math.pow(1 + csr.rowPtr[r + 1] - csr.rowPtr[r], exponent);
  return reg;
}

/**
 * One side's half-iteration: solve the first `d` values of each row of `x` (row stride `stride`)
 * against the first `d` values of the other side's rows `y`. `shift` >= 0 is the column of `y` holding
 * an offset subtracted from every target (the item bias, when the users are solved).
 */
interface Side {
  readonly csr: Csr;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly stride: number;
  readonly d: number;
  readonly reg: Float64Array;
  readonly shift: number;
}

/** YᵀY (d x d, symmetric, full) over the first `d` values of each row (row stride `stride`). */
export function gramian(y: Float64Array, stride: number, d: number): Float64Array {
  const rows = y.length / stride;
  const g = new Float64Array(d * d);
  for (let r = 0; r < rows; r++) {
    const o = r * stride;
    for (let a = 0; a < d; a++) {
      const ya = y[o + a];
      if (ya === 0) continue;
      const ga = a * d;
      for (let b = a; b < d; b++) g[ga + b] += ya * y[o + b];
    }
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) g[a * d + b] = g[b * d + a];
  return g;
}

/**
 * Solves every row given the other side:
 * (YᵀY + Σ_{j∈row} (c_j - 1) y_j y_jᵀ + λ_row I) x = Σ_{j∈row} (c_j (1 - s_j) + s_j) y_j - Σ_all s_j y_j
 * with s the shift column (0 without one).
 */
function solveSide(side: Side, params: IalsHyperparameters): void {
  const { csr, y, stride, d, shift } = side;
  const g = gramian(y, stride, d);
  const s = new RowSolverScratch(d);
  if (shift >= 0) {
    for (let o = 0; o < y.length; o += stride) {
      const b = y[o + shift];
      for (let a = 0; a < d; a++) s.shiftSum[a] += b * y[o + a];
    }
  }
  for (let r = 0; r < csr.rows; r++) {
    rowRhs(side, r, s);
    if (params.solver === 'cg') cgRow(side, r, g, params.cg_steps, s);
    else choleskyRow(side, r, g, s);
  }
}

/** Per-row work vectors, allocated once per half-iteration. */
class RowSolverScratch {
  readonly rhs: Float64Array;
  readonly res: Float64Array;
  readonly dir: Float64Array;
  readonly ad: Float64Array;
  readonly a: Float64Array;
  readonly shiftSum: Float64Array;
  constructor(d: number) {
    this.rhs = new Float64Array(d);
    this.res = new Float64Array(d);
    this.dir = new Float64Array(d);
    this.ad = new Float64Array(d);
    this.a = new Float64Array(d * d);
    this.shiftSum = new Float64Array(d);
  }
}

/** out = A v for the row's matrix A = G + λI + Σ (c - 1) y yᵀ, without forming A. */
function applyRowMatrix(side: Side, r: number, g: Float64Array, v: Float64Array, out: Float64Array): void {
  const { csr, y, stride, d } = side;
  const lambda = side.reg[r];
  for (let a = 0; a < d; a++) {
    let sum = lambda * v[a];
    const ga = a * d;
    for (let b = 0; b < d; b++) sum += g[ga + b] * v[b];
    out[a] = sum;
  }
  for (let p = csr.rowPtr[r]; p < csr.rowPtr[r + 1]; p++) {
    const o = csr.cols[p] * stride;
    let dot = 0;
    for (let a = 0; a < d; a++) dot += y[o + a] * v[a];
    const w = csr.extra[p] * dot;
    for (let a = 0; a < d; a++) out[a] += w * y[o + a];
  }
}

/** The right-hand side of the row (see `solveSide`) into `s.rhs`. */
function rowRhs(side: Side, r: number, s: RowSolverScratch): void {
  const { csr, y, stride, d, shift } = side;
  const rhs = s.rhs;
  for (let a = 0; a < d; a++) rhs[a] = -s.shiftSum[a];
  for (let p = csr.rowPtr[r]; p < csr.rowPtr[r + 1]; p++) {
    const o = csr.cols[p] * stride;
    const c = 1 + csr.extra[p];
    const w = shift >= 0 ? c * (1 - y[o + shift]) + y[o + shift] : c;
    for (let a = 0; a < d; a++) rhs[a] += w * y[o + a];
  }
}

/** `steps` conjugate-gradient steps from the row's current factors (the warm start). */
function cgRow(side: Side, r: number, g: Float64Array, steps: number, s: RowSolverScratch): void {
  const { d } = side;
  const xr = side.x.subarray(r * side.stride, r * side.stride + d);
  applyRowMatrix(side, r, g, xr, s.ad);
  let rr = 0;
  for (let a = 0; a < d; a++) {
    s.res[a] = s.rhs[a] - s.ad[a];
    s.dir[a] = s.res[a];
    rr += s.res[a] * s.res[a];
  }
  for (let step = 0; step < steps && rr > 1e-20; step++) {
    applyRowMatrix(side, r, g, s.dir, s.ad);
    let dAd = 0;
    for (let a = 0; a < d; a++) dAd += s.dir[a] * s.ad[a];
    if (!(dAd > 0)) break;
    const stepSize = rr / dAd;
    let rrNext = 0;
    for (let a = 0; a < d; a++) {
      xr[a] += stepSize * s.dir[a];
      s.res[a] -= stepSize * s.ad[a];
      rrNext += s.res[a] * s.res[a];
    }
    const beta = rrNext / rr;
    for (let a = 0; a < d; a++) s.dir[a] = s.res[a] + beta * s.dir[a];
    rr = rrNext;
  }
}

/** The exact solution of the row's normal equations (Cholesky factorization of A, O(d³ + n d²)). */
function choleskyRow(side: Side, r: number, g: Float64Array, s: RowSolverScratch): void {
  const { csr, y, stride, d } = side;
  const a = s.a;
  a.set(g);
  for (let i = 0; i < d; i++) a[i * d + i] += side.reg[r];
  for (let p = csr.rowPtr[r]; p < csr.rowPtr[r + 1]; p++) {
    const o = csr.cols[p] * stride;
    const w = csr.extra[p];
    for (let i = 0; i < d; i++) {
      const wy = w * y[o + i];
      for (let j = 0; j <= i; j++) a[i * d + j] += wy * y[o + j];
    }
  }
  choleskySolveInPlace(a, d, s.rhs);
  side.x.set(s.rhs, r * stride);
}

/**
 * Solves A x = b for a symmetric positive-definite A whose lower triangle is filled (row-major k x k);
 * overwrites A's lower triangle with L (A = L Lᵀ) and b with x.
 * @throws IalsInputError when A is not positive definite
 */
export function choleskySolveInPlace(a: Float64Array, k: number, b: Float64Array): void {
  for (let j = 0; j < k; j++) {
    let d = a[j * k + j];
    for (let m = 0; m < j; m++) d -= a[j * k + m] * a[j * k + m];
    if (!(d > 0))
      throw new IalsInputError(`the row's normal equations are not positive definite (pivot ${j})`);
    const l = Math.sqrt(d);
    a[j * k + j] = l;
    for (let i = j + 1; i < k; i++) {
      let v = a[i * k + j];
      for (let m = 0; m < j; m++) v -= a[i * k + m] * a[j * k + m];
      a[i * k + j] = v / l;
    }
  }
  for (let i = 0; i < k; i++) {
    let v = b[i];
    for (let m = 0; m < i; m++) v -= a[i * k + m] * b[m];
    b[i] = v / a[i * k + i];
  }
  for (let i = k - 1; i >= 0; i--) {
    let v = b[i];
    for (let m = i + 1; m < k; m++) v -= a[m * k + i] * b[m];
    b[i] = v / a[i * k + i];
  }
}

/**
 * The objective per observed pair: Σ_all (p - ŝ)² weighted (1 for zeros, c for positives) + Σ λ_row‖x‖².
 * The all-pairs part Σ_u Σ_i ŝ² = tr((UᵀU)(VᵀV)) over the full rows ([U, 1] and [V, b] with a bias),
 * so the cost is O((users + items) K² + nnz K). The users' constant 1 is not regularized.
 */
function ialsLoss(
  byUser: Csr,
  userF: Float64Array,
  itemF: Float64Array,
  stride: number,
  k: number,
  userReg: Float64Array,
  itemReg: Float64Array,
): number {
  const gu = gramian(userF, stride, stride);
  const gi = gramian(itemF, stride, stride);
  let loss = 0;
  for (let t = 0; t < stride * stride; t++) loss += gu[t] * gi[t];
  for (let u = 0; u < byUser.rows; u++) {
    const uo = u * stride;
    for (let p = byUser.rowPtr[u]; p < byUser.rowPtr[u + 1]; p++) {
      const io = byUser.cols[p] * stride;
      let s = 0;
      for (let a = 0; a < stride; a++) s += userF[uo + a] * itemF[io + a];
      // Replace the pair's s² (counted above as a zero) by c (1 - s)².
      loss += (1 + byUser.extra[p]) * (1 - s) * (1 - s) - s * s;
    }
  }
  loss += weightedNorms(userF, userReg, stride, k) + weightedNorms(itemF, itemReg, stride, stride);
  return loss / Math.max(1, byUser.cols.length);
}

function weightedNorms(f: Float64Array, reg: Float64Array, stride: number, d: number): number {
  let sum = 0;
  for (let r = 0; r < reg.length; r++) {
    let n = 0;
    for (let a = 0; a < d; a++) n += f[r * stride + a] * f[r * stride + a];
    sum += reg[r] * n;
  }
  return sum;
}
