/**
 * The deploy workflow: puts an approved candidate behind the live endpoint with SageMaker's deployment
 * guardrails, and records what happened.
 *
 *   LoadCandidate -> GatePassed? (nothing-to-do run: NothingToDeploy) -> NameEndpointConfig
 *   -> CreateEndpointConfig -> FindEndpoint -> EndpointExists?
 *     exists:    UpdateEndpoint (blue/green, CANARY | LINEAR | ALL_AT_ONCE, bake, auto-rollback alarms)
 *     Failed:    DeleteFailedEndpoint -> StartDeletionPolling -> WaitForDeletion -> CheckDeleted
 *                (gone: EndpointGone? -> CreateEndpoint; still there: CountDeletionPoll ->
 *                DeletionBudgetLeft? -> WaitForDeletion | DeletionTimedOut -> failure path)
 *     not found: CreateEndpoint (the first approved run)
 *   -> StartPolling -> WaitForEndpoint -> DescribeEndpoint -> EndpointStatus?
 *     InService -> NewConfigServing?
 *        yes: RecordDeployed (SSM production record) -> SmokeTest -> NotifyDeployed -> Deployed
 *        no (auto-rolled back, also InService): ReadRollbackAlarms -> RecordRollback -> NotifyRollback -> RolledBack
 *     Failed | UpdateRollbackFailed | OutOfService | Deleting -> EndpointFailed -> failure path
 *     otherwise -> CountPoll -> PollBudgetLeft? -> WaitForEndpoint | PollTimedOut -> failure path
 *   failure path: ReadFailureAlarms -> RecordFailure -> NotifyFailure -> DeployFailed
 *
 * UpdateEndpoint is an AWS SDK call task: the CDK SageMakerUpdateEndpoint task cannot pass
 * DeploymentConfig, and Step Functions has no `.sync` for endpoints, hence the poll loop. An auto-rolled
 * back update also ends InService, on the old config, so success is InService *and* the new
 * EndpointConfigName. The endpoint and its configs belong to this workflow, never to the CDK stack.
 *
 * Every attempt names its endpoint config `<names.endpointConfigPrefix>-<8 hex characters of a UUID>`
 * (NameEndpointConfig), so a retried Deploy stage (same run id) creates a new config instead of failing
 * with "already exists". A Failed endpoint cannot be updated, only deleted: it is deleted and created anew.
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { type CapacitySize, type DeployConfig, VARIANT_NAME } from '../infra/config';
import {
  grantKeyForSageMaker,
  grantKeyViaService,
  guard,
  LAMBDA_RETRY,
  SAGEMAKER_RETRY,
  sageMakerTask,
  sdkRetry,
  SNS_RETRY,
  workflowStateMachine,
} from './workflow-kit';
import { acknowledge, acknowledgeFunctionVersions, resourceFinding } from '../infra/constructs/nag-findings';

/** The deploy workflow's state names: stable, since the local runtime and the tests refer to them. */
export const DEPLOY_STATES = {
  loadCandidate: 'LoadCandidate',
  gatePassed: 'GatePassed?',
  nothingToDeploy: 'NothingToDeploy',
  candidateRefused: 'CandidateRefused',
  nameEndpointConfig: 'NameEndpointConfig',
  createEndpointConfig: 'CreateEndpointConfig',
  findEndpoint: 'FindEndpoint',
  endpointExists: 'EndpointExists?',
  findEndpointFailed: 'FindEndpointFailed',
  deleteFailedEndpoint: 'DeleteFailedEndpoint',
  startDeletionPolling: 'StartDeletionPolling',
  waitForDeletion: 'WaitForDeletion',
  checkDeleted: 'CheckDeleted',
  endpointGone: 'EndpointGone?',
  deletionCheckFailed: 'DeletionCheckFailed',
  countDeletionPoll: 'CountDeletionPoll',
  deletionBudgetLeft: 'DeletionBudgetLeft?',
  deletionTimedOut: 'DeletionTimedOut',
  updateEndpoint: 'UpdateEndpoint',
  createEndpoint: 'CreateEndpoint',
  startPolling: 'StartPolling',
  waitForEndpoint: 'WaitForEndpoint',
  describeEndpoint: 'DescribeEndpoint',
  endpointStatus: 'EndpointStatus?',
  newConfigServing: 'NewConfigServing?',
  recordDeployed: 'RecordDeployed',
  smokeTest: 'SmokeTest',
  notifyDeployed: 'NotifyDeployed',
  deployed: 'Deployed',
  readRollbackAlarms: 'ReadRollbackAlarms',
  recordRollback: 'RecordRollback',
  notifyRollback: 'NotifyRollback',
  rolledBack: 'RolledBack',
  endpointFailed: 'EndpointFailed',
  countPoll: 'CountPoll',
  pollBudgetLeft: 'PollBudgetLeft?',
  pollTimedOut: 'PollTimedOut',
  readFailureAlarms: 'ReadFailureAlarms',
  recordFailure: 'RecordFailure',
  notifyFailure: 'NotifyFailure',
  deployFailed: 'DeployFailed',
} as const;

const S = DEPLOY_STATES;

/** The cause text of DescribeEndpoint's error when the endpoint does not exist. */
export const ENDPOINT_NOT_FOUND_PATTERN = '*Could not find endpoint*';

/** Where NameEndpointConfig puts this attempt's endpoint config name. */
export const ENDPOINT_CONFIG_NAME_PATH = '$.endpointConfig.name';

/**
 * This attempt's endpoint config name: the run's prefix and the first group of a fresh UUID (8 hex
 * characters; functions/core/run-layout.ts keeps room for them within SageMaker's 63).
 */
export const ENDPOINT_CONFIG_NAME_EXPRESSION =
  "States.Format('{}-{}', $.candidate.names.endpointConfigPrefix, " +
  "States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 0))";

/** Endpoint statuses after which polling stops with a failure. */
export const ENDPOINT_FAILED_STATUSES = [
  'Failed',
  'UpdateRollbackFailed',
  'OutOfService',
  'Deleting',
] as const;

export interface DeployWorkflowProps {
  readonly config: DeployConfig;
  /** Holds `runs/<runId>/evaluation/summary.json`. */
  readonly dataBucket: s3.IBucket;
  /** Encrypts the endpoint's storage volumes; decrypts the summary. */
  readonly key: kms.IKey;
  readonly recordDeployment: lambda.IFunction;
  readonly smokeTest: lambda.IFunction;
  /** Deployed, rolled-back and failure notices. */
  readonly alerts: sns.ITopic;
  /** The CloudWatch alarms (by name) that roll an update back; 1 to 10. */
  readonly rollbackAlarmNames: readonly string[];
}

/**
 * The deploy state machine (Standard, JSONPath), buildable from interfaces only so the local runtime can
 * render the same definition (pipeline/render.ts).
 */
export class DeployWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  private readonly endpointArn: string;
  private readonly endpointConfigArn: string;

  constructor(scope: Construct, id: string, props: DeployWorkflowProps) {
    super(scope, id);
    const { config } = props;
    const { endpoint, deployment } = config;
    if (props.rollbackAlarmNames.length < 1 || props.rollbackAlarmNames.length > 10) {
      throw new Error(`rollbackAlarmNames must hold 1 to 10 alarms, got ${props.rollbackAlarmNames.length}`);
    }
    const stack = Stack.of(this);
    this.endpointArn = stack.formatArn({
      service: 'sagemaker',
      resource: 'endpoint',
      resourceName: endpoint.name,
    });
    this.endpointConfigArn = stack.formatArn({
      service: 'sagemaker',
      resource: 'endpoint-config',
      resourceName: `${config.resourcePrefix}-*`,
    });
    const alarmArns = props.rollbackAlarmNames.map((name) =>
      stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );

    // Failure path: read the alarms, record, notify, fail with the error.
    const deployFailed = new sfn.Fail(this, S.deployFailed, {
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const notifyFailure = guard(
      this.notify(S.notifyFailure, props.alerts, 'reelflow: deployment failed', 'deploy-failed', [
        'reelflow deploy run {} failed; see runs/{}/deployment.json. Error: {}',
        '$.runId',
        '$.runId',
        'States.JsonToString($.error)',
      ]),
      deployFailed,
      [SNS_RETRY],
      '$.notifyError',
    );
    const recordFailure = guard(
      this.record(S.recordFailure, props.recordDeployment, 'failed'),
      notifyFailure,
      [LAMBDA_RETRY],
      '$.recordError',
    );
    const failure = guard(
      this.readAlarms(S.readFailureAlarms, props.rollbackAlarmNames, alarmArns),
      recordFailure,
      [sdkRetry('CloudWatch')],
      '$.alarmsError',
    );
    failure.next(recordFailure).next(notifyFailure).next(deployFailed);

    const loadCandidate = guard(
      new tasks.CallAwsService(this, S.loadCandidate, {
        service: 's3',
        action: 'getObject',
        parameters: {
          Bucket: props.dataBucket.bucketName,
          Key: sfn.JsonPath.format('runs/{}/evaluation/summary.json', sfn.JsonPath.stringAt('$.runId')),
        },
        iamResources: [props.dataBucket.arnForObjects('runs/*')],
        // No ResultPath: the result replaces the state with { runId, candidate: RunSummary }. (An explicit
        // "ResultPath": "$" means the same in Step Functions, but aws-local-stepfunctions 3.0 mishandles it.)
        resultSelector: {
          'runId.$': '$$.Execution.Input.runId',
          'candidate.$': 'States.StringToJson($.Body)',
        },
      }),
      failure,
      [sdkRetry('S3')],
    );
    const candidateRefused = new sfn.Fail(this, S.candidateRefused, {
      error: 'GateNotPassed',
      cause: "The candidate's gate did not pass; it cannot be deployed.",
    });

    const createEndpointConfig = guard(
      sageMakerTask(this, S.createEndpointConfig, {
        action: 'createEndpointConfig',
        parameters: {
          'EndpointConfigName.$': ENDPOINT_CONFIG_NAME_PATH,
          KmsKeyId: props.key.keyArn,
          ProductionVariants: [
            {
              VariantName: VARIANT_NAME,
              'ModelName.$': '$.candidate.names.model',
              InstanceType: endpoint.instanceType,
              InitialInstanceCount: endpoint.instanceCount,
              InitialVariantWeight: 1,
            },
          ],
        },
      }),
      failure,
      [SAGEMAKER_RETRY],
    );

    const findEndpoint = new tasks.CallAwsService(this, S.findEndpoint, {
      service: 'sagemaker',
      action: 'describeEndpoint',
      parameters: { EndpointName: endpoint.name },
      iamResources: [this.endpointArn],
      resultSelector: { 'status.$': '$.EndpointStatus', 'configName.$': '$.EndpointConfigName' },
      resultPath: '$.existing',
    });
    const findEndpointFailed = new sfn.Pass(this, S.findEndpointFailed, {
      comment: 'DescribeEndpoint failed for another reason than a missing endpoint',
      inputPath: '$.findError',
      resultPath: '$.error',
    });

    const startPolling = new sfn.Pass(this, S.startPolling, {
      result: sfn.Result.fromObject({ count: 0 }),
      resultPath: '$.polls',
    });
    const updateEndpoint = guard(
      new tasks.CallAwsService(this, S.updateEndpoint, {
        service: 'sagemaker',
        action: 'updateEndpoint',
        parameters: {
          EndpointName: endpoint.name,
          EndpointConfigName: sfn.JsonPath.stringAt(ENDPOINT_CONFIG_NAME_PATH),
          RetainAllVariantProperties: false,
          DeploymentConfig: deploymentConfig(config, props.rollbackAlarmNames),
        },
        iamResources: [this.endpointArn, this.endpointConfigArn],
        resultPath: sfn.JsonPath.DISCARD,
      }),
      failure,
      [sdkRetry('SageMaker')],
    );
    const createEndpoint = guard(
      sageMakerTask(this, S.createEndpoint, {
        action: 'createEndpoint',
        comment: 'The first approved run: nothing serves yet, so no guardrails are needed',
        parameters: {
          EndpointName: endpoint.name,
          'EndpointConfigName.$': ENDPOINT_CONFIG_NAME_PATH,
        },
      }),
      failure,
      [SAGEMAKER_RETRY],
    );
    const notFound = (path: string): sfn.Condition =>
      sfn.Condition.and(
        sfn.Condition.isPresent(`${path}.Cause`),
        sfn.Condition.stringMatches(`${path}.Cause`, ENDPOINT_NOT_FOUND_PATTERN),
      );

    // A Failed endpoint accepts no UpdateEndpoint: delete it, wait until it is gone, create it anew.
    const deleteFailedEndpoint = guard(
      new tasks.CallAwsService(this, S.deleteFailedEndpoint, {
        comment: 'A Failed endpoint can only be deleted; the candidate is then deployed as on the first run',
        service: 'sagemaker',
        action: 'deleteEndpoint',
        parameters: { EndpointName: endpoint.name },
        iamResources: [this.endpointArn],
        resultPath: sfn.JsonPath.DISCARD,
      }),
      failure,
      [sdkRetry('SageMaker')],
    );
    const startDeletionPolling = new sfn.Pass(this, S.startDeletionPolling, {
      result: sfn.Result.fromObject({ count: 0 }),
      resultPath: '$.deletionPolls',
    });
    const waitForDeletion = new sfn.Wait(this, S.waitForDeletion, {
      time: sfn.WaitTime.duration(Duration.seconds(deployment.pollIntervalSeconds)),
    });
    const checkDeleted = new tasks.CallAwsService(this, S.checkDeleted, {
      service: 'sagemaker',
      action: 'describeEndpoint',
      parameters: { EndpointName: endpoint.name },
      iamResources: [this.endpointArn],
      resultSelector: { 'status.$': '$.EndpointStatus' },
      resultPath: '$.deleting',
    });
    const deletionCheckFailed = new sfn.Pass(this, S.deletionCheckFailed, {
      comment: 'DescribeEndpoint failed for another reason than a deleted endpoint',
      inputPath: '$.deleteCheck',
      resultPath: '$.error',
    });
    const endpointGone = new sfn.Choice(this, S.endpointGone)
      .when(notFound('$.deleteCheck'), createEndpoint)
      .otherwise(deletionCheckFailed.next(failure));
    checkDeleted.addRetry(sdkRetry('SageMaker'));
    checkDeleted.addCatch(endpointGone, {
      errors: ['SageMaker.SageMakerException', 'SageMaker.ValidationException'],
      resultPath: '$.deleteCheck',
    });
    checkDeleted.addCatch(failure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    const countDeletionPoll = new sfn.Pass(this, S.countDeletionPoll, {
      parameters: { 'count.$': 'States.MathAdd($.deletionPolls.count, 1)' },
      resultPath: '$.deletionPolls',
    });
    const deletionTimedOut = new sfn.Pass(this, S.deletionTimedOut, {
      parameters: {
        Error: 'EndpointDeletionTimeout',
        'Cause.$': `States.Format('The Failed endpoint is still {} after ${deployment.maxPolls} polls', $.deleting.status)`,
      },
      resultPath: '$.error',
    });
    deleteFailedEndpoint
      .next(startDeletionPolling)
      .next(waitForDeletion)
      .next(checkDeleted)
      .next(countDeletionPoll)
      .next(
        new sfn.Choice(this, S.deletionBudgetLeft)
          .when(sfn.Condition.numberLessThan('$.deletionPolls.count', deployment.maxPolls), waitForDeletion)
          .otherwise(deletionTimedOut.next(failure)),
      );

    const endpointExists = new sfn.Choice(this, S.endpointExists)
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent('$.existing'),
          sfn.Condition.stringEquals('$.existing.status', 'Failed'),
        ),
        deleteFailedEndpoint,
      )
      .when(sfn.Condition.isPresent('$.existing'), updateEndpoint)
      .when(notFound('$.findError'), createEndpoint)
      .otherwise(findEndpointFailed);
    findEndpoint.addRetry(sdkRetry('SageMaker'));
    // A missing endpoint is no modelled SDK error: it comes as SageMaker's generic exception with
    // "Could not find endpoint" in the cause, which EndpointExists? tells apart from real failures.
    findEndpoint.addCatch(endpointExists, {
      errors: ['SageMaker.SageMakerException', 'SageMaker.ValidationException'],
      resultPath: '$.findError',
    });
    findEndpoint.addCatch(failure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

    const waitForEndpoint = new sfn.Wait(this, S.waitForEndpoint, {
      time: sfn.WaitTime.duration(Duration.seconds(deployment.pollIntervalSeconds)),
    });
    const describeEndpoint = guard(
      new tasks.CallAwsService(this, S.describeEndpoint, {
        service: 'sagemaker',
        action: 'describeEndpoint',
        parameters: { EndpointName: endpoint.name },
        iamResources: [this.endpointArn],
        resultPath: '$.endpoint',
      }),
      failure,
      [sdkRetry('SageMaker', 'SageMaker.SageMakerException')],
    );

    const recordDeployed = guard(this.record(S.recordDeployed, props.recordDeployment, 'deployed'), failure, [
      LAMBDA_RETRY,
    ]);
    const smokeTest = guard(
      new tasks.LambdaInvoke(this, S.smokeTest, {
        lambdaFunction: props.smokeTest,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
        payload: sfn.TaskInput.fromObject({ runId: sfn.JsonPath.stringAt('$.runId') }),
        resultPath: '$.smokeTest',
      }),
      failure,
      [LAMBDA_RETRY],
    );
    const notifyDeployed = guard(
      this.notify(S.notifyDeployed, props.alerts, 'reelflow: new model deployed', 'deployed', [
        'reelflow run {} is live on endpoint {} ({}); the smoke test passed.',
        '$.runId',
        '$.endpoint.EndpointName',
        '$.endpoint.EndpointConfigName',
      ]),
      notifyFailure,
      [SNS_RETRY],
    );
    const deployed = new sfn.Succeed(this, S.deployed, { outputPath: '$.recorded' });

    const readRollbackAlarms = guard(
      this.readAlarms(S.readRollbackAlarms, props.rollbackAlarmNames, alarmArns),
      failure,
      [sdkRetry('CloudWatch')],
    );
    const recordRollback = guard(
      this.record(S.recordRollback, props.recordDeployment, 'rolled-back'),
      failure,
      [LAMBDA_RETRY],
    );
    const rolledBack = new sfn.Fail(this, S.rolledBack, {
      error: 'RolledBack',
      causePath: '$.recorded.record.reason',
    });
    const notifyRollback = guard(
      this.notify(S.notifyRollback, props.alerts, 'reelflow: deployment rolled back', 'rolled-back', [
        'reelflow run {} was rolled back; the previous version keeps serving. {}',
        '$.runId',
        '$.recorded.record.reason',
      ]),
      rolledBack,
      [SNS_RETRY],
      '$.notifyError',
    );

    const endpointFailed = new sfn.Pass(this, S.endpointFailed, {
      parameters: {
        Error: 'EndpointFailed',
        'Cause.$': "States.Format('The endpoint is {} after the update', $.endpoint.EndpointStatus)",
      },
      resultPath: '$.error',
    });
    const countPoll = new sfn.Pass(this, S.countPoll, {
      parameters: { 'count.$': 'States.MathAdd($.polls.count, 1)' },
      resultPath: '$.polls',
    });
    const pollTimedOut = new sfn.Pass(this, S.pollTimedOut, {
      parameters: {
        Error: 'EndpointPollTimeout',
        'Cause.$': `States.Format('The endpoint is still {} after ${deployment.maxPolls} polls', $.endpoint.EndpointStatus)`,
      },
      resultPath: '$.error',
    });

    // The happy path, top to bottom; the failure path was wired above.
    const nothingToDeploy = new sfn.Succeed(this, S.nothingToDeploy, {
      comment: 'The run found no rating file: nothing was trained, nothing changes',
    });
    const nameEndpointConfig = new sfn.Pass(this, S.nameEndpointConfig, {
      comment: 'A new endpoint config name per attempt: a retried Deploy stage keeps the run id',
      parameters: { 'name.$': ENDPOINT_CONFIG_NAME_EXPRESSION },
      resultPath: '$.endpointConfig',
    });
    // The nothing-to-do rule comes first: such a summary has no gate, and IsPresent guards the test.
    const definition = sfn.Chain.start(loadCandidate).next(
      new sfn.Choice(this, S.gatePassed)
        .when(
          sfn.Condition.and(
            sfn.Condition.isPresent('$.candidate.nothingToDo'),
            sfn.Condition.booleanEquals('$.candidate.nothingToDo', true),
          ),
          nothingToDeploy,
        )
        .when(sfn.Condition.booleanEquals('$.candidate.gate.passed', true), nameEndpointConfig)
        .otherwise(candidateRefused),
    );
    nameEndpointConfig.next(createEndpointConfig).next(findEndpoint).next(endpointExists);
    updateEndpoint.next(startPolling);
    createEndpoint.next(startPolling);
    findEndpointFailed.next(failure);
    startPolling
      .next(waitForEndpoint)
      .next(describeEndpoint)
      .next(
        new sfn.Choice(this, S.endpointStatus)
          .when(
            sfn.Condition.stringEquals('$.endpoint.EndpointStatus', 'InService'),
            new sfn.Choice(this, S.newConfigServing)
              .when(
                sfn.Condition.stringEqualsJsonPath(
                  '$.endpoint.EndpointConfigName',
                  ENDPOINT_CONFIG_NAME_PATH,
                ),
                recordDeployed.next(smokeTest).next(notifyDeployed).next(deployed),
              )
              .otherwise(readRollbackAlarms.next(recordRollback).next(notifyRollback).next(rolledBack)),
          )
          .when(
            sfn.Condition.or(
              ...ENDPOINT_FAILED_STATUSES.map((status) =>
                sfn.Condition.stringEquals('$.endpoint.EndpointStatus', status),
              ),
            ),
            endpointFailed.next(failure),
          )
          .otherwise(
            countPoll.next(
              new sfn.Choice(this, S.pollBudgetLeft)
                .when(sfn.Condition.numberLessThan('$.polls.count', deployment.maxPolls), waitForEndpoint)
                .otherwise(pollTimedOut.next(failure)),
            ),
          ),
      );

    this.stateMachine = workflowStateMachine(this, 'StateMachine', {
      definition,
      key: props.key,
      logRetentionDays: config.logRetentionDays,
      // One poll budget for deleting a Failed endpoint, one for the update; an hour more for the config,
      // the records and the smoke test.
      timeout: Duration.seconds(2 * deployment.maxPolls * deployment.pollIntervalSeconds + 3600),
      comment: 'reelflow deploy: blue/green endpoint update with auto-rollback, recorded and smoke-tested',
    });
    this.grantWorkflowPermissions(props, alarmArns);
    const role = this.stateMachine.role;
    acknowledgeFunctionVersions(role, [props.recordDeployment, props.smokeTest]);
    acknowledge(role, {
      [resourceFinding(this, this.endpointConfigArn)]:
        'Each deploy attempt creates its endpoint config <prefix>-config-<runId>-<attempt>; both are only known at run time.',
      [resourceFinding(this, props.dataBucket.arnForObjects('runs/*'))]:
        'Reads the run summary runs/<runId>/evaluation/summary.json; the run id is only known at run time.',
      'AwsSolutions-IAM5[Resource::*]':
        'X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and ' +
        'the log delivery of the state machine (logs:CreateLogDelivery and related) have no resource-level permissions.',
    });
  }

  private readAlarms(id: string, names: readonly string[], arns: string[]): tasks.CallAwsService {
    return new tasks.CallAwsService(this, id, {
      service: 'cloudwatch',
      action: 'describeAlarms',
      parameters: { AlarmNames: [...names], StateValue: 'ALARM' },
      iamResources: arns,
      iamAction: 'cloudwatch:DescribeAlarms',
      // The whole response: a path that selects nothing (no alarm in ALARM) would be a States.Runtime
      // error, which no Catch handles. record-deployment reads the names from MetricAlarms.
      resultPath: '$.alarms',
    });
  }

  private record(
    id: string,
    fn: lambda.IFunction,
    outcome: 'deployed' | 'rolled-back' | 'failed',
  ): tasks.LambdaInvoke {
    return new tasks.LambdaInvoke(this, id, {
      lambdaFunction: fn,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      payload: sfn.TaskInput.fromObject({ outcome, state: sfn.JsonPath.entirePayload }),
      resultPath: '$.recorded',
    });
  }

  private notify(
    id: string,
    topic: sns.ITopic,
    subject: string,
    event: string,
    [template, ...paths]: [string, ...string[]],
  ): tasks.SnsPublish {
    return new tasks.SnsPublish(this, id, {
      topic,
      subject,
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          template,
          ...paths.map((path) => (path.startsWith('States.') ? path : sfn.JsonPath.stringAt(path))),
        ),
      ),
      messageAttributes: { event: { value: event } },
      resultPath: sfn.JsonPath.DISCARD,
    });
  }

  /** What the state machine's role needs beyond the CDK tasks' own grants, scoped to this project. */
  private grantWorkflowPermissions(props: DeployWorkflowProps, alarmArns: string[]): void {
    const role = this.stateMachine;
    role.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['sagemaker:CreateEndpointConfig'],
        resources: [this.endpointConfigArn],
      }),
    );
    role.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['sagemaker:CreateEndpoint'],
        resources: [this.endpointArn, this.endpointConfigArn],
      }),
    );
    role.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['sagemaker:AddTags', 'sagemaker:ListTags'],
        resources: [this.endpointArn, this.endpointConfigArn],
      }),
    );
    // UpdateEndpoint checks the rollback alarms with the caller's permissions.
    role.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: alarmArns }),
    );
    // The endpoint config's KMS key encrypts the instances' storage volumes.
    grantKeyForSageMaker(role, props.key);
    grantKeyViaService(role, props.key, 's3', ['kms:Decrypt']);
    grantKeyViaService(role, props.key, 'sns', ['kms:GenerateDataKey', 'kms:Decrypt']);
  }
}

/**
 * UpdateEndpoint's DeploymentConfig from the config: blue/green with the configured traffic routing,
 * wait interval (required even for ALL_AT_ONCE), bake (termination wait) and execution timeout, and
 * auto-rollback on the given alarms.
 */
export function deploymentConfig(
  config: DeployConfig,
  alarmNames: readonly string[],
): Record<string, unknown> {
  const { deployment } = config;
  const size = (capacity: CapacitySize): Record<string, unknown> => ({
    Type: capacity.type,
    Value: capacity.value,
  });
  return {
    BlueGreenUpdatePolicy: {
      TrafficRoutingConfiguration: {
        Type: deployment.trafficRouting,
        WaitIntervalInSeconds: deployment.waitIntervalSeconds,
        ...(deployment.trafficRouting === 'CANARY' ? { CanarySize: size(deployment.canarySize) } : {}),
        ...(deployment.trafficRouting === 'LINEAR'
          ? { LinearStepSize: size(deployment.linearStepSize) }
          : {}),
      },
      TerminationWaitInSeconds: deployment.terminationWaitSeconds,
      MaximumExecutionTimeoutInSeconds: deployment.maxExecutionTimeoutSeconds,
    },
    AutoRollbackConfiguration: { Alarms: alarmNames.map((AlarmName) => ({ AlarmName })) },
  };
}
