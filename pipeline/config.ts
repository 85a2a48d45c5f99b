/**
 * The deploy configuration of reelflow: one typed, validated object read from `cdk.json`
 * (`context.reelflow`). It embeds the core's ML config under `ml`, so the CDK app and the local runtime
 * train alike, and adds what only a deployment has: instance types and counts, the blue/green
 * guardrails, alarm thresholds, the approval e-mail and the API limits.
 *
 * Validation happens once, in the app entry (infra/app.ts; the local runtime reads the same block); constructs receive the parsed object as
 * props. A bad value fails `cdk synth` with a message naming the key, for example
 * `invalid config reelflow.endpoint.instanceCount: CANARY traffic routing needs at least 2 instances`.
 * The rules that span keys and the figures derived from a config are in config-rules.ts; the names
 * derived from it in names.ts.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, formatIssues, mlConfigSchema } from '../functions/core/config';
import { tuningSchema } from '../functions/core/tuning/config';
import { checkCrossFieldRules, LAMBDA_MAX_MEMORY_MB, NEW_ACCOUNT_LAMBDA_MEMORY_MB } from './config-rules';

/** The key of the config block in `cdk.json` `context`, and the prefix of every error message. */
export const CONFIG_CONTEXT_KEY = 'reelflow';

/** Retention periods CloudWatch Logs accepts (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/**
 * The instance families each setting accepts: x86_64 (the serving image and the built-ins' `:1` images
 * are linux/amd64, so Graviton families such as ml.c6g, ml.m6g, ml.r6g, ml.c7g, ml.m7g cannot run them)
 * with EBS volumes only (families with NVMe instance storage, such as ml.m5d, ml.c5d, ml.r5d, ml.g4dn,
 * ml.g5, ml.p3dn, ml.p4d, reject the VolumeKmsKeyId / KmsKeyId every reelflow job and endpoint sets).
 * @see https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html (VolumeKmsKeyId)
 */
export const INSTANCE_FAMILIES = {
  /** FM and k-NN training jobs (both built-ins train on CPU and on the P2/P3 GPUs). */
  training: ['m4', 'm5', 'c4', 'c5', 'p2', 'p3'],
  /** Batch transform of the serial inference pipeline (pre/post container + k-NN). */
  transform: ['m4', 'm5', 'c4', 'c5', 'p2', 'p3'],
  /** The real-time endpoint's production variant. */
  endpoint: ['t2', 'm4', 'm5', 'c4', 'c5', 'r5', 'p2', 'p3'],
} as const;

/** The family of an instance type: `ml.m5.xlarge` -> `m5`. */
export function instanceFamily(instanceType: string): string {
  return instanceType.split('.')[1] ?? '';
}

const positiveInt = z.number().int().positive();
const instanceTypeFor = (use: keyof typeof INSTANCE_FAMILIES) => {
  const families: readonly string[] = INSTANCE_FAMILIES[use];
  return z
    .string()
    .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'expected a SageMaker instance type such as ml.m5.xlarge')
    .refine((type) => families.includes(instanceFamily(type)), {
      message:
        `expected an instance family that runs linux/amd64 images on EBS volumes (encrypted with the ` +
        `project key): ${families.map((f) => `ml.${f}`).join(', ')}. Graviton families (ml.*g) cannot run ` +
        `the amd64 images; families with NVMe instance storage (ml.*d, ml.g4dn, ml.g5, ml.p3dn, ...) reject ` +
        `the volume KMS key`,
    });
};
const capacitySize = z.object({
  /** INSTANCE_COUNT: `value` instances; CAPACITY_PERCENT: `value` % of the variant's instances. */
  type: z.enum(['INSTANCE_COUNT', 'CAPACITY_PERCENT']),
  value: positiveInt,
});

const trainingSchema = z.strictObject({
  /** One of INSTANCE_FAMILIES.training. @default 'ml.m5.xlarge' */
  fmInstanceType: instanceTypeFor('training').default('ml.m5.xlarge'),
  /** More than one instance shards the train channel by S3 key (Prepare writes one file per shard). @default 1 */
  fmInstanceCount: positiveInt.max(100).default(1),
  /** One of INSTANCE_FAMILIES.training. @default 'ml.m5.xlarge' */
  knnInstanceType: instanceTypeFor('training').default('ml.m5.xlarge'),
  /** @default 1 */
  knnInstanceCount: positiveInt.max(100).default(1),
  /** ML storage volume per training instance, GiB. @default 30 */
  volumeSizeGb: positiveInt.max(16384).default(30),
  /** StoppingCondition.MaxRuntimeInSeconds of each training job. @default 14400 (4 h) */
  maxRuntimeSeconds: positiveInt.min(60).max(2_419_200).default(14_400),
  /** Managed spot training (cheaper, may wait for capacity). @default false */
  useSpot: z.boolean().default(false),
  /** StoppingCondition.MaxWaitTimeInSeconds; required with spot, at least maxRuntimeSeconds. @default - none */
  maxWaitSeconds: positiveInt.max(2_419_200).optional(),
});

const transformSchema = z.strictObject({
  /** One of INSTANCE_FAMILIES.transform. @default 'ml.m5.xlarge' */
  instanceType: instanceTypeFor('transform').default('ml.m5.xlarge'),
  /** @default 1 */
  instanceCount: positiveInt.max(100).default(1),
  /** MaxPayloadInMB of the batch transform (each record is one line of up to 200 users). @default 6 */
  maxPayloadMb: z.number().int().min(1).max(100).default(6),
});

const endpointSchema = z.strictObject({
  /**
   * The live endpoint's name. Lower case: SageMaker ARNs carry names in lower case and the IAM
   * policies are scoped to that ARN. @default 'reelflow-recommender'
   */
  name: z
    .string()
    .regex(/^[a-z0-9](-*[a-z0-9]){0,62}$/, 'expected 1-63 lower-case letters, digits and hyphens')
    .default('reelflow-recommender'),
  /** One of INSTANCE_FAMILIES.endpoint. @default 'ml.m5.large' */
  instanceType: instanceTypeFor('endpoint').default('ml.m5.large'),
  /** Instances of the AllTraffic variant; canary and linear shifts need at least 2. @default 2 */
  instanceCount: positiveInt.max(100).default(2),
});

const deploymentSchema = z.strictObject({
  /** Blue/green traffic shifting. @default 'CANARY' */
  trafficRouting: z.enum(['CANARY', 'LINEAR', 'ALL_AT_ONCE']).default('CANARY'),
  /** CANARY: the first share of traffic (<= 50 % of the instances). @default 1 instance */
  canarySize: capacitySize.default({ type: 'INSTANCE_COUNT', value: 1 }),
  /** LINEAR: the share shifted per step (10-50 % of the instances). @default 50 % */
  linearStepSize: capacitySize.default({ type: 'CAPACITY_PERCENT', value: 50 }),
  /** WaitIntervalInSeconds: the wait after each traffic shift while the alarms watch. @default 300 */
  waitIntervalSeconds: z.number().int().min(0).max(3600).default(300),
  /** TerminationWaitInSeconds: the bake before the old fleet is terminated. @default 600 */
  terminationWaitSeconds: z.number().int().min(0).max(3600).default(600),
  /** MaximumExecutionTimeoutInSeconds of the update; larger than the sum of the waits. @default 3600 */
  maxExecutionTimeoutSeconds: z.number().int().min(600).max(28_800).default(3600),
  /** The deploy workflow's DescribeEndpoint poll interval. @default 60 */
  pollIntervalSeconds: z.number().int().min(10).max(3600).default(60),
  /** Polls before the deploy workflow gives up; must cover maxExecutionTimeoutSeconds. @default 90 */
  maxPolls: positiveInt.max(10_000).default(90),
  /** The user the post-deployment smoke test asks recommendations for (a user of the data). @default 1 */
  smokeTestUserId: positiveInt.default(1),
});

const alarmsSchema = z.strictObject({
  /** Invocation5XXErrors per minute on the endpoint that trips the rollback alarm. @default 5 */
  endpoint5xxThreshold: positiveInt.default(5),
  /** ModelLatency p99 that trips the rollback alarm, milliseconds. @default 500 */
  modelLatencyP99Ms: z.number().positive().default(500),
  /** Share of API requests answered 5XX that trips the rollback alarm. @default 0.05 */
  apiErrorRateThreshold: z.number().gt(0).lt(1).default(0.05),
  /** Consecutive one-minute periods over the threshold before an alarm fires. @default 2 */
  evaluationPeriods: z.number().int().min(1).max(10).default(2),
});

const approvalSchema = z.strictObject({
  /** Subscribed to the approval and alert topics when set. @default - no subscription */
  email: z.email().optional(),
  /** Manual approval timeout (CodePipeline allows 5 to 86400 minutes). @default 4320 (3 days) */
  timeoutMinutes: z.number().int().min(5).max(86_400).default(4320),
});

/** A caller of the API with auth `apiKey`: its usage plan's throttle and daily quota. */
const apiClientSchema = z.strictObject({
  /** Names the client's usage plan and API key (`<resourcePrefix>-<name>`). */
  name: z
    .string()
    .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'expected lower-case letters, digits and single hyphens')
    .max(32),
  /** Steady-state requests per second. */
  rateLimit: z.number().positive().max(10_000),
  /** Burst (requests). */
  burstLimit: positiveInt.max(5000),
  /** Requests per day. */
  quotaPerDay: positiveInt,
});

const apiWafSchema = z.strictObject({
  /** Associates a REGIONAL web ACL with the stage (a rate rule per IP and a user_id check). @default false */
  enabled: z.boolean().default(false),
  /** Requests per client IP in any 5 minutes before WAF blocks it (AWS allows 10 to 2e9). @default 1000 */
  rateLimitPer5Min: z.number().int().min(10).max(2_000_000_000).default(1000),
});

const apiSchema = z.strictObject({
  /** @default 'prod' */
  stageName: z
    .string()
    .regex(/^[a-zA-Z0-9_]{1,128}$/, 'expected letters, digits and underscores')
    .default('prod'),
  /** Steady-state requests per second of the stage. @default 50 */
  throttleRateLimit: z.number().positive().max(10_000).default(50),
  /** Burst of the stage. @default 100 */
  throttleBurstLimit: positiveInt.max(5000).default(100),
  /**
   * Reserved concurrency of the recommend function: the most instances it runs at once, set aside from
   * the account's pool so a flood of requests can neither starve the workflow functions nor be starved. @default 50
   */
  reservedConcurrency: positiveInt.max(1000).default(50),
  /**
   * Who may call `GET /recommendEndpoint`: `none` (anonymous, as the workshop's API; synth warns that anyone
   * can enumerate users' recommendations), `apiKey` (an API key per client of `clients`, each with its own
   * usage plan) or `iam` (SigV4-signed requests of principals allowed `execute-api:Invoke`). @default 'none'
   */
  auth: z.enum(['none', 'apiKey', 'iam']).default('none'),
  /** With auth `apiKey`: one usage plan and API key per client (at least one). @default [] */
  clients: z.array(apiClientSchema).default([]),
  /** An AWS WAF web ACL on the stage. @default - none */
  waf: apiWafSchema.default(() => apiWafSchema.parse({})),
});

/**
 * Execution logging of one workflow's state machine (its KMS-encrypted log group): which events are
 * logged, and whether they carry the states' input and output.
 */
const workflowLogSchema = z.strictObject({
  /** Step Functions log level: every event, errors only, fatal only, or none. @default 'ERROR' */
  level: z.enum(['ALL', 'ERROR', 'FATAL', 'OFF']).default('ERROR'),
  /**
   * Log each event's input and output. Off by default for both workflows: their state holds the production
   * record decrypted from its SSM SecureString (ReadProduction, WithDecryption), and the deploy workflow's
   * state may also hold the smoke test's API key; synth refuses true for deploy. @default false
   */
  includeExecutionData: z.boolean().default(false),
});

/** Execution logging of the two state machines. */
const workflowLogsSchema = z.strictObject({
  /** @default { level: 'ERROR', includeExecutionData: false } */
  retrain: workflowLogSchema.default(() => workflowLogSchema.parse({})),
  /** @default { level: 'ERROR', includeExecutionData: false } (true is refused) */
  deploy: workflowLogSchema.default(() => workflowLogSchema.parse({})),
});

/**
 * Where the data steps (Prepare, BuildVectors, Evaluate) run: as Lambda functions (up to
 * `workflowMemoryMb`, 15 minutes, 10 GiB of /tmp) or as SageMaker Processing jobs running the same code
 * in the project's image (docs/processing-limits.md has the measured limits of each path).
 */
const processingSchema = z.strictObject({
  /**
   * `lambda` always, `processing` always, or `auto`: Processing jobs when the rating files under
   * `ratings/` add up to more than `autoThresholdBytes` (the PlanRun state decides per run). @default 'auto'
   */
  mode: z.enum(['auto', 'lambda', 'processing']).default('auto'),
  /** With mode `auto`: input size (bytes of the rating files as stored) above which a run uses Processing jobs. @default 104857600 (100 MiB) */
  autoThresholdBytes: positiveInt.default(100 * 1024 * 1024),
  /**
   * The Processing instance type, one of INSTANCE_FAMILIES.training (the project's image is linux/amd64
   * and the volume is encrypted with the project key, as a training job's). @default 'ml.m5.4xlarge' (64 GiB)
   */
  instanceType: instanceTypeFor('training').default('ml.m5.4xlarge'),
  /** ML storage volume of the Processing instance, GiB. @default 50 */
  volumeSizeGb: positiveInt.max(16384).default(50),
  /** StoppingCondition.MaxRuntimeInSeconds of each Processing job (SageMaker allows 9 days). @default 14400 (4 h) */
  maxRuntimeSeconds: positiveInt.min(60).max(777_600).default(14_400),
});

const dataRetentionSchema = z.strictObject({
  /**
   * Days the data bucket keeps an object version after it stops being current (an overwritten or
   * deleted upload or run artifact); then S3 expires it. @default 365
   */
  noncurrentVersionDays: positiveInt.default(365),
});

const deployConfigObject = z
  .object({
    /** Target account; falls back to CDK_DEFAULT_ACCOUNT. @default - the CLI's account */
    account: z
      .string()
      .regex(/^\d{12}$/, 'expected a 12-digit account id')
      .optional(),
    /** Target region; falls back to CDK_DEFAULT_REGION. @default - the CLI's region */
    region: z
      .string()
      .regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, 'expected a region such as eu-west-1')
      .optional(),
    /**
     * Every per-run SageMaker name starts with this prefix (`<prefix>-fm-<runId>`, ...); IAM policies are
     * scoped to it. Lower case because SageMaker ARNs are. @default 'reelflow'
     */
    resourcePrefix: z
      .string()
      .regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'expected lower-case letters, digits and single hyphens')
      .max(16)
      .default('reelflow'),
    ml: mlConfigSchema.default(() => mlConfigSchema.parse({})),
    /**
     * The search for the ranking metric before the final FM training (functions/core/tuning/): trials,
     * parallelism, validation split and search space. Off on AWS by default, on in `npm start`.
     */
    tuning: tuningSchema.default(() => tuningSchema.parse({})),
    training: trainingSchema.default(() => trainingSchema.parse({})),
    transform: transformSchema.default(() => transformSchema.parse({})),
    endpoint: endpointSchema.default(() => endpointSchema.parse({})),
    deployment: deploymentSchema.default(() => deploymentSchema.parse({})),
    alarms: alarmsSchema.default(() => alarmsSchema.parse({})),
    approval: approvalSchema.default(() => approvalSchema.parse({})),
    api: apiSchema.default(() => apiSchema.parse({})),
    dataRetention: dataRetentionSchema.default(() => dataRetentionSchema.parse({})),
    processing: processingSchema.default(() => processingSchema.parse({})),
    /**
     * Memory of the Prepare, BuildVectors and Evaluate functions, MB. 3008 MB handles MovieLens-latest-small
     * and 1M; MovieLens-32M needs up to 10240, which requires an account whose Lambda memory quota allows
     * it (see lambdaMemoryQuotaMb). @default 3008
     */
    workflowMemoryMb: z
      .number()
      .int()
      .min(1024)
      .max(LAMBDA_MAX_MEMORY_MB)
      .default(NEW_ACCOUNT_LAMBDA_MEMORY_MB),
    /**
     * The largest function memory the target account allows, MB. New accounts are limited to 3008 MB;
     * set this higher only once AWS has raised the account's quota. Synth fails when workflowMemoryMb
     * exceeds it, instead of the deploy failing half-way. @default 3008
     */
    lambdaMemoryQuotaMb: z
      .number()
      .int()
      .min(NEW_ACCOUNT_LAMBDA_MEMORY_MB)
      .max(LAMBDA_MAX_MEMORY_MB)
      .default(NEW_ACCOUNT_LAMBDA_MEMORY_MB),
    /**
     * Termination protection of ReelflowDataStack (its key, buckets and image repository are retained
     * anyway; protection also stops `cdk destroy --all` from deleting the stack record). @default true
     */
    dataStackTerminationProtection: z.boolean().default(true),
    /** Execution logs of the retrain and deploy state machines (level, input/output). */
    workflowLogs: workflowLogsSchema.default(() => workflowLogsSchema.parse({})),
    /** Retention of every log group. @default 30 */
    logRetentionDays: z
      .number()
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        message: `expected one of ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(30),
  })
  .strict();

/** The schema of `context.reelflow`: the object above plus the rules that span keys. */
export const deployConfigSchema = deployConfigObject.superRefine(checkCrossFieldRules);

export type DeployConfig = z.infer<typeof deployConfigObject>;
export type TrainingConfig = DeployConfig['training'];
export type TransformConfig = DeployConfig['transform'];
export type DeploymentConfig = DeployConfig['deployment'];
export type AlarmsConfig = DeployConfig['alarms'];
export type CapacitySize = DeploymentConfig['canarySize'];
export type WorkflowLogConfig = DeployConfig['workflowLogs']['retrain'];
export type ProcessingConfig = DeployConfig['processing'];

/**
 * Parses and validates the raw `context.reelflow` object (partial: defaults fill the rest).
 * Throws the core's ConfigError with one line per bad key.
 */
export function parseDeployConfig(raw: unknown): DeployConfig {
  const result = deployConfigSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, CONFIG_CONTEXT_KEY));
  return result.data;
}

/** Reads `context.reelflow` from a cdk.json file (the local runtime reads the same block). */
export function readConfigFromCdkJson(cdkJsonPath: string): DeployConfig {
  const cdkJson = JSON.parse(readFileSync(cdkJsonPath, 'utf8')) as { context?: Record<string, unknown> };
  return parseDeployConfig(cdkJson.context?.[CONFIG_CONTEXT_KEY]);
}
