/**
 * Ratings -> Factorization Machines examples, and FM examples <-> recordIO-protobuf.
 *
 * Layout (the workshop's one-hot encoding): feature_dim = users + movies; an example for (user u,
 * movie m) has exactly two non-zeros, column u and column users + m, both 1. FM then learns a factor
 * vector per user and per movie, which `vectors.ts` turns into k-NN vectors.
 *
 * Objectives:
 * - `workshop`: exactly the given ratings, label 1 when rating >= `positiveMinRating`, else 0 (the lab's
 *   notebook). It learns "will this user like this movie", but only among movies the user watched.
 * - `implicit` (default): every given rating is a positive (label 1) and, per positive, `negativeRatio`
 *   movies the user has not rated are sampled as negatives (label 0). That matches what the recommender
 *   is asked to do: rank unseen movies. Choices:
 *   - The number of negatives is drawn per user: ratio x positives, with the fractional part as one
 *     Bernoulli draw, so the expected count is exact; capped at the user's unrated movies.
 *   - Negatives of one user are distinct (sampling without replacement) and never a movie the user rated
 *     in `rows` or in `opts.exclude`.
 *   - `popularity` sampling draws movie m with weight max(count(m), 0.5)^popularityExponent, count being
 *     its positives in `rows`. The 0.5 floor keeps movies without a positive in `rows` drawable, at a
 *     weight below a movie with one rating (and equal to it at exponent 0, i.e. uniform).
 *   - Draws come from an alias table (O(1) each) with rejection of seen/chosen movies. When rejection
 *     would be slow (a user who rated most of the popularity mass, or who needs most of the unrated
 *     movies) or an attempt cap is hit, the remaining negatives are drawn from the enumerated unrated
 *     set (Efraimidis-Spirakis weighted sampling without replacement, or a partial Fisher-Yates), which
 *     has the same distribution. Work is O(ratings + negatives) plus O(movies) for those few users.
 *
 * Training rows may first be copied for recency (`recentCopies`, recent-copies.ts); the copies are
 * ordinary rows from then on, for either objective.
 *
 * Output rows are shuffled with the run's `Rng` (the workshop shuffled its training file too), so the
 * same seed always gives the same bytes.
 */
import type { EncodingConfig } from '../config';
import type { Rng } from '../random';
import { withRecentCopies } from './recent-copies';
import { FramedRowEncoder } from '../recordio/row-encoder';
import type { FramedRecordSink } from '../recordio/sharded-writer';
import { FrameScanner, countRecordIORecords } from '../recordio/framing';
import type { NumberList } from '../recordio/proto-reader';
import { RecordParser, VALUES_KEY, type RecordVisitor, type TensorScratch } from '../recordio/protobuf';
import type { Ratings, SparseExamples } from '../types';

/** Thrown when rows or recordIO data cannot be turned into FM examples; the message says which and why. */
export class FmExamplesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FmExamplesError';
  }
}

export interface EncodeFmOptions {
  /**
   * Further rating rows (positions into `ratings`) whose movies are "seen" for negative sampling but
   * are not examples, e.g. the training rows when encoding the test channel.
   */
  readonly exclude?: Uint32Array;
  /**
   * Write `cfg.recentCopies` extra copies of each user's latest rows (recent-copies.ts), as training
   * examples are. False for a channel that measures, such as the test channel. @default true
   */
  readonly recentCopies?: boolean;
}

/** Weight of a movie with no positive in `rows` for popularity sampling, as a count (see the module doc). */
export const POPULARITY_COUNT_FLOOR = 0.5;

/**
 * Encodes the rating rows `rows` (positions into `ratings`) as FM examples with the configured
 * objective. Deterministic for a given `rng` state.
 */
export function encodeFmExamples(
  ratings: Ratings,
  rows: Uint32Array,
  cfg: EncodingConfig,
  rng: Rng,
  opts: EncodeFmOptions = {},
): SparseExamples {
  return unpackExamples(encodeFmPacked(ratings, rows, cfg, rng, opts));
}

/** `encodeFmExamples` in the packed form (the same examples, same order, same `rng` use). */
export function encodeFmPacked(
  ratings: Ratings,
  rows: Uint32Array,
  cfg: EncodingConfig,
  rng: Rng,
  opts: EncodeFmOptions = {},
): PackedExamples {
  checkRows(rows, ratings.length, 'rows');
  if (opts.exclude) checkRows(opts.exclude, ratings.length, 'exclude');
  // The copies' tie order draws from `rng` only when there are copies: without them the bytes are
  // those of an encoding that never heard of them.
  const examples =
    opts.recentCopies === false || cfg.recentCopies === 0
      ? rows
      : withRecentCopies(ratings, rows, cfg, rng.nextU32());
  return cfg.objective === 'workshop'
    ? encodeWorkshop(ratings, examples, cfg, rng)
    : encodeImplicit(ratings, examples, cfg, rng, opts.exclude);
}

function checkRows(rows: Uint32Array, length: number, what: string): void {
  for (let i = 0; i < rows.length; i++) {
    if (rows[i] >= length) {
      throw new FmExamplesError(
        `${what}[${i}] = ${rows[i]} is not a rating position (ratings hold ${length})`,
      );
    }
  }
}

function encodeWorkshop(ratings: Ratings, rows: Uint32Array, cfg: EncodingConfig, rng: Rng): PackedExamples {
  const out = new ExampleBuilder(ratings.users.size, ratings.movies.size, rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    out.add(ratings.user[r], ratings.movie[r], ratings.rating[r] >= cfg.positiveMinRating ? 1 : 0);
  }
  return out.finishShuffled(rng);
}

function encodeImplicit(
  ratings: Ratings,
  rows: Uint32Array,
  cfg: EncodingConfig,
  rng: Rng,
  exclude: Uint32Array | undefined,
): PackedExamples {
  const nUsers = ratings.users.size;
  const nMovies = ratings.movies.size;
  const seen = new SeenSets(ratings, rows, exclude, nUsers);
  const weights =
    cfg.negativeSampling === 'popularity'
      ? popularityWeights(ratings, rows, nMovies, cfg.popularityExponent)
      : undefined;
  const sampler = new NegativeSampler(nMovies, weights, rng);

  // Pass 1: how many negatives each user gets (fixes the output size before anything is written).
  const need = new Uint32Array(nUsers);
  let totalNegatives = 0;
  for (let u = 0; u < nUsers; u++) {
    const positives = seen.positives(u);
    if (positives === 0) continue;
    const exact = positives * cfg.negativeRatio;
    let k = Math.floor(exact);
    const fraction = exact - k;
    if (fraction > 0 && rng.next() < fraction) k++;
    seen.markUser(u, sampler);
    k = Math.min(k, nMovies - sampler.seenCount);
    sampler.clear();
    need[u] = k;
    totalNegatives += k;
  }

  // Pass 2: positives in the given order, then each user's negatives; shuffled at the end.
  const out = new ExampleBuilder(nUsers, nMovies, rows.length + totalNegatives);
  for (let i = 0; i < rows.length; i++) out.add(ratings.user[rows[i]], ratings.movie[rows[i]], 1);
  for (let u = 0; u < nUsers; u++) {
    if (need[u] === 0) continue;
    seen.markUser(u, sampler);
    sampler.sample(need[u], (movie) => out.add(u, movie, 0));
    sampler.clear();
  }
  return out.finishShuffled(rng);
}

/** Count^exponent per movie with the zero-count floor, counts taken over `rows`. */
function popularityWeights(
  ratings: Ratings,
  rows: Uint32Array,
  nMovies: number,
  exponent: number,
): Float64Array {
  const counts = new Uint32Array(nMovies);
  for (let i = 0; i < rows.length; i++) counts[ratings.movie[rows[i]]]++;
  const weights = new Float64Array(nMovies);
  for (let m = 0; m < nMovies; m++)
    weights[m] = Math.pow(Math.max(counts[m], POPULARITY_COUNT_FLOOR), exponent);
  return weights;
}

/**
 * Each user's movies in `rows` and in `exclude`, grouped by user (counting sort into flat typed
 * arrays: no object per user).
 */
class SeenSets {
  private readonly rowPtr: Uint32Array;
  private readonly rowMovies: Uint32Array;
  private readonly exPtr: Uint32Array | undefined;
  private readonly exMovies: Uint32Array | undefined;

  constructor(ratings: Ratings, rows: Uint32Array, exclude: Uint32Array | undefined, nUsers: number) {
    [this.rowPtr, this.rowMovies] = groupByUser(ratings, rows, nUsers);
    if (exclude && exclude.length > 0) [this.exPtr, this.exMovies] = groupByUser(ratings, exclude, nUsers);
  }

  positives(u: number): number {
    return this.rowPtr[u + 1] - this.rowPtr[u];
  }

  /** Marks every movie the user has seen in the sampler. O(the user's ratings). */
  markUser(u: number, sampler: NegativeSampler): void {
    for (let i = this.rowPtr[u]; i < this.rowPtr[u + 1]; i++) sampler.markSeen(this.rowMovies[i]);
    if (this.exPtr)
      for (let i = this.exPtr[u]; i < this.exPtr[u + 1]; i++) sampler.markSeen(this.exMovies![i]);
  }
}

function groupByUser(ratings: Ratings, rows: Uint32Array, nUsers: number): [Uint32Array, Uint32Array] {
  const ptr = new Uint32Array(nUsers + 1);
  for (let i = 0; i < rows.length; i++) ptr[ratings.user[rows[i]] + 1]++;
  for (let u = 0; u < nUsers; u++) ptr[u + 1] += ptr[u];
  const fill = ptr.slice(0, nUsers);
  const movies = new Uint32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    movies[fill[ratings.user[r]]++] = ratings.movie[r];
  }
  return [ptr, movies];
}

/** Below this acceptance rate of a rejection draw, a user's negatives come from the enumerated set. */
const MIN_ACCEPTANCE = 0.2;

/**
 * Draws distinct movies a user has not seen, uniformly or by weight, one user at a time: mark the
 * user's movies (`markSeen`), `sample`, then `clear`. The per-movie marks live in one byte map reused
 * across users, and are cleared through the list of touched movies, so a user costs O(its ratings +
 * its negatives), never O(movies), unless the enumeration fallback runs.
 */
class NegativeSampler {
  private readonly mark: Uint8Array;
  /** Movies marked for the current user (seen, then chosen), for `clear`. */
  private readonly touched: Uint32Array;
  private touchedCount = 0;
  private seen = 0;
  private seenMass = 0;
  private readonly prob: Float64Array | undefined;
  private readonly alias: Uint32Array | undefined;
  private readonly totalWeight: number;
  private candidates: Uint32Array | undefined;
  private keys: Float64Array | undefined;

  constructor(
    private readonly nMovies: number,
    private readonly weights: Float64Array | undefined,
    private readonly rng: Rng,
  ) {
    this.mark = new Uint8Array(nMovies);
    this.touched = new Uint32Array(nMovies);
    let total = nMovies;
    if (weights) {
      total = 0;
      for (let m = 0; m < nMovies; m++) total += weights[m];
      [this.prob, this.alias] = buildAliasTable(weights, total);
    }
    this.totalWeight = total;
  }

  /** Distinct movies marked seen for the current user. */
  get seenCount(): number {
    return this.seen;
  }

  markSeen(movie: number): void {
    if (this.mark[movie] !== 0) return;
    this.mark[movie] = 1;
    this.touched[this.touchedCount++] = movie;
    this.seen++;
    this.seenMass += this.weights ? this.weights[movie] : 1;
  }

  /** Forgets the current user's marks. */
  clear(): void {
    for (let i = 0; i < this.touchedCount; i++) this.mark[this.touched[i]] = 0;
    this.touchedCount = 0;
    this.seen = 0;
    this.seenMass = 0;
  }

  /** Calls `emit` with `k` distinct unmarked movies; `k` must not exceed the unmarked count. */
  sample(k: number, emit: (movie: number) => void): void {
    const unmarked = this.nMovies - this.seen;
    const acceptance = 1 - this.seenMass / this.totalWeight;
    let chosen = 0;
    if (k * 2 <= unmarked && acceptance >= MIN_ACCEPTANCE) {
      // Expected draws are about k / acceptance; the cap only trips on a long unlucky streak.
      let attempts = Math.ceil((4 * k) / acceptance) + 64;
      while (chosen < k && attempts-- > 0) {
        const m = this.draw();
        if (this.mark[m] !== 0) continue;
        this.choose(m, emit);
        chosen++;
      }
    }
    if (chosen < k) this.sampleEnumerated(k - chosen, emit);
  }

  private choose(m: number, emit: (movie: number) => void): void {
    this.mark[m] = 1;
    this.touched[this.touchedCount++] = m;
    emit(m);
  }

  private draw(): number {
    const i = this.rng.int(this.nMovies);
    if (!this.prob) return i;
    return this.rng.next() < this.prob[i] ? i : this.alias![i];
  }

  /** Draws `k` of the unmarked movies from their explicit list: O(movies). */
  private sampleEnumerated(k: number, emit: (movie: number) => void): void {
    this.candidates ??= new Uint32Array(this.nMovies);
    const candidates = this.candidates;
    let n = 0;
    for (let m = 0; m < this.nMovies; m++) if (this.mark[m] === 0) candidates[n++] = m;
    if (k >= n) {
      for (let i = 0; i < n; i++) this.choose(candidates[i], emit);
      return;
    }
    if (!this.weights) {
      // Partial Fisher-Yates: the first k of a uniform permutation.
      for (let i = 0; i < k; i++) {
        const j = i + this.rng.int(n - i);
        const m = candidates[j];
        candidates[j] = candidates[i];
        candidates[i] = m;
        this.choose(m, emit);
      }
      return;
    }
    // Efraimidis-Spirakis: key = Exp(1) / weight; the k smallest keys are a weighted sample without
    // replacement, the same law as repeated weighted draws that reject already chosen movies.
    this.keys ??= new Float64Array(this.nMovies * 2);
    const keys = this.keys.subarray(0, n);
    for (let i = 0; i < n; i++) keys[i] = -Math.log(1 - this.rng.next()) / this.weights[candidates[i]];
    const sorted = this.keys.subarray(this.nMovies, this.nMovies + n);
    sorted.set(keys);
    sorted.sort();
    const threshold = sorted[k - 1];
    let taken = 0;
    for (let i = 0; i < n && taken < k; i++) {
      if (keys[i] <= threshold) {
        this.choose(candidates[i], emit);
        taken++;
      }
    }
  }
}

/** Vose's alias method: O(n) build, O(1) weighted draw. */
function buildAliasTable(weights: Float64Array, total: number): [Float64Array, Uint32Array] {
  const n = weights.length;
  const prob = new Float64Array(n);
  const alias = new Uint32Array(n);
  const scaled = new Float64Array(n);
  const small = new Uint32Array(n);
  const large = new Uint32Array(n);
  let nSmall = 0;
  let nLarge = 0;
  for (let i = 0; i < n; i++) {
    scaled[i] = (weights[i] * n) / total;
    if (scaled[i] < 1) small[nSmall++] = i;
    else large[nLarge++] = i;
  }
  while (nSmall > 0 && nLarge > 0) {
    const s = small[--nSmall];
    const l = large[--nLarge];
    prob[s] = scaled[s];
    alias[s] = l;
    scaled[l] = scaled[l] + scaled[s] - 1;
    if (scaled[l] < 1) small[nSmall++] = l;
    else large[nLarge++] = l;
  }
  // Leftovers are 1 up to rounding.
  while (nLarge > 0) prob[large[--nLarge]] = 1;
  while (nSmall > 0) prob[small[--nSmall]] = 1;
  return [prob, alias];
}

/**
 * FM examples of the one-hot layout packed into 8 bytes each, in the order they are written:
 * `pairs[2i]` is the user column, `pairs[2i + 1]` the movie column (users + movie index) with the label
 * (0 or 1) in bit 31. A third of the bytes of the CSR form (`SparseExamples`: rowPtr, two cols, two
 * vals and a label per row), and one array: the shuffle's random swaps touch one cache line per row.
 */
export interface PackedExamples {
  readonly featureDim: number;
  readonly length: number;
  readonly pairs: Uint32Array;
}

const LABEL_BIT = 0x80000000;
/** Swaps whose targets are read ahead together in the shuffle. */
const SHUFFLE_BATCH = 32;

/** The CSR form of packed examples (what training and the tests read). */
export function unpackExamples(packed: PackedExamples): SparseExamples {
  const n = packed.length;
  const { pairs } = packed;
  const cols = new Uint32Array(2 * n);
  const label = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const b = pairs[2 * i + 1];
    cols[2 * i] = pairs[2 * i];
    cols[2 * i + 1] = b & ~LABEL_BIT;
    label[i] = b >>> 31;
  }
  const rowPtr = new Uint32Array(n + 1);
  for (let i = 0; i <= n; i++) rowPtr[i] = 2 * i;
  return {
    featureDim: packed.featureDim,
    length: n,
    rowPtr,
    cols,
    vals: new Float32Array(2 * n).fill(1),
    label,
  };
}

/** Fills packed two-hot examples, then shuffles them in place. */
class ExampleBuilder {
  private readonly pairs: Uint32Array;
  private n = 0;
  /** Keeps the shuffle's look-ahead reads from being optimised away. */
  private touched = 0;

  constructor(
    private readonly nUsers: number,
    private readonly nMovies: number,
    private readonly capacity: number,
  ) {
    // rowPtr of the CSR form holds 2 * rows in a Uint32Array.
    if (capacity > 0x7fffffff) throw new FmExamplesError(`too many examples for one channel: ${capacity}`);
    // Movie columns stay below bit 31: users < 2^27 and movies < 2^26 (ingestion's limits).
    if (nUsers + nMovies >= LABEL_BIT)
      throw new FmExamplesError(`feature dimension too large: ${nUsers + nMovies}`);
    this.pairs = new Uint32Array(2 * capacity);
  }

  /** `label` is 0 or 1. */
  add(user: number, movie: number, label: number): void {
    const i = this.n++;
    this.pairs[2 * i] = user;
    this.pairs[2 * i + 1] = (this.nUsers + movie + (label === 0 ? 0 : LABEL_BIT)) >>> 0;
  }

  finishShuffled(rng: Rng): PackedExamples {
    const { pairs } = this;
    const n = this.n;
    if (n !== this.capacity) throw new Error(`internal: ${n} examples built, ${this.capacity} planned`);
    // Fisher-Yates, the same draws and swaps as Rng#shuffle over rows, in batches: the batch's random
    // targets are drawn and read first (loads that do not wait on each other, so their cache misses
    // overlap), then swapped in order as before. At tens of millions of rows each swap is a cache
    // miss; at 30 M rows this took a fifth off the shuffle's CPU time. The reads change nothing, so
    // the result is the same.
    const targets = new Uint32Array(SHUFFLE_BATCH);
    let touched = 0;
    let i = n - 1;
    while (i > 0) {
      const batch = Math.min(SHUFFLE_BATCH, i);
      for (let t = 0; t < batch; t++) {
        const j = rng.int(i - t + 1);
        targets[t] = j;
        touched ^= pairs[2 * j];
      }
      for (let t = 0; t < batch; t++, i--) {
        const j = targets[t];
        const a = pairs[2 * i];
        const b = pairs[2 * i + 1];
        pairs[2 * i] = pairs[2 * j];
        pairs[2 * i + 1] = pairs[2 * j + 1];
        pairs[2 * j] = a;
        pairs[2 * j + 1] = b;
      }
    }
    this.touched ^= touched;
    return { featureDim: this.nUsers + this.nMovies, length: n, pairs };
  }
}

/**
 * Writes FM examples as framed recordIO-protobuf rows: sparse float32 features with `shape =
 * [featureDim]` and a float32 label under `values`, exactly as the SDK's
 * `write_spmatrix_to_sparse_tensor` writes a CSR matrix. Rows go to `writer` one by one (no copy of the
 * whole channel in memory).
 */
export function writeFmRecordIO(examples: SparseExamples, writer: FramedRecordSink): void {
  const encoder = new FramedRowEncoder();
  const { rowPtr, cols, vals, label, featureDim } = examples;
  for (let r = 0; r < examples.length; r++) {
    writer.write(encoder.sparseRange(cols, vals, rowPtr[r], rowPtr[r + 1], featureDim, label[r]));
  }
}

/**
 * Reads FM training data back from recordIO-protobuf streams (e.g. the shards of a channel, in order):
 * sparse float32 rows with `shape = [featureDim]`, or dense float32 rows (their non-zeros are kept).
 * The label is `label['values'][0]`. Every record must have the same feature dimension. Records are
 * parsed straight into the CSR arrays (no object per row), so a channel of 100M rows reads at
 * parse speed.
 */
export function fmExamplesFromRecordIO(buffers: readonly Uint8Array[]): SparseExamples {
  let n = 0;
  for (const bytes of buffers) n += countRecordIORecords(bytes);
  const reader = new FmRowCollector(n);
  const parser = new RecordParser();
  buffers.forEach((bytes, b) => {
    const scanner = new FrameScanner(bytes);
    while (scanner.next()) {
      reader.beginRow(b, scanner.index, scanner.offset);
      try {
        parser.parse(scanner.buf, scanner.start, scanner.end, reader);
      } catch (error) {
        throw scanner.placeError(error);
      }
      reader.endRow();
    }
  });
  return reader.finish();
}

function listText(list: NumberList): string {
  return Array.from(list.data.subarray(0, list.length)).join(',');
}

/** Collects FM rows from parser callbacks into growable CSR arrays. */
class FmRowCollector implements RecordVisitor {
  private buffer = 0;
  private index = 0;
  private offset = 0;
  private readonly rowPtr: Uint32Array;
  private readonly label: Float32Array;
  private cols: Uint32Array;
  private vals: Float32Array;
  private nnz = 0;
  private row = 0;
  private rowStart = 0;
  private featureDim = -1;
  private rowDim = -1;
  private rowLabel: number | undefined;

  constructor(private readonly rows: number) {
    this.rowPtr = new Uint32Array(rows + 1);
    this.label = new Float32Array(rows);
    this.cols = new Uint32Array(Math.max(16, 2 * rows));
    this.vals = new Float32Array(this.cols.length);
  }

  /** The current record, for error messages (built only when one is thrown). */
  private get where(): string {
    return `buffer ${this.buffer} record ${this.index} (framed at byte ${this.offset})`;
  }

  beginRow(buffer: number, index: number, offset: number): void {
    this.buffer = buffer;
    this.index = index;
    this.offset = offset;
    this.rowStart = this.nnz;
    this.rowDim = -1;
    this.rowLabel = undefined;
  }

  entry(field: 1 | 2, key: string, t: TensorScratch): void {
    if (key !== VALUES_KEY) return;
    if (field === 2) {
      if (t.values.length === 0) throw new FmExamplesError(`${this.where}: label['values'] is empty`);
      this.rowLabel = t.values.data[0];
      return;
    }
    if (t.dtype !== 'float32') {
      throw new FmExamplesError(`${this.where}: FM needs float32 features, got ${t.dtype}`);
    }
    // A repeated 'values' entry replaces the earlier one, as protobuf map semantics say.
    this.nnz = this.rowStart;
    const values = t.values.data;
    const n = t.values.length;
    const shapeLength = t.shape.length;
    if (t.keys.length > 0) {
      if (shapeLength !== 1) {
        throw new FmExamplesError(
          `${this.where}: a sparse row needs shape [featureDim], got [${listText(t.shape)}]`,
        );
      }
      const dim = t.shape.data[0];
      if (t.keys.length !== n)
        throw new FmExamplesError(`${this.where}: ${t.keys.length} keys for ${n} values`);
      const keys = t.keys.data;
      this.reserve(n);
      for (let i = 0; i < n; i++) {
        if (keys[i] >= dim) throw new FmExamplesError(`${this.where}: key ${keys[i]} >= featureDim ${dim}`);
        this.cols[this.nnz] = keys[i];
        this.vals[this.nnz++] = values[i];
      }
      this.rowDim = dim;
    } else {
      if (shapeLength > 0 && (shapeLength !== 1 || t.shape.data[0] !== n)) {
        throw new FmExamplesError(
          `${this.where}: dense row of ${n} values with shape [${listText(t.shape)}]`,
        );
      }
      this.reserve(n);
      for (let j = 0; j < n; j++) {
        if (values[j] === 0) continue;
        this.cols[this.nnz] = j;
        this.vals[this.nnz++] = values[j];
      }
      this.rowDim = n;
    }
  }

  text(): void {}

  endRow(): void {
    if (this.rowDim === -1) throw new FmExamplesError(`${this.where} has no features['values']`);
    if (this.rowLabel === undefined) throw new FmExamplesError(`${this.where} has no label['values']`);
    if (this.featureDim === -1) this.featureDim = this.rowDim;
    else if (this.rowDim !== this.featureDim) {
      throw new FmExamplesError(
        `${this.where}: featureDim ${this.rowDim} differs from ${this.featureDim} of the first record`,
      );
    }
    this.label[this.row] = this.rowLabel;
    this.rowPtr[++this.row] = this.nnz;
  }

  finish(): SparseExamples {
    return {
      featureDim: Math.max(this.featureDim, 0),
      length: this.rows,
      rowPtr: this.rowPtr,
      cols: this.cols.slice(0, this.nnz),
      vals: this.vals.slice(0, this.nnz),
      label: this.label,
    };
  }

  private reserve(extra: number): void {
    if (this.nnz + extra <= this.cols.length) return;
    let capacity = this.cols.length * 2;
    while (capacity < this.nnz + extra) capacity *= 2;
    const cols = new Uint32Array(capacity);
    cols.set(this.cols.subarray(0, this.nnz));
    const vals = new Float32Array(capacity);
    vals.set(this.vals.subarray(0, this.nnz));
    this.cols = cols;
    this.vals = vals;
  }
}
