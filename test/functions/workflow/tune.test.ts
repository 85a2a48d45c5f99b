import '../quiet-powertools';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeTrainingJobCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PrepareResult } from '../../../functions/contracts';
import { getObjectBytes } from '../../../functions/common/s3-io';
import { parseS3Uri } from '../../../functions/common/s3-uri';
import { fmHyperparametersFromStrings, parseMlConfig } from '../../../functions/core/config';
import { writeFmModelTarGz } from '../../../functions/core/fm/artifact';
import { fmExamplesFromRecordIO } from '../../../functions/core/fm/encode';
import { trainFm } from '../../../functions/core/fm/train';
import type { PlannedTrial, TrialResult, TuningPlan } from '../../../functions/core/tuning';
import { prepare } from '../../../functions/workflow/prepare';
import { tune, type TunedPrepareResult } from '../../../functions/workflow/tune';
import { LocalS3 } from '../../../local/services/s3';

const BUCKET = 'reelflow-data';
const SAMPLE = join(__dirname, '..', '..', '..', 'local', 'sample', 'ratings.csv');
const config = parseMlConfig({ fm: { epochs: 2, num_factors: 8, factors_lr: 0.01 } });
const tuning = {
  enabled: true,
  trials: 3,
  parallelism: 2,
  space: {
    'fm.factors_lr': { type: 'continuous', min: 0.003, max: 0.03, scale: 'log' },
    'encoding.negativeRatio': { type: 'integer', min: 1, max: 3 },
  },
};

describe('the tune handler against a local S3 on loopback', () => {
  const server = new LocalS3({
    directory: mkdtempSync(join(tmpdir(), 's3-')),
    buckets: [BUCKET],
    reset: true,
  });
  const sagemakerMock = mockClient(SageMakerClient);
  let s3: S3Client;
  const deps = () => ({ s3, sagemaker: new SageMakerClient({ region: 'eu-west-1' }), bucket: BUCKET });

  beforeAll(async () => {
    await server.start();
    s3 = server.client();
    await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'ratings/sample.csv', Body: readFileSync(SAMPLE) }),
    );
  });
  afterAll(() => server.stop());

  it('plans the trials, scores each trained one (and a failed one), and picks the best for TrainFM', async () => {
    const prepared = (await prepare(
      {
        runId: 'run-1',
        executionName: 'exec-1',
        trigger: { key: 'ratings/sample.csv', versionId: 'v1' },
        config,
        resourcePrefix: 'reelflow',
      },
      { s3, bucket: BUCKET, ratingsPrefix: 'ratings/' },
    )) as PrepareResult;

    const plan = (await tune(
      { action: 'plan', runId: 'run-1', executionName: 'exec-1', resourcePrefix: 'reelflow', tuning },
      deps(),
    )) as TuningPlan;
    expect(plan.trials).toHaveLength(3);
    expect(plan.trials[0]).toMatchObject({ id: 'trial-00', baseline: true, instanceCount: 1 });
    expect(plan.trials[1].jobName).toMatch(/^reelflow-t01-run-1-[0-9a-f]{6}$/);
    expect(plan.trials[0].hyperparameters.feature_dim).toBe(prepared.hyperparameters.fm.feature_dim);
    expect(await list(s3, 'runs/run-1/tuning/split/')).toEqual([
      'runs/run-1/tuning/split/fit.csv',
      'runs/run-1/tuning/split/validation.csv',
    ]);

    // What each trial's training job does, then ScoreTrial on the Map item.
    sagemakerMock.on(DescribeTrainingJobCommand).resolves({
      TrainingJobName: 'x',
      BillableTimeInSeconds: 90,
      ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.m5.xlarge', VolumeSizeInGB: 30 },
    } as never);
    const results: TrialResult[] = [];
    for (const trial of plan.trials.slice(0, 2)) {
      const artifact = await trainTrial(s3, trial);
      results.push(
        (await tune(
          {
            action: 'score',
            runId: 'run-1',
            k: 10,
            item: { trial, runId: 'run-1', training: { artifact, job: trial.jobName } },
          },
          deps(),
        )) as TrialResult,
      );
    }
    const failed = plan.trials[2];
    results.push(
      (await tune(
        {
          action: 'score',
          runId: 'run-1',
          k: 10,
          item: {
            trial: failed,
            runId: 'run-1',
            error: { Error: 'States.TaskFailed', Cause: 'ClientError: bad' },
          },
        },
        deps(),
      )) as TrialResult,
    );
    expect(results.map((r) => r.status)).toEqual(['scored', 'scored', 'failed']);
    expect(results[2].error).toBe('States.TaskFailed: ClientError: bad');
    expect(results.every((r) => r.instanceSeconds === 90)).toBe(true);
    for (const r of results.slice(0, 2)) expect(r.validationNdcg).toBeGreaterThan(0);

    const picked = (await tune(
      { action: 'pick', runId: 'run-1', k: 10, prepared, results },
      deps(),
    )) as TunedPrepareResult;
    const best = results[0].validationNdcg! >= results[1].validationNdcg! ? results[0] : results[1];
    expect(picked.tuning).toMatchObject({ best: best.id, trials: 3, failedTrials: 1, instanceMinutes: 4.5 });
    expect(picked.names).toEqual(prepared.names);
    expect(picked.hyperparameters.fm.factors_lr).toBe(String(best.settings['fm.factors_lr']));
    const sameEncoding = best.settings['encoding.negativeRatio'] === config.encoding.negativeRatio;
    expect(picked.uris.train).toBe(
      sameEncoding ? prepared.uris.train : `s3://${BUCKET}/runs/run-1/tuning/final/train/`,
    );
    const run = JSON.parse(await text(s3, 'runs/run-1/run.json'));
    expect(run.config.fm.factors_lr).toBe(best.settings['fm.factors_lr']);
    expect(run.configBeforeTuning.fm.factors_lr).toBe(0.01);
    expect(JSON.parse(await text(s3, 'runs/run-1/tuning/tuning.json')).best.id).toBe(best.id);
  });

  it('refuses an action it does not know', async () => {
    await expect(tune({ action: 'explode' } as never, deps())).rejects.toThrow(/action/);
  });
});

/** Trains a trial on its channel with the local trainer and stores the artifact where the job would. */
async function trainTrial(s3: S3Client, trial: PlannedTrial): Promise<string> {
  const { key } = parseS3Uri(trial.trainUri);
  const shards = await list(s3, key);
  const examples = fmExamplesFromRecordIO(
    await Promise.all(shards.map((k) => getObjectBytes(s3, BUCKET, k))),
  );
  const { model } = trainFm(examples, fmHyperparametersFromStrings(trial.hyperparameters), { seed: 1 });
  const out = `${parseS3Uri(trial.outputUri).key}${trial.jobName}/output/model.tar.gz`;
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: out, Body: await writeFmModelTarGz(model) }));
  return `s3://${BUCKET}/${out}`;
}

async function list(s3: S3Client, prefix: string): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!).sort();
}

async function text(s3: S3Client, key: string): Promise<string> {
  const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return response.Body!.transformToString();
}
