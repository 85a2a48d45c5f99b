import { bootstrapMeanIntervals, compareModels, quantile } from '../../../functions/core/evaluate/compare';
import { evaluateLists, prepareTestSet } from '../../../functions/core/evaluate/metrics';
import { Rng } from '../../../functions/core/random';

/** 600 users with one relevant movie (1); the candidate ranks it first with p=0.6, production with p=0.4. */
function synthetic(seed: number) {
  const rng = new Rng(seed);
  const test = new Map<number, { movieIds: number[]; ratings?: number[] }>();
  const candidate = new Map<number, number[]>();
  const production = new Map<number, number[]>();
  for (let u = 1; u <= 600; u++) {
    test.set(u, { movieIds: [1] });
    candidate.set(u, rng.next() < 0.6 ? [1, 2, 3] : [2, 3, 4]);
    if (u <= 500) production.set(u, rng.next() < 0.4 ? [1, 5, 6] : [5, 6, 7]);
  }
  return { test, candidate, production };
}

function run(seed: number, bootstrapSeed: number) {
  const { test, candidate, production } = synthetic(seed);
  const prepared = prepareTestSet(test);
  const opts = { ks: [1, 3], catalogSize: 10 };
  return compareModels(
    prepared,
    evaluateLists(prepared, candidate, opts),
    evaluateLists(prepared, production, opts),
    candidate,
    production,
    { catalogSize: 10, bootstrapSamples: 500, rng: new Rng(bootstrapSeed) },
  );
}

describe('compareModels', () => {
  it('puts the true delta inside the 95% interval when given a synthetic case', () => {
    const cmp = run(3, 42);
    const hit = cmp.metrics['hit_rate@1'];
    const [lo, hi] = hit.ci95!;
    expect(lo).toBeLessThan(0.2);
    expect(hi).toBeGreaterThan(0.2);
    expect(lo).toBeGreaterThan(0);
    expect(hit.verdict).toBe('better');
    expect(hit.delta).toBeCloseTo(hit.candidate - hit.production, 12);
    expect(lo).toBeLessThan(hit.delta);
    expect(hi).toBeGreaterThan(hit.delta);
  });

  it('compares on the common users and reports users unknown to production apart', () => {
    const cmp = run(3, 42);
    expect(cmp.nUsers).toBe(500);
    expect(cmp.unknownToProduction.count).toBe(100);
    expect(cmp.unknownToProduction.share).toBeCloseTo(100 / 600, 12);
    expect(cmp.unknownToProduction.candidateKnown).toBe(100);
    expect(cmp.unknownToProduction.candidate['hit_rate@1']).toBeGreaterThan(0.4);
    expect(cmp.unknownToCandidate.count).toBe(0);
    expect(cmp.metrics.mrr).toEqual(cmp.metrics['mrr@3']);
    expect(cmp.metrics.coverage.ci95).toBeNull();
    expect(cmp.metrics.coverage.candidate).toBe(0.4);
    expect(cmp.metrics.coverage.production).toBe(0.4);
  });

  it('is deterministic by seed when run twice', () => {
    expect(run(3, 42)).toEqual(run(3, 42));
    expect(run(3, 43).metrics['ndcg@3'].ci95).not.toEqual(run(3, 42).metrics['ndcg@3'].ci95);
  });
});

describe('bootstrapMeanIntervals', () => {
  it('covers the population mean when given normal draws', () => {
    const rng = new Rng(11);
    const n = 2000;
    const matrix = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) {
      matrix[i * 2] = 0.05 + 0.2 * rng.normal();
      matrix[i * 2 + 1] = -1;
    }
    const { lo, hi } = bootstrapMeanIntervals(matrix, n, 2, 1000, new Rng(5));
    expect(lo[0]).toBeLessThan(0.05);
    expect(hi[0]).toBeGreaterThan(0.05);
    expect(hi[0] - lo[0]).toBeLessThan(0.03);
    expect(lo[1]).toBe(-1);
    expect(hi[1]).toBe(-1);
  });

  it('counts all-zero rows in the denominator when users score alike', () => {
    const rng = new Rng(2);
    const values = Array.from({ length: 300 }, () => 0.1 + rng.normal() * 0.1);
    const interleaved = new Float64Array(600);
    const zerosLast = new Float64Array(600);
    values.forEach((v, i) => {
      interleaved[i * 2] = v;
      zerosLast[i] = v;
    });
    const a = bootstrapMeanIntervals(interleaved, 600, 1, 400, new Rng(8));
    const b = bootstrapMeanIntervals(zerosLast, 600, 1, 400, new Rng(8));
    expect(a).toEqual(b);
    const mean = values.reduce((x, y) => x + y, 0) / 600;
    expect(a.lo[0]).toBeLessThan(mean);
    expect(a.hi[0]).toBeGreaterThan(mean);
    expect(a.hi[0]).toBeLessThan(0.07);
  });

  it('returns zero bounds when there are no rows', () => {
    const { lo, hi } = bootstrapMeanIntervals(new Float64Array(0), 0, 3, 10, new Rng(1));
    expect(Array.from(lo)).toEqual([0, 0, 0]);
    expect(Array.from(hi)).toEqual([0, 0, 0]);
  });

  it('throws when the sample count is not a positive integer', () => {
    expect(() => bootstrapMeanIntervals(new Float64Array(2), 2, 1, 0, new Rng(1))).toThrow(
      /bootstrapSamples/,
    );
  });
});

describe('quantile', () => {
  it('interpolates linearly between order statistics', () => {
    expect(quantile([0, 10, 20, 30], 0.5)).toBe(15);
    expect(quantile([0, 10, 20, 30], 0.025)).toBeCloseTo(0.75, 12);
    expect(quantile([7], 0.975)).toBe(7);
  });
});
