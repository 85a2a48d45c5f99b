/**
 * The worker-thread side of a job instance (see job-instance.ts; started through job-instance-entry.js):
 * runs one training (a built-in's, or the project image's training entry), transform or Processing job
 * against the local S3 and reports progress and the outcome to the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getObjectBytes } from '../../functions/common/s3-io';
import { loadModel } from './model-containers';
import { runProcessingJob, type ProcessingStepRunner } from './processing-jobs';
import type { TrainingContainerRunner } from './project-training-jobs';
import { localS3Client } from './s3-client';
import { SageMakerApiError, SageMakerJobFailedError } from './sagemaker-errors';
import { runTrainingJob } from './training-jobs';
import { runTransformJob } from './transform-jobs';
import type { JobInstanceData, JobInstanceMessage } from './job-instance';

async function main(data: JobInstanceData): Promise<Record<string, unknown>> {
  const s3 = localS3Client(data.s3Endpoint);
  const post = (message: JobInstanceMessage): void => parentPort!.postMessage(message);
  if (data.kind === 'training') {
    const project = data.project;
    return runTrainingJob(data.request, {
      s3,
      seed: data.seed,
      region: data.region,
      account: data.account,
      onProgress: (progress) => post({ type: 'progress', progress }),
      ...(project
        ? {
            project: {
              image: project.image,
              tmpDir: project.tmpDir,
              // The image's training entry, loaded when the container starts (a load error fails the
              // job like a crash).
              runContainer: async (root, log, errorLog) => {
                const entry = require(project.entryModule) as { mainTrain?: TrainingContainerRunner };
                if (typeof entry.mainTrain !== 'function') {
                  throw new Error(`${project.entryModule} does not export mainTrain`);
                }
                return entry.mainTrain(root, log, errorLog);
              },
            },
          }
        : {}),
    });
  }
  if (data.kind === 'processing') {
    // The image's entry point, loaded when the container starts (a load error fails the job like a
    // crash); this thread's process.env is the container's environment (job-instance.ts).
    const runStep: ProcessingStepRunner = async (step, root, env) => {
      Object.assign(process.env, env);
      const entry = require(data.entryModule) as { runProcessingStep?: ProcessingStepRunner };
      if (typeof entry.runProcessingStep !== 'function') {
        throw new Error(`${data.entryModule} does not export runProcessingStep`);
      }
      await entry.runProcessingStep(step, root, env);
    };
    return runProcessingJob(data.request, {
      s3,
      region: data.region,
      account: data.account,
      projectImage: data.projectImage,
      baseEnvironment: data.baseEnvironment,
      tmpDir: data.tmpDir,
      runStep,
      onProgress: (progress) => post({ type: 'progress', progress }),
    });
  }
  const model = await loadModel(data.model, (bucket, key) => getObjectBytes(s3, bucket, key));
  return runTransformJob(data.request, {
    s3,
    model,
    region: data.region,
    account: data.account,
    onProgress: (progress) => post({ type: 'progress', progress }),
  });
}

main(workerData as JobInstanceData).then(
  (result) => parentPort!.postMessage({ type: 'done', result } satisfies JobInstanceMessage),
  (error: Error) => {
    const failure: JobInstanceMessage = {
      type: 'failed',
      error: {
        name: error.name,
        message: error.message,
        code: error instanceof SageMakerApiError ? error.code : undefined,
        description: error instanceof SageMakerJobFailedError ? error.description : undefined,
      },
    };
    parentPort!.postMessage(failure);
  },
);
