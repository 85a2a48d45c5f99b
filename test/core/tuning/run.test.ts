import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMlConfig } from '../../../functions/core/config';
import { fmExamplesFromRecordIO } from '../../../functions/core/fm/encode';
import { trainFm } from '../../../functions/core/fm/train';
import { bufferSource, ingestRatings } from '../../../functions/core/ingest';
import { Rng } from '../../../functions/core/random';
import { directorySink } from '../../../functions/core/sink';
import { parseSplitCsv, splitRatings } from '../../../functions/core/split';
import {
  pickRunBest,
  planRunTuning,
  scoreRunTrial,
  tuningData,
  tuningSchema,
  TUNING_FILES,
  type TrialResult,
} from '../../../functions/core/tuning';
import { generateSample } from '../../../local/sample/synthetic';

describe('a search over a run', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reelflow-tuning-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('plans, trains, scores and picks, sharing a channel between trials with the same encoding', async () => {
    const ml = parseMlConfig({ fm: { epochs: 3, num_factors: 8 } });
    const tuning = tuningSchema.parse({
      enabled: true,
      trials: 4,
      space: {
        'fm.factors_lr': { type: 'continuous', min: 1e-3, max: 3e-2, scale: 'log' },
        'encoding.negativeSampling': { type: 'categorical', values: ['uniform', 'popularity'] },
      },
    });
    const { ratingsCsv } = generateSample({ users: 60, movies: 80, meanRatingsPerUser: 20, seed: 3 });
    const { ratings } = await ingestRatings([bufferSource('ratings.csv', ratingsCsv)], ml.ingest);
    const split = splitRatings(ratings, ml.split, new Rng(ml.seed).nextU32());
    const sink = directorySink(dir);
    const plan = await planRunTuning({
      ratings,
      train: split.train,
      ml,
      tuning,
      sink,
      tuningUri: 's3://bucket/runs/r1/tuning/',
      jobName: (i) => `reelflow-t${String(i).padStart(2, '0')}-r1-abc123`,
    });

    expect(plan.trials.map((t) => t.id)).toEqual(['trial-00', 'trial-01', 'trial-02', 'trial-03']);
    expect(plan.trials[0].settings).toEqual({
      'encoding.negativeSampling': 'popularity',
      'fm.factors_lr': 1e-4,
    });
    expect(plan.fitRatings + plan.validationRatings).toBe(split.train.length);
    expect(plan.trials[2].jobName).toBe('reelflow-t02-r1-abc123');
    expect(plan.trials.every((t) => t.hyperparameters.feature_dim === String(140))).toBe(true);
    for (const trial of plan.trials) {
      expect(trial.hyperparameters.factors_lr).toBe(String(trial.settings['fm.factors_lr']));
    }
    // One channel per distinct sampling.
    const uris = new Map(plan.trials.map((t) => [t.settings['encoding.negativeSampling'], t.trainUri]));
    expect(new Set(plan.trials.map((t) => t.trainUri)).size).toBe(uris.size);
    expect((await readdir(join(dir, 'channels'))).length).toBe(uris.size);
    expect(JSON.parse(await readFile(join(dir, TUNING_FILES.plan), 'utf8')).trials).toHaveLength(4);

    // Each trial trains on its channel as the job would, and is scored on the validation rows.
    const idMaps = { users: ratings.users, movies: ratings.movies };
    const data = tuningData(
      idMaps.users,
      idMaps.movies,
      parseSplitCsv(await readFile(join(dir, TUNING_FILES.fit))),
      parseSplitCsv(await readFile(join(dir, TUNING_FILES.validation))),
    );
    const results: TrialResult[] = [];
    for (const trial of plan.trials) {
      const channel = trial.trainUri.replace('s3://bucket/runs/r1/tuning/', '');
      const files = (await readdir(join(dir, channel))).sort();
      const examples = fmExamplesFromRecordIO(
        await Promise.all(files.map((f) => readFile(join(dir, channel, f)))),
      );
      expect(examples.featureDim).toBe(140);
      const hp = { ...ml.fm, factors_lr: Number(trial.hyperparameters.factors_lr), feature_dim: 140 };
      const { model } = trainFm(examples, hp, { seed: 1 });
      const score = scoreRunTrial(model, data, { k: 10 });
      expect(score.ndcg).toBeGreaterThanOrEqual(0);
      expect(score.ndcg).toBeLessThanOrEqual(1);
      results.push({ ...trial, status: 'scored', validationNdcg: score.ndcg, instanceSeconds: 60 });
    }
    results[3] = { ...results[3], status: 'failed', validationNdcg: undefined, error: 'ClientError: x' };

    const picked = await pickRunBest({
      results,
      k: 10,
      ml,
      ratings,
      train: split.train,
      sink,
      tuningUri: 's3://bucket/runs/r1/tuning/',
    });
    const best = results
      .filter((r) => r.status === 'scored')
      .sort((a, b) => b.validationNdcg! - a.validationNdcg!)[0];
    expect(picked.outcome.best.id).toBe(best.id);
    expect(picked.hyperparameters.fm.factors_lr).toBe(String(best.settings['fm.factors_lr']));
    expect(picked.ml.encoding.negativeSampling).toBe(best.settings['encoding.negativeSampling']);
    if (best.settings['encoding.negativeSampling'] === 'popularity') {
      expect(picked.trainUri).toBeUndefined();
    } else {
      expect(picked.trainUri).toBe('s3://bucket/runs/r1/tuning/final/train/');
      expect((await readdir(join(dir, 'final', 'train'))).length).toBeGreaterThan(0);
    }
    const saved = JSON.parse(await readFile(join(dir, TUNING_FILES.outcome), 'utf8'));
    expect(saved.trials).toHaveLength(4);
    expect(saved.trials[3]).toMatchObject({ id: 'trial-03', status: 'failed' });
  });
});
