/**
 * The environment the project's handlers run in locally: exactly the variables the CDK constructs set
 * on each function (infra/constructs/*: DATA_BUCKET, RATINGS_PREFIX, ENDPOINT_NAME, ...), plus the AWS
 * SDK settings that point every client at a loopback service:
 *
 * - `AWS_ENDPOINT_URL_S3` -> s3rver, `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` -> the local runtime,
 *   `AWS_ENDPOINT_URL_SSM` / `AWS_ENDPOINT_URL_CODEPIPELINE` -> the local JSON API server;
 * - `AWS_ENDPOINT_URL` (every other service) -> the same server, which refuses unknown calls, so no
 *   client can reach AWS from the local runtime;
 * - fixed credentials s3rver accepts, no instance metadata lookups, checksums only when required.
 *
 * The handlers build their SDK clients at module scope and a client keeps the endpoint it resolved
 * first, so the variables are set before the handlers are imported, once per process.
 */
import type { DeployConfig } from '../pipeline/config';
import { productionParameterName } from '../pipeline/names';
import { LOCAL_CREDENTIALS } from './services/s3-client';
import { LOCAL_REGION } from './services/local-account';

export interface LocalEndpoints {
  readonly s3: string;
  /** The AWS JSON API server (SSM, CodePipeline, CloudWatch; refuses everything else). */
  readonly awsJson: string;
  readonly sagemakerRuntime: string;
  /** The recommend resource's URL on the local API. */
  readonly recommendUrl: string;
}

export interface HandlerEnvironmentSettings {
  readonly endpoints: LocalEndpoints;
  readonly config: DeployConfig;
  readonly bucket: string;
  /** The local pipeline's name (start-run's PIPELINE_NAME). */
  readonly pipelineName: string;
  /** The KMS key id record-deployment passes to PutParameter (the renderer's placeholder key). */
  readonly keyArn: string;
  /** Let the handlers' Powertools loggers print (INFO) instead of staying silent. */
  readonly verbose?: boolean;
}

/** Thrown when a second local runtime in one process would need other endpoints than the first. */
export class LocalEnvironmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalEnvironmentError';
  }
}

/** Prefix of the variables whose values the handlers' clients capture for the life of the process. */
const CAPTURED = /^AWS_ENDPOINT_URL/;

let applied: Record<string, string> | undefined;

/** The variables, as a plain map (what `applyHandlerEnvironment` sets). */
export function handlerEnvironment(settings: HandlerEnvironmentSettings): Record<string, string> {
  const { endpoints, config } = settings;
  return {
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL: endpoints.awsJson,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SSM: endpoints.awsJson,
    AWS_ENDPOINT_URL_CODEPIPELINE: endpoints.awsJson,
    AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: endpoints.sagemakerRuntime,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    POWERTOOLS_SERVICE_NAME: 'reelflow',
    POWERTOOLS_LOG_LEVEL: settings.verbose ? 'INFO' : 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    // No X-Ray daemon here: the tracer stays off even where AWS_EXECUTION_ENV is set (a container).
    POWERTOOLS_TRACE_ENABLED: 'false',
    // With the tracer off, the X-Ray SDK's automatic mode only costs: on load it enables a cls-hooked
    // async hook (init and destroy tracking on every promise of the process: the local API's servers
    // too). Manual mode (the SDK's own switch, read when it loads) records the same nothing without it.
    AWS_XRAY_MANUAL_MODE: 'true',
    // What the constructs set on the functions (infra/constructs/workflow-functions.ts, run-trigger.ts,
    // recommend-api.ts, infra/stacks/reelflow-stack.ts).
    DATA_BUCKET: settings.bucket,
    RATINGS_PREFIX: 'ratings/',
    ENDPOINT_NAME: config.endpoint.name,
    PRODUCTION_PARAMETER: productionParameterName(config),
    PARAMETER_KEY_ID: settings.keyArn,
    API_URL: endpoints.recommendUrl,
    SMOKE_TEST_USER_ID: String(config.deployment.smokeTestUserId),
    PIPELINE_NAME: settings.pipelineName,
  };
}

/**
 * Sets the variables on `env` (process.env by default) and drops the ones that would send a client
 * elsewhere (a session token or profile of the person's own AWS setup).
 * @throws LocalEnvironmentError when endpoints were applied before with other values
 */
export function applyHandlerEnvironment(
  settings: HandlerEnvironmentSettings,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const values = handlerEnvironment(settings);
  if (applied && env === process.env) {
    const changed = Object.keys(values).filter((k) => CAPTURED.test(k) && applied![k] !== values[k]);
    if (changed.length > 0) {
      throw new LocalEnvironmentError(
        `this process already ran a local runtime with other service endpoints (${changed.join(', ')}); ` +
          'the handlers keep the endpoints they first used, so start one local runtime per process',
      );
    }
  }
  for (const name of [
    'AWS_SESSION_TOKEN',
    'AWS_PROFILE',
    'AWS_DEFAULT_PROFILE',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  ]) {
    delete env[name];
  }
  Object.assign(env, values);
  if (env === process.env) applied = values;
}
