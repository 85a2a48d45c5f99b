/**
 * The deploy workflow's rollout: this attempt's endpoint config, then the one change the endpoint's
 * state allows (a blue/green update, a first create, or delete-and-create for a Failed endpoint).
 *
 *   NameEndpointConfig -> CreateEndpointConfig -> FindEndpoint -> EndpointExists?
 *     Failed:    ReplaceFailedEndpoint (delete, wait until gone) -> CreateEndpoint
 *     exists:    UpdateEndpoint (blue/green, CANARY | LINEAR | ALL_AT_ONCE, bake, auto-rollback alarms)
 *     not found: CreateEndpoint (the first approved run)
 *     otherwise: FindEndpointFailed -> failure path
 *
 * UpdateEndpoint is an AWS SDK call task: the CDK SageMakerUpdateEndpoint task cannot pass
 * DeploymentConfig.
 */
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { CapacitySize, DeployConfig } from '../config';
import { VARIANT_NAME } from '../names';
import { guard, SAGEMAKER_RETRY, sageMakerTask, sdkRetry } from '../workflow-kit';
import { ReplaceFailedEndpoint } from './replace-failed-endpoint';
import {
  DEPLOY_STATES as S,
  type DeployTargets,
  type DeployWorkflowConfig,
  ENDPOINT_CONFIG_NAME_EXPRESSION,
  ENDPOINT_CONFIG_NAME_PATH,
  endpointNotFound,
} from './states';

/** Props of {@link Rollout}. */
export interface RolloutProps {
  /** The endpoint (name, instances) and the blue/green settings. */
  readonly config: Pick<DeployWorkflowConfig, 'endpoint' | 'deployment'>;
  /** The endpoint, endpoint config and alarm ARNs. */
  readonly targets: DeployTargets;
  /** Encrypts the endpoint's storage volumes (KmsKeyId of the endpoint config). */
  readonly keyArn: string;
  /** The CloudWatch alarms (by name) that roll an update back. */
  readonly rollbackAlarmNames: readonly string[];
  /** Where every error goes (the failure path). */
  readonly failure: sfn.IChainable;
}

/** NameEndpointConfig through UpdateEndpoint or CreateEndpoint, which are its end states. */
export class Rollout extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: RolloutProps) {
    super(scope, id);
    const { config, targets, failure } = props;
    const endpointName = config.endpoint.name;
    const nameEndpointConfig = new sfn.Pass(this, S.nameEndpointConfig, {
      comment: 'A new endpoint config name per attempt: a retried Deploy stage keeps the run id',
      parameters: { 'name.$': ENDPOINT_CONFIG_NAME_EXPRESSION },
      resultPath: '$.endpointConfig',
    });
    const updateEndpoint = guard(
      new tasks.CallAwsService(this, S.updateEndpoint, {
        service: 'sagemaker',
        action: 'updateEndpoint',
        parameters: {
          EndpointName: endpointName,
          EndpointConfigName: sfn.JsonPath.stringAt(ENDPOINT_CONFIG_NAME_PATH),
          RetainAllVariantProperties: false,
          DeploymentConfig: deploymentConfig(config, props.rollbackAlarmNames),
        },
        iamResources: [targets.endpointArn, targets.endpointConfigArn],
        resultPath: sfn.JsonPath.DISCARD,
      }),
      failure,
      [sdkRetry('SageMaker')],
    );
    const createEndpoint = guard(
      sageMakerTask(this, S.createEndpoint, {
        action: 'createEndpoint',
        comment: 'The first approved run: nothing serves yet, so no guardrails are needed',
        parameters: { EndpointName: endpointName, 'EndpointConfigName.$': ENDPOINT_CONFIG_NAME_PATH },
      }),
      failure,
      [SAGEMAKER_RETRY],
    );
    const replaceFailed = new ReplaceFailedEndpoint(this, 'ReplaceFailedEndpoint', {
      endpointName,
      endpointArn: targets.endpointArn,
      deployment: config.deployment,
      then: createEndpoint,
      failure,
    });
    const findEndpointFailed = new sfn.Pass(this, S.findEndpointFailed, {
      comment: 'DescribeEndpoint failed for another reason than a missing endpoint',
      inputPath: '$.findError',
      resultPath: '$.error',
    });
    const endpointExists = new sfn.Choice(this, S.endpointExists)
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent('$.existing'),
          sfn.Condition.stringEquals('$.existing.status', 'Failed'),
        ),
        replaceFailed,
      )
      .when(sfn.Condition.isPresent('$.existing'), updateEndpoint)
      .when(endpointNotFound('$.findError'), createEndpoint)
      .otherwise(findEndpointFailed);
    findEndpointFailed.next(failure);
    nameEndpointConfig
      .next(this.createEndpointConfig(props))
      .next(this.findEndpoint(props, endpointExists))
      .next(endpointExists);
    this.startState = nameEndpointConfig;
    this.endStates = [updateEndpoint, createEndpoint];
  }

  /** CreateEndpointConfig: the candidate model on variant AllTraffic, volumes encrypted. */
  private createEndpointConfig(props: RolloutProps): sfn.CustomState {
    const { endpoint } = props.config;
    return guard(
      sageMakerTask(this, S.createEndpointConfig, {
        action: 'createEndpointConfig',
        parameters: {
          'EndpointConfigName.$': ENDPOINT_CONFIG_NAME_PATH,
          KmsKeyId: props.keyArn,
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
      props.failure,
      [SAGEMAKER_RETRY],
    );
  }

  /** FindEndpoint: the endpoint's status and config at `$.existing`, or its error at `$.findError`. */
  private findEndpoint(props: RolloutProps, endpointExists: sfn.Choice): tasks.CallAwsService {
    const findEndpoint = new tasks.CallAwsService(this, S.findEndpoint, {
      service: 'sagemaker',
      action: 'describeEndpoint',
      parameters: { EndpointName: props.config.endpoint.name },
      iamResources: [props.targets.endpointArn],
      resultSelector: { 'status.$': '$.EndpointStatus', 'configName.$': '$.EndpointConfigName' },
      resultPath: '$.existing',
    });
    findEndpoint.addRetry(sdkRetry('SageMaker'));
    // A missing endpoint is no modelled SDK error: it comes as SageMaker's generic exception with
    // "Could not find endpoint" in the cause, which EndpointExists? tells apart from real failures.
    findEndpoint.addCatch(endpointExists, {
      errors: ['SageMaker.SageMakerException', 'SageMaker.ValidationException'],
      resultPath: '$.findError',
    });
    findEndpoint.addCatch(props.failure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    return findEndpoint;
  }
}

/**
 * UpdateEndpoint's DeploymentConfig from the config: blue/green with the configured traffic routing,
 * wait interval (required even for ALL_AT_ONCE), bake (termination wait) and execution timeout, and
 * auto-rollback on the given alarms.
 */
export function deploymentConfig(
  config: Pick<DeployConfig, 'deployment'>,
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
