import '../quiet-powertools';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exitMessage,
  processingFiles,
  ProcessingEntryError,
  runProcessingStep,
} from '../../../functions/processing/main';
import { parseMlConfig } from '../../../functions/core/config';

const s3 = mockClient(S3Client);
const ENV = { DATA_BUCKET: 'data', RATINGS_PREFIX: 'ratings/', AWS_REGION: 'us-east-1' };
let root: string;

/** A Processing root holding `task` as input/task/task.json. */
function withTask(task: unknown): string {
  const files = processingFiles(root);
  mkdirSync(join(root, 'input', 'task'), { recursive: true });
  writeFileSync(files.task, JSON.stringify(task));
  return files.result;
}

const result = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));

beforeEach(() => {
  s3.reset();
  root = mkdtempSync(join(tmpdir(), 'processing-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('runProcessingStep', () => {
  it("writes the handler's result when the step succeeds (prepare on an empty ratings/)", async () => {
    // GIVEN no rating file under ratings/
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    s3.on(PutObjectCommand).resolves({});
    const out = withTask({
      runId: 'run-1',
      executionName: 'retrain-1',
      trigger: { key: 'manual', versionId: 'unknown' },
      config: parseMlConfig({}),
      resourcePrefix: 'reelflow',
    });

    // WHEN the container runs the prepare step
    await runProcessingStep('prepare', root, ENV);

    // THEN result.json is what the Prepare Lambda returns, and it wrote the run's records to S3
    expect(result(out)).toEqual({
      runId: 'run-1',
      nothingToDo: true,
      reason: 'no rating file under ratings/ yet: nothing to train',
    });
    const keys = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key);
    expect(keys).toEqual(
      expect.arrayContaining(['runs/run-1/run.json', 'runs/run-1/evaluation/summary.json']),
    );
    expect(s3.commandCalls(ListObjectsV2Command)[0].args[0].input).toMatchObject({
      Bucket: 'data',
      Prefix: 'ratings/',
    });
  });

  it('writes a step error as { error: { Error, Cause } } like the Lambda error, and resolves', async () => {
    // GIVEN a run whose run.json is missing
    s3.on(GetObjectCommand).rejects(
      new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }),
    );
    const out = withTask({
      runId: 'run-2',
      prepared: { uris: { knnTrain: 's3://data/runs/run-2/vectors/knn-train/', servingBundle: 's3://x' } },
      fm: { artifact: 's3://data/runs/run-2/fm/j/output/model.tar.gz' },
    });

    await runProcessingStep('build-vectors', root, ENV);

    expect(result(out)).toEqual({
      error: {
        Error: 'NoSuchKey',
        Cause: JSON.stringify({ errorType: 'NoSuchKey', errorMessage: 'The specified key does not exist.' }),
      },
    });
  });

  it('reports a missing environment variable as the step error the Lambda would throw', async () => {
    const out = withTask({});
    await runProcessingStep('evaluate', root, { AWS_REGION: 'us-east-1' });
    expect(result(out)).toMatchObject({ error: { Error: 'MissingEnvironmentError' } });
  });

  it('rejects (a crash: exit 1) on an unknown step or a missing task, writing no result', async () => {
    await expect(runProcessingStep('train', root, ENV)).rejects.toThrow(ProcessingEntryError);
    await expect(runProcessingStep('prepare', root, ENV)).rejects.toThrow(/cannot read the task/);
    expect(() => readFileSync(processingFiles(root).result)).toThrow();
  });
});

describe('exitMessage', () => {
  it('keeps the first 1 KB of whole UTF-8 characters, as SageMaker keeps of /opt/ml/output/message', () => {
    expect(exitMessage('short')).toBe('short');
    const long = exitMessage('é'.repeat(600));
    expect(Buffer.byteLength(long)).toBe(1024);
    expect(long).toBe('é'.repeat(512));
  });
});
