import { Stack, type StackProps } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { DeployConfig } from '../config';
import { DataBucket } from '../constructs/data-bucket';

export interface ReelflowDataStackProps extends StackProps {
  /** The validated deploy configuration. */
  readonly config: DeployConfig;
}

/**
 * The stateful half of reelflow: the KMS key, the data bucket and the access-log bucket, all retained
 * when the stack is deleted. Kept apart from ReelflowStack so the pipeline, workflows and API can be
 * replaced or torn down without touching data (CDK guide: keep stateful resources in their own stack).
 */
export class ReelflowDataStack extends Stack {
  readonly key: kms.IKey;
  readonly dataBucket: s3.Bucket;
  readonly accessLogBucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: ReelflowDataStackProps) {
    super(scope, id, props);
    const store = new DataBucket(this, 'Storage', {
      resourcePrefix: props.config.resourcePrefix,
      accessLogRetentionDays: 365,
    });
    this.key = store.key;
    this.dataBucket = store.bucket;
    this.accessLogBucket = store.accessLogBucket;
  }
}
