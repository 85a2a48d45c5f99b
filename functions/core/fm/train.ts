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
 * take the general formula here in JavaScript. Both feed the same per-batch gradient slots (one per
 * distinct feature of the batch). The one-hot rows of a batch and the Adam step on its slots run in
 * WebAssembly (`simd.ts`: two calls per batch, nothing per example in JavaScript), over one memory
 * holding the parameters, their Adam moments, the batch and the slots. The factor rows' arithmetic
 * there is float32 SIMD (the reference's is float64, rounded at the store); logits, metrics, w0 and
 * the linear weights keep the reference's float64 expressions. So the model is the one the scalar
 * general trainer (bench/reference/fm.ts, kept as the reference) gives, to float32 rounding:
 * test/core/fm/train-equivalence.test.ts bounds the difference (1e-3 relative; the roundings add
 * up with the steps, so bench/fm.bench.ts allows 5e-3 for its longer trainings), and the bench
 * measures the speed ratio and checks the same test accuracy and AUC. SGD and AdaGrad (not the
 * built-in's default) update in JavaScript, in float64.
 */
import { z } from 'zod';
import { ConfigError, fmSchema, formatIssues, type FmHyperparameters } from '../config';
import { Rng } from '../random';
import { fmLogit } from './artifact';
import { createFmSimdKernels, type FmKernelLayout, type FmSimdKernels } from './simd';
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
  const maxRows = Math.min(batchSize, data.length);
  const batch = new BatchGradient(dim, nf, maxRows, Math.max(1, maxBatchNnz), p.optimizer, classifier);
  const { params, rowFloats } = batch;
  const w1 = batch.linear.w;

  const rng = new Rng(opts.seed);
  const w0 = new Float32Array(1);
  w0[0] = rng.normal() * p.bias_init_sigma;
  for (let i = 0; i < dim; i++) w1[i] = rng.normal() * p.linear_init_sigma;
  for (let j = 0; j < dim; j++) {
    for (let f = 0; f < nf; f++) params[j * rowFloats + f] = rng.normal() * p.factors_init_sigma;
  }

  const bias = paramGroup(w0, p.optimizer, p.bias_lr, p.bias_wd);
  const linear = { ...batch.linear, lr: p.linear_lr, wd: p.linear_wd };
  const factors = { lr: p.factors_lr, wd: p.factors_wd };
  const oneHot = oneHotRows(data);
  const general = generalRows(oneHot);

  const started = performance.now();
  let step = 0;
  let lastTrain: Record<string, number> = {};
  const acc = new MetricAccumulator(classifier);

  for (let epoch = 0; epoch < p.epochs; epoch++) {
    const epochStart = performance.now();
    acc.reset();
    let next = 0;
    for (let start = 0; start < data.length; start += batchSize) {
      const end = Math.min(start + batchSize, data.length);
      next = batch.accumulate(data, oneHot, general, next, start, end, w0[0], acc);
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

  const model: FmModel = { featureDim: dim, numFactors: nf, w0: w0[0], w1: w1.slice(), v: batch.factors() };
  const test = opts.test
    ? fmMetrics(p.predictor_type, scoreFm(model, opts.test), opts.test.label)
    : undefined;
  return { model, metrics: { train: lastTrain, ...(test ? { test } : {}) } };
}

/** The rows that are not one-hot, in order. */
function generalRows(oneHot: Uint8Array): Uint32Array {
  let count = 0;
  for (let r = 0; r < oneHot.length; r++) count += 1 - oneHot[r];
  const out = new Uint32Array(count);
  for (let r = 0, k = 0; r < oneHot.length; r++) if (oneHot[r] === 0) out[k++] = r;
  return out;
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
 * The parameters with their optimizer state, and the gradient of one mini-batch with one slot per
 * distinct feature of the batch (`slotOf` maps a feature to its slot, -1 when absent), averaged over
 * the batch's rows; `apply` updates exactly those rows (lazy updates) and leaves the slots empty.
 *
 * Everything the kernels touch lives in their memory (`FmKernelLayout`): the parameter rows
 * (factors, then their two Adam moments, each padded to a multiple of eight float32s with zeros that
 * stay zero), the linear weights and their moments, the batch's rows and the slots. Per batch the
 * kernels' `batch` takes the one-hot rows, this class the others (the general formula) into the
 * same slots.
 */
class BatchGradient {
  /** Parameter rows, `rowFloats` float32s each: factors at 0, Adam's moments at `stride`, `2·stride`. */
  readonly params: Float32Array;
  /** Linear weights and their optimizer state (Adam's moments, or AdaGrad's history in `s1`). */
  readonly linear: { readonly w: Float32Array; readonly s1: Float32Array; readonly s2: Float32Array };
  /** float32s per block of a parameter row (num_factors rounded up to a multiple of 8). */
  readonly stride: number;
  readonly rowFloats: number;
  private readonly kernels: FmSimdKernels;
  private readonly flags: Uint8Array;
  private readonly batchRowPtr: Uint32Array;
  private readonly batchCols: Uint32Array;
  private readonly batchLabel: Float32Array;
  private readonly slotOf: Int32Array;
  private readonly slotFeature: Int32Array;
  private readonly gradLinear: Float64Array;
  private readonly gradFactors: Float32Array;
  private readonly statsF64: Float64Array;
  private readonly statsI32: Int32Array;
  private readonly sums: Float64Array;
  private readonly gradScalar = new Float64Array(1);
  private slots = 0;
  private gradBias = 0;

  constructor(
    private readonly dim: number,
    private readonly nf: number,
    maxRows: number,
    maxSlots: number,
    private readonly optimizer: Optimizer,
    private readonly classifier: boolean,
  ) {
    const stride = (this.stride = Math.ceil(nf / 8) * 8);
    const rowFloats = (this.rowFloats = 3 * stride);
    let bytes = 0;
    const take = (n: number) => {
      const at = bytes;
      bytes += Math.ceil(n / 16) * 16;
      return at;
    };
    const layout: FmKernelLayout = {
      params: take(dim * rowFloats * 4),
      rowBytes: rowFloats * 4,
      vecBytes: stride * 4,
      classifier: classifier ? 1 : 0,
      w1: take(dim * 4),
      w1m: take(dim * 4),
      w1q: take(dim * 4),
      slotOf: take(dim * 4),
      slotFeature: take(maxSlots * 4),
      gradLinear: take(maxSlots * 8),
      grad: take(maxSlots * stride * 4),
      stats: take(32),
      out: take(maxRows * 8),
      pairs: take(maxRows * 8),
      rowPtr: take((maxRows + 1) * 4),
      cols: take(maxSlots * 4),
      label: take(maxRows * 4),
      flags: take(maxRows),
    };
    this.kernels = createFmSimdKernels(bytes, layout);
    const { buffer } = this.kernels.memory;
    this.params = new Float32Array(buffer, layout.params, dim * rowFloats);
    this.linear = {
      w: new Float32Array(buffer, layout.w1, dim),
      s1: new Float32Array(buffer, layout.w1m, dim),
      s2: new Float32Array(buffer, layout.w1q, dim),
    };
    this.slotOf = new Int32Array(buffer, layout.slotOf, dim).fill(-1);
    this.slotFeature = new Int32Array(buffer, layout.slotFeature, maxSlots);
    this.gradLinear = new Float64Array(buffer, layout.gradLinear, maxSlots);
    this.gradFactors = new Float32Array(buffer, layout.grad, maxSlots * stride);
    this.statsF64 = new Float64Array(buffer, layout.stats, 2);
    this.statsI32 = new Int32Array(buffer, layout.stats + 16, 3);
    this.batchRowPtr = new Uint32Array(buffer, layout.rowPtr, maxRows + 1);
    this.batchCols = new Uint32Array(buffer, layout.cols, maxSlots);
    this.batchLabel = new Float32Array(buffer, layout.label, maxRows);
    this.flags = new Uint8Array(buffer, layout.flags, maxRows);
    this.sums = new Float64Array(nf);
  }

  /** The factors as the model stores them: `nf` per feature, unpadded. */
  factors(): Float32Array {
    const { params, dim, nf, rowFloats } = this;
    const out = new Float32Array(dim * nf);
    for (let j = 0; j < dim; j++) out.set(params.subarray(j * rowFloats, j * rowFloats + nf), j * nf);
    return out;
  }

  /**
   * Forward and backward over rows [start, end) with the parameters as they are; `general` lists
   * the rows that are not one-hot, from `next` on (returns where the next batch starts in it).
   */
  accumulate(
    data: SparseExamples,
    oneHot: Uint8Array,
    general: Uint32Array,
    next: number,
    start: number,
    end: number,
    w0: number,
    acc: MetricAccumulator,
  ): number {
    const { rowPtr, cols, label } = data;
    const n = end - start;
    const scale = 1 / n;
    let oneHotRows = n;
    for (; next < general.length && general[next] < end; next++, oneHotRows--) {
      this.accumulateGeneral(data, general[next], w0, scale, acc);
    }
    this.flags.set(oneHot.subarray(start, end));
    this.batchRowPtr.set(rowPtr.subarray(start, end + 1));
    this.batchCols.set(cols.subarray(rowPtr[start], rowPtr[end]));
    this.batchLabel.set(label.subarray(start, end));
    this.slots = this.kernels.batch(n, w0, scale, this.slots);
    const { statsF64, statsI32 } = this;
    acc.addCounts(oneHotRows, statsF64[0], statsI32[0], statsI32[1], statsI32[2]);
    this.gradBias += statsF64[1];
    return next;
  }

  /** The general formula for row `r` (not one-hot), its gradient into the slots. */
  private accumulateGeneral(
    data: SparseExamples,
    r: number,
    w0: number,
    scale: number,
    acc: MetricAccumulator,
  ): void {
    const { rowPtr, cols, vals, label } = data;
    const { slotOf, slotFeature, gradLinear, gradFactors, sums, nf, stride, rowFloats, classifier } = this;
    const { params: v } = this;
    const w1 = this.linear.w;
    const a = rowPtr[r];
    const b = rowPtr[r + 1];
    const y = label[r];
    let linearPart = w0;
    let squares = 0;
    for (let f = 0; f < nf; f++) sums[f] = 0;
    for (let e = a; e < b; e++) {
      const j = cols[e];
      const x = vals[e];
      linearPart += w1[j] * x;
      const base = j * rowFloats;
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
    this.gradBias += g;
    let slots = this.slots;
    for (let e = a; e < b; e++) {
      const j = cols[e];
      const x = vals[e];
      let slot = slotOf[j];
      if (slot < 0) {
        // A fresh slot: the kernels leave a released slot's gradients as they were.
        slot = slots++;
        slotOf[j] = slot;
        slotFeature[slot] = j;
        gradLinear[slot] = 0;
        gradFactors.fill(0, slot * stride, slot * stride + stride);
      }
      const gx = g * x;
      gradLinear[slot] += gx;
      const base = j * rowFloats;
      const gBase = slot * stride;
      for (let f = 0; f < nf; f++) gradFactors[gBase + f] += gx * (sums[f] - v[base + f] * x);
    }
    this.slots = slots;
  }

  /** One optimizer step on w0 and on the rows of the batch's features; empties the slots. */
  apply(
    bias: ParamGroup,
    linear: ParamGroup,
    factors: { readonly lr: number; readonly wd: number },
    correction: number,
  ): void {
    const { slotOf, slotFeature, optimizer, stride, rowFloats, params } = this;
    const slots = this.slots;
    this.gradScalar[0] = this.gradBias;
    updateRows(optimizer, bias, this.gradScalar, 1, 1, ZERO_FEATURE, 1, correction);
    if (optimizer === 'adam') {
      // The linear weights and the factor rows in one pass; also releases the slots.
      this.kernels.adam(slots, factors.lr * correction, factors.wd, linear.lr * correction, linear.wd);
    } else {
      updateRows(optimizer, linear, this.gradLinear, slots, 1, slotFeature, 1, correction);
      const group = {
        w: params,
        s1: params.subarray(stride),
        s2: params.subarray(2 * stride),
        ...factors,
      };
      updateRows(optimizer, group, this.gradFactors, slots, stride, slotFeature, rowFloats, correction);
      for (let slot = 0; slot < slots; slot++) slotOf[slotFeature[slot]] = -1;
    }
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
  grad: Float32Array | Float64Array,
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

  /**
   * Adds `n` examples at once: their summed loss (log loss or squared error) and, for a classifier,
   * their true positive, false positive and false negative counts (the rest are true negatives).
   */
  addCounts(n: number, lossSum: number, tp: number, fp: number, fn: number): void {
    this.n += n;
    this.lossSum += lossSum;
    if (this.classifier) {
      this.tp += tp;
      this.fp += fp;
      this.fn += fn;
      this.tn += n - tp - fp - fn;
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
  const dim = p.feature_dim;
  for (let e = 0; e < cols.length; e++) {
    if (cols[e] >= dim) {
      throw new FmTrainingError(`${what}: column ${cols[e]} is out of range for feature_dim ${dim}`);
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
