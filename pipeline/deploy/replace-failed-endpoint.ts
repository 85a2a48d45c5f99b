/**
 * The rollout's branch for a Failed endpoint, which accepts no UpdateEndpoint: delete it, wait until
 * it is gone, then continue as on the first run (CreateEndpoint).
 *
 *   DeleteFailedEndpoint -> StartDeletionPolling -> WaitForDeletion -> CheckDeleted
 *     gone (not found):  EndpointGone? -> `then` (CreateEndpoint)
 *     other error:       EndpointGone? -> DeletionCheckFailed -> failure path
 *     still there:       CountDeletionPoll -> DeletionBudgetLeft? -> WaitForDeletion | DeletionTimedOut -> failure path
 */
import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { DeploymentConfig } from '../config';
import { guard, sdkRetry } from '../workflow-kit';
import { DEPLOY_STATES as S, endpointNotFound } from './states';

/** Props of {@link ReplaceFailedEndpoint}. */
export interface ReplaceFailedEndpointProps {
  /** The live endpoint's name. */
  readonly endpointName: string;
  /** Its ARN (the only resource DeleteEndpoint and DescribeEndpoint are granted on). */
  readonly endpointArn: string;
  /** The poll interval and budget. */
  readonly deployment: Pick<DeploymentConfig, 'pollIntervalSeconds' | 'maxPolls'>;
  /** Where to go once the endpoint is gone (CreateEndpoint). */
  readonly then: sfn.IChainable;
  /** Where every error goes (the failure path). */
  readonly failure: sfn.IChainable;
}

/** DeleteFailedEndpoint through EndpointGone?; no end states (it continues at `then` or fails). */
export class ReplaceFailedEndpoint extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[] = [];

  constructor(scope: Construct, id: string, props: ReplaceFailedEndpointProps) {
    super(scope, id);
    const { deployment, failure } = props;
    const deleteFailedEndpoint = guard(
      new tasks.CallAwsService(this, S.deleteFailedEndpoint, {
        comment: 'A Failed endpoint can only be deleted; the candidate is then deployed as on the first run',
        service: 'sagemaker',
        action: 'deleteEndpoint',
        parameters: { EndpointName: props.endpointName },
        iamResources: [props.endpointArn],
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
      .next(this.checkDeleted(props))
      .next(countDeletionPoll)
      .next(
        new sfn.Choice(this, S.deletionBudgetLeft)
          .when(sfn.Condition.numberLessThan('$.deletionPolls.count', deployment.maxPolls), waitForDeletion)
          .otherwise(deletionTimedOut.next(failure)),
      );
    this.startState = deleteFailedEndpoint;
  }

  /** CheckDeleted: DescribeEndpoint until it fails with "Could not find endpoint" (EndpointGone?). */
  private checkDeleted(props: ReplaceFailedEndpointProps): tasks.CallAwsService {
    const checkDeleted = new tasks.CallAwsService(this, S.checkDeleted, {
      service: 'sagemaker',
      action: 'describeEndpoint',
      parameters: { EndpointName: props.endpointName },
      iamResources: [props.endpointArn],
      resultSelector: { 'status.$': '$.EndpointStatus' },
      resultPath: '$.deleting',
    });
    const deletionCheckFailed = new sfn.Pass(this, S.deletionCheckFailed, {
      comment: 'DescribeEndpoint failed for another reason than a deleted endpoint',
      inputPath: '$.deleteCheck',
      resultPath: '$.error',
    });
    const endpointGone = new sfn.Choice(this, S.endpointGone)
      .when(endpointNotFound('$.deleteCheck'), props.then)
      .otherwise(deletionCheckFailed.next(props.failure));
    checkDeleted.addRetry(sdkRetry('SageMaker'));
    checkDeleted.addCatch(endpointGone, {
      errors: ['SageMaker.SageMakerException', 'SageMaker.ValidationException'],
      resultPath: '$.deleteCheck',
    });
    checkDeleted.addCatch(props.failure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    return checkDeleted;
  }
}
