/**
 * How the deploy workflow records and announces an outcome: the alarm read, the record-deployment
 * invocation and the SNS notice builders, and the failure path every other phase catches into.
 *
 *   failure path: ReadFailureAlarms -> RecordFailure -> NotifyFailure -> DeployFailed
 */
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { DeploymentRecord } from '../../functions/contracts';
import { guard, LAMBDA_RETRY, sdkRetry, SNS_RETRY } from '../workflow-kit';
import { DEPLOY_STATES as S } from './states';

/** The outcomes record-deployment writes. */
export type DeploymentOutcome = DeploymentRecord['outcome'];

/** The rollback alarms currently in ALARM, as the whole DescribeAlarms response at `$.alarms`. */
export function readAlarms(
  scope: Construct,
  id: string,
  names: readonly string[],
  arns: string[],
): tasks.CallAwsService {
  return new tasks.CallAwsService(scope, id, {
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

/** Invokes record-deployment with the whole state and `outcome`; its result goes to `$.recorded`. */
export function recordOutcome(
  scope: Construct,
  id: string,
  fn: lambda.IFunction,
  outcome: DeploymentOutcome,
): tasks.LambdaInvoke {
  return new tasks.LambdaInvoke(scope, id, {
    lambdaFunction: fn,
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    payload: sfn.TaskInput.fromObject({ outcome, state: sfn.JsonPath.entirePayload }),
    resultPath: '$.recorded',
  });
}

/** What a notice says: its subject, its `event` attribute and a message template with its paths. */
export interface NoticeSpec {
  /** The e-mail subject. */
  readonly subject: string;
  /** The `event` message attribute subscribers filter on. */
  readonly event: string;
  /** `States.Format` template, then one JSONPath (or `States.` intrinsic) per `{}`. */
  readonly message: [string, ...string[]];
}

/** An SNS notice; the publish result is discarded. */
export function notice(scope: Construct, id: string, topic: sns.ITopic, spec: NoticeSpec): tasks.SnsPublish {
  const [template, ...paths] = spec.message;
  return new tasks.SnsPublish(scope, id, {
    topic,
    subject: spec.subject,
    message: sfn.TaskInput.fromText(
      sfn.JsonPath.format(
        template,
        ...paths.map((path) => (path.startsWith('States.') ? path : sfn.JsonPath.stringAt(path))),
      ),
    ),
    messageAttributes: { event: { value: spec.event } },
    resultPath: sfn.JsonPath.DISCARD,
  });
}

/** Props of {@link DeployFailurePath}. */
export interface DeployFailurePathProps {
  /** Writes the failure record (`runs/<runId>/deployment.json`, a rollback's under `rollbacks/`). */
  readonly recordDeployment: lambda.IFunction;
  /** Receives the failure notice. */
  readonly alerts: sns.ITopic;
  /** The rollback alarms, read into the record. */
  readonly rollbackAlarmNames: readonly string[];
  /** Their ARNs. */
  readonly alarmArns: string[];
}

/**
 * ReadFailureAlarms -> RecordFailure -> NotifyFailure -> DeployFailed: read the alarms, record, notify,
 * fail with the caught error. A failing step skips ahead, so the run still fails with a notice.
 */
export class DeployFailurePath extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[] = [];
  /** NotifyFailure: where a failed success notice goes, past the recording. */
  readonly notifyFailure: sfn.IChainable;

  constructor(scope: Construct, id: string, props: DeployFailurePathProps) {
    super(scope, id);
    const deployFailed = new sfn.Fail(this, S.deployFailed, {
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const notifyFailure = guard(
      notice(this, S.notifyFailure, props.alerts, {
        subject: 'reelflow: deployment failed',
        event: 'deploy-failed',
        message: [
          // The execution's name says whether it was the pipeline's deploy or a rollback (`rollback-...`,
          // recorded under runs/<runId>/rollbacks/): the record may be missing here, so not its key.
          'reelflow deploy {} of run {} failed; see its record under runs/{}/. Error: {}',
          '$$.Execution.Name',
          '$.runId',
          '$.runId',
          'States.JsonToString($.error)',
        ],
      }),
      deployFailed,
      [SNS_RETRY],
      '$.notifyError',
    );
    const recordFailure = guard(
      recordOutcome(this, S.recordFailure, props.recordDeployment, 'failed'),
      notifyFailure,
      [LAMBDA_RETRY],
      '$.recordError',
    );
    const readFailureAlarms = guard(
      readAlarms(this, S.readFailureAlarms, props.rollbackAlarmNames, props.alarmArns),
      recordFailure,
      [sdkRetry('CloudWatch')],
      '$.alarmsError',
    );
    readFailureAlarms.next(recordFailure).next(notifyFailure).next(deployFailed);
    this.startState = readFailureAlarms;
    this.notifyFailure = notifyFailure;
  }
}
