/**
 * The two reelflow steps around the built-in k-NN in a model version's serial inference pipeline:
 *
 *   pre:  {"user_id": N} (JSON, JSON lines or CSV, one or many users)
 *         -> k-NN request: two instances per user (user vector, tag query; see user-tags.ts)
 *   post: k-NN's verbose JSON answer (`{"predictions":[{"predicted_label","distances","labels"}, ...]}`,
 *         Accept `application/json; verbose=true`, the documented verbose form) -> per user: decode the user from the tag query, order the neighbours
 *         best first, drop tag rows and the user's training movies, cut to topN, backfill from the
 *         version's popular movies; unknown users get the popular movies with `fallback: "popular"`.
 *
 * Both run from the same serving bundle, so a request can never pair one version's user vector with
 * another version's index. The container server (functions/serving/server.ts), the local runtime and
 * the tests all call these functions.
 */
import type { ServedRecommendation } from '../../contracts';
import { orderBestFirst, parseKnnResponse } from '../knn/codec';
import { sortedIndexOf } from '../ingest/id-map';
import { seenMoviesOf, userRow, type ServingBundle } from './bundle';
import {
  decodeUserCode,
  isTagLabel,
  MAX_TAGGED_USER_ID,
  userCode,
  UserTagError,
  writeUserQueries,
} from './user-tags';

/** A container answer: body and content type. */
export interface StepOutput {
  readonly body: string;
  readonly contentType: string;
}

/** Thrown for a request the step cannot serve; the server answers 400 with the message. */
export class ServingRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServingRequestError';
  }
}

/** Most users one request may carry (a batch transform mini-batch of 6 MB holds far fewer). */
export const MAX_USERS_PER_REQUEST = 10_000;

/** Parses the user ids of a request: `{"user_id":3}`, `{"instances":[{"user_id":3}]}`, JSON lines, CSV. */
export function parseUserRequest(body: string, contentType: string): number[] {
  const type = mediaType(contentType);
  let ids: unknown[];
  if (type === 'application/json') {
    const value = parseJson(body);
    if (isObject(value) && Array.isArray(value.instances)) ids = value.instances.map(userIdOf);
    else ids = [userIdOf(value)];
  } else if (type === 'application/jsonlines' || type === 'application/x-ndjson') {
    ids = nonEmptyLines(body).map((line) => userIdOf(parseJson(line)));
  } else if (type === 'text/csv') {
    ids = nonEmptyLines(body).map((line) => line.split(',')[0].trim());
  } else {
    throw new ServingRequestError(
      `unsupported content type '${contentType}': send application/json, application/jsonlines or text/csv`,
    );
  }
  if (ids.length === 0) throw new ServingRequestError('the request holds no user');
  if (ids.length > MAX_USERS_PER_REQUEST) {
    throw new ServingRequestError(
      `the request holds ${ids.length} users; at most ${MAX_USERS_PER_REQUEST} are allowed`,
    );
  }
  return ids.map(toUserId);
}

/**
 * pre: user ids -> the k-NN request (application/json, two instances per user).
 *
 * Two full scans per user, on purpose: the built-in's documented inference formats (kNN-inference-formats,
 * core/algorithms/knn.json) take only `features` per instance and answer only predicted_label, labels
 * and distances per instance, with nothing echoed back and no per-instance pass-through field, so the user
 * id can only reach post as neighbours of a query of its own (user-tags.ts).
 */
export function preprocess(bundle: ServingBundle, body: string, contentType: string): StepOutput {
  const users = parseUserRequest(body, contentType);
  const { factorDim, tagBits } = bundle.manifest;
  const width = factorDim + tagBits;
  const queries = new Float32Array(users.length * 2 * width);
  users.forEach((userId, i) => {
    const row = userRow(bundle, userId);
    const vector = row < 0 ? null : bundle.userVectors.subarray(row * factorDim, (row + 1) * factorDim);
    writeUserQueries(queries, 2 * i, vector, factorDim, tagBits, userCode(userId));
  });
  const instances: string[] = [];
  for (let q = 0; q < users.length * 2; q++) {
    instances.push(`{"features":[${Array.from(queries.subarray(q * width, (q + 1) * width)).join(',')}]}`);
  }
  return { body: `{"instances":[${instances.join(',')}]}`, contentType: 'application/json' };
}

/**
 * post: the k-NN verbose answer to `preprocess`'s request -> one JSON line per user. The body's shape
 * decides how it is read, not the Content-Type header: which header SageMaker hands the next container
 * of a pipeline is not documented, the verbose JSON document is.
 */
export function postprocess(bundle: ServingBundle, body: string, contentType: string): StepOutput {
  let predictions;
  try {
    predictions = parseKnnResponse(body, isJsonDocument(body) ? 'application/json' : contentType);
  } catch (error) {
    throw new ServingRequestError(`the k-NN answer cannot be read: ${(error as Error).message}`);
  }
  if (predictions.length % 2 !== 0) {
    throw new ServingRequestError(
      `the k-NN answer holds ${predictions.length} predictions; expected two per user (query, tag query)`,
    );
  }
  const lines: string[] = [];
  for (let i = 0; i < predictions.length; i += 2) {
    const query = predictions[i];
    const tag = predictions[i + 1];
    if (!query.labels || !query.distances || !tag.labels || !tag.distances) {
      throw new ServingRequestError(
        'the k-NN answer is not verbose: the k-NN container needs Accept application/json; verbose=true',
      );
    }
    let userId: number;
    try {
      userId = decodeUserCode(tag.labels, tag.distances, bundle.manifest.tagBits) - 1;
    } catch (error) {
      if (error instanceof UserTagError) throw new ServingRequestError(error.message);
      throw error;
    }
    lines.push(
      JSON.stringify(recommendationFor(bundle, userId, orderBestFirst(query, 'INNER_PRODUCT').labels)),
    );
  }
  return { body: `${lines.join('\n')}\n`, contentType: 'application/jsonlines' };
}

/**
 * The answer for `userId` given the k-NN neighbours best first: drop tag rows and the user's training
 * movies, keep topN, backfill from the popular movies; a user the version does not know gets the
 * popular movies with `fallback: "popular"`.
 */
export function recommendationFor(
  bundle: ServingBundle,
  userId: number,
  neighboursBestFirst: ArrayLike<number>,
): ServedRecommendation {
  const { topN, modelVersion } = bundle.manifest;
  const row = userRow(bundle, userId);
  if (row < 0) {
    return {
      user_id: userId,
      movies: Array.from(bundle.popular.subarray(0, topN)),
      modelVersion,
      fallback: 'popular',
    };
  }
  const seen = seenMoviesOf(bundle, row);
  const movies: number[] = [];
  const taken = new Set<number>();
  const offer = (movie: number): void => {
    if (movies.length < topN && !taken.has(movie) && sortedIndexOf(seen, movie) < 0) {
      taken.add(movie);
      movies.push(movie);
    }
  };
  for (let i = 0; i < neighboursBestFirst.length && movies.length < topN; i++) {
    const label = Math.round(neighboursBestFirst[i]);
    if (!isTagLabel(label)) offer(label);
  }
  for (let i = 0; i < bundle.popular.length && movies.length < topN; i++) offer(bundle.popular[i]);
  return { user_id: userId, movies, modelVersion };
}

/** A k-NN JSON answer (`{"predictions":[...]}`), as opposed to JSON lines of predictions. */
function isJsonDocument(body: string): boolean {
  return /^\s*\{\s*"predictions"\s*:/.test(body);
}

function mediaType(contentType: string): string {
  return contentType.split(';')[0].trim().toLowerCase();
}

function nonEmptyLines(body: string): string[] {
  return body
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ServingRequestError(`the request is not valid JSON: ${text.slice(0, 80)}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function userIdOf(value: unknown): unknown {
  if (!isObject(value) || !('user_id' in value))
    throw new ServingRequestError('each request needs a "user_id"');
  return value.user_id;
}

function toUserId(value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_TAGGED_USER_ID) {
    throw new ServingRequestError(
      `user_id must be an integer from 0 to ${MAX_TAGGED_USER_ID}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}
