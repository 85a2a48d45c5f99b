import {
  decileShares,
  evaluateRun,
  popularityDeciles,
  roundNumbers,
} from '../../../functions/core/evaluate/evaluation';
import { EvaluationInputError } from '../../../functions/core/evaluate/metrics';
import { syntheticEvaluation, syntheticInput } from './evaluation-fixture';

function decimals(value: unknown): number {
  if (typeof value === 'number') {
    const text = String(value);
    return text.includes('.') ? text.split('.')[1].length : 0;
  }
  if (Array.isArray(value)) return Math.max(0, ...value.map(decimals));
  if (value && typeof value === 'object') return Math.max(0, ...Object.values(value).map(decimals));
  return 0;
}

describe('evaluateRun', () => {
  it('holds every required top-level key when given a production model', () => {
    const e = syntheticEvaluation();
    expect(Object.keys(e).sort()).toEqual(
      [
        'baselines',
        'candidate',
        'coldStart',
        'comparison',
        'config',
        'counts',
        'gate',
        'meta',
        'popularityProfile',
        'production',
        'schemaVersion',
      ].sort(),
    );
    for (const map of [e.candidate, e.production!, e.baselines.popularity, e.baselines.random]) {
      expect(Object.keys(map)).toEqual(
        expect.arrayContaining(['precision@10', 'ndcg@10', 'recall@10', 'mrr', 'hit_rate@10', 'coverage']),
      );
    }
    expect(e.comparison!.metrics['ndcg@10']).toEqual(
      expect.objectContaining({ delta: expect.any(Number), ci95: [expect.any(Number), expect.any(Number)] }),
    );
    expect(e.meta.runId).toBe('run-2026-01-01');
  });

  it('counts users and cold start per model when production misses some users', () => {
    const e = syntheticEvaluation();
    expect(e.counts).toEqual({
      testUsers: 200,
      evaluatedUsers: 200,
      skippedNoRelevant: 0,
      relevantItems: e.counts.relevantItems,
      catalogSize: 100,
      catalogMovies: 100,
      testOnlyMovies: 0,
      maxK: 25,
      candidateUsers: 200,
      productionUsers: 180,
      commonUsers: 180,
    });
    expect(e.coldStart.production).toEqual({ unknownUsers: 20, share: 0.1 });
    expect(e.coldStart.candidate).toEqual({ unknownUsers: 0, share: 0 });
    expect(e.comparison!.unknownToProduction).toEqual(
      expect.objectContaining({ count: 20, share: 0.1, candidateKnown: 20 }),
    );
  });

  it('ranks the synthetic models as built and passes the gate when the candidate is better', () => {
    const e = syntheticEvaluation();
    expect(e.candidate['ndcg@10']).toBeGreaterThan(e.production!['ndcg@10']);
    expect(e.candidate['ndcg@10']).toBeGreaterThan(e.baselines.popularity['ndcg@10']);
    expect(e.baselines.popularity['ndcg@10']).toBeGreaterThan(0);
    expect(e.comparison!.metrics['ndcg@10'].verdict).toBe('better');
    expect(e.gate.passed).toBe(true);
    expect(e.gate.reasons.some((r) => r.startsWith('beats most-popular on ndcg@10'))).toBe(true);
  });

  it('keeps numbers to at most 6 decimals and JSON-serialisable', () => {
    const e = syntheticEvaluation();
    expect(decimals(e)).toBeLessThanOrEqual(6);
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  });

  it('builds popularity-decile shares summing to 1 for every model', () => {
    const p = syntheticEvaluation().popularityProfile;
    expect(p.deciles).toHaveLength(10);
    expect(p.basis).toBe('train');
    for (const shares of [p.candidate, p.production!, p.popularity, p.random]) {
      expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    expect(p.popularity[0]).toBeGreaterThan(p.random[0]);
  });

  it('sets production and comparison to null and skips regression when there is no production model', () => {
    const e = syntheticEvaluation({ production: null });
    expect(e.production).toBeNull();
    expect(e.comparison).toBeNull();
    expect(e.coldStart.production).toBeNull();
    expect(e.popularityProfile.production).toBeNull();
    expect(e.gate.reasons).toContain('no production model yet: regression checks skipped (first deployment)');
  });

  it('is identical when run twice with the same seed', () => {
    expect(evaluateRun(syntheticInput())).toEqual(evaluateRun(syntheticInput()));
  });

  it('rejects the candidate when it is a reversed copy of production', () => {
    const input = syntheticInput();
    const reversed = new Map([...input.candidate].map(([u, l]) => [u, [...l].reverse()]));
    const e = evaluateRun({ ...input, candidate: reversed, production: input.candidate });
    expect(e.gate.passed).toBe(false);
    expect(e.gate.failures.some((r) => /^ndcg@10 .* below production .*\(allowed: 5\.0%\)/.test(r))).toBe(
      true,
    );
  });

  it('throws when the catalog size is not a positive integer', () => {
    expect(() => evaluateRun(syntheticInput({ catalogSize: 0 }))).toThrow(EvaluationInputError);
  });
});

describe('popularityDeciles', () => {
  it('puts the most popular tenth in decile 0 and unknown movies in decile 9 when ranking', () => {
    const counts = new Map(Array.from({ length: 20 }, (_, i) => [i + 1, 100 - i] as [number, number]));
    const deciles = popularityDeciles(counts, 20);
    expect(deciles.get(1)).toBe(0);
    expect(deciles.get(2)).toBe(0);
    expect(deciles.get(3)).toBe(1);
    expect(deciles.get(20)).toBe(9);
    expect(decileShares(new Map([[7, [1, 3, 999, 20]]]), Int32Array.of(7), 25, deciles)).toEqual([
      0.25, 0.25, 0, 0, 0, 0, 0, 0, 0, 0.5,
    ]);
  });
});

describe('roundNumbers', () => {
  it('rounds nested numbers to 6 decimals', () => {
    expect(roundNumbers({ a: [1 / 3, 2], b: { c: -1e-9 } })).toEqual({ a: [0.333333, 2], b: { c: 0 } });
  });
});
