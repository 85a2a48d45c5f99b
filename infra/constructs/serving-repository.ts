import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** What SageMaker needs to pull an image of an inference pipeline that mixes custom and built-in images. */
export const SAGEMAKER_PULL_ACTIONS = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:BatchGetImage',
  'ecr:GetDownloadUrlForLayer',
] as const;

export interface ServingRepositoryProps {
  /**
   * Days an untagged image (a layer set no tag points to, e.g. left by an interrupted push) is kept.
   * Tagged images never expire: every model a run created references its image by tag.
   * @default 14
   */
  readonly untaggedImageRetentionDays?: number;
}

/**
 * The ECR repository of the reelflow pre/post serving image. Stateful, so it lives in the data stack and
 * is retained: every SageMaker model a run created (including the one in production and the earlier ones
 * kept for a manual rollback) references `<repository>:<tag>`.
 *
 * - Tags are immutable and content-addressed (the release pipeline pushes `<content hash>` once), so a
 *   tag always means the same image and nothing can overwrite the image a model uses.
 * - The lifecycle policy expires untagged images only; no rule can remove a tagged image.
 * - Images are scanned on push and encrypted at rest (AES256: the image holds code, no data, and pulls
 *   by SageMaker then need no grant on the project key).
 * - The repository policy lets `sagemaker.amazonaws.com` pull: inference pipelines that combine a
 *   custom image with built-in algorithms require it. It carries no `aws:SourceAccount` condition, as
 *   in the documented policy: whether SageMaker sets that key on an image pull is not documented, an
 *   unmet condition would refuse the first deployment, and the image holds only the project's code.
 *
 * Not a CDK asset repository, so `cdk gc` never touches it.
 * @see https://docs.aws.amazon.com/sagemaker/latest/dg/inference-pipeline-troubleshoot.html
 */
export class ServingRepository extends Construct {
  readonly repository: ecr.Repository;

  constructor(scope: Construct, id: string, props: ServingRepositoryProps = {}) {
    super(scope, id);
    const untaggedDays = props.untaggedImageRetentionDays ?? 14;
    if (!Number.isInteger(untaggedDays) || untaggedDays < 1) {
      throw new Error(
        `ServingRepository: untaggedImageRetentionDays must be a positive integer, got ${untaggedDays}`,
      );
    }

    this.repository = new ecr.Repository(this, 'Repository', {
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      imageScanOnPush: true,
      encryption: ecr.RepositoryEncryption.AES_256,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          description: 'Untagged images only: a tagged image may back a SageMaker model',
          tagStatus: ecr.TagStatus.UNTAGGED,
          maxImageAge: Duration.days(untaggedDays),
        },
      ],
    });
    this.repository.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowSageMakerInferencePipelinePull',
        principals: [new iam.ServicePrincipal('sagemaker.amazonaws.com')],
        actions: [...SAGEMAKER_PULL_ACTIONS],
      }),
    );
    (this.repository.node.defaultChild as ecr.CfnRepository).overrideLogicalId('ServingRepository');
  }
}
