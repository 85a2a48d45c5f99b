/**
 * Where a run's data steps run: the PlanRun state's decision (functions/workflow/plan-run.ts adapts it),
 * from the deploy config's `processing` block and the size of the rating files under `ratings/`.
 *
 * - mode `lambda` or `processing`: as configured;
 * - mode `auto`: SageMaker Processing jobs when the rating files add up to more than
 *   `autoThresholdBytes` (bytes as stored; a gzipped batch counts its compressed size), else Lambda.
 *
 * The plan also names this attempt's Processing jobs and the S3 folders each job exchanges its task
 * (`task/task.json`, the exact payload the Lambda would get) and result (`result/result.json`) through,
 * so a retried attempt never meets a job or a result of the one before.
 */
import {
  processingJobNames,
  processingTaskKey,
  type ProcessingJobNames,
  type ProcessingStep,
} from './run-layout';

/** The deploy config's `processing` slice PlanRun reads, with the resource prefix. */
export interface RunPlanConfig {
  readonly mode: 'auto' | 'lambda' | 'processing';
  readonly autoThresholdBytes: number;
  readonly resourcePrefix: string;
}

/** One value per data step, keyed as the workflow's states read them. */
export interface PerStep<T> {
  readonly prepare: T;
  readonly buildVectors: T;
  readonly evaluate: T;
}

/** What PlanRun returns (stored at `$.plan`). */
export interface RunPlan {
  /** Bytes of the rating files under `ratings/`, as stored. */
  readonly inputBytes: number;
  readonly mode: 'lambda' | 'processing';
  /** Why this mode, for the execution history and the docs. */
  readonly reason: string;
  /** This attempt's Processing job names (used only in mode `processing`). */
  readonly names: ProcessingJobNames;
  /** `s3://<bucket>/runs/<runId>/tasks/<step>-<attempt>/` of each step. */
  readonly taskUris: PerStep<string>;
  /** The same folders as keys in the data bucket (the S3 Tasks' `Key`s are built from them). */
  readonly taskKeys: PerStep<string>;
}

export interface RunPlanInput {
  readonly runId: string;
  /** The attempt suffix (attemptOf the execution name), as Prepare derives it. */
  readonly attempt: string;
  readonly bucket: string;
  readonly config: RunPlanConfig;
  /** Sizes of the objects under `ratings/`. */
  readonly objectSizes: readonly number[];
}

const STEP_OF: Readonly<Record<keyof PerStep<string>, ProcessingStep>> = {
  prepare: 'prepare',
  buildVectors: 'build-vectors',
  evaluate: 'evaluate',
};

/** The plan of one run attempt. Pure: the caller lists the objects. */
export function planRun(input: RunPlanInput): RunPlan {
  const { runId, attempt, bucket, config } = input;
  const inputBytes = input.objectSizes.reduce((sum, size) => sum + size, 0);
  const keys = Object.fromEntries(
    Object.entries(STEP_OF).map(([field, step]) => [field, processingTaskKey(runId, step, attempt)]),
  ) as unknown as PerStep<string>;
  const { mode, reason } = decide(inputBytes, config);
  return {
    inputBytes,
    mode,
    reason,
    names: processingJobNames(runId, config.resourcePrefix, attempt),
    taskUris: {
      prepare: `s3://${bucket}/${keys.prepare}`,
      buildVectors: `s3://${bucket}/${keys.buildVectors}`,
      evaluate: `s3://${bucket}/${keys.evaluate}`,
    },
    taskKeys: keys,
  };
}

function decide(inputBytes: number, config: RunPlanConfig): Pick<RunPlan, 'mode' | 'reason'> {
  if (config.mode !== 'auto') return { mode: config.mode, reason: `processing.mode is ${config.mode}` };
  const size = `${formatBytes(inputBytes)} of rating files`;
  const limit = `processing.autoThresholdBytes ${formatBytes(config.autoThresholdBytes)}`;
  return inputBytes > config.autoThresholdBytes
    ? { mode: 'processing', reason: `auto: ${size} is above ${limit}` }
    : { mode: 'lambda', reason: `auto: ${size} is within ${limit}` };
}

/** `1536` -> `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
