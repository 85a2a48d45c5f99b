import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Key prefix of the ratings uploads that start a run (defined with the run layout, which the steps read). */
export { RATINGS_PREFIX } from '../../functions/core/run-layout';
/** Key prefix of every run's artifacts (`runs/<runId>/...`). */
export const RUNS_PREFIX = 'runs/';
/** Where `reelflow verify-aws` puts its tiny data set and jobs' output (deleted when it ends). */
export const VERIFY_PREFIX = 'verify/';

export interface DataBucketProps {
  /** Prefix of the key alias (`alias/<prefix>-data`). */
  readonly resourcePrefix: string;
  /**
   * Days the access-log bucket keeps server access logs.
   * @default 365
   */
  readonly accessLogRetentionDays?: number;
  /**
   * Days the data bucket keeps an object version after it stops being current; then S3 expires it.
   * @default 365
   */
  readonly noncurrentVersionDays?: number;
}

/**
 * The project's stateful storage: the customer-managed KMS key (rotated) that encrypts everything
 * reelflow stores, the server access-log bucket, and the data bucket that receives `ratings/` uploads
 * and keeps every run under `runs/<runId>/`.
 *
 * The data bucket is versioned (each run records the version id of the upload that started it; a
 * version that is no longer current expires after `noncurrentVersionDays`, incomplete multipart
 * uploads are aborted after 7 days),
 * KMS-encrypted, TLS-only, private, access-logged, retained when the stack is deleted, and sends its
 * events to EventBridge. Logical ids are fixed: replacing any of these resources would lose data.
 */
export class DataBucket extends Construct {
  /** The project's customer-managed key. */
  readonly key: kms.Key;
  /** The bucket of ratings uploads and run artifacts. */
  readonly bucket: s3.Bucket;
  /** Receives the S3 server access logs of the project's buckets (SSE-S3: log delivery cannot use KMS). */
  readonly accessLogBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataBucketProps) {
    super(scope, id);
    const retentionDays = props.accessLogRetentionDays ?? 365;
    const stack = Stack.of(this);

    this.key = new kms.Key(this, 'Key', {
      alias: `alias/${props.resourcePrefix}-data`,
      description: 'reelflow: data bucket, topics, logs, SageMaker volumes and outputs',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.allowServiceUse();

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { expiration: Duration.days(retentionDays), noncurrentVersionExpiration: Duration.days(1) },
      ],
    });
    // Other stacks' buckets (the pipeline's artifact bucket) log here too; naming each source bucket
    // would make this stack depend on theirs, so delivery is allowed for this account's buckets.
    this.accessLogBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowAccountServerAccessLogs',
        principals: [new iam.ServicePrincipal('logging.s3.amazonaws.com')],
        actions: ['s3:PutObject'],
        resources: [this.accessLogBucket.arnForObjects('*')],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );

    // No bucketName: the retained bucket of an earlier deployment would hold a fixed name (see pipeline/names.ts dataBucketName).
    this.bucket = new s3.Bucket(this, 'DataBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      versioned: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'data-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          abortIncompleteMultipartUploadAfter: Duration.days(7),
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 365),
        },
      ],
    });
    // EventBridge notifications set on the L1: the L2 `eventBridgeEnabled` deploys a custom-resource
    // Lambda for what CloudFormation supports natively.
    const cfnBucket = this.bucket.node.defaultChild as s3.CfnBucket;
    cfnBucket.notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };

    // Stable logical ids: a renamed construct must never replace the key or a bucket.
    (this.key.node.defaultChild as kms.CfnKey).overrideLogicalId('ReelflowKey');
    cfnBucket.overrideLogicalId('DataBucket');
    (this.accessLogBucket.node.defaultChild as s3.CfnBucket).overrideLogicalId('AccessLogBucket');
  }

  /**
   * Services that encrypt with the key on their own behalf, not with a caller's IAM grant: CloudWatch
   * Logs (every log group is encrypted) and CloudWatch alarms (their actions publish to encrypted topics).
   */
  private allowServiceUse(): void {
    const stack = Stack.of(this);
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchLogs',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.${Aws.URL_SUFFIX}`)],
        actions: [
          'kms:Encrypt',
          'kms:Decrypt',
          'kms:ReEncryptFrom',
          'kms:ReEncryptTo',
          'kms:GenerateDataKey',
          'kms:GenerateDataKeyWithoutPlaintext',
          'kms:DescribeKey',
        ],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:*`,
          },
        },
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToEncryptedTopics',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
  }
}
