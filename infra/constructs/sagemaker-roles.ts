import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { grantPrefixAccess } from './bucket-grants';
import { acknowledge, resourceFinding } from '../../pipeline/nag';
import { RUNS_PREFIX, VERIFY_PREFIX } from './data-bucket';
import type { ServingImage } from './serving-image';

export interface SageMakerRolesProps {
  /** The data bucket: the training role reads and writes `runs/`, the model role reads it. */
  readonly dataBucket: s3.IBucket;
  /** The project key the bucket's objects are encrypted with. */
  readonly key: kms.IKey;
  /** The pre/post image the model role pulls. */
  readonly servingImage: ServingImage;
}

/**
 * The two roles SageMaker assumes, separate from the state machines' roles that pass them:
 *
 * - `trainingRole`: the FM and k-NN training jobs read the run's prepared data and write their model
 *   artifacts, all under `runs/`, and log to `/aws/sagemaker/TrainingJobs`;
 * - `modelRole`: the execution role of each run's model (endpoint and batch transform): reads model data
 *   and transform input under `runs/`, writes transform output there, pulls the serving image and logs
 *   to `/aws/sagemaker/Endpoints/*` and `/aws/sagemaker/TransformJobs`.
 *
 * Both also reach `verify/`, where `reelflow verify-aws` runs its one-off training jobs and model.
 *
 * Both use the project key for volumes and outputs; grants on the key for volume encryption are
 * limited to AWS resources (`kms:GrantIsForAWSResource`).
 */
export class SageMakerRoles extends Construct {
  readonly trainingRole: iam.Role;
  readonly modelRole: iam.Role;

  constructor(scope: Construct, id: string, props: SageMakerRolesProps) {
    super(scope, id);
    const principal = new iam.ServicePrincipal('sagemaker.amazonaws.com');

    this.trainingRole = new iam.Role(this, 'TrainingRole', {
      assumedBy: principal,
      description: 'reelflow: SageMaker training jobs (built-in FM and k-NN)',
    });
    grantPrefixAccess(this.trainingRole, props.dataBucket, props.key, {
      read: [RUNS_PREFIX, VERIFY_PREFIX],
      write: [RUNS_PREFIX, VERIFY_PREFIX],
    });
    this.addCommonPolicies(this.trainingRole, props.key, ['TrainingJobs']);

    this.modelRole = new iam.Role(this, 'ModelRole', {
      assumedBy: principal,
      description: 'reelflow: execution role of each run model (endpoint and batch transform)',
    });
    grantPrefixAccess(this.modelRole, props.dataBucket, props.key, {
      read: [RUNS_PREFIX, VERIFY_PREFIX],
      write: [RUNS_PREFIX, VERIFY_PREFIX],
    });
    props.servingImage.grantPull(this.modelRole);
    this.addCommonPolicies(this.modelRole, props.key, ['Endpoints', 'TransformJobs']);
    Validations.of(this.modelRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken (added by the serving image grantPull) has no resource-level permissions; ' +
        'cloudwatch:PutMetricData has none either and is limited to the /aws/sagemaker/ namespaces by condition.',
    });
    Validations.of(this.trainingRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:PutMetricData has no resource-level permissions; it is limited to the /aws/sagemaker/ ' +
        'namespaces by condition.',
    });
  }

  private addCommonPolicies(role: iam.Role, key: kms.IKey, logGroups: string[]): void {
    const stack = Stack.of(this);
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [key.keyArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:CreateGrant'],
        resources: [key.keyArn],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
    const logGroupArn = (name: string): string =>
      `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:/aws/sagemaker/${name}`;
    const streamArns = logGroups.flatMap((group) => [`${logGroupArn(group)}:*`, `${logGroupArn(group)}/*`]);
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'logs:DescribeLogStreams',
        ],
        resources: [...logGroups.map(logGroupArn), ...streamArns],
      }),
    );
    acknowledge(
      role,
      Object.fromEntries(
        streamArns.map((arn) => [
          resourceFinding(this, arn),
          'SageMaker writes job and endpoint logs to streams and groups it names under /aws/sagemaker/.',
        ]),
      ),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } },
      }),
    );
  }
}
