/**
 * The SageMaker Factorization Machines model artifact: `model.tar.gz` ⊃ `model_algo-1`, a zip ⊃
 * `symbol.json` (the MXNet graph), `params` (an MXNet NDArray list named `arg:w0_weight`,
 * `arg:w1_weight`, `arg:v`) and, in some artifacts, `meta.json` (`training_parameters`).
 *
 * The reader accepts what the built-in algorithm writes and the reported variants (no `arg:` prefix,
 * `Linear_Plus_Bias_*` names with a (K, D) factor matrix). It never assumes the orientation of `v`: it
 * matches one dimension against the feature count. The writer produces the same layout from a locally
 * trained model, so the rest of the pipeline (vectors, serving bundle) reads one format whichever
 * trainer ran.
 */
import { ArchiveError, isZip, readTarGz, readZip, writeTarGz, writeZip } from '../archive';
import {
  NDArrayFormatError,
  readNDArrayList,
  writeNDArrayList,
  type NDArray,
  type NDArrayList,
} from '../mxnet/ndarray';
import type { FmModel } from '../types';

/** Thrown when a model artifact cannot be read as, or a model cannot be written as, an FM artifact. */
export class FmArtifactError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FmArtifactError';
  }
}

/** Options of {@link readFmModelTarGz}. */
export interface ReadFmModelOptions {
  /**
   * The number of features the model was trained with (the `feature_dim` hyperparameter). Used to find
   * the orientation of `v`; must agree with `meta.json` and the linear weights when they are present.
   * @default - `meta.json` `training_parameters.feature_dim`, else the length of the linear weights
   */
  readonly featureDim?: number;
}

/** Options of {@link writeFmModelTarGz}. */
export interface WriteFmModelOptions {
  /**
   * The training job's hyperparameters (strings, as SageMaker takes them), stored in `meta.json`
   * `training_parameters`. `feature_dim` and `num_factors` are always written from the model and must
   * agree with the model when given here.
   * @default - only `feature_dim` and `num_factors`
   */
  readonly hyperparameters?: Readonly<Record<string, string>>;
}

const MODEL_MEMBER = 'model_algo-1';
const LIST_HEADER = [0x12, 0x01, 0, 0, 0, 0, 0, 0];

/**
 * Reads an FM `model.tar.gz` (as SageMaker's built-in FM writes it, or as {@link writeFmModelTarGz}
 * does) into an {@link FmModel} with a feature-major factor matrix.
 *
 * @throws FmArtifactError for a truncated or foreign archive, a missing `model_algo-1`, an artifact of
 *   another algorithm (k-means/PCA NDArray list, k-NN FAISS index), a missing `params`, a corrupt
 *   NDArray list, missing arrays, shapes that do not fit together, a non-float32 dtype, or a `v` whose
 *   orientation is ambiguous (feature_dim == num_factors).
 */
export async function readFmModelTarGz(bytes: Uint8Array, opts: ReadFmModelOptions = {}): Promise<FmModel> {
  let members: Map<string, Uint8Array>;
  try {
    members = await readTarGz(bytes, 'model.tar.gz');
  } catch (error) {
    if (error instanceof ArchiveError) throw new FmArtifactError(error.message, { cause: error });
    throw error;
  }
  const algo = members.get(MODEL_MEMBER);
  if (algo === undefined) {
    throw new FmArtifactError(
      `model.tar.gz has no ${MODEL_MEMBER} member (members: ${[...members.keys()].join(', ') || 'none'})`,
    );
  }
  return readFmModelAlgo(algo, opts);
}

/** Reads the `model_algo-1` member itself (the zip), for callers that already unpacked the tar. */
export function readFmModelAlgo(algo: Uint8Array, opts: ReadFmModelOptions = {}): FmModel {
  if (opts.featureDim !== undefined && !(Number.isSafeInteger(opts.featureDim) && opts.featureDim > 0)) {
    throw new FmArtifactError(`the featureDim option is ${opts.featureDim}, not a positive integer`);
  }
  if (!isZip(algo)) throw new FmArtifactError(describeForeignModel(algo));
  let files: Map<string, Uint8Array>;
  try {
    files = readZip(algo, MODEL_MEMBER);
  } catch (error) {
    if (error instanceof ArchiveError) throw new FmArtifactError(error.message, { cause: error });
    throw error;
  }

  // The workshop renames `params` to `model-0000.params` before MXNet's Module.load; accept both.
  const paramsName = findMember(
    files,
    (base) => base === 'params' || /^.+-\d{4}\.params$/.test(base),
    'params',
  );
  if (paramsName === undefined) {
    throw new FmArtifactError(
      `${MODEL_MEMBER} has no params member (members: ${[...files.keys()].join(', ') || 'none'})`,
    );
  }
  const metaName = findMember(files, (base) => base === 'meta.json', 'meta.json');
  const meta = metaName === undefined ? {} : readMeta(files.get(metaName)!);

  let list: NDArrayList;
  try {
    list = readNDArrayList(files.get(paramsName)!);
  } catch (error) {
    if (error instanceof NDArrayFormatError) {
      throw new FmArtifactError(`${MODEL_MEMBER}/${paramsName}: ${error.message}`, { cause: error });
    }
    throw error;
  }
  return modelFromParams(list, paramsName, { ...meta, optsFeatureDim: opts.featureDim });
}

function describeForeignModel(algo: Uint8Array): string {
  if (LIST_HEADER.every((b, i) => algo[i] === b)) {
    return (
      `${MODEL_MEMBER} is a bare MXNet NDArray list, the artifact of k-means or PCA, not of ` +
      `Factorization Machines (whose ${MODEL_MEMBER} is a zip of symbol.json and params)`
    );
  }
  // FAISS index files start with a fourcc "Ix..": the built-in k-NN's artifact.
  if (algo[0] === 0x49 && algo[1] === 0x78) {
    return `${MODEL_MEMBER} looks like a FAISS index (a k-NN artifact), not a Factorization Machines zip`;
  }
  const head = Buffer.from(algo.subarray(0, 8)).toString('hex');
  return `${MODEL_MEMBER} is not a Factorization Machines zip (starts with 0x${head || '(empty)'})`;
}

/** The one member whose base name matches, or undefined; several matches are an error. */
function findMember(
  files: Map<string, Uint8Array>,
  matches: (basename: string) => boolean,
  what: string,
): string | undefined {
  const found = [...files.keys()].filter((name) => matches(name.slice(name.lastIndexOf('/') + 1)));
  if (found.length > 1) {
    throw new FmArtifactError(`${MODEL_MEMBER} has several ${what} members: ${found.join(', ')}`);
  }
  return found[0];
}

interface MetaHints {
  readonly metaFeatureDim?: number;
  readonly metaNumFactors?: number;
}

/** `meta.json` is optional and third-party-reported; when present its counts must be positive integers. */
function readMeta(bytes: Uint8Array): MetaHints {
  let meta: unknown;
  try {
    meta = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new FmArtifactError(`${MODEL_MEMBER}/meta.json is not valid JSON`, { cause: error });
  }
  const params = (meta as { training_parameters?: unknown } | null)?.training_parameters;
  if (params === undefined || params === null || typeof params !== 'object') return {};
  const record = params as Record<string, unknown>;
  return {
    metaFeatureDim: positiveCount(record.feature_dim, 'meta.json training_parameters.feature_dim'),
    metaNumFactors: positiveCount(record.num_factors, 'meta.json training_parameters.num_factors'),
  };
}

function positiveCount(value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) {
    throw new FmArtifactError(`${what} is ${JSON.stringify(value)}, not a positive integer`);
  }
  return n;
}

function modelFromParams(
  list: NDArrayList,
  paramsName: string,
  hints: MetaHints & { readonly optsFeatureDim?: number },
): FmModel {
  const where = `${MODEL_MEMBER}/${paramsName}`;
  if (list.names.length === 0) {
    throw new FmArtifactError(`${where} holds ${list.arrays.length} unnamed arrays; FM params are named`);
  }
  const byName = new Map<string, NDArray>();
  list.names.forEach((name, i) => {
    const bare = name.replace(/^(arg|aux):/, '');
    if (byName.has(bare)) throw new FmArtifactError(`${where} has the array ${bare} twice`);
    byName.set(bare, list.arrays[i]);
  });
  const present = [...byName.keys()].join(', ');
  const pick = (standard: string, variant: string): [string, NDArray] => {
    const a = byName.get(standard);
    const b = byName.get(variant);
    if (a && b) throw new FmArtifactError(`${where} has both ${standard} and ${variant}`);
    if (!a && !b) {
      throw new FmArtifactError(`${where} has no ${standard} (or ${variant}) array (arrays: ${present})`);
    }
    return a ? [standard, a] : [variant, b!];
  };
  const [w0Name, w0Array] = pick('w0_weight', 'Linear_Plus_Bias_bias');
  const [w1Name, w1Array] = pick('w1_weight', 'Linear_Plus_Bias_weight');
  const vArray = byName.get('v');
  if (vArray === undefined) throw new FmArtifactError(`${where} has no v array (arrays: ${present})`);

  const w0 = float32(w0Array, w0Name, where);
  const w1 = float32(w1Array, w1Name, where);
  const v = float32(vArray, 'v', where);

  if (w0.length !== 1) {
    throw new FmArtifactError(`${where}: ${w0Name} has shape [${w0Array.shape}], expected one element`);
  }
  const w1Dims = w1Array.shape.filter((dim) => dim !== 1);
  if (w1Array.shape.length > 2 || w1Dims.length > 1 || w1.length === 0) {
    throw new FmArtifactError(
      `${where}: ${w1Name} has shape [${w1Array.shape}], expected [feature_dim, 1] or [1, feature_dim]`,
    );
  }
  const featureDim = agreeOnFeatureDim(
    [
      ['the featureDim option', hints.optsFeatureDim],
      ['meta.json feature_dim', hints.metaFeatureDim],
      [`the length of ${w1Name}`, w1.length],
    ],
    where,
  );

  if (vArray.shape.length !== 2) {
    throw new FmArtifactError(`${where}: v has shape [${vArray.shape}], expected 2 dimensions`);
  }
  const [rows, cols] = vArray.shape;
  if (rows === featureDim && cols === featureDim) {
    throw new FmArtifactError(
      `${where}: v is [${rows}, ${cols}], and num_factors == feature_dim == ${featureDim}: ` +
        `its orientation cannot be told apart`,
    );
  }
  let factors: Float32Array;
  let numFactors: number;
  if (rows === featureDim) {
    numFactors = cols;
    factors = v;
  } else if (cols === featureDim) {
    numFactors = rows;
    factors = transpose(v, rows, cols);
  } else {
    throw new FmArtifactError(
      `${where}: v has shape [${vArray.shape}], neither dimension is feature_dim ${featureDim}`,
    );
  }
  if (numFactors === 0) throw new FmArtifactError(`${where}: v has shape [${vArray.shape}], no factors`);
  if (hints.metaNumFactors !== undefined && hints.metaNumFactors !== numFactors) {
    throw new FmArtifactError(
      `${where}: v has ${numFactors} factors but meta.json num_factors is ${hints.metaNumFactors}`,
    );
  }
  return { featureDim, numFactors, w0: w0[0], w1, v: factors };
}

function float32(array: NDArray, name: string, where: string): Float32Array {
  if (array.none) throw new FmArtifactError(`${where}: ${name} is an uninitialised (none) array`);
  if (array.dtype !== 'float32') {
    throw new FmArtifactError(`${where}: ${name} has dtype ${array.dtype}, expected float32`);
  }
  return array.data as Float32Array;
}

function agreeOnFeatureDim(sources: Array<[string, number | undefined]>, where: string): number {
  const known = sources.filter((s): s is [string, number] => s[1] !== undefined);
  const [firstName, first] = known[0];
  for (const [name, value] of known.slice(1)) {
    if (value !== first) {
      throw new FmArtifactError(`${where}: ${firstName} is ${first} but ${name} is ${value}`);
    }
  }
  return first;
}

/** (rows × cols) row-major → (cols × rows) row-major. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = m[base + c];
  }
  return out;
}

/**
 * Writes an FM model in the layout SageMaker's built-in FM produces: `model.tar.gz` ⊃ `model_algo-1`
 * (zip) ⊃ `symbol.json`, `params` (NDArray list V2: `arg:w0_weight` [1], `arg:w1_weight` [D, 1],
 * `arg:v` [D, K], float32) and `meta.json` (`{"training_parameters": {...}}`, string values, sorted
 * keys). Same model and options → same bytes.
 *
 * `symbol.json` is a plausible MXNet symbol graph of the FM network (valid JSON in MXNet's node/arg
 * layout, with the three parameters and the ops of the FM formula); it documents the artifact but is not
 * guaranteed to load in MXNet, and nothing in reelflow reads it.
 *
 * @throws FmArtifactError when the model's arrays do not match its dimensions, or when the
 *   hyperparameters contradict them.
 */
export async function writeFmModelTarGz(model: FmModel, opts: WriteFmModelOptions = {}): Promise<Buffer> {
  checkModel(model);
  const { featureDim: d, numFactors: k } = model;
  const given = opts.hyperparameters ?? {};
  for (const [key, value] of [
    ['feature_dim', d],
    ['num_factors', k],
  ] as const) {
    if (given[key] !== undefined && Number(given[key]) !== value) {
      throw new FmArtifactError(`hyperparameter ${key}=${given[key]} contradicts the model's ${value}`);
    }
  }
  const trainingParameters: Record<string, string> = {
    ...given,
    feature_dim: String(d),
    num_factors: String(k),
  };
  const sorted = Object.fromEntries(
    Object.keys(trainingParameters)
      .sort()
      .map((key) => [key, trainingParameters[key]]),
  );

  const params = writeNDArrayList(
    [
      { shape: [1], dtype: 'float32', data: Float32Array.of(model.w0) },
      { shape: [d, 1], dtype: 'float32', data: model.w1 },
      { shape: [d, k], dtype: 'float32', data: model.v },
    ],
    ['arg:w0_weight', 'arg:w1_weight', 'arg:v'],
  );
  const symbol = fmSymbolJson(d, k, trainingParameters.predictor_type ?? 'binary_classifier');
  const meta = JSON.stringify({ training_parameters: sorted }, null, 2);
  // Stored, not deflated: the float matrices barely compress and the tar.gz compresses them anyway.
  const zip = writeZip(
    [
      ['symbol.json', Buffer.from(symbol, 'utf8')],
      ['params', params],
      ['meta.json', Buffer.from(meta, 'utf8')],
    ],
    { level: 0 },
  );
  return writeTarGz([[MODEL_MEMBER, zip]]);
}

function checkModel(model: FmModel): void {
  const { featureDim: d, numFactors: k } = model;
  if (!Number.isSafeInteger(d) || d <= 0 || !Number.isSafeInteger(k) || k <= 0) {
    throw new FmArtifactError(`cannot write a model with featureDim ${d} and numFactors ${k}`);
  }
  if (model.w1.length !== d) {
    throw new FmArtifactError(`cannot write: w1 has ${model.w1.length} weights, featureDim is ${d}`);
  }
  if (model.v.length !== d * k) {
    throw new FmArtifactError(
      `cannot write: v has ${model.v.length} floats, featureDim × numFactors is ${d * k}`,
    );
  }
  if (!Number.isFinite(model.w0)) throw new FmArtifactError(`cannot write: w0 is ${model.w0}`);
}

/**
 * The FM network as an MXNet symbol graph (nodes, arg_nodes, node_row_ptr, heads):
 * ŷ = w0 + x·w1 + ½ Σ_f [(x·v)_f² − (x²·v²)_f], then the output layer of the predictor type.
 */
function fmSymbolJson(d: number, k: number, predictorType: string): string {
  type Node = { op: string; name: string; attrs?: Record<string, string>; inputs: number[][] };
  const nodes: Node[] = [];
  const add = (op: string, name: string, inputs: number[], attrs?: Record<string, string>): number => {
    nodes.push({ op, name, ...(attrs ? { attrs } : {}), inputs: inputs.map((i) => [i, 0, 0]) });
    return nodes.length - 1;
  };
  const data = add('null', 'data', [], { __storage_type__: '2' });
  const w1 = add('null', 'w1_weight', [], { __shape__: `(${d}, 1)` });
  const w0 = add('null', 'w0_weight', [], { __shape__: '(1,)' });
  const v = add('null', 'v', [], { __shape__: `(${d}, ${k})` });
  const linear = add('dot', 'linear', [data, w1]);
  const biased = add('broadcast_add', 'linear_plus_bias', [linear, w0]);
  const xv = add('dot', 'xv', [data, v]);
  const xvSquared = add('square', 'xv_squared', [xv]);
  const xSquared = add('square', 'x_squared', [data]);
  const vSquared = add('square', 'v_squared', [v]);
  const x2v2 = add('dot', 'x2v2', [xSquared, vSquared]);
  const diff = add('elemwise_sub', 'pairwise_diff', [xvSquared, x2v2]);
  const summed = add('sum', 'pairwise_sum', [diff], { axis: '1', keepdims: 'True' });
  const pairwise = add('_mul_scalar', 'pairwise', [summed], { scalar: '0.5' });
  const score = add('elemwise_add', 'score', [biased, pairwise]);
  const label = add('null', 'out_label', []);
  const outputOp = predictorType === 'regressor' ? 'LinearRegressionOutput' : 'LogisticRegressionOutput';
  const out = add(outputOp, 'out', [score, label]);
  const graph = {
    nodes,
    arg_nodes: nodes.flatMap((node, i) => (node.op === 'null' ? [i] : [])),
    node_row_ptr: nodes.map((_, i) => i).concat(nodes.length),
    heads: [[out, 0, 0]],
    attrs: { mxnet_version: ['int', 10200] },
  };
  return JSON.stringify(graph, null, 2);
}

/**
 * The FM logit of one sparse example (column indices `cols`, values `vals`):
 * w0 + Σ w1ᵢxᵢ + ½ Σ_f [(Σᵢ vᵢ_f xᵢ)² − Σᵢ vᵢ_f² xᵢ²], in O(nnz·K) and float64. Repeated columns are
 * summed as separate non-zeros (the identity's own convention).
 *
 * @throws RangeError when `cols` and `vals` differ in length or a column is outside the model.
 */
export function fmLogit(model: FmModel, cols: ArrayLike<number>, vals: ArrayLike<number>): number {
  const { featureDim, numFactors: k, w1, v } = model;
  const nnz = cols.length;
  if (vals.length !== nnz) throw new RangeError(`fmLogit: ${nnz} columns but ${vals.length} values`);
  let logit = model.w0;
  for (let j = 0; j < nnz; j++) {
    const c = cols[j];
    if (!(c >= 0 && c < featureDim && Number.isInteger(c))) {
      throw new RangeError(`fmLogit: column ${c} is outside the model's ${featureDim} features`);
    }
    logit += w1[c] * vals[j];
  }
  let pairwise = 0;
  for (let f = 0; f < k; f++) {
    let sum = 0;
    let sumOfSquares = 0;
    for (let j = 0; j < nnz; j++) {
      const term = v[cols[j] * k + f] * vals[j];
      sum += term;
      sumOfSquares += term * term;
    }
    pairwise += sum * sum - sumOfSquares;
  }
  return logit + 0.5 * pairwise;
}
