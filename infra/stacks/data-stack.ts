import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ecr from 'aws-cdk-lib/aws-ecr';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { DeployConfig } from '../../pipeline/config';
import { DataBucket } from '../constructs/data-bucket';
import { ServingRepository } from '../constructs/serving-repository';

export interface ReelflowDataStackProps extends StackProps {
  /** The resource prefix (the key alias) and the data retention of the validated deploy configuration. */
  readonly config: Pick<DeployConfig, 'resourcePrefix' | 'dataRetention'>;
}

/**
 * The stateful half of reelflow: the KMS key, the data bucket, the access-log bucket and the serving
 * image repository, all retained when the stack is deleted. Kept apart from ReelflowStack so the
 * pipeline, workflows and API can be replaced or torn down without touching data (CDK guide: keep
 * stateful resources in their own stack). Names are generated, so a redeploy after `cdk destroy`
 * creates new resources next to the retained ones instead of colliding with them.
 */
export class ReelflowDataStack extends Stack {
  readonly key: kms.IKey;
  readonly dataBucket: s3.Bucket;
  readonly accessLogBucket: s3.IBucket;
  /** The pre/post serving image repository (the release pipeline pushes, SageMaker pulls). */
  readonly servingRepository: ecr.Repository;

  constructor(scope: Construct, id: string, props: ReelflowDataStackProps) {
    super(scope, id, props);
    const store = new DataBucket(this, 'Storage', {
      resourcePrefix: props.config.resourcePrefix,
      accessLogRetentionDays: 365,
      noncurrentVersionDays: props.config.dataRetention.noncurrentVersionDays,
    });
    this.key = store.key;
    this.dataBucket = store.bucket;
    this.accessLogBucket = store.accessLogBucket;
    this.servingRepository = new ServingRepository(this, 'ServingImages').repository;

    new CfnOutput(this, 'ServingRepositoryUri', {
      description: 'ECR repository of the pre/post serving image (tags are content hashes, immutable)',
      value: this.servingRepository.repositoryUri,
    });
  }
}
