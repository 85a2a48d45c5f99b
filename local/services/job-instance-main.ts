/**
 * The worker-thread side of a job instance (see job-instance.ts; started through job-instance-entry.js): runs one training or transform job
 * against the local S3 and reports progress and the outcome to the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getObjectBytes } from '../../functions/common/s3-io';
import { loadModel } from './model-containers';
import { localS3Client } from './s3-client';
import { SageMakerApiError, SageMakerJobFailedError } from './sagemaker-errors';
import { runTrainingJob } from './training-jobs';
import { runTransformJob } from './transform-jobs';
import type { JobInstanceData, JobInstanceMessage } from './job-instance';

async function main(data: JobInstanceData): Promise<Record<string, unknown>> {
  const s3 = localS3Client(data.s3Endpoint);
  const post = (message: JobInstanceMessage): void => parentPort!.postMessage(message);
  if (data.kind === 'training') {
    return runTrainingJob(data.request, {
      s3,
      seed: data.seed,
      region: data.region,
      account: data.account,
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
