/**
 * Prepare: the first task of the retrain workflow. Lists every rating batch uploaded so far under
 * `ratings/`, validates **each batch on its own** (functions/core/batches.ts): a batch the ingest policy
 * refuses is moved to `quarantine/<path>` (CopyObject + DeleteObject on the versioned bucket, its report
 * in `quarantine/<path>.report.json`) and the run ends rejected with DataRejectedError, so a bad upload
 * neither sneaks in under the union's share nor blocks the next run. When every batch passes, it runs
 * the core's ingestion (the data-set-level checks on the union), split and FM encoding and writes the
 * run's prepared artifacts to `runs/<runId>/prepared/` (streamed multipart uploads, nothing on /tmp).
 * It records `runs/<runId>/run.json` (the trigger, the objects listed, the config) and
 * `runs/<runId>/lineage.json`: the batches trained on (key, version id, size, SHA-256) and the ones left
 * out, and why.
 *
 * Bad data throws DataRejectedError (its message says why); the workflow catches it, notifies and
 * ends the run before any training, production untouched. No rating file at
 * all under `ratings/` (the run CodePipeline starts when the stack is created) is no rejection: Prepare
 * records run.json and a nothing-to-do summary.json and returns `{ nothingToDo: true }`, and the
 * workflow ends NothingToDo without a notification.
 *
 * The SageMaker names carry this attempt's suffix, derived from the Step Functions execution name, so a
 * retried Retrain stage (same run id) never meets "already exists"; the S3 artifacts are per run and a
 * retry writes them again.
 */
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { NothingToDoSummary, PrepareOutcome, RunTrigger } from '../contracts';
import { requireEnv } from '../common/env';
import { logger } from '../common/logger';
import { metrics, MetricUnit } from '../common/metrics';
import { observed } from '../common/observability';
import { listObjects, s3ClientConfig, s3RatingSources, s3Sink, type ListedObject } from '../common/s3-io';
import { tracer } from '../common/tracer';
import { parseMlConfig, type MlConfig } from '../core/config';
import { batchPath, decideBatches, rejectedRunReport } from '../core/batches';
import { DataRejectedError, ingestRatings, type RatingSource, type ValidationReport } from '../core/ingest';
import { prepareRun } from '../core/prepare';
import {
  attemptOf,
  decodeTriggerKey,
  QUARANTINE_PREFIX,
  QUARANTINE_REPORT_SUFFIX,
  runNames,
  runUris,
  WITHDRAWAL_SUFFIX,
  WITHDRAWN_PREFIX,
} from '../core/run-layout';

const eventSchema = z.object({
  runId: z.string().min(1),
  /** `$$.Execution.Name`: differs per attempt of the same run. */
  executionName: z.string().min(1),
  /** As the pipeline passes it: the key URI-encoded. */
  trigger: z.object({ key: z.string(), versionId: z.string() }),
  config: z.unknown(),
  resourcePrefix: z.string().min(1),
  /** training.fmInstanceCount: the FM job runs at most one instance per train shard (ShardedByS3Key). */
  fmInstanceCount: z.number().int().positive().default(1),
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
  const startedAt = (deps.now?.() ?? new Date()).toISOString();

  const inputs = await listObjects(deps.s3, deps.bucket, deps.ratingsPrefix);
  const record: RunRecord = { runId, executionName, attempt, trigger, startedAt, inputs, config };
  await runSink.put('run.json', `${JSON.stringify(record, null, 2)}\n`);
  const lineage = (trained: readonly TrainedBatch[], excluded: readonly ExcludedBatch[]): Promise<void> =>
    writeLineage(deps, runSink, { runId, trigger, startedAt, trained, excluded });
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
    await lineage([], []);
    await runSink.put('evaluation/summary.json', `${JSON.stringify(summary, null, 2)}\n`);
    logger.info('nothing to do', { runId, reason });
    return { runId, nothingToDo: true, reason };
  }
  logger.info('prepare started', { runId, attempt, trigger, batches: inputs.length });

  // Each batch on its own first (one pass over all of them, no share limit for the union): a refused
  // batch leaves the training set and the run ends rejected; the next run trains on the rest.
  const seen = new Map<string, ReadFacts>();
  const union = await validateEach(tracked(deps, inputs, seen), config);
  const decision = decideBatches(union.files, config.ingest);
  const facts = (o: ListedObject): TrainedBatch => ({
    key: o.key,
    versionId: seen.get(o.key)?.versionId ?? null,
    size: o.size,
    eTag: o.eTag,
    sha256: seen.get(o.key)?.sha256 ?? null,
  });
  const accepted = inputs.filter((o) => decision.accepted.includes(o.key));
  if (decision.rejected.length > 0) {
    const moved: ExcludedBatch[] = [];
    for (const refused of decision.rejected) {
      const object = inputs.find((o) => o.key === refused.name)!;
      const file = union.files.find((f) => f.name === refused.name)!;
      moved.push(await quarantine(deps, runId, facts(object), refused.reason, file, union.policy));
    }
    const report = rejectedRunReport(union, decision, config.ingest, QUARANTINE_PREFIX);
    await s3Sink(deps.s3, deps.bucket, `runs/${runId}/prepared/`).put(
      'validation.json',
      `${JSON.stringify(report, null, 2)}\n`,
    );
    await lineage([], moved);
    throw new DataRejectedError(report);
  }
  const trained = accepted.map(facts);
  await lineage(trained, []);

  const { manifest, report } = await prepareRun({
    sources: s3RatingSources(deps.s3, deps.bucket, accepted),
    sink: s3Sink(deps.s3, deps.bucket, `runs/${runId}/prepared/`),
    config,
    onProgress: (e) => {
      if (e.stage !== 'ingest') logger.info('prepare progress', { runId, stage: e.stage, detail: e.detail });
    },
  });
  // Not `message`: the logger reserves that key and would drop it.
  logger.info('prepare finished', { runId, report: report.message });
  const excluded = await excludedBefore(deps);
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
    batches: { trained: trained.length, excluded: excluded.length },
    training: { fmInstanceCount: Math.max(1, Math.min(parsed.fmInstanceCount, manifest.train.files.length)) },
  };
}

/** What reading a batch showed: its S3 version and the SHA-256 of its bytes as stored. */
interface ReadFacts {
  readonly versionId: string | null;
  readonly sha256: string | null;
}

/** A batch a run trained on (lineage.json). */
export interface TrainedBatch {
  readonly key: string;
  /** The S3 version read (null when the bucket reports none, e.g. the local S3). */
  readonly versionId: string | null;
  readonly size: number;
  readonly eTag: string;
  /** SHA-256 of the object's bytes as stored (before gunzip); null when it was not read to the end. */
  readonly sha256: string | null;
}

/** A batch a run did not train on, and why (lineage.json). */
export interface ExcludedBatch {
  /** Where it was under `ratings/` (for a batch moved out before this run: where it came from). */
  readonly key: string;
  readonly status: 'quarantined' | 'withdrawn';
  readonly reason: string;
  /** Where it is now: `quarantine/<path>` or `withdrawn/<path>`. */
  readonly movedTo: string;
  /** Set for the batches this run moved. */
  readonly versionId?: string | null;
  readonly size?: number;
  readonly sha256?: string | null;
  readonly movedToVersionId?: string | null;
  readonly deleteMarkerVersionId?: string | null;
  readonly reportKey?: string;
  /** True for a batch this run quarantined; false for one that was already out of `ratings/`. */
  readonly byThisRun: boolean;
}

/** `runs/<runId>/lineage.json`. */
export interface RunLineage {
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly startedAt: string;
  /** The rule this run applied (docs/data-contract.md). */
  readonly rule: string;
  readonly trained: readonly TrainedBatch[];
  readonly excluded: readonly ExcludedBatch[];
}

const RULE =
  'every batch under ratings/ is validated on its own every run; a batch that fails is moved to quarantine/ ' +
  'and the run ends rejected; the next run trains on the batches left';

async function writeLineage(
  deps: PrepareDeps,
  sink: ReturnType<typeof s3Sink>,
  run: Omit<RunLineage, 'rule' | 'excluded'> & { readonly excluded: readonly ExcludedBatch[] },
): Promise<void> {
  const movedNow = new Set(run.excluded.map((b) => b.movedTo));
  const before = (await excludedBefore(deps)).filter((b) => !movedNow.has(b.movedTo));
  const lineage: RunLineage = { ...run, rule: RULE, excluded: [...run.excluded, ...before] };
  await sink.put('lineage.json', `${JSON.stringify(lineage, null, 2)}\n`);
}

/** The batches already out of the training set: under quarantine/ and withdrawn/ (sidecars skipped). */
async function excludedBefore(deps: PrepareDeps): Promise<ExcludedBatch[]> {
  const out: ExcludedBatch[] = [];
  for (const [prefix, status, suffix] of [
    [QUARANTINE_PREFIX, 'quarantined', QUARANTINE_REPORT_SUFFIX],
    [WITHDRAWN_PREFIX, 'withdrawn', WITHDRAWAL_SUFFIX],
  ] as const) {
    for (const o of await listObjects(deps.s3, deps.bucket, prefix)) {
      if (o.key.endsWith(suffix)) continue;
      out.push({
        key: deps.ratingsPrefix + batchPath(o.key, prefix),
        status,
        reason: `${status} before this run (see ${o.key}${suffix})`,
        movedTo: o.key,
        byThisRun: false,
      });
    }
  }
  return out;
}

/** Reads every batch once with the per-batch policy only; the union's share is not judged here. */
async function validateEach(sources: RatingSource[], config: MlConfig): Promise<ValidationReport> {
  try {
    return (await ingestRatings(sources, { ...config.ingest, maxBadRowShare: 1 })).report;
  } catch (error) {
    if (error instanceof DataRejectedError) return error.report;
    throw error;
  }
}

/**
 * Sources over the listed batches that record each object's version id and the SHA-256 of its bytes.
 * Pinned to the listed ETag, like the sources Prepare trains from, so both reads see the same bytes.
 */
function tracked(
  deps: PrepareDeps,
  objects: readonly ListedObject[],
  seen: Map<string, ReadFacts>,
): RatingSource[] {
  return objects.map((object) => ({
    name: object.key,
    sizeBytes: object.size,
    async open() {
      const response = await deps.s3.send(
        new GetObjectCommand({ Bucket: deps.bucket, Key: object.key, IfMatch: object.eTag || undefined }),
      );
      const body = response.Body as Readable;
      const hash = createHash('sha256');
      seen.set(object.key, { versionId: response.VersionId ?? null, sha256: null });
      return (async function* () {
        for await (const chunk of body) {
          hash.update(chunk as Uint8Array);
          yield chunk as Uint8Array;
        }
        seen.set(object.key, { versionId: response.VersionId ?? null, sha256: hash.digest('hex') });
      })();
    },
  }));
}

/**
 * Moves a refused batch `ratings/<path>` to `quarantine/<path>` (CopyObject, then DeleteObject: on the
 * versioned bucket the original version stays, behind a delete marker) and writes its report next to it.
 */
async function quarantine(
  deps: PrepareDeps,
  runId: string,
  batch: TrainedBatch,
  reason: string,
  file: ValidationReport['files'][number],
  policy: ValidationReport['policy'],
): Promise<ExcludedBatch> {
  const target = QUARANTINE_PREFIX + batchPath(batch.key, deps.ratingsPrefix);
  const reportKey = `${target}${QUARANTINE_REPORT_SUFFIX}`;
  const report = { batch: batch.key, runId, reason, policy, file, sha256: batch.sha256 };
  await deps.s3.send(
    new PutObjectCommand({
      Bucket: deps.bucket,
      Key: reportKey,
      Body: `${JSON.stringify(report, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
  const moved = await moveObject(deps.s3, deps.bucket, batch.key, target, batch.eTag);
  logger.warn('batch quarantined', { runId, key: batch.key, to: target, reason });
  return {
    key: batch.key,
    status: 'quarantined',
    reason,
    movedTo: target,
    versionId: moved.sourceVersionId ?? batch.versionId,
    size: batch.size,
    sha256: batch.sha256,
    movedToVersionId: moved.targetVersionId,
    deleteMarkerVersionId: moved.deleteMarkerVersionId,
    reportKey,
    byThisRun: true,
  };
}

/** The version ids of a move (null where the bucket reports none). */
export interface MovedObject {
  readonly sourceVersionId: string | null;
  readonly targetVersionId: string | null;
  readonly deleteMarkerVersionId: string | null;
}

/**
 * Moves `from` to `to` in the bucket: CopyObject (pinned to `eTag` when given), then DeleteObject of
 * `from`. On a versioned bucket nothing is lost: the source version stays behind a delete marker.
 * Single CopyObject: batches up to 5 GB.
 */
export async function moveObject(
  s3: S3Client,
  bucket: string,
  from: string,
  to: string,
  eTag?: string,
): Promise<MovedObject> {
  const copied = await s3.send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: to,
      CopySource: `${bucket}/${from.split('/').map(encodeURIComponent).join('/')}`,
      CopySourceIfMatch: eTag || undefined,
    }),
  );
  const deleted = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: from }));
  return {
    sourceVersionId: copied.CopySourceVersionId ?? null,
    targetVersionId: copied.VersionId ?? null,
    deleteMarkerVersionId: deleted.VersionId ?? null,
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
