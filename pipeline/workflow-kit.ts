/**
 * The building blocks both reelflow workflows share: retry policies per integration, the SageMaker
 * task factory, the catch-everything helper and the state machine wrapper (logs, X-Ray, KMS).
 *
 * The workflows stay on JSONPath (the CDK default): the local runtime, aws-local-stepfunctions, has no
 * JSONata, and it runs these same definitions.
 */
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';

/** Where a caught error goes in the state: `$.error` = `{ Error, Cause }`. */
export const ERROR_PATH = '$.error';

/**
 * Lambda invocations: throttling and the service's transient failures, with exponential backoff and
 * jitter. A handler's own errors are not retried: they are bugs or bad data, and retrying a 15-minute
 * data step would only delay the failure.
 */
export const LAMBDA_RETRY: sfn.RetryProps = {
  errors: [
    'Lambda.TooManyRequestsException',
    'Lambda.ServiceException',
    'Lambda.AWSLambdaException',
    'Lambda.SdkClientException',
    'Lambda.ClientExecutionTimeoutException',
  ],
  interval: Duration.seconds(2),
  maxAttempts: 6,
  backoffRate: 2,
  jitterStrategy: sfn.JitterType.FULL,
};

/**
 * SageMaker optimized integrations: throttling surfaces as `SageMaker.AmazonSageMakerException` (the
 * SDK's generic error) or `ThrottlingException`. A few attempts only, since validation errors share the
 * generic name. A failed job (`States.TaskFailed`) is never retried: it is named per run.
 */
export const SAGEMAKER_RETRY: sfn.RetryProps = {
  errors: ['ThrottlingException', 'SageMaker.ThrottlingException', 'SageMaker.AmazonSageMakerException'],
  interval: Duration.seconds(5),
  maxAttempts: 4,
  backoffRate: 2,
  jitterStrategy: sfn.JitterType.FULL,
};

/** The account's instance quota for a job is in use (another job runs): wait for capacity. */
export const SAGEMAKER_CAPACITY_RETRY: sfn.RetryProps = {
  errors: ['SageMaker.ResourceLimitExceededException'],
  interval: Duration.seconds(60),
  maxAttempts: 5,
  backoffRate: 2,
  jitterStrategy: sfn.JitterType.FULL,
};

/** AWS SDK integrations (`arn:aws:states:::aws-sdk:*`): throttling, named per service. */
export function sdkRetry(service: string, ...extraErrors: string[]): sfn.RetryProps {
  return {
    errors: ['ThrottlingException', `${service}.ThrottlingException`, ...extraErrors],
    interval: Duration.seconds(2),
    maxAttempts: 5,
    backoffRate: 2,
    jitterStrategy: sfn.JitterType.FULL,
  };
}

/** SNS publishes (the notices): throttling, KMS throttling and the service's generic error. */
export const SNS_RETRY: sfn.RetryProps = {
  errors: [
    'SNS.ThrottledException',
    'SNS.InternalErrorException',
    'SNS.KmsThrottlingException',
    'SNS.AmazonSNSException',
  ],
  interval: Duration.seconds(2),
  maxAttempts: 5,
  backoffRate: 2,
  jitterStrategy: sfn.JitterType.FULL,
};

/** A state that can retry and catch (Task states, CDK tasks, Parallel). */
export interface Guardable {
  addRetry(props?: sfn.RetryProps): unknown;
  addCatch(handler: sfn.IChainable, props?: sfn.CatchProps): unknown;
}

/**
 * Adds the retries, then a catch-all (`States.ALL`, error stored at `resultPath`) to `failure`. Every
 * Task of both workflows goes through this, so no error ends an execution without a notification.
 */
export function guard<T extends Guardable>(
  state: T,
  failure: sfn.IChainable,
  retries: readonly sfn.RetryProps[],
  resultPath: string = ERROR_PATH,
): T {
  for (const retry of retries) state.addRetry(retry);
  state.addCatch(failure, { errors: [sfn.Errors.ALL], resultPath });
  return state;
}

/** SageMaker API actions with an optimized Step Functions integration used here. */
export type SageMakerAction =
  'createTrainingJob' | 'createTransformJob' | 'createModel' | 'createEndpointConfig' | 'createEndpoint';

export interface SageMakerTaskProps {
  readonly action: SageMakerAction;
  /** `.sync`: wait for the job to finish (training and transform jobs only). */
  readonly sync?: boolean;
  /** The API request, in ASL: keys ending in `.$` are JSONPaths. */
  readonly parameters: Record<string, unknown>;
  readonly resultSelector?: Record<string, string>;
  /** @default - the result is discarded */
  readonly resultPath?: string;
  readonly comment?: string;
  /**
   * TimeoutSeconds of the Task: fails the state (into its Catch) when a `.sync` job outlives it.
   * @default - none (the state machine's own timeout bounds it)
   */
  readonly timeoutSeconds?: number;
}

/**
 * A SageMaker optimized-integration Task written as ASL. The CDK task classes are not used because they
 * cannot express what reelflow needs: CreateTrainingJob has no managed spot training, CreateModel
 * requires a PrimaryContainer (a serial inference pipeline has `Containers`), CreateTransformJob
 * creates an AmazonSageMakerFullAccess role, and all of them grant `*` when a name is a JSONPath.
 * The workflow constructs add IAM statements scoped to the run name prefix instead.
 */
export function sageMakerTask(scope: Construct, id: string, props: SageMakerTaskProps): sfn.CustomState {
  return new sfn.CustomState(scope, id, {
    stateJson: {
      Type: 'Task',
      ...(props.comment ? { Comment: props.comment } : {}),
      Resource: `arn:${Aws.PARTITION}:states:::sagemaker:${props.action}${props.sync ? '.sync' : ''}`,
      Parameters: props.parameters,
      ...(props.timeoutSeconds ? { TimeoutSeconds: props.timeoutSeconds } : {}),
      ...(props.resultSelector ? { ResultSelector: props.resultSelector } : {}),
      ResultPath: props.resultPath ?? null,
    },
  });
}

export interface WorkflowStateMachineProps {
  readonly definition: sfn.IChainable;
  readonly key: kms.IKey;
  readonly logRetentionDays: number;
  readonly timeout: Duration;
  readonly comment: string;
}

/**
 * A Standard state machine (CodePipeline's Step Functions action only waits for Standard workflows)
 * with every event logged to a KMS-encrypted log group, and X-Ray tracing.
 */
export function workflowStateMachine(
  scope: Construct,
  id: string,
  props: WorkflowStateMachineProps,
): sfn.StateMachine {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: props.logRetentionDays as logs.RetentionDays,
    encryptionKey: props.key,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const stateMachine = new sfn.StateMachine(scope, id, {
    definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
    stateMachineType: sfn.StateMachineType.STANDARD,
    queryLanguage: sfn.QueryLanguage.JSON_PATH,
    timeout: props.timeout,
    comment: props.comment,
    tracingEnabled: true,
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
  });
  return stateMachine;
}

/** Anything with a role to add statements to (a state machine, a function). */
export interface PolicyTarget {
  addToRolePolicy(statement: iam.PolicyStatement): void;
}

/**
 * What a workflow role needs of the project key to start SageMaker resources encrypted with it: grants
 * that SageMaker creates for the resources (volumes, outputs), and DescribeKey.
 */
export function grantKeyForSageMaker(role: PolicyTarget, key: kms.IKey): void {
  role.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['kms:CreateGrant'],
      resources: [key.keyArn],
      conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    }),
  );
  role.addToRolePolicy(new iam.PolicyStatement({ actions: ['kms:DescribeKey'], resources: [key.keyArn] }));
}

/** `actions` on the project key, only through `service` in this region (kms:ViaService). */
export function grantKeyViaService(
  role: PolicyTarget,
  key: kms.IKey,
  service: string,
  actions: string[],
): void {
  role.addToRolePolicy(
    new iam.PolicyStatement({
      actions,
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `${service}.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
    }),
  );
}
