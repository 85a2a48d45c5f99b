/**
 * The "build vectors" step of a run (functions/workflow/build-vectors.ts and the local runtime): the
 * trained embedding model → the k-NN training data (movie vectors plus the user-tag rows) and the serving
 * bundle of the pre/post containers (user vectors, each user's training movies, popular movies).
 *
 * The model is FM's, or with `ml.trainer` 'ials' the iALS job's, turned into the FM shape of the run's
 * one-hot layout (`ialsAsFmModel`: `[U_u, 1]`, `[V_i, b_i]`), so both trainers give the same kind of
 * vectors, index and bundle (`readEmbeddingModel`).
 *
 * Written through a sink (runs/<runId>/vectors/ on S3, or a folder):
 *   knn-train/part-00000.recordio …   dense float32 rows, label = movie id (or tag label)
 *   serving-bundle.tar.gz             model data of the pre and post containers
 */
import type { MlConfig } from './config';
import { countMovies, popularityRanking } from './evaluate/recommend';
import { readFmModelTarGz } from './fm/artifact';
import { ialsAsFmModel } from './ials/model';
import { readIalsModelArtifact } from './ials/model-file';
import { embeddingFactors, knnFeatureDim } from './prepare';
import { FramedRowEncoder } from './recordio';
import { buildServingBundle, writeServingBundle, type ServingBundle } from './serving/bundle';
import { appendTagRows, TAG_BITS } from './serving/user-tags';
import { ShardedSinkWriter, type ArtifactSink } from './sink';
import type { SplitRows } from './split';
import type { FmModel, IdMap } from './types';
import { buildKnnVectors } from './vectors';

export interface BuildVectorsInput {
  readonly model: FmModel;
  /** The id maps of the run (the FM one-hot columns). */
  readonly users: Pick<IdMap, 'ids'>;
  readonly movies: Pick<IdMap, 'ids'>;
  /** The training split (original ids): each user's seen movies and the popularity ranking. */
  readonly train: SplitRows;
  /** The run id: the `modelVersion` the API answers with. */
  readonly modelVersion: string;
  readonly config: MlConfig;
  readonly sink: ArtifactSink;
}

export interface BuildVectorsOutput {
  readonly bundle: ServingBundle;
  /** The k-NN index rows as trained: movie vectors + tag rows, dimension `dim`. */
  readonly index: { readonly vectors: Float32Array; readonly labels: Float32Array; readonly dim: number };
  readonly knnTrainFiles: readonly string[];
  readonly bundlePath: string;
}

export class BuildVectorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildVectorsError';
  }
}

export async function buildVectors(input: BuildVectorsInput): Promise<BuildVectorsOutput> {
  const { model, users, movies, train, config, sink } = input;
  const vectors = buildKnnVectors(model, users, movies);
  const index = appendTagRows(vectors.itemVectors, vectors.itemLabels, vectors.dim, TAG_BITS);
  if (index.dim !== knnFeatureDim(config)) {
    throw new BuildVectorsError(
      `the ${config.trainer === 'ials' ? 'iALS' : 'FM'} model has ${model.numFactors} factors, but the run ` +
        `was prepared for ${embeddingFactors(config)} (k-NN feature_dim ${knnFeatureDim(config)})`,
    );
  }

  const writer = new ShardedSinkWriter(sink, 'knn-train', config.encoding.shardMaxBytes);
  const encoder = new FramedRowEncoder();
  for (let r = 0; r < index.labels.length; r++) {
    writer.add(encoder.denseRange(index.vectors, r * index.dim, (r + 1) * index.dim, index.labels[r]));
    if (writer.pendingBytes >= 16 << 20) await writer.drain();
  }
  const knnTrainFiles = await writer.close();

  const seen = seenByUserRow(users.ids, train);
  const bundle = buildServingBundle({
    modelVersion: input.modelVersion,
    userIds: vectors.userIds,
    userVectors: vectors.userVectors,
    factorDim: vectors.dim,
    movies: movies.ids.length,
    seen: (row) => seen[row],
    popular: popularityRanking(countMovies(train.movieId)),
    k: config.knn.k,
    topN: config.evaluation.topN,
  });
  const bundlePath = 'serving-bundle.tar.gz';
  await sink.put(bundlePath, await writeServingBundle(bundle));
  return { bundle, index, knnTrainFiles, bundlePath };
}

/**
 * The embedding training job's `model.tar.gz` as the FM model of the run's one-hot layout (users, then
 * movies): FM's artifact as SageMaker's built-in wrote it, or with `ml.trainer` 'ials' the iALS job's
 * `ials-model.bin`, its rows placed by original id (ids the model never saw get zero rows). An artifact
 * of the other trainer fails with the reader's error, which names what the tarball holds.
 */
export async function readEmbeddingModel(
  artifact: Uint8Array,
  config: Pick<MlConfig, 'trainer'>,
  users: Pick<IdMap, 'ids'>,
  movies: Pick<IdMap, 'ids'>,
): Promise<FmModel> {
  if (config.trainer === 'ials') {
    return ialsAsFmModel(await readIalsModelArtifact(artifact), users, movies);
  }
  return readFmModelTarGz(artifact, { featureDim: users.ids.length + movies.ids.length });
}

/** Each user's training movies, by row of the (ascending) user id map. */
function seenByUserRow(userIds: Int32Array, train: SplitRows): Int32Array[] {
  const rowOf = new Map<number, number>();
  userIds.forEach((id, row) => rowOf.set(id, row));
  const counts = new Uint32Array(userIds.length);
  for (let i = 0; i < train.length; i++) {
    const row = rowOf.get(train.userId[i]);
    if (row === undefined)
      throw new BuildVectorsError(`training user ${train.userId[i]} is not in the id map`);
    counts[row]++;
  }
  const lists = Array.from(counts, (n) => new Int32Array(n));
  const filled = new Uint32Array(userIds.length);
  for (let i = 0; i < train.length; i++) {
    const row = rowOf.get(train.userId[i])!;
    lists[row][filled[row]++] = train.movieId[i];
  }
  return lists;
}
