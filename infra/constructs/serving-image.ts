import { FileSystem, IgnoreMode } from 'aws-cdk-lib';
import type * as ecr from 'aws-cdk-lib/aws-ecr';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { REPO_ROOT } from './reelflow-function';

/** The serving image's Dockerfile, relative to the repository root (the build context). */
export const SERVING_DOCKERFILE = 'functions/serving/Dockerfile';

/**
 * What the serving image's build context contains: the repository root minus everything but the
 * manifests and `functions/` (Docker ignore syntax: exclude all, then re-include). The image tag is the
 * fingerprint of exactly these files, so a change to anything else never rebuilds the image.
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
 * The image tag for a build context: the SHA-256 fingerprint of the files the image is built from
 * (CDK's own asset fingerprint, as DockerImageAsset computes it), prefixed so it never looks like a
 * version. Computed at synth, without Docker.
 */
export function servingImageTag(root: string = REPO_ROOT): string {
  const hash = FileSystem.fingerprint(root, {
    exclude: SERVING_IMAGE_CONTEXT_EXCLUDES,
    ignoreMode: IgnoreMode.DOCKER,
    extraHash: `${SERVING_DOCKERFILE}|linux/amd64`,
  });
  return `sha-${hash}`;
}

export interface ServingImageProps {
  /** The repository the release pipeline pushes the image to (ReelflowDataStack). */
  readonly repository: ecr.IRepository;
  /**
   * The image tag.
   * @default - servingImageTag() of the repository root
   */
  readonly tag?: string;
}

/**
 * The reelflow pre/post container image (functions/serving/Dockerfile, one image for both roles,
 * chosen by `REELFLOW_ROLE`), addressed as `<repository>:<content hash>`. The release pipeline builds
 * and pushes that tag on CodeBuild (linux/amd64, the architecture of the ml.* instances) from the same
 * source snapshot before a run trains, so neither `cdk synth` nor `cdk deploy` needs Docker.
 */
export class ServingImage extends Construct {
  readonly repository: ecr.IRepository;
  readonly tag: string;
  /** The image URI SageMaker pulls: `<account>.dkr.ecr.<region>.<suffix>/<repository>:<tag>`. */
  readonly imageUri: string;
  /** The Dockerfile, relative to the build context (the repository root). */
  readonly dockerfile = SERVING_DOCKERFILE;

  constructor(scope: Construct, id: string, props: ServingImageProps) {
    super(scope, id);
    this.repository = props.repository;
    this.tag = props.tag ?? servingImageTag();
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(this.tag)) {
      throw new Error(
        `ServingImage: tag must be a valid image tag (letters, digits, _ . -), got '${this.tag}'`,
      );
    }
    this.imageUri = this.repository.repositoryUriForTag(this.tag);
  }

  /** Lets a SageMaker execution role pull the image. */
  grantPull(grantee: iam.IGrantable): iam.Grant {
    return this.repository.grantPull(grantee);
  }
}
