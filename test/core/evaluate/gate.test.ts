import { gateSchema } from '../../../functions/core/config';
import { applyGate } from '../../../functions/core/evaluate/gate';

const cfg = gateSchema.parse({});

describe('applyGate', () => {
  it('passes with a reason per check when the candidate beats popularity and production', () => {
    const result = applyGate(
      {
        candidate: { 'ndcg@10': 0.24, 'precision@10': 0.2, 'recall@10': 0.1 },
        production: { 'ndcg@10': 0.23, 'precision@10': 0.205, 'recall@10': 0.1 },
        baselines: { popularity: { 'ndcg@10': 0.18 } },
      },
      cfg,
    );
    expect(result.passed).toBe(true);
    expect(result.failures).toEqual([]);
    expect(result.reasons).toEqual([
      'ndcg@10 0.24 meets the minimum 0',
      'beats most-popular on ndcg@10: 0.24 vs 0.18',
      'ndcg@10 0.24 is 4.3% above production 0.23',
      'precision@10 0.2 is 2.4% below production 0.205, within the allowed 5.0%',
      'recall@10 0.1 equals production 0.1',
    ]);
  });

  it('fails with the numbers when a metric regresses beyond the allowed share', () => {
    const result = applyGate(
      {
        candidate: { 'ndcg@10': 0.182, 'precision@10': 0.2, 'recall@10': 0.1 },
        production: { 'ndcg@10': 0.207, 'precision@10': 0.2, 'recall@10': 0.1 },
        baselines: { popularity: { 'ndcg@10': 0.1 } },
      },
      cfg,
    );
    expect(result.passed).toBe(false);
    expect(result.failures).toEqual(['ndcg@10 0.182 is 12.1% below production 0.207 (allowed: 5.0%)']);
  });

  it('fails when the candidate does not beat most-popular or misses the floor', () => {
    const result = applyGate(
      { candidate: { 'ndcg@10': 0.15 }, production: null, baselines: { popularity: { 'ndcg@10': 0.18 } } },
      { ...cfg, minPrimary: 0.2 },
    );
    expect(result.passed).toBe(false);
    expect(result.failures).toEqual([
      'ndcg@10 0.15 is below the minimum 0.2',
      'does not beat most-popular on ndcg@10: 0.15 vs 0.18',
    ]);
    expect(result.reasons).toContain('no production model yet: regression checks skipped (first deployment)');
  });

  it('fails with a clear reason instead of throwing when a metric is missing', () => {
    const result = applyGate(
      {
        candidate: { 'ndcg@10': 0.3, 'precision@10': 0.2, 'recall@10': Number.NaN },
        production: { 'ndcg@10': 0.2, 'recall@10': 0.1 },
        baselines: {},
      },
      cfg,
    );
    expect(result.passed).toBe(false);
    expect(result.failures).toEqual([
      'the most-popular baseline has no ndcg@10 value, so the candidate cannot be shown to beat it',
      'precision@10 is missing from the production metrics, so regression against production cannot be checked',
      'recall@10 is missing from the candidate metrics, so regression against production cannot be checked',
    ]);
  });

  it('fails when the candidate has no metrics at all', () => {
    const result = applyGate(
      { candidate: {}, production: null, baselines: null },
      { ...cfg, mustBeatPopularity: false },
    );
    expect(result.passed).toBe(false);
    expect(result.failures[0]).toMatch(
      /^ndcg@10 is missing from the candidate metrics \(the candidate has no metrics/,
    );
    expect(result.reasons).toContain('most-popular check switched off (mustBeatPopularity: false)');
  });

  it('checks regression on the common users when a comparison is present', () => {
    const result = applyGate(
      {
        candidate: { 'ndcg@10': 0.3 },
        production: { 'ndcg@10': 0.2 },
        baselines: { popularity: { 'ndcg@10': 0.1 } },
        comparison: { nUsers: 80, candidate: { 'ndcg@10': 0.18 }, production: { 'ndcg@10': 0.2 } },
      },
      { ...cfg, regressionMetrics: ['ndcg@10'] },
    );
    expect(result.failures).toEqual([
      'ndcg@10 0.18 is 10.0% below production 0.2 (allowed: 5.0%) (on the 80 test users both models know)',
    ]);
  });
});
