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
 * Speed (issue 11): every one-hot example (two distinct columns, both 1, as Prepare writes them) takes
 * the special case ŷ = w0 + w1ᵤ + w1ₘ + ⟨vᵤ, vₘ⟩, whose factor gradients are g·vₘ and g·vᵤ; other rows
 * take the general formula. Both feed the same per-batch gradient slots (one per distinct feature of
 * the batch); the step then updates each slot's linear weight and factor row in place and clears its
 * gradient. The factor rows' dot product and gradient, and Adam on them, run as WebAssembly SIMD
 * kernels (`simd.ts`) over one memory holding the factors, their moments and the slots. Parameters
 * and optimizer state are float32, gradients and arithmetic float64, with the same expressions in the
 * same order as before, so the model is the one the scalar general trainer (bench/reference/fm.ts,
 * kept as the reference) gives, to float rounding (bit-identical in the tests and the bench);
 * bench/fm.bench.ts measures the speed ratio, test/core/fm/train-equivalence.test.ts the agreement.
 */
import { z } from 'zod';
import { ConfigError, fmSchema, formatIssues, type FmHyperparameters } from '../config';
import { Rng } from '../random';
import { fmLogit } from './artifact';
import { createFmSimdKernels, type FmSimdKernels } from './simd';
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

export type Optimizer = 'adam' | 'sgd' | 'adagrad';

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

  const { rowPtr } = data;
  let maxBatchNnz = 0;
  for (let start = 0; start < data.length; start += batchSize) {
    const end = Math.min(start + batchSize, data.length);
    maxBatchNnz = Math.max(maxBatchNnz, rowPtr[end] - rowPtr[start]);
  }
  const batch = new BatchGradient(dim, nf, Math.max(1, maxBatchNnz), p.optimizer, classifier);
  const { v, stride } = batch;

  const rng = new Rng(opts.seed);
  const w0 = new Float32Array(1);
  const w1 = new Float32Array(dim);
  w0[0] = rng.normal() * p.bias_init_sigma;
  for (let i = 0; i < dim; i++) w1[i] = rng.normal() * p.linear_init_sigma;
  for (let j = 0; j < dim; j++) {
    for (let f = 0; f < nf; f++) v[j * stride + f] = rng.normal() * p.factors_init_sigma;
  }

  const bias = paramGroup(w0, p.optimizer, p.bias_lr, p.bias_wd);
  const linear = paramGroup(w1, p.optimizer, p.linear_lr, p.linear_wd);
  const factors = { lr: p.factors_lr, wd: p.factors_wd };
  const oneHot = oneHotRows(data);

  const started = performance.now();
  let step = 0;
  let lastTrain: Record<string, number> = {};
  const acc = new MetricAccumulator(classifier);

  for (let epoch = 0; epoch < p.epochs; epoch++) {
    const epochStart = performance.now();
    acc.reset();
    for (let start = 0; start < data.length; start += batchSize) {
      const end = Math.min(start + batchSize, data.length);
      batch.accumulate(data, oneHot, start, end, w0[0], w1, acc);
      step++;
      const correction = p.optimizer === 'adam' ? adamCorrection(step) : 1;
      batch.apply(bias, linear, factors, correction);
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

  const model: FmModel = { featureDim: dim, numFactors: nf, w0: w0[0], w1, v: batch.factors() };
  const test = opts.test
    ? fmMetrics(p.predictor_type, scoreFm(model, opts.test), opts.test.label)
    : undefined;
  return { model, metrics: { train: lastTrain, ...(test ? { test } : {}) } };
}

/**
 * Per row, whether it is one-hot in the special case's sense: exactly two entries, distinct columns,
 * both values 1 (then ½[(Σv)² − Σv²] is the dot product of the two factor rows).
 */
function oneHotRows(data: SparseExamples): Uint8Array {
  const { rowPtr, cols, vals } = data;
  const out = new Uint8Array(data.length);
  for (let r = 0; r < data.length; r++) {
    const a = rowPtr[r];
    out[r] = rowPtr[r + 1] - a === 2 && vals[a] === 1 && vals[a + 1] === 1 && cols[a] !== cols[a + 1] ? 1 : 0;
  }
  return out;
}

/**
 * The factors with their optimizer state, and the gradient of one mini-batch with one slot per
 * distinct feature of the batch (`slotOf` maps a feature to its slot, -1 when absent), averaged over
 * the batch's rows; `apply` updates exactly those rows (lazy updates) and leaves the slots empty.
 *
 * The factor rows, their moments, the slots' factor gradients and the slots' features live in the
 * SIMD kernels' memory, each factor row padded to an even `stride` with zeros that stay zero.
 */
class BatchGradient {
  /** Factor rows, `stride` float32s each (the first `nf` are the factors). */
  readonly v: Float32Array;
  readonly stride: number;
  private readonly kernels: FmSimdKernels;
  private readonly s1: Float32Array;
  private readonly s2: Float32Array;
  private readonly slotOf: Int32Array;
  private readonly slotFeature: Int32Array;
  private readonly gradLinear: Float64Array;
  private readonly gradFactors: Float64Array;
  private readonly sums: Float64Array;
  private readonly gradScalar = new Float64Array(1);
  private readonly vAt: number;
  private readonly s1At: number;
  private readonly s2At: number;
  private readonly gradAt: number;
  private readonly featureAt: number;
  private slots = 0;
  private gradBias = 0;

  constructor(
    private readonly dim: number,
    private readonly nf: number,
    maxSlots: number,
    private readonly optimizer: Optimizer,
    private readonly classifier: boolean,
  ) {
    const stride = (this.stride = nf + (nf % 2));
    const rows = dim * stride * 4;
    const align = (n: number) => Math.ceil(n / 16) * 16;
    this.vAt = 0;
    this.s1At = align(rows);
    this.s2At = this.s1At + align(rows);
    this.gradAt = this.s2At + align(rows);
    this.featureAt = this.gradAt + align(maxSlots * stride * 8);
    this.kernels = createFmSimdKernels(this.featureAt + maxSlots * 4);
    const { buffer } = this.kernels.memory;
    this.v = new Float32Array(buffer, this.vAt, dim * stride);
    this.s1 = new Float32Array(buffer, this.s1At, dim * stride);
    this.s2 = new Float32Array(buffer, this.s2At, dim * stride);
    this.gradFactors = new Float64Array(buffer, this.gradAt, maxSlots * stride);
    this.slotFeature = new Int32Array(buffer, this.featureAt, maxSlots);
    this.slotOf = new Int32Array(dim).fill(-1);
    this.gradLinear = new Float64Array(maxSlots);
    this.sums = new Float64Array(nf);
  }

  /** The factors as the model stores them: `nf` per feature, unpadded. */
  factors(): Float32Array {
    const { v, dim, nf, stride } = this;
    if (stride === nf) return v.slice();
    const out = new Float32Array(dim * nf);
    for (let j = 0; j < dim; j++) out.set(v.subarray(j * stride, j * stride + nf), j * nf);
    return out;
  }

  /** Forward and backward over rows [start, end) with the parameters as they are. */
  accumulate(
    data: SparseExamples,
    oneHot: Uint8Array,
    start: number,
    end: number,
    w0: number,
    w1: Float32Array,
    acc: MetricAccumulator,
  ): void {
    const { rowPtr, cols, vals, label } = data;
    const { slotOf, slotFeature, gradLinear, gradFactors, sums, nf, stride, classifier, v } = this;
    const { dot, axpy2 } = this.kernels;
    const rowBytes = stride * 4;
    const gradBytes = stride * 8;
    const { vAt, gradAt } = this;
    const scale = 1 / (end - start);
    let slots = this.slots;
    let gBias = 0;

    for (let r = start; r < end; r++) {
      const a = rowPtr[r];
      const y = label[r];
      if (oneHot[r] === 1) {
        const ja = cols[a];
        const jb = cols[a + 1];
        const va = vAt + ja * rowBytes;
        const vb = vAt + jb * rowBytes;
        const yhat = w0 + w1[ja] + w1[jb] + dot(va, vb, stride);
        let g: number;
        if (classifier) {
          const e = Math.exp(-Math.abs(yhat));
          g = (yhat >= 0 ? 1 / (1 + e) : e / (1 + e)) - y;
          acc.addLogit(yhat, y, e);
        } else {
          g = yhat - y;
          acc.add(yhat, y);
        }
        g *= scale;
        gBias += g;

        let sa = slotOf[ja];
        if (sa < 0) {
          sa = slots++;
          slotOf[ja] = sa;
          slotFeature[sa] = ja;
        }
        let sb = slotOf[jb];
        if (sb < 0) {
          sb = slots++;
          slotOf[jb] = sb;
          slotFeature[sb] = jb;
        }
        gradLinear[sa] += g;
        gradLinear[sb] += g;
        axpy2(gradAt + sa * gradBytes, gradAt + sb * gradBytes, va, vb, g, stride);
        continue;
      }

      // The general formula, for rows that are not one-hot.
      const b = rowPtr[r + 1];
      let linearPart = w0;
      let squares = 0;
      for (let f = 0; f < nf; f++) sums[f] = 0;
      for (let e = a; e < b; e++) {
        const j = cols[e];
        const x = vals[e];
        linearPart += w1[j] * x;
        const base = j * stride;
        for (let f = 0; f < nf; f++) {
          const t = v[base + f] * x;
          sums[f] += t;
          squares += t * t;
        }
      }
      let pairwise = 0;
      for (let f = 0; f < nf; f++) pairwise += sums[f] * sums[f];
      const yhat = linearPart + 0.5 * (pairwise - squares);
      const g = (classifier ? sigmoid(yhat) - y : yhat - y) * scale;
      acc.add(yhat, y);
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
        const base = j * stride;
        const gBase = slot * stride;
        for (let f = 0; f < nf; f++) gradFactors[gBase + f] += gx * (sums[f] - v[base + f] * x);
      }
    }
    this.slots = slots;
    this.gradBias += gBias;
  }

  /** One optimizer step on w0 and on the rows of the batch's features; empties the slots. */
  apply(
    bias: ParamGroup,
    linear: ParamGroup,
    factors: { readonly lr: number; readonly wd: number },
    correction: number,
  ): void {
    const { slotOf, slotFeature, optimizer, stride } = this;
    const slots = this.slots;
    this.gradScalar[0] = this.gradBias;
    updateRows(optimizer, bias, this.gradScalar, 1, 1, ZERO_FEATURE, 1, correction);
    updateRows(optimizer, linear, this.gradLinear, slots, 1, slotFeature, 1, correction);
    if (optimizer === 'adam') {
      const { vAt, s1At, s2At, gradAt, featureAt } = this;
      this.kernels.adam(
        vAt,
        s1At,
        s2At,
        gradAt,
        featureAt,
        slots,
        stride,
        factors.lr * correction,
        factors.wd,
      );
    } else {
      const group = { w: this.v, s1: this.s1, s2: this.s2, ...factors };
      updateRows(optimizer, group, this.gradFactors, slots, stride, slotFeature, stride, correction);
    }
    for (let slot = 0; slot < slots; slot++) slotOf[slotFeature[slot]] = -1;
    this.slots = 0;
    this.gradBias = 0;
  }
}

const ZERO_FEATURE = new Int32Array(1);

/**
 * One optimizer step on `count` rows of `len` parameters: row `s` of `grad` (then cleared) updates
 * the parameters from `rowOf[s] · stride`. The same arithmetic, in float64, as MXNet's sparse
 * optimizers (see the module doc); one loop per optimizer so each stays monomorphic.
 */
function updateRows(
  optimizer: Optimizer,
  group: ParamGroup,
  grad: Float64Array,
  count: number,
  len: number,
  rowOf: Int32Array,
  stride: number,
  correction: number,
): void {
  const { w, s1, s2, wd } = group;
  if (optimizer === 'adam') {
    const lr = group.lr * correction;
    for (let s = 0; s < count; s++) {
      const offset = rowOf[s] * stride;
      const gOffset = s * len;
      for (let i = 0; i < len; i++) {
        const k = offset + i;
        const g = grad[gOffset + i] + wd * w[k];
        grad[gOffset + i] = 0;
        const m = (s1[k] = ADAM_BETA1 * s1[k] + (1 - ADAM_BETA1) * g);
        const sq = (s2[k] = ADAM_BETA2 * s2[k] + (1 - ADAM_BETA2) * g * g);
        w[k] -= (lr * m) / (Math.sqrt(sq) + ADAM_EPSILON);
      }
    }
  } else if (optimizer === 'adagrad') {
    const lr = group.lr;
    for (let s = 0; s < count; s++) {
      const offset = rowOf[s] * stride;
      const gOffset = s * len;
      for (let i = 0; i < len; i++) {
        const k = offset + i;
        const g = grad[gOffset + i];
        grad[gOffset + i] = 0;
        const h = (s1[k] += g * g);
        w[k] -= lr * (g / Math.sqrt(h + ADAGRAD_EPSILON) + wd * w[k]);
      }
    }
  } else {
    const lr = group.lr;
    for (let s = 0; s < count; s++) {
      const offset = rowOf[s] * stride;
      const gOffset = s * len;
      for (let i = 0; i < len; i++) {
        const k = offset + i;
        w[k] -= lr * (grad[gOffset + i] + wd * w[k]);
        grad[gOffset + i] = 0;
      }
    }
  }
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
export class MetricAccumulator {
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

  /** `add` for a classifier's logit when e^−|ŷ| is already known (the trainer's sigmoid needs it too). */
  addLogit(yhat: number, y: number, expNegAbs: number): void {
    this.n++;
    this.lossSum += Math.max(yhat, 0) - yhat * y + Math.log1p(expNegAbs);
    const predicted = yhat > 0;
    const actual = y >= 0.5;
    if (predicted) {
      if (actual) this.tp++;
      else this.fp++;
    } else if (actual) this.fn++;
    else this.tn++;
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

export function validateHyperparameters(hp: FmTrainingHyperparameters): z.infer<typeof trainingSchema> {
  const result = trainingSchema.safeParse(hp);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, 'HyperParameters'));
  return result.data;
}

export function validateExamples(data: SparseExamples, p: FmTrainingHyperparameters, what: string): void {
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

export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** −[y·log σ(z) + (1−y)·log(1−σ(z))] without forming σ(z): max(z,0) − z·y + log(1 + e^−|z|). */
function logLoss(z: number, y: number): number {
  return Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
}
