/**
 * The deploy workflow's stale-baseline check, before it touches the endpoint: the candidate was
 * evaluated against the production version its summary names (`productionRunId`, null = none yet); if
 * another run was deployed since, that comparison no longer says anything about the version it would
 * replace, and the candidate is rejected with that reason (re-evaluating is the Retrain stage's job).
 *
 *   ReadProduction (SSM, decrypted; not found: NoProduction) -> SameProduction?
 *     same version (or none on both sides): the rollout
 *     otherwise: RecordStaleBaseline -> NotifyStaleBaseline -> StaleBaseline (Fail)
 */
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { guard, LAMBDA_RETRY, sdkRetry, SNS_RETRY } from '../workflow-kit';
import { notice, recordOutcome } from './outcomes';
import { DEPLOY_STATES as S } from './states';

/** The run id of the version the candidate was compared with (RunSummary.productionRunId). */
const COMPARED_WITH = '$.candidate.productionRunId';
/** The run id of the version serving now (ProductionRecord.runId, read by ReadProduction). */
const SERVING = '$.production.record.runId';

/** Props of {@link CheckBaseline}. */
export interface CheckBaselineProps {
  /** The SSM parameter with the production record (JSON ProductionRecord), absent before the first deploy. */
  readonly productionParameterName: string;
  /** Its ARN (the only parameter the deploy role may read). */
  readonly productionParameterArn: string;
  /** Writes the stale-baseline record. */
  readonly recordDeployment: lambda.IFunction;
  /** Receives the rejection notice. */
  readonly alerts: sns.ITopic;
  /** Where a candidate compared with the serving version goes on (the rollout). */
  readonly then: sfn.IChainable;
  /** Where every error goes (the failure path). */
  readonly failure: sfn.IChainable;
}

/** ReadProduction through SameProduction?; the rollout follows, a stale candidate ends StaleBaseline. */
export class CheckBaseline extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[] = [];

  constructor(scope: Construct, id: string, props: CheckBaselineProps) {
    super(scope, id);
    const readProduction = guard(this.readProduction(props), props.failure, [sdkRetry('Ssm')]);
    const noProduction = new sfn.Pass(this, S.noProduction, {
      comment: 'Nothing was deployed yet',
      result: sfn.Result.fromObject({ record: null }),
      resultPath: '$.production',
    });
    const stale = this.staleBaseline(props);
    // IsNull: true only (aws-local-stepfunctions 3.0 never matches IsNull: false), so the null cases
    // come first; IsPresent guards the string comparison against a record without a run id.
    const sameProduction = new sfn.Choice(this, S.sameProduction, {
      comment: 'The candidate was compared with the version serving now (or with none, and none serves)',
    })
      .when(
        sfn.Condition.and(sfn.Condition.isNull(COMPARED_WITH), sfn.Condition.isNull('$.production.record')),
        props.then,
      )
      .when(
        sfn.Condition.or(sfn.Condition.isNull(COMPARED_WITH), sfn.Condition.isNull('$.production.record')),
        stale,
      )
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent(SERVING),
          sfn.Condition.stringEqualsJsonPath(COMPARED_WITH, SERVING),
        ),
        props.then,
      )
      .otherwise(stale);
    readProduction.addCatch(noProduction, {
      errors: ['Ssm.ParameterNotFoundException'],
      resultPath: sfn.JsonPath.DISCARD,
    });
    noProduction.next(sameProduction);
    readProduction.next(sameProduction);
    this.startState = readProduction;
  }

  /** ReadProduction: the production record from SSM (decrypted), parsed into `$.production.record`. */
  private readProduction(props: CheckBaselineProps): tasks.CallAwsService {
    return new tasks.CallAwsService(this, S.readProduction, {
      service: 'ssm',
      action: 'getParameter',
      parameters: { Name: props.productionParameterName, WithDecryption: true },
      iamResources: [props.productionParameterArn],
      resultSelector: { 'record.$': 'States.StringToJson($.Parameter.Value)' },
      resultPath: '$.production',
    });
  }

  /** RecordStaleBaseline -> NotifyStaleBaseline -> StaleBaseline: the reason is the record's. */
  private staleBaseline(props: CheckBaselineProps): sfn.IChainable {
    const recordStale = guard(
      recordOutcome(this, S.recordStaleBaseline, props.recordDeployment, 'stale-baseline'),
      props.failure,
      [LAMBDA_RETRY],
    );
    const staleBaseline = new sfn.Fail(this, S.staleBaseline, {
      error: 'StaleBaseline',
      causePath: '$.recorded.record.reason',
    });
    const notifyStale = guard(
      notice(this, S.notifyStaleBaseline, props.alerts, {
        subject: 'reelflow: deployment rejected, stale baseline',
        event: 'deploy-failed',
        message: [
          'reelflow deploy run {} was rejected before touching the endpoint; see runs/{}/deployment.json. {}',
          '$.runId',
          '$.runId',
          '$.recorded.record.reason',
        ],
      }),
      staleBaseline,
      [SNS_RETRY],
      '$.notifyError',
    );
    return recordStale.next(notifyStale).next(staleBaseline);
  }
}
