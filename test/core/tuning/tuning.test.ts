import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseMlConfig } from '../../../functions/core/config';
import { idMapFromIds } from '../../../functions/core/ingest';
import { Rng } from '../../../functions/core/random';
import { splitRatings } from '../../../functions/core/split';
import {
  carveValidation,
  DEFAULT_SPACE,
  draw,
  planTrials,
  rangeProblems,
  selectBest,
  trainingCostFactor,
  trialJobName,
  TuningFailedError,
  tuningSchema,
  ValidationSplitError,
  withSettings,
  type TrialResult,
} from '../../../functions/core/tuning';
import type { Ratings } from '../../../functions/core/types';
import { readConfigFromCdkJson } from '../../../pipeline/config';

type Row = readonly [user: number, movie: number, rating: number, timestamp: number];

function makeRatings(rows: readonly Row[]): Ratings {
  const users = idMapFromIds(new Set(rows.map((r) => r[0])));
  const movies = idMapFromIds(new Set(rows.map((r) => r[1])));
  return {
    length: rows.length,
    user: Uint32Array.from(rows, (r) => users.indexOf(r[0])!),
    movie: Uint32Array.from(rows, (r) => movies.indexOf(r[1])!),
    rating: Float32Array.from(rows, (r) => r[2]),
    timestamp: Float64Array.from(rows, (r) => r[3]),
    source: new Uint16Array(rows.length),
    users,
    movies,
    sourceNames: ['ratings.csv'],
  };
}

describe('tuning settings', () => {
  it('defaults to off, 8 trials, 4 at once, the documented space', () => {
    const tuning = tuningSchema.parse({});
    expect(tuning).toMatchObject({ enabled: false, trials: 8, parallelism: 4, validationShare: 0.2, k: 10 });
    expect(tuning.space).toEqual(DEFAULT_SPACE);
  });

  it('refuses a range the ML config would refuse, naming the parameter', () => {
    const result = tuningSchema.safeParse({
      space: {
        'fm.factors_lr': { type: 'continuous', min: -1, max: 1, scale: 'log' },
        'fm.predictor_type': { type: 'categorical', values: ['regressor', 'multiclass'] },
        'fm.num_factors': { type: 'continuous', min: 8, max: 64 },
        'knn.k': { type: 'integer', min: 1, max: 10 },
      },
    });
    expect(result.success).toBe(false);
    const messages = result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^space\.fm\.factors_lr: a log scale needs min > 0/),
        expect.stringMatching(/^space\.fm\.factors_lr: -1 is not a valid value of fm\.factors_lr/),
        'space.fm.predictor_type: values ["multiclass"] are not valid for fm.predictor_type',
        "space.fm.num_factors: fm.num_factors takes whole numbers: type 'integer'",
        expect.stringMatching(/^space\.knn\.k: 'knn\.k' cannot be tuned/),
      ]),
    );
  });

  it('accepts the default space entry by entry', () => {
    for (const [name, range] of Object.entries(DEFAULT_SPACE))
      expect(rangeProblems(name, range!)).toEqual([]);
  });
});

describe('planTrials', () => {
  const ml = parseMlConfig({});
  const tuning = tuningSchema.parse({ trials: 6 });

  it('starts with the baseline: the config as it is', () => {
    const [baseline] = planTrials(tuning, ml);
    expect(baseline).toMatchObject({ id: 'trial-00', baseline: true, ml });
    expect(baseline.settings).toEqual({
      'encoding.negativeRatio': 4,
      'encoding.popularityExponent': 0.75,
      'encoding.recentCopies': 0,
      'encoding.recentShare': 0.3,
      'fm.epochs': 100,
      'fm.factors_init_sigma': 0.001,
      'fm.factors_lr': 1e-4,
      'fm.factors_wd': 1e-5,
      'fm.linear_lr': 1e-3,
      'fm.num_factors': 64,
      'fm.predictor_type': 'binary_classifier',
    });
  });

  it('draws distinct, valid settings inside the ranges, the same for the same seed', () => {
    const trials = planTrials(tuning, ml, 7);
    expect(trials).toHaveLength(6);
    expect(new Set(trials.map((t) => JSON.stringify(t.settings))).size).toBe(6);
    for (const trial of trials.slice(1)) {
      const lr = trial.settings['fm.factors_lr'] as number;
      expect(lr).toBeGreaterThanOrEqual(2e-3);
      expect(lr).toBeLessThanOrEqual(5e-3);
      const sigma = trial.settings['fm.factors_init_sigma'] as number;
      expect(sigma).toBeGreaterThanOrEqual(0.02);
      expect(sigma).toBeLessThanOrEqual(0.07);
      expect(Number.isInteger(trial.settings['encoding.negativeRatio'])).toBe(true);
      expect(trial.ml.fm.num_factors).toBe(128);
      expect(trial.ml.encoding.popularityExponent).toBe(trial.settings['encoding.popularityExponent']);
      expect(trial.ml.fm.factors_lr).toBe(lr);
      expect(trial.ml.encoding.negativeRatio).toBe(trial.settings['encoding.negativeRatio']);
      expect([2, 3]).toContain(trial.ml.encoding.recentCopies);
      expect(trial.ml.encoding.recentShare).toBeGreaterThanOrEqual(0.2);
      expect(trial.ml.encoding.recentShare).toBeLessThanOrEqual(0.4);
      expect(trial.ml.fm.predictor_type).toBe(trial.settings['fm.predictor_type']);
      // Everything not searched stays as configured.
      expect(trial.ml.fm.mini_batch_size).toBe(ml.fm.mini_batch_size);
      expect(trial.ml.fm.factors_wd).not.toBe(ml.fm.factors_wd);
      expect(trial.ml.fm.linear_wd).toBe(ml.fm.linear_wd);
      expect(trial.ml.split).toEqual(ml.split);
    }
    expect(planTrials(tuning, ml, 7)).toEqual(trials);
    expect(planTrials(tuning, ml, 8)).not.toEqual(trials);
  });

  it('stops at the distinct points of a small space instead of looping', () => {
    const small = tuningSchema.parse({
      trials: 10,
      space: { 'fm.predictor_type': { type: 'categorical', values: ['binary_classifier', 'regressor'] } },
    });
    expect(planTrials(small, ml).map((t) => t.settings['fm.predictor_type'])).toEqual([
      'binary_classifier',
      'regressor',
    ]);
  });

  it('log ranges spread over the orders of magnitude', () => {
    const rng = new Rng(1);
    const values = Array.from({ length: 2000 }, () =>
      draw({ type: 'continuous', min: 1e-4, max: 1e-2, scale: 'log' }, rng),
    ) as number[];
    const below1e3 = values.filter((v) => v < 1e-3).length / values.length;
    expect(below1e3).toBeGreaterThan(0.45);
    expect(below1e3).toBeLessThan(0.55);
  });

  it('withSettings refuses a value the config refuses', () => {
    expect(() => withSettings(ml, { 'fm.epochs': 0 })).toThrow();
    expect(() => parseMlConfig({ fm: { epochs: 0 } })).toThrow(ConfigError);
  });
});

describe('carveValidation', () => {
  // User 1: 10 ratings at t = 0..9; user 2: 3 ratings (below minUserRatings 5); user 3: 5 ratings.
  const rows: Row[] = [
    ...Array.from({ length: 10 }, (_, t): Row => [1, 100 + t, 4, t]),
    ...Array.from({ length: 3 }, (_, t): Row => [2, 100 + t, 3, t]),
    ...Array.from({ length: 5 }, (_, t): Row => [3, 200 + t, 5, 10 * t]),
  ];
  const ratings = makeRatings(rows);
  const split = splitRatings(ratings, parseMlConfig({}).split, 42);

  it('holds out each eligible user latest training ratings, never a test rating', () => {
    const { fit, validation } = carveValidation(
      ratings,
      split.train,
      { validationShare: 0.25, minUserRatings: 5 },
      42,
    );
    expect(fit.length + validation.length).toBe(split.train.length);
    const test = new Set(split.test);
    for (const p of validation) expect(test.has(p)).toBe(false);
    // User 1 trains on t = 0..7 (8 ratings, 2 in test): validation is t = 6, 7.
    const user1 = [...validation].filter((p) => rows[p][0] === 1).map((p) => rows[p][3]);
    expect(user1).toEqual([6, 7]);
    // Users with fewer than 5 training ratings keep them all.
    expect([...validation].some((p) => rows[p][0] === 2 || rows[p][0] === 3)).toBe(false);
    expect([...fit]).toEqual([...fit].sort((a, b) => a - b));
  });

  it('fails clearly when no user can give any', () => {
    expect(() =>
      carveValidation(ratings, split.train, { validationShare: 0.2, minUserRatings: 50 }, 1),
    ).toThrow(ValidationSplitError);
  });
});

describe('selectBest', () => {
  const result = (id: number, ndcg: number | undefined, extra: Partial<TrialResult> = {}): TrialResult => ({
    id: `trial-0${id}`,
    baseline: id === 0,
    settings: { 'fm.factors_lr': id },
    status: ndcg === undefined ? 'failed' : 'scored',
    validationNdcg: ndcg,
    error: ndcg === undefined ? 'ClientError: boom' : undefined,
    instanceSeconds: 120,
    ...extra,
  });

  it('picks the highest validation NDCG; the baseline wins ties', () => {
    const outcome = selectBest([result(0, 0.1), result(1, 0.12), result(2, undefined), result(3, 0.12)], 10);
    expect(outcome.best.id).toBe('trial-01');
    expect(outcome.gainOverBaseline).toBeCloseTo(0.02);
    expect(outcome.trials.map((t) => t.id)).toEqual(['trial-01', 'trial-03', 'trial-00', 'trial-02']);
    expect(outcome.totalInstanceMinutes).toBe(8);
    expect(selectBest([result(0, 0.12), result(1, 0.12)], 10).best.id).toBe('trial-00');
  });

  it('never returns something worse than the baseline on validation', () => {
    const outcome = selectBest([result(0, 0.2), result(1, 0.1), result(2, 0.15)], 10);
    expect(outcome.best.baseline).toBe(true);
    expect(outcome.gainOverBaseline).toBe(0);
  });

  it('fails when every trial failed, with the reasons', () => {
    expect(() => selectBest([result(0, undefined), result(1, undefined)], 10)).toThrow(
      new TuningFailedError(
        'every tuning trial failed (trial-00: ClientError: boom; trial-01: ClientError: boom)',
      ),
    );
  });

  it('gives the bound the README quotes for the shipped config', () => {
    const { ml } = readConfigFromCdkJson(join(__dirname, '..', '..', '..', 'cdk.json'));
    const shipped = {
      epochs: ml.fm.epochs,
      num_factors: ml.fm.num_factors,
      negativeRatio: ml.encoding.negativeRatio,
      recentCopies: ml.encoding.recentCopies,
      recentShare: ml.encoding.recentShare,
    };
    const factor = trainingCostFactor(tuningSchema.parse({}), shipped);
    const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    expect(readme).toContain(`costs at most **${Math.round(factor)} ×**`);
  });

  it('counts every searched setting at the top of its range', () => {
    // The defaults: baseline 100 epochs × 64 factors × (1 + 4) examples per positive, no recency
    // copies; a trial at most 35 × 128 × (1 + 7) × (1 + 3 copies × 0.4 of the ratings), i.e. 2.464 ×.
    // 8 trials: the baseline on 80 %, 7 trials on 80 %, then the winner (at most 2.464) on all.
    const baseline = { epochs: 100, num_factors: 64, negativeRatio: 4, recentCopies: 0, recentShare: 0.3 };
    expect(trainingCostFactor(tuningSchema.parse({}), baseline)).toBeCloseTo(0.8 + 7 * 0.8 * 2.464 + 2.464);
    // A baseline that already copies costs more itself, so the same search costs relatively less.
    const copying = { ...baseline, recentCopies: 3, recentShare: 0.4 };
    expect(trainingCostFactor(tuningSchema.parse({}), copying)).toBeCloseTo(0.8 + 7 * 0.8 * 1.12 + 1.12);
    // Only epochs searched, below the baseline's: every trial costs at most the baseline's.
    const epochsOnly = tuningSchema.parse({ space: { 'fm.epochs': { type: 'integer', min: 10, max: 50 } } });
    expect(trainingCostFactor(epochsOnly, baseline)).toBeCloseTo(0.8 + 7 * 0.8 * 0.5 + 1);
    // A categorical count takes its largest value.
    const factors = tuningSchema.parse({
      space: { 'fm.num_factors': { type: 'categorical', values: [32, 256] } },
    });
    expect(trainingCostFactor(factors, baseline)).toBeCloseTo(0.8 + 7 * 0.8 * 4 + 4);
  });
});

describe('trialJobName', () => {
  it('names a trial like the run FM job, within 63 characters', () => {
    expect(trialJobName('r1', 'reelflow', 'abc123', 3)).toBe('reelflow-t03-r1-abc123');
    const long = trialJobName('0f2a6c1e-1d3b-4c55-9a77-8e1f2b3c4d5e', 'reelflow-prod-x', 'abc123', 99);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long.startsWith('reelflow-prod-x-t99-')).toBe(true);
    expect(() => trialJobName('r1', 'reelflow', 'abc123', 100)).toThrow(/outside/);
  });
});
