import '../functions/quiet-powertools';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listObjects } from '../../functions/common/s3-io';
import { parseDeployConfig } from '../../pipeline/config';
import { LocalAlarms } from '../../local/services/alarms';
import type { LoopbackServer } from '../../local/services/http';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../local/services/local-account';
import { LocalS3 } from '../../local/services/s3';
import { LOCAL_CREDENTIALS, localS3Client } from '../../local/services/s3-client';
import { LocalSageMaker } from '../../local/services/sagemaker';
import { startSageMakerRuntime } from '../../local/services/sagemaker-runtime';
import { runTrainingJob } from '../../local/services/training-jobs';
import { runVerifyAws } from '../../local/verify-aws';
import {
  lambdaRecommendAdapter,
  objectStoreAdapter,
  sageMakerRuntimeAdapter,
} from '../../local/verify-aws/aws-adapters';
import { LocalTwinSageMaker } from '../../local/verify-aws/local-twin';
import { CHECKS, formatReport } from '../../local/verify-aws/report';

const BUCKET = 'reelflow-data-twin';
const ID = 'twin-1';
const deploy = parseDeployConfig({});
const ALARMS = {
  endpoint5xxThreshold: 5,
  modelLatencyP99Ms: 500,
  apiErrorRateThreshold: 0.05,
  evaluationPeriods: 2,
};

describe('verify-aws on the local twin (s3rver, LocalSageMaker, the local runtime)', () => {
  const s3 = new LocalS3({
    directory: mkdtempSync(join(tmpdir(), 'verify-s3-')),
    buckets: [BUCKET],
    reset: true,
  });
  let local: LocalSageMaker;
  let runtimeServer: LoopbackServer;

  beforeAll(async () => {
    const endpoint = await s3.start();
    local = new LocalSageMaker({
      s3Endpoint: endpoint,
      alarms: LocalAlarms.rollbackAlarms(deploy.endpoint.name, ALARMS, 600),
      msPerSecond: 0,
      trainingSeed: 1,
      // The local training stand-ins, on this thread (no worker start-up in a unit test).
      inProcessJobs: {
        training: (request) =>
          runTrainingJob(request, {
            s3: localS3Client(endpoint),
            seed: 1,
            region: LOCAL_REGION,
            account: LOCAL_ACCOUNT,
          }),
        transform: async () => ({}),
      },
    });
    runtimeServer = await startSageMakerRuntime(local);
    // What the recommend handler's module-level client reads when it loads (first use, below).
    Object.assign(process.env, {
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: runtimeServer.url,
    });
  });

  afterAll(async () => {
    await local.stop();
    await runtimeServer.close();
    await s3.stop();
  });

  it('trains, serves through pre/knn/post, answers through the recommend handler, and leaves nothing', async () => {
    const sagemaker = new LocalTwinSageMaker(local);
    const runtime = new SageMakerRuntimeClient({
      endpoint: runtimeServer.url,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    const report = await runVerifyAws(
      {
        sagemaker,
        runtime: sageMakerRuntimeAdapter(runtime),
        recommend: lambdaRecommendAdapter(),
        storage: objectStoreAdapter(s3.client(), { versioned: false }),
        stack: {
          outputs: async () => ({
            DataBucketName: BUCKET,
            TrainingRoleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/Training`,
            ModelRoleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/Model`,
            DataKeyArn: `arn:aws:kms:${LOCAL_REGION}:${LOCAL_ACCOUNT}:key/local`,
            ServingImageUri: `${LOCAL_ACCOUNT}.dkr.ecr.${LOCAL_REGION}.amazonaws.com/reelflow-serving:local`,
          }),
        },
        http: {
          get: async () => {
            throw new Error('no deployed API in this test');
          },
        },
      },
      { stackName: 'ReelflowStack', region: LOCAL_REGION, deploy, id: ID, pollMs: 5 },
    );

    const results = Object.fromEntries(report.checks.map((c) => [c.check, c]));
    expect(report.checks.map((c) => [c.check, c.result])).toEqual(
      Object.values(CHECKS).map((c) => [c, c === CHECKS.api ? 'skip' : 'pass']),
    );
    expect(report.passed).toBe(true);
    expect(results[CHECKS.vectors].detail).toMatch(/k-NN rows of dimension \d+, serving bundle/);
    expect(results[CHECKS.invoke].detail).toMatch(
      /^user \d+: \d+ movies, none already rated, modelVersion twin-1$/,
    );
    expect(results[CHECKS.recommend].detail).toMatch(/^200, \d+ movies, itemList, modelVersion twin-1$/);
    expect(results[CHECKS.api].detail).toBe('the stack has no RecommendUrl output');
    expect(formatReport(report)).toMatch(/verify id twin-1: all checks passed/);

    // Nothing left: no running job, no endpoint, config or model, no object under verify/.
    await sagemaker.settled();
    const names = [`reelflow-verify-${ID}-fm`, `reelflow-verify-${ID}-knn`];
    for (const job of names) expect(sagemaker.exists('trainingJobRunning', job)).toBe(false);
    expect(sagemaker.exists('endpoint', `reelflow-verify-${ID}`)).toBe(false);
    expect(sagemaker.exists('endpointConfig', `reelflow-verify-${ID}-config`)).toBe(false);
    expect(sagemaker.exists('model', `reelflow-verify-${ID}-model`)).toBe(false);
    expect(await listObjects(s3.client(), BUCKET, 'verify/')).toEqual([]);
    expect(results[CHECKS.cleanup].detail).toMatch(
      /^deleted endpoint reelflow-verify-twin-1, endpoint config, model, \d+ objects under verify\/twin-1\/$/,
    );
  });
});
