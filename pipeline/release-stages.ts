/**
 * The five stages of the release pipeline and what they share with the local pipeline runner: the
 * stage names, the pipeline variables that record a run's trigger, and the entry condition that skips
 * every stage after Source for a run no upload started.
 */
import type { Duration } from 'aws-cdk-lib';
import type * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as actions from 'aws-cdk-lib/aws-codepipeline-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { RetrainInput } from '../functions/contracts';

/** The pipeline variables a run records: the upload that started it. */
export const PIPELINE_VARIABLES = {
  triggerKey: { defaultValue: 'manual', description: 'S3 key of the ratings upload that started the run' },
  triggerVersionId: { defaultValue: 'unknown', description: 'S3 version id of that upload' },
} as const;

/**
 * The value of `triggerKey` that means "no upload started this run": the pipeline variable's default,
 * which the execution CodePipeline starts on creation carries. Stages after Source skip such a run.
 */
export const NO_TRIGGER = PIPELINE_VARIABLES.triggerKey.defaultValue;

/**
 * The Retrain action's literal input: CodePipeline substitutes the variables (the trigger key arrives
 * URI-encoded, so it cannot break this JSON).
 */
const RETRAIN_INPUT: RetrainInput = {
  runId: '#{codepipeline.PipelineExecutionId}',
  trigger: { key: '#{variables.triggerKey}', versionId: '#{variables.triggerVersionId}' },
};

/** The stages, in order. */
export const STAGES = ['Source', 'Checks', 'Retrain', 'Approve', 'Deploy'] as const;

/** The Summarize action's variables namespace (the approval action reads `#{Summary.approvalText}`). */
export const SUMMARY_NAMESPACE = 'Summary';

/** What the stages run. */
export interface ReleaseStagesProps {
  /** The project source, uploaded by `cdk deploy` (the Source stage's object). */
  readonly sourceAsset: s3assets.Asset;
  /** The Source stage's output artifact, the input of both builds. */
  readonly source: codepipeline.Artifact;
  /** The checks build (lint, typecheck, tests, cdk synth). */
  readonly checks: codebuild.IProject;
  /** The serving image build. */
  readonly imageBuild: codebuild.IProject;
  /** The retrain state machine (the Retrain stage). */
  readonly retrain: sfn.IStateMachine;
  /** The deploy state machine (the Deploy stage). */
  readonly deploy: sfn.IStateMachine;
  /** The Approve stage's Lambda invoke action (functions/pipeline/summarize.ts). */
  readonly summarize: lambda.IFunction;
  /** Receives the approval requests. */
  readonly approvalTopic: sns.ITopic;
  /** How long an approval may wait. */
  readonly approvalTimeout: Duration;
}

/** Source -> Checks -> Retrain -> Approve -> Deploy; every stage after Source skips a run without trigger. */
export function releaseStages(props: ReleaseStagesProps): codepipeline.StageProps[] {
  const { source } = props;
  return [
    {
      stageName: 'Source',
      actions: [
        new actions.S3SourceAction({
          actionName: 'ProjectSource',
          bucket: props.sourceAsset.bucket,
          bucketKey: props.sourceAsset.s3ObjectKey,
          trigger: actions.S3Trigger.NONE,
          output: source,
        }),
      ],
    },
    {
      stageName: 'Checks',
      beforeEntry: skipWithoutTrigger('Checks'),
      actions: [
        new actions.CodeBuildAction({
          actionName: 'Checks',
          project: props.checks,
          input: source,
          runOrder: 1,
        }),
        new actions.CodeBuildAction({
          actionName: 'ServingImage',
          project: props.imageBuild,
          input: source,
          runOrder: 2,
        }),
      ],
    },
    {
      stageName: 'Retrain',
      beforeEntry: skipWithoutTrigger('Retrain'),
      actions: [
        new actions.StepFunctionInvokeAction({
          actionName: 'Retrain',
          stateMachine: props.retrain,
          executionNamePrefix: 'retrain',
          stateMachineInput: actions.StateMachineInput.literal(RETRAIN_INPUT),
        }),
      ],
    },
    {
      stageName: 'Approve',
      beforeEntry: skipWithoutTrigger('Approve'),
      actions: approveActions(props),
    },
    {
      stageName: 'Deploy',
      beforeEntry: skipWithoutTrigger('Deploy'),
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
  ];
}

/** Summarize (Lambda: the approval text, report link and gate as output variables), then the manual approval. */
function approveActions(props: ReleaseStagesProps): codepipeline.IAction[] {
  const summarize = new actions.LambdaInvokeAction({
    actionName: 'Summarize',
    lambda: props.summarize,
    userParameters: { runId: '#{codepipeline.PipelineExecutionId}' },
    variablesNamespace: SUMMARY_NAMESPACE,
    runOrder: 1,
  });
  return [
    summarize,
    new actions.ManualApprovalAction({
      actionName: 'Approve',
      runOrder: 2,
      notificationTopic: props.approvalTopic,
      additionalInformation: summarize.variable('approvalText'),
      externalEntityLink: summarize.variable('reportUrl'),
      timeout: props.approvalTimeout,
    }),
  ];
}

/**
 * The entry condition of every stage after Source: enter only when an upload started the run
 * (`triggerKey` is not the default); otherwise skip the stage. VariableCheck is one of the two rule
 * types a SKIP result supports (with LambdaInvoke) and needs no resource.
 * @see https://docs.aws.amazon.com/codepipeline/latest/userguide/stage-conditions.html
 */
export function skipWithoutTrigger(stageName: string): codepipeline.Conditions {
  return {
    conditions: [
      {
        result: codepipeline.Result.SKIP,
        rules: [
          new codepipeline.Rule({
            name: `${stageName}HasTrigger`,
            provider: 'VariableCheck',
            version: '1',
            configuration: {
              Variable: '#{variables.triggerKey}',
              Operator: 'NE',
              Value: NO_TRIGGER,
            },
          }),
        ],
      },
    ],
  };
}
