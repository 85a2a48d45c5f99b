/**
 * Local batch transform: a model's serial inference pipeline over every object under an S3 prefix,
 * with SageMaker's data handling:
 *
 * - `SplitType: Line`: each object is split into records at newlines (empty lines are dropped);
 * - `BatchStrategy: MultiRecord`: a request holds as many whole records as fit in `MaxPayloadInMB`
 *   (joined by newlines); `SingleRecord`: one record per request;
 * - output: one object per input object, `<S3OutputPath>/<input path under the prefix>.out`, the
 *   answers in input order, joined with newlines (`AssembleWith: Line`);
 * - any non-200 answer fails the job (SageMaker's ClientError), nothing is half-written.
 *
 * It runs the model through the same `LoadedModel` the endpoint fleets run (model-containers.ts), so a
 * transform's answers are the endpoint's answers. The result is the DescribeTransformJob output the
 * `.sync` integration returns.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getObjectText, listObjects } from '../../functions/common/s3-io';
import { parseS3Uri } from '../../functions/common/s3-uri';
import type { LoadedModel } from './model-containers';
import {
  sageMakerArn,
  SageMakerApiError,
  SageMakerJobFailedError,
  TransformClientError,
} from './sagemaker-errors';

/** The parts of a CreateTransformJob request the local job reads. */
export interface TransformJobRequest {
  readonly TransformJobName: string;
  readonly ModelName: string;
  readonly BatchStrategy?: 'MultiRecord' | 'SingleRecord';
  readonly MaxPayloadInMB?: number;
  readonly TransformInput?: {
    readonly ContentType?: string;
    readonly SplitType?: string;
    readonly DataSource?: {
      readonly S3DataSource?: { readonly S3DataType?: string; readonly S3Uri?: string };
    };
  };
  readonly TransformOutput?: {
    readonly S3OutputPath?: string;
    readonly Accept?: string;
    readonly AssembleWith?: string;
  };
  readonly TransformResources?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

export type TransformProgress = {
  readonly kind: 'object';
  readonly key: string;
  readonly records: number;
  readonly requests: number;
};

export interface TransformJobDeps {
  readonly s3: S3Client;
  readonly model: LoadedModel;
  readonly region: string;
  readonly account: string;
  readonly onProgress?: (progress: TransformProgress) => void;
  /** Lets other work run between requests (the job shares a thread with nothing else in a worker). */
  readonly yieldEvery?: number;
}

/** SageMaker's default MaxPayloadInMB. */
const DEFAULT_MAX_PAYLOAD_MB = 6;
const MB = 1024 * 1024;

/** Checks what CreateTransformJob validates synchronously. */
export function validateTransformJob(request: TransformJobRequest): void {
  const input = request.TransformInput;
  const source = input?.DataSource?.S3DataSource;
  if (!source?.S3Uri?.startsWith('s3://')) {
    throw new SageMakerApiError(
      'ValidationException',
      'TransformInput.DataSource.S3DataSource.S3Uri must be an s3:// URI',
    );
  }
  if (source.S3DataType !== undefined && source.S3DataType !== 'S3Prefix') {
    throw new SageMakerApiError(
      'ValidationException',
      `S3DataType ${source.S3DataType} is not supported locally (use S3Prefix)`,
    );
  }
  if (input?.SplitType !== undefined && input.SplitType !== 'Line' && input.SplitType !== 'None') {
    throw new SageMakerApiError(
      'ValidationException',
      `SplitType ${input.SplitType} is not supported locally (use Line or None)`,
    );
  }
  if (!request.TransformOutput?.S3OutputPath?.startsWith('s3://')) {
    throw new SageMakerApiError('ValidationException', 'TransformOutput.S3OutputPath must be an s3:// URI');
  }
  const payload = request.MaxPayloadInMB ?? DEFAULT_MAX_PAYLOAD_MB;
  if (!Number.isInteger(payload) || payload < 0 || payload > 100) {
    throw new SageMakerApiError(
      'ValidationException',
      `MaxPayloadInMB must be an integer from 0 to 100, got ${payload}`,
    );
  }
}

/** Runs a transform job to its end; rejects with SageMakerJobFailedError when it fails. */
export async function runTransformJob(
  request: TransformJobRequest,
  deps: TransformJobDeps,
): Promise<Record<string, unknown>> {
  validateTransformJob(request);
  const started = new Date();
  const describe = (extra: Record<string, unknown>): Record<string, unknown> => ({
    TransformJobName: request.TransformJobName,
    TransformJobArn: sageMakerArn(deps.region, deps.account, 'transform-job', request.TransformJobName),
    ModelName: request.ModelName,
    BatchStrategy: request.BatchStrategy ?? 'MultiRecord',
    MaxPayloadInMB: request.MaxPayloadInMB ?? DEFAULT_MAX_PAYLOAD_MB,
    TransformInput: request.TransformInput,
    TransformOutput: request.TransformOutput,
    TransformResources: request.TransformResources,
    CreationTime: started.toISOString(),
    TransformStartTime: started.toISOString(),
    TransformEndTime: new Date().toISOString(),
    ...extra,
  });

  const input = parseS3Uri(request.TransformInput!.DataSource!.S3DataSource!.S3Uri!);
  const output = parseS3Uri(request.TransformOutput!.S3OutputPath!);
  const outputPrefix = output.key === '' || output.key.endsWith('/') ? output.key : `${output.key}/`;
  // Output names keep the input's path below the prefix's last '/', as SageMaker does.
  const inputRoot = input.key.slice(0, input.key.lastIndexOf('/') + 1);
  const maxBytes = (request.MaxPayloadInMB ?? DEFAULT_MAX_PAYLOAD_MB) * MB || Number.POSITIVE_INFINITY;
  const single = request.BatchStrategy === 'SingleRecord';
  const byLine = (request.TransformInput?.SplitType ?? 'None') === 'Line';

  try {
    const objects = await listObjects(deps.s3, input.bucket, input.key);
    if (objects.length === 0)
      throw new TransformClientError(`no input objects under s3://${input.bucket}/${input.key}`);
    const outputs: { key: string; body: string }[] = [];
    let yielded = 0;
    for (const object of objects) {
      const text = await getObjectText(deps.s3, input.bucket, object.key);
      const records = byLine ? text.split('\n').filter((line) => line.trim() !== '') : [text];
      const batches = single ? records.map((r) => [r]) : packBatches(records, maxBytes, object.key);
      const answers: string[] = [];
      for (const batch of batches) {
        const response = deps.model.invoke({
          body: batch.join('\n'),
          contentType: request.TransformInput?.ContentType ?? 'application/json',
          accept: request.TransformOutput?.Accept,
        });
        if (response.status !== 200) {
          throw new TransformClientError(
            `${object.key}: the model answered ${response.status} from ${response.container ?? 'the model'}: ` +
              response.body.slice(0, 300),
          );
        }
        answers.push(response.body.endsWith('\n') ? response.body.slice(0, -1) : response.body);
        if (deps.yieldEvery && ++yielded % deps.yieldEvery === 0) await new Promise((r) => setImmediate(r));
      }
      outputs.push({
        key: `${outputPrefix}${object.key.slice(inputRoot.length)}.out`,
        body: `${answers.join('\n')}\n`,
      });
      deps.onProgress?.({
        kind: 'object',
        key: object.key,
        records: records.length,
        requests: batches.length,
      });
    }
    for (const out of outputs) {
      await deps.s3.send(new PutObjectCommand({ Bucket: output.bucket, Key: out.key, Body: out.body }));
    }
  } catch (error) {
    const err = error as Error;
    const reason = err instanceof TransformClientError ? `ClientError: ${err.message}` : err.message;
    throw new SageMakerJobFailedError(
      describe({ TransformJobStatus: 'Failed', FailureReason: reason }),
      reason,
    );
  }
  return describe({ TransformJobStatus: 'Completed' });
}

/** Whole records per request, each request's body (records + newlines) at most `maxBytes`. */
export function packBatches(records: readonly string[], maxBytes: number, source: string): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const record of records) {
    const bytes = Buffer.byteLength(record) + 1;
    if (bytes > maxBytes) {
      throw new TransformClientError(`${source}: a record of ${bytes} bytes exceeds MaxPayloadInMB`);
    }
    if (size + bytes > maxBytes && current.length > 0) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(record);
    size += bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
