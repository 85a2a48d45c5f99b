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
import { FACTORIZATION_MACHINES, KNN, validateHyperparameters } from './algorithms';
import { toHyperparameterStrings, type MlConfig } from './config';
import { ialsHyperparameterStrings } from './ials/config';
import { encodeFmPacked, unpackExamples, type PackedExamples } from './fm/encode';
import { DataRejectedError, ingestRatings, type RatingSource, type ValidationReport } from './ingest';
import { Rng } from './random';
import { OneHotFramer } from './recordio/one-hot';
import { TAG_BITS } from './serving/user-tags';
import { LineWriter, type ArtifactSink, type ArtifactWriter } from './sink';
import {
  idMapCsv,
  splitCsvByteChunks,
  splitRatings,
  SplitError,
  summarizeSplit,
  type SplitSummary,
} from './split';
import type { Ratings, SparseExamples, Split } from './types';

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
  /** CreateTrainingJob HyperParameters (all strings) of the training jobs (see `trainingHyperparameters`). */
  readonly hyperparameters: TrainingHyperparameters;
}

/**
 * CreateTrainingJob HyperParameters, every value a string: FM's and k-NN's with feature_dim filled in, and
 * with `ml.trainer` 'ials' the iALS job's (functions/core/ials/config.ts), every key set.
 */
export interface TrainingHyperparameters {
  readonly fm: Record<string, string>;
  readonly knn: Record<string, string>;
  /** Only with `ml.trainer` 'ials': the TrainIALS job's HyperParameters. */
  readonly ials?: Record<string, string>;
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

  // Both channels are encoded (packed, 8 bytes an example) before anything is written, train first:
  // they draw from one rng in this order, so the bytes are those of encoding them one after the other.
  // Holding both costs the test channel's share (~0.26 GB at 32 M rows; that Prepare peaks at ~2.2 GB
  // RSS, bench/core.bench.ts --large) and lets every artifact be written at once below.
  const encodeRng = rng.fork();
  const train = encodeFmPacked(ratings, split.train, config.encoding, encodeRng);
  // Test negatives avoid the user's training movies too: they are known interactions, not negatives.
  // The test channel measures, so it is never weighted by recency copies.
  const test = encodeFmPacked(ratings, split.test, config.encoding, encodeRng, {
    exclude: split.train,
    recentCopies: false,
  });
  onProgress?.({ stage: 'encode', detail: `${train.length} train / ${test.length} test examples` });

  // Then three writers run at once, each writing its files in order: the split CSVs with the id maps
  // and the transform input, the train shards, and the test shards. While one chunk is being
  // stored (by the OS, or an upload) the thread frames another file's next chunk, so the writes of
  // ~4 GB at 10 M rows overlap each other and the framing instead of following one another.
  const maxBytes = config.encoding.shardMaxBytes;
  const [testUsers, trainFiles, testFiles] = await allInOrder([
    (async () => {
      await writeChunks(sink, 'split/train.csv', splitCsvByteChunks(ratings, split.train));
      await writeChunks(sink, 'split/test.csv', splitCsvByteChunks(ratings, split.test));
      await sink.put('id-maps/users.csv', idMapCsv(ratings.users));
      await sink.put('id-maps/movies.csv', idMapCsv(ratings.movies));
      return writeTransformInput(sink, ratings, split);
    })(),
    writePackedExamples(sink, 'train', train, maxBytes),
    writePackedExamples(sink, 'test', test, maxBytes),
  ] as const);
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
    train: { examples: train.length, positives: countPackedPositives(train), files: trainFiles },
    test: { examples: test.length, positives: countPackedPositives(test), files: testFiles },
    testUsers,
    hyperparameters: trainingHyperparameters(config, featureDim),
  };
  await putJson(sink, 'manifest.json', manifest);
  // The CSR form (three times the bytes) is built only for a caller that reads it (training in-process).
  let trainExamples: SparseExamples | undefined;
  let testExamples: SparseExamples | undefined;
  return {
    manifest,
    report,
    ratings,
    split,
    get train() {
      return (trainExamples ??= unpackExamples(train));
    },
    get test() {
      return (testExamples ??= unpackExamples(test));
    },
  };
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
 * The HyperParameters of the training jobs, as strings: the config's keys (documented names only,
 * config.ts) that are set, plus feature_dim. k-NN's feature_dim is the vector dimension (the embedding
 * trainer's factors + 1) plus the user-tag dimensions of the serving path (docs/architecture.md).
 * FM's and k-NN's maps are checked against the built-ins' documented contracts before they are
 * returned, so a request the built-in would fail never leaves prepare (`BuiltinClientError`). With
 * `ml.trainer` 'ials' the iALS job's map comes too (every key: the schema already validated them); FM's
 * stays, as it describes the FM shards Prepare still writes.
 */
export function trainingHyperparameters(config: MlConfig, featureDim: number): TrainingHyperparameters {
  const fm = toHyperparameterStrings({ ...config.fm, feature_dim: featureDim });
  const knn = toHyperparameterStrings({ ...config.knn, feature_dim: knnFeatureDim(config) });
  validateHyperparameters(FACTORIZATION_MACHINES, fm);
  validateHyperparameters(KNN, knn);
  return config.trainer === 'ials' ? { fm, knn, ials: ialsHyperparameterStrings(config.ials) } : { fm, knn };
}

/**
 * The latent dimension of the run's embedding trainer: FM's `num_factors`, or iALS's with `ml.trainer`
 * 'ials'. Either way the vectors are `[v, w or 1]` (functions/core/vectors.ts, ialsAsFmModel).
 */
export function embeddingFactors(config: Pick<MlConfig, 'trainer' | 'fm' | 'ials'>): number {
  return config.trainer === 'ials' ? config.ials.num_factors : config.fm.num_factors;
}

/** Dimension of the k-NN index: [v (the embedding factors), w or 1] + the user-tag dimensions. */
export function knnFeatureDim(config: Pick<MlConfig, 'trainer' | 'fm' | 'ials'>): number {
  return embeddingFactors(config) + 1 + TAG_BITS;
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

/**
 * `Promise.all` that waits for every task to settle and then throws the error of the first failed
 * task in the listed order (not the first in time): with a full disk every writer fails, and the
 * report names the same file on every run.
 */
async function allInOrder<T extends readonly unknown[]>(tasks: {
  readonly [K in keyof T]: Promise<T[K]>;
}): Promise<T> {
  const settled = await Promise.allSettled(tasks);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

async function writeChunks(sink: ArtifactSink, path: string, chunks: Iterable<Uint8Array>): Promise<void> {
  const out = new PipelinedWriter(sink.open(path));
  for (const chunk of chunks) await out.send(chunk);
  await out.end();
}

/**
 * Hands chunks to an `ArtifactWriter` with one write in flight: `send` waits for the previous write,
 * not for its own, so the caller fills the next chunk while this one is stored (no idle at each
 * drain). A chunk stays the sink's until its write resolved: when `send` returns, the chunk sent
 * before it is free again if the writer `releasesChunks`, and must never be touched otherwise.
 */
class PipelinedWriter {
  private inFlight: Promise<void> | undefined;

  constructor(private readonly out: ArtifactWriter) {}

  get releasesChunks(): boolean {
    return this.out.releasesChunks === true;
  }

  async send(chunk: Uint8Array): Promise<void> {
    if (this.inFlight) await this.inFlight;
    const write = Promise.resolve(this.out.write(chunk));
    // Rejections surface at the next send or at end; this only keeps Node from calling them unhandled.
    write.catch(() => undefined);
    this.inFlight = write;
  }

  async end(): Promise<void> {
    const last = this.inFlight;
    this.inFlight = undefined;
    if (last) await last;
    await this.out.end();
  }
}

/** Shard chunk size: large enough that a write is one system call, small enough to overlap well. */
const CHUNK_BYTES = 4 << 20;

/**
 * The chunks a channel's shards are framed into: two buffers taken in turn when the writer releases
 * chunks (one is being written while the other fills: no fresh 4 MB with its page faults and garbage
 * per chunk), a fresh buffer per chunk otherwise. One-hot rows are under 100 bytes, so a row always
 * fits an empty chunk.
 */
class ChunkBuffers {
  private spare: Uint8Array | undefined;
  bytes: Uint8Array = new Uint8Array(CHUNK_BYTES);
  words = new Uint32Array(this.bytes.buffer);

  /** Sends `bytes[0, used)` through `out` and makes `bytes` a buffer free to fill. */
  async send(out: PipelinedWriter, used: number): Promise<void> {
    const sent = this.bytes;
    await out.send(sent.subarray(0, used));
    // `send` returned: the chunk sent before `sent` is written (free if the writer releases chunks);
    // `sent` is the sink's until the next send, or the shard's end.
    const free = this.spare;
    this.spare = out.releasesChunks ? sent : undefined;
    this.bytes = free ?? new Uint8Array(CHUNK_BYTES);
    this.words = new Uint32Array(this.bytes.buffer);
  }
}

/**
 * Writes packed examples as recordIO shards under `dir`, each row framed in place into the current
 * chunk; resolves to the shard paths. A shard ends before the record that would take it past
 * `maxBytes` (a record larger than that alone gets a shard of its own).
 */
async function writePackedExamples(
  sink: ArtifactSink,
  dir: string,
  examples: PackedExamples,
  maxBytes: number,
): Promise<string[]> {
  const paths: string[] = [];
  const { pairs, featureDim } = examples;
  const framer = new OneHotFramer(featureDim);
  const chunk = new ChunkBuffers();
  let out: PipelinedWriter | undefined;
  let used = 0;
  let shardBytes = 0;
  for (let r = 0; r < examples.length; r++) {
    const a = pairs[2 * r];
    const word = pairs[2 * r + 1];
    const b = word & 0x7fffffff;
    const size = framer.size(a, b);
    if (shardBytes > 0 && shardBytes + size > maxBytes) {
      if (used > 0) await chunk.send(out!, used);
      used = 0;
      await out!.end();
      out = undefined;
    }
    if (!out) {
      const path = `${dir}/part-${String(paths.length).padStart(5, '0')}.recordio`;
      paths.push(path);
      out = new PipelinedWriter(sink.open(path));
      shardBytes = 0;
    }
    if (used + size > CHUNK_BYTES) {
      await chunk.send(out, used);
      used = 0;
    }
    used = framer.write(chunk.bytes, chunk.words, used, a, b, word >>> 31);
    shardBytes += size;
  }
  if (out) {
    if (used > 0) await chunk.send(out, used);
    await out.end();
  }
  return paths;
}

function countPackedPositives(examples: PackedExamples): number {
  let n = 0;
  for (let i = 0; i < examples.length; i++) n += examples.pairs[2 * i + 1] >>> 31;
  return n;
}

async function putJson(sink: ArtifactSink, path: string, value: unknown): Promise<void> {
  await sink.put(path, `${JSON.stringify(value, null, 2)}\n`);
}
