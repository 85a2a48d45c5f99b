import fc from 'fast-check';
import {
  buildKnnIndex,
  KnnSearchError,
  knnSearch,
  type KnnIndex,
  type KnnMetric,
} from '../../../functions/core/knn/search';
import { Rng } from '../../../functions/core/random';

/** The obvious O(n log n) reference: score every row directly, sort by (best, smaller row). */
function naive(index: KnnIndex, queries: Float32Array, nQueries: number, k: number) {
  const { dim, count, metric, vectors } = index;
  const out: Array<{ rows: number[]; distances: number[] }> = [];
  for (let q = 0; q < nQueries; q++) {
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
    const top = scored.slice(0, Math.min(k, count));
    out.push({ rows: top.map((e) => e.r), distances: top.map((e) => e.s) });
  }
  return out;
}

function randomIndex(rng: Rng, count: number, dim: number, metric: KnnMetric): KnnIndex {
  const vectors = Float32Array.from({ length: count * dim }, () => rng.normal());
  const labels = Float32Array.from({ length: count }, (_, i) => 1000 + i);
  return buildKnnIndex(vectors, labels, dim, metric);
}

describe('knnSearch', () => {
  it.each(['INNER_PRODUCT', 'L2'] as const)(
    'returns the exact neighbours best first on seeded random data (%s)',
    (metric) => {
      // GIVEN 700 rows (two row blocks and a remainder) and 11 queries (two 4-query groups and 3 more)
      const rng = new Rng(metric === 'L2' ? 1 : 2);
      const index = randomIndex(rng, 700, 13, metric);
      const queries = Float32Array.from({ length: 11 * 13 }, () => rng.normal());
      // WHEN
      const result = knnSearch(index, queries, 11, 25);
      // THEN rows, labels and distances equal the reference, best first
      const expected = naive(index, queries, 11, 25);
      expect(result.k).toBe(25);
      expect(result.metric).toBe(metric);
      for (let q = 0; q < 11; q++) {
        const rows = Array.from(result.rows.subarray(q * 25, (q + 1) * 25));
        expect(rows).toEqual(expected[q].rows);
        expect(Array.from(result.labels.subarray(q * 25, (q + 1) * 25))).toEqual(rows.map((r) => 1000 + r));
        result.distances.subarray(q * 25, (q + 1) * 25).forEach((d, i) => {
          const e = expected[q].distances[i];
          expect(Math.abs(d - e)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(e)));
        });
      }
    },
  );

  it('matches the reference on arbitrary small inputs, ties included (property)', () => {
    // Small integers make exact ties common; every score is then exact in double precision.
    const input = fc
      .record({
        dim: fc.integer({ min: 1, max: 6 }),
        count: fc.integer({ min: 1, max: 40 }),
        nQueries: fc.integer({ min: 0, max: 9 }),
        k: fc.integer({ min: 1, max: 50 }),
        metric: fc.constantFrom<KnnMetric>('INNER_PRODUCT', 'L2'),
        seed: fc.integer(),
      })
      .map((p) => {
        const rng = new Rng(p.seed);
        const value = (): number => rng.int(5) - 2;
        return {
          ...p,
          vectors: Float32Array.from({ length: p.count * p.dim }, value),
          queries: Float32Array.from({ length: p.nQueries * p.dim }, value),
        };
      });
    fc.assert(
      fc.property(input, ({ dim, count, nQueries, k, metric, vectors, queries }) => {
        const index = buildKnnIndex(
          vectors,
          Float32Array.from({ length: count }, (_, i) => i),
          dim,
          metric,
        );
        const result = knnSearch(index, queries, nQueries, k);
        const expected = naive(index, queries, nQueries, k);
        const kk = Math.min(k, count);
        expect(result.k).toBe(kk);
        expect(result.rows.length).toBe(nQueries * kk);
        for (let q = 0; q < nQueries; q++) {
          expect(Array.from(result.rows.subarray(q * kk, (q + 1) * kk))).toEqual(expected[q].rows);
          expect(Array.from(result.distances.subarray(q * kk, (q + 1) * kk))).toEqual(expected[q].distances);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('breaks ties by the smaller row, whatever the query batch', () => {
    // GIVEN rows 0..9 where rows 2, 5 and 8 are identical and the best match of the query
    const dim = 3;
    const vectors = new Float32Array(10 * dim);
    for (let r = 0; r < 10; r++) vectors.set([r / 10, 0, 0], r * dim);
    for (const r of [8, 5, 2]) vectors.set([0, 1, 1], r * dim);
    const labels = Float32Array.from({ length: 10 }, (_, i) => i + 1);
    const query = Float32Array.from([0, 1, 1]);
    for (const metric of ['INNER_PRODUCT', 'L2'] as const) {
      const index = buildKnnIndex(vectors, labels, dim, metric);
      // WHEN searched alone and as the 3rd of 6 queries (a 4-query tile)
      const alone = knnSearch(index, query, 1, 4);
      const batch = new Float32Array(6 * dim);
      batch.set(query, 2 * dim);
      const inBatch = knnSearch(index, batch, 6, 4);
      // THEN the tied rows come in row order, identically in both cases
      expect(Array.from(alone.rows.subarray(0, 3))).toEqual([2, 5, 8]);
      expect(Array.from(inBatch.rows.subarray(8, 12))).toEqual(Array.from(alone.rows));
      expect(Array.from(inBatch.distances.subarray(8, 12))).toEqual(Array.from(alone.distances));
    }
  });

  it('reports inner products largest first and squared L2 distances smallest first', () => {
    const vectors = Float32Array.from([1, 0, 0, 2, 3, 4]);
    const labels = Float32Array.from([10, 20, 30]);
    const ip = knnSearch(buildKnnIndex(vectors, labels, 2, 'INNER_PRODUCT'), Float32Array.from([1, 1]), 1, 3);
    expect(Array.from(ip.labels)).toEqual([30, 20, 10]);
    expect(Array.from(ip.distances)).toEqual([7, 2, 1]);
    const l2 = knnSearch(buildKnnIndex(vectors, labels, 2, 'L2'), Float32Array.from([1, 1]), 1, 3);
    expect(Array.from(l2.labels)).toEqual([10, 20, 30]);
    expect(Array.from(l2.distances)).toEqual([1, 2, 13]);
  });

  it('returns every row when k exceeds the index, and nothing for an empty index', () => {
    const index = randomIndex(new Rng(3), 5, 4, 'L2');
    const result = knnSearch(index, new Float32Array(8), 2, 100);
    expect(result.k).toBe(5);
    expect(result.labels.length).toBe(10);
    expect(new Set(result.rows.subarray(0, 5)).size).toBe(5);
    const empty = buildKnnIndex(new Float32Array(0), new Float32Array(0), 4, 'INNER_PRODUCT');
    const none = knnSearch(empty, new Float32Array(4), 1, 3);
    expect(none.k).toBe(0);
    expect(none.labels.length).toBe(0);
  });

  it('gives the same L2 answer after the row norms are cached', () => {
    const rng = new Rng(4);
    const index = randomIndex(rng, 50, 5, 'L2');
    const queries = Float32Array.from({ length: 15 }, () => rng.normal());
    const first = knnSearch(index, queries, 3, 7);
    const second = knnSearch(index, queries, 3, 7);
    expect(Array.from(second.rows)).toEqual(Array.from(first.rows));
    expect(Array.from(second.distances)).toEqual(Array.from(first.distances));
  });

  it('rejects malformed indexes and queries with KnnSearchError', () => {
    const labels = new Float32Array(2);
    expect(() => buildKnnIndex(new Float32Array(5), labels, 2, 'L2')).toThrow(/not a whole number of 2-dim/);
    expect(() => buildKnnIndex(new Float32Array(4), new Float32Array(3), 2, 'L2')).toThrow(/3 labels for 2/);
    expect(() => buildKnnIndex(new Float32Array(4), labels, 0, 'L2')).toThrow(
      /dim must be a positive integer/,
    );
    expect(() => buildKnnIndex(new Float32Array(4), labels, 2, 'COSINE' as KnnMetric)).toThrow(
      /unsupported metric/,
    );
    expect(() => buildKnnIndex(Float32Array.from([0, 1, NaN, 2]), labels, 2, 'L2')).toThrow(
      /non-finite value \(NaN\) at row 1, column 0/,
    );
    const index = buildKnnIndex(new Float32Array(4), labels, 2, 'L2');
    expect(() => knnSearch(index, new Float32Array(3), 1, 1)).toThrow(
      /3 query values for 1 queries of dim 2/,
    );
    expect(() => knnSearch(index, new Float32Array(2), 1, 0)).toThrow(/k must be a positive integer/);
    expect(() => knnSearch(index, new Float32Array(2), 1, 1.5)).toThrow(KnnSearchError);
    expect(() => knnSearch(index, Float32Array.from([1, Infinity]), 1, 1)).toThrow(
      /queries hold a non-finite/,
    );
  });
});
