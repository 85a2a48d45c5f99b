/**
 * Cleanup of `reelflow verify-aws`: whatever the check created goes, whatever happened before. Each step
 * runs on its own (one failure does not keep the others from running); what could not be deleted is
 * listed with the command that deletes it. Not aborted by Ctrl-C: it is what Ctrl-C leads to.
 */
import { describeError } from './errors';
import type { Sleep, VerifyPorts } from './ports';

/** What the check created (recorded just before each create call, so a half-done create is covered). */
export interface Created {
  trainingJobs: string[];
  model?: string;
  endpointConfig?: string;
  endpoint?: string;
  /** When CreateEndpoint was called (the `now` clock), for the cost estimate. */
  endpointStartedAt?: number;
  /** `verify/<id>/` once anything was uploaded. */
  uploadedPrefix?: string;
}

export interface CleanupOptions {
  readonly bucket?: string;
  readonly now: () => number;
  readonly sleep: Sleep;
  readonly pollMs: number;
  /** Bound of the wait for a stopping training job (it may still write its output). */
  readonly waitMs: number;
  readonly onProgress?: (message: string) => void;
}

export interface CleanupResult {
  readonly detail: string;
  /** What is left, each with the command that deletes it. */
  readonly leftovers: readonly string[];
  readonly endpointDeletedAt?: number;
}

/** A Describe/Delete error that means "already gone". */
export function isNotFound(error: unknown): boolean {
  const err = error as Error;
  return (
    err?.name === 'ResourceNotFound' ||
    ((err?.name === 'ValidationException' || err?.name === 'ValidationError') &&
      /could not find|does not exist|not found/i.test(err.message))
  );
}

export async function cleanUp(
  ports: VerifyPorts,
  created: Created,
  options: CleanupOptions,
): Promise<CleanupResult> {
  const never = new AbortController().signal;
  const done: string[] = [];
  const leftovers: string[] = [];
  const step = async (
    what: string,
    command: string,
    body: () => Promise<string | undefined>,
  ): Promise<void> => {
    try {
      const result = await body();
      if (result) done.push(result);
    } catch (error) {
      if (isNotFound(error)) return;
      leftovers.push(`${what} (${describeError(error)}; run: ${command})`);
    }
  };

  for (const job of created.trainingJobs) {
    await step(
      `training job ${job}`,
      `aws sagemaker stop-training-job --training-job-name ${job}`,
      async () => {
        let state = await ports.sagemaker.describeTrainingJob(job);
        if (state.status !== 'InProgress' && state.status !== 'Stopping') return undefined;
        if (state.status === 'InProgress') await ports.sagemaker.stopTrainingJob(job);
        // A stopping job may still upload its output: wait, so the S3 cleanup below sees it.
        const deadline = options.now() + options.waitMs;
        while (state.status === 'InProgress' || state.status === 'Stopping') {
          if (options.now() > deadline) throw new Error(`still ${state.status} after the cleanup wait`);
          options.onProgress?.(`cleanup: ${job} ${state.status}`);
          await options.sleep(options.pollMs, never);
          state = await ports.sagemaker.describeTrainingJob(job);
        }
        return `stopped ${job}`;
      },
    );
  }
  let endpointDeletedAt: number | undefined;
  const { endpoint, endpointConfig, model } = created;
  if (endpoint) {
    await step(
      `endpoint ${endpoint}`,
      `aws sagemaker delete-endpoint --endpoint-name ${endpoint}`,
      async () => {
        try {
          await ports.sagemaker.deleteEndpoint(endpoint);
        } finally {
          endpointDeletedAt = options.now();
        }
        return `endpoint ${endpoint}`;
      },
    );
  }
  if (endpointConfig) {
    await step(
      `endpoint config ${endpointConfig}`,
      `aws sagemaker delete-endpoint-config --endpoint-config-name ${endpointConfig}`,
      async () => {
        await ports.sagemaker.deleteEndpointConfig(endpointConfig);
        return `endpoint config`;
      },
    );
  }
  if (model) {
    await step(`model ${model}`, `aws sagemaker delete-model --model-name ${model}`, async () => {
      await ports.sagemaker.deleteModel(model);
      return 'model';
    });
  }
  const { bucket } = options;
  const prefix = created.uploadedPrefix;
  if (bucket && prefix) {
    await step(`s3://${bucket}/${prefix}`, `aws s3 rm --recursive s3://${bucket}/${prefix}`, async () => {
      const objects = await ports.storage.listAll(bucket, prefix);
      if (objects.length > 0) await ports.storage.deleteAll(bucket, objects);
      const left = await ports.storage.listAll(bucket, prefix);
      if (left.length > 0) throw new Error(`${left.length} objects remain`);
      return `${objects.length} objects under ${prefix}`;
    });
  }
  const detail = done.length > 0 ? `deleted ${done.join(', ')}` : 'nothing to delete';
  return { detail, leftovers, endpointDeletedAt };
}
