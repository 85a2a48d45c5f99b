/**
 * Issue 12, point 1, on the local runtime: with `tuning.enabled` a retrain searches before it trains the
 * final FM model (PlanTuning -> TuningTrials [TrainTrial -> ScoreTrial] x trials -> PickBest -> TrainFM),
 * every trial an FM training job of its own on the fit share of the training data, and the final
 * TrainFM uses the winner's HyperParameters. The bundled sample is the data; the run ends at the approval.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RETRAIN_STATES as R } from '../../pipeline/retrain/states';
import { useRecordingRuntime } from './recording-runtime-fixture';

const OVERRIDES = {
  tuning: {
    enabled: true,
    trials: 3,
    parallelism: 2,
    space: {
      'fm.factors_lr': { type: 'continuous', min: 0.003, max: 0.03, scale: 'log' },
      'encoding.negativeRatio': { type: 'integer', min: 1, max: 3 },
    },
  },
  ml: {
    fm: { num_factors: 8, epochs: 3, factors_lr: 0.01, factors_wd: 0.0001 },
    knn: { k: 30 },
    evaluation: { bootstrapSamples: 20 },
    gate: { maxRegression: 1, mustBeatPopularity: false },
  },
};
const SAMPLE = join(__dirname, '..', '..', 'local', 'sample', 'ratings.csv');

describe('the tuning search on the local runtime', () => {
  const rec = useRecordingRuntime('tuning', { overrides: OVERRIDES, approve: false });
  const { trainingRequests } = rec;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON artifacts, checked field by field below
  const s3Json = async (key: string): Promise<Record<string, any>> => {
    const object = await rec.runtime.s3.send(new GetObjectCommand({ Bucket: rec.runtime.bucket, Key: key }));
    return JSON.parse(await object.Body!.transformToString());
  };

  it('trains and scores every trial, picks the best and trains the final model with its settings', async () => {
    const run = await rec.runtime.upload('ratings/sample.csv', readFileSync(SAMPLE));
    const record = await run.done;
    expect({ ...record, reason: record.status === 'Rejected' ? undefined : record.reason }).toMatchObject({
      status: 'Rejected',
      failedState: 'Approve',
      reason: undefined,
    });

    const path = rec.retrainPath(run.runId);
    const order = [R.hasData, R.planTuning, R.tuningTrials, R.pickBest, R.trainFm].map((s) =>
      path.indexOf(s),
    );
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(path.filter((s) => s === R.trainTrial)).toHaveLength(3);
    expect(path.filter((s) => s === R.scoreTrial)).toHaveLength(3);

    // Three trial jobs on the trials' channels, then the final FM job and k-NN.
    const trials = trainingRequests.filter((r) => /-t\d\d-/.test(r.TrainingJobName));
    expect(trials.map((r) => r.TrainingJobName.match(/-(t\d\d)-/)![1]).sort()).toEqual(['t00', 't01', 't02']);
    for (const trial of trials) {
      expect(trial.ResourceConfig).toMatchObject({ InstanceCount: 1 });
      expect(trial.InputDataConfig?.[0].DataSource?.S3DataSource?.S3Uri).toContain('/tuning/channels/');
    }

    const outcome = await s3Json(`runs/${run.runId}/tuning/tuning.json`);
    expect(outcome.trials).toHaveLength(3);
    expect(outcome.trials.every((t: { status: string }) => t.status === 'scored')).toBe(true);
    expect(outcome.baseline.id).toBe('trial-00');
    const best = outcome.best as { settings: Record<string, number>; validationNdcg: number };
    expect(best.validationNdcg).toBeGreaterThanOrEqual(outcome.baseline.validationNdcg);

    // The final FM job trains the winner on all training data.
    const final = trainingRequests.find((r) => r.TrainingJobName.includes('-fm-'))!;
    expect(final.HyperParameters?.factors_lr).toBe(String(best.settings['fm.factors_lr']));
    const run_ = await s3Json(`runs/${run.runId}/run.json`);
    expect(run_.config.encoding.negativeRatio).toBe(best.settings['encoding.negativeRatio']);
    expect(run_.configBeforeTuning.fm.factors_lr).toBe(0.01);
    // The evaluation shows the search: every trial, the chosen one first, its cost.
    const evaluation = await s3Json(`runs/${run.runId}/evaluation/evaluation.json`);
    expect(evaluation.tuning).toMatchObject({ k: 10, best: outcome.best.id, baseline: 'trial-00' });
    expect(evaluation.tuning.trials).toHaveLength(3);
    expect(evaluation.tuning.trials[0].id).toBe(outcome.best.id);
    expect(evaluation.tuning.trials.every((t: { instanceMinutes: number }) => t.instanceMinutes > 0)).toBe(
      true,
    );
    const report = await rec.runtime.s3.send(
      new GetObjectCommand({ Bucket: rec.runtime.bucket, Key: `runs/${run.runId}/evaluation/report.html` }),
    );
    expect(await report.Body!.transformToString()).toContain('Tuning: 3 trials ranked by validation NDCG@10');

    const trainUri = final.InputDataConfig?.find((c) => c.ChannelName === 'train')?.DataSource?.S3DataSource
      ?.S3Uri;
    expect(trainUri).toBe(
      best.settings['encoding.negativeRatio'] === 4
        ? `s3://${rec.runtime.bucket}/runs/${run.runId}/prepared/train/`
        : `s3://${rec.runtime.bucket}/runs/${run.runId}/tuning/final/train/`,
    );
  }, 300_000);
});
