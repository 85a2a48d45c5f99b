/**
 * Job instances: every local training, transform and Processing job runs on its own worker thread, the local
 * counterpart of the instances SageMaker starts for a job. Training an FM model or scoring every test
 * user is seconds to minutes of CPU; on the main thread it would freeze the local API and the endpoint
 * fleets, which keep serving while a run trains (uploads arrive while `npm start` serves traffic).
 *
 * The worker gets the job request and the local S3's endpoint, reads its inputs and writes its outputs
 * there itself, and posts progress (epochs, objects) and the Describe*Job outcome back. A Processing
 * job's worker gets the container's environment (the request's Environment plus the local SDK
 * settings) as its whole `process.env`: the step's modules build their clients from it, and a variable
 * the request does not pass is missing there as it would be in the container.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ModelSpec } from './model-containers';
import type { ProcessingJobRequest, ProcessingProgress } from './processing-jobs';
import { SageMakerApiError, SageMakerJobFailedError, type SageMakerErrorCode } from './sagemaker-errors';
import type { TrainingJobRequest, TrainingProgress } from './training-jobs';
import type { TransformJobRequest, TransformProgress } from './transform-jobs';

interface CommonData {
  readonly s3Endpoint: string;
  readonly region: string;
  readonly account: string;
}

/** What a job worker is started with. */
export type JobInstanceData = CommonData &
  (
    | {
        readonly kind: 'training';
        readonly request: TrainingJobRequest;
        readonly seed: number;
        /** The project image's training jobs: the image, the temp folder, the entry module. */
        readonly project?: ProjectTrainingData;
      }
    | { readonly kind: 'transform'; readonly request: TransformJobRequest; readonly model: ModelSpec }
    | {
        readonly kind: 'processing';
        readonly request: ProcessingJobRequest;
        /** The project image (the only one the local runtime runs). */
        readonly projectImage: string;
        /** The container's environment besides the request's (local SDK endpoints, credentials). */
        readonly baseEnvironment: Readonly<Record<string, string>>;
        readonly tmpDir: string;
        /** The module exporting `runProcessingStep` (the image's /app/processing.js). */
        readonly entryModule: string;
      }
  );

/** What a training job worker needs to run the project image's training entry. */
export interface ProjectTrainingData {
  /** The project image (the rendered definitions' RENDER_PLACEHOLDERS.servingImage). */
  readonly image: string;
  /** Where each job's temporary /opt/ml tree is made. */
  readonly tmpDir: string;
  /** The module exporting `mainTrain` (the image's /app/training.js). */
  readonly entryModule: string;
}

export type JobProgress = TrainingProgress | TransformProgress | ProcessingProgress;

/** Messages from a job worker. */
export type JobInstanceMessage =
  | { readonly type: 'progress'; readonly progress: JobProgress }
  | { readonly type: 'done'; readonly result: Record<string, unknown> }
  | {
      readonly type: 'failed';
      readonly error: {
        readonly name: string;
        readonly message: string;
        readonly code?: SageMakerErrorCode;
        readonly description?: Record<string, unknown>;
      };
    };

/** Thrown when a job's worker stopped without an outcome (crash, out of memory, stopped). */
export class JobInstanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobInstanceError';
  }
}

const ENTRY = join(__dirname, 'job-instance-entry.js');

/**
 * Runs a job on a new worker thread. Resolves with the job's Describe output; rejects with the job's
 * own error (SageMakerJobFailedError for a Failed job). Aborting `signal` terminates the worker.
 */
export function runOnJobInstance(
  data: JobInstanceData,
  onProgress: (progress: JobProgress) => void,
  signal?: AbortSignal,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new JobInstanceError('the job was stopped before it started'));
      return;
    }
    // The environment as this module sees it (under jest, the test's copy with the runtime's variables).
    const env =
      data.kind === 'processing'
        ? { ...data.baseEnvironment, ...(data.request.Environment ?? {}) }
        : { ...process.env };
    const worker = new Worker(ENTRY, { workerData: data, env });
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => {
      settle(() => reject(new JobInstanceError('the job was stopped')));
      void worker.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: JobInstanceMessage) => {
      if (message.type === 'progress') {
        onProgress(message.progress);
      } else if (message.type === 'done') {
        settle(() => resolve(message.result));
      } else {
        const { name, message: text, code, description } = message.error;
        let error: Error;
        if (description) error = new SageMakerJobFailedError(description, text);
        else if (code) error = new SageMakerApiError(code, text);
        else {
          error = new JobInstanceError(text);
          error.name = name;
        }
        settle(() => reject(error));
      }
    });
    worker.on('error', (error) =>
      settle(() => reject(new JobInstanceError(`the job worker crashed: ${error.message}`))),
    );
    worker.on('exit', (code) =>
      settle(() => reject(new JobInstanceError(`the job worker exited with code ${code} before finishing`))),
    );
  });
}
