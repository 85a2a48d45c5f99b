/**
 * SageMaker's JSON API over the local SageMaker (SageMaker, awsJson1_1, served by aws-json-server.ts),
 * for the operator CLI: DescribeEndpoint, DescribeEndpointConfig and DescribeModel, and for the Evaluate
 * handler DescribeTrainingJob (the FM job's `FinalMetricDataList`), with AWS's response shapes
 * (timestamps as epoch seconds on the wire). A missing resource is AWS's ValidationException
 * "Could not find endpoint|endpoint configuration|model ..." or, for a training job, "Requested resource
 * not found.".
 */
import { AwsServiceError, type AwsJsonService } from './aws-json-server';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './local-account';
import type { LocalSageMaker } from './sagemaker';
import { required, sageMakerArn, SageMakerApiError } from './sagemaker-errors';

/** Where DescribeTrainingJob reads ended jobs (training-jobs.ts `TrainingJobDescriptions`). */
export interface TrainingJobDescriber {
  describeTrainingJob(name: string): Record<string, unknown>;
}

const TRAINING_JOB_TIMES = ['CreationTime', 'TrainingStartTime', 'TrainingEndTime', 'LastModifiedTime'];

/**
 * The service. DescribeTrainingJob reads `options.trainingJobs`, else the local SageMaker itself when it
 * keeps its ended jobs (a `describeTrainingJob(name)` method); with neither it is not served (the server
 * refuses it as a call the local runtime does not provide, never "not found" for a job that ran).
 */
export function sageMakerJsonService(
  sagemaker: LocalSageMaker,
  options: { readonly trainingJobs?: TrainingJobDescriber } = {},
): AwsJsonService {
  const own = sagemaker as Partial<TrainingJobDescriber>;
  const trainingJobs =
    options.trainingJobs ??
    (typeof own.describeTrainingJob === 'function'
      ? { describeTrainingJob: (name: string) => own.describeTrainingJob!.call(sagemaker, name) }
      : undefined);
  const call = (work: () => Record<string, unknown>): Record<string, unknown> => {
    try {
      return work();
    } catch (error) {
      if (error instanceof SageMakerApiError) throw new AwsServiceError(error.code, error.message);
      throw error;
    }
  };
  return {
    targetPrefix: 'SageMaker',
    version: '1.1',
    operations: {
      DescribeEndpoint: (input) =>
        call(() => {
          const endpoint = sagemaker.describeEndpoint(input);
          return { ...endpoint, ...timestamps(endpoint, ['CreationTime', 'LastModifiedTime']) };
        }),
      DescribeEndpointConfig: (input) =>
        call(() => {
          const name = required(input.EndpointConfigName as string | undefined, 'EndpointConfigName');
          const config = withoutTags(sagemaker.endpointConfig(name));
          return {
            ...config,
            EndpointConfigArn: sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'endpoint-config', name),
            ...timestamps(config, ['CreationTime']),
          };
        }),
      DescribeModel: (input) =>
        call(() => {
          const name = required(input.ModelName as string | undefined, 'ModelName');
          const model = withoutTags(sagemaker.model(name) as unknown as Record<string, unknown>);
          return {
            ...model,
            ModelArn: sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'model', name),
            EnableNetworkIsolation: model.EnableNetworkIsolation ?? false,
            ...timestamps(model, ['CreationTime']),
          };
        }),
      ...(trainingJobs
        ? {
            DescribeTrainingJob: (input: Record<string, unknown>) =>
              call(() => describeTrainingJob(trainingJobs, input)),
          }
        : {}),
    },
  };
}

/** A recorded job description on the wire: timestamps (the job's and each final metric's) as epoch seconds. */
export function describeTrainingJob(
  trainingJobs: TrainingJobDescriber,
  input: Record<string, unknown>,
): Record<string, unknown> {
  const name = required(input.TrainingJobName as string | undefined, 'TrainingJobName');
  const job = trainingJobs.describeTrainingJob(name);
  const present = TRAINING_JOB_TIMES.filter((key) => job[key] !== undefined);
  const metrics = job.FinalMetricDataList as readonly Record<string, unknown>[] | undefined;
  return {
    ...job,
    ...timestamps(job, present),
    ...(metrics
      ? { FinalMetricDataList: metrics.map((m) => ({ ...m, ...timestamps(m, ['Timestamp']) })) }
      : {}),
  };
}

/** A Create* request without its Tags (Describe* does not return them). */
function withoutTags(request: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(request).filter(([key]) => key !== 'Tags'));
}

/** ISO timestamps as epoch seconds; a resource saved before its time was recorded gets the epoch. */
function timestamps(from: Record<string, unknown>, keys: readonly string[]): Record<string, number> {
  return Object.fromEntries(
    keys.map((key) => [key, typeof from[key] === 'string' ? Date.parse(from[key] as string) / 1000 : 0]),
  );
}
