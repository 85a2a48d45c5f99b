/**
 * The deploy workflow's verdict on an InService endpoint: an auto-rolled-back update also ends
 * InService, on the old config, so success is InService *and* this attempt's EndpointConfigName.
 * Each verdict is recorded (record-deployment) and announced; the notices name the deployment as the
 * record does (`$.recorded.label`: the run, or the rollback to it).
 *
 *   NewConfigServing?
 *     yes: RecordDeployed (SSM production record) -> SmokeTest -> NotifyDeployed -> Deployed
 *     no:  ReadRollbackAlarms -> RecordRollback -> NotifyRollback -> RolledBack
 */
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { guard, LAMBDA_RETRY, lambdaStep, sdkRetry, SNS_RETRY } from '../workflow-kit';
import { notice, readAlarms, recordOutcome } from './outcomes';
import { DEPLOY_STATES as S, ENDPOINT_CONFIG_NAME_PATH } from './states';

/** Props of {@link VerifyDeployment}. */
export interface VerifyDeploymentProps {
  /** Writes the deployed or rolled-back record. */
  readonly recordDeployment: lambda.IFunction;
  /** Asks the live API for recommendations after a deployment. */
  readonly smokeTest: lambda.IFunction;
  /** Receives the deployed and rolled-back notices. */
  readonly alerts: sns.ITopic;
  /** The rollback alarms, read into a rollback record. */
  readonly rollbackAlarmNames: readonly string[];
  /** Their ARNs. */
  readonly alarmArns: string[];
  /** Where every error goes (the failure path). */
  readonly failure: sfn.IChainable;
  /** Where a failed deployed notice goes (NotifyFailure: the deployment itself is recorded). */
  readonly noticeFailure: sfn.IChainable;
}

/** NewConfigServing? through Deployed or RolledBack; no end states (both verdicts are final). */
export class VerifyDeployment extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[] = [];

  constructor(scope: Construct, id: string, props: VerifyDeploymentProps) {
    super(scope, id);
    this.startState = new sfn.Choice(this, S.newConfigServing)
      .when(
        sfn.Condition.stringEqualsJsonPath('$.endpoint.EndpointConfigName', ENDPOINT_CONFIG_NAME_PATH),
        this.deployed(props),
      )
      .otherwise(this.rolledBack(props));
  }

  /** RecordDeployed -> SmokeTest -> NotifyDeployed -> Deployed. */
  private deployed(props: VerifyDeploymentProps): sfn.IChainable {
    const recordDeployed = guard(
      recordOutcome(this, S.recordDeployed, props.recordDeployment, 'deployed'),
      props.failure,
      [LAMBDA_RETRY],
    );
    const smokeTest = guard(
      lambdaStep(
        this,
        S.smokeTest,
        props.smokeTest,
        { runId: sfn.JsonPath.stringAt('$.runId') },
        '$.smokeTest',
      ),
      props.failure,
      [LAMBDA_RETRY],
    );
    const notifyDeployed = guard(
      notice(this, S.notifyDeployed, props.alerts, {
        subject: 'reelflow: new model deployed',
        event: 'deployed',
        message: [
          // `run <runId>`, or `rollback <id> to run <runId> (from <runId>)`.
          'reelflow {} is live on endpoint {} ({}); the smoke test passed.',
          '$.recorded.label',
          '$.endpoint.EndpointName',
          '$.endpoint.EndpointConfigName',
        ],
      }),
      props.noticeFailure,
      [SNS_RETRY],
    );
    const deployed = new sfn.Succeed(this, S.deployed, { outputPath: '$.recorded' });
    return recordDeployed.next(smokeTest).next(notifyDeployed).next(deployed);
  }

  /** ReadRollbackAlarms -> RecordRollback -> NotifyRollback -> RolledBack. */
  private rolledBack(props: VerifyDeploymentProps): sfn.IChainable {
    const readRollbackAlarms = guard(
      readAlarms(this, S.readRollbackAlarms, props.rollbackAlarmNames, props.alarmArns),
      props.failure,
      [sdkRetry('CloudWatch')],
    );
    const recordRollback = guard(
      recordOutcome(this, S.recordRollback, props.recordDeployment, 'rolled-back'),
      props.failure,
      [LAMBDA_RETRY],
    );
    const rolledBack = new sfn.Fail(this, S.rolledBack, {
      error: 'RolledBack',
      causePath: '$.recorded.record.reason',
    });
    const notifyRollback = guard(
      notice(this, S.notifyRollback, props.alerts, {
        subject: 'reelflow: deployment rolled back',
        event: 'rolled-back',
        message: [
          'reelflow {} was rolled back; the previous version keeps serving. {}',
          '$.recorded.label',
          '$.recorded.record.reason',
        ],
      }),
      rolledBack,
      [SNS_RETRY],
      '$.notifyError',
    );
    return readRollbackAlarms.next(recordRollback).next(notifyRollback).next(rolledBack);
  }
}
