/**
 * PlanRun: the retrain workflow's second state. Lists the sizes of the rating files under `ratings/`
 * (nothing is read) and decides where the run's data steps (Prepare, BuildVectors, Evaluate) run: as
 * Lambda functions or as SageMaker Processing jobs (functions/core/run-plan.ts). A thin adapter: the
 * event is parsed here, the decision is the core's.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { requireEnv } from '../common/env';
import { logger } from '../common/logger';
import { observed } from '../common/observability';
import { listObjects, s3ClientConfig } from '../common/s3-io';
import { tracer } from '../common/tracer';
import { planRun, type RunPlan } from '../core/run-plan';
import { attemptOf } from '../core/run-layout';

const eventSchema = z.object({
  runId: z.string().min(1),
  /** `$$.Execution.Name`: the attempt suffix, as Prepare derives it. */
  executionName: z.string().min(1),
  /** The deploy config's `processing` block with the resource prefix (other keys are ignored). */
  config: z
    .object({
      mode: z.enum(['auto', 'lambda', 'processing']),
      autoThresholdBytes: z.number().int().positive(),
      resourcePrefix: z.string().min(1),
    })
    .loose(),
});

/** The task payload (see pipeline/retrain/prepare-and-train.ts, state PlanRun). */
export type PlanRunEvent = z.input<typeof eventSchema>;

export async function planRunStep(
  event: PlanRunEvent,
  deps: { readonly s3: S3Client; readonly bucket: string; readonly ratingsPrefix: string },
): Promise<RunPlan> {
  const { runId, executionName, config } = eventSchema.parse(event);
  const objects = await listObjects(deps.s3, deps.bucket, deps.ratingsPrefix);
  const plan = planRun({
    runId,
    attempt: attemptOf(executionName),
    bucket: deps.bucket,
    config,
    objectSizes: objects.map((o) => o.size),
  });
  logger.info('run planned', { runId, mode: plan.mode, reason: plan.reason, inputBytes: plan.inputBytes });
  return plan;
}

const s3 = tracer.captureAWSv3Client(new S3Client(s3ClientConfig()));

export const handler = observed(async (event: PlanRunEvent): Promise<RunPlan> =>
  planRunStep(event, {
    s3,
    bucket: requireEnv('DATA_BUCKET'),
    ratingsPrefix: requireEnv('RATINGS_PREFIX'),
  }),
);
