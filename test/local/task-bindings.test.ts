import { RENDER_PLACEHOLDERS } from '../../pipeline/render';
import { LocalAlarms } from '../../local/services/alarms';
import { LocalNotifications } from '../../local/services/notifications';
import { LocalParameterStore } from '../../local/services/parameters';
import { localS3Client } from '../../local/services/s3-client';
import { LocalSageMaker } from '../../local/services/sagemaker';
import { SageMakerJobFailedError } from '../../local/services/sagemaker-errors';
import { taskBindings } from '../../local/task-bindings';

const ALARMS = {
  endpoint5xxThreshold: 5,
  modelLatencyP99Ms: 500,
  apiErrorRateThreshold: 0.05,
  evaluationPeriods: 2,
};
const sm = (integration: string): string => `arn:aws:states:::${integration}`;

/** A CreateTrainingJob request as the TrainFM state resolves it (every member AWS requires). */
const trainingJob = (): Record<string, unknown> => ({
  TrainingJobName: 'reelflow-fm-r1',
  RoleArn: 'arn:aws:iam::123456789012:role/reelflow-training',
  AlgorithmSpecification: {
    TrainingImage: '382416733822.dkr.ecr.us-east-1.amazonaws.com/factorization-machines:1',
    TrainingInputMode: 'File',
  },
  InputDataConfig: [
    {
      ChannelName: 'train',
      DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://b/train/' } },
    },
  ],
  OutputDataConfig: { S3OutputPath: 's3://b/fm/' },
  ResourceConfig: { InstanceType: 'ml.m5.xlarge', InstanceCount: 1, VolumeSizeInGB: 30 },
  StoppingCondition: { MaxRuntimeInSeconds: 3600 },
});

/** Bindings over real local services (no server is reached: the calls below fail before any I/O). */
function bindings(lambdas: Record<string, (payload: never) => Promise<unknown>> = {}) {
  const alarms = LocalAlarms.rollbackAlarms('reelflow-recommender', ALARMS, 600);
  const sagemaker = new LocalSageMaker({
    s3Endpoint: 'http://127.0.0.1:9',
    alarms,
    msPerSecond: 0,
    trainingSeed: 1,
    inProcessJobs: {
      training: async () => {
        throw new SageMakerJobFailedError(
          { TrainingJobStatus: 'Failed', FailureReason: 'AlgorithmError: bad data' },
          'x',
        );
      },
      transform: async () => ({}),
    },
  });
  const notifications = new LocalNotifications();
  const all = taskBindings({
    sagemaker,
    parameters: new LocalParameterStore(),
    alarms,
    notifications,
    s3: localS3Client('http://127.0.0.1:9'),
    lambdas,
  });
  const call = (resource: string, input: unknown) =>
    Promise.resolve(
      all[resource](input, {
        state: 'S',
        resource,
        executionName: 'e',
        signal: new AbortController().signal,
      }),
    );
  return { call, notifications };
}

describe('task bindings: results and error names as Step Functions reports them', () => {
  it('names a Lambda failure by its error type, with the Lambda error JSON as the cause', async () => {
    const failing = async () => {
      const error = new Error('rejected: 5 % of rows are bad');
      error.name = 'DataRejectedError';
      throw error;
    };
    const { call } = bindings({ [RENDER_PLACEHOLDERS.prepare]: failing });
    const error = (await call(RENDER_PLACEHOLDERS.prepare, {}).catch((e: unknown) => e)) as Error;
    expect(error.name).toBe('DataRejectedError');
    expect(JSON.parse(error.message)).toMatchObject({
      errorType: 'DataRejectedError',
      errorMessage: 'rejected: 5 % of rows are bad',
    });
  });

  it('binds lambda:invoke by FunctionName, with the result in Payload', async () => {
    const { call } = bindings({ [RENDER_PLACEHOLDERS.smokeTest]: async () => ({ passed: true }) });
    await expect(
      call(sm('lambda:invoke'), {
        FunctionName: `${RENDER_PLACEHOLDERS.smokeTest}:$LATEST`,
        Payload: { runId: 'r1' },
      }),
    ).resolves.toMatchObject({ StatusCode: 200, Payload: { passed: true } });
    await expect(
      call(sm('lambda:invoke'), { FunctionName: 'arn:aws:lambda:us-east-1:1:function:other' }),
    ).rejects.toMatchObject({
      name: 'Lambda.ResourceNotFoundException',
    });
  });

  it('reports a missing endpoint on the SDK integration as SageMaker.SageMakerException "Could not find endpoint"', async () => {
    const { call } = bindings();
    await expect(
      call(sm('aws-sdk:sagemaker:describeEndpoint'), { EndpointName: 'reelflow-recommender' }),
    ).rejects.toMatchObject({
      name: 'SageMaker.SageMakerException',
      message: expect.stringMatching(/Could not find endpoint/),
    });
  });

  it('reports optimized-integration refusals as SageMaker.AmazonSageMakerException and failed jobs as States.TaskFailed', async () => {
    const { call } = bindings();
    const config = {
      EndpointConfigName: 'c1',
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'missing', InitialInstanceCount: 2 }],
    };
    await expect(call(sm('sagemaker:createEndpointConfig'), config)).rejects.toMatchObject({
      name: 'SageMaker.AmazonSageMakerException',
      message: expect.stringMatching(/Could not find model/),
    });
    const job = trainingJob();
    const failed = (await call(sm('sagemaker:createTrainingJob.sync'), job).catch(
      (e: unknown) => e,
    )) as Error;
    expect(failed.name).toBe('States.TaskFailed');
    expect(JSON.parse(failed.message)).toMatchObject({
      TrainingJobStatus: 'Failed',
      FailureReason: 'AlgorithmError: bad data',
    });
    // Names are unique: the same job name again is refused before anything runs.
    await expect(call(sm('sagemaker:createTrainingJob.sync'), job)).rejects.toMatchObject({
      name: 'SageMaker.AmazonSageMakerException',
    });
  });

  it('reports a missing production record as Ssm.ParameterNotFoundException, and publishes notices', async () => {
    const { call, notifications } = bindings();
    await expect(
      call(sm('aws-sdk:ssm:getParameter'), { Name: '/reelflow/production-model' }),
    ).rejects.toMatchObject({
      name: 'Ssm.ParameterNotFoundException',
    });
    const published = await call(sm('sns:publish'), {
      TopicArn: 'arn:t',
      Subject: 'reelflow: run failed',
      Message: 'm',
    });
    expect(published).toEqual({ MessageId: expect.any(String) });
    expect(notifications.sent).toMatchObject([{ subject: 'reelflow: run failed', message: 'm' }]);
  });
});

describe('task bindings: requests AWS refuses are refused before they run', () => {
  it('refuses an optimized CreateTrainingJob with an unknown instance type as SageMaker.AmazonSageMakerException', async () => {
    const { call } = bindings();
    const job = trainingJob();
    job.ResourceConfig = { InstanceType: 'ml.bogus', InstanceCount: 1, VolumeSizeInGB: 30 };
    const error = (await call(sm('sagemaker:createTrainingJob.sync'), job).catch((e: unknown) => e)) as Error;
    expect(error.name).toBe('SageMaker.AmazonSageMakerException');
    expect(error.message).toMatch(
      /^1 validation error detected: Value 'ml\.bogus' at 'resourceConfig\.instanceType' failed to satisfy constraint: Member must satisfy enum value set: \[ml\.m4\.xlarge, .*\] \(Service: AmazonSageMaker; Status Code: 400; Error Code: ValidationException\)$/,
    );
  });

  it('refuses a training job without its required members, listing each like AWS', async () => {
    const { call } = bindings();
    const job = trainingJob();
    delete job.RoleArn;
    delete job.OutputDataConfig;
    await expect(call(sm('sagemaker:createTrainingJob.sync'), job)).rejects.toMatchObject({
      name: 'SageMaker.AmazonSageMakerException',
      message:
        "2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be " +
        "null; Value null at 'outputDataConfig' failed to satisfy constraint: Member must not be null " +
        '(Service: AmazonSageMaker; Status Code: 400; Error Code: ValidationException)',
    });
  });

  it('refuses a numeric string where SageMaker wants a number as a SerializationException', async () => {
    const { call } = bindings();
    const job = { ...trainingJob(), StoppingCondition: { MaxRuntimeInSeconds: '3600' } };
    await expect(call(sm('sagemaker:createTrainingJob.sync'), job)).rejects.toMatchObject({
      name: 'SageMaker.AmazonSageMakerException',
      message: expect.stringContaining('Error Code: SerializationException'),
    });
  });

  it('refuses SSM GetParameter without Name as Ssm.ValidationException', async () => {
    const { call } = bindings();
    await expect(call(sm('aws-sdk:ssm:getParameter'), { WithDecryption: true })).rejects.toMatchObject({
      name: 'Ssm.ValidationException',
      message:
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null " +
        '(Service: Ssm, Status Code: 400, Error Code: ValidationException)',
    });
  });

  it("refuses AWS SDK integrations' bad requests with the SDK's exception names", async () => {
    const { call } = bindings();
    await expect(
      call(sm('aws-sdk:sagemaker:describeEndpoint'), { EndpointName: 'bad_name' }),
    ).rejects.toMatchObject({
      name: 'SageMaker.SageMakerException',
      message: expect.stringMatching(
        /at 'endpointName' failed to satisfy constraint: Member must satisfy regular/,
      ),
    });
    await expect(
      call(sm('aws-sdk:cloudwatch:describeAlarms'), { AlarmNames: ['a'], StateValue: 'FIRING' }),
    ).rejects.toMatchObject({
      name: 'CloudWatch.CloudWatchException',
      message: expect.stringContaining('Error Code: ValidationError'),
    });
    await expect(call(sm('aws-sdk:s3:getObject'), { Bucket: 'b' })).rejects.toMatchObject({
      name: 'S3.S3Exception',
      message: expect.stringContaining("Value null at 'key'"),
    });
  });

  it('refuses sns:publish without a Message as SNS.InvalidParameterException, and publishes nothing', async () => {
    const { call, notifications } = bindings();
    await expect(call(sm('sns:publish'), { TopicArn: 'arn:t', Subject: 's' })).rejects.toMatchObject({
      name: 'SNS.InvalidParameterException',
      message: expect.stringContaining(
        "Value null at 'message' failed to satisfy constraint: Member must not be null",
      ),
    });
    expect(notifications.sent).toEqual([]);
  });

  it('fails a Parameters member the API does not have as SCHEMA_VALIDATION_FAILED, naming the field', async () => {
    const { call } = bindings();
    const job = {
      ...trainingJob(),
      ResourceConfig: { InstanceType: 'ml.m5.xlarge', InstanceCount: 1, Spot: true },
    };
    await expect(call(sm('sagemaker:createTrainingJob.sync'), job)).rejects.toMatchObject({
      name: 'States.Runtime',
      message: expect.stringMatching(
        /^SCHEMA_VALIDATION_FAILED: The field "Spot" is not supported by Step Functions/,
      ),
    });
  });
});
