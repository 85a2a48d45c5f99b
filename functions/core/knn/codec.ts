/**
 * The built-in k-NN's inference wire formats, so the local serving path speaks exactly what the
 * SageMaker endpoint speaks, and refuses what it does not document (`kNN-inference-formats` doc; the
 * lists live in core/algorithms/knn.json):
 *
 * Requests (`Content-Type`):
 * - `application/json`: `{"instances":[{"features":[...]}, {"data":{"features":{"values":[...]}}}]}`
 * - `application/jsonlines`: one such instance per line
 * - `text/csv`: one vector per line; `label_size=n` (default 0) drops the first n columns, `encoding`
 *   (default utf-8) names the text encoding.
 * - anything else (e.g. `application/x-jsonlines`): 415, as the container refuses it.
 *
 * Responses (`Accept`), only the documented ones:
 * - `application/json` → `{"predictions":[{"predicted_label":x}, ...]}`
 * - `application/json; verbose=true` → each prediction also has `distances` and `labels`
 * - `application/jsonlines` → one `{"predicted_label":x}` per line
 * - anything else, e.g. `application/jsonlines; verbose=true` (undocumented): 406.
 *
 * Verbose `distances` are sorted from smallest to largest with `labels` aligned, as the built-in
 * documents. With `INNER_PRODUCT` the "distance" is a similarity, so **the best match comes last**;
 * with `L2` it comes first. Consumers must not guess: `orderBestFirst` turns any prediction into
 * best-first order given the index metric.
 *
 * `application/x-recordio-protobuf` (request, and Accept with or without verbose) is documented but
 * not produced here: reelflow's serving path never sends it; the recordIO codec lives in
 * `core/recordio/`. Asking for it is a clear `KnnRequestError` naming the local limitation, not a
 * silent fallback.
 */
import { TextDecoder } from 'node:util';
import {
  BuiltinClientError,
  checkRequestContentType,
  KNN,
  parseMediaType,
  resolveAcceptType,
} from '../algorithms';
import type { KnnMetric, KnnSearchResult } from './search';

export { parseMediaType } from '../algorithms';

export type KnnPredictorType = 'classifier' | 'regressor';

/** One prediction as the endpoint returns it (labels and distances only when verbose). */
export interface KnnPrediction {
  readonly predicted_label: number;
  readonly labels?: number[];
  readonly distances?: number[];
}

/** Parsed request vectors, row-major. */
export interface KnnRequest {
  readonly count: number;
  readonly dim: number;
  readonly vectors: Float32Array;
}

/**
 * A request the endpoint would refuse. `status` is the HTTP status a server should answer:
 * 400 for a bad body, 415 for an undocumented Content-Type, 406 for an Accept it does not document.
 */
export class KnnRequestError extends Error {
  readonly status: 400 | 406 | 415;

  constructor(message: string, status: 400 | 406 | 415 = 400) {
    super(message);
    this.name = 'KnnRequestError';
    this.status = status;
  }
}

/** A response body that is not one of the built-in's response shapes. */
export class KnnResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KnnResponseError';
  }
}

const RECORDIO = 'application/x-recordio-protobuf';

/**
 * Reads the vectors of an inference request. Every row must have the same length, equal to
 * `expectedDim` when given; every value must be a finite float32.
 */
export function parseKnnRequest(
  body: Uint8Array | string,
  contentType: string,
  expectedDim?: number,
): KnnRequest {
  const type = documentedRequestType(contentType);
  const media = parseMediaType(contentType);
  if (type === RECORDIO) {
    throw new KnnRequestError(
      `content type ${RECORDIO} is documented but not implemented by reelflow's k-NN codec; ` +
        `send application/json, application/jsonlines or text/csv`,
      415,
    );
  }
  let rows: number[][];
  if (type === 'application/json') {
    rows = parseJsonInstances(decodeText(body, 'utf-8'));
  } else if (type === 'application/jsonlines') {
    rows = parseJsonLines(decodeText(body, 'utf-8'));
  } else {
    rows = parseCsv(decodeText(body, media.params.get('encoding') ?? 'utf-8'), labelSize(media));
  }
  if (rows.length === 0) throw new KnnRequestError('the request holds no instances');
  const dim = rows[0].length;
  if (dim === 0) throw new KnnRequestError('instance 0 has no features');
  if (expectedDim !== undefined && dim !== expectedDim) {
    throw new KnnRequestError(`instance 0 has ${dim} features, the index expects ${expectedDim}`);
  }
  const vectors = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => {
    if (row.length !== dim) {
      throw new KnnRequestError(`instance ${i} has ${row.length} features, instance 0 has ${dim}`);
    }
    for (let d = 0; d < dim; d++) {
      const value = Math.fround(row[d]);
      if (!Number.isFinite(value)) {
        throw new KnnRequestError(`instance ${i}, feature ${d}: ${row[d]} is not a finite float32`);
      }
      vectors[i * dim + d] = value;
    }
  });
  return { count: rows.length, dim, vectors };
}

/**
 * Renders search results as the built-in would for `accept`. `result` is best first per query
 * (as `knnSearch` returns it); verbose output lists distances ascending, so for `INNER_PRODUCT` the
 * lists are reversed (best last).
 *
 * `predicted_label`: classifier = the most frequent label among the k neighbours, ties to the
 * smallest label (the rule of `scipy.stats.mode` / `numpy.argmax(bincount)`; the built-in does not
 * document its own); regressor = the mean of the k labels.
 */
export function formatKnnResponse(
  result: KnnSearchResult,
  accept: string,
  predictorType: KnnPredictorType,
): { body: string; contentType: string } {
  const { format, verbose, contentType } = resolveAccept(accept);
  const { k } = result;
  const nQueries = k > 0 ? result.labels.length / k : 0;
  const predictions: string[] = [];
  for (let q = 0; q < nQueries; q++) {
    const labels = Array.from(result.labels.subarray(q * k, (q + 1) * k));
    const predicted = predictLabel(labels, predictorType);
    if (!verbose) {
      predictions.push(JSON.stringify({ predicted_label: predicted }));
      continue;
    }
    const distances = Array.from(result.distances.subarray(q * k, (q + 1) * k));
    if (result.metric === 'INNER_PRODUCT') {
      labels.reverse();
      distances.reverse();
    }
    predictions.push(
      format === 'json'
        ? JSON.stringify({ predicted_label: predicted, distances, labels })
        : JSON.stringify({ distances, labels, predicted_label: predicted }),
    );
  }
  const body =
    format === 'json'
      ? `{"predictions":[${predictions.join(',')}]}`
      : predictions.map((line) => `${line}\n`).join('');
  return { body, contentType };
}

/** Reads any of the response shapes `formatKnnResponse` (and the built-in) produce. */
export function parseKnnResponse(body: Uint8Array | string, contentType: string): KnnPrediction[] {
  const media = parseMediaType(contentType || '');
  const text = typeof body === 'string' ? body : decodeResponse(body);
  if (media.type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new KnnResponseError(`response is not JSON: ${(error as Error).message}`);
    }
    if (!isObject(parsed) || !Array.isArray(parsed.predictions)) {
      throw new KnnResponseError('response JSON has no "predictions" array');
    }
    return parsed.predictions.map((p, i) => toPrediction(p, `prediction ${i}`));
  }
  if (media.type === 'application/jsonlines') {
    return nonEmptyLines(text).map(({ line, n }) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (error) {
        throw new KnnResponseError(`response line ${n} is not JSON: ${(error as Error).message}`);
      }
      return toPrediction(parsed, `response line ${n}`);
    });
  }
  throw new KnnResponseError(`unsupported response content type '${contentType}'`);
}

/**
 * Labels and distances of a verbose prediction, best first: by descending similarity for
 * `INNER_PRODUCT`, ascending distance for `L2`. Equal distances keep the order the index ranked
 * them in (the ascending verbose list is a reversal for `INNER_PRODUCT`, so ties are read from the
 * end there). Every consumer of k-NN output goes through this instead of assuming an order.
 */
export function orderBestFirst(
  prediction: KnnPrediction,
  metric: KnnMetric,
): { labels: number[]; distances: number[] } {
  const { labels, distances } = prediction;
  if (!labels || !distances) {
    throw new KnnResponseError('the prediction has no labels/distances: request a verbose Accept type');
  }
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i);
  if (metric === 'INNER_PRODUCT') {
    order.sort((a, b) => distances[b] - distances[a] || b - a);
  } else {
    order.sort((a, b) => distances[a] - distances[b] || a - b);
  }
  return { labels: order.map((i) => labels[i]), distances: order.map((i) => distances[i]) };
}

/** Majority vote (ties to the smallest label) or mean, as documented on `formatKnnResponse`. */
export function predictLabel(labels: ArrayLike<number>, predictorType: KnnPredictorType): number {
  if (labels.length === 0) return NaN;
  if (predictorType === 'regressor') {
    let sum = 0;
    for (let i = 0; i < labels.length; i++) sum += labels[i];
    return Math.fround(sum / labels.length);
  }
  const counts = new Map<number, number>();
  let best = labels[0];
  let bestCount = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    const c = (counts.get(label) ?? 0) + 1;
    counts.set(label, c);
    if (c > bestCount || (c === bestCount && label < best)) {
      best = label;
      bestCount = c;
    }
  }
  return best;
}

/** The documented request media type of `contentType`, or a 415 KnnRequestError. */
function documentedRequestType(contentType: string): string {
  try {
    return checkRequestContentType(KNN, contentType || '');
  } catch (error) {
    if (error instanceof BuiltinClientError) throw new KnnRequestError(error.message, error.status);
    throw error;
  }
}

/** The documented Accept type for `accept` (core/algorithms) and how to render it; 406 otherwise. */
function resolveAccept(accept: string): {
  format: 'json' | 'jsonlines';
  verbose: boolean;
  contentType: string;
} {
  let contentType: string;
  try {
    contentType = resolveAcceptType(KNN, accept);
  } catch (error) {
    if (error instanceof BuiltinClientError) throw new KnnRequestError(error.message, error.status);
    throw error;
  }
  const media = parseMediaType(contentType);
  if (media.type === RECORDIO) {
    throw new KnnRequestError(
      `accept ${contentType} is documented but not implemented by reelflow's k-NN codec; ` +
        `use application/json (optionally ; verbose=true) or application/jsonlines`,
      406,
    );
  }
  return {
    format: media.type === 'application/json' ? 'json' : 'jsonlines',
    verbose: media.params.get('verbose') === 'true',
    contentType,
  };
}

function labelSize(media: ReturnType<typeof parseMediaType>): number {
  const raw = media.params.get('label_size') ?? '0';
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) {
    throw new KnnRequestError(`label_size must be a non-negative integer, got '${raw}'`);
  }
  return n;
}

/** Decodes a byte body; a string body is taken as already decoded, but the encoding is still checked. */
function decodeText(body: Uint8Array | string, encoding: string): string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(encoding, { fatal: true });
  } catch {
    throw new KnnRequestError(`unsupported encoding '${encoding}'`);
  }
  if (typeof body === 'string') return body;
  try {
    return decoder.decode(body);
  } catch {
    throw new KnnRequestError(`the request body is not valid ${encoding}`);
  }
}

function decodeResponse(body: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new KnnResponseError('the response body is not valid utf-8');
  }
}

function nonEmptyLines(text: string): Array<{ line: string; n: number }> {
  return text
    .split('\n')
    .map((line, i) => ({ line: line.replace(/\r$/, ''), n: i + 1 }))
    .filter(({ line }) => line.trim() !== '');
}

function parseJsonInstances(text: string): number[][] {
  if (text.trim() === '') throw new KnnRequestError('the request body is empty');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new KnnRequestError(`the request body is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed) || !Array.isArray(parsed.instances)) {
    throw new KnnRequestError('a JSON request must be {"instances":[...]}');
  }
  return parsed.instances.map((instance, i) => instanceFeatures(instance, `instance ${i}`));
}

function parseJsonLines(text: string): number[][] {
  const lines = nonEmptyLines(text);
  if (lines.length === 0) throw new KnnRequestError('the request body is empty');
  return lines.map(({ line, n }) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new KnnRequestError(`line ${n} is not valid JSON: ${(error as Error).message}`);
    }
    return instanceFeatures(parsed, `line ${n}`);
  });
}

/** `{"features":[...]}` or `{"data":{"features":{"values":[...]}}}`. */
function instanceFeatures(instance: unknown, where: string): number[] {
  let values: unknown;
  if (isObject(instance) && 'features' in instance) {
    values = instance.features;
  } else if (isObject(instance) && isObject(instance.data) && isObject(instance.data.features)) {
    values = instance.data.features.values;
  } else {
    throw new KnnRequestError(
      `${where} must be {"features":[...]} or {"data":{"features":{"values":[...]}}}`,
    );
  }
  if (!Array.isArray(values)) throw new KnnRequestError(`${where}: features must be an array of numbers`);
  for (let d = 0; d < values.length; d++) {
    if (typeof values[d] !== 'number') {
      throw new KnnRequestError(`${where}, feature ${d}: ${JSON.stringify(values[d])} is not a number`);
    }
  }
  return values as number[];
}

function parseCsv(text: string, skip: number): number[][] {
  const lines = nonEmptyLines(text);
  if (lines.length === 0) throw new KnnRequestError('the request body is empty');
  return lines.map(({ line, n }) => {
    const fields = line.split(',');
    if (fields.length <= skip) {
      throw new KnnRequestError(`line ${n} has ${fields.length} columns, label_size is ${skip}`);
    }
    return fields.slice(skip).map((field, d) => {
      const trimmed = field.trim();
      const value = trimmed === '' ? NaN : Number(trimmed);
      if (!Number.isFinite(value)) {
        throw new KnnRequestError(`line ${n}, column ${d + skip + 1}: '${field}' is not a finite number`);
      }
      return value;
    });
  });
}

function toPrediction(value: unknown, where: string): KnnPrediction {
  if (!isObject(value) || typeof value.predicted_label !== 'number') {
    throw new KnnResponseError(`${where} has no numeric predicted_label`);
  }
  const hasLabels = 'labels' in value;
  const hasDistances = 'distances' in value;
  if (!hasLabels && !hasDistances) return { predicted_label: value.predicted_label };
  const labels = numberArray(value.labels, `${where}: labels`);
  const distances = numberArray(value.distances, `${where}: distances`);
  if (labels.length !== distances.length) {
    throw new KnnResponseError(`${where} has ${labels.length} labels but ${distances.length} distances`);
  }
  return { predicted_label: value.predicted_label, labels, distances };
}

function numberArray(value: unknown, where: string): number[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number')) {
    throw new KnnResponseError(`${where} must be an array of numbers`);
  }
  return value as number[];
}

function isObject(value: unknown): value is Record<string, unknown> & { data?: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
