/**
 * The search for the ranking metric, between Prepare and TrainFM when `tuning.enabled` (absent from the
 * definition otherwise, so a run without tuning has exactly the states it had):
 *
 *   PlanTuning -> TuningTrials (Map, MaxConcurrency = tuning.parallelism)
 *                   [ TrainTrial (.sync; a failed job is caught into ScoreTrial) -> ScoreTrial ]
 *              -> PickBest (its output replaces $.prepared: the winner's HyperParameters and train channel)
 *
 * Each trial is an FM training job of the built-in on the fit share of the training data (one instance),
 * scored by the tune function on the validation share by NDCG@k of its k-NN recommendations
 * (functions/workflow/tune.ts). SageMaker's own tuner is not used: it can only optimise a metric the
 * built-in emits (accuracy, loss), not the ranking metric users care about.
 */
import { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { TuningConfig } from '../../functions/core/tuning/config';
import type { TrainingConfig } from '../config';
import { guard, LAMBDA_RETRY, lambdaStep } from '../workflow-kit';
import { TUNING_STATES } from './states';
import { trainingTask } from './training-task';

const S = TUNING_STATES;

/** Props of {@link Tuning}. */
export interface TuningProps {
  /** The search settings (rendered into the definition). */
  readonly tuning: TuningConfig;
  /** Plans, scores and picks (functions/workflow/tune.ts). */
  readonly tune: lambda.IFunction;
  /** The factorization-machines image URI. */
  readonly fmImage: string;
  /** The training settings: the trials use the FM instance type, one instance each. */
  readonly training: TrainingConfig;
  /** Encrypts the trials' volumes and outputs. */
  readonly key: kms.IKey;
  /** Assumed by the trials' training jobs. */
  readonly trainingRole: iam.IRole;
  /** Where every error outside a trial's training goes (the notify-and-fail path). */
  readonly failure: sfn.IChainable;
}

/** PlanTuning through PickBest; ends after PickBest. */
export class Tuning extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: TuningProps) {
    super(scope, id);
    const plan = this.tuneStep(S.planTuning, props, '$.tuningPlan', {
      action: 'plan',
      runId: sfn.JsonPath.stringAt('$.runId'),
      executionName: sfn.JsonPath.stringAt('$$.Execution.Name'),
      resourcePrefix: sfn.JsonPath.stringAt('$.config.resourcePrefix'),
      tuning: props.tuning,
    });
    const pick = this.tuneStep(S.pickBest, props, '$.prepared', {
      action: 'pick',
      runId: sfn.JsonPath.stringAt('$.runId'),
      k: props.tuning.k,
      prepared: sfn.JsonPath.objectAt('$.prepared'),
      results: sfn.JsonPath.listAt('$.tuningResults'),
    });
    plan.next(this.trials(props)).next(pick);
    this.startState = plan;
    this.endStates = [pick];
  }

  /** A guarded Task of the tune function (its errors go to the failure path). */
  private tuneStep(
    id: string,
    props: TuningProps,
    resultPath: string,
    payload: Record<string, unknown>,
  ): tasks.LambdaInvoke {
    return guard(lambdaStep(this, id, props.tune, payload, resultPath), props.failure, [LAMBDA_RETRY]);
  }

  /** TuningTrials: the Map of TrainTrial -> ScoreTrial over the planned trials. */
  private trials(props: TuningProps): sfn.Map {
    const { tuning } = props;
    const score = new tasks.LambdaInvoke(this, S.scoreTrial, {
      lambdaFunction: props.tune,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      payload: sfn.TaskInput.fromObject({
        action: 'score',
        runId: sfn.JsonPath.stringAt('$.runId'),
        k: tuning.k,
        item: sfn.JsonPath.objectAt('$'),
      }),
      resultPath: '$.result',
      outputPath: '$.result',
    });
    score.addRetry(LAMBDA_RETRY);
    const trainTrial = trainingTask(this, S.trainTrial, {
      training: props.training,
      key: props.key,
      role: props.trainingRole,
      // A trial that fails is recorded by ScoreTrial (with the error at $.error), not fatal to the run.
      failure: score,
      jobName: '$.trial.jobName',
      image: props.fmImage,
      hyperparameters: '$.trial.hyperparameters',
      channels: [{ name: 'train', uri: '$.trial.trainUri', sharded: false }],
      output: '$.trial.outputUri',
      instanceType: props.training.fmInstanceType,
      instanceCount: 1,
      instanceCountPath: '$.trial.instanceCount',
      resultPath: '$.training',
    });
    trainTrial.next(score);
    const trials = new sfn.Map(this, S.tuningTrials, {
      comment: `Trains and scores ${tuning.trials} trials, ${tuning.parallelism} at a time`,
      itemsPath: '$.tuningPlan.trials',
      maxConcurrency: tuning.parallelism,
      itemSelector: {
        trial: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
        runId: sfn.JsonPath.stringAt('$.runId'),
      },
      resultPath: '$.tuningResults',
    });
    trials.itemProcessor(trainTrial);
    trials.addCatch(props.failure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    return trials;
  }
}

/** The longest the search may take: every trial's training limit, `parallelism` at a time, plus scoring. */
export function maxTuningSeconds(tuning: TuningConfig, maxTrainingSeconds: number): number {
  const waves = Math.ceil(tuning.trials / tuning.parallelism);
  return waves * (maxTrainingSeconds + Duration.minutes(20).toSeconds());
}
