/**
 * The reference for the local FM trainer (bench/fm.bench.ts, test/core/fm/train-equivalence.test.ts):
 * `trainFm` of functions/core/fm/train.ts as it was before issue 11 made it fast, kept verbatim: the
 * general FM formula for any CSR row, one scalar loop per example, one `updateRow` call per parameter
 * row. The fast trainer must give the same model from the same seed and data (same update order, same
 * RNG stream) to within float tolerance; this is what it is measured and checked against.
 *
 * Not product code: nothing under functions/ imports it.
 */
import {
  MetricAccumulator,
  sigmoid,
  validateExamples,
  validateHyperparameters,
  FmTrainingError,
  fmMetrics,
  scoreFm,
  type FmTrainingHyperparameters,
  type FmTrainingOptions,
  type FmTrainingResult,
  type Optimizer,
} from '../../functions/core/fm/train';
import { Rng } from '../../functions/core/random';
import type { FmModel, SparseExamples } from '../../functions/core/types';

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPSILON = 1e-8;
const ADAGRAD_EPSILON = 1e-7;

/** One parameter group (w0, w1 or v) with its optimizer state. */
interface ParamGroup {
  readonly w: Float32Array;
  /** Adam first moment, or AdaGrad history; empty for SGD. */
  readonly s1: Float32Array;
  /** Adam second moment; empty otherwise. */
  readonly s2: Float32Array;
  readonly lr: number;
  readonly wd: number;
}

/**
 * Trains an FM model on CSR examples: `trainFm` as it was before issue 11. Throws `ConfigError` for invalid hyperparameters and
 * `FmTrainingError` for examples that do not fit them.
 */
export function trainFmReference(
  data: SparseExamples,
  hp: FmTrainingHyperparameters,
  opts: FmTrainingOptions,
): FmTrainingResult {
  const p = validateHyperparameters(hp);
  validateExamples(data, p, 'training data');
  if (opts.test) validateExamples(opts.test, p, 'test data');
  if (data.length === 0) throw new FmTrainingError('training data has no examples');

  const dim = p.feature_dim;
  const nf = p.num_factors;
  const classifier = p.predictor_type === 'binary_classifier';
  const batchSize = p.mini_batch_size;

  const rng = new Rng(opts.seed);
  const w0 = new Float32Array(1);
  const w1 = new Float32Array(dim);
  const v = new Float32Array(dim * nf);
  w0[0] = rng.normal() * p.bias_init_sigma;
  for (let i = 0; i < dim; i++) w1[i] = rng.normal() * p.linear_init_sigma;
  for (let i = 0; i < v.length; i++) v[i] = rng.normal() * p.factors_init_sigma;

  const bias = paramGroup(w0, p.optimizer, p.bias_lr, p.bias_wd);
  const linear = paramGroup(w1, p.optimizer, p.linear_lr, p.linear_wd);
  const factors = paramGroup(v, p.optimizer, p.factors_lr, p.factors_wd);

  // Per-batch gradient buffers, one slot per distinct feature of the batch.
  const { rowPtr, cols, vals, label } = data;
  let maxBatchNnz = 0;
  for (let start = 0; start < data.length; start += batchSize) {
    const end = Math.min(start + batchSize, data.length);
    maxBatchNnz = Math.max(maxBatchNnz, rowPtr[end] - rowPtr[start]);
  }
  const slotOf = new Int32Array(dim).fill(-1);
  const slotFeature = new Int32Array(Math.max(1, maxBatchNnz));
  const gradLinear = new Float64Array(Math.max(1, maxBatchNnz));
  const gradFactors = new Float64Array(Math.max(1, maxBatchNnz) * nf);
  const sums = new Float64Array(nf);
  const gradBias = new Float64Array(1);

  const started = performance.now();
  let step = 0;
  let lastTrain: Record<string, number> = {};
  const acc = new MetricAccumulator(classifier);

  for (let epoch = 0; epoch < p.epochs; epoch++) {
    const epochStart = performance.now();
    acc.reset();
    for (let start = 0; start < data.length; start += batchSize) {
      const end = Math.min(start + batchSize, data.length);
      const scale = 1 / (end - start);
      let slots = 0;
      let gBias = 0;

      for (let r = start; r < end; r++) {
        const a = rowPtr[r];
        const b = rowPtr[r + 1];
        // Forward: linear part, per-factor sums and the squared terms.
        let linearPart = w0[0];
        let squares = 0;
        for (let f = 0; f < nf; f++) sums[f] = 0;
        for (let e = a; e < b; e++) {
          const j = cols[e];
          const x = vals[e];
          linearPart += w1[j] * x;
          const base = j * nf;
          for (let f = 0; f < nf; f++) {
            const t = v[base + f] * x;
            sums[f] += t;
            squares += t * t;
          }
        }
        let pairwise = 0;
        for (let f = 0; f < nf; f++) pairwise += sums[f] * sums[f];
        const yhat = linearPart + 0.5 * (pairwise - squares);
        const y = label[r];
        const g = (classifier ? sigmoid(yhat) - y : yhat - y) * scale;
        acc.add(yhat, y);

        // Backward: accumulate into the batch's slots.
        gBias += g;
        for (let e = a; e < b; e++) {
          const j = cols[e];
          const x = vals[e];
          let slot = slotOf[j];
          if (slot < 0) {
            slot = slots++;
            slotOf[j] = slot;
            slotFeature[slot] = j;
          }
          const gx = g * x;
          gradLinear[slot] += gx;
          const base = j * nf;
          const gBase = slot * nf;
          for (let f = 0; f < nf; f++) gradFactors[gBase + f] += gx * (sums[f] - v[base + f] * x);
        }
      }

      step++;
      const correction = p.optimizer === 'adam' ? adamCorrection(step) : 1;
      gradBias[0] = gBias;
      updateRow(bias, p.optimizer, 0, gradBias, 0, 1, correction);
      for (let slot = 0; slot < slots; slot++) {
        const j = slotFeature[slot];
        updateRow(linear, p.optimizer, j, gradLinear, slot, 1, correction);
        updateRow(factors, p.optimizer, j * nf, gradFactors, slot * nf, nf, correction);
        gradLinear[slot] = 0;
        gradFactors.fill(0, slot * nf, slot * nf + nf);
        slotOf[j] = -1;
      }
    }

    lastTrain = acc.metrics();
    const now = performance.now();
    const epochMs = now - epochStart;
    opts.onEpoch?.({
      epoch,
      trainLoss: acc.meanLoss(),
      ...(classifier
        ? { trainAccuracy: lastTrain.binary_classification_accuracy }
        : { trainRmse: lastTrain.rmse }),
      metrics: lastTrain,
      epochMs,
      elapsedMs: now - started,
      examplesPerSecond: epochMs > 0 ? data.length / (epochMs / 1000) : Infinity,
    });
  }

  const model: FmModel = { featureDim: dim, numFactors: nf, w0: w0[0], w1, v };
  const test = opts.test
    ? fmMetrics(p.predictor_type, scoreFm(model, opts.test), opts.test.label)
    : undefined;
  return { model, metrics: { train: lastTrain, ...(test ? { test } : {}) } };
}

function paramGroup(w: Float32Array, optimizer: Optimizer, lr: number, wd: number): ParamGroup {
  const empty = new Float32Array(0);
  return {
    w,
    s1: optimizer === 'sgd' ? empty : new Float32Array(w.length),
    s2: optimizer === 'adam' ? new Float32Array(w.length) : empty,
    lr,
    wd,
  };
}

/** MXNet folds Adam's bias correction into the step size: √(1−β2ᵗ)/(1−β1ᵗ). */
function adamCorrection(t: number): number {
  return Math.sqrt(1 - Math.pow(ADAM_BETA2, t)) / (1 - Math.pow(ADAM_BETA1, t));
}

/** Updates `len` parameters of `group` from `offset` with the gradient at `grad[gOffset..]`. */
function updateRow(
  group: ParamGroup,
  optimizer: Optimizer,
  offset: number,
  grad: Float64Array,
  gOffset: number,
  len: number,
  correction: number,
): void {
  const { w, s1, s2, wd } = group;
  if (optimizer === 'adam') {
    const lr = group.lr * correction;
    for (let i = 0; i < len; i++) {
      const k = offset + i;
      const g = grad[gOffset + i] + wd * w[k];
      const m = (s1[k] = ADAM_BETA1 * s1[k] + (1 - ADAM_BETA1) * g);
      const s = (s2[k] = ADAM_BETA2 * s2[k] + (1 - ADAM_BETA2) * g * g);
      w[k] -= (lr * m) / (Math.sqrt(s) + ADAM_EPSILON);
    }
  } else if (optimizer === 'adagrad') {
    const lr = group.lr;
    for (let i = 0; i < len; i++) {
      const k = offset + i;
      const g = grad[gOffset + i];
      const h = (s1[k] += g * g);
      w[k] -= lr * (g / Math.sqrt(h + ADAGRAD_EPSILON) + wd * w[k]);
    }
  } else {
    const lr = group.lr;
    for (let i = 0; i < len; i++) {
      const k = offset + i;
      w[k] -= lr * (grad[gOffset + i] + wd * w[k]);
    }
  }
}
