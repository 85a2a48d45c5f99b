/**
 * `ml.trainer` 'ials' in the core steps around the iALS job (issue 12, point 2): Prepare hands the iALS
 * job its HyperParameters and sizes the k-NN index by the iALS factors; BuildVectors reads the job's
 * model.tar.gz into the FM shape of the run's layout and builds the same kind of vectors, index and
 * bundle from it; an artifact of the other trainer fails with the reader's error.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTarGz } from '../../functions/core/archive';
import { buildVectors, BuildVectorsError, readEmbeddingModel } from '../../functions/core/build-vectors';
import { parseMlConfig } from '../../functions/core/config';
import { FmArtifactError, writeFmModelTarGz } from '../../functions/core/fm/artifact';
import { ialsHyperparameterStrings } from '../../functions/core/ials/config';
import { ialsAsFmModel, trainIalsModel } from '../../functions/core/ials/model';
import { encodeIalsModel, IALS_MODEL_FILE, IalsModelFileError } from '../../functions/core/ials/model-file';
import { embeddingFactors, knnFeatureDim, trainingHyperparameters } from '../../functions/core/prepare';
import { TAG_BITS } from '../../functions/core/serving/user-tags';
import { directorySink } from '../../functions/core/sink';
import type { SplitRows } from '../../functions/core/split';

function rows(entries: [number, number, number][]): SplitRows {
  return {
    length: entries.length,
    userId: Int32Array.from(entries, (e) => e[0]),
    movieId: Int32Array.from(entries, (e) => e[1]),
    rating: Float32Array.from(entries, (e) => e[2]),
    timestamp: Float64Array.from(entries, (_, i) => i),
  };
}

const TRAIN = rows([
  [3, 10, 5],
  [3, 20, 4],
  [7, 10, 3],
  [7, 30, 5],
  [9, 20, 2],
  [9, 30, 4],
]);
const USERS = { ids: Int32Array.of(3, 7, 9) };
const MOVIES = { ids: Int32Array.of(10, 20, 30, 40) };

describe("Prepare's training settings with trainer ials", () => {
  it('adds the iALS HyperParameters and sizes k-NN by the iALS factors', () => {
    const config = parseMlConfig({ trainer: 'ials', fm: { num_factors: 64 }, ials: { num_factors: 12 } });
    const hp = trainingHyperparameters(config, 100);
    expect(hp.ials).toEqual(ialsHyperparameterStrings(config.ials));
    expect(hp.ials).toMatchObject({ num_factors: '12', iterations: '8' });
    expect(embeddingFactors(config)).toBe(12);
    expect(knnFeatureDim(config)).toBe(12 + 1 + TAG_BITS);
    expect(hp.knn.feature_dim).toBe(String(12 + 1 + TAG_BITS));
    // FM's still describe the shards Prepare writes.
    expect(hp.fm).toMatchObject({ num_factors: '64', feature_dim: '100' });
  });

  it('is unchanged with trainer fm: no iALS map, k-NN sized by FM', () => {
    const config = parseMlConfig({ fm: { num_factors: 16 }, ials: { num_factors: 12 } });
    const hp = trainingHyperparameters(config, 100);
    expect(hp).not.toHaveProperty('ials');
    expect(hp.knn.feature_dim).toBe(String(16 + 1 + TAG_BITS));
  });
});

describe('BuildVectors with trainer ials', () => {
  const config = parseMlConfig({
    trainer: 'ials',
    ials: { num_factors: 3, iterations: 4 },
    knn: { k: 30 },
  });
  const { model } = trainIalsModel(TRAIN, config.ials);
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'reelflow-ials-wiring-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("reads the job's model.tar.gz into the run's FM layout (a movie the model never saw: zeros)", async () => {
    const artifact = await writeTarGz([[IALS_MODEL_FILE, encodeIalsModel(model)]]);
    const read = await readEmbeddingModel(artifact, config, USERS, MOVIES);
    expect(read).toEqual(ialsAsFmModel(model, USERS, MOVIES));
    expect(read.numFactors).toBe(3);
    expect(Array.from(read.v.subarray((3 + 3) * 3, (3 + 4) * 3))).toEqual([0, 0, 0]);
  });

  it('builds the k-NN rows and the bundle at the iALS dimension', async () => {
    const built = await buildVectors({
      model: ialsAsFmModel(model, USERS, MOVIES),
      users: USERS,
      movies: MOVIES,
      train: TRAIN,
      modelVersion: 'r1',
      config,
      sink: directorySink(join(work, 'vectors')),
    });
    expect(built.index.dim).toBe(3 + 1 + TAG_BITS);
    expect(built.bundle.manifest.modelVersion).toBe('r1');
    expect(built.knnTrainFiles.length).toBeGreaterThan(0);
  });

  it("refuses a model whose factors are not the run's, naming the trainer", async () => {
    const other = trainIalsModel(TRAIN, { ...config.ials, num_factors: 2 }).model;
    await expect(
      buildVectors({
        model: ialsAsFmModel(other, USERS, MOVIES),
        users: USERS,
        movies: MOVIES,
        train: TRAIN,
        modelVersion: 'r1',
        config,
        sink: directorySink(join(work, 'bad')),
      }),
    ).rejects.toThrow(
      new BuildVectorsError(
        'the iALS model has 2 factors, but the run was prepared for 3 (k-NN feature_dim ' +
          `${3 + 1 + TAG_BITS})`,
      ),
    );
  });

  it("fails on the other trainer's artifact with the reader's error", async () => {
    const fmArtifact = await writeFmModelTarGz(ialsAsFmModel(model, USERS, MOVIES));
    await expect(readEmbeddingModel(fmArtifact, config, USERS, MOVIES)).rejects.toThrow(IalsModelFileError);
    const ialsArtifact = await writeTarGz([[IALS_MODEL_FILE, encodeIalsModel(model)]]);
    await expect(
      readEmbeddingModel(ialsArtifact, parseMlConfig({ fm: { num_factors: 3 } }), USERS, MOVIES),
    ).rejects.toThrow(FmArtifactError);
  });
});
