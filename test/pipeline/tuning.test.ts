import { parseDeployConfig } from '../../pipeline/config';
import { RENDER_PLACEHOLDERS, renderWorkflowDefinitions } from '../../pipeline/render';
import { RETRAIN_STATES as S, TUNING_STATES } from '../../pipeline/retrain/states';

describe('the tuning search in the retrain definition', () => {
  it('is absent with tuning off (the default): HasData? goes straight to TrainFM', () => {
    const { retrain } = renderWorkflowDefinitions(parseDeployConfig({}));
    for (const name of Object.values(TUNING_STATES)) expect(retrain.States).not.toHaveProperty(name);
    expect(retrain.States[S.hasData].Default).toBe(S.trainFm);
  });

  it('runs PlanTuning -> TuningTrials (Map of TrainTrial -> ScoreTrial) -> PickBest -> TrainFM when enabled', () => {
    const config = parseDeployConfig({ tuning: { enabled: true, trials: 6, parallelism: 3, k: 10 } });
    const { retrain } = renderWorkflowDefinitions(config);
    const states = retrain.States;
    expect(states[S.hasData].Default).toBe(S.planTuning);
    expect(states[S.planTuning]).toMatchObject({
      Resource: RENDER_PLACEHOLDERS.tune,
      Parameters: { action: 'plan', tuning: { enabled: true, trials: 6, parallelism: 3 } },
      ResultPath: '$.tuningPlan',
      Next: S.tuningTrials,
    });
    const map = states[S.tuningTrials] as {
      ItemProcessor: { StartAt: string; States: Record<string, Record<string, unknown>> };
    };
    expect(map).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.tuningPlan.trials',
      MaxConcurrency: 3,
      ResultPath: '$.tuningResults',
      Next: S.pickBest,
      Catch: [{ ErrorEquals: ['States.ALL'], Next: S.notifyFailure, ResultPath: '$.error' }],
    });
    const inner = map.ItemProcessor.States;
    expect(map.ItemProcessor.StartAt).toBe(S.trainTrial);
    expect(inner[S.trainTrial]).toMatchObject({
      Resource: 'arn:aws:states:::sagemaker:createTrainingJob.sync',
      Parameters: {
        'TrainingJobName.$': '$.trial.jobName',
        'HyperParameters.$': '$.trial.hyperparameters',
        ResourceConfig: { 'InstanceCount.$': '$.trial.instanceCount' },
      },
      ResultPath: '$.training',
      Next: S.scoreTrial,
    });
    // A failed trial is scored as failed, not fatal to the run.
    expect(inner[S.trainTrial].Catch).toEqual([
      { ErrorEquals: ['States.ALL'], Next: S.scoreTrial, ResultPath: '$.error' },
    ]);
    expect(inner[S.scoreTrial]).toMatchObject({
      Resource: RENDER_PLACEHOLDERS.tune,
      Parameters: { action: 'score', k: 10, 'item.$': '$' },
      OutputPath: '$.result',
      End: true,
    });
    expect(states[S.pickBest]).toMatchObject({
      Resource: RENDER_PLACEHOLDERS.tune,
      Parameters: { action: 'pick', 'prepared.$': '$.prepared', 'results.$': '$.tuningResults' },
      ResultPath: '$.prepared',
      Next: S.trainFm,
    });
  });
});
