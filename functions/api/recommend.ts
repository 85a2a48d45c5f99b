/**
 * recommend: `GET /recommendEndpoint?user_id=N` behind API Gateway. It asks the live SageMaker
 * endpoint (one serial inference pipeline: pre -> built-in k-NN -> post) for the user's movies and
 * answers both shapes the movie app has used (`movies` and `itemList`), plus the model version.
 *
 * Status codes: 200 with recommendations; 400 for a missing or malformed user_id (or one above the
 * largest id the serving path can tag, MAX_TAGGED_USER_ID); 503 when no model
 * is deployed yet (the endpoint does not exist or is not in service) or the endpoint fails. The handler
 * never throws: an unhandled error would reach the caller as API Gateway's opaque 502.
 */
import {
  InvokeEndpointCommand,
  type InvokeEndpointCommandOutput,
  SageMakerRuntimeClient,
  type SageMakerRuntimeClientConfig,
} from '@aws-sdk/client-sagemaker-runtime';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { z } from 'zod';
import { type RecommendResponse, SERVING_CONTENT_TYPES } from '../contracts';
import { MAX_TAGGED_USER_ID } from '../core/serving/user-tags';
import { requireEnv } from '../common/env';
import { toError } from '../common/errors';
import { logger } from '../common/logger';
import { metrics, MetricUnit } from '../common/metrics';
import { observed } from '../common/observability';
import { tracer } from '../common/tracer';

export const MISSING_USER_MESSAGE = 'Missing user_id query string parameter';
export const NO_MODEL_MESSAGE = 'No model is deployed yet';
export const UNAVAILABLE_MESSAGE = 'Recommendations are temporarily unavailable';

/** Runtime errors that mean "no endpoint in service": not found, still creating, or not ready. */
const NO_MODEL_ERRORS = new Set(['ValidationError', 'ValidationException', 'ModelNotReadyException']);

/** Thrown when the endpoint's answer is not a served recommendation line. */
export class MalformedEndpointResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedEndpointResponseError';
  }
}

const servedSchema = z.object({
  user_id: z.number(),
  movies: z.array(z.number().int()),
  modelVersion: z.string(),
  fallback: z.literal('popular').optional(),
});

/** Invokes the endpoint for one user and returns the raw response body (the AWS adapter). */
export type EndpointInvoker = (userId: number) => Promise<Uint8Array>;

/** The pure request handling: validation, one endpoint call, response mapping. */
export async function recommend(
  event: APIGatewayProxyEvent,
  invoke: EndpointInvoker,
): Promise<APIGatewayProxyResult> {
  const raw = event.queryStringParameters?.user_id;
  if (raw === undefined || raw === null || raw.trim() === '') {
    metrics.addMetric('RecommendBadRequests', MetricUnit.Count, 1);
    return json(400, { message: MISSING_USER_MESSAGE });
  }
  if (!/^[1-9]\d{0,9}$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    metrics.addMetric('RecommendBadRequests', MetricUnit.Count, 1);
    const shown = raw.length > 40 ? `${raw.slice(0, 40)}...` : raw;
    return json(400, { message: `Invalid user_id '${shown}': expected a positive integer` });
  }
  const userId = Number(raw);
  if (userId > MAX_TAGGED_USER_ID) {
    metrics.addMetric('RecommendBadRequests', MetricUnit.Count, 1);
    return json(400, { message: `Invalid user_id '${raw}': the largest user id is ${MAX_TAGGED_USER_ID}` });
  }

  let body: Uint8Array;
  try {
    body = await invoke(userId);
  } catch (error) {
    const err = toError(error);
    if (NO_MODEL_ERRORS.has(err.name)) {
      logger.warn('no model in service', { userId, error: err.name, detail: err.message });
      metrics.addMetric('RecommendNoModel', MetricUnit.Count, 1);
      return json(503, { message: NO_MODEL_MESSAGE });
    }
    logger.error('endpoint invocation failed', { userId, error: err });
    metrics.addMetric('RecommendErrors', MetricUnit.Count, 1);
    return json(503, { message: UNAVAILABLE_MESSAGE });
  }

  try {
    const served = parseServed(body);
    const response: RecommendResponse = {
      movies: served.movies,
      itemList: served.movies.map((id) => ({ itemId: String(id) })),
      modelVersion: served.modelVersion,
      ...(served.fallback ? { fallback: served.fallback } : {}),
    };
    metrics.addMetric('RecommendationsServed', MetricUnit.Count, 1);
    if (served.fallback) metrics.addMetric('RecommendationFallbacks', MetricUnit.Count, 1);
    return json(200, response);
  } catch (error) {
    logger.error('endpoint answered something unexpected', { userId, error: toError(error) });
    metrics.addMetric('RecommendErrors', MetricUnit.Count, 1);
    return json(503, { message: UNAVAILABLE_MESSAGE });
  }
}

/** Built once per container: a TextDecoder keeps no state between `decode` calls without `stream`. */
const UTF8 = new TextDecoder();

/** The first JSON line of the post container's answer (one line per requested user). */
export function parseServed(body: Uint8Array): z.infer<typeof servedSchema> {
  const text = UTF8.decode(body);
  const line = text.split('\n').find((l) => l.trim() !== '');
  if (line === undefined) throw new MalformedEndpointResponseError('empty response');
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new MalformedEndpointResponseError(`not JSON: ${line.slice(0, 200)}`);
  }
  const parsed = servedSchema.safeParse(value);
  if (!parsed.success)
    throw new MalformedEndpointResponseError(`not a served recommendation: ${line.slice(0, 200)}`);
  return parsed.data;
}

function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return {
    statusCode,
    headers: {
      'Content-Type': 'application/json',
      'Access-Control-Allow-Origin': '*',
      'Cache-Control': 'no-store',
    },
    body: JSON.stringify(body),
  };
}

/** The InvokeEndpoint adapter: `{"user_id":N}` in, JSON lines (verbose k-NN upstream) out. */
export function sageMakerInvoker(client: SageMakerRuntimeClient, endpointName: string): EndpointInvoker {
  return async (userId) => {
    const response: InvokeEndpointCommandOutput = await client.send(
      new InvokeEndpointCommand({
        EndpointName: endpointName,
        ContentType: SERVING_CONTENT_TYPES.request,
        Accept: SERVING_CONTENT_TYPES.accept,
        Body: JSON.stringify({ user_id: userId }),
      }),
    );
    if (!response.Body) throw new MalformedEndpointResponseError('no body');
    return response.Body;
  };
}

// Built once per container. maxAttempts 2 = one retry (throttling and transient errors), and a short
// request timeout, so a slow endpoint answers 503 well inside API Gateway's 29 s limit. The client
// sends one command class and nothing changes its middleware after it is built (the tracer adds its
// own here, once), so `cacheMiddleware` resolves the stack once instead of on every request (the
// SDK's own option: a quarter of the SDK's CPU per call, measured locally). The default handler
// already keeps connections alive (keepAlive, maxSockets 50).
export const RUNTIME_CLIENT_CONFIG = {
  maxAttempts: 2,
  requestHandler: { requestTimeout: 3000, connectionTimeout: 1000 },
  cacheMiddleware: true,
} as const satisfies SageMakerRuntimeClientConfig;

const client = tracer.captureAWSv3Client(new SageMakerRuntimeClient(RUNTIME_CLIENT_CONFIG));

export const handler = observed(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  try {
    return await recommend(event, sageMakerInvoker(client, requireEnv('ENDPOINT_NAME')));
  } catch (error) {
    // Only a broken binding (missing ENDPOINT_NAME) gets here: still an answer, never a 502.
    logger.error('recommend handler failed', { error: toError(error) });
    metrics.addMetric('RecommendErrors', MetricUnit.Count, 1);
    return json(503, { message: UNAVAILABLE_MESSAGE });
  }
});
