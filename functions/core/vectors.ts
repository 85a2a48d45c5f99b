/**
 * FM model → user and movie vectors for the built-in k-NN with `INNER_PRODUCT` (the workshop's
 * embedding trick, see docs/architecture.md "Vectors"):
 *
 * - movie vector = `[v_movie (K), w1_movie]`
 * - user vector  = `[v_user (K), 1]`
 *
 * so `⟨user, movie⟩ = ⟨v_user, v_movie⟩ + w1_movie`, which is the FM logit of the one-hot pair
 * (user, movie) minus `w0 + w1_user`, a constant for the user: ranking a user's movies by inner product
 * is ranking them by FM score, and k-NN can serve the model exactly.
 */
import type { FmModel } from './types';

/** User and movie vectors (row-major, `dim` floats per row) in the one-hot layout's order. */
export interface ScoringVectors {
  readonly userIds: Int32Array;
  readonly userVectors: Float32Array;
  /** Movie id per item row. */
  readonly itemLabels: Float32Array;
  readonly itemVectors: Float32Array;
  readonly dim: number;
}

/** Thrown when the model does not match the user/movie one-hot layout it is said to encode. */
export class KnnVectorsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KnnVectorsError';
  }
}

/** Largest integer every float32 holds exactly: k-NN returns labels as floats. */
const FLOAT32_EXACT_INT = 2 ** 24;

/**
 * Builds the k-NN vectors (dimension K + 1) of every user and movie of the one-hot layout: feature
 * `i < users.ids.length` is user `users.ids[i]`, feature `users.ids.length + j` is movie
 * `movies.ids[j]`. `itemLabels` are the movie ids as float32 (what k-NN is trained with and answers),
 * `userIds` a copy of `users.ids`. O((users + movies) · K), typed arrays only.
 *
 * @throws KnnVectorsError when `featureDim != users + movies`, the model's arrays do not match its
 *   dimensions, or a movie id is not exact in float32.
 */
export function buildKnnVectors(
  model: FmModel,
  users: { readonly ids: Int32Array },
  movies: { readonly ids: Int32Array },
): ScoringVectors {
  const { featureDim, numFactors: k, w1, v } = model;
  const nUsers = users.ids.length;
  const nMovies = movies.ids.length;
  if (featureDim !== nUsers + nMovies) {
    throw new KnnVectorsError(
      `model featureDim ${featureDim} != ${nUsers} users + ${nMovies} movies: the model was not trained ` +
        `on this one-hot layout`,
    );
  }
  if (!Number.isSafeInteger(k) || k <= 0 || w1.length !== featureDim || v.length !== featureDim * k) {
    throw new KnnVectorsError(
      `model arrays do not match its dimensions: w1 ${w1.length}, v ${v.length}, ` +
        `featureDim ${featureDim}, numFactors ${k}`,
    );
  }
  const dim = k + 1;

  const userVectors = new Float32Array(nUsers * dim);
  for (let u = 0; u < nUsers; u++) {
    userVectors.set(v.subarray(u * k, (u + 1) * k), u * dim);
    userVectors[u * dim + k] = 1;
  }

  const itemVectors = new Float32Array(nMovies * dim);
  const itemLabels = new Float32Array(nMovies);
  for (let j = 0; j < nMovies; j++) {
    const feature = nUsers + j;
    itemVectors.set(v.subarray(feature * k, (feature + 1) * k), j * dim);
    itemVectors[j * dim + k] = w1[feature];
    const id = movies.ids[j];
    if (Math.abs(id) > FLOAT32_EXACT_INT) {
      throw new KnnVectorsError(`movie id ${id} is not exact in float32 (k-NN labels are float32)`);
    }
    itemLabels[j] = id;
  }

  return { userIds: users.ids.slice(), userVectors, itemLabels, itemVectors, dim };
}
