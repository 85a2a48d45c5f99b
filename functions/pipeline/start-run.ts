/**
 * start-run: the EventBridge target of the data bucket's rule on "Object Created" and "Object Deleted"
 * events under the ratings prefix. It starts the release pipeline and passes the upload (key, version
 * id) as the pipeline variables `triggerKey` / `triggerVersionId`, so every run records what started it.
 *
 * A deletion under `ratings/` (a batch withdrawn, or deleted by hand: the same thing) starts a run too,
 * so the model stops training on it; `triggerVersionId` is then `deleted:<delete marker version id>`.
 * The one deletion that starts nothing is Prepare's own quarantine move (docs/data-contract.md): the
 * batch is then already under `quarantine/<path>`, and the run that moved it ends rejected with a
 * notification; the next upload's run trains on the rest.
 *
 * A burst of uploads starts one execution each; the pipeline's SUPERSEDED mode lets the newest one win
 * at every stage boundary, so runs never race. EventBridge delivers at least once: the client request
 * token is derived from the upload, so a redelivered event does not start a second run.
 *
 * `triggerKey` carries the key URI-encoded (`encodeTriggerKey`): CodePipeline substitutes the variable
 * as it is into the Retrain action's JSON input, where a `"` or `\` of a raw key would break the JSON.
 * Prepare, Evaluate and the local runtime decode it.
 */
import { createHash } from 'node:crypto';
import { CodePipelineClient, StartPipelineExecutionCommand } from '@aws-sdk/client-codepipeline';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { EventBridgeEvent } from 'aws-lambda';
import { z } from 'zod';
import { requireEnv } from '../common/env';
import { toError } from '../common/errors';
import { logger } from '../common/logger';
import { metrics, MetricUnit } from '../common/metrics';
import { observed } from '../common/observability';
import { s3ClientConfig } from '../common/s3-io';
import { tracer } from '../common/tracer';
import { batchPath } from '../core/batches';
import { encodeTriggerKey, MAX_VARIABLE_VALUE, QUARANTINE_PREFIX } from '../core/run-layout';

/** CodePipeline's limit on a pipeline variable's value. */
export const MAX_VARIABLE_LENGTH = MAX_VARIABLE_VALUE;

const objectCreatedDetail = z.object({
  bucket: z.object({ name: z.string().min(1) }),
  object: z.object({
    key: z.string().min(1),
    size: z.number().optional(),
    'version-id': z.string().min(1).optional(),
  }),
});

/** The part of an S3 "Object Created" event this handler reads. */
export type ObjectCreatedEvent = EventBridgeEvent<'Object Created', z.input<typeof objectCreatedDetail>>;

/** The part of an S3 "Object Deleted" event this handler reads (the detail has the same shape). */
export type ObjectDeletedEvent = EventBridgeEvent<'Object Deleted', z.input<typeof objectCreatedDetail>>;

/** What the rule delivers. */
export type BatchEvent = ObjectCreatedEvent | ObjectDeletedEvent;

/** `triggerVersionId` of a run a deletion started: `deleted` or `deleted:<delete marker version id>`. */
export function deletedVersionValue(versionId: string | undefined): string {
  return versionId ? `deleted:${versionId}` : 'deleted';
}

/** Thrown for an event that is not an S3 Object Created event. */
export class InvalidTriggerEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTriggerEventError';
  }
}

/** What the handler did with one event. */
export type StartRunResult =
  | { readonly started: true; readonly executionId: string; readonly key: string; readonly versionId: string }
  | { readonly started: false; readonly reason: string; readonly key: string };

/** The pipeline starter (the AWS adapter wraps StartPipelineExecution). */
export interface PipelineStarter {
  start(request: {
    readonly pipelineName: string;
    readonly variables: { readonly name: string; readonly value: string }[];
    readonly clientRequestToken: string;
  }): Promise<string>;
}

export interface StartRunSettings {
  readonly pipelineName: string;
  readonly bucketName: string;
  /** Only keys under this prefix start a run (`ratings/`). */
  readonly prefix: string;
  /**
   * True when the deleted `ratings/<path>` now sits under `quarantine/<path>`: Prepare moved it, and
   * that deletion starts no run. Without it, every deletion starts a run.
   */
  readonly isQuarantined?: (key: string) => Promise<boolean>;
}

/**
 * Decides whether an upload or a deletion starts a run and starts it. Ignores other buckets, keys
 * outside the prefix, folder markers (keys ending in `/`) and Prepare's quarantine moves; a missing
 * version id is recorded as 'unknown'.
 */
export async function startRun(
  event: BatchEvent,
  settings: StartRunSettings,
  starter: PipelineStarter,
): Promise<StartRunResult> {
  const parsed = objectCreatedDetail.safeParse(event.detail);
  const type = event['detail-type'] as string;
  if ((type !== 'Object Created' && type !== 'Object Deleted') || !parsed.success) {
    throw new InvalidTriggerEventError(
      `expected an S3 Object Created or Object Deleted event, got detail-type '${String(type)}'`,
    );
  }
  const deleted = type === 'Object Deleted';
  const { bucket, object } = parsed.data;
  const key = object.key;
  if (bucket.name !== settings.bucketName) {
    return { started: false, reason: `bucket ${bucket.name} is not the data bucket`, key };
  }
  if (!key.startsWith(settings.prefix)) {
    return { started: false, reason: `key is outside ${settings.prefix}`, key };
  }
  if (key.endsWith('/')) return { started: false, reason: 'folder marker', key };
  if (deleted && (await settings.isQuarantined?.(key))) {
    return { started: false, reason: 'moved to quarantine by a run', key };
  }

  const versionId = deleted ? deletedVersionValue(object['version-id']) : (object['version-id'] ?? 'unknown');
  const version = object['version-id'] ?? `event-${event.id}`;
  const executionId = await starter.start({
    pipelineName: settings.pipelineName,
    variables: [
      { name: 'triggerKey', value: encodeTriggerKey(key) },
      { name: 'triggerVersionId', value: clip(versionId) },
    ],
    clientRequestToken: requestToken(bucket.name, key, deleted ? `deleted:${version}` : version),
  });
  return { started: true, executionId, key, versionId };
}

/** A stable token per upload: a redelivered event maps to the same pipeline execution. */
export function requestToken(bucket: string, key: string, version: string): string {
  return createHash('sha256').update(`${bucket}\n${key}\n${version}`).digest('hex');
}

function clip(value: string): string {
  const marker = '...(truncated)';
  return value.length <= MAX_VARIABLE_LENGTH
    ? value
    : value.slice(0, MAX_VARIABLE_LENGTH - marker.length) + marker;
}

/** The StartPipelineExecution adapter. */
export function codePipelineStarter(client: CodePipelineClient): PipelineStarter {
  return {
    async start(request) {
      const response = await client.send(
        new StartPipelineExecutionCommand({
          name: request.pipelineName,
          variables: request.variables.map((v) => ({ name: v.name, value: v.value })),
          clientRequestToken: request.clientRequestToken,
        }),
      );
      if (!response.pipelineExecutionId) {
        throw new InvalidTriggerEventError('StartPipelineExecution returned no execution id');
      }
      return response.pipelineExecutionId;
    },
  };
}

/** HeadObject of `quarantine/<path>` for a deleted `<prefix><path>` (404: not quarantined). */
export function s3QuarantineCheck(
  s3: S3Client,
  bucket: string,
  prefix: string,
): (key: string) => Promise<boolean> {
  return async (key) => {
    try {
      await s3.send(
        new HeadObjectCommand({ Bucket: bucket, Key: QUARANTINE_PREFIX + batchPath(key, prefix) }),
      );
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'NotFound') return false;
      throw error;
    }
  };
}

const client = tracer.captureAWSv3Client(new CodePipelineClient({}));
let s3: S3Client | undefined;

export const handler = observed(async (event: BatchEvent): Promise<StartRunResult> => {
  try {
    const bucketName = requireEnv('DATA_BUCKET');
    const prefix = requireEnv('RATINGS_PREFIX');
    s3 ??= tracer.captureAWSv3Client(new S3Client(s3ClientConfig()));
    const result = await startRun(
      event,
      {
        pipelineName: requireEnv('PIPELINE_NAME'),
        bucketName,
        prefix,
        isQuarantined: s3QuarantineCheck(s3, bucketName, prefix),
      },
      codePipelineStarter(client),
    );
    if (result.started) {
      logger.info('run started', { ...result });
      metrics.addMetric('RunsStarted', MetricUnit.Count, 1);
    } else {
      logger.info('upload ignored', { ...result });
      metrics.addMetric('UploadsIgnored', MetricUnit.Count, 1);
    }
    return result;
  } catch (error) {
    // Rethrown: the asynchronous invocation retries, then lands in the dead-letter queue.
    logger.error('could not start a run', { error: toError(error), eventId: event.id });
    metrics.addMetric('RunStartFailures', MetricUnit.Count, 1);
    throw error;
  }
});
