/**
 * Prepare: the first task of the retrain workflow. Lists every rating batch uploaded so far under
 * `ratings/`, runs the core's ingestion, split and FM encoding on all of them, and writes the run's
 * prepared artifacts to `runs/<runId>/prepared/` (streamed multipart uploads, nothing on /tmp). It
 * also records `runs/<runId>/run.json`: the trigger, the exact objects read (key, ETag, size) and the
 * config, so a run can be audited and repeated.
 *
 * Bad data throws DataRejectedError (its message says why); the workflow catches it, notifies and
 * ends the run before any training, production untouched, the uploaded batches kept. No rating file at
 * all under `ratings/` (the run CodePipeline starts when the stack is created) is no rejection: Prepare
 * records run.json and a nothing-to-do summary.json and returns `{ nothingToDo: true }`, and the
 * workflow ends NothingToDo without a notification.
 *
 * The SageMaker names carry this attempt's suffix, derived from the Step Functions execution name, so a
 * retried Retrain stage (same run id) never meets "already exists"; the S3 artifacts are per run and a
 * retry writes them again.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { NothingToDoSummary, PrepareOutcome, RunTrigger } from '../contracts';
import { requireEnv } from '../common/env';
import { logger } from '../common/logger';
import { metrics, MetricUnit } from '../common/metrics';
import { observed } from '../common/observability';
import { listObjects, s3ClientConfig, s3RatingSources, s3Sink, type ListedObject } from '../common/s3-io';
import { tracer } from '../common/tracer';
import { parseMlConfig, type MlConfig } from '../core/config';
import { DataRejectedError } from '../core/ingest';
import { prepareRun } from '../core/prepare';
import { attemptOf, decodeTriggerKey, runNames, runUris } from '../core/run-layout';

const eventSchema = z.object({
  runId: z.string().min(1),
  /** `$$.Execution.Name`: differs per attempt of the same run. */
  executionName: z.string().min(1),
  /** As the pipeline passes it: the key URI-encoded. */
  trigger: z.object({ key: z.string(), versionId: z.string() }),
  config: z.unknown(),
  resourcePrefix: z.string().min(1),
});

export type PrepareEvent = z.input<typeof eventSchema>;

/** `runs/<runId>/run.json`: what a run read and with which settings. */
export interface RunRecord {
  readonly runId: string;
  /** The Step Functions execution that wrote this record, and the names' suffix derived from it. */
  readonly executionName: string;
  readonly attempt: string;
  /** The trigger with its key decoded. */
  readonly trigger: RunTrigger;
  readonly startedAt: string;
  readonly inputs: readonly ListedObject[];
  readonly config: MlConfig;
}

export interface PrepareDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly ratingsPrefix: string;
  readonly now?: () => Date;
}

export async function prepare(event: PrepareEvent, deps: PrepareDeps): Promise<PrepareOutcome> {
  const parsed = eventSchema.parse(event);
  const { runId, executionName, config: rawConfig, resourcePrefix } = parsed;
  const trigger: RunTrigger = { ...parsed.trigger, key: decodeTriggerKey(parsed.trigger.key) };
  const config = parseMlConfig(rawConfig, 'reelflow.ml');
  const attempt = attemptOf(executionName);
  const names = runNames(runId, resourcePrefix, attempt);
  const uris = runUris(deps.bucket, runId);
  const runSink = s3Sink(deps.s3, deps.bucket, `runs/${runId}/`);

  const inputs = await listObjects(deps.s3, deps.bucket, deps.ratingsPrefix);
  const record: RunRecord = {
    runId,
    executionName,
    attempt,
    trigger,
    startedAt: (deps.now?.() ?? new Date()).toISOString(),
    inputs,
    config,
  };
  await runSink.put('run.json', `${JSON.stringify(record, null, 2)}\n`);
  if (inputs.length === 0) {
    const reason = `no rating file under ${deps.ratingsPrefix} yet: nothing to train`;
    const summary: NothingToDoSummary = {
      runId,
      trigger,
      nothingToDo: true,
      reason,
      approvalText: `Nothing to approve: run ${runId} found ${reason}; the Deploy stage changes nothing.`,
      reportUri: `${uris.prefix}run.json`,
    };
    await runSink.put('evaluation/summary.json', `${JSON.stringify(summary, null, 2)}\n`);
    logger.info('nothing to do', { runId, reason });
    return { runId, nothingToDo: true, reason };
  }
  logger.info('prepare started', { runId, attempt, trigger, batches: inputs.length });

  const { manifest, report } = await prepareRun({
    sources: s3RatingSources(deps.s3, deps.bucket, inputs),
    sink: s3Sink(deps.s3, deps.bucket, `runs/${runId}/prepared/`),
    config,
    onProgress: (e) => {
      if (e.stage !== 'ingest') logger.info('prepare progress', { runId, stage: e.stage, detail: e.detail });
    },
  });
  // Not `message`: the logger reserves that key and would drop it.
  logger.info('prepare finished', { runId, report: report.message });
  return {
    runId,
    attempt,
    names,
    uris,
    hyperparameters: manifest.hyperparameters,
    counts: {
      ratings: manifest.ratings,
      users: manifest.users,
      movies: manifest.movies,
      trainExamples: manifest.train.examples,
      testExamples: manifest.test.examples,
      testUsers: manifest.testUsers,
    },
  };
}

const s3 = tracer.captureAWSv3Client(new S3Client(s3ClientConfig()));

export const handler = observed(async (event: PrepareEvent): Promise<PrepareOutcome> => {
  try {
    const result = await prepare(event, {
      s3,
      bucket: requireEnv('DATA_BUCKET'),
      ratingsPrefix: requireEnv('RATINGS_PREFIX'),
    });
    metrics.addMetric('nothingToDo' in result ? 'RunsWithNothingToDo' : 'RunsPrepared', MetricUnit.Count, 1);
    return result;
  } catch (error) {
    if (error instanceof DataRejectedError) {
      metrics.addMetric('DataRejected', MetricUnit.Count, 1);
      logger.warn('data rejected', { report: error.report });
    }
    throw error;
  }
});
