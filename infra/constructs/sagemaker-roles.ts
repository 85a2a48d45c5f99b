import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { QUARANTINE_PREFIX, RUN_PATHS, WITHDRAWN_PREFIX } from '../../functions/core/run-layout';
import { acknowledgePolicies, resourceFinding } from '../../pipeline/nag';
import { grantPrefixAccess } from './bucket-grants';
import { RATINGS_PREFIX, RUNS_PREFIX, VERIFY_PREFIX } from './data-bucket';
import type { ServingImage } from './serving-image';
import { grantDescribeFmTrainingJobs } from './workflow-functions';

export interface SageMakerRolesProps {
  /** The data bucket: the training role reads and writes `runs/`, the model roles read the artifacts. */
  readonly dataBucket: s3.IBucket;
  /** The project key the bucket's objects are encrypted with. */
  readonly key: kms.IKey;
  /** The pre/post image the hosting and transform roles pull. */
  readonly servingImage: ServingImage;
  /** The runs' SageMaker name prefix: the Processing role may describe the runs' FM jobs. */
  readonly resourcePrefix: string;
  /**
   * The embedding trainer (`ml.trainer`): with 'ials' the training jobs run the project image, so the
   * training role may pull it; with 'fm' (built-in images only) it may not. @default 'fm'
   */
  readonly trainer?: 'fm' | 'ials';
}

/** The objects a model's containers load (ModelDataUrl), under a run's or a verify check's prefix. */
function modelArtifactKeys(prefix: string): string[] {
  return [`${prefix}*/${RUN_PATHS.servingBundle}`, `${prefix}*/${RUN_PATHS.knnArtifactPattern}`];
}

/**
 * The three roles SageMaker assumes, separate from the state machines' roles that pass them:
 *
 * - `trainingRole`: the FM (or iALS) and k-NN training jobs read the run's prepared data and write their
 *   model artifacts, all under `runs/`, and log to `/aws/sagemaker/TrainingJobs`; with `ml.trainer`
 *   'ials' it also pulls the project image, which that job runs (only then: the built-ins need no grant);
 * - `hostingRole`: the execution role of each run's hosting model (`names.model`, the one the endpoint
 *   serves and a rollback returns to): reads only the objects its containers load (the serving bundle
 *   and the k-NN artifact), pulls the serving image, decrypts through S3 only, logs to
 *   `/aws/sagemaker/Endpoints/*`. It writes nothing to S3, so a compromised serving container cannot
 *   change any run's data or artifacts;
 * - `transformRole`: the execution role of each run's transform models (`names.transformModel`,
 *   `names.productionTransformModel`): reads the same artifacts and the transform input, writes only the
 *   transform output prefix (`runs/<id>/transform/`), logs to `/aws/sagemaker/TransformJobs`;
 * - `processingRole`: the data steps (Prepare, BuildVectors, Evaluate) as Processing jobs, the same code
 *   as their Lambda functions, so exactly the Lambdas' data access: reads `ratings/`, `runs/`,
 *   `quarantine/` and `withdrawn/`, writes `runs/` and `quarantine/`, deletes under `ratings/` (a refused
 *   batch moves to quarantine); KMS through S3 only; pulls the project image; logs to
 *   `/aws/sagemaker/ProcessingJobs`.
 *
 * The training and hosting roles also reach `verify/`, where `reelflow verify-aws` runs its one-off
 * training jobs and endpoint.
 */
export class SageMakerRoles extends Construct {
  readonly trainingRole: iam.Role;
  /** Execution role of the hosting models (the endpoint's). */
  readonly hostingRole: iam.Role;
  /** Execution role of the transform models (batch transform). */
  readonly transformRole: iam.Role;
  /** Execution role of the data steps' Processing jobs. */
  readonly processingRole: iam.Role;

  constructor(scope: Construct, id: string, props: SageMakerRolesProps) {
    super(scope, id);
    const { dataBucket, key } = props;
    const principal = new iam.ServicePrincipal('sagemaker.amazonaws.com');

    this.trainingRole = new iam.Role(this, 'TrainingRole', {
      assumedBy: principal,
      description: 'reelflow: SageMaker training jobs (built-in FM and k-NN)',
    });
    grantPrefixAccess(this.trainingRole, dataBucket, key, {
      read: [RUNS_PREFIX, VERIFY_PREFIX],
      write: [RUNS_PREFIX, VERIFY_PREFIX],
    });
    // Training volumes and output artifacts are encrypted with the project key (VolumeKmsKeyId, KmsKeyId).
    this.trainingRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [key.keyArn],
      }),
    );
    this.trainingRole.addToPolicy(createGrantForAwsResources(key));
    const pullsImage = props.trainer === 'ials';
    if (pullsImage) props.servingImage.grantPull(this.trainingRole);
    this.addLogsAndMetrics(this.trainingRole, ['TrainingJobs'], {
      '*': pullsImage
        ? 'ecr:GetAuthorizationToken (project image pull, the iALS job) and cloudwatch:PutMetricData ' +
          '(limited to the /aws/sagemaker/ namespaces by condition) have no resource-level permissions.'
        : 'cloudwatch:PutMetricData has no resource-level permissions; it is limited to the /aws/sagemaker/ namespaces by condition.',
    });

    // Construct id 'ModelRole' kept: the role of the models created before the split, updated in place.
    this.hostingRole = new iam.Role(this, 'ModelRole', {
      assumedBy: principal,
      description: 'reelflow: execution role of each run hosting model (endpoint): reads its artifacts only',
    });
    this.grantObjectRead(this.hostingRole, dataBucket, key, [
      ...modelArtifactKeys(RUNS_PREFIX),
      ...modelArtifactKeys(VERIFY_PREFIX),
    ]);
    props.servingImage.grantPull(this.hostingRole);
    this.addLogsAndMetrics(this.hostingRole, ['Endpoints/*'], {
      '*':
        'ecr:GetAuthorizationToken (serving image pull) and cloudwatch:PutMetricData (limited to the ' +
        '/aws/sagemaker/ namespaces by condition) have no resource-level permissions.',
    });

    this.transformRole = new iam.Role(this, 'TransformRole', {
      assumedBy: principal,
      description: 'reelflow: execution role of each run transform model (batch transform)',
    });
    this.grantObjectRead(this.transformRole, dataBucket, key, modelArtifactKeys(RUNS_PREFIX));
    grantPrefixAccess(this.transformRole, dataBucket, key, {
      read: [`${RUNS_PREFIX}*/${RUN_PATHS.transformInput}`],
      write: [`${RUNS_PREFIX}*/${RUN_PATHS.transformOutput}`],
    });
    // Transform volumes and outputs are encrypted with the project key (VolumeKmsKeyId, KmsKeyId).
    this.transformRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [key.keyArn],
      }),
    );
    this.transformRole.addToPolicy(createGrantForAwsResources(key));
    props.servingImage.grantPull(this.transformRole);
    this.addLogsAndMetrics(this.transformRole, ['TransformJobs'], {
      '*':
        'ecr:GetAuthorizationToken (serving image pull) and cloudwatch:PutMetricData (limited to the ' +
        '/aws/sagemaker/ namespaces by condition) have no resource-level permissions.',
    });

    this.processingRole = this.dataStepRole(props);
  }

  /** The Processing jobs' role: what the Prepare, BuildVectors and Evaluate Lambdas may do, no more. */
  private dataStepRole(props: SageMakerRolesProps): iam.Role {
    const { dataBucket, key } = props;
    const role = new iam.Role(this, 'ProcessingRole', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'reelflow: SageMaker Processing jobs of the data steps (Prepare, BuildVectors, Evaluate)',
    });
    grantPrefixAccess(role, dataBucket, key, {
      read: [RATINGS_PREFIX, RUNS_PREFIX, QUARANTINE_PREFIX, WITHDRAWN_PREFIX],
      write: [RUNS_PREFIX, QUARANTINE_PREFIX],
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:DeleteObject'],
        resources: [dataBucket.arnForObjects(`${RATINGS_PREFIX}*`)],
      }),
    );
    // The volume and the result upload are encrypted with the project key (VolumeKmsKeyId, KmsKeyId);
    // data keys only through S3 (grantPrefixAccess).
    role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:DescribeKey'], resources: [key.keyArn] }));
    role.addToPolicy(createGrantForAwsResources(key));
    // Evaluate reads the FM job's test-channel metrics, as its Lambda does.
    grantDescribeFmTrainingJobs(role, props.resourcePrefix);
    props.servingImage.grantPull(role);
    this.addLogsAndMetrics(role, ['ProcessingJobs'], {
      '*':
        'ecr:GetAuthorizationToken (project image pull) and cloudwatch:PutMetricData (limited to the ' +
        '/aws/sagemaker/ namespaces by condition) have no resource-level permissions.',
    });
    return role;
  }

  /**
   * `s3:GetObject` on exactly these key patterns (no listing, no versions, no write) and `kms:Decrypt`
   * of the project key through S3 only, with one acknowledgement per pattern.
   */
  private grantObjectRead(role: iam.Role, bucket: s3.IBucket, key: kms.IKey, patterns: string[]): void {
    const arns = patterns.map((pattern) => bucket.arnForObjects(pattern));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: arns }));
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
      }),
    );
    acknowledgePolicies(
      role,
      Object.fromEntries(
        arns.map((arn, index) => [
          resourceFinding(this, arn),
          `The model artifact ${patterns[index]}: the run (or check) id and the k-NN job name are only known at run time.`,
        ]),
      ),
    );
  }

  /**
   * Log groups `/aws/sagemaker/<group>` (a group name may end with `/*`: one group per endpoint) with
   * their streams, and CloudWatch metrics in the `/aws/sagemaker/` namespaces. `starReason` justifies
   * the role's `Resource::*` finding.
   */
  private addLogsAndMetrics(role: iam.Role, groups: string[], reasons: { '*': string }): void {
    const stack = Stack.of(this);
    const groupArn = (name: string): string =>
      `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:/aws/sagemaker/${name}`;
    const wildcards = groups.map((group) => (group.endsWith('*') ? groupArn(group) : `${groupArn(group)}:*`));
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'logs:DescribeLogStreams',
        ],
        resources: [...groups.filter((group) => !group.endsWith('*')).map(groupArn), ...wildcards],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } },
      }),
    );
    acknowledgePolicies(role, {
      ...Object.fromEntries(
        wildcards.map((arn) => [
          resourceFinding(this, arn),
          'SageMaker names the log streams (per instance) and, for endpoints, the group (per endpoint).',
        ]),
      ),
      'AwsSolutions-IAM5[Resource::*]': reasons['*'],
    });
  }
}

/** kms:CreateGrant on the key, only for grants SageMaker creates for AWS resources (encrypted volumes). */
function createGrantForAwsResources(key: kms.IKey): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['kms:CreateGrant'],
    resources: [key.keyArn],
    conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
  });
}
