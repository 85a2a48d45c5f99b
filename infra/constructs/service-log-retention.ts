import { CfnResource, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgePolicies } from '../../pipeline/nag';

/** The log groups SageMaker writes to for this project's jobs and endpoint. */
export function sageMakerLogGroupNames(endpointName: string): string[] {
  return [
    '/aws/sagemaker/TrainingJobs',
    '/aws/sagemaker/TransformJobs',
    `/aws/sagemaker/Endpoints/${endpointName}`,
  ];
}

/** The execution log group API Gateway creates for a REST API stage. */
export function apiGatewayExecutionLogGroupName(restApiId: string, stageName: string): string {
  return `API-Gateway-Execution-Logs_${restApiId}/${stageName}`;
}

export interface ServiceLogRetentionProps {
  /** The log groups AWS services create on their own (they may already exist in the account). */
  readonly logGroupNames: readonly string[];
  /** Retention of those groups, days (one of CloudWatch's allowed values). */
  readonly retentionDays: number;
  /** Encrypts the log group of the retention function itself. */
  readonly logKey: kms.IKey;
}

/**
 * Retention for log groups that services create themselves (SageMaker jobs and endpoints, API Gateway
 * execution logs), which a stack cannot own as `AWS::Logs::LogGroup`: the group may exist before the
 * first deploy (creating it would fail) and survives `cdk destroy`. aws-cdk-lib's LogRetention custom
 * resource creates a missing group, or keeps an existing one, and sets its retention; on stack
 * deletion it leaves the group and its logs.
 *
 * Its singleton function gets a role scoped to exactly these groups and its own KMS-encrypted log group
 * with the same retention, instead of the default AWS managed basic execution role.
 */
export class ServiceLogRetention extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ServiceLogRetentionProps) {
    super(scope, id);
    if (props.logGroupNames.length === 0) throw new Error('ServiceLogRetention: logGroupNames is empty');
    const stack = Stack.of(this);
    const groupArn = (name: string): string =>
      `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:${name}`;

    const ownLogs = new logs.LogGroup(this, 'FunctionLogs', {
      retention: props.retentionDays as logs.RetentionDays,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'reelflow: sets the retention of log groups SageMaker and API Gateway create',
    });
    ownLogs.grantWrite(this.role);
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:PutRetentionPolicy', 'logs:DeleteRetentionPolicy'],
        resources: props.logGroupNames.map(groupArn),
      }),
    );

    let provider: CfnResource | undefined;
    for (const [index, logGroupName] of props.logGroupNames.entries()) {
      const retention = new logs.LogRetention(this, `Retention${index}`, {
        logGroupName,
        retention: props.retentionDays as logs.RetentionDays,
        role: this.role,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      provider ??= singletonFunctionOf(retention);
    }
    // The provider function logs to its own group (with retention) instead of a never-expiring default one.
    provider?.addPropertyOverride('LoggingConfig', { LogGroup: ownLogs.logGroupName });

    acknowledgePolicies(this.role, {
      'AwsSolutions-IAM5[Resource::*]':
        "aws-cdk-lib's LogRetention provider always adds logs:PutRetentionPolicy/DeleteRetentionPolicy on * " +
        'to its role; the statement next to it scopes the same actions to the project log groups.',
    });
  }
}

/** The stack-wide function behind every LogRetention (aws-cdk-lib creates it once per stack). */
function singletonFunctionOf(retention: logs.LogRetention): CfnResource | undefined {
  const stack = Stack.of(retention);
  const provider = stack.node.children.find((c) => c.node.id.startsWith('LogRetention'));
  const resource = provider?.node.tryFindChild('Resource');
  return resource && CfnResource.isCfnResource(resource) ? resource : undefined;
}
