import { aslErrors } from './asl';
import {
  SERVING_CONTENT_TYPES,
  type EvaluateResult,
  type PrepareResult,
  type ProductionRecord,
} from '../../functions/contracts';
import { parseDeployConfig } from '../../pipeline/config';
import { RENDER_PLACEHOLDERS, renderWorkflowDefinitions, type AslDefinition } from '../../pipeline/render';
import { RETRAIN_STATES } from '../../pipeline/retrain-workflow';
import { setExecutionName, useExecutionName } from './execution-context';
import { allStates, runLocally, taskError, type TaskHandler } from './run-locally';

useExecutionName();
const EXECUTION = 'retrain-8c1f2b3a-0000-4000-8000-000000000001';
setExecutionName(EXECUTION);

const config = parseDeployConfig({});
const definition = renderWorkflowDefinitions(config).retrain;
const S = RETRAIN_STATES;
const RUN = 'run-0002';
const BUCKET = 's3://reelflow-data/runs/run-0002/';

const prepared: PrepareResult = {
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
    prefix: BUCKET,
    train: `${BUCKET}prepared/train/`,
    test: `${BUCKET}prepared/test/`,
    transformInput: `${BUCKET}prepared/transform-input/`,
    fmOutput: `${BUCKET}fm/`,
    knnTrain: `${BUCKET}vectors/knn-train/`,
    knnOutput: `${BUCKET}knn/`,
    servingBundle: `${BUCKET}vectors/serving-bundle.tar.gz`,
    candidateTransformOutput: `${BUCKET}transform/candidate/`,
    productionTransformOutput: `${BUCKET}transform/production/`,
    evaluation: `${BUCKET}evaluation/`,
  },
  hyperparameters: { fm: { feature_dim: '2625', num_factors: '64' }, knn: { feature_dim: '89', k: '100' } },
  counts: {
    ratings: 100000,
    users: 943,
    movies: 1682,
    trainExamples: 90000,
    testExamples: 10000,
    testUsers: 943,
  },
  training: { fmInstanceCount: 1 },
};
const PRODUCTION_RUN = 's3://reelflow-data/runs/run-0001/';
/** DescribeModel of production's hosting model: the three containers the retrain workflow builds. */
const productionModel = {
  ModelName: 'reelflow-model-run-0001',
  ExecutionRoleArn: RENDER_PLACEHOLDERS.hostingRole,
  Containers: [
    {
      ContainerHostname: 'pre',
      Image: 'serving:old',
      ModelDataUrl: `${PRODUCTION_RUN}vectors/serving-bundle.tar.gz`,
      Environment: { REELFLOW_ROLE: 'pre' },
    },
    {
      ContainerHostname: 'knn',
      Image: 'knn:1',
      ModelDataUrl: `${PRODUCTION_RUN}knn/j/output/model.tar.gz`,
      Environment: { A: 'b' },
    },
    {
      ContainerHostname: 'post',
      Image: 'serving:old',
      ModelDataUrl: `${PRODUCTION_RUN}vectors/serving-bundle.tar.gz`,
      Environment: { REELFLOW_ROLE: 'post' },
    },
  ],
};
const production: ProductionRecord = {
  runId: 'run-0001',
  modelName: 'reelflow-model-run-0001',
  endpointConfigName: 'reelflow-config-run-0001',
  deployedAt: '2026-11-20T00:00:00.000Z',
  metrics: { 'ndcg@10': 0.1 },
};
const evaluation = (passed: boolean): EvaluateResult => ({
  gate: { passed, reasons: passed ? [] : ['ndcg@10 regressed 12 %'] },
  approvalText: 'ndcg@10 0.11 vs production 0.10',
  evaluationUri: `${BUCKET}evaluation/evaluation.json`,
  reportUri: `${BUCKET}evaluation/report.html`,
  summaryUri: `${BUCKET}evaluation/summary.json`,
  primaryMetric: { name: 'ndcg@10', candidate: 0.11, production: 0.1 },
});
const input = { runId: RUN, trigger: { key: 'ratings/u.data', versionId: 'v1' } };

/** What PlanRun returns for this run (mode as given). */
const plan = (mode: 'lambda' | 'processing') => ({
  inputBytes: 1234,
  mode,
  reason: `processing.mode is ${mode}`,
  names: {
    prepareJob: `reelflow-prep-${RUN}-a1b2c3`,
    buildVectorsJob: `reelflow-vec-${RUN}-a1b2c3`,
    evaluateJob: `reelflow-eval-${RUN}-a1b2c3`,
  },
  taskUris: {
    prepare: `${BUCKET}tasks/prepare-a1b2c3/`,
    buildVectors: `${BUCKET}tasks/build-vectors-a1b2c3/`,
    evaluate: `${BUCKET}tasks/evaluate-a1b2c3/`,
  },
  taskKeys: {
    prepare: `runs/${RUN}/tasks/prepare-a1b2c3/`,
    buildVectors: `runs/${RUN}/tasks/build-vectors-a1b2c3/`,
    evaluate: `runs/${RUN}/tasks/evaluate-a1b2c3/`,
  },
});

function handlers(overrides: Record<string, TaskHandler> = {}): Record<string, TaskHandler> {
  return {
    [S.planRun]: () => plan('lambda'),
    [S.prepare]: () => prepared,
    // The parts of DescribeTrainingJob (the .sync result) the workflow reads.
    [S.trainFm]: () => ({
      TrainingJobName: prepared.names.fmJob,
      TrainingJobStatus: 'Completed',
      ModelArtifacts: { S3ModelArtifacts: `${BUCKET}fm/job/output/model.tar.gz` },
      FinalMetricDataList: [{ MetricName: 'test:binary_classification_accuracy', Value: 0.8 }],
    }),
    [S.buildVectors]: () => ({
      knnTrain: prepared.uris.knnTrain,
      servingBundle: prepared.uris.servingBundle,
      dim: 89,
      tagBits: 24,
      users: 943,
      movies: 1682,
      knnInstanceCount: 1,
    }),
    [S.trainKnn]: () => ({
      TrainingJobName: prepared.names.knnJob,
      TrainingJobStatus: 'Completed',
      ModelArtifacts: { S3ModelArtifacts: `${BUCKET}knn/job/output/model.tar.gz` },
    }),
    [S.createModel]: () => ({
      ModelArn: `arn:aws:sagemaker:us-east-1:123456789012:model/${prepared.names.model}`,
    }),
    [S.createTransformModel]: () => ({
      ModelArn: `arn:aws:sagemaker:us-east-1:123456789012:model/${prepared.names.transformModel}`,
    }),
    [S.readProduction]: () => ({ Parameter: { Value: JSON.stringify(production) } }),
    [S.describeProductionModel]: () => productionModel,
    [S.createProductionTransformModel]: () => ({
      ModelArn: `arn:aws:sagemaker:us-east-1:123456789012:model/${prepared.names.productionTransformModel}`,
    }),
    [S.transformCandidate]: () => ({ TransformJobStatus: 'Completed' }),
    [S.transformProduction]: () => ({ TransformJobStatus: 'Completed' }),
    [S.transformCandidateOnly]: () => ({ TransformJobStatus: 'Completed' }),
    [S.evaluate]: () => evaluation(true),
    [S.notifyFailure]: () => ({ MessageId: 'm1' }),
    [S.notifyRejected]: () => ({ MessageId: 'm2' }),
    ...overrides,
  };
}

describe('retrain definition', () => {
  it('is valid ASL', () => {
    expect(aslErrors(definition)).toBe('');
  });

  it('stays on JSONPath, which the local runtime supports', () => {
    expect(JSON.stringify(definition)).not.toContain('JSONata');
    expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
  });

  it('runs the stages in order, starting from the config', () => {
    const next = (name: string) => definition.States[name].Next;
    expect(definition.StartAt).toBe(S.loadConfig);
    expect(
      [
        S.loadConfig,
        S.planRun,
        S.prepare,
        S.trainFm,
        S.buildVectors,
        S.trainKnn,
        S.createModel,
        S.createTransformModel,
      ].map(next),
    ).toEqual([
      S.planRun,
      'PrepareWhere?',
      S.hasData,
      'BuildVectorsWhere?',
      S.trainKnn,
      S.createModel,
      S.createTransformModel,
      S.readProduction,
    ]);
    expect(next(S.describeProductionModel)).toBe(S.createProductionTransformModel);
    expect(next(S.createProductionTransformModel)).toBe(S.transformBoth);
    expect(definition.States[S.hasData].Default).toBe(S.trainFm);
    expect(next(S.readProduction)).toBe(S.hasProduction);
    expect(next(S.transformBoth)).toBe('EvaluateWhere?');
    expect(next(S.transformCandidateOnly)).toBe('EvaluateWhere?');
    expect(next(S.evaluate)).toBe(S.gate);
  });

  it('catches every Task into the failure path (Parallel branches through their Parallel)', () => {
    const failurePath = new Set<string>([
      S.notifyFailure,
      S.retrainFailed,
      S.notifyRejected,
      S.candidateRejected,
    ]);
    const tasks = allStates(definition).filter(({ state }) => state.Type === 'Task');
    const processingPath = [S.prepare, S.buildVectors, S.evaluate].flatMap((step) => [
      `${step}Input`,
      `${step}Processing`,
      `${step}Result`,
    ]);
    expect(tasks.map((t) => t.name).sort()).toEqual(
      [
        ...processingPath,
        S.planRun,
        S.prepare,
        S.trainFm,
        S.buildVectors,
        S.trainKnn,
        S.createModel,
        S.createTransformModel,
        S.readProduction,
        S.describeProductionModel,
        S.createProductionTransformModel,
        S.transformCandidate,
        S.transformProduction,
        S.transformCandidateOnly,
        S.evaluate,
        S.notifyFailure,
        S.notifyRejected,
      ].sort(),
    );
    for (const { name, state, parallel } of tasks) {
      const catcher = parallel ? definition.States[parallel] : state;
      const catchAll = (catcher.Catch as { ErrorEquals: string[]; Next: string }[] | undefined)?.find((c) =>
        c.ErrorEquals.includes('States.ALL'),
      );
      expect({ name, next: catchAll && failurePath.has(catchAll.Next) }).toEqual({ name, next: true });
    }
  });

  it('retries every Task on throttling with exponential backoff', () => {
    for (const { name, state } of allStates(definition).filter(({ state: s }) => s.Type === 'Task')) {
      const retries = state.Retry as { ErrorEquals: string[]; BackoffRate: number }[];
      expect({ name, retries: retries?.length > 0 }).toEqual({ name, retries: true });
      for (const retry of retries) expect(retry.BackoffRate).toBeGreaterThan(1);
      expect(retries.flatMap((r) => r.ErrorEquals).join(' ')).toMatch(/Throttl|TooManyRequests/);
    }
  });

  it('trains both models with .sync on the built-in images, network-isolated and encrypted', () => {
    for (const [name, image] of [
      [S.trainFm, '382416733822.dkr.ecr.us-east-1.amazonaws.com/factorization-machines:1'],
      [S.trainKnn, '382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1'],
    ]) {
      expect(definition.States[name]).toMatchObject({
        Resource: 'arn:aws:states:::sagemaker:createTrainingJob.sync',
        Parameters: {
          RoleArn: RENDER_PLACEHOLDERS.trainingRole,
          AlgorithmSpecification: { TrainingImage: image, TrainingInputMode: 'File' },
          OutputDataConfig: { KmsKeyId: RENDER_PLACEHOLDERS.key },
          ResourceConfig: {
            InstanceType: 'ml.m5.xlarge',
            'InstanceCount.$':
              name === S.trainFm ? '$.prepared.training.fmInstanceCount' : '$.vectors.knnInstanceCount',
            VolumeKmsKeyId: RENDER_PLACEHOLDERS.key,
          },
          StoppingCondition: { MaxRuntimeInSeconds: 14400 },
          EnableNetworkIsolation: true,
          EnableManagedSpotTraining: false,
        },
      });
    }
  });

  it('builds the candidate as a serial pipeline pre -> k-NN -> post from the run artifacts', () => {
    const state = definition.States[S.createModel];
    expect(state.Resource).toBe('arn:aws:states:::sagemaker:createModel');
    expect(state.Parameters).not.toHaveProperty('PrimaryContainer');
    expect(state.Parameters).toMatchObject({
      'ModelName.$': '$.prepared.names.model',
      ExecutionRoleArn: RENDER_PLACEHOLDERS.hostingRole,
      EnableNetworkIsolation: true,
      InferenceExecutionConfig: { Mode: 'Serial' },
      Containers: [
        {
          Image: RENDER_PLACEHOLDERS.servingImage,
          'ModelDataUrl.$': '$.vectors.servingBundle',
          Environment: { REELFLOW_ROLE: 'pre' },
        },
        {
          Image: '382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1',
          'ModelDataUrl.$': '$.knn.artifact',
          Environment: { SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: SERVING_CONTENT_TYPES.accept },
        },
        {
          Image: RENDER_PLACEHOLDERS.servingImage,
          'ModelDataUrl.$': '$.vectors.servingBundle',
          Environment: { REELFLOW_ROLE: 'post' },
        },
      ],
    });
  });

  it('renders spot training and multi-instance sharding from config', () => {
    const spot = renderWorkflowDefinitions(
      parseDeployConfig({ training: { useSpot: true, maxWaitSeconds: 30000, fmInstanceCount: 3 } }),
    ).retrain;
    const fm = spot.States[S.trainFm].Parameters as Record<string, unknown>;
    expect(fm).toMatchObject({
      EnableManagedSpotTraining: true,
      EnableInterContainerTrafficEncryption: true,
      StoppingCondition: { MaxRuntimeInSeconds: 14400, MaxWaitTimeInSeconds: 30000 },
      ResourceConfig: { 'InstanceCount.$': '$.prepared.training.fmInstanceCount' },
    });
    const channels = fm.InputDataConfig as {
      ChannelName: string;
      DataSource: { S3DataSource: Record<string, string> };
    }[];
    expect(channels.map((c) => [c.ChannelName, c.DataSource.S3DataSource.S3DataDistributionType])).toEqual([
      ['train', 'ShardedByS3Key'],
      ['test', 'FullyReplicated'],
    ]);
  });
});

describe('retrain execution (aws-local-stepfunctions)', () => {
  it('evaluates the candidate alone before the first deployment', async () => {
    const run = await runLocally(
      definition,
      input,
      handlers({
        [S.readProduction]: () => {
          throw taskError('Ssm.ParameterNotFoundException');
        },
      }),
    );

    expect(run.error).toBeUndefined();
    expect(run.path).toEqual([
      S.loadConfig,
      S.planRun,
      'PrepareWhere?',
      S.prepare,
      S.hasData,
      S.trainFm,
      'BuildVectorsWhere?',
      S.buildVectors,
      S.trainKnn,
      S.createModel,
      S.createTransformModel,
      S.readProduction,
      S.noProduction,
      S.hasProduction,
      S.transformCandidateOnly,
      'EvaluateWhere?',
      S.evaluate,
      S.gate,
      S.candidateReady,
    ]);
    expect(run.output).toEqual(evaluation(true));
    expect(run.inputs[S.evaluate]).toMatchObject({ runId: RUN, production: null, prepared });
  });

  it('passes each step what the contracts say', async () => {
    const run = await runLocally(definition, input, handlers());

    expect(run.inputs[S.planRun]).toEqual({
      runId: RUN,
      executionName: EXECUTION,
      config: { ...config.processing, resourcePrefix: 'reelflow' },
    });
    expect(run.inputs[S.prepare]).toEqual({
      ...input,
      executionName: EXECUTION,
      config: config.ml,
      resourcePrefix: 'reelflow',
      fmInstanceCount: 1,
    });
    expect(run.inputs[S.trainFm]).toMatchObject({
      TrainingJobName: prepared.names.fmJob,
      HyperParameters: prepared.hyperparameters.fm,
      OutputDataConfig: { S3OutputPath: prepared.uris.fmOutput },
      InputDataConfig: [
        {
          ChannelName: 'train',
          ContentType: 'application/x-recordio-protobuf',
          DataSource: { S3DataSource: { S3Uri: prepared.uris.train } },
        },
        { ChannelName: 'test', DataSource: { S3DataSource: { S3Uri: prepared.uris.test } } },
      ],
    });
    expect(run.inputs[S.buildVectors]).toEqual({
      runId: RUN,
      prepared,
      fm: { artifact: `${BUCKET}fm/job/output/model.tar.gz` },
      knnInstanceCount: 1,
    });
    expect(run.inputs[S.trainKnn]).toMatchObject({
      TrainingJobName: prepared.names.knnJob,
      HyperParameters: prepared.hyperparameters.knn,
      InputDataConfig: [
        { ChannelName: 'train', DataSource: { S3DataSource: { S3Uri: prepared.uris.knnTrain } } },
      ],
    });
    expect(run.inputs[S.createModel]).toMatchObject({
      ModelName: prepared.names.model,
      Containers: [
        { ModelDataUrl: prepared.uris.servingBundle },
        { ModelDataUrl: `${BUCKET}knn/job/output/model.tar.gz` },
        { ModelDataUrl: prepared.uris.servingBundle },
      ],
    });
    // The transform models: the same containers, the transform role; production's copied from its model.
    expect(run.inputs[S.createTransformModel]).toEqual({
      ...(run.inputs[S.createModel] as object),
      ModelName: prepared.names.transformModel,
      ExecutionRoleArn: RENDER_PLACEHOLDERS.transformRole,
    });
    expect(run.inputs[S.describeProductionModel]).toEqual({ ModelName: production.modelName });
    expect(run.inputs[S.createProductionTransformModel]).toEqual({
      ModelName: prepared.names.productionTransformModel,
      ExecutionRoleArn: RENDER_PLACEHOLDERS.transformRole,
      EnableNetworkIsolation: true,
      InferenceExecutionConfig: { Mode: 'Serial' },
      Containers: productionModel.Containers,
    });
    expect(run.inputs[S.readProduction]).toEqual({
      Name: '/reelflow/production-model',
      WithDecryption: true,
    });
    expect(run.inputs[S.evaluate]).toEqual({
      runId: RUN,
      trigger: input.trigger,
      config: config.ml,
      prepared,
      production,
      candidateOutput: prepared.uris.candidateTransformOutput,
      productionOutput: prepared.uris.productionTransformOutput,
    });
  });

  it('predicts with candidate and production on the same held-out users when production exists', async () => {
    const run = await runLocally(definition, input, handlers());

    expect(run.path).toEqual(
      expect.arrayContaining([S.transformBoth, S.transformCandidate, S.transformProduction]),
    );
    expect(run.path).not.toContain(S.transformCandidateOnly);
    const transform = (name: string) => run.inputs[name] as Record<string, Record<string, unknown>>;
    expect(transform(S.transformCandidate)).toMatchObject({
      TransformJobName: prepared.names.candidateTransformJob,
      ModelName: prepared.names.transformModel,
      BatchStrategy: 'SingleRecord',
      TransformInput: {
        ContentType: 'application/json',
        SplitType: 'Line',
        DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: prepared.uris.transformInput } },
      },
      TransformOutput: {
        S3OutputPath: prepared.uris.candidateTransformOutput,
        Accept: SERVING_CONTENT_TYPES.accept,
        AssembleWith: 'Line',
        KmsKeyId: RENDER_PLACEHOLDERS.key,
      },
      TransformResources: { VolumeKmsKeyId: RENDER_PLACEHOLDERS.key },
    });
    expect(transform(S.transformProduction)).toMatchObject({
      TransformJobName: prepared.names.productionTransformJob,
      ModelName: prepared.names.productionTransformModel,
      TransformInput: { DataSource: { S3DataSource: { S3Uri: prepared.uris.transformInput } } },
      TransformOutput: { S3OutputPath: prepared.uris.productionTransformOutput },
    });
  });

  it('notifies and fails when the gate rejects the candidate', async () => {
    const run = await runLocally(definition, input, handlers({ [S.evaluate]: () => evaluation(false) }));

    expect(run.path.slice(-3)).toEqual([S.gate, S.notifyRejected, S.candidateRejected]);
    expect(run.error?.name).toBe('CandidateRejected');
    expect(run.inputs[S.notifyRejected]).toMatchObject({
      Message: expect.stringContaining('ndcg@10 0.11 vs production 0.10'),
      MessageAttributes: { event: { DataType: 'String', StringValue: 'candidate-rejected' } },
    });
  });

  it('notifies the failure and fails with the error when a training job fails', async () => {
    const run = await runLocally(
      definition,
      input,
      handlers({
        [S.trainKnn]: () => {
          throw taskError('States.TaskFailed', 'AlgorithmError: k must be at most sample_size');
        },
      }),
    );

    expect(run.path.slice(-3)).toEqual([S.trainKnn, S.notifyFailure, S.retrainFailed]);
    expect(run.path).not.toContain(S.createModel);
    expect(run.error).toEqual({
      name: 'States.TaskFailed',
      cause: 'AlgorithmError: k must be at most sample_size',
    });
    expect(run.inputs[S.notifyFailure]).toMatchObject({
      Message: `reelflow retrain run ${RUN} failed; production is unchanged. Error: ${JSON.stringify({
        Error: 'States.TaskFailed',
        Cause: 'AlgorithmError: k must be at most sample_size',
      })}`,
    });
  });

  it('fails through the Parallel when a production transform fails', async () => {
    const run = await runLocally(
      definition,
      input,
      handlers({
        [S.transformProduction]: () => {
          throw taskError('States.TaskFailed', 'model not found');
        },
      }),
    );
    expect(run.path.slice(-2)).toEqual([S.notifyFailure, S.retrainFailed]);
    expect(run.path).not.toContain(S.evaluate);
  });

  it('retries a throttled Lambda invocation and goes on', async () => {
    let calls = 0;
    const run = await runLocally(
      definition,
      input,
      handlers({
        [S.prepare]: () => {
          calls += 1;
          if (calls === 1) throw taskError('Lambda.TooManyRequestsException');
          return prepared;
        },
      }),
    );
    expect(calls).toBe(2);
    expect(run.error).toBeUndefined();
    expect(run.path.filter((s) => s === S.prepare)).toHaveLength(1);
  });

  it('still fails cleanly when the failure notice cannot be sent', async () => {
    const run = await runLocally(
      definition,
      input,
      handlers({
        [S.prepare]: () => {
          throw taskError('RunLayoutError', 'bad run id');
        },
        [S.notifyFailure]: () => {
          throw taskError('SNS.AuthorizationErrorException');
        },
      }),
    );
    expect(run.path.slice(-3)).toEqual([S.prepare, S.notifyFailure, S.retrainFailed]);
    expect(run.error).toEqual({ name: 'RunLayoutError', cause: 'bad run id' });
  });
});

describe('a rendered definition', () => {
  it('renders again identically (no state outside the config)', () => {
    const again: AslDefinition = renderWorkflowDefinitions(config).retrain;
    expect(again).toEqual(definition);
  });
});

describe('retrain execution: attempts and empty buckets', () => {
  beforeEach(() => setExecutionName(EXECUTION));

  it('hands Prepare the execution name, which differs on every attempt of the same run', async () => {
    const names: unknown[] = [];
    for (const name of [
      'retrain-11111111-aaaa-4000-8000-000000000001',
      'retrain-22222222-bbbb-4000-8000-000000000002',
    ]) {
      setExecutionName(name);
      const run = await runLocally(definition, input, handlers());
      expect(run.error).toBeUndefined();
      names.push((run.inputs[S.prepare] as { executionName: string }).executionName);
    }
    expect(names).toEqual([
      'retrain-11111111-aaaa-4000-8000-000000000001',
      'retrain-22222222-bbbb-4000-8000-000000000002',
    ]);
  });

  it('ends NothingToDo, with no job and no notice, when Prepare finds no rating file', async () => {
    const nothing = {
      runId: RUN,
      nothingToDo: true,
      reason: 'no rating file under ratings/ yet: nothing to train',
    };
    const run = await runLocally(definition, input, handlers({ [S.prepare]: () => nothing }));

    expect(run.error).toBeUndefined();
    expect(run.path).toEqual([S.loadConfig, S.planRun, 'PrepareWhere?', S.prepare, S.hasData, S.nothingToDo]);
    expect(run.output).toEqual(nothing);
  });
});
