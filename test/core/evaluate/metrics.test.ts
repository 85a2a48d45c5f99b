import {
  catalogCoverage,
  EvaluationInputError,
  evaluateLists,
  meanMetrics,
  metricNames,
  normalizeKs,
  prepareTestSet,
  scoreUsers,
  type TestSet,
} from '../../../functions/core/evaluate/metrics';

const test: TestSet = new Map([
  [1, { movieIds: [10, 20, 30], ratings: [5, 4, 2] }],
  [2, { movieIds: [7], ratings: [5] }],
  [3, { movieIds: [99], ratings: [4] }],
  [4, { movieIds: [1], ratings: [5] }],
  [5, { movieIds: [8], ratings: [1] }],
]);

const lists = new Map<number, number[]>([
  [1, [5, 10, 6, 20, 7]],
  [2, [7, 1, 2, 3, 4]],
  [3, [1, 2]],
  [5, [8]],
]);

describe('evaluateLists', () => {
  it('computes every metric exactly when given a hand-checked tiny case', () => {
    const prepared = prepareTestSet(test);
    const result = evaluateLists(prepared, lists, { ks: [5, 2], catalogSize: 40 });
    expect(result.nUsers).toBe(4);
    expect(result.unknownUsers).toBe(1);
    expect(result.unknownShare).toBeCloseTo(0.2, 12);
    const m = result.metrics;
    expect(Object.keys(m)).toEqual(metricNames([2, 5]));
    expect(m['precision@2']).toBeCloseTo(0.375, 12);
    expect(m['precision@5']).toBeCloseTo(0.2, 12);
    expect(m['recall@2']).toBeCloseTo((2 + 1 / 3) / 4, 12);
    expect(m['recall@5']).toBeCloseTo((2 + 2 / 3) / 4, 12);
    // user 1: hit at rank 2 of 3 relevant -> (1/log2 3) / (1 + 1/log2 3); at 5 also rank 4, ideal over 3 ranks
    expect(m['ndcg@2']).toBeCloseTo((0.38685280723454163 + 2) / 4, 12);
    expect(m['ndcg@5']).toBeCloseTo((0.49818925746641285 + 2) / 4, 12);
    expect(m['hit_rate@2']).toBe(0.75);
    expect(m['hit_rate@5']).toBe(0.75);
    expect(m['mrr@2']).toBe(0.625);
    expect(m['mrr@5']).toBe(0.625);
    expect(m.mrr).toBe(0.625);
    expect(m.coverage).toBe(10 / 40);
  });

  it('keeps only relevant ratings and skips users left with none when relevanceMinRating is set', () => {
    const prepared = prepareTestSet(test, 4);
    expect(Array.from(prepared.userIds)).toEqual([1, 2, 3, 4]);
    expect(prepared.skippedNoRelevant).toBe(1);
    expect(prepared.relevantItems).toBe(5);
    const scores = scoreUsers(prepared, lists, [2, 5]);
    const row = (u: number, name: string): number =>
      scores.values[u * scores.names.length + scores.names.indexOf(name)];
    expect(row(0, 'recall@5')).toBe(1);
    expect(row(0, 'ndcg@5')).toBeCloseTo(0.6509209298071326, 12);
    expect(row(0, 'precision@2')).toBe(0.5);
  });

  it('normalises NDCG by the ideal ranking over min(K, |relevant|) when the list is perfect', () => {
    const t: TestSet = new Map([
      [1, { movieIds: [1] }],
      [2, { movieIds: [1, 2, 3, 4, 5] }],
      [3, { movieIds: [9] }],
    ]);
    const l = new Map([
      [1, [1, 50, 51]],
      [2, [3, 1, 2, 60]],
      [3, [70, 9]],
    ]);
    const scores = scoreUsers(prepareTestSet(t), l, [3, 10]);
    const at = (u: number, name: string): number =>
      scores.values[u * scores.names.length + scores.names.indexOf(name)];
    expect(at(0, 'ndcg@10')).toBe(1);
    expect(at(1, 'ndcg@3')).toBe(1);
    expect(at(1, 'ndcg@10')).toBeCloseTo(
      (1 + 1 / Math.log2(3) + 0.5) / (1 + 1 / Math.log2(3) + 0.5 + 1 / Math.log2(5) + 1 / Math.log2(6)),
      12,
    );
    expect(at(2, 'ndcg@3')).toBeCloseTo(1 / Math.log2(3), 12);
    expect(at(2, 'mrr@3')).toBe(0.5);
  });

  it('counts a movie repeated in a list once when scoring hits', () => {
    const t: TestSet = new Map([[1, { movieIds: [4, 5] }]]);
    const scores = scoreUsers(prepareTestSet(t), new Map([[1, [4, 4, 4]]]), [3]);
    expect(scores.values[scores.names.indexOf('precision@3')]).toBeCloseTo(1 / 3, 12);
    expect(scores.values[scores.names.indexOf('recall@3')]).toBe(0.5);
  });

  it('reports cold-start users apart instead of scoring them as zeros', () => {
    const prepared = prepareTestSet(test);
    const onlyTwo = new Map([[2, [7]]]);
    const result = evaluateLists(prepared, onlyTwo, { ks: [1], catalogSize: 10 });
    expect(result.nUsers).toBe(1);
    expect(result.unknownUsers).toBe(4);
    expect(result.metrics['precision@1']).toBe(1);
    expect(result.metrics.coverage).toBe(0.1);
  });

  it('returns no metrics but coverage when the model knows none of the users', () => {
    const result = evaluateLists(prepareTestSet(test), new Map(), { ks: [1], catalogSize: 10 });
    expect(result.metrics).toEqual({ coverage: 0 });
    expect(result.unknownShare).toBe(1);
  });
});

describe('catalogCoverage', () => {
  it('counts distinct movies in the top max K of masked users only when given a mask', () => {
    const prepared = prepareTestSet(test);
    expect(catalogCoverage(prepared, lists, 2, 20)).toBe(6 / 20);
    expect(catalogCoverage(prepared, lists, 5, 20, Uint8Array.of(1, 0, 0, 0, 0))).toBe(5 / 20);
  });

  it('throws when the catalog size is not positive', () => {
    expect(() => catalogCoverage(prepareTestSet(test), lists, 2, 0)).toThrow(EvaluationInputError);
  });
});

describe('meanMetrics', () => {
  it('averages over masked known users when given a mask', () => {
    const scores = scoreUsers(prepareTestSet(test), lists, [1]);
    expect(meanMetrics(scores, Uint8Array.of(0, 1, 1, 1, 0)).metrics['hit_rate@1']).toBe(0.5);
  });
});

describe('prepareTestSet', () => {
  it('throws when relevanceMinRating is set but a user has no ratings', () => {
    expect(() => prepareTestSet(new Map([[3, { movieIds: [1] }]]), 4)).toThrow(/test user 3 has no ratings/);
  });

  it('throws when ratings and movie ids differ in length', () => {
    expect(() => prepareTestSet(new Map([[3, { movieIds: [1, 2], ratings: [4] }]]), 4)).toThrow(
      /2 movie ids but 1 ratings/,
    );
  });
});

describe('normalizeKs', () => {
  it('sorts and de-duplicates cut-offs when given them unordered', () => {
    expect(normalizeKs([25, 5, 10, 5])).toEqual([5, 10, 25]);
  });

  it('throws when a cut-off is not a positive integer', () => {
    expect(() => normalizeKs([5, 0])).toThrow(/positive integer, got 0/);
  });
});
