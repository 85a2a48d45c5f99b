/**
 * The local FM training job reports the built-in's test-channel metrics (issue 12): on a small generated
 * pair shaped like MovieLens-100k's ua.base / ua.test, encoded as the workshop's notebook (and
 * bench/fm-workshop.ts) encodes it, the job's FinalMetricDataList holds exactly the numbers the bench
 * computes for the same data and seed, under the built-in's names; without a test channel it has none;
 * and DescribeTrainingJob on the twin's SageMaker API answers the job, as the Evaluate handler reads it.
 */
import '../../functions/quiet-powertools';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeTrainingJobCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { fmSchema, toHyperparameterStrings } from '../../../functions/core/config';
import { writeFmRecordIO } from '../../../functions/core/fm/encode';
import { FM_TEST_METRIC_NAMES, fmTestMetrics } from '../../../functions/core/fm/test-metrics';
import { trainFm } from '../../../functions/core/fm/train';
import { MemoryShardedRecordIOWriter } from '../../../functions/core/recordio';
import { Rng } from '../../../functions/core/random';
import type { SparseExamples } from '../../../functions/core/types';
import { trainingJobMetrics } from '../../../functions/workflow/evaluate';
import { startAwsJsonServer } from '../../../local/services/aws-json-server';
import { LocalS3 } from '../../../local/services/s3';
import { LOCAL_CREDENTIALS } from '../../../local/services/s3-client';
import { sageMakerJsonService } from '../../../local/services/sagemaker-api';
import type { LocalSageMaker } from '../../../local/services/sagemaker';
import { SageMakerJobFailedError } from '../../../local/services/sagemaker-errors';
import {
  runTrainingJob,
  TrainingJobDescriptions,
  type TrainingJobRequest,
} from '../../../local/services/training-jobs';

const BUCKET = 'reelflow-training-jobs-test';
const RECORDIO = 'application/x-recordio-protobuf';
const SEED = 5;
const dir = mkdtempSync(join(tmpdir(), 'reelflow-training-jobs-'));
const server = new LocalS3({ directory: join(dir, 's3'), buckets: [BUCKET], reset: true });
let s3: S3Client;

beforeAll(async () => {
  await server.start();
  s3 = server.client();
});
afterAll(async () => {
  s3.destroy();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface UaRows {
  user: number[];
  movie: number[];
  rating: number[];
}

/**
 * A ua-shaped pair: every user's ratings, a fixed number of them held out (ua.test has 10 per user);
 * ratings from a user and a movie bias, so rating >= 4 is learnable. Every movie appears in the base.
 */
function uaPair(
  users: number,
  movies: number,
  perUser: number,
  held: number,
): { base: UaRows; test: UaRows } {
  const rng = new Rng(11);
  const movieBias = Array.from({ length: movies + 1 }, () => rng.normal());
  const base: UaRows = { user: [], movie: [], rating: [] };
  const test: UaRows = { user: [], movie: [], rating: [] };
  for (let u = 1; u <= users; u++) {
    const bias = rng.normal() * 0.7;
    const rated = rng.shuffle(Int32Array.from({ length: movies }, (_, i) => i + 1)).subarray(0, perUser);
    rated.forEach((m, i) => {
      const score = 3.2 + bias + movieBias[m] + rng.normal() * 0.5;
      const target = i < perUser - held || u === m ? base : test;
      target.user.push(u);
      target.movie.push(m);
      target.rating.push(Math.min(5, Math.max(1, Math.round(score))));
    });
  }
  for (let m = 1; m <= movies; m++) {
    if (!base.movie.includes(m)) {
      base.user.push(1 + (m % users));
      base.movie.push(m);
      base.rating.push(4);
    }
  }
  return { base, test };
}

/** bench/fm-workshop.ts's encoding: one-hot users then movies (max ids of the base), label rating >= 4. */
function encode(rows: UaRows, order: ArrayLike<number>, nbUsers: number, nbMovies: number): SparseExamples {
  const n = order.length;
  const rowPtr = new Uint32Array(n + 1);
  const cols = new Uint32Array(2 * n);
  const vals = new Float32Array(2 * n).fill(1);
  const label = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = order[i];
    rowPtr[i + 1] = 2 * (i + 1);
    cols[2 * i] = rows.user[r] - 1;
    cols[2 * i + 1] = nbUsers + rows.movie[r] - 1;
    label[i] = rows.rating[r] >= 4 ? 1 : 0;
  }
  return { featureDim: nbUsers + nbMovies, length: n, rowPtr, cols, vals, label };
}

function recordIO(examples: SparseExamples): Uint8Array[] {
  const writer = new MemoryShardedRecordIOWriter({ maxBytes: 64 * 1024 });
  writeFmRecordIO(examples, writer);
  return writer.close();
}

async function putChannel(prefix: string, shards: Uint8Array[]): Promise<void> {
  for (const [i, body] of shards.entries()) {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}part-${i}.pbr`, Body: body }));
  }
}

function fmJob(
  name: string,
  hyperparameters: Record<string, string>,
  channels: string[],
): TrainingJobRequest {
  return {
    TrainingJobName: name,
    AlgorithmSpecification: {
      TrainingImage: '382416733822.dkr.ecr.us-east-1.amazonaws.com/factorization-machines:1',
      TrainingInputMode: 'File',
    },
    HyperParameters: hyperparameters,
    InputDataConfig: channels.map((channel) => ({
      ChannelName: channel,
      ContentType: RECORDIO,
      DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${BUCKET}/ua/${channel}/` } },
    })),
    OutputDataConfig: { S3OutputPath: `s3://${BUCKET}/out/` },
  };
}

const deps = () => ({ s3, seed: SEED, region: 'us-east-1', account: '123456789012' });

describe('the local FM training job reports the built-in test metrics', () => {
  const { base, test } = uaPair(60, 80, 20, 4);
  const nbUsers = Math.max(...base.user);
  const nbMovies = Math.max(...base.movie);
  const order = new Rng(SEED).shuffle(Uint32Array.from({ length: base.user.length }, (_, i) => i));
  const trainSet = encode(base, order, nbUsers, nbMovies);
  const testSet = encode(
    test,
    Uint32Array.from({ length: test.user.length }, (_, i) => i),
    nbUsers,
    nbMovies,
  );
  // The workshop's settings (binary classifier, adam, the built-in's defaults), fewer epochs and factors.
  const hp = {
    ...fmSchema.parse({}),
    num_factors: 8,
    epochs: 6,
    mini_batch_size: 100,
    factors_lr: 0.01,
    feature_dim: trainSet.featureDim,
  };
  const hyperparameters = toHyperparameterStrings(hp);

  beforeAll(async () => {
    await putChannel('ua/train/', recordIO(trainSet));
    await putChannel('ua/test/', recordIO(testSet));
  });

  it('ends with FinalMetricDataList = the bench numbers, under the built-in names', async () => {
    // GIVEN what bench/fm-workshop.ts computes on this pair with this seed
    const bench = trainFm(trainSet, hp, { seed: SEED, test: testSet });
    const expected = bench.metrics.test!;
    expect(expected.binary_classification_accuracy).toBeGreaterThan(0.5);

    // WHEN the local training job trains on the same rows as recordIO channels
    const job = await runTrainingJob(
      fmJob('reelflow-fm-ua-metrics', hyperparameters, ['train', 'test']),
      deps(),
    );

    // THEN its FinalMetricDataList holds exactly those numbers, with the built-in's names only
    const list = job.FinalMetricDataList as { MetricName: string; Value: number; Timestamp: string }[];
    expect(list.map((m) => m.MetricName)).toEqual([
      'test:binary_classification_accuracy',
      'test:binary_classification_cross_entropy',
      'test:binary_f_beta',
    ]);
    const byName = Object.fromEntries(list.map((m) => [m.MetricName, m.Value]));
    expect(byName['test:binary_classification_accuracy']).toBe(expected.binary_classification_accuracy);
    expect(byName['test:binary_classification_cross_entropy']).toBe(
      expected.binary_classification_cross_entropy,
    );
    expect(byName['test:binary_f_beta']).toBe(expected['binary_f_1.000']);
    expect(list.every((m) => !Number.isNaN(Date.parse(m.Timestamp)))).toBe(true);
    // and the pure function scores the bench's model to the same numbers
    expect(fmTestMetrics('binary_classifier', bench.model, testSet)).toEqual(
      list.map(({ MetricName, Value }) => ({ MetricName, Value })),
    );
  });

  it('has no FinalMetricDataList without a test channel', async () => {
    const job = await runTrainingJob(fmJob('reelflow-fm-ua-no-test', hyperparameters, ['train']), deps());
    expect(job.TrainingJobStatus).toBe('Completed');
    expect(job).not.toHaveProperty('FinalMetricDataList');
  });

  it('names a regressor test:rmse', () => {
    expect(Object.values(FM_TEST_METRIC_NAMES.regressor)).toEqual(['test:rmse']);
    const model = trainFm(trainSet, { ...hp, predictor_type: 'regressor', epochs: 1 }, { seed: 1 }).model;
    const [rmse] = fmTestMetrics('regressor', model, testSet);
    expect(rmse.MetricName).toBe('test:rmse');
    expect(rmse.Value).toBeGreaterThan(0);
  });

  it('serves the ended job on DescribeTrainingJob; Evaluate reads its test metrics, or says they are absent', async () => {
    // GIVEN the twin's SageMaker API over the recorded descriptions of a job with and one without metrics
    const descriptions = new TrainingJobDescriptions();
    const withMetrics = await descriptions.track(
      runTrainingJob(fmJob('reelflow-fm-ua-described', hyperparameters, ['train', 'test']), deps()),
    );
    await descriptions.track(
      runTrainingJob(fmJob('reelflow-fm-ua-bare', hyperparameters, ['train']), deps()),
    );
    const failed = await descriptions
      .track(
        runTrainingJob(fmJob('reelflow-fm-ua-failed', { ...hyperparameters, bogus: '1' }, ['train']), deps()),
      )
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(SageMakerJobFailedError);
    const api = await startAwsJsonServer([
      sageMakerJsonService({} as LocalSageMaker, { trainingJobs: descriptions }),
    ]);
    const client = new SageMakerClient({
      endpoint: api.url,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      // WHEN the SDK describes them
      const described = await client.send(
        new DescribeTrainingJobCommand({ TrainingJobName: 'reelflow-fm-ua-described' }),
      );
      // THEN AWS's shape: Dates from epoch seconds, the metrics as the job ended with them
      expect(described.TrainingJobStatus).toBe('Completed');
      expect(described.TrainingEndTime).toBeInstanceOf(Date);
      expect(described.FinalMetricDataList?.map((m) => [m.MetricName, m.Value])).toEqual(
        (withMetrics.FinalMetricDataList as { MetricName: string; Value: number }[]).map((m) => [
          m.MetricName,
          m.Value,
        ]),
      );
      expect(described.FinalMetricDataList?.[0].Timestamp).toBeInstanceOf(Date);
      const failedJob = await client.send(
        new DescribeTrainingJobCommand({ TrainingJobName: 'reelflow-fm-ua-failed' }),
      );
      expect(failedJob.TrainingJobStatus).toBe('Failed');
      await expect(
        client.send(new DescribeTrainingJobCommand({ TrainingJobName: 'reelflow-fm-never-ran' })),
      ).rejects.toMatchObject({ name: 'ValidationException', message: 'Requested resource not found.' });

      // and the Evaluate handler's reader turns them into the evaluation's training report
      const reported = await trainingJobMetrics(client, 'reelflow-fm-ua-described');
      expect(reported.fm).toEqual({
        job: 'reelflow-fm-ua-described',
        status: 'reported',
        testMetrics: Object.fromEntries(
          (withMetrics.FinalMetricDataList as { MetricName: string; Value: number }[]).map((m) => [
            m.MetricName,
            expect.closeTo(m.Value, 6),
          ]),
        ),
      });
      expect((await trainingJobMetrics(client, 'reelflow-fm-ua-bare')).fm).toMatchObject({
        status: 'absent',
        testMetrics: null,
      });
      expect((await trainingJobMetrics(client, 'reelflow-fm-never-ran')).fm).toMatchObject({
        status: 'unavailable',
        testMetrics: null,
        note: 'DescribeTrainingJob failed: ValidationException: Requested resource not found.',
      });
    } finally {
      client.destroy();
      await api.close();
    }
  });
});
