import { buildKnnIndex, knnSearch } from '../../functions/core/knn';
import { Rng } from '../../functions/core/random';
import type { FmModel } from '../../functions/core/types';
import { buildKnnVectors, KnnVectorsError } from '../../functions/core/vectors';

const USER_IDS = Int32Array.of(3, 8, 9, 20, 41, 42, 77);
const MOVIE_IDS = Int32Array.of(1, 2, 5, 10, 11, 50, 99, 100, 256, 1000, 193609);
const N_USERS = USER_IDS.length;
const N_MOVIES = MOVIE_IDS.length;
const K = 4;

function randomModel(seed: number, featureDim = N_USERS + N_MOVIES): FmModel {
  const rng = new Rng(seed);
  return {
    featureDim,
    numFactors: K,
    w0: Math.fround(rng.normal()),
    w1: Float32Array.from({ length: featureDim }, () => rng.normal()),
    v: Float32Array.from({ length: featureDim * K }, () => rng.normal()),
  };
}

/** FM logit of the one-hot pair (user u, movie m) by the textbook formula: w0 + w_u + w_m + ⟨v_u, v_m⟩. */
function pairLogit(model: FmModel, u: number, m: number): number {
  const mf = N_USERS + m;
  let dot = 0;
  for (let f = 0; f < K; f++) dot += model.v[u * K + f] * model.v[mf * K + f];
  return model.w0 + model.w1[u] + model.w1[mf] + dot;
}

function innerProduct(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

describe('buildKnnVectors', () => {
  const model = randomModel(42);
  const vectors = buildKnnVectors(model, { ids: USER_IDS }, { ids: MOVIE_IDS });
  const dim = K + 1;
  const userRow = (u: number) => vectors.userVectors.subarray(u * dim, (u + 1) * dim);
  const itemRow = (m: number) => vectors.itemVectors.subarray(m * dim, (m + 1) * dim);

  it('lays out [v_user, 1] and [v_movie, w1_movie] with movie ids as labels', () => {
    expect(vectors.dim).toBe(K + 1);
    expect(Array.from(vectors.userIds)).toEqual(Array.from(USER_IDS));
    expect(Array.from(vectors.itemLabels)).toEqual(Array.from(MOVIE_IDS));
    expect(vectors.userVectors).toHaveLength(N_USERS * dim);
    expect(vectors.itemVectors).toHaveLength(N_MOVIES * dim);
    expect(Array.from(userRow(2))).toEqual([...Array.from(model.v.subarray(2 * K, 3 * K)), 1]);
    const feature = N_USERS + 5;
    expect(Array.from(itemRow(5))).toEqual([
      ...Array.from(model.v.subarray(feature * K, (feature + 1) * K)),
      model.w1[feature],
    ]);
  });

  it('gives ⟨user, movie⟩ = FM logit of the pair − (w0 + w1_user) for every pair', () => {
    for (let u = 0; u < N_USERS; u++) {
      for (let m = 0; m < N_MOVIES; m++) {
        const expected = pairLogit(model, u, m) - (model.w0 + model.w1[u]);
        expect(innerProduct(userRow(u), itemRow(m))).toBeCloseTo(expected, 10);
      }
    }
  });

  it("ranks each user's movies exactly as the FM score does", () => {
    for (let u = 0; u < N_USERS; u++) {
      const movies = Array.from({ length: N_MOVIES }, (_, m) => m);
      const byInnerProduct = [...movies].sort(
        (a, b) => innerProduct(userRow(u), itemRow(b)) - innerProduct(userRow(u), itemRow(a)),
      );
      const byFmScore = [...movies].sort((a, b) => pairLogit(model, u, b) - pairLogit(model, u, a));
      expect(byInnerProduct).toEqual(byFmScore);
    }
  });

  it('lets inner-product k-NN over the movie vectors return the FM top-N', () => {
    const index = buildKnnIndex(vectors.itemVectors, vectors.itemLabels, vectors.dim, 'INNER_PRODUCT');
    const result = knnSearch(index, vectors.userVectors, USER_IDS.length, 5);
    USER_IDS.forEach((_, u) => {
      const expected = Array.from(MOVIE_IDS.keys())
        .sort((a, b) => pairLogit(model, u, b) - pairLogit(model, u, a))
        .slice(0, 5)
        .map((m) => MOVIE_IDS[m]);
      expect(Array.from(result.labels.subarray(u * 5, (u + 1) * 5))).toEqual(expected);
    });
  });

  it('fails when the model was not trained on this users + movies layout', () => {
    expect(() =>
      buildKnnVectors(randomModel(1, N_USERS + N_MOVIES + 1), { ids: USER_IDS }, { ids: MOVIE_IDS }),
    ).toThrow(/model featureDim 19 != 7 users \+ 11 movies/);
    const broken = { ...model, v: new Float32Array(3) };
    expect(() => buildKnnVectors(broken, { ids: USER_IDS }, { ids: MOVIE_IDS })).toThrow(KnnVectorsError);
  });

  it('fails on a movie id that float32 labels cannot hold exactly', () => {
    const ids = MOVIE_IDS.slice();
    ids[4] = 2 ** 24 + 1;
    expect(() => buildKnnVectors(model, { ids: USER_IDS }, { ids })).toThrow(
      /movie id 16777217 is not exact in float32/,
    );
  });
});
