/**
 * The deploy workflow's stale-baseline check, before it touches the endpoint: the candidate was
 * evaluated against the production version its summary names (`productionRunId`, null = none yet); if
 * another run was deployed since, that comparison no longer says anything about the version it would
 * replace, and the candidate is rejected with that reason (re-evaluating is the Retrain stage's job).
 *
 * A rollback (`request.rollback` in the execution input, see deploy-workflow.ts) is compared with the
 * version it rolls back from instead (`rollback.from`, what served when the operator asked): if someone
 * deployed meanwhile, the rollback would replace a version nobody meant to replace, and ends StaleBaseline.
 *
 *   (GatePassed? routes a rollback by {@link CheckBaseline.rollbackRules}, so a pipeline run's path keeps
 *    its states: a rollback with id and from goes to TakeRollbackRequest (-> $.rollback)
 *    -> CompareWithRollbackSource ($.rollback.from -> $.candidate.productionRunId); one without them
 *    ends InvalidRollback)
 *   -> ReadProduction (SSM, decrypted; not found: NoProduction) -> SameProduction?
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
/** A rollback request, as `reelflow rollback` puts it in the execution input (LoadCandidate keeps it). */
const ROLLBACK_REQUEST = '$.request.rollback';
/** Where TakeRollbackRequest puts it, for the comparison and for record-deployment. */
const ROLLBACK = '$.rollback';

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

/** A Choice rule: where a state matching `condition` goes. */
export interface ChoiceRule {
  readonly condition: sfn.Condition;
  readonly next: sfn.IChainable;
}

/**
 * ReadProduction through SameProduction? (and, for a rollback, the two Pass states before them); the
 * rollout follows, a stale candidate (or a rollback from a version that no longer serves) ends
 * StaleBaseline.
 */
export class CheckBaseline extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[] = [];
  /**
   * The rules, in order, that send a rollback request (a passed gate) in through TakeRollbackRequest, or
   * one without `id` or `from` to InvalidRollback; a pipeline run matches neither and starts at
   * ReadProduction.
   */
  readonly rollbackRules: readonly ChoiceRule[];

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
    this.rollbackRules = this.rollback(readProduction);
  }

  /**
   * A rollback request is taken into the state (`$.rollback`, which record-deployment reads), and its
   * `from` becomes the version to compare with, before `next` (ReadProduction).
   */
  private rollback(next: sfn.IChainable): ChoiceRule[] {
    const takeRequest = new sfn.Pass(this, S.takeRollbackRequest, {
      comment: 'The rollback request from the execution input',
      inputPath: ROLLBACK_REQUEST,
      resultPath: ROLLBACK,
    });
    const compareWithSource = new sfn.Pass(this, S.compareWithRollbackSource, {
      comment: 'A rollback replaces the version it rolls back from: that one must still serve',
      inputPath: `${ROLLBACK}.from`,
      resultPath: COMPARED_WITH,
    });
    const invalid = new sfn.Fail(this, S.invalidRollback, {
      error: 'InvalidRollbackRequest',
      cause: 'A rollback request needs rollback.id and rollback.from (the run id serving when it was asked).',
    });
    return [
      {
        condition: sfn.Condition.and(
          sfn.Condition.isPresent(`${ROLLBACK_REQUEST}.id`),
          sfn.Condition.isPresent(`${ROLLBACK_REQUEST}.from`),
        ),
        next: takeRequest.next(compareWithSource).next(next),
      },
      { condition: sfn.Condition.isPresent(ROLLBACK_REQUEST), next: invalid },
    ];
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
          // label: `run <runId>`, or the rollback's; key: the record's (a rollback has its own).
          'reelflow deploy {} was rejected before touching the endpoint; see {}. {}',
          '$.recorded.label',
          '$.recorded.key',
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
