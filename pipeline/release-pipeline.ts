/**
 * The release pipeline (CodePipeline V2), one execution per run; the execution id is the run id.
 *
 *   Source   the project source, uploaded by `cdk deploy` as an S3 asset (no polling trigger)
 *   Checks   CodeBuild with buildspec.yml: npm ci, lint, typecheck, tests, cdk synth; then CodeBuild
 *            builds the pre/post serving image from the same snapshot and pushes `<repo>:<tag>`
 *            (the tag is a content hash computed at synth; an existing tag is not rebuilt)
 *   Retrain  the retrain state machine (prepare, train, build the candidate, evaluate, gate)
 *   Approve  Summarize (Lambda: output variables) -> manual approval (metrics text, report link, SNS)
 *   Deploy   the deploy state machine (blue/green endpoint update, records, smoke test)
 *
 * Execution mode SUPERSEDED: every run trains on all the data uploaded so far, so a newer upload's run
 * makes a waiting one redundant; a newer execution replaces an older one at the next stage boundary
 * and no two runs are ever in the same stage. Pipeline variables `triggerKey` / `triggerVersionId`
 * record the upload that started each run (start-run sets them; a manual start gets the defaults).
 *
 * A run with nothing to do ends before Checks: every stage after Source has an entry condition that
 * skips it while `triggerKey` is still the default `manual`. That is the execution CodePipeline starts
 * by itself when the pipeline is created (right after `cdk deploy`, before any upload); it ends
 * Succeeded with every stage Skipped, without a build or an alert. A person who starts a run by hand
 * names its trigger (`--variables name=triggerKey,value=<anything but manual>`).
 */
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import type * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  acknowledgeFunctionVersions,
  acknowledgePolicies,
  executionArnFinding,
  resourceFinding,
  wildcardActionFinding,
} from './nag';
import { PIPELINE_VARIABLES, releaseStages } from './release-stages';
import { ViaServiceKeyRole } from './via-service-role';

export { NO_TRIGGER, PIPELINE_VARIABLES, STAGES } from './release-stages';

/** The repository root (the Source stage's snapshot). */
const REPO_ROOT = path.resolve(__dirname, '..');

/** What the source snapshot leaves out: dependencies, build output, VCS data and local run data. */
export const SOURCE_EXCLUDES = ['node_modules', 'cdk.out', '.git', 'runs', '.reelflow', 'coverage'];

/** The serving image the Checks stage builds and pushes. */
export interface ServingImageBuild {
  /** The repository to push to. */
  readonly repository: ecr.IRepository;
  /** The tag to push (a content hash of the build context; immutable in the repository). */
  readonly tag: string;
  /** The Dockerfile, relative to the repository root (the build context). */
  readonly dockerfile: string;
}

/** Props of {@link ReleasePipeline}. */
export interface ReleasePipelineProps {
  /** The retrain state machine the Retrain stage starts (and waits for). */
  readonly retrain: sfn.IStateMachine;
  /** The deploy state machine the Deploy stage starts (and waits for). */
  readonly deploy: sfn.IStateMachine;
  /** The Approve stage's Lambda invoke action (functions/pipeline/summarize.ts). */
  readonly summarize: lambda.IFunction;
  /** Receives the approval requests. */
  readonly approvalTopic: sns.ITopic;
  /** How long an approval may wait. */
  readonly approvalTimeout: Duration;
  /** Encrypts the artifact bucket and the build. */
  readonly key: kms.IKey;
  /** Receives the artifact bucket's server access logs. */
  readonly accessLogBucket: s3.IBucket;
  /** Retention of the builds' log groups, days. */
  readonly logRetentionDays: number;
  /** The pre/post serving image, built in the Checks stage after the checks passed. */
  readonly servingImage: ServingImageBuild;
}

export class ReleasePipeline extends Construct {
  readonly pipeline: codepipeline.Pipeline;
  readonly checks: codebuild.PipelineProject;
  /** Builds and pushes the serving image (privileged: it runs Docker). */
  readonly imageBuild: codebuild.PipelineProject;
  readonly sourceAsset: s3assets.Asset;

  constructor(scope: Construct, id: string, props: ReleasePipelineProps) {
    super(scope, id);

    this.sourceAsset = new s3assets.Asset(this, 'ProjectSource', {
      path: REPO_ROOT,
      exclude: SOURCE_EXCLUDES,
    });

    const artifactBucket = this.artifactBucket(props);

    this.checks = this.checksProject(props);
    this.imageBuild = this.servingImageBuild(props);

    const source = new codepipeline.Artifact('Source');
    this.pipeline = new codepipeline.Pipeline(this, 'Pipeline', {
      pipelineType: codepipeline.PipelineType.V2,
      executionMode: codepipeline.ExecutionMode.SUPERSEDED,
      artifactBucket,
      crossAccountKeys: false,
      restartExecutionOnUpdate: false,
      variables: Object.entries(PIPELINE_VARIABLES).map(
        ([variableName, v]) =>
          new codepipeline.Variable({
            variableName,
            defaultValue: v.defaultValue,
            description: v.description,
          }),
      ),
      stages: releaseStages({
        ...props,
        sourceAsset: this.sourceAsset,
        source,
        checks: this.checks,
        imageBuild: this.imageBuild,
      }),
    });
    this.acknowledgeFindings(props, artifactBucket);
  }

  /** The pipeline's artifact bucket: KMS, TLS only, versioned, access-logged, expiring after 90 days. */
  private artifactBucket(props: ReleasePipelineProps): s3.Bucket {
    return new s3.Bucket(this, 'Artifacts', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: 'pipeline-artifacts/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: Duration.days(90), noncurrentVersionExpiration: Duration.days(7) }],
    });
  }

  /**
   * The role of a CodeBuild project: it may use the project key only through S3 (build output and
   * pipeline artifacts); see ViaServiceKeyRole.
   */
  private buildRole(id: string, key: kms.IKey): iam.IRole {
    return new ViaServiceKeyRole(this, id, {
      assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com'),
      key,
      viaServices: ['s3'],
    });
  }

  /** The Checks project: buildspec.yml (lint, typecheck, tests, cdk synth) on an unprivileged host. */
  private checksProject(props: ReleasePipelineProps): codebuild.PipelineProject {
    return new codebuild.PipelineProject(this, 'Checks', {
      role: this.buildRole('ChecksRole', props.key),
      description: 'reelflow: lint, typecheck, tests and cdk synth before a run touches AWS',
      buildSpec: codebuild.BuildSpec.fromSourceFilename('buildspec.yml'),
      environment: {
        buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: codebuild.ComputeType.MEDIUM,
        privileged: false,
      },
      encryptionKey: props.key,
      cache: codebuild.Cache.local(codebuild.LocalCacheMode.CUSTOM),
      timeout: Duration.minutes(30),
      logging: {
        cloudWatch: {
          logGroup: new logs.LogGroup(this, 'ChecksLogs', {
            retention: props.logRetentionDays as logs.RetentionDays,
            encryptionKey: props.key,
            removalPolicy: RemovalPolicy.DESTROY,
          }),
        },
      },
    });
  }

  /**
   * The image build: Docker on a privileged amd64 CodeBuild host, from the Source snapshot, pushing
   * `<repository>:<tag>`. The tag is immutable and content-addressed, so a tag that already exists is
   * exactly this image and the build ends without building.
   */
  private servingImageBuild(props: ReleasePipelineProps): codebuild.PipelineProject {
    const { repository, tag, dockerfile } = props.servingImage;
    const project = new codebuild.PipelineProject(this, 'ServingImageBuild', {
      role: this.buildRole('ServingImageBuildRole', props.key),
      description: 'reelflow: build and push the pre/post serving image (linux/amd64) for SageMaker',
      buildSpec: codebuild.BuildSpec.fromObject({
        version: '0.2',
        phases: {
          build: {
            // One command: the image is built and pushed only when the tag does not exist yet.
            commands: [
              [
                'if aws ecr describe-images --repository-name "$REPOSITORY_NAME" --image-ids imageTag="$IMAGE_TAG" >/dev/null 2>&1;',
                'then echo "$REPOSITORY_URI:$IMAGE_TAG exists; nothing to build";',
                'else aws ecr get-login-password | docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"',
                '&& docker build --platform linux/amd64 --file "$DOCKERFILE" --tag "$REPOSITORY_URI:$IMAGE_TAG" .',
                '&& docker push "$REPOSITORY_URI:$IMAGE_TAG";',
                'fi',
              ].join(' '),
            ],
          },
        },
      }),
      environment: {
        buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: codebuild.ComputeType.MEDIUM,
        privileged: true,
      },
      environmentVariables: {
        REPOSITORY_URI: { value: repository.repositoryUri },
        REPOSITORY_NAME: { value: repository.repositoryName },
        IMAGE_TAG: { value: tag },
        DOCKERFILE: { value: dockerfile },
      },
      encryptionKey: props.key,
      timeout: Duration.minutes(30),
      logging: {
        cloudWatch: {
          logGroup: new logs.LogGroup(this, 'ServingImageBuildLogs', {
            retention: props.logRetentionDays as logs.RetentionDays,
            encryptionKey: props.key,
            removalPolicy: RemovalPolicy.DESTROY,
          }),
        },
      },
    });
    repository.grantPullPush(project);
    repository.grant(project, 'ecr:DescribeImages');
    return project;
  }

  /** The wildcards CDK's pipeline, CodeBuild and action grants keep, each with its reason. */
  private acknowledgeFindings(props: ReleasePipelineProps, artifactBucket: s3.IBucket): void {
    const artifacts =
      'CDK grants the pipeline, its actions and the build read/write on the pipeline-owned artifact bucket ' +
      'and its key with these action groups; nothing else is in that bucket.';
    const findings: Record<string, string> = {
      [wildcardActionFinding('s3:GetObject*')]: artifacts,
      [wildcardActionFinding('s3:GetBucket*')]: artifacts,
      [wildcardActionFinding('s3:List*')]: artifacts,
      [wildcardActionFinding('s3:DeleteObject*')]: artifacts,
      [wildcardActionFinding('s3:Abort*')]: artifacts,
      [wildcardActionFinding('kms:ReEncrypt*')]: artifacts,
      [wildcardActionFinding('kms:GenerateDataKey*')]: artifacts,
      [resourceFinding(this, artifactBucket.arnForObjects('*'))]: artifacts,
      [resourceFinding(
        this,
        `arn:${Stack.of(this).partition}:logs:${Stack.of(this).region}:${Stack.of(this).account}:log-group:/aws/codebuild/${this.checks.projectName}:*`,
      )]: 'CodeBuild names the log streams of each build inside the project log group.',
      [resourceFinding(
        this,
        `arn:${Stack.of(this).partition}:codebuild:${Stack.of(this).region}:${Stack.of(this).account}:report-group/${this.checks.projectName}-*`,
      )]: 'Test report groups CodeBuild creates for this project, named after it.',
      [resourceFinding(
        this,
        `arn:${Stack.of(this).partition}:logs:${Stack.of(this).region}:${Stack.of(this).account}:log-group:/aws/codebuild/${this.imageBuild.projectName}:*`,
      )]: 'CodeBuild names the log streams of each build inside the project log group.',
      [resourceFinding(
        this,
        `arn:${Stack.of(this).partition}:codebuild:${Stack.of(this).region}:${Stack.of(this).account}:report-group/${this.imageBuild.projectName}-*`,
      )]: 'Report groups CodeBuild creates for this project, named after it.',
      'AwsSolutions-IAM5[Resource::*]':
        'The Lambda invoke action lists functions (lambda:ListFunctions has no resource-level permissions); ' +
        'the image build logs in to ECR (ecr:GetAuthorizationToken has no resource-level permissions).',
    };
    for (const [machine, prefix] of [
      [props.retrain, 'retrain'],
      [props.deploy, 'deploy'],
    ] as const) {
      const finding = executionArnFinding(machine, prefix);
      if (finding)
        findings[finding] =
          `CodePipeline describes the ${prefix} executions it starts (named ${prefix}-<id>).`;
    }
    acknowledgePolicies(this, findings);
    acknowledgeFunctionVersions(this, [props.summarize]);
  }
}
