import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadedModel } from '../../../local/services/model-containers';
import { LocalS3 } from '../../../local/services/s3';
import { SageMakerJobFailedError } from '../../../local/services/sagemaker-errors';
import {
  packBatches,
  runTransformJob,
  type TransformJobRequest,
} from '../../../local/services/transform-jobs';

const BUCKET = 'reelflow-transform-test';

/** Answers one line per record (`<record> #<request>`), so the output shows order and batching. */
function echoModel(): LoadedModel & { requests: string[] } {
  const requests: string[] = [];
  return {
    modelName: 'echo',
    requests,
    invoke(request) {
      requests.push(request.body);
      const n = requests.length;
      const lines = request.body.split('\n').map((line) => `${line} #${n}`);
      return { status: 200, body: `${lines.join('\n')}\n`, contentType: 'application/jsonlines' };
    },
  };
}

const request = (overrides: Partial<TransformJobRequest> = {}): TransformJobRequest => ({
  TransformJobName: 'job-1',
  ModelName: 'echo',
  BatchStrategy: 'MultiRecord',
  MaxPayloadInMB: 1,
  TransformInput: {
    ContentType: 'application/jsonlines',
    SplitType: 'Line',
    DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${BUCKET}/in/` } },
  },
  TransformOutput: {
    S3OutputPath: `s3://${BUCKET}/out`,
    Accept: 'application/jsonlines',
    AssembleWith: 'Line',
  },
  ...overrides,
});

describe('packBatches', () => {
  it('packs whole records up to the payload limit, in order', () => {
    const records = ['aaaa', 'bb', 'cccc', 'd'];
    // Each record costs its bytes plus a newline.
    expect(packBatches(records, 8, 'x')).toEqual([
      ['aaaa', 'bb'],
      ['cccc', 'd'],
    ]);
    expect(packBatches(records, 100, 'x')).toEqual([records]);
    expect(packBatches(records, 5, 'x')).toEqual([['aaaa'], ['bb'], ['cccc'], ['d']]);
    expect(() => packBatches(['toolong'], 5, 'x')).toThrow(/exceeds MaxPayloadInMB/);
  });
});

describe('runTransformJob on a local S3', () => {
  const server = new LocalS3({
    directory: mkdtempSync(join(tmpdir(), 's3-')),
    buckets: [BUCKET],
    reset: true,
  });
  let s3: S3Client;
  const deps = (model: LoadedModel) => ({ s3, model, region: 'us-east-1', account: '123456789012' });
  const text = async (key: string) =>
    (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();

  beforeAll(async () => {
    await server.start();
    s3 = server.client();
    const put = (key: string, body: string) =>
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    await put(
      'in/users.jsonl',
      Array.from({ length: 3000 }, (_, i) => `{"user_id":${i + 1}}`).join('\n') + '\n',
    );
    await put('in/part/more.jsonl', '{"user_id":9001}\n\n{"user_id":9002}\n');
  });
  afterAll(() => server.stop());

  it('answers every record in input order, one .out object per input object, keeping sub-paths', async () => {
    const model = echoModel();
    const done = await runTransformJob(request(), deps(model));

    expect(done).toMatchObject({
      TransformJobName: 'job-1',
      TransformJobStatus: 'Completed',
      ModelName: 'echo',
    });
    const main = (await text('out/users.jsonl.out')).trimEnd().split('\n');
    expect(main).toHaveLength(3000);
    expect(main.map((line) => line.replace(/ #\d+$/, ''))).toEqual(
      Array.from({ length: 3000 }, (_, i) => `{"user_id":${i + 1}}`),
    );
    // 3000 records of ~17 bytes fit one 1 MB request; the second object is its own request.
    expect(new Set(main.map((line) => line.split(' #')[1]))).toEqual(new Set(['2']));
    expect(await text('out/part/more.jsonl.out')).toBe('{"user_id":9001} #1\n{"user_id":9002} #1\n');
  });

  it('sends one record per request with SingleRecord', async () => {
    const model = echoModel();
    await runTransformJob(
      request({
        TransformJobName: 'job-2',
        BatchStrategy: 'SingleRecord',
        TransformInput: {
          ...request().TransformInput,
          DataSource: { S3DataSource: { S3Uri: `s3://${BUCKET}/in/part/` } },
        },
        TransformOutput: { S3OutputPath: `s3://${BUCKET}/single/`, Accept: 'application/jsonlines' },
      }),
      deps(model),
    );
    expect(model.requests).toEqual(['{"user_id":9001}', '{"user_id":9002}']);
    expect(await text('single/more.jsonl.out')).toBe('{"user_id":9001} #1\n{"user_id":9002} #2\n');
  });

  it('fails the job, writing nothing, when the model answers an error', async () => {
    const failing: LoadedModel = {
      modelName: 'bad',
      invoke: () => ({
        status: 400,
        body: '{"message":"no"}',
        contentType: 'application/json',
        container: 'pre',
      }),
    };
    const error = await runTransformJob(
      request({ TransformJobName: 'job-3', TransformOutput: { S3OutputPath: `s3://${BUCKET}/failed/` } }),
      deps(failing),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SageMakerJobFailedError);
    expect((error as SageMakerJobFailedError).description).toMatchObject({
      TransformJobStatus: 'Failed',
      FailureReason: expect.stringMatching(/^ClientError: .* answered 400 from pre/),
    });
    await expect(text('failed/users.jsonl.out')).rejects.toThrow();
  });
});
