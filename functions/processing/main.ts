/**
 * The data steps' SageMaker Processing entry (bundled to /app/processing.js in the project's image,
 * functions/serving/Dockerfile): runs Prepare, BuildVectors or Evaluate exactly as their Lambda handlers
 * do, by calling the same exported core functions of functions/workflow/*.ts, when a run is too large for
 * Lambda (pipeline/retrain/processing-step.ts, docs/processing-limits.md).
 *
 *   node /app/processing.js <prepare|build-vectors|evaluate>
 *
 * - reads `<root>/input/task/task.json`: the exact payload the step's Lambda would get;
 * - writes `<root>/output/result/result.json`: the handler's result, or a step error (any error the
 *   Lambda would throw) as `{ "error": { "Error": <name>, "Cause": <the Lambda error JSON> } }`, and
 *   exits 0, so the workflow routes it exactly as the Lambda's error;
 * - anything else (no task, an unknown step, a result it cannot write) is a crash: the process writes the
 *   message to /opt/ml/output/message, which SageMaker returns (first 1 KB) as DescribeProcessingJob's
 *   ExitMessage, and exits 1, so the job ends Failed and the workflow's Task fails with States.TaskFailed.
 *   @see https://docs.aws.amazon.com/sagemaker/latest/dg/byoc-metadata.html
 *   @see https://docs.aws.amazon.com/sagemaker/latest/dg/byoc-run-image.html (exit code decides the status)
 *
 * `root` is `/opt/ml/processing` in SageMaker (REELFLOW_PROCESSING_ROOT overrides it); the local twin
 * calls runProcessingStep on a job instance with a temporary root.
 */
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { requireEnv } from '../common/env';
import { s3ClientConfig } from '../common/s3-io';
import { PROCESSING_STEPS, type ProcessingStep } from '../core/run-layout';
import { buildVectors, type BuildVectorsEvent } from '../workflow/build-vectors';
import { evaluate, type EvaluateEvent } from '../workflow/evaluate';
import { prepare, type PrepareEvent } from '../workflow/prepare';

/** Where SageMaker mounts the Processing inputs and collects the outputs. */
export const DEFAULT_PROCESSING_ROOT = '/opt/ml/processing';
/** The file SageMaker reads a Processing container's exit message from (DescribeProcessingJob ExitMessage). */
export const EXIT_MESSAGE_FILE = '/opt/ml/output/message';
/** SageMaker keeps the first 1 KB of the exit message. */
const EXIT_MESSAGE_BYTES = 1024;

/** The task file and the result file under a Processing root. */
export function processingFiles(root: string): { readonly task: string; readonly result: string } {
  return {
    task: join(root, 'input', 'task', 'task.json'),
    result: join(root, 'output', 'result', 'result.json'),
  };
}

/** A step error as the workflow receives it from a Lambda: the error name and the Lambda error JSON. */
export interface StepErrorResult {
  readonly error: { readonly Error: string; readonly Cause: string };
}

/** Thrown for what is no step error but a broken job: no task, an unknown step. */
export class ProcessingEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProcessingEntryError';
  }
}

/**
 * Runs one data step: the task from `<root>/input/task/task.json`, the result (or the step's error) to
 * `<root>/output/result/result.json`. Rejects only on a crash (see the file's header).
 */
export async function runProcessingStep(
  step: string,
  root: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (!(PROCESSING_STEPS as readonly string[]).includes(step)) {
    throw new ProcessingEntryError(`unknown step '${step}': expected one of ${PROCESSING_STEPS.join(', ')}`);
  }
  const files = processingFiles(root);
  let task: unknown;
  try {
    task = JSON.parse(await readFile(files.task, 'utf8'));
  } catch (error) {
    throw new ProcessingEntryError(`cannot read the task ${files.task}: ${(error as Error).message}`);
  }
  let result: unknown;
  try {
    result = await runStep(step as ProcessingStep, task, env);
  } catch (error) {
    result = stepError(error);
  }
  await mkdir(dirname(files.result), { recursive: true });
  await writeFile(files.result, `${JSON.stringify(result)}\n`);
}

/** The same core call the step's Lambda handler makes, with the same environment variables. */
async function runStep(step: ProcessingStep, task: unknown, env: NodeJS.ProcessEnv): Promise<unknown> {
  const s3 = new S3Client(s3Config(env));
  const bucket = requireEnv('DATA_BUCKET', env);
  switch (step) {
    case 'prepare':
      return prepare(task as PrepareEvent, { s3, bucket, ratingsPrefix: requireEnv('RATINGS_PREFIX', env) });
    case 'build-vectors':
      return buildVectors(task as BuildVectorsEvent, { s3, bucket });
    case 'evaluate':
      return evaluate(task as EvaluateEvent, {
        s3,
        bucket,
        sagemaker: new SageMakerClient(sdkConfig(env, 'SAGEMAKER')),
      });
  }
}

/**
 * The S3 client settings from `env` rather than the process's: the region, and where the local twin sets
 * them, the endpoint and credentials. In SageMaker the credentials are the Processing role's (the
 * container credentials provider of the default chain).
 */
function s3Config(env: NodeJS.ProcessEnv): S3ClientConfig {
  return { ...s3ClientConfig(env), ...sdkConfig(env, 'S3') };
}

/** Region, endpoint (`AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`) and credentials from `env`. */
function sdkConfig(
  env: NodeJS.ProcessEnv,
  service: 'S3' | 'SAGEMAKER',
): {
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
} {
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  return {
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(accessKeyId && secretAccessKey
      ? { credentials: { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN } }
      : {}),
  };
}

/** An error as Lambda reports a handler's error: `Error` its name, `Cause` `{"errorType","errorMessage"}`. */
export function stepError(error: unknown): StepErrorResult {
  const err = error instanceof Error ? error : new Error(String(error));
  const name = err.name || 'Error';
  return { error: { Error: name, Cause: JSON.stringify({ errorType: name, errorMessage: err.message }) } };
}

/** The first 1 KB (whole UTF-8 characters) of `message`, as SageMaker keeps it. */
export function exitMessage(message: string): string {
  let bytes = 0;
  let out = '';
  for (const char of message) {
    bytes += Buffer.byteLength(char);
    if (bytes > EXIT_MESSAGE_BYTES) break;
    out += char;
  }
  return out;
}

/** The container's main: exit 0 after a result (a step error included), 1 after a crash. */
async function main(): Promise<void> {
  const step = process.argv[2] ?? process.env.REELFLOW_PROCESSING_STEP ?? '';
  const root = process.env.REELFLOW_PROCESSING_ROOT ?? DEFAULT_PROCESSING_ROOT;
  try {
    await runProcessingStep(step, root);
  } catch (error) {
    const message = `reelflow ${step || '(no step)'} failed: ${(error as Error).stack ?? String(error)}`;
    console.error(message);
    const file = process.env.REELFLOW_PROCESSING_MESSAGE ?? EXIT_MESSAGE_FILE;
    await mkdir(dirname(file), { recursive: true }).catch(() => undefined);
    await writeFile(file, exitMessage(message)).catch(() => undefined);
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
