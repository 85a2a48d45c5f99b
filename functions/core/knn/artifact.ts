/**
 * The k-NN `model.tar.gz` as the built-in algorithm writes it (kNN_how-it-works doc,
 * sagemaker-formats.md §4.5), so a locally trained index and a SageMaker-trained one are
 * interchangeable:
 *
 * - `model_algo-1`: the FAISS index, here always a flat index (`faiss.Flat`: IndexFlatIP/IndexFlatL2);
 * - `model_algo-1.labels`: one raw little-endian float32 label per indexed row;
 * - `model_algo-1.json`: inference settings, `{"k":100,"predictor_type":"classifier",
 *   "dimension_reduction":null,"normalize":false,"version":"1.0"}`. The doc shows
 *   `dimension_reduction` as an object when a reduction was trained; what the built-in writes
 *   without one is unverified, so the reader accepts null or absent and the writer writes null.
 *
 * FAISS flat index layout (little-endian, no padding), from `faiss/impl/index_write.cpp`
 * (`write_index_header`, the `IndexFlat` branch of `write_index`), `faiss/impl/index_read.cpp`
 * (`read_index_header`, the "IxFI"/"IxF2" branch) and `faiss/impl/io_macros.h` (`WRITEXBVECTOR`) at
 * facebookresearch/faiss 02dbb4e (2026-08); the 2019 layout (`index_io.cpp` at c4c5d6f, the faiss of
 * the workshop's time) writes the same bytes through `WRITEVECTOR(xb)`:
 *
 * | offset | size | field                                                                  |
 * |--------|------|------------------------------------------------------------------------|
 * | 0      | 4    | fourcc "IxFI" (inner product) or "IxF2" (L2), chars in file order     |
 * | 4      | 4    | d, int32                                                               |
 * | 8      | 8    | ntotal, int64                                                          |
 * | 16     | 8    | dummy int64 = 1 << 20                                                  |
 * | 24     | 8    | dummy int64 = 1 << 20                                                  |
 * | 32     | 1    | is_trained, bool (1)                                                   |
 * | 33     | 4    | metric_type, int32 (0 = INNER_PRODUCT, 1 = L2; metric_arg f32 follows  |
 * |        |      | only for metric_type > 1, never for a flat IP/L2 index)                |
 * | 37     | 8    | number of floats, uint64 = ntotal × d                                  |
 * | 45     | 4·n  | the vectors, float32, row-major                                        |
 *
 * Written by hand (no JS faiss binding installs offline, tooling.md §5): a flat index is a fixed
 * header plus the raw vectors.
 */
import { ArchiveError, readTarGz, writeTarGz } from '../archive';
import { buildKnnIndex, KnnSearchError, type KnnIndex, type KnnMetric } from './search';
import type { KnnPredictorType } from './codec';

export const KNN_MODEL_MEMBER = 'model_algo-1';
export const KNN_LABELS_MEMBER = 'model_algo-1.labels';
export const KNN_META_MEMBER = 'model_algo-1.json';

/** Size of the flat-index header before the vectors. */
export const FAISS_FLAT_HEADER_BYTES = 45;

const FOURCC_IP = 'IxFI';
const FOURCC_L2 = 'IxF2';
const METRIC_INNER_PRODUCT = 0;
const METRIC_L2 = 1;
const HEADER_DUMMY = BigInt(1 << 20);

/** Thrown when bytes are not a k-NN artifact reelflow can serve (foreign, truncated, unsupported). */
export class KnnArtifactError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KnnArtifactError';
  }
}

/** The inference settings of `model_algo-1.json`. */
export interface KnnModelHyperparameters {
  readonly k: number;
  readonly predictor_type: KnnPredictorType;
}

export interface KnnModel {
  readonly index: KnnIndex;
  readonly k: number;
  readonly predictorType: KnnPredictorType;
}

/** A faiss `IndexFlatIP`/`IndexFlatL2` serialization of the index vectors (labels are separate). */
export function writeFaissFlatIndex(
  index: Pick<KnnIndex, 'dim' | 'count' | 'metric' | 'vectors'>,
): Uint8Array {
  const { dim, count, metric, vectors } = index;
  if (vectors.length !== dim * count) {
    throw new KnnArtifactError(`index has ${vectors.length} values, expected ${count} × ${dim}`);
  }
  const bytes = new Uint8Array(FAISS_FLAT_HEADER_BYTES + vectors.length * 4);
  const view = new DataView(bytes.buffer);
  bytes.set(Buffer.from(metric === 'INNER_PRODUCT' ? FOURCC_IP : FOURCC_L2, 'latin1'), 0);
  view.setInt32(4, dim, true);
  view.setBigInt64(8, BigInt(count), true);
  view.setBigInt64(16, HEADER_DUMMY, true);
  view.setBigInt64(24, HEADER_DUMMY, true);
  view.setUint8(32, 1);
  view.setInt32(33, metric === 'INNER_PRODUCT' ? METRIC_INNER_PRODUCT : METRIC_L2, true);
  view.setBigUint64(37, BigInt(vectors.length), true);
  // Vectors as little-endian float32 (DataView per value: the data starts at an unaligned offset).
  for (let i = 0, o = FAISS_FLAT_HEADER_BYTES; i < vectors.length; i++, o += 4)
    view.setFloat32(o, vectors[i], true);
  return bytes;
}

/** Reads a faiss flat index ("IxFI" or "IxF2"); any other faiss index type is a clear error. */
export function readFaissFlatIndex(bytes: Uint8Array): {
  dim: number;
  count: number;
  metric: KnnMetric;
  vectors: Float32Array;
} {
  if (bytes.length < 4) throw new KnnArtifactError(`${KNN_MODEL_MEMBER} is too short to be a faiss index`);
  const fourcc = Buffer.from(bytes.subarray(0, 4)).toString('latin1');
  if (fourcc !== FOURCC_IP && fourcc !== FOURCC_L2) {
    const printable = /^[\x20-\x7e]{4}$/.test(fourcc) ? `'${fourcc}'` : 'unknown bytes';
    throw new KnnArtifactError(
      `${KNN_MODEL_MEMBER} starts with ${printable}: only faiss flat indexes ("IxFI", "IxF2", index_type faiss.Flat) are supported`,
    );
  }
  if (bytes.length < FAISS_FLAT_HEADER_BYTES) {
    throw new KnnArtifactError(`${KNN_MODEL_MEMBER} is truncated inside the faiss index header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dim = view.getInt32(4, true);
  const ntotal = view.getBigInt64(8, true);
  const metricType = view.getInt32(33, true);
  const floats = view.getBigUint64(37, true);
  const metric: KnnMetric = fourcc === FOURCC_IP ? 'INNER_PRODUCT' : 'L2';
  const expectedMetric = metric === 'INNER_PRODUCT' ? METRIC_INNER_PRODUCT : METRIC_L2;
  if (dim <= 0 || dim > 1 << 20) throw new KnnArtifactError(`faiss index has invalid dimension ${dim}`);
  if (ntotal < 0n || ntotal > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new KnnArtifactError(`faiss index has invalid ntotal ${ntotal}`);
  }
  if (metricType !== expectedMetric) {
    throw new KnnArtifactError(
      `faiss index ${fourcc} has metric_type ${metricType}, expected ${expectedMetric}`,
    );
  }
  const count = Number(ntotal);
  if (floats !== BigInt(count * dim)) {
    throw new KnnArtifactError(`faiss index holds ${floats} floats, expected ntotal ${count} × d ${dim}`);
  }
  const expectedBytes = FAISS_FLAT_HEADER_BYTES + count * dim * 4;
  if (bytes.length !== expectedBytes) {
    throw new KnnArtifactError(
      `faiss index is ${bytes.length} bytes, expected ${expectedBytes} for ${count} vectors of dim ${dim}` +
        (bytes.length < expectedBytes ? ' (truncated)' : ' (trailing bytes)'),
    );
  }
  const vectors = new Float32Array(count * dim);
  for (let i = 0, o = FAISS_FLAT_HEADER_BYTES; i < vectors.length; i++, o += 4)
    vectors[i] = view.getFloat32(o, true);
  return { dim, count, metric, vectors };
}

/** The built-in's three-member `model.tar.gz` for an index and its inference settings. */
export async function writeKnnModelTarGz(index: KnnIndex, hp: KnnModelHyperparameters): Promise<Buffer> {
  validateSettings(hp.k, hp.predictor_type);
  if (index.labels.length !== index.count) {
    throw new KnnArtifactError(`${index.labels.length} labels for ${index.count} vectors`);
  }
  const labels = new Uint8Array(index.count * 4);
  const view = new DataView(labels.buffer);
  for (let i = 0; i < index.count; i++) view.setFloat32(i * 4, index.labels[i], true);
  const meta = {
    k: hp.k,
    predictor_type: hp.predictor_type,
    dimension_reduction: null,
    normalize: false,
    version: '1.0',
  };
  return writeTarGz([
    [KNN_MODEL_MEMBER, writeFaissFlatIndex(index)],
    [KNN_LABELS_MEMBER, labels],
    [KNN_META_MEMBER, Buffer.from(JSON.stringify(meta))],
  ]);
}

/** Reads a k-NN `model.tar.gz` (ours or the built-in's flat-index ones) into a searchable index. */
export async function readKnnModelTarGz(bytes: Uint8Array): Promise<KnnModel> {
  let files: Map<string, Uint8Array>;
  try {
    files = await readTarGz(bytes, 'k-NN model.tar.gz');
  } catch (error) {
    if (error instanceof ArchiveError) throw new KnnArtifactError(error.message, { cause: error });
    throw error;
  }
  const member = (name: string): Uint8Array => {
    const found = files.get(name);
    if (!found) {
      throw new KnnArtifactError(
        `k-NN model.tar.gz has no ${name} (members: ${[...files.keys()].join(', ') || 'none'})`,
      );
    }
    return found;
  };
  const flat = readFaissFlatIndex(member(KNN_MODEL_MEMBER));
  const labelBytes = member(KNN_LABELS_MEMBER);
  if (labelBytes.length !== flat.count * 4) {
    throw new KnnArtifactError(
      `${KNN_LABELS_MEMBER} has ${labelBytes.length} bytes, expected ${flat.count * 4} (one float32 per vector)`,
    );
  }
  const labelView = new DataView(labelBytes.buffer, labelBytes.byteOffset, labelBytes.byteLength);
  const labels = new Float32Array(flat.count);
  for (let i = 0; i < flat.count; i++) labels[i] = labelView.getFloat32(i * 4, true);

  const meta = parseMeta(member(KNN_META_MEMBER));
  let index: KnnIndex;
  try {
    index = buildKnnIndex(flat.vectors, labels, flat.dim, flat.metric);
  } catch (error) {
    if (error instanceof KnnSearchError) throw new KnnArtifactError(error.message, { cause: error });
    throw error;
  }
  return { index, k: meta.k, predictorType: meta.predictor_type };
}

function parseMeta(bytes: Uint8Array): KnnModelHyperparameters {
  let meta: unknown;
  try {
    meta = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new KnnArtifactError(`${KNN_META_MEMBER} is not JSON: ${(error as Error).message}`);
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new KnnArtifactError(`${KNN_META_MEMBER} must be a JSON object`);
  }
  const m = meta as Record<string, unknown>;
  validateSettings(m.k, m.predictor_type);
  if (m.dimension_reduction !== undefined && m.dimension_reduction !== null) {
    throw new KnnArtifactError(
      `${KNN_META_MEMBER} declares dimension_reduction ${JSON.stringify(m.dimension_reduction)}: reduced indexes are not supported`,
    );
  }
  if (m.normalize !== undefined && m.normalize !== false) {
    throw new KnnArtifactError(
      `${KNN_META_MEMBER} declares normalize ${JSON.stringify(m.normalize)}: normalized (COSINE) indexes are not supported`,
    );
  }
  if (m.version !== undefined && (typeof m.version !== 'string' || !m.version.startsWith('1.'))) {
    throw new KnnArtifactError(`${KNN_META_MEMBER} has unsupported version ${JSON.stringify(m.version)}`);
  }
  return { k: m.k as number, predictor_type: m.predictor_type as KnnPredictorType };
}

function validateSettings(k: unknown, predictorType: unknown): void {
  if (typeof k !== 'number' || !Number.isInteger(k) || k <= 0) {
    throw new KnnArtifactError(`k must be a positive integer, got ${JSON.stringify(k)}`);
  }
  if (predictorType !== 'classifier' && predictorType !== 'regressor') {
    throw new KnnArtifactError(
      `predictor_type must be 'classifier' or 'regressor', got ${JSON.stringify(predictorType)}`,
    );
  }
}
