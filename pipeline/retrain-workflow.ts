/**
 * The retrain workflow: from a run id and the upload that started it to an evaluated, gated candidate.
 *
 *   LoadConfig -> Prepare -> HasData? (no rating file yet: NothingToDo) -> TrainFM (.sync) -> BuildVectors -> TrainKNN (.sync) -> CreateCandidateModel
 *   -> ReadProduction (or NoProduction) -> HasProduction?
 *        yes: TransformBoth [TransformCandidate | TransformProduction] (.sync, in parallel)
 *        no:  TransformCandidateOnly (.sync)
 *   -> Evaluate -> Gate -> CandidateReady (output: the evaluation) | NotifyRejected -> CandidateRejected
 *
 * Every Task retries throttling with backoff and catches everything into NotifyFailure -> RetrainFailed.
 * Every job and model is named per attempt (names come from Prepare, which derives a suffix from the
 * execution name: a CodePipeline stage Retry keeps the run id but starts a new execution). Production is only read (the SSM
 * production record and its model, for the comparison), never changed: that is the deploy workflow's job.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { SERVING_CONTENT_TYPES } from '../functions/contracts';
import type { DeployConfig } from '../infra/config';
import { builtinImageUri } from './images';
import {
  grantKeyForSageMaker,
  grantKeyViaService,
  guard,
  LAMBDA_RETRY,
  SAGEMAKER_CAPACITY_RETRY,
  SAGEMAKER_RETRY,
  sageMakerTask,
  sdkRetry,
  SNS_RETRY,
  workflowStateMachine,
} from './workflow-kit';
import { acknowledge, acknowledgeFunctionVersions, resourceFinding } from '../infra/constructs/nag-findings';

/** The retrain workflow's state names: stable, since the local runtime and the tests refer to them. */
export const RETRAIN_STATES = {
  loadConfig: 'LoadConfig',
  prepare: 'Prepare',
  hasData: 'HasData?',
  nothingToDo: 'NothingToDo',
  trainFm: 'TrainFM',
  buildVectors: 'BuildVectors',
  trainKnn: 'TrainKNN',
  createModel: 'CreateCandidateModel',
  readProduction: 'ReadProduction',
  noProduction: 'NoProduction',
  hasProduction: 'HasProduction?',
  transformBoth: 'TransformBoth',
  transformCandidate: 'TransformCandidate',
  transformProduction: 'TransformProduction',
  transformCandidateOnly: 'TransformCandidateOnly',
  evaluate: 'Evaluate',
  gate: 'Gate',
  candidateReady: 'CandidateReady',
  notifyRejected: 'NotifyRejected',
  candidateRejected: 'CandidateRejected',
  notifyFailure: 'NotifyFailure',
  retrainFailed: 'RetrainFailed',
} as const;

const S = RETRAIN_STATES;
const RECORDIO = 'application/x-recordio-protobuf';

export interface RetrainWorkflowProps {
  readonly config: DeployConfig;
  /** Encrypts training volumes and outputs, transform volumes and outputs; decrypts the SSM record. */
  readonly key: kms.IKey;
  readonly prepare: lambda.IFunction;
  readonly buildVectors: lambda.IFunction;
  readonly evaluate: lambda.IFunction;
  /** Failure and rejection notices. */
  readonly alerts: sns.ITopic;
  /** Assumed by the training jobs. */
  readonly trainingRole: iam.IRole;
  /** The execution role of the candidate model (and of its batch transform). */
  readonly modelRole: iam.IRole;
  /** The pre/post container image. */
  readonly servingImageUri: string;
  /** The SSM parameter with the production record (JSON ProductionRecord), absent before the first deploy. */
  readonly productionParameterName: string;
}

/**
 * The retrain state machine (Standard, JSONPath), buildable from interfaces only so the local runtime
 * can render the same definition (pipeline/render.ts).
 */
export class RetrainWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: RetrainWorkflowProps) {
    super(scope, id);
    const { config } = props;
    const stack = Stack.of(this);
    const prefix = config.resourcePrefix;

    // Failure path: notify, then fail with the caught error.
    const retrainFailed = new sfn.Fail(this, S.retrainFailed, {
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const notifyFailure = new tasks.SnsPublish(this, S.notifyFailure, {
      topic: props.alerts,
      subject: 'reelflow: retrain run failed',
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          'reelflow retrain run {} failed; production is unchanged. Error: {}',
          sfn.JsonPath.stringAt('$.runId'),
          sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.error')),
        ),
      ),
      messageAttributes: { event: { value: 'retrain-failed' } },
      resultPath: sfn.JsonPath.DISCARD,
    });
    guard(notifyFailure, retrainFailed, [SNS_RETRY], '$.notifyError');
    notifyFailure.next(retrainFailed);

    const loadConfig = new sfn.Pass(this, S.loadConfig, {
      comment: 'The ML config and instance settings, rendered at synth time',
      result: sfn.Result.fromObject({
        ml: config.ml,
        resourcePrefix: prefix,
        training: config.training,
        transform: config.transform,
      }),
      resultPath: '$.config',
    });

    const prepare = guard(
      new tasks.LambdaInvoke(this, S.prepare, {
        lambdaFunction: props.prepare,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
        payload: sfn.TaskInput.fromObject({
          runId: sfn.JsonPath.stringAt('$.runId'),
          executionName: sfn.JsonPath.stringAt('$$.Execution.Name'),
          trigger: sfn.JsonPath.objectAt('$.trigger'),
          config: sfn.JsonPath.objectAt('$.config.ml'),
          resourcePrefix: sfn.JsonPath.stringAt('$.config.resourcePrefix'),
        }),
        resultPath: '$.prepared',
      }),
      notifyFailure,
      [LAMBDA_RETRY],
    );

    const fmImage = builtinImageUri(this, 'factorization-machines');
    const knnImage = builtinImageUri(this, 'knn');
    const trainFm = guard(
      sageMakerTask(this, S.trainFm, {
        action: 'createTrainingJob',
        sync: true,
        timeoutSeconds: trainingTaskTimeoutSeconds(config),
        parameters: this.trainingJob({
          jobName: '$.prepared.names.fmJob',
          image: fmImage,
          hyperparameters: '$.prepared.hyperparameters.fm',
          channels: [
            { name: 'train', uri: '$.prepared.uris.train', sharded: config.training.fmInstanceCount > 1 },
            { name: 'test', uri: '$.prepared.uris.test', sharded: false },
          ],
          output: '$.prepared.uris.fmOutput',
          instanceType: config.training.fmInstanceType,
          instanceCount: config.training.fmInstanceCount,
          props,
        }),
        // Only fields every completed job has: a ResultSelector path that matches nothing is a
        // States.Runtime error, which no Catch handles (FinalMetricDataList is optional, so it stays out;
        // the job's own metrics remain in DescribeTrainingJob and CloudWatch).
        resultSelector: { 'artifact.$': '$.ModelArtifacts.S3ModelArtifacts', 'job.$': '$.TrainingJobName' },
        resultPath: '$.fm',
      }),
      notifyFailure,
      [SAGEMAKER_RETRY, SAGEMAKER_CAPACITY_RETRY],
    );

    const buildVectors = guard(
      new tasks.LambdaInvoke(this, S.buildVectors, {
        lambdaFunction: props.buildVectors,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
        payload: sfn.TaskInput.fromObject({
          runId: sfn.JsonPath.stringAt('$.runId'),
          prepared: sfn.JsonPath.objectAt('$.prepared'),
          fm: { artifact: sfn.JsonPath.stringAt('$.fm.artifact') },
        }),
        resultPath: '$.vectors',
      }),
      notifyFailure,
      [LAMBDA_RETRY],
    );

    const trainKnn = guard(
      sageMakerTask(this, S.trainKnn, {
        action: 'createTrainingJob',
        sync: true,
        timeoutSeconds: trainingTaskTimeoutSeconds(config),
        parameters: this.trainingJob({
          jobName: '$.prepared.names.knnJob',
          image: knnImage,
          hyperparameters: '$.prepared.hyperparameters.knn',
          channels: [
            { name: 'train', uri: '$.vectors.knnTrain', sharded: config.training.knnInstanceCount > 1 },
          ],
          output: '$.prepared.uris.knnOutput',
          instanceType: config.training.knnInstanceType,
          instanceCount: config.training.knnInstanceCount,
          props,
        }),
        resultSelector: { 'artifact.$': '$.ModelArtifacts.S3ModelArtifacts', 'job.$': '$.TrainingJobName' },
        resultPath: '$.knn',
      }),
      notifyFailure,
      [SAGEMAKER_RETRY, SAGEMAKER_CAPACITY_RETRY],
    );

    // One model version = one serial inference pipeline: pre -> built-in k-NN -> post, all from this run.
    const createModel = guard(
      sageMakerTask(this, S.createModel, {
        action: 'createModel',
        parameters: {
          'ModelName.$': '$.prepared.names.model',
          ExecutionRoleArn: props.modelRole.roleArn,
          EnableNetworkIsolation: true,
          InferenceExecutionConfig: { Mode: 'Serial' },
          Containers: [
            {
              ContainerHostname: 'pre',
              Image: props.servingImageUri,
              'ModelDataUrl.$': '$.vectors.servingBundle',
              Environment: { REELFLOW_ROLE: 'pre' },
            },
            {
              ContainerHostname: 'knn',
              Image: knnImage,
              'ModelDataUrl.$': '$.knn.artifact',
              Environment: { SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: SERVING_CONTENT_TYPES.accept },
            },
            {
              ContainerHostname: 'post',
              Image: props.servingImageUri,
              'ModelDataUrl.$': '$.vectors.servingBundle',
              Environment: { REELFLOW_ROLE: 'post' },
            },
          ],
        },
        resultSelector: { 'arn.$': '$.ModelArn' },
        resultPath: '$.model',
      }),
      notifyFailure,
      [SAGEMAKER_RETRY],
    );

    const parameterArn = stack.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: props.productionParameterName.replace(/^\//, ''),
    });
    const noProduction = new sfn.Pass(this, S.noProduction, {
      comment: 'No deployment yet: evaluate the candidate alone',
      result: sfn.Result.fromObject({ record: null }),
      resultPath: '$.production',
    });
    const readProduction = new tasks.CallAwsService(this, S.readProduction, {
      service: 'ssm',
      action: 'getParameter',
      parameters: { Name: props.productionParameterName, WithDecryption: true },
      iamResources: [parameterArn],
      resultSelector: { 'record.$': 'States.StringToJson($.Parameter.Value)' },
      resultPath: '$.production',
    });
    readProduction.addCatch(noProduction, {
      errors: ['Ssm.ParameterNotFoundException'],
      resultPath: sfn.JsonPath.DISCARD,
    });
    guard(readProduction, notifyFailure, [sdkRetry('Ssm')]);

    const transform = (id: string, jobName: string, modelName: string, output: string): sfn.CustomState =>
      sageMakerTask(this, id, {
        action: 'createTransformJob',
        sync: true,
        parameters: {
          'TransformJobName.$': jobName,
          'ModelName.$': modelName,
          // One input line = one request of up to USERS_PER_TRANSFORM_RECORD users (functions/core/prepare.ts):
          // MultiRecord would pack lines up to MaxPayloadInMB, hundreds of thousands of users at once.
          BatchStrategy: 'SingleRecord',
          MaxPayloadInMB: config.transform.maxPayloadMb,
          TransformInput: {
            ContentType: SERVING_CONTENT_TYPES.batchRequest,
            SplitType: 'Line',
            DataSource: {
              S3DataSource: { S3DataType: 'S3Prefix', 'S3Uri.$': '$.prepared.uris.transformInput' },
            },
          },
          TransformOutput: {
            'S3OutputPath.$': output,
            Accept: SERVING_CONTENT_TYPES.accept,
            AssembleWith: 'Line',
            KmsKeyId: props.key.keyArn,
          },
          TransformResources: {
            InstanceType: config.transform.instanceType,
            InstanceCount: config.transform.instanceCount,
            VolumeKmsKeyId: props.key.keyArn,
          },
        },
      });
    const candidateJob = ['$.prepared.names.candidateTransformJob', '$.prepared.names.model'] as const;
    const productionJob = [
      '$.prepared.names.productionTransformJob',
      '$.production.record.modelName',
    ] as const;
    const transformCandidate = transform(
      S.transformCandidate,
      ...candidateJob,
      '$.prepared.uris.candidateTransformOutput',
    );
    const transformProduction = transform(
      S.transformProduction,
      ...productionJob,
      '$.prepared.uris.productionTransformOutput',
    );
    for (const task of [transformCandidate, transformProduction]) {
      task.addRetry(SAGEMAKER_RETRY).addRetry(SAGEMAKER_CAPACITY_RETRY);
    }
    const transformBoth = guard(
      new sfn.Parallel(this, S.transformBoth, {
        comment: 'Candidate and production predict the same held-out users',
        resultPath: sfn.JsonPath.DISCARD,
      }),
      notifyFailure,
      [],
    );
    transformBoth.branch(transformCandidate).branch(transformProduction);
    const transformCandidateOnly = guard(
      transform(S.transformCandidateOnly, ...candidateJob, '$.prepared.uris.candidateTransformOutput'),
      notifyFailure,
      [SAGEMAKER_RETRY, SAGEMAKER_CAPACITY_RETRY],
    );

    const evaluate = guard(
      new tasks.LambdaInvoke(this, S.evaluate, {
        lambdaFunction: props.evaluate,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
        payload: sfn.TaskInput.fromObject({
          runId: sfn.JsonPath.stringAt('$.runId'),
          trigger: sfn.JsonPath.objectAt('$.trigger'),
          config: sfn.JsonPath.objectAt('$.config.ml'),
          prepared: sfn.JsonPath.objectAt('$.prepared'),
          production: sfn.JsonPath.objectAt('$.production.record'),
          candidateOutput: sfn.JsonPath.stringAt('$.prepared.uris.candidateTransformOutput'),
          productionOutput: sfn.JsonPath.stringAt('$.prepared.uris.productionTransformOutput'),
        }),
        resultPath: '$.evaluation',
      }),
      notifyFailure,
      [LAMBDA_RETRY],
    );

    const candidateReady = new sfn.Succeed(this, S.candidateReady, {
      comment: 'The execution output is the evaluation summary the approval shows',
      outputPath: '$.evaluation',
    });
    const candidateRejected = new sfn.Fail(this, S.candidateRejected, {
      error: 'CandidateRejected',
      cause: 'The candidate did not pass the gate; production is unchanged (see the evaluation report).',
    });
    const notifyRejected = new tasks.SnsPublish(this, S.notifyRejected, {
      topic: props.alerts,
      subject: 'reelflow: candidate rejected by the gate',
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          'reelflow run {} was rejected by the gate; production is unchanged. {}',
          sfn.JsonPath.stringAt('$.runId'),
          sfn.JsonPath.stringAt('$.evaluation.approvalText'),
        ),
      ),
      messageAttributes: { event: { value: 'candidate-rejected' } },
      resultPath: sfn.JsonPath.DISCARD,
    });
    guard(notifyRejected, candidateRejected, [SNS_RETRY], '$.notifyError');

    // Written as IsNull: true (not IsNull: false): aws-local-stepfunctions 3.0 evaluates a false type
    // test as never matching, and the local runtime runs this same definition.
    const hasProduction = new sfn.Choice(this, S.hasProduction)
      .when(sfn.Condition.isNull('$.production.record'), transformCandidateOnly)
      .otherwise(transformBoth);
    const gate = new sfn.Choice(this, S.gate)
      .when(sfn.Condition.booleanEquals('$.evaluation.gate.passed', true), candidateReady)
      .otherwise(notifyRejected.next(candidateRejected));
    noProduction.next(hasProduction);
    hasProduction.afterwards().next(evaluate).next(gate);

    // No rating file yet (the execution CodePipeline starts when it is created): succeed without a
    // notice. IsPresent guards the comparison, since a candidate's Prepare result has no such field.
    const nothingToDo = new sfn.Succeed(this, S.nothingToDo, {
      comment: 'No rating file under ratings/ yet: nothing to train, nothing to notify',
      outputPath: '$.prepared',
    });
    const hasData = new sfn.Choice(this, S.hasData)
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent('$.prepared.nothingToDo'),
          sfn.Condition.booleanEquals('$.prepared.nothingToDo', true),
        ),
        nothingToDo,
      )
      .otherwise(trainFm);
    trainFm.next(buildVectors).next(trainKnn).next(createModel).next(readProduction).next(hasProduction);
    const definition = sfn.Chain.start(loadConfig).next(prepare).next(hasData);

    const maxJobSeconds = maxTrainingJobSeconds(config);
    this.stateMachine = workflowStateMachine(this, 'StateMachine', {
      definition,
      key: props.key,
      logRetentionDays: config.logRetentionDays,
      // Two training jobs, then data steps and batch transforms: generous, but bounded.
      timeout: Duration.seconds(2 * maxJobSeconds + 6 * 3600),
      comment: 'reelflow retrain: prepare, train FM and k-NN, build the candidate, evaluate, gate',
    });
    this.grantWorkflowPermissions(props);
    this.acknowledgeFindings(props);
  }

  /** The wildcards this role keeps, each with its reason (cdk-nag AwsSolutions-IAM5). */
  private acknowledgeFindings(props: RetrainWorkflowProps): void {
    const role = this.stateMachine.role;
    const stack = Stack.of(this);
    const prefix = props.config.resourcePrefix;
    acknowledgeFunctionVersions(role, [props.prepare, props.buildVectors, props.evaluate]);
    const perRun =
      'Every job and model of a run is named <prefix>-<kind>-<runId>; the run id is only known at run time.';
    acknowledge(role, {
      [resourceFinding(
        this,
        stack.formatArn({ service: 'sagemaker', resource: 'training-job', resourceName: `${prefix}-*` }),
      )]: perRun,
      [resourceFinding(
        this,
        stack.formatArn({ service: 'sagemaker', resource: 'transform-job', resourceName: `${prefix}-*` }),
      )]: perRun,
      [resourceFinding(
        this,
        stack.formatArn({ service: 'sagemaker', resource: 'model', resourceName: `${prefix}-*` }),
      )]: perRun,
      'AwsSolutions-IAM5[Resource::*]':
        'X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and ' +
        'the log delivery of the state machine (logs:CreateLogDelivery and related) have no resource-level permissions.',
    });
  }

  /** A CreateTrainingJob request of a built-in algorithm, encrypted and network-isolated. */
  private trainingJob(spec: {
    jobName: string;
    image: string;
    hyperparameters: string;
    channels: { name: string; uri: string; sharded: boolean }[];
    output: string;
    instanceType: string;
    instanceCount: number;
    props: RetrainWorkflowProps;
  }): Record<string, unknown> {
    const { training } = spec.props.config;
    const keyArn = spec.props.key.keyArn;
    return {
      'TrainingJobName.$': spec.jobName,
      RoleArn: spec.props.trainingRole.roleArn,
      AlgorithmSpecification: { TrainingImage: spec.image, TrainingInputMode: 'File' },
      'HyperParameters.$': spec.hyperparameters,
      InputDataConfig: spec.channels.map((channel) => ({
        ChannelName: channel.name,
        ContentType: RECORDIO,
        DataSource: {
          S3DataSource: {
            S3DataType: 'S3Prefix',
            'S3Uri.$': channel.uri,
            S3DataDistributionType: channel.sharded ? 'ShardedByS3Key' : 'FullyReplicated',
          },
        },
      })),
      OutputDataConfig: { 'S3OutputPath.$': spec.output, KmsKeyId: keyArn },
      ResourceConfig: {
        InstanceType: spec.instanceType,
        InstanceCount: spec.instanceCount,
        VolumeSizeInGB: training.volumeSizeGb,
        VolumeKmsKeyId: keyArn,
      },
      StoppingCondition: {
        MaxRuntimeInSeconds: training.maxRuntimeSeconds,
        ...(training.useSpot ? { MaxWaitTimeInSeconds: training.maxWaitSeconds } : {}),
      },
      EnableNetworkIsolation: true,
      EnableInterContainerTrafficEncryption: spec.instanceCount > 1,
      EnableManagedSpotTraining: training.useSpot,
    };
  }

  /** What the state machine's role needs beyond the CDK tasks' own grants, scoped to this project. */
  private grantWorkflowPermissions(props: RetrainWorkflowProps): void {
    const stack = Stack.of(this);
    const prefix = props.config.resourcePrefix;
    const arn = (resource: string, resourceName: string): string =>
      stack.formatArn({ service: 'sagemaker', resource, resourceName });
    const role = this.stateMachine;
    role.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'sagemaker:CreateTrainingJob',
          'sagemaker:DescribeTrainingJob',
          'sagemaker:StopTrainingJob',
        ],
        resources: [arn('training-job', `${prefix}-*`)],
      }),
    );
    role.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'sagemaker:CreateTransformJob',
          'sagemaker:DescribeTransformJob',
          'sagemaker:StopTransformJob',
        ],
        resources: [arn('transform-job', `${prefix}-*`)],
      }),
    );
    role.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['sagemaker:CreateModel'],
        resources: [arn('model', `${prefix}-*`)],
      }),
    );
    role.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['sagemaker:AddTags', 'sagemaker:ListTags'],
        resources: [
          arn('training-job', `${prefix}-*`),
          arn('transform-job', `${prefix}-*`),
          arn('model', `${prefix}-*`),
        ],
      }),
    );
    // The .sync integrations watch job state changes through these managed EventBridge rules.
    role.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          stack.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForSageMakerTrainingJobsRule',
          }),
          stack.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForSageMakerTransformJobsRule',
          }),
        ],
      }),
    );
    role.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [props.trainingRole.roleArn, props.modelRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );
    // Volume and output encryption: SageMaker creates grants on the key for the job's resources.
    grantKeyForSageMaker(role, props.key);
    grantKeyViaService(role, props.key, 'ssm', ['kms:Decrypt']);
    grantKeyViaService(role, props.key, 'sns', ['kms:GenerateDataKey', 'kms:Decrypt']);
  }
}

/** The longest a training job may take: its MaxRuntime, or with spot its MaxWaitTime (which includes waiting). */
function maxTrainingJobSeconds(config: DeployConfig): number {
  return config.training.useSpot
    ? (config.training.maxWaitSeconds ?? config.training.maxRuntimeSeconds)
    : config.training.maxRuntimeSeconds;
}

/**
 * TimeoutSeconds of the training Tasks: the job's own limit plus 30 minutes for provisioning and the
 * artifact upload, so a job SageMaker never ends still fails the state instead of holding the run.
 */
function trainingTaskTimeoutSeconds(config: DeployConfig): number {
  return maxTrainingJobSeconds(config) + 1800;
}
