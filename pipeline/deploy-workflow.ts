/**
 * The deploy workflow: puts an approved candidate behind the live endpoint with SageMaker's deployment
 * guardrails, and records what happened. This construct loads the candidate, checks its gate and joins
 * the phases in pipeline/deploy/:
 *
 *   LoadCandidate -> GatePassed? (nothing-to-do run: NothingToDeploy; gate failed: CandidateRefused;
 *                                 a rollback: TakeRollbackRequest -> CompareWithRollbackSource, or,
 *                                 without rollback.id or rollback.from, InvalidRollback)
 *   -> CheckBaseline:    ReadProduction (not found: NoProduction) -> SameProduction?
 *                          (another version serves than the one evaluated against, or, for a rollback,
 *                           than the one it rolls back from:
 *                           RecordStaleBaseline -> NotifyStaleBaseline -> StaleBaseline)
 *   -> Rollout:          NameEndpointConfig -> CreateEndpointConfig -> FindEndpoint -> EndpointExists?
 *                          -> UpdateEndpoint | CreateEndpoint | ReplaceFailedEndpoint (-> CreateEndpoint)
 *   -> PollEndpoint:     StartPolling -> WaitForEndpoint -> DescribeEndpoint -> EndpointStatus? (InService)
 *   -> VerifyDeployment: NewConfigServing? -> RecordDeployed -> SmokeTest -> NotifyDeployed -> Deployed
 *                                           | ReadRollbackAlarms -> RecordRollback -> NotifyRollback -> RolledBack
 *   DeployFailurePath:   ReadFailureAlarms -> RecordFailure -> NotifyFailure -> DeployFailed
 *
 * Step Functions has no `.sync` for endpoints, hence the poll loop. An auto-rolled-back update also
 * ends InService, on the old config, so success is InService *and* the new EndpointConfigName. The
 * endpoint and its configs belong to this workflow, never to the CDK stack.
 *
 * A rollback (`reelflow rollback`) is this workflow started directly with `{ runId: <target>, rollback:
 * { id, from, reason, requestedBy } }`: the target's summary passed its gate when it was first deployed,
 * its hosting model (`names.model`) still exists, and it goes through the same baseline check (against
 * `rollback.from`), rollout, guardrails, smoke test and notices; record-deployment files its record under
 * `runs/<target>/rollbacks/<rollback.id>.json`.
 *
 * Every attempt names its endpoint config `<names.endpointConfigPrefix>-<8 hex characters of a UUID>`
 * (NameEndpointConfig), so a retried Deploy stage (same run id) creates a new config instead of failing
 * with "already exists". A Failed endpoint cannot be updated, only deleted: it is deleted and created anew.
 */
import { Duration } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { CheckBaseline } from './deploy/check-baseline';
import { DeployFailurePath } from './deploy/outcomes';
import { deployTargets, grantDeployPermissions } from './deploy/permissions';
import { PollEndpoint } from './deploy/poll-endpoint';
import { Rollout } from './deploy/rollout';
import { DEPLOY_STATES as S, type DeployWorkflowConfig } from './deploy/states';
import { VerifyDeployment } from './deploy/verify-deployment';
import { productionParameterName } from './names';
import { guard, sdkRetry, workflowLogsOf, workflowStateMachine } from './workflow-kit';

export { deploymentConfig } from './deploy/rollout';
export { DEPLOY_STATES, type DeployWorkflowConfig } from './deploy/states';

/** Props of {@link DeployWorkflow}. */
export interface DeployWorkflowProps {
  /** The endpoint, the blue/green settings, the name prefix and the log retention. */
  readonly config: DeployWorkflowConfig;
  /** Holds `runs/<runId>/evaluation/summary.json`. */
  readonly dataBucket: s3.IBucket;
  /** Encrypts the endpoint's storage volumes; decrypts the summary. */
  readonly key: kms.IKey;
  /**
   * Writes `runs/<runId>/deployment.json` (a rollback's: `runs/<runId>/rollbacks/<id>.json`) and, on
   * success, the SSM production record
   * (`productionParameterName(config)`, which the workflow reads before it touches the endpoint).
   */
  readonly recordDeployment: lambda.IFunction;
  /** Asks the live API for recommendations after a deployment. */
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
  /** The Standard state machine the pipeline's Deploy stage starts. */
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: DeployWorkflowProps) {
    super(scope, id);
    const { config } = props;
    const { deployment } = config;
    if (props.rollbackAlarmNames.length < 1 || props.rollbackAlarmNames.length > 10) {
      throw new Error(`rollbackAlarmNames must hold 1 to 10 alarms, got ${props.rollbackAlarmNames.length}`);
    }
    const targets = deployTargets(this, config, props.rollbackAlarmNames);
    const alarms = { rollbackAlarmNames: props.rollbackAlarmNames, alarmArns: targets.alarmArns };
    const failure = new DeployFailurePath(this, 'FailurePath', {
      recordDeployment: props.recordDeployment,
      alerts: props.alerts,
      ...alarms,
    });
    // Built in the order of the original single constructor: the order in which states catch into the
    // failure path decides the order of the States in the rendered definition (kept byte-identical).
    const loadCandidate = this.loadCandidate(props.dataBucket, failure);
    const rollout = new Rollout(this, 'Rollout', {
      config,
      targets,
      keyArn: props.key.keyArn,
      rollbackAlarmNames: props.rollbackAlarmNames,
      failure,
    });
    const verify = new VerifyDeployment(this, 'Verify', {
      recordDeployment: props.recordDeployment,
      smokeTest: props.smokeTest,
      alerts: props.alerts,
      ...alarms,
      failure,
      noticeFailure: failure.notifyFailure,
    });
    const endpoint = { endpointName: config.endpoint.name, endpointArn: targets.endpointArn };
    rollout.next(new PollEndpoint(this, 'Poll', { ...endpoint, deployment, inService: verify, failure }));
    const checkBaseline = new CheckBaseline(this, 'CheckBaseline', {
      productionParameterName: productionParameterName(config),
      productionParameterArn: targets.productionParameterArn,
      recordDeployment: props.recordDeployment,
      alerts: props.alerts,
      then: rollout,
      failure,
    });

    this.stateMachine = workflowStateMachine(this, 'StateMachine', {
      definition: loadCandidate.next(this.gatePassed(checkBaseline)),
      key: props.key,
      logRetentionDays: config.logRetentionDays,
      // One poll budget for deleting a Failed endpoint, one for the update; an hour more for the config,
      // the records and the smoke test.
      timeout: Duration.seconds(2 * deployment.maxPolls * deployment.pollIntervalSeconds + 3600),
      comment: 'reelflow deploy: blue/green endpoint update with auto-rollback, recorded and smoke-tested',
      // Never with execution data (pipeline/config-rules.ts): the state holds the decrypted production record.
      logs: workflowLogsOf(config, 'deploy'),
    });
    grantDeployPermissions(this.stateMachine, targets, {
      key: props.key,
      dataBucket: props.dataBucket,
      functions: [props.recordDeployment, props.smokeTest],
    });
  }

  /**
   * LoadCandidate: the state becomes `{ runId, request, candidate: RunSummary }`, `request` being the
   * execution input as given (the pipeline's `{ runId }`, or a rollback request with `rollback`).
   */
  private loadCandidate(dataBucket: s3.IBucket, failure: sfn.IChainable): tasks.CallAwsService {
    return guard(
      new tasks.CallAwsService(this, S.loadCandidate, {
        service: 's3',
        action: 'getObject',
        parameters: {
          Bucket: dataBucket.bucketName,
          Key: sfn.JsonPath.format('runs/{}/evaluation/summary.json', sfn.JsonPath.stringAt('$.runId')),
        },
        iamResources: [dataBucket.arnForObjects('runs/*')],
        // No ResultPath: the result replaces the state with { runId, request, candidate: RunSummary }. (An
        // explicit "ResultPath": "$" means the same in Step Functions, but aws-local-stepfunctions 3.0
        // mishandles it.) The whole input is kept as `request`: a path to `rollback`, absent from a
        // pipeline run's input, would be a States.Runtime error here.
        resultSelector: {
          'runId.$': '$$.Execution.Input.runId',
          'request.$': '$$.Execution.Input',
          'candidate.$': 'States.StringToJson($.Body)',
        },
      }),
      failure,
      [sdkRetry('S3')],
    );
  }

  /**
   * GatePassed?: a nothing-to-do summary ends NothingToDeploy, a passed gate goes on to `next` (the
   * baseline check, then the rollout; a rollback request first through the rollback's own states, which
   * its rules name), anything else is refused. The nothing-to-do rule comes first: such a summary has no
   * gate, and IsPresent guards the test.
   */
  private gatePassed(next: CheckBaseline): sfn.Choice {
    const nothingToDeploy = new sfn.Succeed(this, S.nothingToDeploy, {
      comment: 'The run found no rating file: nothing was trained, nothing changes',
    });
    const candidateRefused = new sfn.Fail(this, S.candidateRefused, {
      error: 'GateNotPassed',
      cause: "The candidate's gate did not pass; it cannot be deployed.",
    });
    const passed = sfn.Condition.booleanEquals('$.candidate.gate.passed', true);
    const choice = new sfn.Choice(this, S.gatePassed).when(
      sfn.Condition.and(
        sfn.Condition.isPresent('$.candidate.nothingToDo'),
        sfn.Condition.booleanEquals('$.candidate.nothingToDo', true),
      ),
      nothingToDeploy,
    );
    for (const rule of next.rollbackRules) choice.when(sfn.Condition.and(passed, rule.condition), rule.next);
    return choice.when(passed, next).otherwise(candidateRefused);
  }
}
