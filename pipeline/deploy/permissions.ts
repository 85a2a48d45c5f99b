/**
 * The ARNs the deploy workflow acts on, what its state machine's role needs beyond the CDK tasks' own
 * grants, and the cdk-nag findings that scope leaves, each with its reason.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { IConstruct } from 'constructs';
import { productionParameterName } from '../names';
import { acknowledge, acknowledgeFunctionVersions, resourceFinding } from '../nag';
import { grantKeyForSageMaker, grantKeyViaService } from '../workflow-kit';
import type { DeployTargets, DeployWorkflowConfig } from './states';

/**
 * The endpoint, the project's endpoint configs, the rollback alarms and the production record's SSM
 * parameter, as ARNs in the stack of `scope`.
 */
export function deployTargets(
  scope: IConstruct,
  config: Pick<DeployWorkflowConfig, 'endpoint' | 'resourcePrefix'>,
  rollbackAlarmNames: readonly string[],
): DeployTargets {
  const stack = Stack.of(scope);
  return {
    endpointArn: stack.formatArn({
      service: 'sagemaker',
      resource: 'endpoint',
      resourceName: config.endpoint.name,
    }),
    endpointConfigArn: stack.formatArn({
      service: 'sagemaker',
      resource: 'endpoint-config',
      resourceName: `${config.resourcePrefix}-*`,
    }),
    alarmArns: rollbackAlarmNames.map((name) =>
      stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    ),
    productionParameterArn: stack.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: productionParameterName(config).replace(/^\//, ''),
    }),
  };
}

/** What the deploy role is granted on, beyond the targets. */
export interface DeployGrantProps {
  /** The project key (endpoint volumes, the summary, the notices). */
  readonly key: kms.IKey;
  /** Holds the run summaries the workflow reads. */
  readonly dataBucket: s3.IBucket;
  /** The functions the workflow invokes. */
  readonly functions: readonly lambda.IFunction[];
}

/**
 * Grants the SageMaker, CloudWatch and KMS permissions of the deploy workflow, and acknowledges the
 * wildcards its role keeps. Returns the combined grant.
 */
export function grantDeployPermissions(
  stateMachine: sfn.StateMachine,
  targets: DeployTargets,
  props: DeployGrantProps,
): iam.Grant {
  const grants: iam.Grant[] = [];
  const allow = (actions: string[], resourceArns: string[]): void => {
    grants.push(iam.Grant.addToPrincipal({ grantee: stateMachine, actions, resourceArns }));
  };
  allow(['sagemaker:CreateEndpointConfig'], [targets.endpointConfigArn]);
  allow(['sagemaker:CreateEndpoint'], [targets.endpointArn, targets.endpointConfigArn]);
  allow(['sagemaker:AddTags', 'sagemaker:ListTags'], [targets.endpointArn, targets.endpointConfigArn]);
  // UpdateEndpoint checks the rollback alarms with the caller's permissions.
  allow(['cloudwatch:DescribeAlarms'], targets.alarmArns);
  // The endpoint config's KMS key encrypts the instances' storage volumes; ReadProduction decrypts the
  // production record's SecureString (ssm:GetParameter itself is the task's grant, on that parameter only).
  grants.push(
    grantKeyForSageMaker(stateMachine, props.key),
    grantKeyViaService(stateMachine, props.key, 's3', ['kms:Decrypt']),
    grantKeyViaService(stateMachine, props.key, 'ssm', ['kms:Decrypt']),
    grantKeyViaService(stateMachine, props.key, 'sns', ['kms:GenerateDataKey', 'kms:Decrypt']),
  );

  const role = stateMachine.role;
  acknowledgeFunctionVersions(role, props.functions);
  acknowledge(role, {
    [resourceFinding(stateMachine, targets.endpointConfigArn)]:
      'Each deploy attempt creates its endpoint config <prefix>-config-<runId>-<attempt>; both are only known at run time.',
    [resourceFinding(stateMachine, props.dataBucket.arnForObjects('runs/*'))]:
      'Reads the run summary runs/<runId>/evaluation/summary.json; the run id is only known at run time.',
    'AwsSolutions-IAM5[Resource::*]':
      'X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and ' +
      'the log delivery of the state machine (logs:CreateLogDelivery and related) have no resource-level permissions.',
  });
  return grants.reduce((all, grant) => all.combine(grant));
}
