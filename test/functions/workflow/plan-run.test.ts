import '../quiet-powertools';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { formatBytes, planRun } from '../../../functions/core/run-plan';
import { attemptOf } from '../../../functions/core/run-layout';
import { planRunStep } from '../../../functions/workflow/plan-run';

const MIB = 1024 * 1024;
const config = (mode: 'auto' | 'lambda' | 'processing') => ({
  mode,
  autoThresholdBytes: 100 * MIB,
  resourcePrefix: 'reelflow',
});

describe('planRun', () => {
  const base = { runId: 'run-1', attempt: 'a1b2c3', bucket: 'data' };

  it('chooses Processing jobs in auto mode only above the threshold', () => {
    expect(planRun({ ...base, config: config('auto'), objectSizes: [60 * MIB, 40 * MIB] })).toMatchObject({
      inputBytes: 100 * MIB,
      mode: 'lambda',
      reason: 'auto: 100.0 MiB of rating files is within processing.autoThresholdBytes 100.0 MiB',
    });
    expect(planRun({ ...base, config: config('auto'), objectSizes: [60 * MIB, 40 * MIB + 1] })).toMatchObject(
      {
        mode: 'processing',
        reason: expect.stringMatching(/^auto: 100\.0 MiB of rating files is above/),
      },
    );
    expect(planRun({ ...base, config: config('auto'), objectSizes: [] })).toMatchObject({
      inputBytes: 0,
      mode: 'lambda',
    });
  });

  it('follows a fixed mode whatever the size', () => {
    expect(planRun({ ...base, config: config('lambda'), objectSizes: [10 ** 12] }).mode).toBe('lambda');
    expect(planRun({ ...base, config: config('processing'), objectSizes: [1] })).toMatchObject({
      mode: 'processing',
      reason: 'processing.mode is processing',
    });
  });

  it("names this attempt's jobs and task folders", () => {
    const plan = planRun({ ...base, config: config('processing'), objectSizes: [] });
    expect(plan.names).toEqual({
      prepareJob: 'reelflow-prep-run-1-a1b2c3',
      buildVectorsJob: 'reelflow-vec-run-1-a1b2c3',
      evaluateJob: 'reelflow-eval-run-1-a1b2c3',
    });
    expect(plan.taskKeys).toEqual({
      prepare: 'runs/run-1/tasks/prepare-a1b2c3/',
      buildVectors: 'runs/run-1/tasks/build-vectors-a1b2c3/',
      evaluate: 'runs/run-1/tasks/evaluate-a1b2c3/',
    });
    expect(plan.taskUris.evaluate).toBe('s3://data/runs/run-1/tasks/evaluate-a1b2c3/');
  });

  it('keeps job names within 63 characters for a CodePipeline execution id and a long prefix', () => {
    const runId = '8c1f2b3a-0000-4000-8000-000000000001';
    const plan = planRun({
      ...base,
      runId,
      config: { ...config('auto'), resourcePrefix: 'movies-prod-eu' },
      objectSizes: [],
    });
    for (const name of Object.values(plan.names)) {
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/);
    }
  });

  it('formats sizes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 * MIB)).toBe('3.0 GiB');
  });
});

describe('planRunStep (the PlanRun handler)', () => {
  const s3 = mockClient(S3Client);
  beforeEach(() => s3.reset());

  it('lists ratings/ across pages and plans from the sizes only', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: 'ratings/a.csv', Size: 80 * MIB }],
        NextContinuationToken: 't',
        IsTruncated: true,
      })
      .resolvesOnce({ Contents: [{ Key: 'ratings/b.csv.gz', Size: 30 * MIB }] });

    const plan = await planRunStep(
      {
        runId: 'run-7',
        executionName: 'retrain-x',
        config: { ...config('auto'), instanceType: 'ml.m5.4xlarge' },
      },
      { s3: new S3Client({ region: 'us-east-1' }), bucket: 'data', ratingsPrefix: 'ratings/' },
    );

    expect(plan).toMatchObject({ inputBytes: 110 * MIB, mode: 'processing' });
    expect(plan.names.prepareJob).toBe(`reelflow-prep-run-7-${attemptOf('retrain-x')}`);
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.Prefix)).toEqual([
      'ratings/',
      'ratings/',
    ]);
  });

  it('refuses an event without the processing config', async () => {
    await expect(
      planRunStep({ runId: 'r', executionName: 'e' } as never, {
        s3: new S3Client({ region: 'us-east-1' }),
        bucket: 'data',
        ratingsPrefix: 'ratings/',
      }),
    ).rejects.toThrow(/config/);
  });
});
