import { IgnoreMode } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import { Construct } from 'constructs';
import { REPO_ROOT } from './reelflow-function';

/**
 * What the serving image's build context contains: the repository root minus everything but the
 * manifests and `functions/` (Docker ignore syntax: exclude all, then re-include). Keeps node_modules,
 * cdk.out, run artifacts and test data out of the context and out of the asset hash.
 */
export const SERVING_IMAGE_CONTEXT_EXCLUDES = [
  '*',
  '!package.json',
  '!package-lock.json',
  '!tsconfig.json',
  '!functions',
  'functions/**/*.md',
];

/**
 * The reelflow pre/post container image (functions/serving/Dockerfile, one image for both roles,
 * chosen by `REELFLOW_ROLE`). CDK builds and pushes it at deploy time as a container asset; `cdk synth`
 * only fingerprints the context, so synth needs no Docker. Built for linux/amd64, the architecture of
 * the ml.* instances the endpoint and batch transform run on.
 */
export class ServingImage extends Construct {
  readonly asset: ecrAssets.DockerImageAsset;
  /** The image URI SageMaker pulls (the CDK assets repository of the account and region). */
  readonly imageUri: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.asset = new ecrAssets.DockerImageAsset(this, 'Image', {
      directory: REPO_ROOT,
      file: 'functions/serving/Dockerfile',
      exclude: SERVING_IMAGE_CONTEXT_EXCLUDES,
      ignoreMode: IgnoreMode.DOCKER,
      platform: ecrAssets.Platform.LINUX_AMD64,
    });
    this.imageUri = this.asset.imageUri;
  }

  /** Lets a SageMaker execution role pull the image. */
  grantPull(grantee: iam.IGrantable): void {
    this.asset.repository.grantPull(grantee);
  }
}
