import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RENDER_PLACEHOLDERS } from '../../../pipeline/render';
import { LocalAlarms } from '../../../local/services/alarms';
import { compilePattern } from '../../../local/services/api-model';
import { LocalNotifications } from '../../../local/services/notifications';
import { LocalParameterStore } from '../../../local/services/parameters';
import { localPathIn, validateProcessingJob } from '../../../local/services/processing-jobs';
import { LocalS3 } from '../../../local/services/s3';
import { LocalSageMaker, processingBaseEnvironment } from '../../../local/services/sagemaker';
import { SageMakerApiError } from '../../../local/services/sagemaker-errors';
import { taskBindings } from '../../../local/task-bindings';

const BUCKET = 'reelflow-processing-test';
const FIXTURE = join(__dirname, 'processing-step-fixture.ts');
const sm = (integration: string): string => `arn:aws:states:::${integration}`;
const TASK_URI = `s3://${BUCKET}/runs/r1/tasks/prepare-1/`;

/** A CreateProcessingJob request as the `<Step>Processing` state resolves it (the session contract). */
const processingJob = (name: string, step = 'prepare'): Record<string, unknown> => ({
  ProcessingJobName: name,
  RoleArn: 'arn:aws:iam::123456789012:role/reelflow-processing',
  AppSpecification: {
    ImageUri: RENDER_PLACEHOLDERS.servingImage,
    ContainerEntrypoint: ['node', '/app/processing.js'],
    ContainerArguments: [step],
  },
  ProcessingInputs: [
    {
      InputName: 'task',
      S3Input: {
        S3Uri: `${TASK_URI}task/`,
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
          S3Uri: `${TASK_URI}result/`,
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
  Environment: { DATA_BUCKET: BUCKET, RATINGS_PREFIX: 'ratings/', REELFLOW_PROCESSING_STEP: step },
  NetworkConfig: { EnableNetworkIsolation: false },
});

/** The temp roots of a job left in the temp folder (other suites' jobs may run meanwhile). */
const processingTemps = (job: string): string[] =>
  readdirSync(tmpdir()).filter((entry) => entry.startsWith(`reelflow-processing-${job}-`));

describe('Processing jobs through the task bindings, on a local S3 and a job instance', () => {
  const server = new LocalS3({
    directory: mkdtempSync(join(tmpdir(), 's3-')),
    buckets: [BUCKET],
    reset: true,
  });
  let call: (resource: string, input: unknown) => Promise<unknown>;
  /** The same bindings over a LocalSageMaker running the project's own entry (functions/processing/main.ts). */
  let callProject: (resource: string, input: unknown) => Promise<unknown>;
  let endpoint: string;
  const failure = (resource: string, input: unknown, caller = call): Promise<Error> =>
    caller(resource, input).then(
      () => {
        throw new Error('expected the task to fail');
      },
      (error: Error) => error,
    );

  beforeAll(async () => {
    endpoint = await server.start();
    const alarms = LocalAlarms.rollbackAlarms(
      'reelflow-recommender',
      { endpoint5xxThreshold: 5, modelLatencyP99Ms: 500, apiErrorRateThreshold: 0.05, evaluationPeriods: 2 },
      600,
    );
    const sagemaker = new LocalSageMaker({
      s3Endpoint: endpoint,
      alarms,
      msPerSecond: 0,
      trainingSeed: 1,
      processingEntry: FIXTURE,
    });
    const bind = (local: LocalSageMaker) => {
      const bindings = taskBindings({
        sagemaker: local,
        parameters: new LocalParameterStore(),
        alarms,
        notifications: new LocalNotifications(),
        s3: server.client(),
        lambdas: {},
      });
      return async (resource: string, input: unknown) =>
        bindings[resource](input, {
          state: 'S',
          resource,
          executionName: 'e',
          signal: new AbortController().signal,
        });
    };
    call = bind(sagemaker);
    callProject = bind(new LocalSageMaker({ s3Endpoint: endpoint, alarms, msPerSecond: 0, trainingSeed: 1 }));
    // What the `<Step>Input` state writes: the Lambda's payload as a JSON string.
    await call(sm('aws-sdk:s3:putObject'), {
      Bucket: BUCKET,
      Key: 'runs/r1/tasks/prepare-1/task/task.json',
      Body: JSON.stringify({ runId: 'r1', attempt: 1 }),
    });
    await call(sm('aws-sdk:s3:putObject'), {
      Bucket: BUCKET,
      Key: 'runs/r1/tasks/prepare-1/task/more/extra.txt',
      Body: 'nested',
    });
  });
  afterAll(() => server.stop());

  it('runs the step on the downloaded task and uploads its result, with the request Environment only', async () => {
    process.env.REELFLOW_TEST_HOST_ONLY = 'leaks';
    const before = processingTemps('prep-ok');
    try {
      const described = (await call(
        sm('sagemaker:createProcessingJob.sync'),
        processingJob('prep-ok'),
      )) as Record<string, unknown>;
      expect(described).toMatchObject({
        ProcessingJobName: 'prep-ok',
        ProcessingJobArn: 'arn:aws:sagemaker:us-east-1:123456789012:processing-job/prep-ok',
        ProcessingJobStatus: 'Completed',
        AppSpecification: { ContainerArguments: ['prepare'] },
      });
      expect(described.ExitMessage).toBeUndefined();
    } finally {
      delete process.env.REELFLOW_TEST_HOST_ONLY;
    }
    // What the `<Step>Result` state reads back.
    const object = (await call(sm('aws-sdk:s3:getObject'), {
      Bucket: BUCKET,
      Key: 'runs/r1/tasks/prepare-1/result/result.json',
    })) as { Body: string };
    expect(JSON.parse(object.Body)).toEqual({
      step: 'prepare',
      task: { runId: 'r1', attempt: 1 },
      extra: 'nested',
      env: {
        DATA_BUCKET: BUCKET,
        processDataBucket: BUCKET,
        hostOnly: null,
        s3Endpoint: endpoint,
        root: expect.stringMatching(/reelflow-processing-prep-ok-.*[/\\]processing$/),
      },
    });
    // The job's temp root is gone.
    expect(processingTemps('prep-ok')).toEqual(before);
  });

  it('refuses a second job with the same name as SageMaker does (ResourceInUse)', async () => {
    await call(sm('sagemaker:createProcessingJob.sync'), processingJob('prep-twice'));
    const error = await failure(sm('sagemaker:createProcessingJob.sync'), processingJob('prep-twice'));
    expect(error.name).toBe('SageMaker.AmazonSageMakerException');
    expect(error.message).toBe(
      'Job name must be unique within an AWS account and region, and a job with this name already exists ' +
        '(arn:aws:sagemaker:us-east-1:123456789012:processing-job/prep-twice) ' +
        '(Service: AmazonSageMaker; Status Code: 400; Error Code: ResourceInUse)',
    );
  });

  it('fails a job of another image like an image SageMaker cannot pull (States.TaskFailed)', async () => {
    const job = processingJob('prep-image');
    (job.AppSpecification as Record<string, unknown>).ImageUri =
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/other:latest';
    const error = await failure(sm('sagemaker:createProcessingJob.sync'), job);
    expect(error.name).toBe('States.TaskFailed');
    expect(JSON.parse(error.message)).toMatchObject({
      ProcessingJobName: 'prep-image',
      ProcessingJobStatus: 'Failed',
      FailureReason: expect.stringMatching(
        /^ClientError: API error \(404\): manifest for 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/other:latest not found: manifest unknown: Requested image not found/,
      ),
    });
  });

  it('refuses a LocalPath outside /opt/ml/processing/ with a ValidationException, before any job exists', async () => {
    const job = processingJob('prep-path');
    const inputs = job.ProcessingInputs as { S3Input: Record<string, unknown> }[];
    inputs[0].S3Input.LocalPath = '/tmp/task';
    const error = await failure(sm('sagemaker:createProcessingJob.sync'), job);
    expect(error.name).toBe('SageMaker.AmazonSageMakerException');
    expect(error.message).toMatch(
      /LocalPath \/tmp\/task .*under \/opt\/ml\/processing\/.*Error Code: ValidationException\)$/,
    );
    // Refused before the name was taken: the corrected request runs.
    inputs[0].S3Input.LocalPath = '/opt/ml/processing/input/task';
    await expect(call(sm('sagemaker:createProcessingJob.sync'), job)).resolves.toMatchObject({
      ProcessingJobStatus: 'Completed',
    });
  });

  it('refuses a member the API does not have as States.Runtime, and a bad instance type with the enum', async () => {
    const job = processingJob('prep-member');
    (job.AppSpecification as Record<string, unknown>).Command = ['node'];
    const unknown = await failure(sm('sagemaker:createProcessingJob.sync'), job);
    expect(unknown.name).toBe('States.Runtime');
    expect(unknown.message).toMatch(
      /^SCHEMA_VALIDATION_FAILED: The field "Command" is not supported by Step Functions/,
    );

    const typed = processingJob('prep-type');
    (typed.ProcessingResources as { ClusterConfig: Record<string, unknown> }).ClusterConfig.InstanceType =
      'ml.m5.huge';
    const error = await failure(sm('sagemaker:createProcessingJob.sync'), typed);
    expect(error.name).toBe('SageMaker.AmazonSageMakerException');
    expect(error.message).toMatch(
      /^1 validation error detected: Value 'ml\.m5\.huge' at 'processingResources\.clusterConfig\.instanceType' failed to satisfy constraint: Member must satisfy enum value set: \[.*ml\.m5\.4xlarge.*\]/,
    );
    const noRole = processingJob('prep-role');
    delete noRole.RoleArn;
    await expect(call(sm('sagemaker:createProcessingJob.sync'), noRole)).rejects.toMatchObject({
      name: 'SageMaker.AmazonSageMakerException',
      message: expect.stringContaining(
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
      ),
    });
  });

  it('ends a job whose step crashes Failed, with the AlgorithmError reason and the exit message', async () => {
    const before = processingTemps('prep-crash');
    const error = await failure(
      sm('sagemaker:createProcessingJob.sync'),
      processingJob('prep-crash', 'crash'),
    );
    expect(error.name).toBe('States.TaskFailed');
    expect(JSON.parse(error.message)).toMatchObject({
      ProcessingJobName: 'prep-crash',
      ProcessingJobStatus: 'Failed',
      FailureReason: expect.stringMatching(
        /^AlgorithmError: See job logs for more information .*crashed on purpose/,
      ),
      ExitMessage: 'the step crashed on purpose',
    });
    expect(processingTemps('prep-crash')).toEqual(before);
  });

  it('fails a job whose input prefix is empty with a ClientError, as SageMaker does', async () => {
    const job = processingJob('prep-empty');
    const inputs = job.ProcessingInputs as { S3Input: Record<string, unknown> }[];
    inputs[0].S3Input.S3Uri = `s3://${BUCKET}/runs/none/`;
    const error = await failure(sm('sagemaker:createProcessingJob.sync'), job);
    expect(error.name).toBe('States.TaskFailed');
    expect(JSON.parse(error.message).FailureReason).toMatch(/^ClientError: No S3 objects found under S3 URL/);
  });

  it("runs the project's Processing entry: a step error comes back in the result, the job Completed", async () => {
    // GIVEN a Prepare task the step refuses (no run id)
    await call(sm('aws-sdk:s3:putObject'), {
      Bucket: BUCKET,
      Key: 'runs/r2/tasks/prepare-1/task/task.json',
      Body: JSON.stringify({ attempt: 1 }),
      ContentType: 'application/json',
    });
    const job = processingJob('prep-project');
    const uri = `s3://${BUCKET}/runs/r2/tasks/prepare-1/`;
    (job.ProcessingInputs as { S3Input: Record<string, unknown> }[])[0].S3Input.S3Uri = `${uri}task/`;
    (
      job.ProcessingOutputConfig as { Outputs: { S3Output: Record<string, unknown> }[] }
    ).Outputs[0].S3Output.S3Uri = `${uri}result/`;

    // WHEN it runs as a Processing job of the project image
    const described = await callProject(sm('sagemaker:createProcessingJob.sync'), job);

    // THEN the job completed and its result holds the error as the Lambda would report it
    expect(described).toMatchObject({ ProcessingJobStatus: 'Completed' });
    const object = (await call(sm('aws-sdk:s3:getObject'), {
      Bucket: BUCKET,
      Key: 'runs/r2/tasks/prepare-1/result/result.json',
    })) as { Body: string };
    const result = JSON.parse(object.Body) as { error: { Error: string; Cause: string } };
    expect(result.error.Error).toEqual(expect.any(String));
    expect(JSON.parse(result.error.Cause)).toMatchObject({ errorType: result.error.Error });
  });

  it("fails a job of the project's entry with an unknown step as a crash (AlgorithmError)", async () => {
    const error = await failure(
      sm('sagemaker:createProcessingJob.sync'),
      processingJob('prep-bogus', 'bogus'),
      callProject,
    );
    expect(error.name).toBe('States.TaskFailed');
    expect(JSON.parse(error.message)).toMatchObject({
      ProcessingJobStatus: 'Failed',
      FailureReason: expect.stringMatching(
        /^AlgorithmError: See job logs for more information .*unknown step 'bogus'/,
      ),
    });
  });

  it('reports PutObject errors of the SDK integration as S3.<Exception>, and refuses one without Key', async () => {
    const error = await failure(sm('aws-sdk:s3:putObject'), {
      Bucket: 'no-such-bucket',
      Key: 'k',
      Body: 'x',
    });
    expect(error.name).toBe('S3.NoSuchBucketException');
    const invalid = await failure(sm('aws-sdk:s3:putObject'), { Bucket: BUCKET, Body: 'x' });
    expect(invalid.name).toBe('S3.S3Exception');
    expect(invalid.message).toMatch(
      /Value null at 'key' failed to satisfy constraint: Member must not be null/,
    );
  });
});

describe('validateProcessingJob', () => {
  const valid = (): Record<string, unknown> => processingJob('p');
  const refusal = (request: Record<string, unknown>): SageMakerApiError | undefined => {
    try {
      validateProcessingJob(request as never);
      return undefined;
    } catch (error) {
      return error as SageMakerApiError;
    }
  };

  it('accepts the contract request and refuses two inputs on one LocalPath or one name', () => {
    expect(refusal(valid())).toBeUndefined();
    const twice = valid();
    const [input] = twice.ProcessingInputs as Record<string, unknown>[];
    twice.ProcessingInputs = [input, { ...input, InputName: 'other' }];
    expect(refusal(twice)).toMatchObject({
      code: 'ValidationException',
      message: expect.stringMatching(/LocalPath/),
    });
    twice.ProcessingInputs = [input, input];
    expect(refusal(twice)?.message).toMatch(/InputName task is used more than once/);
  });

  it('refuses paths that climb out of /opt/ml/processing/ and settings the local stand-in does not model', () => {
    const climbing = valid();
    const [input] = climbing.ProcessingInputs as { S3Input: Record<string, unknown> }[];
    input.S3Input.LocalPath = '/opt/ml/processing/../model';
    expect(refusal(climbing)?.code).toBe('ValidationException');
    const pipe = valid();
    (pipe.ProcessingInputs as { S3Input: Record<string, unknown> }[])[0].S3Input.S3InputMode = 'Pipe';
    expect(refusal(pipe)?.message).toMatch(/only File mode/);
    const many = valid();
    (many.ProcessingResources as { ClusterConfig: Record<string, unknown> }).ClusterConfig.InstanceCount = 2;
    expect(refusal(many)?.message).toMatch(/one instance/);
  });

  it('maps container paths into the job root', () => {
    expect(localPathIn('/tmp/x/processing', '/opt/ml/processing/input/task')).toBe(
      join('/tmp/x/processing', 'input', 'task'),
    );
  });
});

describe('the container environment', () => {
  it('points the SDK at the local S3 and keeps the local endpoints, never the host credentials', () => {
    const env = processingBaseEnvironment('http://127.0.0.1:4568', {
      AWS_ENDPOINT_URL: 'http://127.0.0.1:7000',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1',
      AWS_SESSION_TOKEN: 'host',
      AWS_ACCESS_KEY_ID: 'host',
      DATA_BUCKET: 'host-bucket',
    });
    expect(env).toMatchObject({
      AWS_ENDPOINT_URL: 'http://127.0.0.1:7000',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4568',
      AWS_ACCESS_KEY_ID: 'S3RVER',
    });
    expect(env.AWS_SESSION_TOKEN).toBeUndefined();
    expect(env.DATA_BUCKET).toBeUndefined();
  });
});

describe('the Processing models', () => {
  it('reads Java surrogate-pair ranges (AthenaCatalog) as the supplementary planes', () => {
    const pattern = compilePattern('[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*');
    expect(pattern?.test('catalog \u{1F600}')).toBe(true);
    expect(pattern?.test('bad\u0001')).toBe(false);
  });
});
