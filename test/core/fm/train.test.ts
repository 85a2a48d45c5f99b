import { ConfigError, fmSchema } from '../../../functions/core/config';
import {
  fmMetrics,
  FmTrainingError,
  scoreFm,
  trainFm,
  type EpochReport,
  type FmTrainingHyperparameters,
} from '../../../functions/core/fm/train';
import { Rng } from '../../../functions/core/random';
import type { FmModel, SparseExamples } from '../../../functions/core/types';

/** One-hot (user, movie) rows: users are columns 0..nUsers-1, movies follow. */
function oneHot(
  pairs: ReadonlyArray<readonly [user: number, movie: number, label: number]>,
  nUsers: number,
  nMovies: number,
): SparseExamples {
  const n = pairs.length;
  const rowPtr = new Uint32Array(n + 1);
  const cols = new Uint32Array(2 * n);
  const label = new Float32Array(n);
  pairs.forEach(([u, m, y], i) => {
    rowPtr[i + 1] = 2 * (i + 1);
    cols[2 * i] = u;
    cols[2 * i + 1] = nUsers + m;
    label[i] = y;
  });
  return {
    featureDim: nUsers + nMovies,
    length: n,
    rowPtr,
    cols,
    vals: new Float32Array(2 * n).fill(1),
    label,
  };
}

/**
 * Every (user, movie) pair once, shuffled. Users and movies fall in two groups; the label is 1 when
 * the groups agree (XOR-like): every user and every movie has as many positives as negatives, so
 * biases and linear weights explain nothing and only the pairwise term can fit it.
 */
function xorData(nUsers: number, nMovies: number, seed: number): SparseExamples {
  const pairs: Array<[number, number, number]> = [];
  for (let u = 0; u < nUsers; u++) {
    for (let m = 0; m < nMovies; m++) pairs.push([u, m, u % 2 === m % 2 ? 1 : 0]);
  }
  return oneHot(new Rng(seed).shuffle(pairs), nUsers, nMovies);
}

function hp(
  overrides: Partial<FmTrainingHyperparameters> & { feature_dim: number },
): FmTrainingHyperparameters {
  return { ...fmSchema.parse({}), ...overrides };
}

/** Fast-learning settings for small synthetic problems. */
const FAST = {
  num_factors: 4,
  epochs: 60,
  mini_batch_size: 16,
  factors_lr: 0.05,
  linear_lr: 0.05,
  bias_lr: 0.05,
  factors_init_sigma: 0.1,
} as const;

describe('trainFm', () => {
  it('decreases the training loss epoch over epoch on learnable data', () => {
    // GIVEN the XOR-like data and workshop-style optimizer settings scaled for a tiny problem
    const data = xorData(20, 16, 1);
    const reports: EpochReport[] = [];
    // WHEN
    trainFm(
      data,
      hp({ ...FAST, feature_dim: 36, epochs: 30, factors_lr: 0.005, linear_lr: 0.005, bias_lr: 0.005 }),
      { seed: 7, onEpoch: (r) => reports.push(r) },
    );
    // THEN one report per epoch, and the loss falls every epoch from near log(2) to far below it
    expect(reports.map((r) => r.epoch)).toEqual([...Array(30).keys()]);
    expect(reports[0].trainLoss).toBeGreaterThan(0.6);
    expect(reports[29].trainLoss).toBeLessThan(0.05);
    for (let i = 1; i < reports.length; i++)
      expect(reports[i].trainLoss).toBeLessThan(reports[i - 1].trainLoss);
    const last = reports[29];
    expect(last.trainAccuracy).toBe(last.metrics.binary_classification_accuracy);
    expect(last.trainLoss).toBe(last.metrics.binary_classification_cross_entropy);
    expect(last.trainRmse).toBeUndefined();
    expect(last.elapsedMs).toBeGreaterThanOrEqual(last.epochMs);
    expect(last.examplesPerSecond).toBeGreaterThan(0);
  });

  it('learns a user×movie interaction that a linear model cannot', () => {
    // GIVEN XOR-like labels, train and test on disjoint pair sets
    const all = xorData(24, 20, 2);
    const trainRows = Math.floor(all.length * 0.8);
    const slice = (from: number, to: number): SparseExamples => ({
      featureDim: all.featureDim,
      length: to - from,
      rowPtr: all.rowPtr.slice(from, to + 1).map((p) => p - all.rowPtr[from]),
      cols: all.cols.slice(all.rowPtr[from], all.rowPtr[to]),
      vals: all.vals.slice(all.rowPtr[from], all.rowPtr[to]),
      label: all.label.slice(from, to),
    });
    const train = slice(0, trainRows);
    const test = slice(trainRows, all.length);
    // WHEN trained with factors, and with the pairwise term effectively frozen (tiny init and lr)
    const fm = trainFm(train, hp({ ...FAST, feature_dim: 44 }), { seed: 3, test });
    const linear = trainFm(
      train,
      hp({ ...FAST, feature_dim: 44, factors_init_sigma: 1e-6, factors_lr: 1e-9 }),
      { seed: 3, test },
    );
    // THEN the FM generalizes to unseen pairs; the linear model stays at chance
    expect(fm.metrics.test!.binary_classification_accuracy).toBeGreaterThan(0.95);
    expect(fm.metrics.train.binary_classification_accuracy).toBeGreaterThan(0.95);
    expect(linear.metrics.test!.binary_classification_accuracy).toBeLessThan(0.65);
    expect(linear.metrics.train.binary_classification_cross_entropy).toBeGreaterThan(0.65);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const data = xorData(10, 8, 4);
    const settings = hp({ ...FAST, feature_dim: 18, epochs: 5 });
    const a = trainFm(data, settings, { seed: 11 });
    const b = trainFm(data, settings, { seed: 11 });
    const c = trainFm(data, settings, { seed: 12 });
    expect(Buffer.from(a.model.v.buffer).equals(Buffer.from(b.model.v.buffer))).toBe(true);
    expect(Buffer.from(a.model.w1.buffer).equals(Buffer.from(b.model.w1.buffer))).toBe(true);
    expect(a.model.w0).toBe(b.model.w0);
    expect(a.metrics).toEqual(b.metrics);
    expect(Buffer.from(a.model.v.buffer).equals(Buffer.from(c.model.v.buffer))).toBe(false);
  });

  it('trains a regressor on planted ratings and reports rmse', () => {
    // GIVEN ratings = 3 + user bias + movie bias + a rank-1 interaction
    const rng = new Rng(5);
    const nUsers = 30;
    const nMovies = 25;
    const ub = Array.from({ length: nUsers }, () => rng.normal() * 0.5);
    const mb = Array.from({ length: nMovies }, () => rng.normal() * 0.5);
    const up = Array.from({ length: nUsers }, () => rng.normal());
    const mp = Array.from({ length: nMovies }, () => rng.normal());
    const pairs: Array<[number, number, number]> = [];
    for (let u = 0; u < nUsers; u++) {
      for (let m = 0; m < nMovies; m++) pairs.push([u, m, 3 + ub[u] + mb[m] + up[u] * mp[m]]);
    }
    const data = oneHot(rng.shuffle(pairs), nUsers, nMovies);
    const mean = data.label.reduce((s, y) => s + y, 0) / data.length;
    const std = Math.sqrt(data.label.reduce((s, y) => s + (y - mean) ** 2, 0) / data.length);
    const reports: EpochReport[] = [];
    // WHEN
    const { metrics, model } = trainFm(
      data,
      hp({
        ...FAST,
        feature_dim: 55,
        predictor_type: 'regressor',
        epochs: 150,
        mini_batch_size: 64,
        factors_lr: 0.01,
        linear_lr: 0.01,
        bias_lr: 0.01,
      }),
      { seed: 1, test: data, onEpoch: (r) => reports.push(r) },
    );
    // THEN the error falls far below the spread of the ratings, and the reports carry rmse
    expect(Object.keys(metrics.train)).toEqual(['rmse']);
    expect(metrics.train.rmse).toBeLessThan(std * 0.05);
    expect(metrics.test!.rmse).toBeCloseTo(
      Math.sqrt(
        scoreFm(model, data).reduce((s, yhat, i) => s + (yhat - data.label[i]) ** 2, 0) / data.length,
      ),
      10,
    );
    expect(reports[0].trainRmse).toBeGreaterThan(metrics.train.rmse);
    expect(reports[0].trainAccuracy).toBeUndefined();
  });

  it.each(['sgd', 'adagrad'] as const)('also learns with the %s optimizer', (optimizer) => {
    const data = xorData(12, 10, 6);
    const result = trainFm(
      data,
      hp({ ...FAST, feature_dim: 22, optimizer, factors_lr: 0.5, linear_lr: 0.1, bias_lr: 0.1, epochs: 80 }),
      { seed: 2 },
    );
    expect(result.metrics.train.binary_classification_accuracy).toBeGreaterThan(0.9);
  });

  it('updates lazily: rows of features absent from the data keep their initial values despite weight decay', () => {
    // GIVEN 6 feature columns, of which column 5 never occurs
    const data = oneHot(
      [
        [0, 0, 1],
        [1, 1, 0],
        [0, 1, 0],
        [1, 0, 1],
      ],
      2,
      4,
    );
    const settings = hp({
      ...FAST,
      feature_dim: 6,
      epochs: 3,
      mini_batch_size: 2,
      linear_wd: 0.5,
      factors_wd: 0.5,
    });
    const init = initialParameters(7, settings);
    // WHEN
    const { model } = trainFm(data, settings, { seed: 7 });
    // THEN unused rows are bit-identical to the seeded init, used rows moved
    for (const j of [4, 5]) {
      expect(model.w1[j]).toBe(init.w1[j]);
      expect(Array.from(model.v.subarray(j * 4, j * 4 + 4))).toEqual(
        Array.from(init.v.subarray(j * 4, j * 4 + 4)),
      );
    }
    expect(model.w1[0]).not.toBe(init.w1[0]);
    expect(model.w0).not.toBe(init.w0);
  });

  it('takes one SGD step with the batch-averaged gradient plus wd·w (MXNet semantics)', () => {
    // GIVEN two examples in one batch, with non-unit feature values, and one SGD step
    const data: SparseExamples = {
      featureDim: 3,
      length: 2,
      rowPtr: Uint32Array.from([0, 2, 4]),
      cols: Uint32Array.from([0, 1, 0, 2]),
      vals: Float32Array.from([1, 0.5, 2, 1]),
      label: Float32Array.from([1, 0]),
    };
    const settings = hp({
      feature_dim: 3,
      num_factors: 2,
      epochs: 1,
      mini_batch_size: 2,
      optimizer: 'sgd',
      factors_lr: 0.3,
      linear_lr: 0.2,
      bias_lr: 0.1,
      factors_wd: 0.05,
      linear_wd: 0.04,
      bias_wd: 0.03,
      factors_init_sigma: 0.5,
      linear_init_sigma: 0.5,
      bias_init_sigma: 0.5,
    });
    const init = initialParameters(9, settings);
    // WHEN
    const { model } = trainFm(data, settings, { seed: 9 });
    // THEN every parameter equals the hand-derived update
    const K = 2;
    const gW0 = [0, 0];
    const gW1 = [0, 0, 0];
    const gV = [0, 0, 0, 0, 0, 0];
    for (let r = 0; r < 2; r++) {
      const idx = [data.cols[2 * r], data.cols[2 * r + 1]];
      const x = [data.vals[2 * r], data.vals[2 * r + 1]];
      let yhat = init.w0 + init.w1[idx[0]] * x[0] + init.w1[idx[1]] * x[1];
      for (let f = 0; f < K; f++) yhat += init.v[idx[0] * K + f] * init.v[idx[1] * K + f] * x[0] * x[1];
      const g = 1 / (1 + Math.exp(-yhat)) - data.label[r];
      gW0[0] += g / 2;
      for (let e = 0; e < 2; e++) {
        gW1[idx[e]] += (g * x[e]) / 2;
        const other = idx[1 - e];
        for (let f = 0; f < K; f++) gV[idx[e] * K + f] += (g * x[e] * init.v[other * K + f] * x[1 - e]) / 2;
      }
    }
    expect(model.w0).toBeCloseTo(init.w0 - 0.1 * (gW0[0] + 0.03 * init.w0), 6);
    for (let j = 0; j < 3; j++) {
      expect(model.w1[j]).toBeCloseTo(init.w1[j] - 0.2 * (gW1[j] + 0.04 * init.w1[j]), 6);
      for (let f = 0; f < K; f++) {
        const i = j * K + f;
        expect(model.v[i]).toBeCloseTo(init.v[i] - 0.3 * (gV[i] + 0.05 * init.v[i]), 6);
      }
    }
  });

  it('takes a first Adam step of about lr·sign(gradient) (bias correction folded into the step size)', () => {
    const data = oneHot([[0, 0, 1]], 1, 1);
    const settings = hp({
      feature_dim: 2,
      num_factors: 1,
      epochs: 1,
      mini_batch_size: 1,
      bias_lr: 0.1,
      bias_wd: 0,
    });
    const init = initialParameters(4, settings);
    const { model } = trainFm(data, settings, { seed: 4 });
    // label 1, ŷ ≈ 0: the gradient is negative, so every parameter grows by ≈ lr
    expect(model.w0 - init.w0).toBeCloseTo(0.1, 6);
    expect(model.w1[0] - init.w1[0]).toBeCloseTo(1e-3, 6);
  });

  it('follows MXNet Adam exactly: wd added to the gradient, bias correction in the step size, ε 1e-8', () => {
    // GIVEN rows without features, so only the bias w0 learns: ŷ = w0, regressor gradient w0 − y
    const labels = [1, 3, 2, 2];
    const data: SparseExamples = {
      featureDim: 1,
      length: 4,
      rowPtr: new Uint32Array(5),
      cols: new Uint32Array(0),
      vals: new Float32Array(0),
      label: Float32Array.from(labels),
    };
    const settings = hp({
      feature_dim: 1,
      num_factors: 1,
      epochs: 6,
      mini_batch_size: 4,
      predictor_type: 'regressor',
      bias_lr: 0.1,
      bias_wd: 0.5,
    });
    const init = initialParameters(8, settings);
    // WHEN
    const { model } = trainFm(data, settings, { seed: 8 });
    // THEN w0 is what six hand-computed Adam steps give
    let w = init.w0;
    let m = 0;
    let v = 0;
    for (let t = 1; t <= 6; t++) {
      const g = labels.reduce((s, y) => s + (w - y), 0) / 4 + 0.5 * w;
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      const lr = (0.1 * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t);
      w -= (lr * m) / (Math.sqrt(v) + 1e-8);
    }
    expect(model.w0).toBeCloseTo(w, 5);
  });

  it('processes examples in data order, without reshuffling between epochs', () => {
    // GIVEN 48 rows (a whole number of batches of 8), and the same rows written twice in a row
    const data = xorData(8, 6, 9);
    const twice: SparseExamples = {
      featureDim: data.featureDim,
      length: 2 * data.length,
      rowPtr: Uint32Array.from({ length: 2 * data.length + 1 }, (_, i) => 2 * i),
      cols: Uint32Array.from([...data.cols, ...data.cols]),
      vals: new Float32Array(4 * data.length).fill(1),
      label: Float32Array.from([...data.label, ...data.label]),
    };
    const settings = hp({ ...FAST, feature_dim: 14, mini_batch_size: 8 });
    // WHEN trained 2 epochs on the data, and 1 epoch on the doubled data
    const a = trainFm(data, { ...settings, epochs: 2 }, { seed: 1 });
    const b = trainFm(twice, { ...settings, epochs: 1 }, { seed: 1 });
    // THEN both saw the same batches in the same order: identical models
    expect(Array.from(a.model.w1)).toEqual(Array.from(b.model.w1));
    expect(Array.from(a.model.v)).toEqual(Array.from(b.model.v));
  });

  it('rejects invalid hyperparameters with ConfigError naming the key', () => {
    const data = xorData(2, 2, 1);
    expect(() => trainFm(data, hp({ feature_dim: 4, num_factors: 0 }), { seed: 1 })).toThrow(ConfigError);
    expect(() => trainFm(data, hp({ feature_dim: 4, num_factors: 0 }), { seed: 1 })).toThrow(
      /HyperParameters\.num_factors/,
    );
    expect(() => trainFm(data, hp({ feature_dim: 4, factors_lr: -1 }), { seed: 1 })).toThrow(/factors_lr/);
    expect(() =>
      trainFm(data, { ...hp({ feature_dim: 4 }), optimizer: 'rmsprop' as 'adam' }, { seed: 1 }),
    ).toThrow(/optimizer/);
    expect(() =>
      trainFm(data, { ...hp({ feature_dim: 4 }), momentum: 0.9 } as FmTrainingHyperparameters, { seed: 1 }),
    ).toThrow(/momentum/);
    expect(() => trainFm(data, hp({ feature_dim: 2.5 }), { seed: 1 })).toThrow(/feature_dim/);
  });

  it('rejects examples that do not fit the hyperparameters with FmTrainingError', () => {
    const data = xorData(2, 2, 1);
    const ok = hp({ feature_dim: 4, epochs: 1 });
    expect(() => trainFm(data, hp({ feature_dim: 5, epochs: 1 }), { seed: 1 })).toThrow(
      /training data has feature_dim 4, hyperparameter feature_dim is 5/,
    );
    const badLabel = { ...data, label: Float32Array.from([1, 0, 2, 1]) };
    expect(() => trainFm(badLabel, ok, { seed: 1 })).toThrow(/label 2 at row 2 .*must be 0 or 1/);
    const badCol = { ...data, cols: Uint32Array.from([0, 2, 1, 9, 0, 3, 1, 3]) };
    expect(() => trainFm(badCol, ok, { seed: 1 })).toThrow(/column 9 is out of range/);
    const badPtr = { ...data, rowPtr: Uint32Array.from([0, 2, 4, 6]) };
    expect(() => trainFm(badPtr, ok, { seed: 1 })).toThrow(FmTrainingError);
    const nanValue = { ...data, vals: Float32Array.from([1, NaN, 1, 1, 1, 1, 1, 1]) };
    expect(() => trainFm(nanValue, ok, { seed: 1 })).toThrow(/non-finite feature value/);
    const empty = oneHot([], 2, 2);
    expect(() => trainFm(empty, ok, { seed: 1 })).toThrow(/no examples/);
    const test = oneHot([[0, 0, 1]], 3, 3);
    expect(() => trainFm(data, ok, { seed: 1, test })).toThrow(/test data has feature_dim 6/);
    // A regressor takes any finite label.
    expect(() =>
      trainFm(badLabel, hp({ feature_dim: 4, epochs: 1, predictor_type: 'regressor' }), { seed: 1 }),
    ).not.toThrow();
  });
});

describe('scoreFm', () => {
  it('equals the pairwise definition w0 + Σ wᵢxᵢ + Σᵢ<ⱼ ⟨vᵢ,vⱼ⟩xᵢxⱼ', () => {
    const rng = new Rng(3);
    const featureDim = 7;
    const K = 3;
    const model: FmModel = {
      featureDim,
      numFactors: K,
      w0: 0.3,
      w1: Float32Array.from({ length: featureDim }, () => rng.normal()),
      v: Float32Array.from({ length: featureDim * K }, () => rng.normal()),
    };
    const data: SparseExamples = {
      featureDim,
      length: 2,
      rowPtr: Uint32Array.from([0, 3, 4]),
      cols: Uint32Array.from([1, 4, 6, 2]),
      vals: Float32Array.from([0.5, -2, 1.5, 3]),
      label: Float32Array.from([0, 1]),
    };
    const expected = [0, 1].map((r) => {
      const idx = Array.from(data.cols.subarray(data.rowPtr[r], data.rowPtr[r + 1]));
      const x = Array.from(data.vals.subarray(data.rowPtr[r], data.rowPtr[r + 1]));
      let y = model.w0;
      idx.forEach((j, a) => (y += model.w1[j] * x[a]));
      for (let a = 0; a < idx.length; a++) {
        for (let b = a + 1; b < idx.length; b++) {
          for (let f = 0; f < K; f++) y += model.v[idx[a] * K + f] * model.v[idx[b] * K + f] * x[a] * x[b];
        }
      }
      return y;
    });
    const scores = scoreFm(model, data);
    expect(scores[0]).toBeCloseTo(expected[0], 10);
    expect(scores[1]).toBeCloseTo(expected[1], 10);
    expect(() => scoreFm(model, { ...data, featureDim: 8 })).toThrow(FmTrainingError);
  });
});

describe('fmMetrics', () => {
  it('computes the classifier metrics of a hand-checked case', () => {
    // logits -> predictions 1,1,0,0,1 ; labels 1,0,1,0,1: TP 2, FP 1, FN 1, TN 1
    const scores = [2, 0.5, -1, -3, 0.1];
    const labels = [1, 0, 1, 0, 1];
    const m = fmMetrics('binary_classifier', scores, labels);
    expect(m.binary_classification_accuracy).toBeCloseTo(3 / 5, 12);
    expect(m['binary_f_1.000']).toBeCloseTo((2 * 2) / (2 * 2 + 1 + 1), 12);
    expect(m.binary_precision).toBeCloseTo(2 / 3, 12);
    expect(m.binary_recall).toBeCloseTo(2 / 3, 12);
    const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
    const ce =
      -labels.reduce(
        (s, y, i) => s + y * Math.log(sigmoid(scores[i])) + (1 - y) * Math.log(1 - sigmoid(scores[i])),
        0,
      ) / 5;
    expect(m.binary_classification_cross_entropy).toBeCloseTo(ce, 12);
  });

  it('treats a zero logit as a negative prediction and undefined ratios as 0', () => {
    const m = fmMetrics('binary_classifier', [0, -1], [0, 0]);
    expect(m.binary_classification_accuracy).toBe(1);
    expect(m['binary_f_1.000']).toBe(0);
    expect(m.binary_precision).toBe(0);
    expect(m.binary_recall).toBe(0);
    expect(m.binary_classification_cross_entropy).toBeCloseTo(
      (Math.log(2) + Math.log1p(Math.exp(-1))) / 2,
      12,
    );
  });

  it('keeps the log loss finite for extreme logits', () => {
    const m = fmMetrics('binary_classifier', [800, -800], [0, 1]);
    expect(m.binary_classification_cross_entropy).toBeCloseTo(800, 9);
  });

  it('computes the regressor rmse', () => {
    expect(fmMetrics('regressor', [1, 2, 3], [1, 4, 0])).toEqual({ rmse: Math.sqrt((0 + 4 + 9) / 3) });
    expect(() => fmMetrics('regressor', [1], [1, 2])).toThrow(FmTrainingError);
  });
});

/** The documented init: w0, then w1 in feature order, then v feature-major, from Rng(seed). */
function initialParameters(
  seed: number,
  p: FmTrainingHyperparameters,
): { w0: number; w1: Float32Array; v: Float32Array } {
  const rng = new Rng(seed);
  const w0 = Math.fround(rng.normal() * p.bias_init_sigma);
  const w1 = Float32Array.from({ length: p.feature_dim }, () => rng.normal() * p.linear_init_sigma);
  const v = Float32Array.from(
    { length: p.feature_dim * p.num_factors },
    () => rng.normal() * p.factors_init_sigma,
  );
  return { w0, w1, v };
}
