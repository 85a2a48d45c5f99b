/**
 * The release pipeline (CodePipeline V2), one execution per run; the execution id is the run id.
 *
 *   Source   the project source, uploaded by `cdk deploy` as an S3 asset (no polling trigger)
 *   Checks   CodeBuild with buildspec.yml: npm ci, lint, typecheck, tests, cdk synth
 *   Retrain  the retrain state machine (prepare, train, build the candidate, evaluate, gate)
 *   Approve  Summarize (Lambda: output variables) -> manual approval (metrics text, report link, SNS)
 *   Deploy   the deploy state machine (blue/green endpoint update, records, smoke test)
 *
 * Execution mode SUPERSEDED: every run trains on all the data uploaded so far, so a newer upload's run
 * makes a waiting one redundant; a newer execution replaces an older one at the next stage boundary
 * and no two runs are ever in the same stage. Pipeline variables `triggerKey` / `triggerVersionId`
 * record the upload that started each run (start-run sets them; a manual start gets the defaults).
 */
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as actions from 'aws-cdk-lib/aws-codepipeline-actions';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  acknowledge,
  acknowledgeFunctionVersions,
  executionArnFinding,
  resourceFinding,
  wildcardActionFinding,
} from '../infra/constructs/nag-findings';

/** The repository root (the Source stage's snapshot). */
const REPO_ROOT = path.resolve(__dirname, '..');

/** What the source snapshot leaves out: dependencies, build output, VCS data and local run data. */
export const SOURCE_EXCLUDES = ['node_modules', 'cdk.out', '.git', 'runs', '.reelflow', 'coverage'];

/** The pipeline variables a run records: the upload that started it. */
export const PIPELINE_VARIABLES = {
  triggerKey: { defaultValue: 'manual', description: 'S3 key of the ratings upload that started the run' },
  triggerVersionId: { defaultValue: 'unknown', description: 'S3 version id of that upload' },
} as const;

/** The stages, in order. */
export const STAGES = ['Source', 'Checks', 'Retrain', 'Approve', 'Deploy'] as const;

/** The Summarize action's variables namespace (the approval action reads `#{Summary.approvalText}`). */
export const SUMMARY_NAMESPACE = 'Summary';

export interface ReleasePipelineProps {
  readonly retrain: sfn.IStateMachine;
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
  readonly logRetentionDays: number;
}

export class ReleasePipeline extends Construct {
  readonly pipeline: codepipeline.Pipeline;
  readonly checks: codebuild.PipelineProject;
  readonly sourceAsset: s3assets.Asset;

  constructor(scope: Construct, id: string, props: ReleasePipelineProps) {
    super(scope, id);

    this.sourceAsset = new s3assets.Asset(this, 'ProjectSource', {
      path: REPO_ROOT,
      exclude: SOURCE_EXCLUDES,
    });

    const artifactBucket = new s3.Bucket(this, 'Artifacts', {
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

    this.checks = new codebuild.PipelineProject(this, 'Checks', {
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

    const source = new codepipeline.Artifact('Source');
    const summarize = new actions.LambdaInvokeAction({
      actionName: 'Summarize',
      lambda: props.summarize,
      userParameters: { runId: '#{codepipeline.PipelineExecutionId}' },
      variablesNamespace: SUMMARY_NAMESPACE,
      runOrder: 1,
    });

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
      stages: [
        {
          stageName: 'Source',
          actions: [
            new actions.S3SourceAction({
              actionName: 'ProjectSource',
              bucket: this.sourceAsset.bucket,
              bucketKey: this.sourceAsset.s3ObjectKey,
              trigger: actions.S3Trigger.NONE,
              output: source,
            }),
          ],
        },
        {
          stageName: 'Checks',
          actions: [
            new actions.CodeBuildAction({ actionName: 'Checks', project: this.checks, input: source }),
          ],
        },
        {
          stageName: 'Retrain',
          actions: [
            new actions.StepFunctionInvokeAction({
              actionName: 'Retrain',
              stateMachine: props.retrain,
              executionNamePrefix: 'retrain',
              stateMachineInput: actions.StateMachineInput.literal({
                runId: '#{codepipeline.PipelineExecutionId}',
                trigger: { key: '#{variables.triggerKey}', versionId: '#{variables.triggerVersionId}' },
              }),
            }),
          ],
        },
        {
          stageName: 'Approve',
          actions: [
            summarize,
            new actions.ManualApprovalAction({
              actionName: 'Approve',
              runOrder: 2,
              notificationTopic: props.approvalTopic,
              additionalInformation: summarize.variable('approvalText'),
              externalEntityLink: summarize.variable('reportUrl'),
              timeout: props.approvalTimeout,
            }),
          ],
        },
        {
          stageName: 'Deploy',
          actions: [
            new actions.StepFunctionInvokeAction({
              actionName: 'Deploy',
              stateMachine: props.deploy,
              executionNamePrefix: 'deploy',
              stateMachineInput: actions.StateMachineInput.literal({
                runId: '#{codepipeline.PipelineExecutionId}',
              }),
            }),
          ],
        },
      ],
    });
    this.acknowledgeFindings(props, artifactBucket);
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
      'AwsSolutions-IAM5[Resource::*]':
        'The Lambda invoke action lists functions (lambda:ListFunctions has no resource-level permissions).',
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
    acknowledge(this, findings);
    acknowledgeFunctionVersions(this, [props.summarize]);
  }
}
