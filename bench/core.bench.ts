/**
 * The core at scale, on a generated MovieLens-format data set of `--rows` ratings (one process per size,
 * so peak RSS is the size's own):
 *
 *   parse only      the same file through ingestion's byte line parser, nothing stored: the reference
 *   ingest+encode   ingestion (parse, validate, union, latest-wins dedupe) + every kept rating encoded
 *                   as its one-hot FM recordIO record (in memory)
 *   prepare         the whole Prepare step: the above, the split and its CSVs, the sampled negatives
 *                   of the implicit objective (x4), recordIO shards and artifacts on disk
 *   FM              one epoch of the local trainer (seconds per epoch and examples/s; the run's epochs
 *                   are projected from it)
 *   k-NN + serve    every test user (up to --serve-users) through pre -> exact k-NN -> post
 *   evaluation      metrics, baselines, bootstrap and report for those users
 *
 * The figure for ingest+encode is its throughput as a ratio of the parse-only pass over the same file
 * in the same process (target >= 0.33), so it compares across machines; prepare's ratio is printed too.
 * Prints one JSON line.
 *
 * Run: npx tsx bench/core.bench.ts --rows 1000000 [--dir <tmp>] [--serve-users 5000]
 */
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { buildVectors } from '../functions/core/build-vectors';
import { parseMlConfig } from '../functions/core/config';
import { runEvaluation } from '../functions/core/evaluate/run-evaluation';
import { trainFm } from '../functions/core/fm/train';
import { fileSource, ingestRatings, openDecoded } from '../functions/core/ingest';
import { LineParser, ROW_OK } from '../functions/core/ingest/formats';
import { buildKnnIndex } from '../functions/core/knn';
import { prepareRun } from '../functions/core/prepare';
import { writeOneHotFramed } from '../functions/core/recordio/one-hot';

const MAX_ONE_HOT_RECORD = 128;
import { serveUsers } from '../functions/core/serving/pipeline';
import { directorySink } from '../functions/core/sink';
import { splitRowsOf } from '../functions/core/split';
import { writeSyntheticRatings } from '../local/sample/synthetic';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    dir: { type: 'string' },
    'serve-users': { type: 'string', default: '5000' },
  },
});
const rows = Number(values.rows);
const serveLimit = Number(values['serve-users']);

/** Data shape: ml-latest-small-like activity (~60 ratings a user), a catalog growing with the data. */
function shape(n: number) {
  const users = Math.max(100, Math.round(n / 60));
  const movies = Math.min(60_000, Math.max(1_000, Math.round(Math.sqrt(n) * 10)));
  return { users, movies, meanRatingsPerUser: 60, seed: 7 };
}

/**
 * For context, what a plain implementation spends just to read the numbers: readline, split, Number.
 * Not the reference of the figure (that is ingestion's own parser, far faster), but a floor any
 * straightforward reader pays.
 */
async function textbookParse(path: string): Promise<{ rows: number; ms: number }> {
  const started = performance.now();
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let good = 0;
  let first = true;
  for await (const line of lines) {
    if (first) {
      first = false;
      continue;
    }
    const f = line.split(',');
    const [u, m, r, t] = [Number(f[0]), Number(f[1]), Number(f[2]), Number(f[3])];
    if (Number.isInteger(u) && Number.isInteger(m) && r >= 0.5 && r <= 5 && t >= 0) good++;
  }
  return { rows: good, ms: performance.now() - started };
}

/** Every line through the byte parser, nothing stored: the cheapest pass that reads every field. */
async function parseOnly(path: string): Promise<{ rows: number; ms: number }> {
  const started = performance.now();
  const parser = new LineParser('ratings.csv', { ratingMin: 0.5, ratingMax: 5 });
  const { chunks } = await openDecoded(fileSource(path));
  let carry: Buffer = Buffer.alloc(0);
  let good = 0;
  let first = true;
  for await (const chunk of chunks) {
    const bytes = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (let nl = bytes.indexOf(10, start); nl >= 0; nl = bytes.indexOf(10, start)) {
      if (first)
        first = false; // header
      else if (parser.parse(bytes, start, nl) === ROW_OK) good++;
      start = nl + 1;
    }
    carry = bytes.subarray(start);
  }
  return { rows: good, ms: performance.now() - started };
}

const mb = (bytes: number) => bytes / (1 << 20);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Every rating as its one-hot FM record, into a reused 16 MB buffer; returns the bytes encoded. */
function encodeAll(ratings: Awaited<ReturnType<typeof ingestRatings>>['ratings']): number {
  const out = new Uint8Array(16 << 20);
  const view = new DataView(out.buffer);
  const nUsers = ratings.users.size;
  const featureDim = nUsers + ratings.movies.size;
  let at = 0;
  let total = 0;
  for (let i = 0; i < ratings.length; i++) {
    const a = ratings.user[i];
    const b = nUsers + ratings.movie[i];
    // A one-hot record is at most ~80 bytes; start a new buffer before one could overflow.
    if (at + MAX_ONE_HOT_RECORD > out.length) {
      total += at;
      at = 0;
    }
    at = writeOneHotFramed(out, view, at, a, b, featureDim, ratings.rating[i] >= 4 ? 1 : 0);
  }
  return total + at;
}
const rss = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function main(): Promise<void> {
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'reelflow-bench-'));
  const file = join(dir, `ratings-${rows}.csv`);
  const generated = await writeSyntheticRatings(file, shape(rows));
  const bytes = statSync(file).size;
  const config = parseMlConfig({ fm: { epochs: 1, factors_lr: 0.01, factors_wd: 0.0001 } });

  // Alternate the two passes three times and keep each one's median, so JIT warm-up and machine noise
  // hit both alike.
  const parseTimes: number[] = [];
  const ingestTimes: number[] = [];
  let parse = { rows: 0, ms: 0 };
  let encodedBytes = 0;
  let rssBefore = 0;
  for (let rep = 0; rep < 3; rep++) {
    parse = await parseOnly(file);
    parseTimes.push(parse.ms);
    rssBefore = Math.max(rssBefore, rss());
    const tIngest = performance.now();
    const ingested = await ingestRatings([fileSource(file)], config.ingest);
    encodedBytes = encodeAll(ingested.ratings);
    ingestTimes.push(performance.now() - tIngest);
  }
  parse = { rows: parse.rows, ms: median(parseTimes) };
  const textbook = await textbookParse(file);
  const ingestEncodeMs = median(ingestTimes);

  const t0 = performance.now();
  const prepared = await prepareRun({
    sources: [fileSource(file)],
    sink: directorySink(join(dir, 'prepared')),
    config,
  });
  const prepareMs = performance.now() - t0;
  const rssPrepare = rss();

  const t1 = performance.now();
  const { model } = trainFm(
    prepared.train,
    { ...config.fm, feature_dim: prepared.manifest.featureDim },
    { seed: 1 },
  );
  const epochMs = performance.now() - t1;

  const { ratings, split } = prepared;
  const train = splitRowsOf(ratings, split.train);
  const test = splitRowsOf(ratings, split.test);
  const built = await buildVectors({
    model,
    users: ratings.users,
    movies: ratings.movies,
    train,
    modelVersion: 'bench',
    config,
    sink: directorySink(join(dir, 'vectors')),
  });
  const index = buildKnnIndex(built.index.vectors, built.index.labels, built.index.dim, 'INNER_PRODUCT');
  const users = Int32Array.from(new Set(test.userId)).sort().subarray(0, serveLimit);
  const kept = new Set(users);
  const t2 = performance.now();
  const answers = serveUsers(built.bundle, index, users);
  const serveMs = performance.now() - t2;

  const keep = (r: typeof test) => {
    const idx = [...Array(r.length).keys()].filter((i) => kept.has(r.userId[i]));
    const pick = <T extends Int32Array | Float32Array | Float64Array>(a: T) =>
      a.constructor === Int32Array
        ? Int32Array.from(idx, (i) => a[i])
        : a.constructor === Float32Array
          ? Float32Array.from(idx, (i) => a[i])
          : Float64Array.from(idx, (i) => a[i]);
    return {
      length: idx.length,
      userId: pick(r.userId),
      movieId: pick(r.movieId),
      rating: pick(r.rating),
      timestamp: pick(r.timestamp),
    } as typeof r;
  };
  const t3 = performance.now();
  runEvaluation({
    train,
    test: keep(test),
    catalog: ratings.movies.ids,
    candidate: answers,
    production: null,
    config,
    meta: { runId: 'bench' },
  });
  const evaluateMs = performance.now() - t3;

  const result = {
    rows: generated,
    fileMB: Number(mb(bytes).toFixed(1)),
    users: ratings.users.size,
    movies: ratings.movies.size,
    textbookParse: {
      rowsPerSec: Math.round(textbook.rows / (textbook.ms / 1000)),
      ingestEncodeRatio: Number((textbook.ms / ingestEncodeMs).toFixed(2)),
    },
    parseOnly: {
      rowsPerSec: Math.round(parse.rows / (parse.ms / 1000)),
      mbPerSec: Number((mb(bytes) / (parse.ms / 1000)).toFixed(1)),
    },
    ingestEncode: {
      rowsPerSec: Math.round(generated / (ingestEncodeMs / 1000)),
      mbPerSec: Number((mb(bytes) / (ingestEncodeMs / 1000)).toFixed(1)),
      seconds: Number((ingestEncodeMs / 1000).toFixed(2)),
      recordIOMB: Number(mb(encodedBytes).toFixed(1)),
      ratioToParseOnly: Number((parse.ms / ingestEncodeMs).toFixed(3)),
    },
    prepare: {
      rowsPerSec: Math.round(generated / (prepareMs / 1000)),
      seconds: Number((prepareMs / 1000).toFixed(2)),
      trainExamples: prepared.manifest.train.examples,
      ratioToParseOnly: Number((parse.ms / prepareMs).toFixed(3)),
    },
    peakRssMB: { afterParseOnly: rssBefore, afterIngestEncode: rssPrepare, end: rss() },
    fm: {
      secondsPerEpoch: Number((epochMs / 1000).toFixed(2)),
      examplesPerSec: Math.round(prepared.train.length / (epochMs / 1000)),
      projectedSecondsForTunedEpochs: Math.round((epochMs / 1000) * 20),
    },
    knnServe: {
      users: users.length,
      seconds: Number((serveMs / 1000).toFixed(2)),
      usersPerSec: Math.round(users.length / (serveMs / 1000)),
    },
    evaluationSeconds: Number((evaluateMs / 1000).toFixed(2)),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!values.dir) rmSync(dir, { recursive: true, force: true });
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
