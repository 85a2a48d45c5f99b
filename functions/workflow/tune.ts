/**
 * Tune: the three data steps of the retrain workflow's search for the ranking metric (one function, the
 * step chosen by `action`, because they share their inputs and their permissions):
 *
 * - `plan`  (PlanTuning): reads the run's training split and id maps, carves the validation split from
 *   the training ratings, draws the trials and writes their train channels (functions/core/tuning/run.ts)
 *   under `runs/<runId>/tuning/`; returns the trials the Map state trains.
 * - `score` (ScoreTrial, once per trial inside the Map): reads the trial's model.tar.gz and scores its
 *   k-NN recommendations on the validation split by NDCG@k; its cost comes from DescribeTrainingJob
 *   (BillableTimeInSeconds × instances). A trial whose training failed is recorded as failed, not fatal.
 * - `pick`  (PickBest): picks the winner (the baseline wins ties, so the search never returns something
 *   worse than the config on validation), records `tuning/tuning.json`, writes the tuned ML config into
 *   run.json (the original stays as `configBeforeTuning`: BuildVectors and Evaluate read run.json) and
 *   returns the Prepare result with the winner's HyperParameters (and its train channel when its encoding
 *   differs), which replaces `$.prepared` so TrainFM trains the winner on all training data.
 */
import { DescribeTrainingJobCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { PrepareResult } from '../contracts';
import { requireEnv } from '../common/env';
import { logger } from '../common/logger';
import { metrics, MetricUnit } from '../common/metrics';
import { observed } from '../common/observability';
import { getObjectBytes, getObjectText, s3ClientConfig, s3Sink } from '../common/s3-io';
import { parseS3Uri, runKey } from '../common/s3-uri';
import { tracer } from '../common/tracer';
import { parseMlConfig, type MlConfig } from '../core/config';
import { readFmModelTarGz } from '../core/fm/artifact';
import { attemptOf } from '../core/run-layout';
import { parseIdMapCsv, parseSplitCsv } from '../core/split';
import {
  pickRunBest,
  planRunTuning,
  ratingsFromRows,
  scoreRunTrial,
  trialJobName,
  tuningData,
  tuningSchema,
  TUNING_FILES,
  type PlannedTrial,
  type TrialResult,
  type TuningPlan,
} from '../core/tuning';
import type { IdMap } from '../core/types';

const trialSchema = z
  .object({
    id: z.string(),
    baseline: z.boolean(),
    settings: z.record(z.string(), z.union([z.string(), z.number()])),
    jobName: z.string(),
    hyperparameters: z.record(z.string(), z.string()),
    trainUri: z.string(),
    outputUri: z.string(),
    instanceCount: z.literal(1),
  })
  .loose();

const planSchema = z.object({
  action: z.literal('plan'),
  runId: z.string().min(1),
  executionName: z.string().min(1),
  resourcePrefix: z.string().min(1),
  tuning: z.unknown(),
});

const scoreSchema = z.object({
  action: z.literal('score'),
  runId: z.string().min(1),
  k: z.number().int().positive(),
  /** The Map iteration's state: the trial, and the training result or the caught error. */
  item: z
    .object({
      trial: trialSchema,
      training: z.object({ artifact: z.string(), job: z.string() }).optional(),
      error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
    })
    .loose(),
});

const trialResultSchema = z.object({
  id: z.string(),
  baseline: z.boolean(),
  settings: z.record(z.string(), z.union([z.string(), z.number()])),
  status: z.enum(['scored', 'failed']),
  validationNdcg: z.number().optional(),
  error: z.string().optional(),
  instanceSeconds: z.number(),
});

const pickSchema = z.object({
  action: z.literal('pick'),
  runId: z.string().min(1),
  k: z.number().int().positive(),
  prepared: z.object({ uris: z.object({ train: z.string() }).loose() }).loose(),
  results: z.array(trialResultSchema),
});

const eventSchema = z.discriminatedUnion('action', [planSchema, scoreSchema, pickSchema]);

/** The three payloads (PlanTuning, ScoreTrial, PickBest). */
export type TuneEvent =
  | {
      readonly action: 'plan';
      readonly runId: string;
      readonly executionName: string;
      readonly resourcePrefix: string;
      readonly tuning: unknown;
    }
  | {
      readonly action: 'score';
      readonly runId: string;
      readonly k: number;
      readonly item: {
        readonly trial: PlannedTrial;
        readonly training?: { readonly artifact: string; readonly job: string };
        readonly error?: { readonly Error: string; readonly Cause?: string };
        readonly [key: string]: unknown;
      };
    }
  | {
      readonly action: 'pick';
      readonly runId: string;
      readonly k: number;
      readonly prepared: PrepareResult;
      readonly results: readonly TrialResult[];
    };

/** What PickBest returns: the Prepare result for the winner, plus the search's summary. */
export type TunedPrepareResult = PrepareResult & {
  readonly tuning: {
    readonly best: string;
    readonly bestSettings: Readonly<Record<string, string | number>>;
    readonly validationNdcg: number;
    readonly gainOverBaseline: number;
    readonly trials: number;
    readonly failedTrials: number;
    readonly instanceMinutes: number;
  };
};

export interface TuneDeps {
  readonly s3: S3Client;
  readonly sagemaker: SageMakerClient;
  readonly bucket: string;
}

interface RunFiles {
  readonly config: MlConfig;
  readonly run: Record<string, unknown>;
  readonly users: IdMap;
  readonly movies: IdMap;
}

async function readRun(deps: TuneDeps, runId: string): Promise<RunFiles> {
  const [runText, users, movies] = await Promise.all([
    getObjectText(deps.s3, deps.bucket, runKey(runId, 'run.json')),
    getObjectText(deps.s3, deps.bucket, runKey(runId, 'prepared/id-maps/users.csv')),
    getObjectText(deps.s3, deps.bucket, runKey(runId, 'prepared/id-maps/movies.csv')),
  ]);
  const run = JSON.parse(runText) as Record<string, unknown>;
  return {
    run,
    config: parseMlConfig(run.configBeforeTuning ?? run.config, 'run.json config'),
    users: parseIdMapCsv(users),
    movies: parseIdMapCsv(movies),
  };
}

/** The run's training rows as `Ratings` in the run's one-hot layout. */
async function readTrain(deps: TuneDeps, runId: string, files: RunFiles) {
  const train = parseSplitCsv(
    await getObjectBytes(deps.s3, deps.bucket, runKey(runId, 'prepared/split/train.csv')),
  );
  const { ratings, parts } = ratingsFromRows(files.users, files.movies, [train]);
  return { ratings, train: parts[0] };
}

export async function tune(
  event: TuneEvent,
  deps: TuneDeps,
): Promise<TuningPlan | TrialResult | TunedPrepareResult> {
  const parsed = eventSchema.parse(event);
  const tuningUri = `s3://${deps.bucket}/${runKey(parsed.runId, 'tuning/')}`;
  const sink = s3Sink(deps.s3, deps.bucket, runKey(parsed.runId, 'tuning/'));
  switch (parsed.action) {
    case 'plan': {
      const { runId, resourcePrefix } = parsed;
      const tuning = tuningSchema.parse(parsed.tuning);
      const files = await readRun(deps, runId);
      const { ratings, train } = await readTrain(deps, runId, files);
      const attempt = attemptOf(parsed.executionName);
      const plan = await planRunTuning({
        ratings,
        train,
        ml: files.config,
        tuning,
        sink,
        tuningUri,
        jobName: (index) => trialJobName(runId, resourcePrefix, attempt, index),
      });
      logger.info('tuning planned', { runId, trials: plan.trials.length, fit: plan.fitRatings });
      return plan;
    }
    case 'score':
      return scoreTrial(parsed, deps);
    case 'pick': {
      const { runId, results, k } = parsed;
      const files = await readRun(deps, runId);
      const { ratings, train } = await readTrain(deps, runId, files);
      const picked = await pickRunBest({ results, k, ml: files.config, ratings, train, sink, tuningUri });
      const { outcome } = picked;
      const run = { ...files.run, config: picked.ml, configBeforeTuning: files.config, tuning: outcome.best };
      await s3Sink(deps.s3, deps.bucket, runKey(runId, '')).put(
        'run.json',
        `${JSON.stringify(run, null, 2)}\n`,
      );
      logger.info('tuning picked', { runId, best: outcome.best.id, gain: outcome.gainOverBaseline });
      const prepared = parsed.prepared as unknown as PrepareResult;
      return {
        ...prepared,
        hyperparameters: picked.hyperparameters,
        uris: { ...prepared.uris, train: picked.trainUri ?? prepared.uris.train },
        tuning: {
          best: outcome.best.id,
          bestSettings: outcome.best.settings,
          validationNdcg: outcome.best.validationNdcg ?? 0,
          gainOverBaseline: outcome.gainOverBaseline,
          trials: outcome.trials.length,
          failedTrials: outcome.trials.filter((t) => t.status === 'failed').length,
          instanceMinutes: outcome.totalInstanceMinutes,
        },
      };
    }
  }
}

async function scoreTrial(event: z.infer<typeof scoreSchema>, deps: TuneDeps): Promise<TrialResult> {
  const { runId, k, item } = event;
  const trial = item.trial as PlannedTrial;
  const base = { id: trial.id, baseline: trial.baseline, settings: trial.settings };
  const instanceSeconds = await billableSeconds(deps.sagemaker, trial.jobName);
  if (!item.training) {
    const reason = item.error
      ? `${item.error.Error}: ${item.error.Cause ?? ''}`.trim()
      : 'no training result';
    logger.warn('tuning trial failed', { runId, trial: trial.id, reason });
    return { ...base, status: 'failed', error: reason.slice(0, 1000), instanceSeconds };
  }
  const files = await readRun(deps, runId);
  const [fit, validation] = await Promise.all([
    getObjectBytes(deps.s3, deps.bucket, runKey(runId, `tuning/${TUNING_FILES.fit}`)),
    getObjectBytes(deps.s3, deps.bucket, runKey(runId, `tuning/${TUNING_FILES.validation}`)),
  ]);
  const data = tuningData(files.users, files.movies, parseSplitCsv(fit), parseSplitCsv(validation));
  const artifact = parseS3Uri(item.training.artifact);
  const model = await readFmModelTarGz(await getObjectBytes(deps.s3, artifact.bucket, artifact.key), {
    featureDim: files.users.size + files.movies.size,
  });
  const score = scoreRunTrial(model, data, {
    k,
    relevanceMinRating: files.config.evaluation.relevanceMinRating,
  });
  logger.info('tuning trial scored', { runId, trial: trial.id, ndcg: score.ndcg });
  return { ...base, status: 'scored', validationNdcg: score.ndcg, instanceSeconds };
}

/**
 * A job's billable instance-seconds: BillableTimeInSeconds × instances, or (without billing data, e.g.
 * a job that failed before it started) its training time, or 0 when it never ran.
 */
async function billableSeconds(sagemaker: SageMakerClient, jobName: string): Promise<number> {
  try {
    const job = await sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: jobName }));
    const instances = job.ResourceConfig?.InstanceCount ?? 1;
    if (job.BillableTimeInSeconds !== undefined) return job.BillableTimeInSeconds * instances;
    if (job.TrainingStartTime && job.TrainingEndTime) {
      return ((job.TrainingEndTime.getTime() - job.TrainingStartTime.getTime()) / 1000) * instances;
    }
    return 0;
  } catch (error) {
    // No such job (it failed at CreateTrainingJob): nothing was billed.
    if ((error as Error).name === 'ValidationException') return 0;
    throw error;
  }
}

const s3 = tracer.captureAWSv3Client(new S3Client(s3ClientConfig()));
const sagemaker = tracer.captureAWSv3Client(new SageMakerClient({}));

export const handler = observed(async (event: TuneEvent) => {
  const result = await tune(event, { s3, sagemaker, bucket: requireEnv('DATA_BUCKET') });
  metrics.addMetric(`Tuning_${event.action}`, MetricUnit.Count, 1);
  return result;
});
