// Reference copy (bench/reference/prepare-v0/README.md): functions/core/prepare.ts at 48aa102, imports rewired.
/**
 * The "prepare data" step of a run, shared by the Prepare Lambda (functions/workflow/prepare.ts), the
 * local runtime and `reelflow prepare`: ingest every batch → validate → split → encode for FM → write
 * the run's prepared artifacts through a sink (a folder, or S3 under runs/<runId>/prepared/).
 *
 * Layout written (see docs/data-contract.md):
 *   validation.json               the validation report (also written when the data is rejected)
 *   split/{train,test}.csv        the held-out split, original ids, for audit and evaluation
 *   id-maps/{users,movies}.csv    dense index <-> MovieLens id (the FM one-hot columns)
 *   train/part-00000.recordio …   FM `train` channel: sparse one-hot recordIO-protobuf
 *   test/part-00000.recordio …    FM `test` channel
 *   transform-input/users.jsonl   the batch transform input: one request per line, each
 *                                 {"instances":[{"user_id":N}, ...]} for up to 200 test users
 *   manifest.json                 sizes, split summary and the training jobs' hyperparameters
 *                                 (documented built-in names only: core/algorithms/)
 */
import { FACTORIZATION_MACHINES, KNN, validateHyperparameters } from '../../../functions/core/algorithms';
import { toHyperparameterStrings, type MlConfig } from '../../../functions/core/config';
import { encodeFmExamples } from './fm/encode';
import { DataRejectedError, ingestRatings, type RatingSource, type ValidationReport } from './ingest';
import { Rng } from '../../../functions/core/random';
import { FramedRowEncoder } from '../../../functions/core/recordio';
import { oneHotFramedSize, writeOneHotFramed } from './recordio/one-hot';
import { TAG_BITS } from '../../../functions/core/serving/user-tags';
import { ShardedSinkWriter, LineWriter, type ArtifactSink } from './sink';
import {
  idMapCsv,
  splitCsvChunks,
  splitRatings,
  SplitError,
  summarizeSplit,
  type SplitSummary,
} from './split';
import type { Ratings, SparseExamples, Split } from '../../../functions/core/types';

/** What `prepareRun` leaves in `manifest.json`. */
export interface PreparedManifest {
  readonly formatVersion: 1;
  readonly featureDim: number;
  readonly users: number;
  readonly movies: number;
  readonly ratings: number;
  readonly split: SplitSummary;
  readonly objective: MlConfig['encoding']['objective'];
  readonly train: ChannelSummary;
  readonly test: ChannelSummary;
  readonly testUsers: number;
  /** CreateTrainingJob HyperParameters (all strings) for the FM and k-NN jobs, feature_dim filled in. */
  readonly hyperparameters: { readonly fm: Record<string, string>; readonly knn: Record<string, string> };
}

export interface ChannelSummary {
  readonly examples: number;
  readonly positives: number;
  readonly files: readonly string[];
}

export interface PrepareRunOptions {
  readonly sources: readonly RatingSource[];
  readonly sink: ArtifactSink;
  readonly config: MlConfig;
  /** Progress for a terminal or a log (rows read, stage reached). */
  readonly onProgress?: (event: PrepareProgress) => void;
  /** The time future timestamps are judged against (`ml.ingest.maxFutureSeconds`). @default new Date() */
  readonly now?: Date;
}

export type PrepareProgress =
  | { readonly stage: 'ingest'; readonly rows: number }
  | { readonly stage: 'split' | 'encode' | 'write'; readonly detail: string };

export interface PrepareRunResult {
  readonly manifest: PreparedManifest;
  readonly report: ValidationReport;
  readonly ratings: Ratings;
  readonly split: Split;
  readonly train: SparseExamples;
  readonly test: SparseExamples;
}

/** Records handed to the sink between awaits while writing shards. */
const DRAIN_BYTES = 16 << 20;

/**
 * Runs ingestion, split and encoding and writes the artifacts. Rejected data writes
 * `validation.json` and rethrows the `DataRejectedError`, so nothing is trained on it. Valid rows that
 * cannot make a run (fewer than two movies, no user with enough history for a test set: a
 * `SplitError`) are a rejection too, with the reason in the report's message.
 */
export async function prepareRun(options: PrepareRunOptions): Promise<PrepareRunResult> {
  const { sources, sink, config, onProgress } = options;

  let ratings: Ratings;
  let report: ValidationReport;
  let split: Split;
  const rng = new Rng(config.seed);
  try {
    ({ ratings, report } = await ingestRatings(sources, config.ingest, {
      onProgress: (rows) => onProgress?.({ stage: 'ingest', rows }),
      now: options.now,
    }));
    split = splitOrReject(ratings, report, config, rng.nextU32());
  } catch (error) {
    if (error instanceof DataRejectedError) await putJson(sink, 'validation.json', error.report);
    throw error;
  }
  await putJson(sink, 'validation.json', report);

  const summary = summarizeSplit(ratings, split);
  onProgress?.({ stage: 'split', detail: `${summary.trainRows} train / ${summary.testRows} test ratings` });
  await writeChunks(sink, 'split/train.csv', splitCsvChunks(ratings, split.train));
  await writeChunks(sink, 'split/test.csv', splitCsvChunks(ratings, split.test));
  await sink.put('id-maps/users.csv', idMapCsv(ratings.users));
  await sink.put('id-maps/movies.csv', idMapCsv(ratings.movies));

  const encodeRng = rng.fork();
  const train = encodeFmExamples(ratings, split.train, config.encoding, encodeRng);
  // Test negatives avoid the user's training movies too: they are known interactions, not negatives.
  const test = encodeFmExamples(ratings, split.test, config.encoding, encodeRng, { exclude: split.train });
  onProgress?.({ stage: 'encode', detail: `${train.length} train / ${test.length} test examples` });

  const trainFiles = await writeExamples(sink, 'train', train, config.encoding.shardMaxBytes);
  const testFiles = await writeExamples(sink, 'test', test, config.encoding.shardMaxBytes);
  const testUsers = await writeTransformInput(sink, ratings, split);
  onProgress?.({ stage: 'write', detail: `${trainFiles.length + testFiles.length} recordIO shards` });

  const featureDim = ratings.users.size + ratings.movies.size;
  const manifest: PreparedManifest = {
    formatVersion: 1,
    featureDim,
    users: ratings.users.size,
    movies: ratings.movies.size,
    ratings: ratings.length,
    split: summary,
    objective: config.encoding.objective,
    train: { examples: train.length, positives: countPositives(train), files: trainFiles },
    test: { examples: test.length, positives: countPositives(test), files: testFiles },
    testUsers,
    hyperparameters: trainingHyperparameters(config, featureDim),
  };
  await putJson(sink, 'manifest.json', manifest);
  return { manifest, report, ratings, split, train, test };
}

/**
 * The split of accepted ratings, or a `DataRejectedError` whose report says why these ratings cannot
 * make a run: a single movie (nothing to rank, no negatives to sample) or a split with an empty side.
 */
function splitOrReject(ratings: Ratings, report: ValidationReport, config: MlConfig, seed: number): Split {
  const reject = (reason: string): DataRejectedError =>
    new DataRejectedError({ ...report, accepted: false, message: `rejected: ${reason}` });
  if (ratings.movies.size < 2) {
    throw reject(
      `the ${ratings.length === 1 ? 'only rating is' : `${ratings.length} ratings are all`} of one movie ` +
        `(id ${ratings.movies.ids[0]}); recommendations need ratings of at least 2 movies`,
    );
  }
  try {
    return splitRatings(ratings, config.split, seed);
  } catch (error) {
    if (error instanceof SplitError)
      throw reject(`the data cannot be split for evaluation: ${error.message}`);
    throw error;
  }
}

/**
 * The HyperParameters of both training jobs, as strings: the config's keys (documented names only,
 * config.ts) that are set, plus feature_dim. k-NN's feature_dim is the vector dimension
 * (num_factors + 1) plus the user-tag dimensions of the serving path (docs/architecture.md).
 * Both maps are checked against the built-ins' documented contracts before they are returned, so a
 * request the built-in would fail never leaves prepare (`BuiltinClientError`).
 */
export function trainingHyperparameters(
  config: MlConfig,
  featureDim: number,
): { fm: Record<string, string>; knn: Record<string, string> } {
  const fm = toHyperparameterStrings({ ...config.fm, feature_dim: featureDim });
  const knn = toHyperparameterStrings({ ...config.knn, feature_dim: knnFeatureDim(config) });
  validateHyperparameters(FACTORIZATION_MACHINES, fm);
  validateHyperparameters(KNN, knn);
  return { fm, knn };
}

/** Dimension of the k-NN index: [v (num_factors), w or 1] + the user-tag dimensions. */
export function knnFeatureDim(config: MlConfig): number {
  return config.fm.num_factors + 1 + TAG_BITS;
}

/** Writes sparse examples as recordIO shards under `dir`; resolves to the shard paths. */
export async function writeExamples(
  sink: ArtifactSink,
  dir: string,
  examples: SparseExamples,
  maxBytes: number,
): Promise<string[]> {
  const writer = new ShardedSinkWriter(sink, dir, maxBytes);
  const encoder = new FramedRowEncoder();
  const { rowPtr, cols, vals, label, featureDim } = examples;
  for (let r = 0; r < examples.length; r++) {
    const start = rowPtr[r];
    if (rowPtr[r + 1] - start === 2 && vals[start] === 1 && vals[start + 1] === 1) {
      // The one-hot case (every row the encoder makes): written in place, no intermediate copy.
      const a = cols[start];
      const b = cols[start + 1];
      const at = writer.claim(oneHotFramedSize(a, b, featureDim));
      writeOneHotFramed(writer.buffer, writer.view, at, a, b, featureDim, label[r]);
    } else {
      writer.add(encoder.sparseRange(cols, vals, start, rowPtr[r + 1], featureDim, label[r]));
    }
    if (writer.pendingBytes >= DRAIN_BYTES) await writer.drain();
  }
  return writer.close();
}

/**
 * Users per batch transform record. The transform sends one line per request (SingleRecord), so a line
 * bounds what the pre step sends to k-NN (2 queries a user) whatever MaxPayloadInMB allows; 200 users
 * are ~4 KB in and ~430 KB of k-NN queries.
 */
export const USERS_PER_TRANSFORM_RECORD = 200;

/** The test users (held-out ratings), ascending id, in blocks: the batch transform input. */
async function writeTransformInput(sink: ArtifactSink, ratings: Ratings, split: Split): Promise<number> {
  const isTestUser = new Uint8Array(ratings.users.size);
  for (const row of split.test) isTestUser[ratings.user[row]] = 1;
  const out = new LineWriter(sink.open('transform-input/users.jsonl'));
  let block: string[] = [];
  let count = 0;
  const flush = async (): Promise<void> => {
    if (block.length) await out.line(`{"instances":[${block.join(',')}]}`);
    block = [];
  };
  for (let u = 0; u < isTestUser.length; u++) {
    if (!isTestUser[u]) continue;
    block.push(`{"user_id":${ratings.users.ids[u]}}`);
    count++;
    if (block.length === USERS_PER_TRANSFORM_RECORD) await flush();
  }
  await flush();
  await out.end();
  return count;
}

async function writeChunks(sink: ArtifactSink, path: string, chunks: Iterable<string>): Promise<void> {
  const out = sink.open(path);
  let parts: string[] = [];
  let size = 0;
  for (const chunk of chunks) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= 1 << 20) {
      await out.write(Buffer.from(parts.join(''), 'utf8'));
      parts = [];
      size = 0;
    }
  }
  if (parts.length) await out.write(Buffer.from(parts.join(''), 'utf8'));
  await out.end();
}

function countPositives(examples: SparseExamples): number {
  let n = 0;
  for (let i = 0; i < examples.length; i++) if (examples.label[i] > 0.5) n++;
  return n;
}

async function putJson(sink: ArtifactSink, path: string, value: unknown): Promise<void> {
  await sink.put(path, `${JSON.stringify(value, null, 2)}\n`);
}
