import { SERVING_CONTENT_TYPES } from '../../../functions/contracts';
import {
  buildKnnIndex,
  formatKnnResponse,
  knnSearch,
  parseKnnRequest,
  type KnnIndex,
} from '../../../functions/core/knn';
import { buildServingBundle, type ServingBundle } from '../../../functions/core/serving/bundle';
import { appendTagRows, TAG_BITS } from '../../../functions/core/serving/user-tags';

/**
 * A 3-user, 6-movie version with hand-picked 2-factor vectors (+ the constant 1 / linear weight):
 * user 3 likes movies 10 > 20 > 30 ..., user 7 the reverse; user 42 rated every movie but one.
 */
export function smallVersion(topN = 3): {
  bundle: ServingBundle;
  knn: (body: string, contentType: string) => string;
  /** The version's k-NN index (movie rows + tag rows), for a k-NN container of its own. */
  index: KnnIndex;
} {
  const factorDim = 3;
  const userVectors = Float32Array.from([1, 0, 1, -1, 0, 1, 0, 1, 1]);
  const movieIds = [10, 20, 30, 40, 50, 60];
  // movie j: [6 - j, 0, 0.01 * j] so user 3 ranks 10 first, user 7 ranks 60 first.
  const movieVectors = Float32Array.from(movieIds.flatMap((_, j) => [6 - j, j % 2, 0.01 * j]));
  const bundle = buildServingBundle({
    modelVersion: 'run-7',
    userIds: Int32Array.from([3, 7, 42]),
    userVectors,
    factorDim,
    movies: movieIds.length,
    seen: (u) => [[20], [60, 50], [10, 20, 30, 40, 50]][u],
    popular: Int32Array.from([30, 10, 20, 40, 50, 60]),
    k: 100,
    topN,
  });
  const tagged = appendTagRows(movieVectors, Float32Array.from(movieIds), factorDim, TAG_BITS);
  const index = buildKnnIndex(tagged.vectors, tagged.labels, tagged.dim, 'INNER_PRODUCT');
  // The built-in k-NN step: its request parsing, exact search, documented verbose JSON answer.
  const knn = (body: string, contentType: string): string => {
    const request = parseKnnRequest(body, contentType, index.dim);
    const result = knnSearch(index, request.vectors, request.count, 100);
    return formatKnnResponse(result, SERVING_CONTENT_TYPES.accept, 'classifier').body;
  };
  return { bundle, knn, index };
}
