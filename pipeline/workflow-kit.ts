/**
 * The building blocks both reelflow workflows share: retry policies per integration, the Lambda step
 * and SageMaker task factories, the catch-everything helper and the state machine wrapper (logs, X-Ray, KMS).
 *
 * The workflows stay on JSONPath (the CDK default): the local runtime, aws-local-stepfunctions, has no
 * JSONata, and it runs these same definitions.
 */
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { DeployConfig, WorkflowLogConfig } from './config';
import { acknowledge } from './nag';

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

/**
 * A Lambda data step: the payload in, the handler's return value (not the Invoke envelope) at
 * `resultPath`. Lambda's own transient errors are left to LAMBDA_RETRY, which the caller adds with guard().
 */
export function lambdaStep(
  scope: Construct,
  id: string,
  fn: lambda.IFunction,
  payload: Record<string, unknown>,
  resultPath: string,
): tasks.LambdaInvoke {
  return new tasks.LambdaInvoke(scope, id, {
    lambdaFunction: fn,
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    payload: sfn.TaskInput.fromObject(payload),
    resultPath,
  });
}

/** SageMaker API actions with an optimized Step Functions integration used here. */
export type SageMakerAction =
  | 'createTrainingJob'
  | 'createTransformJob'
  | 'createProcessingJob'
  | 'createModel'
  | 'createEndpointConfig'
  | 'createEndpoint';

/** Props of {@link sageMakerTask}. */
export interface SageMakerTaskProps {
  /** The SageMaker API action the Task calls. */
  readonly action: SageMakerAction;
  /**
   * `.sync`: wait for the job to finish (training, transform and processing jobs only).
   * @default false
   */
  readonly sync?: boolean;
  /** The API request, in ASL: keys ending in `.$` are JSONPaths. */
  readonly parameters: Record<string, unknown>;
  /**
   * ResultSelector of the Task: picks fields of the API response (keys ending in `.$` are JSONPaths).
   * @default - the whole response
   */
  readonly resultSelector?: Record<string, string>;
  /** @default - the result is discarded */
  readonly resultPath?: string;
  /**
   * Comment of the state.
   * @default - none
   */
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

/** Props of {@link workflowStateMachine}. */
export interface WorkflowStateMachineProps {
  /** The workflow's first state or fragment. */
  readonly definition: sfn.IChainable;
  /** Encrypts the execution log group. */
  readonly key: kms.IKey;
  /** Retention of the execution log group, days (one of CloudWatch Logs' values). */
  readonly logRetentionDays: number;
  /** The execution timeout. */
  readonly timeout: Duration;
  /** The state machine's comment (shown in the console). */
  readonly comment: string;
  /** Execution logging: level and whether events carry states' input and output (deploy config `workflowLogs`). */
  readonly logs: WorkflowLogConfig;
}

/**
 * A workflow's execution-log settings from the deploy config; the defaults (ERROR, no execution data)
 * when `config` is a slice without `workflowLogs`.
 */
export function workflowLogsOf(
  config: object,
  workflow: keyof DeployConfig['workflowLogs'],
): WorkflowLogConfig {
  const { workflowLogs } = config as Partial<Pick<DeployConfig, 'workflowLogs'>>;
  return workflowLogs?.[workflow] ?? { level: 'ERROR', includeExecutionData: false };
}

/**
 * A Standard state machine (CodePipeline's Step Functions action only waits for Standard workflows)
 * logging to a log group encrypted with the project key at the configured level, and X-Ray tracing.
 * Below level ALL, cdk-nag's AwsSolutions-SF1 is acknowledged on this state machine with the reason.
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
    logs: {
      destination: logGroup,
      level: sfn.LogLevel[props.logs.level],
      includeExecutionData: props.logs.includeExecutionData,
    },
  });
  if (props.logs.level !== 'ALL') {
    acknowledge(stateMachine.node.defaultChild ?? stateMachine, {
      'AwsSolutions-SF1':
        `Logs ${props.logs.level} events only (deploy config workflowLogs): every event of every execution ` +
        "stays in the Standard workflow's execution history (GetExecutionHistory, 90 days).",
    });
  }
  return stateMachine;
}

/**
 * What a workflow role needs of the project key to start SageMaker resources encrypted with it: grants
 * that SageMaker creates for the resources (volumes, outputs), and DescribeKey.
 */
export function grantKeyForSageMaker(grantee: iam.IGrantable, key: kms.IKey): iam.Grant {
  return iam.Grant.addToPrincipal({
    grantee,
    actions: ['kms:CreateGrant'],
    resourceArns: [key.keyArn],
    conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
  }).combine(iam.Grant.addToPrincipal({ grantee, actions: ['kms:DescribeKey'], resourceArns: [key.keyArn] }));
}

/** `actions` on the project key, only through `service` in this region (kms:ViaService). */
export function grantKeyViaService(
  grantee: iam.IGrantable,
  key: kms.IKey,
  service: string,
  actions: string[],
): iam.Grant {
  return iam.Grant.addToPrincipal({
    grantee,
    actions,
    resourceArns: [key.keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `${service}.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
  });
}
