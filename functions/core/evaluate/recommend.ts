/**
 * Offline recommendation lists for evaluation, in original MovieLens id space: the two baselines every
 * candidate is measured against, most-popular and uniform random. (The candidate's and production's
 * lists come from their serving pipelines: functions/core/serving/pipeline.ts, or a batch transform.)
 *
 * A list is `Map<userId, movieIds best first>`; a model that does not know a user omits the user.
 */
import type { Rng } from '../random';

/** Recommendation lists: user id -> movie ids, best first. Users a model does not know are absent. */
export type RecommendationLists = Map<number, number[]>;

/** Returns the movie ids a user already rated in training (they are never recommended). */
export type SeenLookup = (userId: number) => ArrayLike<number>;

/** Thrown when counts or `n` are inconsistent. */
export class RecommendationInputError extends Error {
  name = 'RecommendationInputError';
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
