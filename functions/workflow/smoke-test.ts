/**
 * smoke-test: the deploy workflow's last check. It asks the public recommend API for a user of the
 * data, the way the movie app does, and passes when the answer is 200 with movies from the new
 * version (`modelVersion` equals the run id, no popular fallback). A few attempts absorb the moment
 * right after the traffic shift; the last failure throws SmokeTestError, which the state machine
 * catches, records and notifies.
 *
 * It calls the API as the stack's auth mode requires (`API_AUTH`, config `api.auth`): `none` anonymously;
 * `apiKey` with the smoke test's own API key, whose value it reads at run time with API Gateway GetApiKey
 * (`API_KEY_ID`: the stack passes the id, never the value, and the value stays in the request header: it
 * is neither returned to the state machine nor logged); `iam` signed with SigV4 (service execute-api)
 * with the function's role credentials.
 */
import { APIGatewayClient, GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { z } from 'zod';
import { requireEnv } from '../common/env';
import { toError } from '../common/errors';
import { logger } from '../common/logger';
import { metrics, MetricUnit } from '../common/metrics';
import { observed } from '../common/observability';

/** Thrown when the API does not serve the new version after every attempt. */
export class SmokeTestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmokeTestError';
  }
}

const inputSchema = z.object({ runId: z.string().min(1) });

/** The Lambda payload: the run being deployed. */
export type SmokeTestInput = z.input<typeof inputSchema>;

const responseSchema = z.object({
  movies: z.array(z.number().int()).min(1),
  itemList: z.array(z.object({ itemId: z.string() })).min(1),
  modelVersion: z.string(),
  fallback: z.literal('popular').optional(),
});

export interface SmokeTestResult {
  readonly passed: true;
  readonly attempts: number;
  readonly userId: number;
  readonly movies: number;
}

/** One HTTP GET (the adapter is global fetch). */
export type HttpGet = (url: string) => Promise<{ readonly status: number; readonly body: string }>;

export interface SmokeTestSettings {
  /** The recommend resource's URL, e.g. `https://.../prod/recommendEndpoint`. */
  readonly apiUrl: string;
  readonly userId: number;
  readonly attempts: number;
  readonly delayMs: number;
}

/** Calls the API until it serves `runId` or the attempts run out. */
export async function smokeTest(
  input: SmokeTestInput,
  settings: SmokeTestSettings,
  get: HttpGet,
  sleep: (ms: number) => Promise<void>,
): Promise<SmokeTestResult> {
  const { runId } = inputSchema.parse(input);
  const url = new URL(settings.apiUrl);
  url.searchParams.set('user_id', String(settings.userId));
  let lastProblem = 'not attempted';
  for (let attempt = 1; attempt <= settings.attempts; attempt += 1) {
    if (attempt > 1) await sleep(settings.delayMs);
    const problem = await check(url.toString(), runId, get);
    if (typeof problem !== 'string') {
      return { passed: true, attempts: attempt, userId: settings.userId, movies: problem.movies };
    }
    lastProblem = problem;
    logger.warn('smoke test attempt failed', { attempt, problem, runId });
  }
  throw new SmokeTestError(
    `GET ${url.toString()} did not serve run ${runId} after ${settings.attempts} attempts: ${lastProblem}`,
  );
}

/** One attempt: the number of movies on success, else what was wrong. */
async function check(url: string, runId: string, get: HttpGet): Promise<{ movies: number } | string> {
  let response: { status: number; body: string };
  try {
    response = await get(url);
  } catch (error) {
    return `request failed: ${toError(error).message}`;
  }
  if (response.status !== 200) return `status ${response.status}: ${response.body.slice(0, 200)}`;
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    return `body is not JSON: ${response.body.slice(0, 200)}`;
  }
  const parsed = responseSchema.safeParse(json);
  if (!parsed.success) return `unexpected body: ${response.body.slice(0, 200)}`;
  if (parsed.data.modelVersion !== runId)
    return `served model version ${parsed.data.modelVersion}, expected ${runId}`;
  if (parsed.data.fallback) return 'the new version does not know the smoke-test user (popular fallback)';
  return { movies: parsed.data.movies.length };
}

/** The headers that authenticate one request to the API. */
export type RequestAuth = (url: URL) => Promise<Record<string, string>>;

/**
 * auth apiKey: the `x-api-key` header with the value of key `keyId`, read once with GetApiKey
 * (includeValue) and kept for the invocation's attempts. A failed read fails that attempt only.
 */
export function apiKeyAuth(client: APIGatewayClient, keyId: string): RequestAuth {
  let value: string | undefined;
  return async () => {
    if (value === undefined) {
      const key = await client.send(new GetApiKeyCommand({ apiKey: keyId, includeValue: true }));
      if (!key.value) throw new Error(`API key ${keyId} has no value (GetApiKey includeValue)`);
      if (key.enabled === false) throw new Error(`API key ${keyId} is disabled`);
      value = key.value;
    }
    return { 'x-api-key': value };
  };
}

/** auth iam: SigV4 headers (service execute-api) for a GET of `url`, signed with `credentials`. */
export function sigV4Auth(
  region: string,
  credentials: ConstructorParameters<typeof SignatureV4>[0]['credentials'] = defaultProvider(),
): RequestAuth {
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
  return async (url) => {
    const signed = await signer.sign({
      method: 'GET',
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { host: url.host },
    });
    // fetch sends Host itself, from the URL (the value signed above).
    const headers = { ...signed.headers };
    delete headers.host;
    return headers;
  };
}

/** The RequestAuth of `API_AUTH` (none, apiKey or iam; unset is none). */
export function authFromEnv(env: NodeJS.ProcessEnv = process.env): RequestAuth | undefined {
  const mode = env.API_AUTH ?? 'none';
  if (mode === 'none') return undefined;
  if (mode === 'apiKey') return apiKeyAuth(new APIGatewayClient({}), requireEnv('API_KEY_ID', env));
  if (mode === 'iam') return sigV4Auth(requireEnv('AWS_REGION', env));
  throw new Error(`API_AUTH must be none, apiKey or iam; got ${mode}`);
}

/** The fetch adapter of HttpGet, with a timeout per request and the headers of `auth`. */
export function fetchGet(timeoutMs: number, auth?: RequestAuth): HttpGet {
  return async (url) => {
    const headers = auth ? await auth(new URL(url)) : {};
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, body: await response.text() };
  };
}

export const handler = observed(async (input: SmokeTestInput): Promise<SmokeTestResult> => {
  try {
    const result = await smokeTest(
      input,
      {
        apiUrl: requireEnv('API_URL'),
        userId: Number(requireEnv('SMOKE_TEST_USER_ID')),
        attempts: 4,
        delayMs: 5000,
      },
      fetchGet(5000, authFromEnv()),
      (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    );
    logger.info('smoke test passed', { ...result });
    metrics.addMetric('SmokeTestsPassed', MetricUnit.Count, 1);
    return result;
  } catch (error) {
    metrics.addMetric('SmokeTestsFailed', MetricUnit.Count, 1);
    throw error;
  }
});
