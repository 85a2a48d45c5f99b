/**
 * BuildVectors: reads the run's embedding model.tar.gz (FM's as SageMaker's built-in wrote it, or with
 * `ml.trainer` 'ials' the iALS job's), the id maps and the training split, and writes the k-NN training data (movie vectors + user-tag rows) and the serving bundle of
 * the pre/post containers under `runs/<runId>/vectors/`. The run's config comes from its run.json, so
 * the step uses exactly the settings the run was prepared with.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { BuildVectorsResult, PrepareResult } from '../contracts';
import { requireEnv } from '../common/env';
import { logger } from '../common/logger';
import { metrics, MetricUnit } from '../common/metrics';
import { observed } from '../common/observability';
import { getObjectBytes, getObjectText, s3ClientConfig, s3Sink } from '../common/s3-io';
import { parseS3Uri, runKey } from '../common/s3-uri';
import { tracer } from '../common/tracer';
import { buildVectors as buildVectorsCore, readEmbeddingModel } from '../core/build-vectors';
import { parseMlConfig, type MlConfig } from '../core/config';
import { knnFeatureDim } from '../core/prepare';
import { FramedRowEncoder } from '../core/recordio';
import { parseIdMapCsv, parseSplitCsv } from '../core/split';
import { TAG_BITS } from '../core/serving/user-tags';

const eventSchema = z.object({
  runId: z.string().min(1),
  prepared: z.object({ uris: z.object({ knnTrain: z.string(), servingBundle: z.string() }).loose() }).loose(),
  fm: z.object({ artifact: z.string().startsWith('s3://') }),
  /** training.knnInstanceCount: the most instances the k-NN job may use. */
  knnInstanceCount: z.number().int().positive().default(1),
});

/**
 * The task payload: `{ runId, prepared: $.prepared, fm: { artifact } }`; `fm` is where the embedding
 * job's result goes whatever the trainer (TrainFM, or TrainIALS with `ml.trainer` 'ials').
 */
export interface BuildVectorsEvent {
  readonly runId: string;
  readonly prepared: Pick<PrepareResult, 'uris'>;
  readonly fm: { readonly artifact: string };
  /** The configured k-NN instance count. @default 1 */
  readonly knnInstanceCount?: number;
}

/** Fewer rows than this in a k-NN shard is not worth another instance. */
export const KNN_MIN_ROWS_PER_SHARD = 1000;

/**
 * The config with a shard size that splits `rows` k-NN rows of dimension `dim` into at least `wanted`
 * files (never larger shards than configured), and how many files that is at least.
 */
export function knnSharding(
  config: MlConfig,
  rows: number,
  wanted: number,
): { config: MlConfig; files: number } {
  const files = Math.max(1, Math.min(wanted, Math.floor(rows / KNN_MIN_ROWS_PER_SHARD)));
  if (files === 1) return { config, files };
  const dim = knnFeatureDim(config);
  const rowBytes = new FramedRowEncoder().denseRange(new Float32Array(dim), 0, dim, 1).length;
  const shardMaxBytes = Math.min(config.encoding.shardMaxBytes, Math.ceil(rows / files) * rowBytes);
  return { config: { ...config, encoding: { ...config.encoding, shardMaxBytes } }, files };
}

export async function buildVectors(
  event: BuildVectorsEvent,
  deps: { readonly s3: S3Client; readonly bucket: string },
): Promise<BuildVectorsResult> {
  const { runId, prepared, fm, knnInstanceCount } = eventSchema.parse(event);
  const { s3, bucket } = deps;
  const run = JSON.parse(await getObjectText(s3, bucket, runKey(runId, 'run.json'))) as { config: unknown };
  const config = parseMlConfig(run.config, 'run.json config');

  const artifact = parseS3Uri(fm.artifact);
  const [modelBytes, users, movies, train] = await Promise.all([
    getObjectBytes(s3, artifact.bucket, artifact.key),
    getObjectText(s3, bucket, runKey(runId, 'prepared/id-maps/users.csv')),
    getObjectText(s3, bucket, runKey(runId, 'prepared/id-maps/movies.csv')),
    getObjectBytes(s3, bucket, runKey(runId, 'prepared/split/train.csv')),
  ]);
  const userMap = parseIdMapCsv(users);
  const movieMap = parseIdMapCsv(movies);
  const model = await readEmbeddingModel(modelBytes, config, userMap, movieMap);
  // The k-NN rows: one per movie plus the user-tag rows.
  const sharding = knnSharding(config, movieMap.size + TAG_BITS, knnInstanceCount);
  const built = await buildVectorsCore({
    model,
    users: userMap,
    movies: movieMap,
    train: parseSplitCsv(train),
    modelVersion: runId,
    config: sharding.config,
    sink: s3Sink(s3, bucket, runKey(runId, 'vectors/')),
  });
  logger.info('vectors built', { runId, movies: movieMap.size, users: userMap.size, dim: built.index.dim });
  return {
    knnTrain: prepared.uris.knnTrain,
    servingBundle: prepared.uris.servingBundle,
    dim: built.index.dim,
    tagBits: TAG_BITS,
    users: userMap.size,
    movies: movieMap.size,
    knnInstanceCount: Math.max(1, Math.min(knnInstanceCount, built.knnTrainFiles.length)),
  };
}

const s3 = tracer.captureAWSv3Client(new S3Client(s3ClientConfig()));

export const handler = observed(async (event: BuildVectorsEvent): Promise<BuildVectorsResult> => {
  const result = await buildVectors(event, { s3, bucket: requireEnv('DATA_BUCKET') });
  metrics.addMetric('VectorsBuilt', MetricUnit.Count, 1);
  return result;
});
