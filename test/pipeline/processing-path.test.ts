/**
 * The data steps' Processing path of the retrain definition (pipeline/retrain/processing-step.ts): the
 * Choice on PlanRun's mode, the task.json the Processing job gets (the Lambda's exact payload), the
 * CreateProcessingJob request, the result put where the Lambda's goes, and a step error routed like the
 * Lambda's. Run with aws-local-stepfunctions, every Task answered by a test handler.
 */
import type { BuildVectorsResult, EvaluateResult, PrepareResult } from '../../functions/contracts';
import { parseDeployConfig } from '../../pipeline/config';
import { RENDER_PLACEHOLDERS, renderWorkflowDefinitions } from '../../pipeline/render';
import { RETRAIN_STATES as S } from '../../pipeline/retrain-workflow';
import { processingStateNames } from '../../pipeline/retrain/states';
import { aslErrors } from './asl';
import { setExecutionName, useExecutionName } from './execution-context';
import { runLocally, taskError, type TaskHandler } from './run-locally';

useExecutionName();
const EXECUTION = 'retrain-8c1f2b3a-0000-4000-8000-000000000009';
setExecutionName(EXECUTION);

const config = parseDeployConfig({ training: { fmInstanceCount: 4, knnInstanceCount: 2 } });
const definition = renderWorkflowDefinitions(config).retrain;
const BUCKET_NAME = 'reelflow-data-123456789012-us-east-1';
const RUN = 'run-0009';
const RUN_URI = `s3://${BUCKET_NAME}/runs/${RUN}/`;
const P = processingStateNames(S.prepare);
const V = processingStateNames(S.buildVectors);
const E = processingStateNames(S.evaluate);

const taskKey = (step: string) => `runs/${RUN}/tasks/${step}-a1b2c3/`;
const plan = {
  inputBytes: 500 * 1024 * 1024,
  mode: 'processing',
  reason: 'auto: 500.0 MiB of rating files is above processing.autoThresholdBytes 100.0 MiB',
  names: {
    prepareJob: `reelflow-prep-${RUN}-a1b2c3`,
    buildVectorsJob: `reelflow-vec-${RUN}-a1b2c3`,
    evaluateJob: `reelflow-eval-${RUN}-a1b2c3`,
  },
  taskUris: {
    prepare: `s3://${BUCKET_NAME}/${taskKey('prepare')}`,
    buildVectors: `s3://${BUCKET_NAME}/${taskKey('build-vectors')}`,
    evaluate: `s3://${BUCKET_NAME}/${taskKey('evaluate')}`,
  },
  taskKeys: {
    prepare: taskKey('prepare'),
    buildVectors: taskKey('build-vectors'),
    evaluate: taskKey('evaluate'),
  },
};
const prepared = {
  runId: RUN,
  attempt: 'a1b2c3',
  names: {
    fmJob: `reelflow-fm-${RUN}-a1b2c3`,
    knnJob: `reelflow-knn-${RUN}-a1b2c3`,
    model: `reelflow-model-${RUN}-a1b2c3`,
    transformModel: `reelflow-tmodel-${RUN}-a1b2c3`,
    productionTransformModel: `reelflow-tmodelp-${RUN}-a1b2c3`,
    candidateTransformJob: `reelflow-eval-${RUN}-a1b2c3`,
    productionTransformJob: `reelflow-evalprod-${RUN}-a1b2c3`,
    endpointConfigPrefix: `reelflow-config-${RUN}`,
  },
  uris: {
    prefix: RUN_URI,
    transformInput: `${RUN_URI}prepared/transform-input/`,
    servingBundle: `${RUN_URI}vectors/serving-bundle.tar.gz`,
    knnTrain: `${RUN_URI}vectors/knn-train/`,
    evaluation: `${RUN_URI}evaluation/`,
    train: `${RUN_URI}prepared/train/`,
    test: `${RUN_URI}prepared/test/`,
    fmOutput: `${RUN_URI}fm/`,
    knnOutput: `${RUN_URI}knn/`,
    candidateTransformOutput: `${RUN_URI}transform/candidate/`,
    productionTransformOutput: `${RUN_URI}transform/production/`,
  },
  hyperparameters: { fm: { feature_dim: '10' }, knn: { feature_dim: '89' } },
  training: { fmInstanceCount: 3 },
} as unknown as PrepareResult;
const vectors: BuildVectorsResult = {
  knnTrain: `${RUN_URI}vectors/knn-train/`,
  servingBundle: `${RUN_URI}vectors/serving-bundle.tar.gz`,
  dim: 89,
  tagBits: 24,
  users: 10,
  movies: 20,
  knnInstanceCount: 2,
};
const evaluation = {
  gate: { passed: true, reasons: [] },
  approvalText: 'ok',
  evaluationUri: `${RUN_URI}evaluation/evaluation.json`,
  reportUri: `${RUN_URI}evaluation/report.html`,
  summaryUri: `${RUN_URI}evaluation/summary.json`,
  primaryMetric: { name: 'ndcg@10', candidate: 0.2, production: null },
} satisfies EvaluateResult;
const input = { runId: RUN, trigger: { key: 'ratings/big.csv', versionId: 'v1' } };

/** Every Task of a processing-mode run; `results` are the result.json bodies by step state name. */
function handlers(
  results: Record<string, unknown> = {},
  overrides: Record<string, TaskHandler> = {},
): Record<string, TaskHandler> {
  const body = (value: unknown) => () => ({ Body: JSON.stringify(value), ContentType: 'application/json' });
  const completed = (name: string) => () => ({ ProcessingJobName: name, ProcessingJobStatus: 'Completed' });
  const lambdaCalled = (name: string) => () => {
    throw new Error(`the ${name} Lambda ran in processing mode`);
  };
  return {
    [S.planRun]: () => plan,
    [S.prepare]: lambdaCalled(S.prepare),
    [S.buildVectors]: lambdaCalled(S.buildVectors),
    [S.evaluate]: lambdaCalled(S.evaluate),
    ...Object.fromEntries([P, V, E].flatMap((n) => [[n.input, () => ({ ETag: '"e"' })]])),
    [P.processing]: completed(plan.names.prepareJob),
    [V.processing]: completed(plan.names.buildVectorsJob),
    [E.processing]: completed(plan.names.evaluateJob),
    [P.result]: body(results[S.prepare] ?? prepared),
    [V.result]: body(results[S.buildVectors] ?? vectors),
    [E.result]: body(results[S.evaluate] ?? evaluation),
    [S.trainFm]: () => ({
      TrainingJobName: prepared.names.fmJob,
      ModelArtifacts: { S3ModelArtifacts: `${RUN_URI}fm/j/output/model.tar.gz` },
    }),
    [S.trainKnn]: () => ({
      TrainingJobName: prepared.names.knnJob,
      ModelArtifacts: { S3ModelArtifacts: `${RUN_URI}knn/j/output/model.tar.gz` },
    }),
    [S.createModel]: () => ({ ModelArn: 'arn:m' }),
    [S.createTransformModel]: () => ({ ModelArn: 'arn:t' }),
    [S.readProduction]: () => {
      throw taskError('Ssm.ParameterNotFoundException');
    },
    [S.transformCandidateOnly]: () => ({ TransformJobStatus: 'Completed' }),
    [S.notifyFailure]: () => ({ MessageId: 'm' }),
    [S.notifyRejected]: () => ({ MessageId: 'm' }),
    ...overrides,
  };
}

describe('the Processing path in the rendered retrain definition', () => {
  it('is valid ASL, and each data step starts with a Choice on $.plan.mode whose default is its Lambda', () => {
    expect(aslErrors(definition)).toBe('');
    for (const [step, names] of [
      [S.prepare, P],
      [S.buildVectors, V],
      [S.evaluate, E],
    ] as const) {
      expect(definition.States[names.where]).toEqual({
        Type: 'Choice',
        Choices: [{ Variable: '$.plan.mode', StringEquals: 'processing', Next: names.payload }],
        Default: step,
      });
      expect(definition.States[step].Resource).toMatch(/^arn:aws:lambda:/);
    }
    expect(definition.States[S.planRun]).toMatchObject({
      Resource: RENDER_PLACEHOLDERS.planRun,
      ResultPath: '$.plan',
    });
  });

  it('creates the Processing job in the project image, with the task in and the result out, encrypted', () => {
    expect(definition.States[P.processing]).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::sagemaker:createProcessingJob.sync',
      Parameters: {
        'ProcessingJobName.$': '$.plan.names.prepareJob',
        RoleArn: RENDER_PLACEHOLDERS.processingRole,
        AppSpecification: {
          ImageUri: RENDER_PLACEHOLDERS.servingImage,
          ContainerEntrypoint: ['node', '/app/processing.js'],
          ContainerArguments: ['prepare'],
        },
        ProcessingInputs: [
          {
            InputName: 'task',
            S3Input: {
              'S3Uri.$': "States.Format('{}task/', $.plan.taskUris.prepare)",
              LocalPath: '/opt/ml/processing/input/task',
              S3DataType: 'S3Prefix',
              S3InputMode: 'File',
              S3DataDistributionType: 'FullyReplicated',
            },
          },
        ],
        ProcessingOutputConfig: {
          Outputs: [
            {
              OutputName: 'result',
              S3Output: {
                'S3Uri.$': "States.Format('{}result/', $.plan.taskUris.prepare)",
                LocalPath: '/opt/ml/processing/output/result',
                S3UploadMode: 'EndOfJob',
              },
            },
          ],
          KmsKeyId: RENDER_PLACEHOLDERS.key,
        },
        ProcessingResources: {
          ClusterConfig: {
            InstanceCount: 1,
            InstanceType: 'ml.m5.4xlarge',
            VolumeSizeInGB: 50,
            VolumeKmsKeyId: RENDER_PLACEHOLDERS.key,
          },
        },
        StoppingCondition: { MaxRuntimeInSeconds: 14400 },
        Environment: {
          DATA_BUCKET: BUCKET_NAME,
          RATINGS_PREFIX: 'ratings/',
          REELFLOW_PROCESSING_STEP: 'prepare',
        },
        NetworkConfig: { EnableNetworkIsolation: false },
      },
    });
    const env = (name: string) =>
      (definition.States[name].Parameters as { Environment: Record<string, string> }).Environment;
    expect(env(V.processing)).not.toHaveProperty('RATINGS_PREFIX');
    expect(env(E.processing)).toMatchObject({
      DATA_BUCKET: BUCKET_NAME,
      REELFLOW_PROCESSING_STEP: 'evaluate',
    });
  });

  it('trains on the instance counts the data steps return, the train channels sharded by S3 key', () => {
    const fm = definition.States[S.trainFm].Parameters as Record<string, unknown>;
    const knn = definition.States[S.trainKnn].Parameters as Record<string, unknown>;
    expect(fm.ResourceConfig).toMatchObject({ 'InstanceCount.$': '$.prepared.training.fmInstanceCount' });
    expect(knn.ResourceConfig).toMatchObject({ 'InstanceCount.$': '$.vectors.knnInstanceCount' });
    expect(JSON.stringify(fm.InputDataConfig)).toContain('ShardedByS3Key');
    expect(JSON.stringify(knn.InputDataConfig)).toContain('ShardedByS3Key');
    expect(fm).toMatchObject({ EnableInterContainerTrafficEncryption: true });
  });
});

describe('a processing-mode execution (aws-local-stepfunctions)', () => {
  it('runs each data step as a Processing job on the payload its Lambda would get, and goes on with its result', async () => {
    const run = await runLocally(definition, input, handlers());

    expect(run.error).toBeUndefined();
    expect(run.path.slice(0, 11)).toEqual([
      S.loadConfig,
      S.planRun,
      P.where,
      P.payload,
      P.input,
      P.processing,
      P.result,
      P.parse,
      P.failed,
      S.hasData,
      S.trainFm,
    ]);
    expect(run.path).not.toContain(S.prepare);
    expect(run.path).toEqual(expect.arrayContaining([V.processing, E.processing, S.candidateReady]));
    // The task: the Lambda payload, as JSON, under the plan's task folder.
    const put = run.inputs[P.input] as { Bucket: string; Key: string; Body: string };
    expect(put).toMatchObject({ Bucket: BUCKET_NAME, Key: `${taskKey('prepare')}task/task.json` });
    expect(JSON.parse(put.Body)).toEqual({
      ...input,
      executionName: EXECUTION,
      config: config.ml,
      resourcePrefix: 'reelflow',
      fmInstanceCount: 4,
    });
    expect(JSON.parse((run.inputs[V.input] as { Body: string }).Body)).toEqual({
      runId: RUN,
      prepared,
      fm: { artifact: `${RUN_URI}fm/j/output/model.tar.gz` },
      knnInstanceCount: 2,
    });
    expect(run.inputs[P.result]).toEqual({
      Bucket: BUCKET_NAME,
      Key: `${taskKey('prepare')}result/result.json`,
    });
    expect(run.inputs[P.processing]).toMatchObject({
      ProcessingJobName: plan.names.prepareJob,
      ProcessingInputs: [{ S3Input: { S3Uri: `${plan.taskUris.prepare}task/` } }],
      ProcessingOutputConfig: { Outputs: [{ S3Output: { S3Uri: `${plan.taskUris.prepare}result/` } }] },
    });
    // The results went where the Lambdas' go: the training jobs read them.
    expect(run.inputs[S.trainFm]).toMatchObject({
      TrainingJobName: prepared.names.fmJob,
      ResourceConfig: { InstanceCount: 3 },
    });
    expect(run.inputs[S.trainKnn]).toMatchObject({ ResourceConfig: { InstanceCount: 2 } });
    expect(run.output).toEqual(evaluation);
  });

  it('routes a step error the container reported like the Lambda error: notify, then fail with it', async () => {
    const error = {
      Error: 'DataRejectedError',
      Cause: JSON.stringify({ errorType: 'DataRejectedError', errorMessage: 'rejected: 12% bad rows' }),
    };
    const run = await runLocally(definition, input, handlers({ [S.prepare]: { error } }));

    expect(run.path.slice(-5)).toEqual([P.parse, P.failed, P.error, S.notifyFailure, S.retrainFailed]);
    expect(run.error).toEqual({ name: 'DataRejectedError', cause: error.Cause });
    expect(run.inputs[S.notifyFailure]).toMatchObject({
      Message: expect.stringContaining('"Error":"DataRejectedError"'),
    });
  });

  it('fails the run through the failure path when the Processing job itself fails', async () => {
    const run = await runLocally(
      definition,
      input,
      handlers(
        {},
        {
          [V.processing]: () => {
            throw taskError('States.TaskFailed', '{"FailureReason":"AlgorithmError: see ExitMessage"}');
          },
        },
      ),
    );
    expect(run.path.slice(-3)).toEqual([V.processing, S.notifyFailure, S.retrainFailed]);
    expect(run.path).not.toContain(S.trainKnn);
    expect(run.error?.name).toBe('States.TaskFailed');
  });
});
