/**
 * Ranking metrics of recommendation lists against each user's held-out test movies: precision, recall,
 * NDCG (binary relevance), hit rate and reciprocal rank at every cut-off K, plus catalog coverage,
 * named and defined as Amazon Personalize reports them (`precision_at_K`, `mean_reciprocal_rank_at_25`,
 * `coverage`). Per-user values are kept in one typed matrix so the comparison can bootstrap them.
 *
 * Users a model does not know are counted apart (cold start), never scored as zeros in its means.
 */
import type { RecommendationLists } from './recommend';

/** Flat metric name -> value, e.g. `{ 'precision@10': 0.21, 'ndcg@10': 0.24, mrr: 0.3, coverage: 0.4 }`. */
export type MetricMap = Record<string, number>;

/** One user's held-out movies (and their ratings, needed only with `relevanceMinRating`). */
export interface TestUser {
  readonly movieIds: ArrayLike<number>;
  readonly ratings?: ArrayLike<number>;
}

/** Held-out test set: user id -> the user's test movies. */
export type TestSet = ReadonlyMap<number, TestUser>;

/** The per-user ranking metric families, in report order. */
export const METRIC_FAMILIES = ['precision', 'recall', 'ndcg', 'hit_rate', 'mrr'] as const;

/** Thrown when the test set or the options cannot be evaluated. */
export class EvaluationInputError extends Error {
  name = 'EvaluationInputError';
}

/** The test set reduced to what scoring needs: users with at least one relevant movie, ascending id. */
export interface PreparedTest {
  readonly userIds: Int32Array;
  /** Relevant movie ids per user, aligned with `userIds`. */
  readonly relevant: ReadonlyArray<ReadonlySet<number>>;
  /** Users in the test set before filtering. */
  readonly testUsers: number;
  /** Users skipped because none of their test movies is relevant. */
  readonly skippedNoRelevant: number;
  /** Sum of relevant movies over evaluated users. */
  readonly relevantItems: number;
}

/** Per-user metric values of one model on a `PreparedTest`. */
export interface UserScores {
  /** Ascending, distinct cut-offs. */
  readonly ks: readonly number[];
  /** Per-user metric names, `family@K`, family-major (the column order of `values`). */
  readonly names: readonly string[];
  /** 1 where the model has a list for the user. */
  readonly known: Uint8Array;
  readonly knownCount: number;
  /** users x names.length, row-major; rows of unknown users are 0 and must be masked by `known`. */
  readonly values: Float64Array;
}

/** A model's metrics on the users it knows, and how many it did not know. */
export interface ModelMetrics {
  readonly metrics: MetricMap;
  readonly nUsers: number;
  readonly unknownUsers: number;
  /** unknownUsers / evaluated users. */
  readonly unknownShare: number;
  readonly scores: UserScores;
}

/** Sorted distinct positive integer cut-offs. */
export function normalizeKs(ks: readonly number[]): number[] {
  if (ks.length === 0) throw new EvaluationInputError('ks must name at least one cut-off');
  for (const k of ks) {
    if (!Number.isInteger(k) || k <= 0)
      throw new EvaluationInputError(`every K must be a positive integer, got ${k}`);
  }
  return Array.from(new Set(ks)).sort((a, b) => a - b);
}

/** Per-user metric names for `ks`, in the column order of `UserScores.values`. */
export function perUserMetricNames(ks: readonly number[]): string[] {
  return METRIC_FAMILIES.flatMap((family) => ks.map((k) => `${family}@${k}`));
}

/** Every reported metric name for `ks`, in report order: per-user ones, then `mrr` and `coverage`. */
export function metricNames(ks: readonly number[]): string[] {
  return [...perUserMetricNames(ks), 'mrr', 'coverage'];
}

/**
 * Builds the relevant sets: every test movie, or with `relevanceMinRating` only those rated at or above
 * it (the user's ratings are then required). Users with no relevant movie are skipped and counted.
 */
export function prepareTestSet(test: TestSet, relevanceMinRating?: number): PreparedTest {
  const ids = Int32Array.from(test.keys()).sort();
  const kept: number[] = [];
  const relevant: Set<number>[] = [];
  let relevantItems = 0;
  for (let u = 0; u < ids.length; u++) {
    const userId = ids[u];
    const { movieIds, ratings } = test.get(userId)!;
    const set = new Set<number>();
    if (relevanceMinRating === undefined) {
      for (let i = 0; i < movieIds.length; i++) set.add(movieIds[i]);
    } else {
      if (!ratings) {
        throw new EvaluationInputError(
          `test user ${userId} has no ratings, but relevanceMinRating (${relevanceMinRating}) needs them`,
        );
      }
      if (ratings.length !== movieIds.length) {
        throw new EvaluationInputError(
          `test user ${userId} has ${movieIds.length} movie ids but ${ratings.length} ratings`,
        );
      }
      for (let i = 0; i < movieIds.length; i++) if (ratings[i] >= relevanceMinRating) set.add(movieIds[i]);
    }
    if (set.size === 0) continue;
    kept.push(userId);
    relevant.push(set);
    relevantItems += set.size;
  }
  return {
    userIds: Int32Array.from(kept),
    relevant,
    testUsers: ids.length,
    skippedNoRelevant: ids.length - kept.length,
    relevantItems,
  };
}

/**
 * Scores every prepared user's list. Only the first max(K) entries count; a list shorter than K still
 * divides precision by K. A movie repeated in a list counts once.
 *
 * - precision@K = hits in top K / K; recall@K = hits in top K / |relevant|
 * - ndcg@K = sum over hits at rank r <= K of 1/log2(r+1), divided by the same sum over ranks 1..min(K, |relevant|)
 * - hit_rate@K = 1 if any hit in top K; mrr@K = 1/rank of the first hit if that rank <= K, else 0
 */
export function scoreUsers(
  prepared: PreparedTest,
  lists: RecommendationLists,
  ks: readonly number[],
): UserScores {
  const cuts = normalizeKs(ks);
  const nK = cuts.length;
  const maxK = cuts[nK - 1];
  const names = perUserMetricNames(cuts);
  const width = names.length;
  const nUsers = prepared.userIds.length;
  const values = new Float64Array(nUsers * width);
  const known = new Uint8Array(nUsers);
  const discount = new Float64Array(maxK);
  const idealPrefix = new Float64Array(maxK + 1);
  for (let p = 0; p < maxK; p++) {
    discount[p] = 1 / Math.log2(p + 2);
    idealPrefix[p + 1] = idealPrefix[p] + discount[p];
  }
  const hitItems: number[] = [];
  const col = (family: number, k: number): number => family * nK + k;
  let knownCount = 0;

  for (let u = 0; u < nUsers; u++) {
    const list = lists.get(prepared.userIds[u]);
    if (list === undefined) continue;
    known[u] = 1;
    knownCount++;
    const relevant = prepared.relevant[u];
    const row = u * width;
    const len = Math.min(list.length, maxK);
    let hits = 0;
    let dcg = 0;
    let first = -1;
    let ki = 0;
    hitItems.length = 0;
    const record = (): void => {
      const k = cuts[ki];
      const ideal = idealPrefix[Math.min(k, relevant.size)];
      values[row + col(0, ki)] = hits / k;
      values[row + col(1, ki)] = hits / relevant.size;
      values[row + col(2, ki)] = dcg / ideal;
      values[row + col(3, ki)] = hits > 0 ? 1 : 0;
      values[row + col(4, ki)] = first >= 0 && first < k ? 1 / (first + 1) : 0;
    };
    for (let p = 0; p < len; p++) {
      const item = list[p];
      if (relevant.has(item) && !hitItems.includes(item)) {
        hitItems.push(item);
        hits++;
        dcg += discount[p];
        if (first < 0) first = p;
      }
      while (ki < nK && cuts[ki] === p + 1) {
        record();
        ki++;
      }
    }
    while (ki < nK) {
      record();
      ki++;
    }
  }
  return { ks: cuts, names, known, knownCount, values };
}

/**
 * Means of the per-user metrics over the known users (restricted to `mask` when given), plus `mrr`
 * (= mrr@max K, Personalize's mean_reciprocal_rank_at_25 with the default cut-offs). Empty when no user
 * qualifies: a metric with no users has no value.
 */
export function meanMetrics(scores: UserScores, mask?: Uint8Array): { metrics: MetricMap; nUsers: number } {
  const width = scores.names.length;
  const sums = new Float64Array(width);
  let count = 0;
  for (let u = 0; u < scores.known.length; u++) {
    if (!scores.known[u] || (mask && !mask[u])) continue;
    count++;
    const row = u * width;
    for (let m = 0; m < width; m++) sums[m] += scores.values[row + m];
  }
  const metrics: MetricMap = {};
  if (count === 0) return { metrics, nUsers: 0 };
  for (let m = 0; m < width; m++) metrics[scores.names[m]] = sums[m] / count;
  metrics.mrr = metrics[`mrr@${scores.ks[scores.ks.length - 1]}`];
  return { metrics, nUsers: count };
}

/**
 * Catalog coverage: distinct movies in the top max(K) of the known (and masked) users' lists divided by
 * `catalogSize`, as Personalize's `coverage`.
 */
export function catalogCoverage(
  prepared: PreparedTest,
  lists: RecommendationLists,
  maxK: number,
  catalogSize: number,
  mask?: Uint8Array,
): number {
  if (!(catalogSize > 0)) throw new EvaluationInputError(`catalogSize must be positive, got ${catalogSize}`);
  const distinct = new Set<number>();
  for (let u = 0; u < prepared.userIds.length; u++) {
    if (mask && !mask[u]) continue;
    const list = lists.get(prepared.userIds[u]);
    if (list === undefined) continue;
    const len = Math.min(list.length, maxK);
    for (let p = 0; p < len; p++) distinct.add(list[p]);
  }
  return distinct.size / catalogSize;
}

/** Scores one model: means over the users it knows, coverage, and its cold-start count. */
export function evaluateLists(
  prepared: PreparedTest,
  lists: RecommendationLists,
  opts: { ks: readonly number[]; catalogSize: number },
): ModelMetrics {
  const scores = scoreUsers(prepared, lists, opts.ks);
  const { metrics, nUsers } = meanMetrics(scores);
  metrics.coverage = catalogCoverage(prepared, lists, scores.ks[scores.ks.length - 1], opts.catalogSize);
  const evaluated = prepared.userIds.length;
  const unknownUsers = evaluated - nUsers;
  return { metrics, nUsers, unknownUsers, unknownShare: evaluated ? unknownUsers / evaluated : 0, scores };
}
