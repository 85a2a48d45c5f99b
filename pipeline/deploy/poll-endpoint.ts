/**
 * The deploy workflow's wait for the endpoint: Step Functions has no `.sync` for endpoints, so it polls
 * DescribeEndpoint within a budget until the endpoint is InService or has failed.
 *
 *   StartPolling -> WaitForEndpoint -> DescribeEndpoint -> EndpointStatus?
 *     InService -> `inService` (the verification)
 *     Failed | UpdateRollbackFailed | OutOfService | Deleting -> EndpointFailed -> failure path
 *     otherwise -> CountPoll -> PollBudgetLeft? -> WaitForEndpoint | PollTimedOut -> failure path
 */
import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { DeploymentConfig } from '../config';
import { guard, sdkRetry } from '../workflow-kit';
import { DEPLOY_STATES as S, ENDPOINT_FAILED_STATUSES } from './states';

/** Props of {@link PollEndpoint}. */
export interface PollEndpointProps {
  /** The live endpoint's name. */
  readonly endpointName: string;
  /** Its ARN (DescribeEndpoint is granted on it only). */
  readonly endpointArn: string;
  /** The poll interval and budget. */
  readonly deployment: Pick<DeploymentConfig, 'pollIntervalSeconds' | 'maxPolls'>;
  /** Where an InService endpoint goes (its description is at `$.endpoint`). */
  readonly inService: sfn.IChainable;
  /** Where every error goes (the failure path). */
  readonly failure: sfn.IChainable;
}

/** StartPolling through EndpointStatus?; no end states (it continues at `inService` or fails). */
export class PollEndpoint extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[] = [];

  constructor(scope: Construct, id: string, props: PollEndpointProps) {
    super(scope, id);
    const { deployment, failure } = props;
    const startPolling = new sfn.Pass(this, S.startPolling, {
      result: sfn.Result.fromObject({ count: 0 }),
      resultPath: '$.polls',
    });
    const waitForEndpoint = new sfn.Wait(this, S.waitForEndpoint, {
      time: sfn.WaitTime.duration(Duration.seconds(deployment.pollIntervalSeconds)),
    });
    const describeEndpoint = guard(
      new tasks.CallAwsService(this, S.describeEndpoint, {
        service: 'sagemaker',
        action: 'describeEndpoint',
        parameters: { EndpointName: props.endpointName },
        iamResources: [props.endpointArn],
        resultPath: '$.endpoint',
      }),
      failure,
      [sdkRetry('SageMaker', 'SageMaker.SageMakerException')],
    );
    const endpointFailed = new sfn.Pass(this, S.endpointFailed, {
      parameters: {
        Error: 'EndpointFailed',
        'Cause.$': "States.Format('The endpoint is {} after the update', $.endpoint.EndpointStatus)",
      },
      resultPath: '$.error',
    });
    startPolling
      .next(waitForEndpoint)
      .next(describeEndpoint)
      .next(
        new sfn.Choice(this, S.endpointStatus)
          .when(sfn.Condition.stringEquals('$.endpoint.EndpointStatus', 'InService'), props.inService)
          .when(
            sfn.Condition.or(
              ...ENDPOINT_FAILED_STATUSES.map((status) =>
                sfn.Condition.stringEquals('$.endpoint.EndpointStatus', status),
              ),
            ),
            endpointFailed.next(failure),
          )
          .otherwise(this.nextPoll(deployment, waitForEndpoint, failure)),
      );
    this.startState = startPolling;
  }

  /** CountPoll -> PollBudgetLeft? -> `wait` again, or PollTimedOut -> `failure`. */
  private nextPoll(
    deployment: PollEndpointProps['deployment'],
    wait: sfn.IChainable,
    failure: sfn.IChainable,
  ): sfn.IChainable {
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
    return countPoll.next(
      new sfn.Choice(this, S.pollBudgetLeft)
        .when(sfn.Condition.numberLessThan('$.polls.count', deployment.maxPolls), wait)
        .otherwise(pollTimedOut.next(failure)),
    );
  }
}
