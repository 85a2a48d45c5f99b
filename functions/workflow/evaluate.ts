/**
 * Evaluate: scores the candidate's and production's batch transform answers on the run's held-out test
 * users against most-popular and random, applies the gate, and writes
 * `runs/<runId>/evaluation/{evaluation.json, report.html, summary.json}`. The Gate state reads the
 * verdict it returns; the approval step and the deploy workflow read summary.json. Each model's
 * metrics are also emitted as CloudWatch metrics (dimensions Model, RunId) for the dashboard.
 *
 * The FM training job's own test metrics (its DescribeTrainingJob `FinalMetricDataList`: accuracy, F1,
 * cross-entropy) go into the evaluation too; a job without them, or a DescribeTrainingJob that fails,
 * is reported as such and never fails the step (needs `sagemaker:DescribeTrainingJob` on the job).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { DescribeTrainingJobCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { z } from 'zod';
import type { EvaluateResult, PrepareResult, ProductionRecord, RunSummary, RunTrigger } from '../contracts';
import { requireEnv } from '../common/env';
import { logger } from '../common/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { metrics, MetricUnit } from '../common/metrics';
import { METRICS_NAMESPACE } from '../common/namespace';
import { observed } from '../common/observability';
import { getObjectBytes, getObjectText, getPrefixTexts, s3ClientConfig, s3Sink } from '../common/s3-io';
import { parseS3Uri, runKey } from '../common/s3-uri';
import { tracer } from '../common/tracer';
import { parseMlConfig } from '../core/config';
import { formatBatchCounts, withBatchesLine } from '../core/batches';
import { decodeTriggerKey } from '../core/run-layout';
import { parseServedLines, runEvaluation } from '../core/evaluate/run-evaluation';
import {
  fmTrainingReport,
  fmTrainingUnavailable,
  ialsTrainingReport,
  ialsTrainingUnavailable,
  type TrainingReport,
} from '../core/evaluate/training-metrics';
import { parseIdMapCsv, parseSplitCsv } from '../core/split';
import type { TuningOutcome } from '../core/tuning/select';
import { tuningReport, type TuningReport } from '../core/evaluate/tuning-report';

const productionSchema = z
  .object({ runId: z.string(), modelName: z.string(), metrics: z.record(z.string(), z.number()) })
  .loose();

const eventSchema = z.object({
  runId: z.string().min(1),
  trigger: z.object({ key: z.string(), versionId: z.string() }),
  config: z.unknown(),
  prepared: z
    .object({
      names: z.object({
        fmJob: z.string(),
        knnJob: z.string(),
        model: z.string(),
        transformModel: z.string(),
        productionTransformModel: z.string(),
        candidateTransformJob: z.string(),
        productionTransformJob: z.string(),
        endpointConfigPrefix: z.string(),
      }),
      batches: z.object({ trained: z.number(), excluded: z.number() }).optional(),
    })
    .loose(),
  production: productionSchema.nullable().optional(),
  candidateOutput: z.string().startsWith('s3://'),
  productionOutput: z.string().startsWith('s3://'),
});

/** The task payload (see pipeline/retrain-workflow.ts, state Evaluate). */
export interface EvaluateEvent {
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly config: unknown;
  readonly prepared: Pick<PrepareResult, 'names' | 'batches'>;
  readonly production?: Pick<ProductionRecord, 'runId' | 'modelName' | 'metrics'> | null;
  readonly candidateOutput: string;
  readonly productionOutput: string;
}

/** CodePipeline's CustomData limit on the approval text (EvaluateResult.approvalText). */
const APPROVAL_TEXT_LIMIT = 500;

/** CloudWatch metric name of an evaluation metric: `ndcg@10` -> `ndcg_at_10`. */
export function cloudWatchMetricName(name: string): string {
  return name.replace('@', '_at_');
}

export async function evaluate(
  event: EvaluateEvent,
  deps: {
    readonly s3: S3Client;
    readonly bucket: string;
    readonly now?: () => Date;
    /** Reads the FM job's FinalMetricDataList. @default - the training metrics are not looked up */
    readonly sagemaker?: SageMakerClient;
  },
): Promise<EvaluateResult> {
  const input = eventSchema.parse(event);
  const { runId } = input;
  const { s3, bucket } = deps;
  const config = parseMlConfig(input.config, 'reelflow.ml');
  const production = input.production ?? null;
  // The workflow input carries the key URI-encoded, as the pipeline variable does.
  const trigger: RunTrigger = { ...input.trigger, key: decodeTriggerKey(input.trigger.key) };

  const readOutputs = async (uri: string): Promise<string> => {
    const { bucket: b, key } = parseS3Uri(uri);
    return (await getPrefixTexts(s3, b, key)).join('\n');
  };
  const [training, tuning, train, test, movies, candidateText, productionText] = await Promise.all([
    deps.sagemaker
      ? trainingJobMetrics(deps.sagemaker, input.prepared.names.fmJob, config.trainer)
      : Promise.resolve(undefined),
    readTuning(s3, bucket, runId),
    getObjectBytes(s3, bucket, runKey(runId, 'prepared/split/train.csv')),
    getObjectBytes(s3, bucket, runKey(runId, 'prepared/split/test.csv')),
    getObjectText(s3, bucket, runKey(runId, 'prepared/id-maps/movies.csv')),
    readOutputs(input.candidateOutput),
    production ? readOutputs(input.productionOutput) : Promise.resolve(null),
  ]);

  const sink = s3Sink(s3, bucket, runKey(runId, 'evaluation/'));
  const reportUri = sink.locate('report.html');
  const out = runEvaluation({
    train: parseSplitCsv(train),
    test: parseSplitCsv(test),
    catalog: parseIdMapCsv(movies).ids,
    candidate: parseServedLines(candidateText, 'candidate transform output'),
    production:
      productionText === null ? null : parseServedLines(productionText, 'production transform output'),
    config,
    meta: {
      runId,
      candidateVersion: runId,
      productionVersion: production?.runId ?? null,
      createdAt: (deps.now?.() ?? new Date()).toISOString(),
      trigger: `${trigger.key} (version ${trigger.versionId})`,
      ...(input.prepared.batches ? { batches: formatBatchCounts(input.prepared.batches) } : {}),
    },
    reportUrl: reportUri,
    ...(training ? { training } : {}),
    ...(tuning ? { tuning } : {}),
  });
  const { evaluation } = out;
  // The counts line (lineage.json has the batches): the approver sees what the candidate learned from.
  const approvalText = input.prepared.batches
    ? withBatchesLine(out.approvalText, input.prepared.batches, APPROVAL_TEXT_LIMIT)
    : out.approvalText;
  const summary: RunSummary = {
    runId,
    trigger,
    names: input.prepared.names,
    gate: { passed: evaluation.gate.passed, reasons: evaluation.gate.reasons },
    approvalText,
    candidateMetrics: evaluation.candidate,
    productionMetrics: evaluation.production,
    productionRunId: production?.runId ?? null,
    reportUri,
    evaluationUri: sink.locate('evaluation.json'),
  };
  await sink.put('evaluation.json', `${JSON.stringify(evaluation, null, 2)}\n`);
  await sink.put('report.html', out.html);
  await sink.put('summary.json', `${JSON.stringify(summary, null, 2)}\n`);

  const primary = config.gate.primaryMetric;
  logger.info('evaluation done', { runId, gate: evaluation.gate.passed, summary: out.summary });
  emitModelMetrics('candidate', runId, evaluation.candidate);
  if (production && evaluation.production)
    emitModelMetrics('production', production.runId, evaluation.production);
  return {
    gate: summary.gate,
    approvalText,
    evaluationUri: summary.evaluationUri,
    reportUri,
    summaryUri: sink.locate('summary.json'),
    primaryMetric: {
      name: primary,
      candidate: evaluation.candidate[primary] ?? null,
      production: evaluation.production?.[primary] ?? null,
    },
  };
}

/**
 * The run's tuning search (`tuning/tuning.json`, written by PickBest), or undefined when the run had none
 * (NoSuchKey). Any other failure fails the step: a search that ran must be in the evaluation.
 */
async function readTuning(s3: S3Client, bucket: string, runId: string): Promise<TuningReport | undefined> {
  let text: string;
  try {
    text = await getObjectText(s3, bucket, runKey(runId, 'tuning/tuning.json'));
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
  return tuningReport(JSON.parse(text) as TuningOutcome);
}

/**
 * The training job's own metrics from DescribeTrainingJob: the FM job's test metrics, or the iALS job's
 * train metrics (the iALS job takes the FM job's name slot). A failed call is logged and reported as
 * unavailable: the metrics inform the approver, they do not decide the gate.
 */
export async function trainingJobMetrics(
  sagemaker: SageMakerClient,
  job: string,
  trainer: 'fm' | 'ials' = 'fm',
): Promise<TrainingReport> {
  try {
    const described = await sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: job }));
    return trainer === 'ials'
      ? { ials: ialsTrainingReport(job, described.FinalMetricDataList) }
      : { fm: fmTrainingReport(job, described.FinalMetricDataList) };
  } catch (error) {
    logger.warn('the training job could not be described; its metrics are left out', {
      job,
      error: (error as Error).message,
    });
    return trainer === 'ials'
      ? { ials: ialsTrainingUnavailable(job, error) }
      : { fm: fmTrainingUnavailable(job, error) };
  }
}

/**
 * One EMF record per model: all its metrics under the dimensions Model and RunId (the dashboard graphs
 * them per version). A Metrics instance of its own, so the dimensions do not leak into the counts.
 */
function emitModelMetrics(
  model: 'candidate' | 'production',
  runId: string,
  values: Record<string, number>,
): void {
  const modelMetrics = new Metrics({
    namespace: METRICS_NAMESPACE,
    serviceName: 'reelflow',
    defaultDimensions: { Model: model, RunId: runId },
    logger,
  });
  for (const [name, value] of Object.entries(values)) {
    if (Number.isFinite(value)) modelMetrics.addMetric(cloudWatchMetricName(name), MetricUnit.NoUnit, value);
  }
  modelMetrics.publishStoredMetrics();
}

const s3 = tracer.captureAWSv3Client(new S3Client(s3ClientConfig()));
const sagemaker = tracer.captureAWSv3Client(new SageMakerClient({}));

export const handler = observed(async (event: EvaluateEvent): Promise<EvaluateResult> => {
  const result = await evaluate(event, { s3, sagemaker, bucket: requireEnv('DATA_BUCKET') });
  metrics.addMetric(result.gate.passed ? 'CandidatesPassed' : 'CandidatesRejected', MetricUnit.Count, 1);
  return result;
});
