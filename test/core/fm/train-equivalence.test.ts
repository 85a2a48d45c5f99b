/**
 * The fast local FM trainer (`trainFm`: one-hot special case, the mini-batch in WebAssembly SIMD)
 * against the scalar general trainer it replaced (bench/reference/fm.ts, kept verbatim): same seed
 * and data, same model and metrics to float32 rounding, for both predictor types, every optimizer,
 * mini-batches of 1 and more, a number of factors that is not a multiple of the SIMD width (padded
 * rows) and rows that are not one-hot.
 *
 * Tolerance: both trainers store float32, but the fast one also computes the factor rows' dot
 * products, gradients and Adam steps in float32 (the reference in float64, rounded once at the
 * store), so each factor update carries a rounding of ~6e-8 relative, and Adam carries those on
 * through every later step (the step size is normalized, so they neither vanish nor blow up): over
 * these trainings the models measure up to 6e-4 apart (relative to |w|, or absolute below FLOOR).
 * MAX_RELATIVE = 1e-3 bounds that; a 1% change of a learning rate or a weight decay, or another
 * update order, moves the weights by 3e-2 (the weight decay) to 1e2, more than ten times the
 * tolerance, which the last test checks. (SGD and AdaGrad, whose steps are float64 here too,
 * measure within 1e-5.) The metrics are compared to MAX_RELATIVE too (an accuracy of
 * 3,000 examples may move by one or two of them).
 */
import { fmSchema } from '../../../functions/core/config';
import {
  trainFm,
  type FmTrainingHyperparameters,
  type FmTrainingResult,
} from '../../../functions/core/fm/train';
import { Rng } from '../../../functions/core/random';
import type { SparseExamples } from '../../../functions/core/types';
import { trainFmReference } from '../../../bench/reference/fm';

const MAX_RELATIVE = 1e-3;
/** Weights below this magnitude are compared absolutely (relative error is meaningless near 0). */
const FLOOR = 1e-3;

/** Largest |a − b| / max(|b|, FLOOR) over w0, w1 and v. */
function maxRelativeDifference(a: FmTrainingResult, b: FmTrainingResult): number {
  const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(Math.abs(y), FLOOR);
  let max = rel(a.model.w0, b.model.w0);
  for (const [x, y] of [
    [a.model.w1, b.model.w1],
    [a.model.v, b.model.v],
  ] as const) {
    expect(x.length).toBe(y.length);
    for (let i = 0; i < x.length; i++) max = Math.max(max, rel(x[i], y[i]));
  }
  return max;
}

function expectMetricsClose(a: Record<string, number>, b: Record<string, number>): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const key of Object.keys(b))
    expect(Math.abs(a[key] - b[key])).toBeLessThanOrEqual(MAX_RELATIVE * Math.max(1, Math.abs(b[key])));
}

/**
 * Random (user, movie) rows as Prepare encodes them (user column, then movie column, both 1), labels
 * from a planted user×movie affinity; `multiHot` rows instead get a third column and non-unit values,
 * so they take the general formula.
 */
function generate(
  n: number,
  nUsers: number,
  nMovies: number,
  seed: number,
  { regressor = false, multiHot = 0 }: { regressor?: boolean; multiHot?: number } = {},
): SparseExamples {
  const rng = new Rng(seed);
  const ua = Array.from({ length: nUsers }, () => rng.normal());
  const ma = Array.from({ length: nMovies }, () => rng.normal());
  const rowPtr = new Uint32Array(n + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  const label = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const u = rng.int(nUsers);
    const m = rng.int(nMovies);
    const score = ua[u] * ma[m] + 0.3 * rng.normal();
    label[r] = regressor ? 3 + score : score > 0 ? 1 : 0;
    cols.push(u, nUsers + m);
    if (rng.next() < multiHot) {
      vals.push(0.5 + rng.next(), 1);
      cols.push(nUsers + ((m + 1 + rng.int(nMovies - 1)) % nMovies));
      vals.push(0.25);
    } else vals.push(1, 1);
    rowPtr[r + 1] = cols.length;
  }
  return {
    featureDim: nUsers + nMovies,
    length: n,
    rowPtr,
    cols: Uint32Array.from(cols),
    vals: Float32Array.from(vals),
    label,
  };
}

function hp(
  overrides: Partial<FmTrainingHyperparameters> & { feature_dim: number },
): FmTrainingHyperparameters {
  return {
    ...fmSchema.parse({}),
    num_factors: 8,
    epochs: 8,
    mini_batch_size: 32,
    factors_lr: 0.01,
    linear_lr: 0.01,
    factors_init_sigma: 0.05,
    ...overrides,
  };
}

const train = generate(3000, 60, 45, 1);
const test = generate(600, 60, 45, 2);
const FEATURES = 105;

describe('trainFm against the reference trainer', () => {
  it.each([
    ['binary_classifier, adam, mini-batches of 32', {}],
    ['binary_classifier, adam, mini-batches of 1', { mini_batch_size: 1, epochs: 2 }],
    ['binary_classifier, adam, an odd number of factors (padded rows)', { num_factors: 5 }],
    [
      'binary_classifier, adam, the built-in defaults',
      { num_factors: 64, mini_batch_size: 1000, epochs: 20 },
    ],
    ['binary_classifier, sgd', { optimizer: 'sgd', factors_lr: 0.1, linear_lr: 0.1 }],
    ['binary_classifier, adagrad', { optimizer: 'adagrad', num_factors: 7 }],
  ] as const)('gives the same model and metrics for %s', (_, overrides) => {
    // GIVEN one-hot training and test data and one seed
    const settings = hp({ ...overrides, feature_dim: FEATURES });
    // WHEN both trainers train
    const fast = trainFm(train, settings, { seed: 3, test });
    const reference = trainFmReference(train, settings, { seed: 3, test });
    // THEN the weights and the metrics agree to float rounding
    expect(maxRelativeDifference(fast, reference)).toBeLessThanOrEqual(MAX_RELATIVE);
    expectMetricsClose(fast.metrics.train, reference.metrics.train);
    expectMetricsClose(fast.metrics.test!, reference.metrics.test!);
  });

  it('gives the same model for a regressor', () => {
    const data = generate(2000, 40, 30, 4, { regressor: true });
    const settings = hp({ predictor_type: 'regressor', feature_dim: 70, mini_batch_size: 50 });
    const fast = trainFm(data, settings, { seed: 5 });
    const reference = trainFmReference(data, settings, { seed: 5 });
    expect(maxRelativeDifference(fast, reference)).toBeLessThanOrEqual(MAX_RELATIVE);
    expectMetricsClose(fast.metrics.train, reference.metrics.train);
  });

  it('gives the same model when some rows are not one-hot (the general formula)', () => {
    const data = generate(2000, 40, 30, 6, { multiHot: 0.3 });
    const settings = hp({ feature_dim: 70, num_factors: 6 });
    const fast = trainFm(data, settings, { seed: 7 });
    const reference = trainFmReference(data, settings, { seed: 7 });
    expect(maxRelativeDifference(fast, reference)).toBeLessThanOrEqual(MAX_RELATIVE);
    expectMetricsClose(fast.metrics.train, reference.metrics.train);
  });

  it('fails the tolerance when the algorithm differs (update order, a learning rate, a weight decay)', () => {
    // GIVEN the fast trainer's model
    const settings = hp({ feature_dim: FEATURES });
    const fast = trainFm(train, settings, { seed: 3 });
    // WHEN the reference trains with the rows in another order, or a hyperparameter 1% off
    const reversed: SparseExamples = {
      ...train,
      rowPtr: Uint32Array.from({ length: train.length + 1 }, (_, r) => 2 * r),
      cols: Uint32Array.from(
        { length: 2 * train.length },
        (_, e) => train.cols[2 * (train.length - 1 - (e >> 1)) + (e & 1)],
      ),
      label: train.label.slice().reverse(),
    };
    const variants = [
      trainFmReference(reversed, settings, { seed: 3 }),
      trainFmReference(train, { ...settings, factors_lr: settings.factors_lr * 1.01 }, { seed: 3 }),
      trainFmReference(train, { ...settings, linear_wd: settings.linear_wd * 1.01 }, { seed: 3 }),
    ];
    // THEN each is outside ten times the tolerance
    for (const variant of variants)
      expect(maxRelativeDifference(fast, variant)).toBeGreaterThan(10 * MAX_RELATIVE);
  });
});
