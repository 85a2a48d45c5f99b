/**
 * The retrain workflow's last phase: evaluate the candidate against production and the popularity
 * baseline, then gate it. Every path of this phase ends the execution.
 *
 *   [Evaluate] -> Gate -> CandidateReady (output: the evaluation) | NotifyRejected -> CandidateRejected
 *
 * [Evaluate] is a data step (processing-step.ts): the Lambda Task, or the same code as a Processing job.
 */
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { guard, SNS_RETRY } from '../workflow-kit';
import { DataStep, type ProcessingJobSettings } from './processing-step';
import { RETRAIN_STATES as S } from './states';

/** Props of {@link EvaluateAndGate}. */
export interface EvaluateAndGateProps {
  /** Scores both models' predictions and applies the gate (the Evaluate state). */
  readonly evaluate: lambda.IFunction;
  /** The Processing path of the Evaluate step. */
  readonly processing: ProcessingJobSettings;
  /** Receives the rejection notice. */
  readonly alerts: sns.ITopic;
  /** Where every error goes (the notify-and-fail path). */
  readonly failure: sfn.IChainable;
}

/** Evaluate through CandidateReady or CandidateRejected; no end states (both outcomes are final). */
export class EvaluateAndGate extends sfn.StateMachineFragment {
  readonly startState: sfn.State;
  readonly endStates: sfn.INextable[] = [];

  constructor(scope: Construct, id: string, props: EvaluateAndGateProps) {
    super(scope, id);
    const evaluate = new DataStep(this, 'EvaluateStep', {
      step: 'evaluate',
      stateName: S.evaluate,
      fn: props.evaluate,
      payload: {
        runId: sfn.JsonPath.stringAt('$.runId'),
        trigger: sfn.JsonPath.objectAt('$.trigger'),
        config: sfn.JsonPath.objectAt('$.config.ml'),
        prepared: sfn.JsonPath.objectAt('$.prepared'),
        production: sfn.JsonPath.objectAt('$.production.record'),
        candidateOutput: sfn.JsonPath.stringAt('$.prepared.uris.candidateTransformOutput'),
        productionOutput: sfn.JsonPath.stringAt('$.prepared.uris.productionTransformOutput'),
      },
      resultPath: '$.evaluation',
      processing: props.processing,
      failure: props.failure,
    });
    const candidateReady = new sfn.Succeed(this, S.candidateReady, {
      comment: 'The execution output is the evaluation summary the approval shows',
      outputPath: '$.evaluation',
    });
    const gate = new sfn.Choice(this, S.gate)
      .when(sfn.Condition.booleanEquals('$.evaluation.gate.passed', true), candidateReady)
      .otherwise(this.rejection(props.alerts));
    evaluate.next(gate);
    this.startState = evaluate.startState;
  }

  /** NotifyRejected -> CandidateRejected; a failed notice still ends CandidateRejected. */
  private rejection(alerts: sns.ITopic): sfn.IChainable {
    const candidateRejected = new sfn.Fail(this, S.candidateRejected, {
      error: 'CandidateRejected',
      cause: 'The candidate did not pass the gate; production is unchanged (see the evaluation report).',
    });
    const notifyRejected = new tasks.SnsPublish(this, S.notifyRejected, {
      topic: alerts,
      subject: 'reelflow: candidate rejected by the gate',
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          'reelflow run {} was rejected by the gate; production is unchanged. {}',
          sfn.JsonPath.stringAt('$.runId'),
          sfn.JsonPath.stringAt('$.evaluation.approvalText'),
        ),
      ),
      messageAttributes: { event: { value: 'candidate-rejected' } },
      resultPath: sfn.JsonPath.DISCARD,
    });
    guard(notifyRejected, candidateRejected, [SNS_RETRY], '$.notifyError');
    return notifyRejected.next(candidateRejected);
  }
}
