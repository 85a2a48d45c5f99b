/**
 * record-deployment: the deploy workflow's record keeper. Called once per deploy run with the outcome
 * the workflow decided (deployed, rolled-back, failed or stale-baseline) and the workflow state, it writes
 * `runs/<runId>/deployment.json` (DeploymentRecord) and, for `deployed` only, the production record
 * (ProductionRecord JSON in an SSM SecureString parameter) that the next run's evaluation compares
 * against. The parameter is owned by the pipeline, not the stack, so `cdk deploy` never rewinds it.
 *
 * Which alarms were in ALARM comes in from the workflow's ReadAlarms state (cloudwatch:DescribeAlarms
 * on the rollback alarms), because after an auto-rollback the endpoint's FailureReason may be empty:
 * the alarms are the record of why.
 *
 * `stale-baseline` comes before the endpoint is touched: the production version the candidate was
 * evaluated against (`candidate.productionRunId`) is not the one the production record says serves now
 * (`production.record`, read by the workflow's ReadProduction); the reason names both.
 *
 * A rollback (`reelflow rollback`: the workflow started with `rollback` in its input, taken into the state
 * as `rollback`) is recorded apart from the run's own deployment: `runs/<runId>/rollbacks/<rollback.id>.json`,
 * with `rollback` {id, from, to, reason, requestedBy}, so `runs/<runId>/deployment.json` stays the record of
 * the run's first deployment; when it is deployed, the production record says so (`rollbackId`). Its
 * baseline is the version it rolls back from (`rollback.from`, which the workflow compared with).
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import type { DeploymentRecord, ProductionRecord } from '../contracts';
import { requireEnv } from '../common/env';
import { s3ClientConfig } from '../common/s3-io';
import { logger } from '../common/logger';
import { metrics, MetricUnit } from '../common/metrics';
import { observed } from '../common/observability';
import { runKey } from '../common/s3-uri';
import { tracer } from '../common/tracer';

/** Largest value of a standard-tier SSM parameter. */
export const PARAMETER_MAX_CHARS = 4096;

/** Thrown when the workflow state cannot support the outcome it asks to record. */
export class DeploymentRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeploymentRecordError';
  }
}

const outcomeSchema = z.enum(['deployed', 'rolled-back', 'failed', 'stale-baseline']);

const stateSchema = z.object({
  runId: z.string().min(1),
  candidate: z
    .object({
      runId: z.string(),
      names: z.object({ model: z.string() }).loose(),
      candidateMetrics: z.record(z.string(), z.number()),
      /** The production version the candidate was evaluated against (null: none yet). */
      productionRunId: z.string().nullable().optional(),
    })
    .loose()
    .optional(),
  /** The production record as ReadProduction read it (record null: no production yet). */
  production: z
    .object({
      record: z
        .object({ runId: z.string().optional(), endpointConfigName: z.string().optional() })
        .loose()
        .nullable(),
    })
    .optional(),
  /** This attempt's endpoint config (NameEndpointConfig); absent when the run failed before it. */
  endpointConfig: z.object({ name: z.string() }).optional(),
  endpoint: z
    .object({
      EndpointName: z.string().optional(),
      EndpointConfigName: z.string().optional(),
      EndpointStatus: z.string().optional(),
      FailureReason: z.string().optional(),
    })
    .loose()
    .optional(),
  /** DescribeAlarms(StateValue=ALARM) on the rollback alarms, as the ReadAlarms state returns it. */
  alarms: z
    .object({ MetricAlarms: z.array(z.object({ AlarmName: z.string() }).loose()).optional() })
    .loose()
    .optional(),
  error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
  /**
   * The rollback request (`reelflow rollback`); absent for a pipeline run. Lenient where it can be: a
   * rollback is recorded after the endpoint switched, when refusing the record would leave the production
   * record behind (the workflow checked that `id` and `from` are present).
   */
  rollback: z
    .object({
      /** The execution name (`rollback-<8 hex>`), which names the record (URI-encoded in its key). */
      id: z.string().min(1).max(80),
      /** The run id serving when the rollback was asked (the version it replaces); null: none served. */
      from: z.string().nullable(),
      reason: z.string().nullable().optional(),
      requestedBy: z.string().nullable().optional(),
    })
    .loose()
    .optional(),
});

const inputSchema = z.object({ outcome: outcomeSchema, state: stateSchema });

/** The deploy workflow state the handler reads (every part but runId is optional: failures come early). */
export type DeployWorkflowState = z.infer<typeof stateSchema>;

/** The Lambda payload: `{ outcome, state: $ }`. */
export type RecordDeploymentInput = z.input<typeof inputSchema>;

export interface RecordDeploymentResult {
  readonly record: DeploymentRecord;
  readonly production: ProductionRecord | null;
  /** Where the record went: `runs/<runId>/deployment.json`, or a rollback's `runs/<runId>/rollbacks/<id>.json`. */
  readonly key: string;
  /** How the notices name the deployment: `run <runId>`, or `rollback <id> to run <runId> (from <from>)`. */
  readonly label: string;
}

/** Where the records go (the AWS adapters wrap S3 PutObject and SSM PutParameter). */
export interface RecordStores {
  putRunJson(key: string, value: unknown): Promise<void>;
  putProductionRecord(value: string): Promise<void>;
}

export interface RecordSettings {
  readonly endpointName: string;
  readonly now: () => Date;
}

/** Builds the records for one outcome and writes them; the production record first, as it is what counts. */
export async function recordDeployment(
  input: RecordDeploymentInput,
  stores: RecordStores,
  settings: RecordSettings,
): Promise<RecordDeploymentResult> {
  const parsed = inputSchema.safeParse(input);
  if (!parsed.success) {
    throw new DeploymentRecordError(
      `invalid input: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
    );
  }
  const { outcome, state } = parsed.data;
  const { rollback } = state;
  const newConfig = state.endpointConfig?.name ?? null;
  // A stale baseline is decided before the endpoint is read: what serves is the production record's.
  const serving =
    state.endpoint?.EndpointConfigName ??
    (outcome === 'stale-baseline' ? (state.production?.record?.endpointConfigName ?? null) : null);
  const alarms = (state.alarms?.MetricAlarms ?? []).map((alarm) => alarm.AlarmName);
  const recordedAt = settings.now().toISOString();

  let production: ProductionRecord | null = null;
  if (outcome === 'deployed') {
    if (!state.candidate || newConfig === null) {
      throw new DeploymentRecordError(
        'a deployed outcome needs the candidate summary and its endpoint config',
      );
    }
    if (serving !== newConfig || state.endpoint?.EndpointStatus !== 'InService') {
      throw new DeploymentRecordError(
        `refusing to record ${newConfig} as deployed: the endpoint is ${state.endpoint?.EndpointStatus ?? 'unknown'} on ${serving ?? 'no config'}`,
      );
    }
    production = {
      runId: state.runId,
      modelName: state.candidate.names.model,
      endpointConfigName: newConfig,
      deployedAt: recordedAt,
      metrics: state.candidate.candidateMetrics,
      ...(rollback ? { rollbackId: rollback.id } : {}),
    };
    const value = JSON.stringify(production);
    if (value.length > PARAMETER_MAX_CHARS) {
      throw new DeploymentRecordError(
        `the production record is ${value.length} characters; an SSM parameter holds ${PARAMETER_MAX_CHARS}`,
      );
    }
    await stores.putProductionRecord(value);
  }

  const record: DeploymentRecord = {
    runId: state.runId,
    outcome,
    endpointName: state.endpoint?.EndpointName ?? settings.endpointName,
    endpointConfigName: newConfig ?? 'unknown',
    servingConfigName: serving,
    reason: reasonFor(outcome, state, newConfig, serving, alarms),
    alarms,
    recordedAt,
    ...(rollback
      ? {
          rollback: {
            id: rollback.id,
            from: rollback.from,
            to: state.runId,
            reason: rollback.reason ?? null,
            requestedBy: rollback.requestedBy ?? null,
          },
        }
      : {}),
  };
  // An execution name holds no `/`, but the input is the caller's: the id stays one key segment.
  const key = runKey(
    state.runId,
    rollback ? `rollbacks/${encodeURIComponent(rollback.id)}.json` : 'deployment.json',
  );
  await stores.putRunJson(key, record);
  const label = rollback
    ? `rollback ${rollback.id} to run ${state.runId} (from ${rollback.from ?? 'none'})`
    : `run ${state.runId}`;
  return { record, production, key, label };
}

function reasonFor(
  outcome: DeploymentRecord['outcome'],
  state: DeployWorkflowState,
  newConfig: string | null,
  serving: string | null,
  alarms: string[],
): string | null {
  if (outcome === 'deployed') return null;
  if (outcome === 'stale-baseline') return staleBaselineReason(state);
  const alarmText = alarms.length
    ? `alarms in ALARM: ${alarms.join(', ')}`
    : 'no rollback alarm was in ALARM when checked';
  const failure = state.endpoint?.FailureReason ? `; FailureReason: ${state.endpoint.FailureReason}` : '';
  if (outcome === 'rolled-back') {
    return `auto-rollback: the endpoint serves ${serving ?? 'no config'} instead of ${newConfig ?? 'the candidate'}; ${alarmText}${failure}`;
  }
  const what = state.error?.Error
    ? `${state.error.Error}: ${state.error.Cause ?? 'no cause given'}`
    : `endpoint ${state.endpoint?.EndpointStatus ?? 'status unknown'}`;
  return `${what}${failure}; ${alarmText}`;
}

/**
 * Why a stale-baseline candidate is rejected: the version it was compared with and the one serving now;
 * for a rollback, the version it was to roll back from and the one serving now.
 */
export function staleBaselineReason(
  state: Pick<DeployWorkflowState, 'candidate' | 'production' | 'rollback'> & { readonly runId?: string },
): string {
  const comparedWith = state.candidate?.productionRunId ?? 'none';
  const servingNow = state.production?.record?.runId ?? 'none';
  if (state.rollback) {
    return `rollback ${state.rollback.id} was from ${state.rollback.from ?? 'none'} to ${state.runId ?? 'its target'}, but ${servingNow} is serving now; check what serves and ask for the rollback again`;
  }
  return `compared with production ${comparedWith}, but ${servingNow} is serving now; upload again or start a run by hand to re-evaluate`;
}

/** The AWS adapters: S3 (the bucket's default SSE-KMS applies) and an SSM SecureString under the project key. */
export function awsRecordStores(deps: {
  readonly s3: S3Client;
  readonly ssm: SSMClient;
  readonly bucket: string;
  readonly parameterName: string;
  readonly parameterKeyId: string;
}): RecordStores {
  return {
    async putRunJson(key, value) {
      await deps.s3.send(
        new PutObjectCommand({
          Bucket: deps.bucket,
          Key: key,
          Body: `${JSON.stringify(value, null, 2)}\n`,
          ContentType: 'application/json',
        }),
      );
    },
    async putProductionRecord(value) {
      await deps.ssm.send(
        new PutParameterCommand({
          Name: deps.parameterName,
          Value: value,
          Type: 'SecureString',
          KeyId: deps.parameterKeyId,
          Overwrite: true,
          Description: 'reelflow production model version (written by the deploy workflow)',
        }),
      );
    },
  };
}

const s3 = tracer.captureAWSv3Client(new S3Client(s3ClientConfig()));
const ssm = tracer.captureAWSv3Client(new SSMClient({}));

export const handler = observed(async (input: RecordDeploymentInput): Promise<RecordDeploymentResult> => {
  const result = await recordDeployment(
    input,
    awsRecordStores({
      s3,
      ssm,
      bucket: requireEnv('DATA_BUCKET'),
      parameterName: requireEnv('PRODUCTION_PARAMETER'),
      parameterKeyId: requireEnv('PARAMETER_KEY_ID'),
    }),
    { endpointName: requireEnv('ENDPOINT_NAME'), now: () => new Date() },
  );
  logger.info('deployment recorded', { record: result.record });
  const metric = {
    deployed: 'Deployments',
    'rolled-back': 'Rollbacks',
    failed: 'DeploymentFailures',
    'stale-baseline': 'StaleBaselines',
  }[result.record.outcome];
  metrics.addMetric(metric, MetricUnit.Count, 1);
  return result;
});
