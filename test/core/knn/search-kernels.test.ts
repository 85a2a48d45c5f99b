/**
 * The wasm search paths of knnSearch against a brute-force scan: shapes that cross every tile, group,
 * block and chunk edge (dims not a multiple of the tile, 1 to 130 queries, blocks of 512 rows), ties
 * across groups and blocks, and inputs built to defeat the float32 filter (rounding, overflow).
 */
import { buildKnnIndex, knnSearch, type KnnIndex, type KnnMetric } from '../../../functions/core/knn/search';
import { Rng } from '../../../functions/core/random';

/** Every row scored in double (d ascending), sorted best first then by row; the first k. */
function bruteForce(index: KnnIndex, queries: Float32Array, nQueries: number, k: number) {
  const { dim, count, metric, vectors } = index;
  return Array.from({ length: nQueries }, (_, q) => {
    const scored = Array.from({ length: count }, (_, r) => {
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const a = queries[q * dim + d];
        const b = vectors[r * dim + d];
        s += metric === 'L2' ? (a - b) * (a - b) : a * b;
      }
      return { r, s };
    });
    scored.sort((x, y) => (metric === 'L2' ? x.s - y.s : y.s - x.s) || x.r - y.r);
    return scored.slice(0, Math.min(k, count));
  });
}

function expectBruteForce(index: KnnIndex, queries: Float32Array, nQueries: number, k: number): void {
  const result = knnSearch(index, queries, nQueries, k);
  const expected = bruteForce(index, queries, nQueries, k);
  const kk = Math.min(k, index.count);
  expect(result.k).toBe(kk);
  for (let q = 0; q < nQueries; q++) {
    const rows = Array.from(result.rows.subarray(q * kk, (q + 1) * kk));
    const distances = Array.from(result.distances.subarray(q * kk, (q + 1) * kk));
    expect(rows).toEqual(expected[q].map((e) => e.r));
    if (index.metric === 'INNER_PRODUCT') {
      // Exact: the same double sums as the brute force, rounded once to float32.
      expect(distances).toEqual(expected[q].map((e) => Math.fround(e.s)));
    } else {
      distances.forEach((d, i) => {
        const e = expected[q][i].s;
        expect(Math.abs(d - e)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(e)));
      });
    }
  }
}

/** Seeded rows with every `dupEvery`-th row a copy of an earlier one (ties), and seeded queries. */
function data(seed: number, count: number, dim: number, nQueries: number, metric: KnnMetric, dupEvery = 7) {
  const rng = new Rng(seed);
  const vectors = Float32Array.from({ length: count * dim }, () => rng.normal());
  for (let r = dupEvery; r < count; r += dupEvery) {
    const from = rng.int(r);
    vectors.copyWithin(r * dim, from * dim, (from + 1) * dim);
  }
  const labels = Float32Array.from({ length: count }, (_, i) => i);
  const queries = Float32Array.from({ length: nQueries * dim }, () => rng.normal());
  return { index: buildKnnIndex(vectors, labels, dim, metric), queries };
}

describe('knnSearch wasm kernels vs brute force', () => {
  it.each([
    // [count, dim, nQueries, k]
    [1, 1, 1, 1],
    [9, 3, 1, 4],
    [1100, 13, 1, 100],
    [1100, 13, 5, 7],
    [1100, 65, 70, 1],
    [1100, 64, 130, 100],
    [520, 7, 67, 600],
  ])('matches on %i rows × %i dims, %i queries, k=%i (both metrics)', (count, dim, nQueries, k) => {
    for (const metric of ['INNER_PRODUCT', 'L2'] as const) {
      const { index, queries } = data(count * 31 + dim, count, dim, nQueries, metric);
      expectBruteForce(index, queries, nQueries, k);
    }
  });

  it('breaks exact ties by the smaller row across groups, blocks and query chunks', () => {
    // GIVEN the best row duplicated at rows 3, 9 (same group of 8), 515 (next block) and 1099
    const dim = 5;
    const { index, queries } = data(5, 1100, dim, 70, 'INNER_PRODUCT', 1_000_000);
    const best = Float32Array.from([3, 3, 3, 3, 3]);
    for (const r of [3, 9, 515, 1099]) index.vectors.set(best, r * dim);
    for (let q = 0; q < 70; q++) queries.set([1, 1, 1, 1, 1], q * dim);
    // WHEN every query is the same (tiles, chunks 0 and 1)
    const result = knnSearch(index, queries, 70, 6);
    // THEN each lists the four copies in row order first
    for (let q = 0; q < 70; q++)
      expect(Array.from(result.rows.subarray(q * 6, q * 6 + 4))).toEqual([3, 9, 515, 1099]);
    expectBruteForce(index, queries, 70, 6);
  });

  it('ranks by the exact score where float32 sums cannot tell rows apart', () => {
    // GIVEN rows (1e6, δ_r, −1e6): in float32, 1e6 + δ_r rounds to a multiple of 1/16, so the float32
    // scores tie or misorder; the exact scores are δ_r
    const count = 300;
    const vectors = new Float32Array(count * 3);
    const rng = new Rng(9);
    for (let r = 0; r < count; r++) vectors.set([1e6, rng.int(1000) / 997, -1e6], r * 3);
    const index = buildKnnIndex(
      vectors,
      Float32Array.from({ length: count }, (_, i) => i),
      3,
      'INNER_PRODUCT',
    );
    // WHEN / THEN the top rows follow δ_r (ties by row) exactly
    for (const k of [1, 10, 50]) expectBruteForce(index, Float32Array.from([1, 1, 1, 1, 1, 1]), 2, k);
  });

  it('falls back to the exact kernel where float32 sums could overflow', () => {
    // GIVEN products that overflow float32 (1e20 · 1e20) but not double
    const vectors = Float32Array.from([1e20, -1e20, 1, 0, 2e20, 0, 0, 1e-20]);
    const index = buildKnnIndex(vectors, Float32Array.from([0, 1, 2, 3]), 2, 'INNER_PRODUCT');
    const queries = Float32Array.from([1e20, 1e20, -1e20, 1e20]);
    // THEN the order is the exact one (row 2 = 2e40 first; row 0 = 0 exactly, not NaN)
    const result = knnSearch(index, queries, 2, 4);
    expect(Array.from(result.rows.subarray(0, 4))).toEqual([2, 1, 3, 0]);
    expect(result.distances[3]).toBe(0);
    expectBruteForce(index, queries, 2, 4);
  });

  it('serves one vectors array as an inner-product and an L2 index, searched alternately', () => {
    const { index, queries } = data(12, 700, 9, 6, 'INNER_PRODUCT');
    const l2 = buildKnnIndex(index.vectors, index.labels, index.dim, 'L2');
    for (let round = 0; round < 2; round++) {
      expectBruteForce(index, queries, 6, 20);
      expectBruteForce(l2, queries, 6, 20);
    }
  });
});
