/**
 * Issue 12, point 2, on the local runtime: with `ml.trainer` 'ials' a run trains the iALS embeddings as a
 * training job of the project's own image (TrainIALS: `node /app/training.js train` on the run's split,
 * text/csv) instead of the built-in FM, builds the same vectors, k-NN index and serving bundle from its
 * factors, evaluates, is approved, deployed and served. The bundled sample is the data.
 *
 * The API's answer is checked against the iALS model itself (read from the job's model.tar.gz): it must
 * be a top-N of the user's unseen movies by the iALS score ⟨U_u, V_i⟩ + b_i.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { roundNumbers } from '../../functions/core/evaluate/evaluation';
import { ialsHyperparameterStrings } from '../../functions/core/ials/config';
import { readIalsModelArtifact } from '../../functions/core/ials/model-file';
import { TAG_BITS } from '../../functions/core/serving/user-tags';
import { parseSplitCsv } from '../../functions/core/split';
import {
  IALS_METRIC_DEFINITIONS,
  TRAINING_ARGUMENTS,
  TRAINING_ENTRYPOINT,
} from '../../functions/training/main';
import { loadDeployConfig, withLocalTuning } from '../../local/config';
import { RENDER_PLACEHOLDERS } from '../../pipeline/render';
import { RETRAIN_STATES as R, TUNING_STATES } from '../../pipeline/retrain/states';
import { useRecordingRuntime } from './recording-runtime-fixture';

const OVERRIDES = {
  ml: {
    trainer: 'ials',
    ials: { num_factors: 24, iterations: 6 },
    evaluation: { bootstrapSamples: 20 },
  },
};
const SAMPLE = join(__dirname, '..', '..', 'local', 'sample', 'ratings.csv');

describe('trainer ials on the local runtime', () => {
  const rec = useRecordingRuntime('ials', { overrides: OVERRIDES, approve: true });
  const { trainingRequests, s3Bytes } = rec;

  it('npm start does not switch the tuning search on for iALS (it tunes FM)', async () => {
    const ials = withLocalTuning(await loadDeployConfig({ overrides: OVERRIDES }));
    expect(ials.tuning).toMatchObject({ enabled: false, local: true });
    expect(withLocalTuning(await loadDeployConfig()).tuning.enabled).toBe(true);
  });

  it('trains iALS in the project image, builds vectors from it, evaluates, deploys and serves its top-N', async () => {
    const run = await rec.runtime.upload('ratings/sample.csv', readFileSync(SAMPLE));
    const record = await run.done;
    expect(record).toMatchObject({ status: 'Succeeded', stage: 'Deploy', servingVersion: run.runId });

    const path = rec.retrainPath(run.runId);
    expect(path).not.toContain(R.trainFm);
    for (const state of Object.values(TUNING_STATES)) expect(path).not.toContain(state);
    expect(path.slice(path.indexOf(R.hasData), path.indexOf(R.trainKnn) + 1)).toEqual([
      R.hasData,
      R.trainIals,
      'BuildVectorsWhere?',
      R.buildVectors,
      R.trainKnn,
    ]);

    // The embedding job: the project image's training entry on the run's split, the config's iALS settings.
    const [ials, knn] = trainingRequests;
    expect(trainingRequests).toHaveLength(2);
    expect(ials.AlgorithmSpecification).toEqual({
      TrainingImage: RENDER_PLACEHOLDERS.servingImage,
      TrainingInputMode: 'File',
      ContainerEntrypoint: [...TRAINING_ENTRYPOINT],
      ContainerArguments: [...TRAINING_ARGUMENTS],
      MetricDefinitions: IALS_METRIC_DEFINITIONS.map((d) => ({ ...d })),
    });
    expect(ials.HyperParameters).toEqual(ialsHyperparameterStrings(rec.runtime.config.ml.ials));
    expect(ials.InputDataConfig).toEqual([
      expect.objectContaining({
        ChannelName: 'train',
        ContentType: 'text/csv',
        DataSource: {
          S3DataSource: expect.objectContaining({
            S3Uri: `s3://${rec.runtime.bucket}/runs/${run.runId}/prepared/split/train.csv`,
          }),
        },
      }),
    ]);
    // k-NN indexes vectors of the iALS dimension: 24 factors + 1 + the user tags.
    expect(knn.HyperParameters?.feature_dim).toBe(String(24 + 1 + TAG_BITS));

    // The job's artifact is the iALS model, and its final loss is in FinalMetricDataList.
    const described = rec.runtime.sagemaker.describeTrainingJob(ials.TrainingJobName);
    const artifactKey = `runs/${run.runId}/fm/${ials.TrainingJobName}/output/model.tar.gz`;
    expect(described.ModelArtifacts).toEqual({
      S3ModelArtifacts: `s3://${rec.runtime.bucket}/${artifactKey}`,
    });
    const metrics = described.FinalMetricDataList as { MetricName: string; Value: number }[];
    expect(metrics.map((m) => m.MetricName)).toEqual(['train:loss', 'train:final_loss']);
    expect(metrics[0].Value).toBe(metrics[1].Value);
    const model = await readIalsModelArtifact(await s3Bytes(artifactKey));
    expect(model.factors).toBe(24);

    // Evaluated like any candidate (the sample's structure: iALS beats most-popular by far).
    const evaluation = JSON.parse(readFileSync(record.evaluationPath!, 'utf8'));
    expect(evaluation.candidate['ndcg@10']).toBeGreaterThan(evaluation.baselines.popularity['ndcg@10']);
    // The evaluation reports the iALS job's own figures (no FM test channel), rounded as evaluation.json's are.
    const loss = roundNumbers(metrics[1].Value);
    expect(evaluation.training).toEqual({
      ials: {
        job: ials.TrainingJobName,
        status: 'reported',
        trainMetrics: { 'train:loss': loss, 'train:final_loss': loss },
      },
    });

    // Served: the API's movies for a user are a top-N of their unseen movies by the iALS score.
    const train = parseSplitCsv(await s3Bytes(`runs/${run.runId}/prepared/split/train.csv`));
    for (const userId of [model.userIds[0], model.userIds[7], model.userIds[model.userIds.length - 1]]) {
      const response = await fetch(`${rec.runtime.recommendUrl}?user_id=${userId}`);
      const body = (await response.json()) as { movies: number[]; modelVersion: string };
      expect({ status: response.status, version: body.modelVersion }).toEqual({
        status: 200,
        version: run.runId,
      });
      expectTopByIalsScore(model, train, userId, body.movies, rec.runtime.config.ml.evaluation.topN);
    }
  }, 300_000);
});

/**
 * `movies` is a top-`n` of the user's unseen movies by ⟨U_u, V_i⟩ + b_i: n movies, none seen in training,
 * in non-increasing score order, and no unseen movie left out scores above the last one (a float32
 * tolerance for the index's own arithmetic).
 */
function expectTopByIalsScore(
  model: Awaited<ReturnType<typeof readIalsModelArtifact>>,
  train: ReturnType<typeof parseSplitCsv>,
  userId: number,
  movies: readonly number[],
  n: number,
): void {
  const k = model.factors;
  const u = model.userIds.indexOf(userId);
  const score = new Map<number, number>();
  model.movieIds.forEach((movie, i) => {
    let s = model.itemBias[i];
    for (let f = 0; f < k; f++) s += model.userFactors[u * k + f] * model.itemFactors[i * k + f];
    score.set(movie, s);
  });
  const seen = new Set<number>();
  for (let r = 0; r < train.length; r++) if (train.userId[r] === userId) seen.add(train.movieId[r]);
  const tolerance = 1e-5;
  expect(movies).toHaveLength(n);
  expect(movies.filter((m) => seen.has(m))).toEqual([]);
  const scores = movies.map((m) => score.get(m)!);
  for (let i = 1; i < scores.length; i++) expect(scores[i]).toBeLessThanOrEqual(scores[i - 1] + tolerance);
  const listed = new Set(movies);
  const bestLeftOut = Math.max(
    ...[...score].filter(([m]) => !seen.has(m) && !listed.has(m)).map(([, s]) => s),
  );
  expect(bestLeftOut).toBeLessThanOrEqual(scores[scores.length - 1] + tolerance);
}
