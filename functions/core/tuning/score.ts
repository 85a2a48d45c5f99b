/**
 * Scoring one trial: the trial's FM model, served exactly as production serves a model (its k-NN
 * vectors, functions/core/vectors.ts, searched by inner product, functions/core/knn/search.ts), asked
 * for each validation user's top k movies minus the ones the user rated in the fit set, and measured by
 * NDCG@k against the validation ratings with the evaluation's own metric code. So the number a trial is
 * ranked by is the number the held-out evaluation will report, on different ratings.
 */
import { evaluateLists, prepareTestSet, type TestUser } from '../evaluate/metrics';
import type { RecommendationLists } from '../evaluate/recommend';
import { buildKnnIndex, knnSearch } from '../knn';
import type { FmModel, Ratings } from '../types';
import { buildKnnVectors } from '../vectors';

/** A trial's validation NDCG@k and what it was measured on. */
export interface TrialScore {
  readonly ndcg: number;
  /** Validation users with at least one relevant movie (the NDCG's denominator). */
  readonly users: number;
  /** Share of the catalogue in the validation users' top k lists. */
  readonly coverage: number;
}

export interface ScoreOptions {
  readonly k: number;
  /** As the evaluation's: validation ratings at or above it are relevant. @default - all of them */
  readonly relevanceMinRating?: number;
}

/** Queries searched at once: bounds the heaps to QUERY_BLOCK × (k + seen) entries. */
const QUERY_BLOCK = 256;

/**
 * NDCG@k of `model` (trained on `fit`, in the one-hot layout of `ratings`' users then movies) on the
 * `validation` positions.
 */
export function scoreTrialModel(
  model: FmModel,
  ratings: Ratings,
  fit: Uint32Array,
  validation: Uint32Array,
  options: ScoreOptions,
): TrialScore {
  const vectors = buildKnnVectors(model, ratings.users, ratings.movies);
  const index = buildKnnIndex(vectors.itemVectors, vectors.itemLabels, vectors.dim, 'INNER_PRODUCT');
  const seen = moviesByUser(ratings, fit);
  const heldOut = moviesByUser(ratings, validation);

  const test = new Map<number, TestUser>();
  for (const [u, positions] of heldOut) {
    test.set(ratings.users.ids[u], {
      movieIds: positions.map((p) => ratings.movies.ids[ratings.movie[p]]),
      ratings: positions.map((p) => ratings.rating[p]),
    });
  }
  const users = [...heldOut.keys()];
  const lists: RecommendationLists = new Map();
  const { dim } = vectors;
  for (let start = 0; start < users.length; start += QUERY_BLOCK) {
    const block = users.slice(start, start + QUERY_BLOCK);
    const queries = new Float32Array(block.length * dim);
    let most = 0;
    block.forEach((u, q) => {
      queries.set(vectors.userVectors.subarray(u * dim, (u + 1) * dim), q * dim);
      most = Math.max(most, seen.get(u)?.length ?? 0);
    });
    const found = knnSearch(index, queries, block.length, options.k + most);
    block.forEach((u, q) => {
      const exclude = new Set((seen.get(u) ?? []).map((p) => ratings.movies.ids[ratings.movie[p]]));
      const list: number[] = [];
      for (let i = 0; i < found.k && list.length < options.k; i++) {
        const movieId = found.labels[q * found.k + i];
        if (!exclude.has(movieId)) list.push(movieId);
      }
      lists.set(ratings.users.ids[u], list);
    });
  }
  const prepared = prepareTestSet(test, options.relevanceMinRating);
  const { metrics } = evaluateLists(prepared, lists, { ks: [options.k], catalogSize: ratings.movies.size });
  return { ndcg: metrics[`ndcg@${options.k}`], users: prepared.userIds.length, coverage: metrics.coverage };
}

/** Positions grouped by dense user index. */
function moviesByUser(ratings: Ratings, positions: Uint32Array): Map<number, number[]> {
  const byUser = new Map<number, number[]>();
  for (const p of positions) {
    const u = ratings.user[p];
    let list = byUser.get(u);
    if (!list) byUser.set(u, (list = []));
    list.push(p);
  }
  return byUser;
}
