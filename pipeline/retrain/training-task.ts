/**
 * The one factory behind the training states (TrainFM or TrainIALS, TrainKNN, TrainTrial): a
 * `createTrainingJob.sync` Task, encrypted with the project key and network-isolated, with the training
 * retries and the catch-all to the failure path. Also the time limits derived from the training config.
 *
 * A built-in algorithm's job names its image only; the project's own iALS job (TrainIALS) also names the
 * entry point in the image, its arguments and the metric definitions of its log lines (SageMaker's
 * bring-your-own-algorithm contract, functions/training/main.ts), and reads a CSV channel.
 */
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { TrainingConfig } from '../config';
import { guard, SAGEMAKER_CAPACITY_RETRY, SAGEMAKER_RETRY, sageMakerTask } from '../workflow-kit';

const RECORDIO = 'application/x-recordio-protobuf';

/** One input channel of a training job. */
export interface TrainingChannel {
  /** The channel name the algorithm expects (`train`, `test`). */
  readonly name: string;
  /** JSONPath of the channel's S3 prefix, or an intrinsic (`States.Format(...)`) that makes it. */
  readonly uri: string;
  /** Split the objects between the instances (ShardedByS3Key) instead of copying all to each. */
  readonly sharded: boolean;
  /** The channel's ContentType. @default 'application/x-recordio-protobuf' */
  readonly contentType?: string;
}

/** What a job of the project's own image adds to its AlgorithmSpecification. */
export interface TrainingContainer {
  /** ContainerEntrypoint: the entry inside the image. */
  readonly entrypoint: readonly string[];
  /** ContainerArguments. */
  readonly arguments: readonly string[];
  /** MetricDefinitions: the regexes SageMaker applies to the job's log. */
  readonly metricDefinitions: readonly { readonly Name: string; readonly Regex: string }[];
}

/** What differs between the training jobs of one run. */
export interface TrainingTaskProps {
  /** JSONPath of the job name (named per attempt by Prepare). */
  readonly jobName: string;
  /** The image URI: a built-in algorithm's, or the project's (with `container`). */
  readonly image: string;
  /** The entry point, arguments and metrics of a job of the project's image. @default - a built-in's job */
  readonly container?: TrainingContainer;
  /** JSONPath of the hyperparameters (strings, as SageMaker takes them). */
  readonly hyperparameters: string;
  /** The input channels. */
  readonly channels: readonly TrainingChannel[];
  /** JSONPath of the S3 output prefix. */
  readonly output: string;
  /** The training instance type. */
  readonly instanceType: string;
  /**
   * The configured number of training instances (at most): more than one encrypts the traffic between
   * them. The job runs `instanceCountPath` instances.
   */
  readonly instanceCount: number;
  /**
   * JSONPath of the instance count the job actually uses: the step before it returns the configured
   * count cut to the number of files of the sharded channel (ShardedByS3Key gives an instance without a
   * file no data, and it is billed all the same).
   * @default - `instanceCount` itself (a job that trains on one instance whatever its input)
   */
  readonly instanceCountPath?: string;
  /** Where the job name and artifact go in the state (`{ artifact, job }`). */
  readonly resultPath: string;
  /** Volume size, runtime limit and spot settings. */
  readonly training: TrainingConfig;
  /** Encrypts the training volumes and the output. */
  readonly key: kms.IKey;
  /** Assumed by the training job. */
  readonly role: iam.IRole;
  /** Where every error goes (after the retries). */
  readonly failure: sfn.IChainable;
}

/** A guarded `createTrainingJob.sync` Task. */
export function trainingTask(scope: Construct, id: string, props: TrainingTaskProps): sfn.CustomState {
  return guard(
    sageMakerTask(scope, id, {
      action: 'createTrainingJob',
      sync: true,
      timeoutSeconds: trainingTaskTimeoutSeconds(props.training),
      parameters: trainingJobRequest(props),
      // Only fields every completed job has: a ResultSelector path that matches nothing is a
      // States.Runtime error, which no Catch handles (FinalMetricDataList is optional, so it stays out;
      // the job's own metrics remain in DescribeTrainingJob and CloudWatch).
      resultSelector: { 'artifact.$': '$.ModelArtifacts.S3ModelArtifacts', 'job.$': '$.TrainingJobName' },
      resultPath: props.resultPath,
    }),
    props.failure,
    [SAGEMAKER_RETRY, SAGEMAKER_CAPACITY_RETRY],
  );
}

/** A CreateTrainingJob request, encrypted and network-isolated. */
function trainingJobRequest(props: TrainingTaskProps): Record<string, unknown> {
  const { training, container } = props;
  const keyArn = props.key.keyArn;
  return {
    'TrainingJobName.$': props.jobName,
    RoleArn: props.role.roleArn,
    AlgorithmSpecification: {
      TrainingImage: props.image,
      TrainingInputMode: 'File',
      ...(container
        ? {
            ContainerEntrypoint: [...container.entrypoint],
            ContainerArguments: [...container.arguments],
            MetricDefinitions: container.metricDefinitions.map(({ Name, Regex }) => ({ Name, Regex })),
          }
        : {}),
    },
    'HyperParameters.$': props.hyperparameters,
    InputDataConfig: props.channels.map((channel) => ({
      ChannelName: channel.name,
      ContentType: channel.contentType ?? RECORDIO,
      DataSource: {
        S3DataSource: {
          S3DataType: 'S3Prefix',
          'S3Uri.$': channel.uri,
          S3DataDistributionType: channel.sharded ? 'ShardedByS3Key' : 'FullyReplicated',
        },
      },
    })),
    OutputDataConfig: { 'S3OutputPath.$': props.output, KmsKeyId: keyArn },
    ResourceConfig: {
      InstanceType: props.instanceType,
      ...(props.instanceCountPath
        ? { 'InstanceCount.$': props.instanceCountPath }
        : { InstanceCount: props.instanceCount }),
      VolumeSizeInGB: training.volumeSizeGb,
      VolumeKmsKeyId: keyArn,
    },
    StoppingCondition: {
      MaxRuntimeInSeconds: training.maxRuntimeSeconds,
      ...(training.useSpot ? { MaxWaitTimeInSeconds: training.maxWaitSeconds } : {}),
    },
    EnableNetworkIsolation: true,
    EnableInterContainerTrafficEncryption: props.instanceCount > 1,
    EnableManagedSpotTraining: training.useSpot,
  };
}

/** The longest a training job may take: its MaxRuntime, or with spot its MaxWaitTime (which includes waiting). */
export function maxTrainingJobSeconds(training: TrainingConfig): number {
  return training.useSpot
    ? (training.maxWaitSeconds ?? training.maxRuntimeSeconds)
    : training.maxRuntimeSeconds;
}

/**
 * TimeoutSeconds of the training Tasks: the job's own limit plus 30 minutes for provisioning and the
 * artifact upload, so a job SageMaker never ends still fails the state instead of holding the run.
 */
function trainingTaskTimeoutSeconds(training: TrainingConfig): number {
  return maxTrainingJobSeconds(training) + 1800;
}
