/**
 * The evaluate step's details (issue 12): coverage counts only movies that can be recommended (those in
 * the training split) and reports test-only movies apart; `relevanceMinRating` narrows what counts as
 * relevant (default: every held-out rating); the FM job's test metrics reach evaluation.json, the HTML
 * report and the approval texts the terminal prints.
 */
import type { ServedRecommendation } from '../../../functions/contracts';
import { ConfigError, parseMlConfig } from '../../../functions/core/config';
import { evaluationNotes } from '../../../functions/core/evaluate/report-html';
import { runEvaluation } from '../../../functions/core/evaluate/run-evaluation';
import {
  fmTrainingReport,
  ialsTrainingReport,
  ialsTrainingUnavailable,
  type TrainingReport,
} from '../../../functions/core/evaluate/training-metrics';
import type { SplitRows } from '../../../functions/core/split';

function rows(triples: readonly [user: number, movie: number, rating: number][]): SplitRows {
  return {
    length: triples.length,
    userId: Int32Array.from(triples, (t) => t[0]),
    movieId: Int32Array.from(triples, (t) => t[1]),
    rating: Float32Array.from(triples, (t) => t[2]),
    timestamp: Float64Array.from(triples, (_, i) => i),
  };
}

// Movies 1..6 are in training; 7 and 8 are rated only in the test split; the id map has 1..8.
const TRAIN = rows([
  [1, 1, 5],
  [1, 2, 3],
  [2, 3, 4],
  [2, 4, 2],
  [3, 5, 5],
  [3, 6, 1],
]);
const TEST = rows([
  [1, 3, 5],
  [1, 7, 2],
  [2, 1, 2],
  [2, 5, 5],
  [3, 8, 4],
  [3, 2, 3],
]);
const CATALOG = Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);

function answers(lists: Record<number, number[]>): ServedRecommendation[] {
  return Object.entries(lists).map(([user, movies]) => ({
    user_id: Number(user),
    movies,
    modelVersion: 'r1',
  }));
}

const CANDIDATE = answers({ 1: [3, 4], 2: [5, 6], 3: [2, 1] });

function evaluate(evaluation: Record<string, unknown> = {}, training?: TrainingReport) {
  return runEvaluation({
    train: TRAIN,
    test: TEST,
    catalog: CATALOG,
    candidate: CANDIDATE,
    production: null,
    config: parseMlConfig({ evaluation: { ks: [2], topN: 2, bootstrapSamples: 10, ...evaluation } }),
    meta: { runId: 'r1' },
    reportUrl: 'file:///report.html',
    ...(training ? { training } : {}),
  });
}

describe('runEvaluation coverage', () => {
  it('divides by the movies in training and reports test-only movies apart', () => {
    const { evaluation, html } = evaluate();
    // candidate top 2: {3, 4, 5, 6, 2, 1} = all 6 recommendable movies
    expect(evaluation.candidate.coverage).toBe(1);
    expect(evaluation.counts).toMatchObject({ catalogSize: 6, catalogMovies: 8, testOnlyMovies: 2 });
    expect(html).toContain(
      '6 recommendable movies; 2 movies rated only in the test split are not recommendable',
    );
  });

  it('draws the random baseline from recommendable movies only', () => {
    // Decile D10 holds only movies with no training interaction: here exactly the test-only 7 and 8.
    for (let seed = 1; seed <= 20; seed++) {
      const { evaluation } = runEvaluation({
        train: TRAIN,
        test: TEST,
        catalog: CATALOG,
        candidate: CANDIDATE,
        production: null,
        config: parseMlConfig({ seed, evaluation: { ks: [2], topN: 2, bootstrapSamples: 10 } }),
        meta: { runId: 'r1' },
      });
      expect(evaluation.popularityProfile.random[9]).toBe(0);
    }
  });
});

describe('runEvaluation relevance threshold', () => {
  it('counts every held-out rating by default', () => {
    const { evaluation, html } = evaluate();
    expect(evaluation.counts.relevantItems).toBe(6);
    expect(evaluation.config.evaluation.relevanceMinRating).toBeUndefined();
    expect(html).toContain('every held-out rating is relevant');
    // user 1: hit 3 at rank 1 of {3, 7}; user 2: hit 5 at rank 1 of {1, 5}; user 3: hit 2 at rank 1 of {8, 2}
    expect(evaluation.candidate['precision@2']).toBeCloseTo(0.5, 6);
  });

  it('counts only ratings at or above relevanceMinRating and skips users left with none', () => {
    const { evaluation, html } = evaluate({ relevanceMinRating: 4 });
    // relevant: user 1 {3}, user 2 {5}, user 3 {8}
    expect(evaluation.counts).toMatchObject({ relevantItems: 3, evaluatedUsers: 3, skippedNoRelevant: 0 });
    expect(evaluation.candidate['recall@2']).toBeCloseTo(2 / 3, 6);
    expect(html).toContain('held-out ratings &gt;= 4 are relevant');
    expect(() => parseMlConfig({ evaluation: { relevanceMinRating: 6 } })).toThrow(
      new ConfigError(
        'invalid config ml.evaluation.relevanceMinRating: relevanceMinRating is above ingest.ratingMax: no held-out rating could be relevant',
      ),
    );
    const strict = evaluate({ relevanceMinRating: 5 }).evaluation;
    expect(strict.counts).toMatchObject({ relevantItems: 2, evaluatedUsers: 2, skippedNoRelevant: 1 });
  });
});

describe('runEvaluation training metrics', () => {
  const reported: TrainingReport = {
    fm: fmTrainingReport('reelflow-fm-r1-1', [
      { MetricName: 'test:binary_classification_accuracy', Value: 0.69781234 },
      { MetricName: 'test:binary_classification_cross_entropy', Value: 0.5769 },
      { MetricName: 'test:binary_f_beta', Value: 0.7436 },
      { MetricName: 'train:progress', Value: 100 },
    ]),
  };

  it('puts the FM test metrics in evaluation.json, the report and both approval texts', () => {
    const { evaluation, html, approvalText, summary } = evaluate({}, reported);
    expect(evaluation.training).toEqual({
      fm: {
        job: 'reelflow-fm-r1-1',
        status: 'reported',
        testMetrics: {
          'test:binary_classification_accuracy': 0.697812,
          'test:binary_classification_cross_entropy': 0.5769,
          'test:binary_f_beta': 0.7436,
        },
      },
    });
    expect(html).toContain('FM training job: test channel');
    expect(html).toContain(
      '<td>accuracy</td><td class="muted">test:binary_classification_accuracy</td><td>0.6978</td>',
    );
    expect(html).toContain('<td>F1</td><td class="muted">test:binary_f_beta</td><td>0.7436</td>');
    const line = 'FM test: accuracy 0.6978, F1 0.7436, cross-entropy 0.5769.';
    expect(approvalText.split('\n')).toContain(line);
    expect(approvalText.length).toBeLessThanOrEqual(500);
    expect(summary.split('\n')).toContain(line);
    expect(evaluationNotes(evaluation)).toEqual([
      'FM test   accuracy 0.6978, F1 0.7436, cross-entropy 0.5769 (reelflow-fm-r1-1); workshop built-in on ml-100k ua: ' +
        'accuracy 0.6978, F1 0.7436, cross-entropy 0.5769',
      'relevant  every held-out rating is relevant',
      'coverage  share of the 6 recommendable movies (in training); 2 movies rated only in the test split are not recommendable',
    ]);
  });

  it('says a job without test metrics has none, and leaves them out when not looked up', () => {
    const absent = evaluate({}, { fm: fmTrainingReport('reelflow-fm-r1-1', undefined) });
    expect(absent.evaluation.training?.fm).toMatchObject({ status: 'absent', testMetrics: null });
    expect(absent.html).toContain('reelflow-fm-r1-1: no test metrics');
    expect(absent.approvalText).not.toContain('FM test');
    expect(evaluationNotes(absent.evaluation)[0]).toBe(
      'FM test   none: the training job reported no test metrics (FinalMetricDataList has none: no test channel?) (reelflow-fm-r1-1)',
    );
    // an older evaluation.json without the fields
    expect(evaluationNotes({})).toEqual([]);
    const none = evaluate();
    expect(none.evaluation).not.toHaveProperty('training');
    expect(none.html).not.toContain('FM training job');
  });

  it("reports an iALS run's train metrics instead of FM test metrics", () => {
    const metrics = [
      { MetricName: 'train:loss', Value: 0.25 },
      { MetricName: 'train:final_loss', Value: 0.25 },
      { MetricName: 'test:binary_f_beta', Value: 0.5 },
    ];
    const { evaluation, html, approvalText } = evaluate(
      {},
      { ials: ialsTrainingReport('reelflow-fm-r1-1', metrics) },
    );
    expect(evaluation.training).toEqual({
      ials: {
        job: 'reelflow-fm-r1-1',
        status: 'reported',
        trainMetrics: { 'train:loss': 0.25, 'train:final_loss': 0.25 },
      },
    });
    expect(html).toContain('iALS training job');
    expect(html).toContain('<td class="muted">train:final_loss</td><td>0.2500</td>');
    expect(html).not.toContain('FM training job');
    expect(approvalText).not.toContain('FM test');
    expect(evaluationNotes(evaluation)[0]).toBe(
      'iALS      train:loss 0.250000, train:final_loss 0.250000 (reelflow-fm-r1-1)',
    );
    expect(ialsTrainingReport('j', undefined)).toMatchObject({ status: 'absent', trainMetrics: null });
    const failed = ialsTrainingUnavailable(
      'j',
      Object.assign(new Error('denied'), { name: 'AccessDeniedException' }),
    );
    expect(failed.note).toBe('DescribeTrainingJob failed: AccessDeniedException: denied');
  });
});
