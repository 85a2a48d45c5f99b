/**
 * The retrain workflow: from a run id and the upload that started it to an evaluated, gated candidate.
 * This construct only joins its three phases (pipeline/retrain/) and wraps them in a state machine:
 *
 *   PrepareAndTrain:   LoadConfig -> PlanRun -> [Prepare] -> HasData? (no rating file yet: NothingToDo)
 *                      -> TrainFM (.sync) -> [BuildVectors] -> TrainKNN (.sync)
 *   ModelAndTransform: CreateCandidateModel -> CreateTransformModel -> ReadProduction (or NoProduction)
 *                      -> HasProduction?
 *                        yes: DescribeProductionModel -> CreateProductionTransformModel
 *                             -> TransformBoth [TransformCandidate | TransformProduction] (.sync, in parallel)
 *                        no:  TransformCandidateOnly (.sync)
 *   EvaluateAndGate:   [Evaluate] -> Gate -> CandidateReady (output: the evaluation) | NotifyRejected -> CandidateRejected
 *
 * A [data step] runs as its Lambda function or, as PlanRun decided from the config and the input size, as
 * a SageMaker Processing job running the same code in the project's image (retrain/processing-step.ts).
 *
 * Every Task retries throttling with backoff and catches everything into NotifyFailure -> RetrainFailed.
 * Every job and model is named per attempt (names come from Prepare, which derives a suffix from the
 * execution name: a CodePipeline stage Retry keeps the run id but starts a new execution). Production is only read (the SSM
 * production record and its model, for the comparison), never changed: that is the deploy workflow's job.
 */
import { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { builtinImageUri } from './images';
import { EvaluateAndGate } from './retrain/evaluate-and-gate';
import { ModelAndTransform } from './retrain/model-and-transform';
import { grantRetrainPermissions } from './retrain/permissions';
import { PrepareAndTrain } from './retrain/prepare-and-train';
import { RETRAIN_STATES as S, type RetrainConfig } from './retrain/states';
import { maxTrainingJobSeconds } from './retrain/training-task';
import { maxTuningSeconds } from './retrain/tuning';
import { guard, SNS_RETRY, workflowStateMachine } from './workflow-kit';

export { RETRAIN_STATES, type RetrainConfig } from './retrain/states';

/** Props of {@link RetrainWorkflow}. */
export interface RetrainWorkflowProps {
  /** The ML config, the training and transform settings, the name prefix, log retention and logging. */
  readonly config: RetrainConfig;
  /** Encrypts training volumes and outputs, transform volumes and outputs; decrypts the SSM record. */
  readonly key: kms.IKey;
  /** Decides whether the data steps run as Lambda functions or Processing jobs (the PlanRun state). */
  readonly planRun: lambda.IFunction;
  /** Splits and encodes the ratings and names the run's jobs (the Prepare state). */
  readonly prepare: lambda.IFunction;
  /** Turns the FM model into k-NN vectors and the serving bundle (the BuildVectors state). */
  readonly buildVectors: lambda.IFunction;
  /** Scores the candidate against production and the baseline, and gates it (the Evaluate state). */
  readonly evaluate: lambda.IFunction;
  /**
   * Plans, scores and picks the tuning trials (PlanTuning, ScoreTrial, PickBest); required with
   * `tuning.enabled`. @default - none (tuning off)
   */
  readonly tune?: lambda.IFunction;
  /** Failure and rejection notices. */
  readonly alerts: sns.ITopic;
  /** Assumed by the training jobs. */
  readonly trainingRole: iam.IRole;
  /** The execution role of the hosting model (`names.model`, the one the endpoint serves). */
  readonly hostingRole: iam.IRole;
  /** The execution role of the transform models (the batch transforms). */
  readonly transformRole: iam.IRole;
  /** The pre/post container image; it also holds the data steps' Processing entry (/app/processing.js). */
  readonly servingImageUri: string;
  /** Assumed by the data steps' Processing jobs. */
  readonly processingRole: iam.IRole;
  /** The data bucket: the Processing jobs' task and result objects (`runs/<runId>/tasks/`). */
  readonly dataBucket: s3.IBucket;
  /** The SSM parameter with the production record (JSON ProductionRecord), absent before the first deploy. */
  readonly productionParameterName: string;
}

/**
 * The retrain state machine (Standard, JSONPath), buildable from interfaces only so the local runtime
 * can render the same definition (pipeline/render.ts).
 */
export class RetrainWorkflow extends Construct {
  /** The Standard state machine the pipeline's Retrain stage starts. */
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: RetrainWorkflowProps) {
    super(scope, id);
    const { config } = props;
    const failure = this.failurePath(props.alerts);
    const knnImage = builtinImageUri(this, 'knn');
    const processing = {
      role: props.processingRole,
      imageUri: props.servingImageUri,
      key: props.key,
      bucketName: props.dataBucket.bucketName,
    };
    const prepareAndTrain = new PrepareAndTrain(this, 'PrepareAndTrain', {
      config,
      planRun: props.planRun,
      tune: props.tune,
      processing,
      prepare: props.prepare,
      buildVectors: props.buildVectors,
      fmImage: builtinImageUri(this, 'factorization-machines'),
      knnImage,
      key: props.key,
      trainingRole: props.trainingRole,
      failure,
    });
    const modelAndTransform = new ModelAndTransform(this, 'ModelAndTransform', {
      transform: config.transform,
      knnImage,
      servingImageUri: props.servingImageUri,
      hostingRole: props.hostingRole,
      transformRole: props.transformRole,
      resourcePrefix: config.resourcePrefix,
      key: props.key,
      productionParameterName: props.productionParameterName,
      failure,
    });
    const evaluateAndGate = new EvaluateAndGate(this, 'EvaluateAndGate', {
      evaluate: props.evaluate,
      processing: { ...processing, config: config.processing },
      alerts: props.alerts,
      failure,
    });

    this.stateMachine = workflowStateMachine(this, 'StateMachine', {
      definition: prepareAndTrain.next(modelAndTransform).next(evaluateAndGate),
      key: props.key,
      logRetentionDays: config.logRetentionDays,
      // Two training jobs, three data steps (each at most a Processing job) and batch transforms: bounded.
      timeout: Duration.seconds(
        2 * maxTrainingJobSeconds(config.training) +
          3 * config.processing.maxRuntimeSeconds +
          (config.tuning.enabled
            ? maxTuningSeconds(config.tuning, maxTrainingJobSeconds(config.training))
            : 0) +
          6 * 3600,
      ),
      comment: 'reelflow retrain: prepare, train FM and k-NN, build the candidate, evaluate, gate',
      // Its state holds the production record decrypted from the SSM SecureString (ReadProduction).
      logs: config.workflowLogs.retrain,
    });
    grantRetrainPermissions(this.stateMachine, {
      resourcePrefix: config.resourcePrefix,
      key: props.key,
      trainingRole: props.trainingRole,
      hostingRole: props.hostingRole,
      transformRole: props.transformRole,
      processingRole: props.processingRole,
      dataBucket: props.dataBucket,
      functions: [
        props.planRun,
        props.prepare,
        props.buildVectors,
        props.evaluate,
        ...(props.tune ? [props.tune] : []),
      ],
    });
  }

  /** NotifyFailure -> RetrainFailed: notify, then fail with the caught error. */
  private failurePath(alerts: sns.ITopic): sfn.IChainable {
    const retrainFailed = new sfn.Fail(this, S.retrainFailed, {
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const notifyFailure = new tasks.SnsPublish(this, S.notifyFailure, {
      topic: alerts,
      subject: 'reelflow: retrain run failed',
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          'reelflow retrain run {} failed; production is unchanged. Error: {}',
          sfn.JsonPath.stringAt('$.runId'),
          sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.error')),
        ),
      ),
      messageAttributes: { event: { value: 'retrain-failed' } },
      resultPath: sfn.JsonPath.DISCARD,
    });
    guard(notifyFailure, retrainFailed, [SNS_RETRY], '$.notifyError');
    return notifyFailure.next(retrainFailed);
  }
}
