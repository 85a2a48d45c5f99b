/**
 * The local twin refuses what the SageMaker built-ins refuse (issue 7, defect 1): a training job whose
 * HyperParameters hold a name the built-in does not document is created, then ends Failed with the
 * built-in's FailureReason, and the retrain workflow (the definition `cdk synth` renders, over the real
 * task bindings, the local SageMaker and a local S3) fails at TrainFM with that message.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PrepareResult } from '../../functions/contracts';
import { parseMlConfig } from '../../functions/core/config';
import { trainingHyperparameters } from '../../functions/core/prepare';
import { encodeSparseRowFramed } from '../../functions/core/recordio';
import { runUris } from '../../functions/core/run-layout';
import { parseDeployConfig } from '../../pipeline/config';
import { LocalAlarms } from '../../local/services/alarms';
import { LocalNotifications } from '../../local/services/notifications';
import { LocalParameterStore } from '../../local/services/parameters';
import { LocalS3 } from '../../local/services/s3';
import { localS3Client } from '../../local/services/s3-client';
import { LocalSageMaker } from '../../local/services/sagemaker';
import { SageMakerJobFailedError } from '../../local/services/sagemaker-errors';
import { runTrainingJob, type TrainingJobRequest } from '../../local/services/training-jobs';
import { taskBindings } from '../../local/task-bindings';
import { RENDER_PLACEHOLDERS, renderWorkflowDefinitions } from '../../pipeline/render';
import { RETRAIN_STATES } from '../../pipeline/retrain-workflow';
import { StateMachineRunner, type ExecutionResult } from '../../local/state-machine-runner';
import { TimeScale } from '../../local/time-scale';

const OPTIMIZER_REASON =
  "ClientError: Additional hyperparameters are not allowed (u'optimizer' was unexpected) (caused by ValidationError)";
const BUCKET = 'reelflow-contracts-test';
const RECORDIO = 'application/x-recordio-protobuf';
/** 5 users + 5 movies, one-hot. */
const FEATURE_DIM = 10;
const S = RETRAIN_STATES;
const ML = parseMlConfig({ fm: { num_factors: 4, epochs: 2 } });

const deps = (s3: S3Client) => ({ s3, seed: 1, region: 'us-east-1', account: '123456789012' });

function fmJob(hyperparameters: Record<string, string>, channels = ['train', 'test']): TrainingJobRequest {
  return {
    TrainingJobName: 'reelflow-fm-contracts',
    AlgorithmSpecification: {
      TrainingImage: '382416733822.dkr.ecr.us-east-1.amazonaws.com/factorization-machines:1',
      TrainingInputMode: 'File',
    },
    HyperParameters: hyperparameters,
    InputDataConfig: channels.map((name) => ({
      ChannelName: name,
      ContentType: RECORDIO,
      DataSource: {
        S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${BUCKET}/runs/r1/prepared/${name}/` },
      },
    })),
    OutputDataConfig: { S3OutputPath: `s3://${BUCKET}/runs/r1/fm/` },
  };
}

async function failureOf(job: Promise<unknown>): Promise<Record<string, unknown>> {
  const error = await job.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SageMakerJobFailedError);
  return (error as SageMakerJobFailedError).description;
}

describe('local training jobs check the built-in contract first', () => {
  // Nothing is listening here: every job below must fail before it reads any data.
  const noS3 = localS3Client('http://127.0.0.1:9');
  const fm = trainingHyperparameters(ML, FEATURE_DIM).fm;

  it('fails a job holding optimizer with the built-in FailureReason', async () => {
    const description = await failureOf(runTrainingJob(fmJob({ ...fm, optimizer: 'adam' }), deps(noS3)));
    expect(description).toMatchObject({
      TrainingJobName: 'reelflow-fm-contracts',
      TrainingJobStatus: 'Failed',
      FailureReason: OPTIMIZER_REASON,
    });
  });

  it('fails missing required hyperparameters, bad values, unknown channels and content types', async () => {
    const noPredictor = Object.fromEntries(Object.entries(fm).filter(([k]) => k !== 'predictor_type'));
    expect((await failureOf(runTrainingJob(fmJob(noPredictor), deps(noS3)))).FailureReason).toBe(
      "ClientError: No value(s) were specified for 'predictor_type' which are required hyperparameter(s) (caused by ValidationError)",
    );
    expect(
      (await failureOf(runTrainingJob(fmJob({ ...fm, epochs: '0' }), deps(noS3)))).FailureReason,
    ).toMatch(/^ClientError: The value '0' is not valid for the 'epochs' hyperparameter/);
    expect(
      (await failureOf(runTrainingJob(fmJob(fm, ['train', 'validation']), deps(noS3)))).FailureReason,
    ).toMatch(/^ClientError: Channel 'validation' is not supported by the factorization-machines algorithm/);
    const csv = fmJob(fm, ['train']);
    const csvJob = { ...csv, InputDataConfig: [{ ...csv.InputDataConfig![0], ContentType: 'text/csv' }] };
    expect((await failureOf(runTrainingJob(csvJob, deps(noS3)))).FailureReason).toMatch(
      /^ClientError: Content type 'text\/csv' of channel 'train' is not supported/,
    );
    const knn = {
      ...fmJob(
        { feature_dim: '89', k: '100', predictor_type: 'classifier', sample_size: '10', optimizer: 'adam' },
        ['train'],
      ),
      AlgorithmSpecification: { TrainingImage: '382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1' },
    };
    expect((await failureOf(runTrainingJob(knn, deps(noS3)))).FailureReason).toBe(OPTIMIZER_REASON);
  });

  it('says so when a documented setting is one the local trainer does not model', async () => {
    expect(
      (await failureOf(runTrainingJob(fmJob({ ...fm, clip_gradient: '1' }), deps(noS3)))).FailureReason,
    ).toMatch(/^AlgorithmError: the local factorization-machines trainer does not model clip_gradient/);
  });
});

describe('the retrain workflow, run locally, fails at TrainFM on an undocumented hyperparameter', () => {
  const server = new LocalS3({
    directory: mkdtempSync(join(tmpdir(), 's3-')),
    buckets: [BUCKET],
    reset: true,
  });
  let s3: S3Client;
  const definition = renderWorkflowDefinitions(parseDeployConfig({})).retrain;
  const names = {
    fmJob: 'reelflow-fm-r1',
    knnJob: 'reelflow-knn-r1',
    model: 'reelflow-model-r1',
    transformModel: 'reelflow-tmodel-r1',
    productionTransformModel: 'reelflow-tmodelp-r1',
    candidateTransformJob: 'reelflow-eval-r1',
    productionTransformJob: 'reelflow-evalprod-r1',
    endpointConfigPrefix: 'reelflow-config-r1',
  };
  /** What Prepare returns for a small run: the real hyperparameters, `extra` injected into the FM ones. */
  const prepared = (jobSuffix: string, extra: Record<string, string> = {}): PrepareResult => {
    const hyperparameters = trainingHyperparameters(ML, FEATURE_DIM);
    return {
      runId: 'r1',
      attempt: jobSuffix,
      names: { ...names, fmJob: `${names.fmJob}-${jobSuffix}` },
      uris: runUris(BUCKET, 'r1'),
      hyperparameters: { fm: { ...hyperparameters.fm, ...extra }, knn: hyperparameters.knn },
      counts: { ratings: 8, users: 5, movies: 5, trainExamples: 8, testExamples: 2, testUsers: 2 },
      training: { fmInstanceCount: 1 },
    } as unknown as PrepareResult;
  };

  /**
   * Runs the rendered retrain definition on the local runtime's engine over the real task bindings:
   * the local SageMaker (jobs on this thread, against the local S3) and SNS; Prepare answers `result`,
   * BuildVectors ends the run (it is not under test here).
   */
  async function run(result: PrepareResult): Promise<ExecutionResult> {
    const alarms = LocalAlarms.rollbackAlarms(
      'reelflow-recommender',
      { endpoint5xxThreshold: 5, modelLatencyP99Ms: 500, apiErrorRateThreshold: 0.05, evaluationPeriods: 2 },
      600,
    );
    const sagemaker = new LocalSageMaker({
      s3Endpoint: 'http://127.0.0.1:9',
      alarms,
      msPerSecond: 0,
      trainingSeed: 1,
      inProcessJobs: {
        training: (request) => runTrainingJob(request, deps(s3)),
        transform: async () => ({}),
      },
    });
    const stop = async (): Promise<never> => {
      const error = new Error('stopped after TrainFM');
      error.name = 'TestStop';
      throw error;
    };
    const bindings = taskBindings({
      sagemaker,
      parameters: new LocalParameterStore(),
      alarms,
      notifications: new LocalNotifications(),
      s3,
      lambdas: {
        [RENDER_PLACEHOLDERS.planRun]: async () => ({ mode: 'lambda', inputBytes: 8, reason: 'small' }),
        [RENDER_PLACEHOLDERS.prepare]: async () => result,
        [RENDER_PLACEHOLDERS.buildVectors]: stop,
        [RENDER_PLACEHOLDERS.evaluate]: stop,
        [RENDER_PLACEHOLDERS.recordDeployment]: stop,
        [RENDER_PLACEHOLDERS.smokeTest]: stop,
      },
    });
    const runner = new StateMachineRunner(definition, bindings, new TimeScale(0));
    return runner.run(
      { runId: 'r1', trigger: { key: 'ratings/a.csv', versionId: 'v1' } },
      { executionName: `r1-${(result as { attempt?: string }).attempt ?? 'x'}` },
    );
  }

  beforeAll(async () => {
    await server.start();
    s3 = server.client();
    // A tiny FM data set: user u (0..4) rated movie 5 + u (label 1) and movie 5 + (u + 1) % 5 (label 0).
    const rows = (users: number[]): Buffer =>
      Buffer.concat(
        users.flatMap((u) => [
          encodeSparseRowFramed([u, 5 + u], [1, 1], FEATURE_DIM, 1),
          encodeSparseRowFramed([u, 5 + ((u + 1) % 5)], [1, 1], FEATURE_DIM, 0),
        ]),
      );
    const put = (key: string, body: Buffer) =>
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    await put('runs/r1/prepared/train/part-00000.recordio', rows([0, 1, 2, 3]));
    await put('runs/r1/prepared/test/part-00000.recordio', rows([4]));
  }, 60_000);

  afterAll(async () => {
    await server.stop();
  });

  it('trains past TrainFM with the hyperparameters prepare sends (the control)', async () => {
    const result = await run(prepared('ok'));
    expect(result.path).toContain(S.buildVectors);
    expect(result.error?.Cause).toMatch(/stopped after TrainFM/);
  }, 60_000);

  it("fails at TrainFM with AWS's FailureReason when optimizer is put back into HyperParameters", async () => {
    const result = await run(prepared('optimizer', { optimizer: 'adam' }));
    expect(result.path.slice(-3)).toEqual([S.trainFm, S.notifyFailure, S.retrainFailed]);
    expect(result.path).not.toContain(S.buildVectors);
    expect(result.status).toBe('FAILED');
    expect(result.error?.Error).toBe('States.TaskFailed');
    const description = JSON.parse(result.error!.Cause) as Record<string, unknown>;
    expect(description).toMatchObject({
      TrainingJobName: 'reelflow-fm-r1-optimizer',
      TrainingJobStatus: 'Failed',
      FailureReason: OPTIMIZER_REASON,
    });
  }, 60_000);
});
