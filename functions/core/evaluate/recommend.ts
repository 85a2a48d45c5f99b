/**
 * Offline recommendation lists for evaluation, in original MovieLens id space: the FM model's own top-N
 * (inner product of user and item vectors, exactly what the k-NN endpoint ranks by), and the two
 * baselines every candidate is measured against, most-popular and uniform random.
 *
 * A list is `Map<userId, movieIds best first>`; a model that does not know a user omits the user.
 */
import type { Rng } from '../random';

/** Recommendation lists: user id -> movie ids, best first. Users a model does not know are absent. */
export type RecommendationLists = Map<number, number[]>;

/** Returns the movie ids a user already rated in training (they are never recommended). */
export type SeenLookup = (userId: number) => ArrayLike<number>;

/** User and item vectors as `buildKnnVectors` produces them (row-major, `dim` floats per row). */
export interface ScoringVectors {
  readonly userIds: Int32Array;
  readonly userVectors: Float32Array;
  /** Movie id per item row. */
  readonly itemLabels: Float32Array;
  readonly itemVectors: Float32Array;
  readonly dim: number;
}

/** Thrown when vectors, counts or `n` are inconsistent. */
export class RecommendationInputError extends Error {
  name = 'RecommendationInputError';
}

/** Users scored together, so each item row is read once per block of users instead of once per user. */
const USER_BLOCK = 4;

/**
 * Top-`n` movies per user by inner product `userVector · itemVector` over every item, skipping the
 * user's seen movies. Scores are float64 sums of the float32 products taken in dimension order; ties
 * go to the smaller movie id. Users absent from `vectors.userIds` are omitted from the result.
 *
 * Cost: one pass over the item matrix per block of 4 users and a size-`n` heap per user (no sort of
 * all scores), with typed scratch buffers reused across users. ~1.4 G multiply-adds/s on one core
 * (bench/evaluate.bench.ts).
 */
export function recommendFromVectors(
  vectors: ScoringVectors,
  users: Iterable<number>,
  seen: SeenLookup,
  n: number,
): RecommendationLists {
  const { userIds, userVectors, itemLabels, itemVectors, dim } = vectors;
  checkPositiveInt(n, 'n');
  checkPositiveInt(dim, 'dim');
  if (userVectors.length !== userIds.length * dim) {
    throw new RecommendationInputError(
      `userVectors has ${userVectors.length} floats, expected userIds.length (${userIds.length}) x dim (${dim})`,
    );
  }
  const nItems = itemLabels.length;
  if (itemVectors.length !== nItems * dim) {
    throw new RecommendationInputError(
      `itemVectors has ${itemVectors.length} floats, expected itemLabels.length (${nItems}) x dim (${dim})`,
    );
  }

  const userRow = new Map<number, number>();
  for (let i = 0; i < userIds.length; i++) userRow.set(userIds[i], i);
  const labels = new Int32Array(nItems);
  const itemIndex = new Map<number, number>();
  for (let j = 0; j < nItems; j++) {
    const id = itemLabels[j];
    if (!Number.isInteger(id))
      throw new RecommendationInputError(`item ${j} has a non-integer movie id ${id}`);
    if (itemIndex.has(id)) throw new RecommendationInputError(`movie id ${id} appears twice in itemLabels`);
    labels[j] = id;
    itemIndex.set(id, j);
  }

  const known: number[] = [];
  for (const userId of users) if (userRow.has(userId)) known.push(userId);

  const result: RecommendationLists = new Map();
  const scores = new Float64Array(USER_BLOCK * nItems);
  const block = new Float64Array(USER_BLOCK * dim);
  const excluded = new Int32Array(nItems);
  const heap = new TopN(Math.min(n, nItems));
  let stamp = 0;

  for (let b = 0; b < known.length; b += USER_BLOCK) {
    const count = Math.min(USER_BLOCK, known.length - b);
    scoreBlock(known, b, count, userRow, userVectors, itemVectors, dim, nItems, block, scores);
    for (let u = 0; u < count; u++) {
      const userId = known[b + u];
      stamp++;
      const seenIds = seen(userId);
      for (let s = 0; s < seenIds.length; s++) {
        const j = itemIndex.get(seenIds[s]);
        if (j !== undefined) excluded[j] = stamp;
      }
      heap.reset();
      const offset = u * nItems;
      for (let j = 0; j < nItems; j++) {
        if (excluded[j] !== stamp) heap.offer(scores[offset + j], labels[j]);
      }
      result.set(userId, heap.drainBestFirst());
    }
  }
  return result;
}

/**
 * Fills `scores[u * nItems + j]` for up to USER_BLOCK users starting at `known[start]`. The block's
 * vectors are copied dimension-major into `block` (missing users as zeros) and two item rows are scored
 * per step: 8 independent sums per pair of loads, the fastest layout measured in V8.
 */
function scoreBlock(
  known: number[],
  start: number,
  count: number,
  userRow: Map<number, number>,
  userVectors: Float32Array,
  itemVectors: Float32Array,
  dim: number,
  nItems: number,
  block: Float64Array,
  scores: Float64Array,
): void {
  block.fill(0);
  for (let u = 0; u < count; u++) {
    const o = userRow.get(known[start + u])! * dim;
    for (let d = 0; d < dim; d++) block[d * USER_BLOCK + u] = userVectors[o + d];
  }
  const r1 = nItems;
  const r2 = 2 * nItems;
  const r3 = 3 * nItems;
  let j = 0;
  for (; j + 1 < nItems; j += 2) {
    const b0 = j * dim;
    const b1 = b0 + dim;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    let t3 = 0;
    for (let d = 0, k = 0; d < dim; d++, k += USER_BLOCK) {
      const v = itemVectors[b0 + d];
      const w = itemVectors[b1 + d];
      const a0 = block[k];
      const a1 = block[k + 1];
      const a2 = block[k + 2];
      const a3 = block[k + 3];
      s0 += a0 * v;
      s1 += a1 * v;
      s2 += a2 * v;
      s3 += a3 * v;
      t0 += a0 * w;
      t1 += a1 * w;
      t2 += a2 * w;
      t3 += a3 * w;
    }
    scores[j] = s0;
    scores[r1 + j] = s1;
    scores[r2 + j] = s2;
    scores[r3 + j] = s3;
    scores[j + 1] = t0;
    scores[r1 + j + 1] = t1;
    scores[r2 + j + 1] = t2;
    scores[r3 + j + 1] = t3;
  }
  if (j < nItems) {
    const b0 = j * dim;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let d = 0, k = 0; d < dim; d++, k += USER_BLOCK) {
      const v = itemVectors[b0 + d];
      s0 += block[k] * v;
      s1 += block[k + 1] * v;
      s2 += block[k + 2] * v;
      s3 += block[k + 3] * v;
    }
    scores[j] = s0;
    scores[r1 + j] = s1;
    scores[r2 + j] = s2;
    scores[r3 + j] = s3;
  }
}

/**
 * A bounded min-heap keeping the `capacity` best (score, id) pairs: higher score first, then smaller
 * id. The root is the worst kept pair, so most candidates are rejected by one comparison.
 */
class TopN {
  private readonly score: Float64Array;
  private readonly id: Float64Array;
  private size = 0;

  constructor(private readonly capacity: number) {
    this.score = new Float64Array(capacity);
    this.id = new Float64Array(capacity);
  }

  reset(): void {
    this.size = 0;
  }

  offer(score: number, id: number): void {
    if (score !== score || this.capacity === 0) return;
    if (this.size < this.capacity) {
      let i = this.size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(score, id, this.score[parent], this.id[parent])) break;
        this.score[i] = this.score[parent];
        this.id[i] = this.id[parent];
        i = parent;
      }
      this.score[i] = score;
      this.id[i] = id;
      return;
    }
    const rootScore = this.score[0];
    if (score < rootScore || (score === rootScore && id >= this.id[0])) return;
    this.siftDown(0, score, id);
  }

  /** Empties the heap into an array, best first. */
  drainBestFirst(): number[] {
    const out = new Array<number>(this.size);
    while (this.size > 0) {
      out[this.size - 1] = this.id[0];
      const last = --this.size;
      if (last > 0) this.siftDown(0, this.score[last], this.id[last]);
    }
    return out;
  }

  private siftDown(start: number, score: number, id: number): void {
    const size = this.size;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (right < size && worse(this.score[right], this.id[right], this.score[left], this.id[left]))
        child = right;
      if (!worse(this.score[child], this.id[child], score, id)) break;
      this.score[i] = this.score[child];
      this.id[i] = this.id[child];
      i = child;
    }
    this.score[i] = score;
    this.id[i] = id;
  }
}

/** True when (sa, ia) ranks below (sb, ib): lower score, or equal score and larger id. */
function worse(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa < sb || (sa === sb && ia > ib);
}

/** Training interactions per movie, as a map or as `[movieId, count]` pairs. */
export type MovieCounts = ReadonlyMap<number, number> | Iterable<readonly [number, number]>;

/** Counts how often each movie id occurs (e.g. the training rows' movie ids) for the popularity baseline. */
export function countMovies(movieIds: ArrayLike<number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < movieIds.length; i++) {
    const id = movieIds[i];
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Movie ids ordered most popular first (count descending, then smaller id). */
export function popularityRanking(counts: MovieCounts): Int32Array {
  const entries = Array.from(counts instanceof Map ? counts.entries() : counts);
  const ids = new Int32Array(entries.length);
  const byId = new Map<number, number>();
  entries.forEach(([id, count], i) => {
    ids[i] = id;
    byId.set(id, (byId.get(id) ?? 0) + count);
  });
  const unique = Int32Array.from(new Set(ids));
  return unique.sort((a, b) => byId.get(b)! - byId.get(a)! || a - b);
}

/**
 * The most-popular baseline: for each user, the `n` most-rated training movies the user has not seen.
 * Every user gets a list (the baseline knows everyone).
 */
export function popularityRecommendations(
  trainCounts: MovieCounts,
  users: Iterable<number>,
  seen: SeenLookup,
  n: number,
): RecommendationLists {
  checkPositiveInt(n, 'n');
  const ranking = popularityRanking(trainCounts);
  const rankOf = new Map<number, number>();
  for (let r = 0; r < ranking.length; r++) rankOf.set(ranking[r], r);
  const excluded = new Int32Array(ranking.length);
  const result: RecommendationLists = new Map();
  let stamp = 0;
  for (const userId of users) {
    stamp++;
    const seenIds = seen(userId);
    for (let s = 0; s < seenIds.length; s++) {
      const r = rankOf.get(seenIds[s]);
      if (r !== undefined) excluded[r] = stamp;
    }
    const list: number[] = [];
    for (let r = 0; r < ranking.length && list.length < n; r++) {
      if (excluded[r] !== stamp) list.push(ranking[r]);
    }
    result.set(userId, list);
  }
  return result;
}

/**
 * The random baseline: for each user, `n` distinct unseen movies drawn uniformly from `catalog`
 * (partial Fisher-Yates over a scratch copy; repeatable for a given `rng` state and user order).
 */
export function randomRecommendations(
  catalog: Int32Array,
  users: Iterable<number>,
  seen: SeenLookup,
  n: number,
  rng: Rng,
): RecommendationLists {
  checkPositiveInt(n, 'n');
  const pool = Int32Array.from(new Set(catalog)).sort();
  const size = pool.length;
  const excludedIds = new Set<number>();
  const result: RecommendationLists = new Map();
  for (const userId of users) {
    excludedIds.clear();
    const seenIds = seen(userId);
    for (let s = 0; s < seenIds.length; s++) excludedIds.add(seenIds[s]);
    const list: number[] = [];
    for (let i = 0; i < size && list.length < n; i++) {
      const j = i + rng.int(size - i);
      const pick = pool[j];
      pool[j] = pool[i];
      pool[i] = pick;
      if (!excludedIds.has(pick)) list.push(pick);
    }
    result.set(userId, list);
  }
  return result;
}

function checkPositiveInt(value: number, name: string): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RecommendationInputError(`${name} must be a positive integer, got ${value}`);
  }
}
