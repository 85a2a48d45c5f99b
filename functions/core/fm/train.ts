/**
 * Local stand-in for the SageMaker built-in Factorization Machines trainer, so a run trains the same
 * model offline (`npm start`) as the `TrainFM` step does on AWS: same hyperparameter names and
 * meaning, same update rule, same metric names in the reports.
 *
 * What the built-in does, and so what this does (sources: the executed workshop notebook's training
 * log, `johanneslanger/recommendations-on-aws-workshop@fb6c718`, and MXNet 1.x `optimizer.py`):
 * - Model ŷ = w0 + Σ w1ᵢxᵢ + ½ Σ_f [(Σᵢ v_if xᵢ)² − Σᵢ v_if² xᵢ²]; `binary_classifier` trains
 *   sigmoid + log loss on 0/1 labels, `regressor` squared loss (gradient ŷ − y, MXNet's
 *   `LinearRegressionOutput`).
 * - Normal init with the `*_init_sigma` hyperparameters (here from a seeded `Rng`: w0, then w1 in
 *   feature order, then v feature-major).
 * - Mini-batches in the order of the data, never reshuffled between epochs (the log's `batch=0`
 *   metrics barely move from epoch to epoch); the encoder shuffles once. The gradient is averaged
 *   over the batch (MXNet `rescale_grad`), weight decay is added to it (grad + wd·w), and each
 *   parameter group has its own lr/wd (`factors_*`, `linear_*`, `bias_*`).
 * - Adam: β1 0.9, β2 0.999, ε 1e-8, bias correction folded into the step size
 *   (lr·√(1−β2ᵗ)/(1−β1ᵗ)), t = number of batches so far. SGD: w −= lr·(g + wd·w). AdaGrad:
 *   h += g², w −= lr·(g/√(h + 1e-7) + wd·w).
 * - **Lazy (sparse) updates**: the built-in builds a "sparse network" (its log says so) whose w1 and
 *   v are row-sparse; as MXNet's sparse optimizers with `lazy_update`, only the rows of features that
 *   occur in the batch are updated (weight decay and optimizer state included). Rows of features
 *   absent from a batch stay untouched, which is what keeps one-hot training cheap. w0 is dense.
 *
 * One deliberate difference: the built-in pads the last partial batch to `mini_batch_size` (its
 * epoch metrics divide by 91,000 for 90,570 rows); here the last batch is simply smaller and
 * averaged over its own rows, and the metrics cover each example exactly once.
 *
 * Speed: parameters and optimizer state are Float32Arrays, the gradient lives in a small per-batch
 * buffer indexed by "slot" (one slot per distinct feature of the batch), the loops walk the CSR
 * arrays directly and nothing is allocated per example.
 */
import { z } from 'zod';
import { ConfigError, fmSchema, formatIssues, type FmHyperparameters } from '../config';
import { Rng } from '../random';
import { fmLogit } from './artifact';
import type { FmModel, SparseExamples } from '../types';

/**
 * Hyperparameters of one training: the built-in's names, plus the required `feature_dim`, plus the
 * local trainer's own `optimizer` (default adam, the built-in's; not a built-in hyperparameter, so it
 * is never part of a SageMaker request).
 */
export type FmTrainingHyperparameters = FmHyperparameters & { feature_dim: number; optimizer?: Optimizer };

/** Progress of one epoch, for logs and progress bars. */
export interface EpochReport {
  /** 0-based, as the built-in's `epoch=` log field. */
  readonly epoch: number;
  /** Mean training loss of the epoch: log loss (classifier) or squared error (regressor). */
  readonly trainLoss: number;
  /** `binary_classifier` only. */
  readonly trainAccuracy?: number;
  /** `regressor` only. */
  readonly trainRmse?: number;
  /** The epoch's training metrics under the built-in's names (see `fmMetrics`). */
  readonly metrics: Record<string, number>;
  /** Wall time of this epoch. */
  readonly epochMs: number;
  /** Wall time since training started. */
  readonly elapsedMs: number;
  readonly examplesPerSecond: number;
}

export interface FmTrainingOptions {
  /** Seeds the parameter initialization; the same seed and data give the same model. */
  readonly seed: number;
  /** Held-out examples scored once with the final model, as the built-in's `test` channel. */
  readonly test?: SparseExamples;
  readonly onEpoch?: (report: EpochReport) => void;
}

export interface FmTrainingResult {
  readonly model: FmModel;
  readonly metrics: {
    /** The last epoch's training metrics (what the built-in logs as `train ...` at the end). */
    readonly train: Record<string, number>;
    readonly test?: Record<string, number>;
  };
}

/** Thrown when the training or test examples cannot be trained on (shape, range, labels). */
export class FmTrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FmTrainingError';
  }
}

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPSILON = 1e-8;
const ADAGRAD_EPSILON = 1e-7;

const trainingSchema = fmSchema
  .extend({
    feature_dim: z.number().int().positive(),
    optimizer: z.enum(['adam', 'sgd', 'adagrad']).default('adam'),
  })
  .strict();

type Optimizer = 'adam' | 'sgd' | 'adagrad';

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
 * Trains an FM model on CSR examples. Throws `ConfigError` for invalid hyperparameters and
 * `FmTrainingError` for examples that do not fit them.
 */
export function trainFm(
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

/**
 * Raw FM scores ŷ (logits for a binary classifier) of every example, computed in double precision.
 * Apply a sigmoid for probabilities.
 */
export function scoreFm(model: FmModel, data: SparseExamples): Float64Array {
  if (data.featureDim !== model.featureDim) {
    throw new FmTrainingError(
      `examples have feature_dim ${data.featureDim}, the model has ${model.featureDim}`,
    );
  }
  const { rowPtr, cols, vals } = data;
  const out = new Float64Array(data.length);
  for (let r = 0; r < data.length; r++) {
    out[r] = fmLogit(model, cols.subarray(rowPtr[r], rowPtr[r + 1]), vals.subarray(rowPtr[r], rowPtr[r + 1]));
  }
  return out;
}

/**
 * The built-in's metrics of raw scores against labels, under its log names.
 * - `binary_classifier`: `binary_classification_accuracy` (ŷ > 0, i.e. probability > 0.5),
 *   `binary_classification_cross_entropy` (mean log loss, computed exactly from the logit),
 *   `binary_f_1.000` (F1 of the positive class); plus reelflow's extras `binary_precision` and
 *   `binary_recall` (not in the built-in's log). Undefined ratios (no predicted or no actual
 *   positive) count as 0.
 * - `regressor`: `rmse`.
 */
export function fmMetrics(
  predictorType: FmHyperparameters['predictor_type'],
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
): Record<string, number> {
  if (scores.length !== labels.length) {
    throw new FmTrainingError(`${scores.length} scores for ${labels.length} labels`);
  }
  const acc = new MetricAccumulator(predictorType === 'binary_classifier');
  for (let i = 0; i < scores.length; i++) acc.add(scores[i], labels[i]);
  return acc.metrics();
}

/** Running confusion counts / losses over one pass, allocation-free per example. */
class MetricAccumulator {
  private n = 0;
  private lossSum = 0;
  private tp = 0;
  private fp = 0;
  private fn = 0;
  private tn = 0;

  constructor(private readonly classifier: boolean) {}

  reset(): void {
    this.n = this.lossSum = this.tp = this.fp = this.fn = this.tn = 0;
  }

  add(yhat: number, y: number): void {
    this.n++;
    if (this.classifier) {
      this.lossSum += logLoss(yhat, y);
      const predicted = yhat > 0;
      const actual = y >= 0.5;
      if (predicted) {
        if (actual) this.tp++;
        else this.fp++;
      } else if (actual) this.fn++;
      else this.tn++;
    } else {
      const d = yhat - y;
      this.lossSum += d * d;
    }
  }

  meanLoss(): number {
    return this.n ? this.lossSum / this.n : 0;
  }

  metrics(): Record<string, number> {
    if (!this.classifier) return { rmse: Math.sqrt(this.meanLoss()) };
    const { tp, fp, fn, tn } = this;
    return {
      binary_classification_accuracy: this.n ? (tp + tn) / this.n : 0,
      binary_classification_cross_entropy: this.meanLoss(),
      'binary_f_1.000': 2 * tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0,
      binary_precision: tp + fp > 0 ? tp / (tp + fp) : 0,
      binary_recall: tp + fn > 0 ? tp / (tp + fn) : 0,
    };
  }
}

function validateHyperparameters(hp: FmTrainingHyperparameters): z.infer<typeof trainingSchema> {
  const result = trainingSchema.safeParse(hp);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, 'HyperParameters'));
  return result.data;
}

function validateExamples(data: SparseExamples, p: FmTrainingHyperparameters, what: string): void {
  const { rowPtr, cols, vals, label, length } = data;
  if (data.featureDim !== p.feature_dim) {
    throw new FmTrainingError(
      `${what} has feature_dim ${data.featureDim}, hyperparameter feature_dim is ${p.feature_dim}`,
    );
  }
  if (rowPtr.length !== length + 1 || label.length !== length || rowPtr[0] !== 0) {
    throw new FmTrainingError(`${what} is not a valid CSR matrix (rowPtr/label lengths)`);
  }
  if (rowPtr[length] !== cols.length || cols.length !== vals.length) {
    throw new FmTrainingError(
      `${what} is not a valid CSR matrix (rowPtr end ${rowPtr[length]}, ${cols.length} cols, ${vals.length} vals)`,
    );
  }
  for (let r = 0; r < length; r++) {
    if (rowPtr[r + 1] < rowPtr[r]) throw new FmTrainingError(`${what}: rowPtr decreases at row ${r}`);
  }
  for (let e = 0; e < cols.length; e++) {
    if (cols[e] >= p.feature_dim) {
      throw new FmTrainingError(
        `${what}: column ${cols[e]} is out of range for feature_dim ${p.feature_dim}`,
      );
    }
    if (!Number.isFinite(vals[e]))
      throw new FmTrainingError(`${what}: non-finite feature value at entry ${e}`);
  }
  const classifier = p.predictor_type === 'binary_classifier';
  for (let r = 0; r < length; r++) {
    const y = label[r];
    if (classifier ? y !== 0 && y !== 1 : !Number.isFinite(y)) {
      throw new FmTrainingError(
        `${what}: label ${y} at row ${r} is invalid for predictor_type ${p.predictor_type}` +
          (classifier ? ' (labels must be 0 or 1)' : ''),
      );
    }
  }
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

function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** −[y·log σ(z) + (1−y)·log(1−σ(z))] without forming σ(z): max(z,0) − z·y + log(1 + e^−|z|). */
function logLoss(z: number, y: number): number {
  return Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
}
