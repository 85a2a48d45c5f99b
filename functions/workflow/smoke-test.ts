/**
 * smoke-test: the deploy workflow's last check. It asks the public recommend API for a user of the
 * data, the way the movie app does, and passes when the answer is 200 with movies from the new
 * version (`modelVersion` equals the run id, no popular fallback). A few attempts absorb the moment
 * right after the traffic shift; the last failure throws SmokeTestError, which the state machine
 * catches, records and notifies.
 */
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

/** The fetch adapter of HttpGet, with a timeout per request. */
export function fetchGet(timeoutMs: number): HttpGet {
  return async (url) => {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
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
      fetchGet(5000),
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
