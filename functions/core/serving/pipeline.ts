/**
 * One model version's serial inference pipeline run in-process: pre → built-in k-NN (the core's exact
 * search with the built-in's request/response formats) → post. The endpoint runs the same three steps
 * in three containers; the core path, the benchmarks and the tests run them here, so what they measure
 * is what the endpoint serves (k-NN depth, seen-movie filtering, backfill and all).
 */
import { SERVING_CONTENT_TYPES, type ServedRecommendation } from '../../contracts';
import { formatKnnResponse, knnSearch, parseKnnRequest, type KnnIndex } from '../knn';
import type { ServingBundle } from './bundle';
import { postprocess, preprocess } from './prepost';

/** Users per pipeline request when serving many (a batch transform mini-batch). */
const USERS_PER_REQUEST = 500;

/** The k-NN container's Accept in the pipeline: the documented verbose JSON (docs/architecture.md). */
const KNN_ACCEPT = SERVING_CONTENT_TYPES.accept;

/** Runs one request through the pipeline; returns post's JSON lines. */
export function invokeServingPipeline(
  bundle: ServingBundle,
  index: KnnIndex,
  body: string,
  contentType: string,
): string {
  const pre = preprocess(bundle, body, contentType);
  const request = parseKnnRequest(pre.body, pre.contentType, index.dim);
  const result = knnSearch(index, request.vectors, request.count, bundle.manifest.k);
  const knn = formatKnnResponse(result, KNN_ACCEPT, 'classifier');
  return postprocess(bundle, knn.body, knn.contentType).body;
}

/** Serves every user in `userIds` (in chunks, like a batch transform) and returns the answers in order. */
export function serveUsers(
  bundle: ServingBundle,
  index: KnnIndex,
  userIds: ArrayLike<number>,
): ServedRecommendation[] {
  const answers: ServedRecommendation[] = [];
  for (let start = 0; start < userIds.length; start += USERS_PER_REQUEST) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(userIds.length, start + USERS_PER_REQUEST); i++) {
      lines.push(`{"user_id":${userIds[i]}}`);
    }
    const out = invokeServingPipeline(bundle, index, lines.join('\n'), 'application/jsonlines');
    for (const line of out.split('\n')) if (line) answers.push(JSON.parse(line) as ServedRecommendation);
  }
  return answers;
}
