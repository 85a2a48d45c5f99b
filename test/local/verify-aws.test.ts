import '../functions/quiet-powertools';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  CreateTrainingJobCommand,
  DeleteEndpointCommand,
  DeleteEndpointConfigCommand,
  DeleteModelCommand,
  DescribeEndpointCommand,
  DescribeTrainingJobCommand,
  ResourceLimitExceeded,
  SageMakerClient,
  SageMakerServiceException,
  StopTrainingJobCommand,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { documentedHyperparameters, FACTORIZATION_MACHINES, KNN } from '../../functions/core/algorithms';
import { writeFmModelTarGz } from '../../functions/core/fm/artifact';
import { trainingHyperparameters } from '../../functions/core/prepare';
import { parseIdMapCsv } from '../../functions/core/split';
import { parseDeployConfig } from '../../pipeline/config';
import { builtinImageUriFor } from '../../pipeline/images';
import { runVerifyAws, type VerifyOptions } from '../../local/verify-aws';
import {
  lambdaRecommendAdapter,
  objectStoreAdapter,
  sageMakerAdapter,
  sageMakerRuntimeAdapter,
  stackOutputsAdapter,
} from '../../local/verify-aws/aws-adapters';
import { verifyAwsCommand } from '../../local/verify-aws/command';
import { describeError, VerifyAbortedError } from '../../local/verify-aws/errors';
import { prepareVerifyData, type PreparedVerifyData } from '../../local/verify-aws/plan';
import type { HttpPort, Sleep } from '../../local/verify-aws/ports';
import { CHECKS, formatReport } from '../../local/verify-aws/report';

const ID = 'test-1';
const BUCKET = 'reelflow-data-bucket-abc';
const PREFIX = `verify/${ID}/`;
const NAMES = {
  fm: `reelflow-verify-${ID}-fm`,
  knn: `reelflow-verify-${ID}-knn`,
  model: `reelflow-verify-${ID}-model`,
  config: `reelflow-verify-${ID}-config`,
  endpoint: `reelflow-verify-${ID}`,
};
const OUTPUTS = {
  DataBucketName: BUCKET,
  TrainingRoleArn: 'arn:aws:iam::111122223333:role/Training',
  ModelRoleArn: 'arn:aws:iam::111122223333:role/Model',
  DataKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/k',
  ServingImageUri: '111122223333.dkr.ecr.us-east-1.amazonaws.com/reelflow-serving:abc',
  RecommendUrl: 'https://api.example/prod/recommendEndpoint',
};
const deploy = parseDeployConfig({});

const sm = mockClient(SageMakerClient);
const runtime = mockClient(SageMakerRuntimeClient);
const s3 = mockClient(S3Client);
const cfn = mockClient(CloudFormationClient);

/** The data bucket as the mocks see it: key -> bytes (versions are one per key here). */
const bucket = new Map<string, Uint8Array>();
let data: PreparedVerifyData;
let clock = 0;
const sleep: Sleep = async (ms, signal) => {
  clock += ms;
  if (signal.aborted) throw new VerifyAbortedError();
};
const http: HttpPort & { urls: string[] } = {
  urls: [],
  async get(url) {
    this.urls.push(url);
    return {
      status: 200,
      body: JSON.stringify({ movies: [1], itemList: [{ itemId: '1' }], modelVersion: 'r1' }),
    };
  },
};

beforeAll(async () => {
  data = await prepareVerifyData(deploy.ml);
});

beforeEach(() => {
  for (const mock of [sm, runtime, s3, cfn]) mock.reset();
  bucket.clear();
  clock = 0;
  http.urls = [];
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: 'ReelflowStack',
        CreationTime: new Date(0),
        StackStatus: 'UPDATE_COMPLETE',
        Outputs: Object.entries(OUTPUTS).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  });
  s3.on(PutObjectCommand).callsFake((input) => {
    bucket.set(input.Key, input.Body as Uint8Array);
    return {};
  });
  s3.on(ListObjectVersionsCommand).callsFake((input) => ({
    Versions: [...bucket.keys()]
      .filter((k) => k.startsWith(input.Prefix))
      .map((Key) => ({ Key, VersionId: 'v1' })),
  }));
  s3.on(DeleteObjectsCommand).callsFake((input) => {
    for (const o of input.Delete.Objects) bucket.delete(o.Key);
    return {};
  });
  // The FM artifact SageMaker would write: a real-format model.tar.gz of the requested dimensions.
  s3.on(GetObjectCommand).callsFake(async () => {
    const hp = sm.commandCalls(CreateTrainingJobCommand)[0].args[0].input.HyperParameters!;
    const featureDim = Number(hp.feature_dim);
    const k = Number(hp.num_factors);
    const random = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.1);
    const bytes = await writeFmModelTarGz({
      featureDim,
      numFactors: k,
      w0: 0,
      w1: random(featureDim),
      v: random(featureDim * k),
    });
    return { Body: { transformToByteArray: async () => new Uint8Array(bytes) } } as never;
  });
  const polls = new Map<string, number>();
  sm.on(DescribeTrainingJobCommand).callsFake((input) => {
    const name = input.TrainingJobName;
    const n = (polls.get(name) ?? 0) + 1;
    polls.set(name, n);
    if (n === 1) return { TrainingJobStatus: 'InProgress', SecondaryStatus: 'Starting' };
    return {
      TrainingJobStatus: 'Completed',
      BillableTimeInSeconds: 120,
      ModelArtifacts: {
        S3ModelArtifacts: `s3://${BUCKET}/${PREFIX}${name.endsWith('fm') ? 'fm' : 'knn'}/${name}/output/model.tar.gz`,
      },
    };
  });
  const endpointPolls = new Map<string, number>();
  sm.on(DescribeEndpointCommand).callsFake((input) => {
    const n = (endpointPolls.get(input.EndpointName) ?? 0) + 1;
    endpointPolls.set(input.EndpointName, n);
    return { EndpointStatus: n === 1 && input.EndpointName === NAMES.endpoint ? 'Creating' : 'InService' };
  });
  runtime.on(InvokeEndpointCommand).callsFake((input) => {
    const { user_id } = JSON.parse(input.Body as string);
    const seen = new Set(data.user.seen);
    const movies = [...parseIdMapCsv(Buffer.from(data.files.get('id-maps/movies.csv')!).toString()).ids]
      .filter((m) => !seen.has(m))
      .slice(0, 10);
    return { Body: Buffer.from(`${JSON.stringify({ user_id, movies, modelVersion: ID })}\n`) as never };
  });
});

function ports() {
  return {
    sagemaker: sageMakerAdapter(new SageMakerClient({ region: 'us-east-1' })),
    runtime: sageMakerRuntimeAdapter(new SageMakerRuntimeClient({ region: 'us-east-1' })),
    recommend: lambdaRecommendAdapter(),
    storage: objectStoreAdapter(new S3Client({ region: 'us-east-1' }), { versioned: true }),
    stack: stackOutputsAdapter(new CloudFormationClient({ region: 'us-east-1' })),
    http,
  };
}

const options = (extra: Partial<VerifyOptions> = {}): VerifyOptions => ({
  stackName: 'ReelflowStack',
  region: 'us-east-1',
  deploy,
  id: ID,
  now: () => clock,
  sleep,
  pollMs: 1000,
  ...extra,
});

const inputs = <T>(calls: { args: [{ input: T }] }[]): T[] => calls.map((c) => c.args[0].input);

describe('runVerifyAws against mocked AWS clients', () => {
  it('creates exactly the expected resources with documented requests, prints the table and deletes everything', async () => {
    const report = await runVerifyAws(ports(), options());

    expect(report.checks.map((c) => [c.check, c.result])).toEqual(
      Object.values(CHECKS).map((c) => [c, 'pass']),
    );
    expect(report.passed).toBe(true);

    const jobs = sm.commandCalls(CreateTrainingJobCommand).map((call) => call.args[0].input);
    expect(jobs.map((j) => j.TrainingJobName)).toEqual([NAMES.fm, NAMES.knn]);
    const expected = trainingHyperparameters(data.config, data.manifest.featureDim);
    const [fm, knn] = jobs as { HyperParameters: Record<string, string> }[];
    expect(fm.HyperParameters).toEqual(expected.fm);
    expect(knn.HyperParameters).toEqual(expected.knn);
    for (const [job, contract] of [
      [fm, FACTORIZATION_MACHINES],
      [knn, KNN],
    ] as const) {
      for (const value of Object.values(job.HyperParameters)) expect(typeof value).toBe('string');
      expect(documentedHyperparameters(contract)).toEqual(
        expect.arrayContaining(Object.keys(job.HyperParameters)),
      );
    }
    expect(fm).toMatchObject({
      RoleArn: OUTPUTS.TrainingRoleArn,
      AlgorithmSpecification: {
        TrainingImage: builtinImageUriFor('us-east-1', 'factorization-machines'),
        TrainingInputMode: 'File',
      },
      InputDataConfig: [
        {
          ChannelName: 'train',
          DataSource: { S3DataSource: { S3Uri: `s3://${BUCKET}/${PREFIX}prepared/train/` } },
        },
        {
          ChannelName: 'test',
          DataSource: { S3DataSource: { S3Uri: `s3://${BUCKET}/${PREFIX}prepared/test/` } },
        },
      ],
      OutputDataConfig: { S3OutputPath: `s3://${BUCKET}/${PREFIX}fm/`, KmsKeyId: OUTPUTS.DataKeyArn },
      ResourceConfig: {
        InstanceType: deploy.training.fmInstanceType,
        InstanceCount: 1,
        VolumeKmsKeyId: OUTPUTS.DataKeyArn,
      },
      StoppingCondition: { MaxRuntimeInSeconds: 600 },
      EnableNetworkIsolation: true,
    });

    const [model] = inputs(sm.commandCalls(CreateModelCommand) as never) as {
      ModelName: string;
      Containers: { ContainerHostname: string; Image: string; ModelDataUrl: string }[];
    }[];
    expect(model).toMatchObject({
      ModelName: NAMES.model,
      ExecutionRoleArn: OUTPUTS.ModelRoleArn,
      EnableNetworkIsolation: true,
      InferenceExecutionConfig: { Mode: 'Serial' },
    });
    expect(model.Containers.map((c) => [c.ContainerHostname, c.Image])).toEqual([
      ['pre', OUTPUTS.ServingImageUri],
      ['knn', builtinImageUriFor('us-east-1', 'knn')],
      ['post', OUTPUTS.ServingImageUri],
    ]);
    expect(model.Containers[1].ModelDataUrl).toBe(
      `s3://${BUCKET}/${PREFIX}knn/${NAMES.knn}/output/model.tar.gz`,
    );
    expect(inputs(sm.commandCalls(CreateEndpointConfigCommand) as never)).toEqual([
      {
        EndpointConfigName: NAMES.config,
        KmsKeyId: OUTPUTS.DataKeyArn,
        ProductionVariants: [
          {
            VariantName: 'AllTraffic',
            ModelName: NAMES.model,
            InstanceType: deploy.endpoint.instanceType,
            InitialInstanceCount: 1,
            InitialVariantWeight: 1,
          },
        ],
      },
    ]);
    expect(inputs(sm.commandCalls(CreateEndpointCommand) as never)).toEqual([
      { EndpointName: NAMES.endpoint, EndpointConfigName: NAMES.config },
    ]);
    // The direct call and the recommend handler's call, both with the serving path's content types.
    expect(inputs(runtime.commandCalls(InvokeEndpointCommand) as never)).toEqual([
      expect.objectContaining({ EndpointName: NAMES.endpoint, Accept: 'application/json; verbose=true' }),
      expect.objectContaining({ EndpointName: NAMES.endpoint, Accept: 'application/json; verbose=true' }),
    ]);
    expect(http.urls).toEqual([`${OUTPUTS.RecommendUrl}?user_id=${deploy.deployment.smokeTestUserId}`]);

    // Cleanup: everything created is deleted; nothing was running, nothing stopped.
    expect(inputs(sm.commandCalls(DeleteEndpointCommand) as never)).toEqual([
      { EndpointName: NAMES.endpoint },
    ]);
    expect(inputs(sm.commandCalls(DeleteEndpointConfigCommand) as never)).toEqual([
      { EndpointConfigName: NAMES.config },
    ]);
    expect(inputs(sm.commandCalls(DeleteModelCommand) as never)).toEqual([{ ModelName: NAMES.model }]);
    expect(sm.commandCalls(StopTrainingJobCommand)).toHaveLength(0);
    expect(s3.commandCalls(PutObjectCommand).length).toBeGreaterThan(5);
    expect(bucket.size).toBe(0);

    const table = formatReport(report);
    expect(table.split('\n')[0]).toMatch(/^check +\| result \| detail +\| seconds$/);
    expect(table).toMatch(/cleanup +\| pass/);
    expect(table).toMatch(/estimated cost: \$0\.\d{3} \(an estimate/);
    expect(report.cost.usd).toBeGreaterThan(0);
    expect(report.cost.usd).toBeLessThan(1);
  });

  it('deletes everything and exits non-zero when a training job fails', async () => {
    sm.on(DescribeTrainingJobCommand).resolves({
      TrainingJobStatus: 'Failed',
      FailureReason: "ClientError: Additional hyperparameters are not allowed (u'optimizer' was unexpected)",
    });
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let code: number;
    let printed: string;
    let progress: string;
    try {
      code = await verifyAwsCommand({ values: { region: 'us-east-1' }, positionals: [] });
    } finally {
      printed = out.mock.calls.map((c) => String(c[0])).join('');
      progress = err.mock.calls.map((c) => String(c[0])).join('');
      out.mockRestore();
      err.mockRestore();
    }
    expect(code).toBe(1);
    expect(progress).toMatch(/fail {2}train FM: /);
    expect(printed).toMatch(
      /train FM +\| fail +\| reelflow-verify-[\w-]+-fm Failed: ClientError: Additional hyperparameters/,
    );
    expect(printed).toMatch(/train k-NN +\| skip +\| not run: train FM failed/);
    expect(printed).toMatch(/cleanup +\| pass +\| deleted \d+ objects under verify\//);
    expect(sm.commandCalls(CreateModelCommand)).toHaveLength(0);
    expect(sm.commandCalls(DeleteEndpointCommand)).toHaveLength(0);
    expect(bucket.size).toBe(0);
    expect(s3.commandCalls(PutObjectCommand).length).toBeGreaterThan(0);
  });

  it('cleans up when the endpoint never gets InService (bounded wait)', async () => {
    sm.on(DescribeEndpointCommand).resolves({ EndpointStatus: 'Creating' });
    const report = await runVerifyAws(ports(), options({ endpointTimeoutMs: 10_000 }));

    const endpoint = report.checks.find((c) => c.check === CHECKS.endpoint)!;
    expect(endpoint).toMatchObject({ result: 'fail' });
    expect(endpoint.detail).toMatch(/not InService at the time limit \(status Creating\)/);
    expect(report.checks.find((c) => c.check === CHECKS.invoke)?.result).toBe('skip');
    expect(sm.commandCalls(DescribeEndpointCommand).length).toBeLessThanOrEqual(12);
    expect(sm.commandCalls(DeleteEndpointCommand)).toHaveLength(1);
    expect(sm.commandCalls(DeleteEndpointConfigCommand)).toHaveLength(1);
    expect(sm.commandCalls(DeleteModelCommand)).toHaveLength(1);
    expect(report.checks.find((c) => c.check === CHECKS.cleanup)?.result).toBe('pass');
    expect(bucket.size).toBe(0);
    expect(report.passed).toBe(false);
    // The endpoint's time counts in the estimate.
    expect(report.usages.map((u) => u.use)).toEqual(['training', 'training', 'hosting']);
  });

  it('stops a running training job on Ctrl-C, waits for it to stop, and deletes its output', async () => {
    const controller = new AbortController();
    let stopped = false;
    sm.on(DescribeTrainingJobCommand).callsFake(() => {
      controller.abort();
      return { TrainingJobStatus: stopped ? 'Stopped' : 'InProgress' };
    });
    sm.on(StopTrainingJobCommand).callsFake(() => {
      stopped = true;
      bucket.set(`${PREFIX}fm/${NAMES.fm}/output/model.tar.gz`, new Uint8Array(1));
      return {};
    });
    const report = await runVerifyAws(ports(), options({ signal: controller.signal }));

    expect(report.checks.find((c) => c.check === CHECKS.trainFm)).toMatchObject({
      result: 'fail',
      detail: 'interrupted (Ctrl-C); cleaning up',
    });
    expect(inputs(sm.commandCalls(StopTrainingJobCommand) as never)).toEqual([{ TrainingJobName: NAMES.fm }]);
    expect(report.checks.find((c) => c.check === CHECKS.cleanup)).toMatchObject({ result: 'pass' });
    expect(bucket.size).toBe(0);
  });

  it.each([
    [
      'ResourceLimitExceeded',
      () =>
        sm.on(CreateTrainingJobCommand).rejects(
          new ResourceLimitExceeded({
            message: "The account-level service limit 'ml.m5.xlarge for training job usage' is 0 Instances",
            $metadata: {},
          }),
        ),
      CHECKS.trainFm,
      /^ResourceLimitExceeded: SageMaker quota reached \(The account-level .*\); ask for an increase in Service Quotas/,
    ],
    [
      'ValidationException',
      () =>
        sm.on(CreateTrainingJobCommand).rejects(
          new SageMakerServiceException({
            name: 'ValidationException',
            $fault: 'client',
            $metadata: {},
            message:
              'Could not assume role arn:aws:iam::111122223333:role/Training.\nPlease ensure it trusts SageMaker.',
          }),
        ),
      CHECKS.trainFm,
      /^ValidationException: SageMaker or CloudFormation refused the request: Could not assume role .* Please ensure/,
    ],
    [
      'ExpiredTokenException',
      () =>
        cfn.on(DescribeStacksCommand).rejects(
          Object.assign(new Error('The security token included in the request is expired'), {
            name: 'ExpiredTokenException',
          }),
        ),
      CHECKS.stack,
      /^ExpiredTokenException: your AWS session has expired: refresh the credentials/,
    ],
    [
      'ValidationError (no such stack)',
      () =>
        cfn.on(DescribeStacksCommand).rejects(
          Object.assign(new Error('Stack with id ReelflowStack does not exist'), {
            name: 'ValidationError',
          }),
        ),
      CHECKS.stack,
      /deploy first \(npx cdk deploy --all\), or pass --stack \/ --region$/,
    ],
  ])('turns %s into a one-line message saying what to do', async (_name, arrange, check, message) => {
    arrange();
    const report = await runVerifyAws(ports(), options());
    const failed = report.checks.find((c) => c.check === check)!;
    expect(failed.result).toBe('fail');
    expect(failed.detail).toMatch(message);
    expect(failed.detail).not.toContain('\n');
    expect(report.checks.find((c) => c.check === CHECKS.cleanup)?.result).toBe('pass');
    expect(bucket.size).toBe(0);
    expect(report.passed).toBe(false);
  });

  it('reports missing stack outputs by name', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'S', CreationTime: new Date(0), StackStatus: 'CREATE_COMPLETE', Outputs: [] }],
    });
    const report = await runVerifyAws(ports(), options());
    expect(report.checks[0].detail).toMatch(
      /^MissingStackOutputError: stack ReelflowStack has no output DataBucketName, TrainingRoleArn, ModelRoleArn, DataKeyArn, ServingImageUri/,
    );
    expect(report.checks.find((c) => c.check === CHECKS.cleanup)?.detail).toBe('nothing to delete');
  });
});

describe('describeError', () => {
  it('names credentials problems and keeps other errors on one line', () => {
    expect(describeError(Object.assign(new Error('x'), { name: 'CredentialsProviderError' }))).toMatch(
      /no AWS credentials found: pass --profile/,
    );
    expect(describeError(Object.assign(new Error('a\nb'), { name: 'SomethingElse' }))).toBe(
      'SomethingElse: a b',
    );
  });
});
