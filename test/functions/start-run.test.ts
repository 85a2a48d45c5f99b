import './quiet-powertools';
import {
  CodePipelineClient,
  PipelineNotFoundException,
  StartPipelineExecutionCommand,
} from '@aws-sdk/client-codepipeline';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import {
  handler,
  InvalidTriggerEventError,
  MAX_VARIABLE_LENGTH,
  deletedVersionValue,
  type ObjectCreatedEvent,
  type ObjectDeletedEvent,
  requestToken,
  s3QuarantineCheck,
  startRun,
  type PipelineStarter,
} from '../../functions/pipeline/start-run';
import { metrics } from '../../functions/common/metrics';

const BUCKET = 'reelflow-data-123456789012-eu-west-1';
const settings = { pipelineName: 'reelflow-release', bucketName: BUCKET, prefix: 'ratings/' };

function event(
  key: string,
  overrides: Partial<ObjectCreatedEvent['detail']['object']> = {},
): ObjectCreatedEvent {
  return {
    version: '0',
    id: 'event-1',
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '123456789012',
    time: '2026-11-25T00:00:00Z',
    region: 'eu-west-1',
    resources: [`arn:aws:s3:::${BUCKET}`],
    detail: { bucket: { name: BUCKET }, object: { key, size: 10, 'version-id': 'v1', ...overrides } },
  };
}

function recordingStarter(): PipelineStarter & { calls: Parameters<PipelineStarter['start']>[0][] } {
  const calls: Parameters<PipelineStarter['start']>[0][] = [];
  return {
    calls,
    async start(request) {
      calls.push(request);
      return 'exec-1';
    },
  };
}

describe('startRun', () => {
  it('starts the pipeline with the upload key and version id as pipeline variables', async () => {
    const starter = recordingStarter();
    const result = await startRun(event('ratings/2026/ratings.csv'), settings, starter);

    expect(result).toEqual({
      started: true,
      executionId: 'exec-1',
      key: 'ratings/2026/ratings.csv',
      versionId: 'v1',
    });
    expect(starter.calls).toEqual([
      {
        pipelineName: 'reelflow-release',
        variables: [
          { name: 'triggerKey', value: 'ratings/2026/ratings.csv' },
          { name: 'triggerVersionId', value: 'v1' },
        ],
        clientRequestToken: requestToken(BUCKET, 'ratings/2026/ratings.csv', 'v1'),
      },
    ]);
  });

  it('gives a redelivered event the same request token, so it cannot start a second run', async () => {
    const starter = recordingStarter();
    await startRun(event('ratings/a.csv'), settings, starter);
    await startRun({ ...event('ratings/a.csv'), id: 'redelivery' }, settings, starter);
    await startRun(event('ratings/a.csv', { 'version-id': 'v2' }), settings, starter);

    const [first, again, newVersion] = starter.calls.map((c) => c.clientRequestToken);
    expect(again).toBe(first);
    expect(newVersion).not.toBe(first);
    expect(first).toMatch(/^[a-f0-9]{64}$/);
  });

  it("records 'unknown' when the event has no version id", async () => {
    const starter = recordingStarter();
    const result = await startRun(event('ratings/a.csv', { 'version-id': undefined }), settings, starter);

    expect(result).toMatchObject({ started: true, versionId: 'unknown' });
    expect(starter.calls[0].variables[1]).toEqual({ name: 'triggerVersionId', value: 'unknown' });
  });

  it.each([
    ['a key outside the prefix', event('runs/abc/deployment.json'), 'key is outside ratings/'],
    ['a folder marker', event('ratings/2026/'), 'folder marker'],
    [
      'another bucket',
      { ...event('ratings/a.csv'), detail: { bucket: { name: 'other' }, object: { key: 'ratings/a.csv' } } },
      'bucket other is not the data bucket',
    ],
  ])('ignores %s', async (_name, input, reason) => {
    const starter = recordingStarter();
    const result = await startRun(input as ObjectCreatedEvent, settings, starter);

    expect(result).toEqual({ started: false, reason, key: expect.any(String) });
    expect(starter.calls).toHaveLength(0);
  });

  it('clips a key longer than a pipeline variable may be', async () => {
    const starter = recordingStarter();
    await startRun(event(`ratings/${'x'.repeat(1200)}`), settings, starter);

    const value = starter.calls[0].variables[0].value;
    expect(value).toHaveLength(MAX_VARIABLE_LENGTH);
    expect(value.endsWith('...(truncated)')).toBe(true);
  });

  it('starts a run for a deletion under ratings/ (a withdrawn batch), with its own request token', async () => {
    const starter = recordingStarter();
    const deleted = {
      ...event('ratings/a.csv', { 'version-id': 'marker-1' }),
      'detail-type': 'Object Deleted',
    };
    const result = await startRun(deleted as ObjectDeletedEvent, settings, starter);

    expect(result).toEqual({
      started: true,
      executionId: 'exec-1',
      key: 'ratings/a.csv',
      versionId: 'deleted:marker-1',
    });
    expect(starter.calls[0].variables).toEqual([
      { name: 'triggerKey', value: 'ratings/a.csv' },
      { name: 'triggerVersionId', value: 'deleted:marker-1' },
    ]);
    expect(starter.calls[0].clientRequestToken).not.toBe(requestToken(BUCKET, 'ratings/a.csv', 'marker-1'));
    expect(deletedVersionValue(undefined)).toBe('deleted');
  });

  it("ignores Prepare's own quarantine move, and asks only for deletions", async () => {
    const starter = recordingStarter();
    const asked: string[] = [];
    const isQuarantined = async (key: string) => {
      asked.push(key);
      return true;
    };
    const deleted = { ...event('ratings/bad.csv'), 'detail-type': 'Object Deleted' } as ObjectDeletedEvent;
    await expect(startRun(deleted, { ...settings, isQuarantined }, starter)).resolves.toEqual({
      started: false,
      reason: 'moved to quarantine by a run',
      key: 'ratings/bad.csv',
    });
    await startRun(event('ratings/good.csv'), { ...settings, isQuarantined }, starter);
    expect(asked).toEqual(['ratings/bad.csv']);
    expect(starter.calls).toHaveLength(1);
  });

  it('checks quarantine/<path> with HeadObject', async () => {
    const s3 = mockClient(S3Client);
    s3.on(HeadObjectCommand, { Key: 'quarantine/2026/bad.csv' }).resolves({});
    s3.on(HeadObjectCommand, { Key: 'quarantine/good.csv' }).rejects(
      Object.assign(new Error('not found'), { name: 'NotFound' }),
    );
    const check = s3QuarantineCheck(new S3Client({}), BUCKET, 'ratings/');
    await expect(check('ratings/2026/bad.csv')).resolves.toBe(true);
    await expect(check('ratings/good.csv')).resolves.toBe(false);
    s3.restore();
  });

  it('throws InvalidTriggerEventError for an event that is not Object Created or Deleted', async () => {
    const bad = {
      ...event('ratings/a.csv'),
      'detail-type': 'Object Restore Completed',
    } as unknown as ObjectCreatedEvent;
    await expect(startRun(bad, settings, recordingStarter())).rejects.toBeInstanceOf(
      InvalidTriggerEventError,
    );
    const noKey = {
      ...event('ratings/a.csv'),
      detail: { bucket: { name: BUCKET } },
    } as unknown as ObjectCreatedEvent;
    await expect(startRun(noKey, settings, recordingStarter())).rejects.toThrow(/Object Created/);
  });
});

describe('handler', () => {
  const codePipeline = mockClient(CodePipelineClient);
  const env = { ...process.env };

  beforeEach(() => {
    codePipeline.reset();
    process.env = {
      ...env,
      PIPELINE_NAME: 'reelflow-release',
      DATA_BUCKET: BUCKET,
      RATINGS_PREFIX: 'ratings/',
    };
  });
  afterAll(() => {
    process.env = env;
  });

  it('calls StartPipelineExecution with the variables', async () => {
    codePipeline.on(StartPipelineExecutionCommand).resolves({ pipelineExecutionId: 'exec-9' });

    await expect(handler(event('ratings/u.data'))).resolves.toMatchObject({
      started: true,
      executionId: 'exec-9',
    });
    const [call] = codePipeline.commandCalls(StartPipelineExecutionCommand);
    expect(call.args[0].input).toMatchObject({
      name: 'reelflow-release',
      variables: [
        { name: 'triggerKey', value: 'ratings/u.data' },
        { name: 'triggerVersionId', value: 'v1' },
      ],
    });
  });

  it('rethrows a StartPipelineExecution failure so the invocation is retried and dead-lettered', async () => {
    const publish = jest.spyOn(metrics, 'publishStoredMetrics');
    codePipeline
      .on(StartPipelineExecutionCommand)
      .rejects(new PipelineNotFoundException({ $metadata: {}, message: 'reelflow-release not found' }));
    await expect(handler(event('ratings/u.data'))).rejects.toMatchObject({
      name: 'PipelineNotFoundException',
    });
    // The failure count still leaves the function (observed() flushes on the error path too).
    expect(publish).toHaveBeenCalledTimes(1);
    publish.mockRestore();
  });

  it('fails when StartPipelineExecution returns no execution id', async () => {
    codePipeline.on(StartPipelineExecutionCommand).resolves({});
    await expect(handler(event('ratings/u.data'))).rejects.toBeInstanceOf(InvalidTriggerEventError);
  });

  it('fails fast when its environment is incomplete', async () => {
    delete process.env.PIPELINE_NAME;
    await expect(handler(event('ratings/u.data'))).rejects.toThrow(
      'environment variable PIPELINE_NAME is not set',
    );
    expect(codePipeline.commandCalls(StartPipelineExecutionCommand)).toHaveLength(0);
  });
});
