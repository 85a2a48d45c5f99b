/**
 * The core at scale, on a generated MovieLens-shaped `ratings.csv` (1 M rows by default; `--large`:
 * 32 M, MovieLens-32M's size), each figure a ratio against an independent reference measured in this
 * run and each result verified:
 *
 *   ingest+encode  ingestion (parse, validate, union, latest-wins dedupe) and every kept rating encoded
 *                  as its one-hot FM recordIO record, vs the issue's minimal reference written here
 *                  (split lines, parseInt/parseFloat, a Map keyed user*2^24+movie keeping the latest
 *                  timestamp). Target >= 0.33 of the reference's rows/s. Verified: the same row count and
 *                  the same checksum of the deduplicated (user, movie, rating, timestamp) set.
 *   prepare        the whole Prepare step (the above, split, CSVs, sampled negatives, recordIO shards on
 *                  disk) vs the pre-optimization Prepare, i.e. the code of commit 48aa102 when issue 11
 *                  was filed, kept verbatim in bench/reference/prepare-v0/ (only its imports rewired).
 *                  Each runs in a child process that runs nothing else, in alternating rounds (the old
 *                  code first), on the same file: "prepare rows/s vs the pre-optimization prepare",
 *                  target >= 2 from 10 M rows on (issue 11's target: twice the rows/s it had at
 *                  10 M rows), INFO below, where fixed costs weigh more. Why the old code itself and not a minimal
 *                  stand-in: the target is relative to that code, and only it does exactly the same
 *                  work (same validation, dedupe, split, sampled negatives, framing and bytes), which
 *                  the bench checks: both children hash every artifact they wrote (after their timing)
 *                  and the figure FAILs unless the digests are equal. Also the same rows/s vs the
 *                  parse + dedupe reference above (context), and the child's peak RSS (the OS's
 *                  maxRSS, not the heap): "peak RSS of prepare at N rows", target <= 3 GB with
 *                  `--large`. Each child removes its output after hashing it (GBs at 10 M rows).
 *   evaluation     the evaluation scorer (prepareTestSet + evaluateLists: precision, recall, NDCG, hit
 *                  rate, MRR at every K, coverage) for a sample of test users, vs a straightforward
 *                  per-user, per-K computation written here. Verified: every metric equal.
 *
 * The generated file gets re-ratings appended (a newer and an older row for some pairs), so the
 * dedupe has work to do and the checksum checks that the latest rating won.
 *
 * Run: node local/bin/run-ts.js bench/core.bench.ts [--large] [--rows N] [--reps 3] [--eval-users 20000]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, createReadStream, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { MlConfig } from '../functions/core/config';
import { countMovies, popularityRecommendations } from '../functions/core/evaluate/recommend';
import { evaluateLists, prepareTestSet, type MetricMap } from '../functions/core/evaluate/metrics';
import { fileSource, ingestRatings } from '../functions/core/ingest';
import { prepareRun } from '../functions/core/prepare';
import { writeOneHotFramed } from '../functions/core/recordio/one-hot';
import { directorySink } from '../functions/core/sink';
import { rowsByUser, splitRatings, splitRowsOf, type SplitRows } from '../functions/core/split';
import type { Ratings } from '../functions/core/types';
import { writeSyntheticRatings } from '../local/sample/synthetic';
import { fileSource as fileSourceV0 } from './reference/prepare-v0/ingest';
import { prepareRun as prepareRunV0 } from './reference/prepare-v0/prepare';
import { directorySink as directorySinkV0 } from './reference/prepare-v0/sink';
import { readConfigFromCdkJson } from '../pipeline/config';
import {
  emit,
  failUnless,
  figure,
  interleave,
  median,
  peakRssMB,
  progress,
  report,
  type BenchFigure,
} from './harness';

const ROOT = join(__dirname, '..');
const RUN_TS = join(ROOT, 'local', 'bin', 'run-ts.js');
const LARGE_ROWS = 32_000_000;
/** MovieLens-32M's Prepare must fit the 3 GB the pipeline gives it. */
const PREPARE_RSS_TARGET_MB = 3 * 1024;
const INGEST_TARGET = 0.33;
/**
 * Issue 11: Prepare at 10 M rows at least twice as fast as when the issue was filed, measured against
 * that code itself (bench/reference/prepare-v0/, commit 48aa102) in the same run. Below 10 M rows the
 * figure is context: fixed costs and the page cache's slack weigh differently there.
 */
const PREPARE_TARGET = 2;
const PREPARE_TARGET_MIN_ROWS = 10_000_000;
/**
 * The scorer keeps a per-user matrix for the bootstrap and measures ~1.2-2.3x the straightforward
 * computation on a busy 2-core machine; below 0.8 it has regressed beyond noise (e.g. per-user work
 * that grows with the list or the catalog), and the straightforward version would do.
 */
const EVAL_TARGET = 0.8;
/** Re-rated pairs appended per million rows (each gets a newer and an older row). */
const REVISIONS_PER_MILLION = 5_000;

const { values } = parseArgs({
  options: {
    large: { type: 'boolean', default: false },
    rows: { type: 'string' },
    reps: { type: 'string' },
    'eval-users': { type: 'string', default: '20000' },
    dir: { type: 'string' },
    // Internal: the child process that runs only Prepare (for its own peak RSS).
    'prepare-child': { type: 'string' },
    impl: { type: 'string', default: 'current' },
    out: { type: 'string' },
  },
});

const config = (): MlConfig => readConfigFromCdkJson(join(ROOT, 'cdk.json')).ml;
const mb = (bytes: number) => bytes / (1 << 20);
const count = (n: number) => n.toLocaleString('en-US');

/** Data shape: ml-latest-small-like activity (~60 ratings a user), a catalog growing with the data. */
function shape(n: number) {
  const users = Math.max(100, Math.round(n / 60));
  const movies = Math.min(60_000, Math.max(1_000, Math.round(Math.sqrt(n) * 10)));
  return { users, movies, meanRatingsPerUser: 60, seed: 7 };
}

// ---------------------------------------------------------------------------------------------------
// Checksum of a deduplicated rating set: order-independent (a sum and a xor of per-entry hashes), so
// the reference's Map order and ingestion's column order compare.

function entryHash(user: number, movie: number, rating: number, timestamp: number): number {
  let h = Math.imul(user ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ movie, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ Math.round(rating * 2), 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ (timestamp >>> 0), 0x165667b1);
  h ^= Math.floor(timestamp / 2 ** 32);
  return (h ^ (h >>> 16)) >>> 0;
}

class SetChecksum {
  private sum = 0;
  private xor = 0;
  private n = 0;
  add(user: number, movie: number, rating: number, timestamp: number): void {
    const h = entryHash(user, movie, rating, timestamp);
    this.sum = (this.sum + h) >>> 0;
    this.xor = (this.xor ^ h) >>> 0;
    this.n++;
  }
  toString(): string {
    return `${this.n}:${this.sum.toString(16)}:${this.xor.toString(16)}`;
  }
}

function ratingsChecksum(ratings: Ratings): string {
  const sum = new SetChecksum();
  for (let i = 0; i < ratings.length; i++) {
    sum.add(
      ratings.users.ids[ratings.user[i]],
      ratings.movies.ids[ratings.movie[i]],
      ratings.rating[i],
      ratings.timestamp[i],
    );
  }
  return sum.toString();
}

// ---------------------------------------------------------------------------------------------------
// The reference: the minimal parse-and-dedupe, as anyone would write it first.

/** V8's Map holds at most 2^24 entries; 32 M pairs need several, so the pairs are sharded by user. */
const SHARDS = 16;

interface ReferenceResult {
  readonly lines: number;
  readonly rows: number;
  readonly checksum: string;
}

async function referenceIngest(path: string): Promise<ReferenceResult> {
  const shards = Array.from({ length: SHARDS }, () => new Map<number, number>());
  let cap = 1 << 16;
  let user = new Int32Array(cap);
  let movie = new Int32Array(cap);
  let rating = new Float32Array(cap);
  let time = new Float64Array(cap);
  let n = 0;
  let lines = 0;
  let header = true;
  const take = (line: string): void => {
    if (header || line === '') {
      header = false;
      return;
    }
    lines++;
    const f = line.split(',');
    const u = parseInt(f[0], 10);
    const m = parseInt(f[1], 10);
    const r = parseFloat(f[2]);
    const t = parseFloat(f[3]);
    if (Number.isNaN(u) || Number.isNaN(m) || Number.isNaN(r) || Number.isNaN(t)) return;
    const shard = shards[u % SHARDS];
    const key = u * 2 ** 24 + m;
    const at = shard.get(key);
    if (at !== undefined) {
      if (t >= time[at]) {
        rating[at] = r;
        time[at] = t;
      }
      return;
    }
    if (n === cap) {
      cap *= 2;
      const grow = <T extends Int32Array | Float32Array | Float64Array>(a: T, b: T): T => (b.set(a), b);
      user = grow(user, new Int32Array(cap));
      movie = grow(movie, new Int32Array(cap));
      rating = grow(rating, new Float32Array(cap));
      time = grow(time, new Float64Array(cap));
    }
    shard.set(key, n);
    user[n] = u;
    movie[n] = m;
    rating[n] = r;
    time[n] = t;
    n++;
  };
  let carry = '';
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const parts = (carry + (chunk as string)).split('\n');
    carry = parts.pop()!;
    for (const line of parts) take(line);
  }
  take(carry);
  const sum = new SetChecksum();
  for (let i = 0; i < n; i++) sum.add(user[i], movie[i], rating[i], time[i]);
  return { lines, rows: n, checksum: sum.toString() };
}

// ---------------------------------------------------------------------------------------------------
// The subject: the product's ingestion and encoder.

/** A one-hot record is at most ~80 bytes. */
const MAX_ONE_HOT_RECORD = 128;

/** Every rating as its one-hot FM record, into a reused 16 MB buffer; returns the bytes encoded. */
function encodeAll(ratings: Ratings): number {
  const out = new Uint8Array(16 << 20);
  const view = new DataView(out.buffer);
  const nUsers = ratings.users.size;
  const featureDim = nUsers + ratings.movies.size;
  let at = 0;
  let total = 0;
  for (let i = 0; i < ratings.length; i++) {
    if (at + MAX_ONE_HOT_RECORD > out.length) {
      total += at;
      at = 0;
    }
    const label = ratings.rating[i] >= 4 ? 1 : 0;
    at = writeOneHotFramed(out, view, at, ratings.user[i], nUsers + ratings.movie[i], featureDim, label);
  }
  return total + at;
}

// ---------------------------------------------------------------------------------------------------
// Evaluation: the product's scorer vs a straightforward computation of the same definitions.

function referenceMetrics(
  test: ReadonlyMap<number, { movieIds: ArrayLike<number>; ratings: ArrayLike<number> }>,
  lists: ReadonlyMap<number, number[]>,
  ks: readonly number[],
  catalogSize: number,
  relevanceMinRating: number | undefined,
): MetricMap {
  const sums: MetricMap = {};
  const covered = new Set<number>();
  const maxK = Math.max(...ks);
  let users = 0;
  for (const [userId, rows] of test) {
    const relevant = new Set<number>();
    for (let i = 0; i < rows.movieIds.length; i++) {
      if (relevanceMinRating === undefined || rows.ratings[i] >= relevanceMinRating)
        relevant.add(rows.movieIds[i]);
    }
    const list = lists.get(userId);
    if (relevant.size === 0 || list === undefined) continue;
    users++;
    for (const movie of list.slice(0, maxK)) covered.add(movie);
    for (const k of ks) {
      const top = list.slice(0, k);
      const hitRanks = top
        .map((movie, rank) => ({ movie, rank }))
        .filter(({ movie, rank }) => relevant.has(movie) && top.indexOf(movie) === rank)
        .map(({ rank }) => rank);
      let dcg = 0;
      for (const rank of hitRanks) dcg += 1 / Math.log2(rank + 2);
      let ideal = 0;
      for (let rank = 0; rank < Math.min(k, relevant.size); rank++) ideal += 1 / Math.log2(rank + 2);
      const add = (name: string, v: number) => (sums[`${name}@${k}`] = (sums[`${name}@${k}`] ?? 0) + v);
      add('precision', hitRanks.length / k);
      add('recall', hitRanks.length / relevant.size);
      add('ndcg', dcg / ideal);
      add('hit_rate', hitRanks.length > 0 ? 1 : 0);
      add('mrr', hitRanks.length > 0 ? 1 / (hitRanks[0] + 1) : 0);
    }
  }
  const metrics: MetricMap = {};
  for (const [name, sum] of Object.entries(sums)) metrics[name] = sum / users;
  metrics.mrr = metrics[`mrr@${maxK}`];
  metrics.coverage = covered.size / catalogSize;
  return metrics;
}

/** Names of metrics that differ by more than 1e-9 (or exist on one side only). */
function differingMetrics(a: MetricMap, b: MetricMap): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].filter((name) => !(Math.abs((a[name] ?? NaN) - (b[name] ?? NaN)) <= 1e-9));
}

/** `rows` restricted to the users in `keep`. */
function rowsOfUsers(rows: SplitRows, keep: ReadonlySet<number>): SplitRows {
  const idx: number[] = [];
  for (let i = 0; i < rows.length; i++) if (keep.has(rows.userId[i])) idx.push(i);
  return {
    length: idx.length,
    userId: Int32Array.from(idx, (i) => rows.userId[i]),
    movieId: Int32Array.from(idx, (i) => rows.movieId[i]),
    rating: Float32Array.from(idx, (i) => rows.rating[i]),
    timestamp: Float64Array.from(idx, (i) => rows.timestamp[i]),
  };
}

// ---------------------------------------------------------------------------------------------------

/** Writes the data set, printing its progress, then appends the re-ratings; returns the row counts. */
async function generate(file: string, rows: number): Promise<{ generated: number; appended: number }> {
  progress(`generating ${count(rows)} MovieLens-shaped rows into ${file}`);
  const started = performance.now();
  const ticker = setInterval(() => {
    const size = (() => {
      try {
        return statSync(file).size;
      } catch {
        return 0;
      }
    })();
    progress(`  ${mb(size).toFixed(0)} MB written, ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }, 10_000);
  let generated: number;
  try {
    generated = await writeSyntheticRatings(file, shape(rows));
  } finally {
    clearInterval(ticker);
  }
  // Re-ratings of the first pairs: one newer (must win) and one older (must lose) row each.
  const wanted = Math.max(10, Math.round((generated / 1e6) * REVISIONS_PER_MILLION));
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  const extra: string[] = [];
  let first = true;
  for await (const line of lines) {
    if (first) {
      first = false;
      continue;
    }
    const [u, m, r, t] = line.split(',');
    const newer = Number(r) >= 5 ? 4.5 : Number(r) + 0.5;
    const older = Number(r) <= 1 ? 1.5 : Number(r) - 0.5;
    extra.push(
      `${u},${m},${older.toFixed(1)},${Number(t) - 1}`,
      `${u},${m},${newer.toFixed(1)},${Number(t) + 1}`,
    );
    if (extra.length >= 2 * wanted) break;
  }
  lines.close();
  appendFileSync(file, `${extra.join('\n')}\n`);
  progress(
    `generated ${count(generated)} rows + ${count(extra.length)} re-ratings, ${mb(statSync(file).size).toFixed(0)} MB, ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return { generated, appended: extra.length };
}

/** What a prepare child reports (one JSON line on stdout). */
interface PrepareChildResult {
  readonly ms: number;
  /** CPU seconds of the process (all threads) during Prepare: user and system. */
  readonly cpu: { readonly user: number; readonly system: number };
  readonly peakRssMB: number;
  readonly rows: number;
  readonly checksum: string;
  readonly trainExamples: number;
  /** sha256 over every artifact's path and bytes, in path order; and their count and size. */
  readonly artifacts: { readonly digest: string; readonly files: number; readonly bytes: number };
}

/** One digest of every file under `dir` (relative path and bytes, in path order), read after timing. */
async function digestTree(dir: string): Promise<PrepareChildResult['artifacts']> {
  const total = createHash('sha256');
  let files = 0;
  let bytes = 0;
  const buffer = Buffer.allocUnsafe(8 << 20);
  const walk = async (rel: string): Promise<void> => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        await walk(path);
        continue;
      }
      const file = createHash('sha256');
      const handle = await open(join(dir, path));
      try {
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
          if (bytesRead === 0) break;
          file.update(buffer.subarray(0, bytesRead));
          bytes += bytesRead;
        }
      } finally {
        await handle.close();
      }
      total.update(`${path}\0${file.digest('hex')}\n`);
      files++;
    }
  };
  await walk('');
  return { digest: total.digest('hex'), files, bytes };
}

/**
 * The child: Prepare alone (`--impl current`, or `v0`: the pre-optimization copy in
 * bench/reference/prepare-v0/), then its timing, peak RSS, what it kept and a digest of what it wrote,
 * as one JSON line. The output folder is removed afterwards (gigabytes at 10 M rows and more).
 */
async function prepareChild(file: string, out: string, impl: string): Promise<void> {
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const prepared =
    impl === 'v0'
      ? await prepareRunV0({ sources: [fileSourceV0(file)], sink: directorySinkV0(out), config: config() })
      : await prepareRun({ sources: [fileSource(file)], sink: directorySink(out), config: config() });
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuStart);
  const peak = peakRssMB();
  const artifacts = await digestTree(out);
  rmSync(out, { recursive: true, force: true });
  const result: PrepareChildResult = {
    ms,
    cpu: { user: cpu.user / 1e6, system: cpu.system / 1e6 },
    peakRssMB: peak,
    rows: prepared.ratings.length,
    checksum: ratingsChecksum(prepared.ratings),
    trainExamples: prepared.manifest.train.examples,
    artifacts,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Runs a prepare child (`impl`: 'current' or 'v0') on `file` in its own process. */
function runPrepareChild(file: string, out: string, impl: 'current' | 'v0'): PrepareChildResult {
  const child = spawnSync(
    process.execPath,
    [RUN_TS, __filename, '--prepare-child', file, '--impl', impl, '--out', out],
    { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 },
  );
  if (child.status !== 0)
    throw new Error(`the ${impl} prepare child exited ${child.status}: ${child.stdout}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as PrepareChildResult;
}

async function main(): Promise<void> {
  const large = values.large!;
  const rows = Number(values.rows ?? (large ? LARGE_ROWS : 1_000_000));
  const reps = Number(values.reps ?? (large ? 1 : 3));
  const evalUsers = Number(values['eval-users']);
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'reelflow-core-bench-'));
  const figures: BenchFigure[] = [];
  const add = (f: BenchFigure) => (figures.push(f), report(f));
  const at = `${count(rows)} rows`;
  try {
    const file = join(dir, `ratings-${rows}.csv`);
    const { generated, appended } = await generate(file, rows);
    const lines = generated + appended;
    const cfg = config();

    // 1. ingest+encode vs the minimal reference, interleaved.
    progress(
      `ingest+encode vs the reference parse-and-dedupe, ${reps} interleaved round(s), ${count(lines)} lines`,
    );
    let encodedBytes = 0;
    const ingest = await interleave(
      reps,
      async () => {
        const { ratings } = await ingestRatings([fileSource(file)], cfg.ingest);
        encodedBytes = encodeAll(ratings);
        return ratings;
      },
      () => referenceIngest(file),
    );
    const ratings: Ratings = ingest.subject;
    const subjectSum = ratingsChecksum(ratings);
    const ref = ingest.reference;
    const ingestOk =
      ref.lines === lines &&
      ref.rows === ratings.length &&
      ref.rows === generated &&
      ref.checksum === subjectSum;
    add(
      failUnless(
        ingestOk,
        figure({
          case: `ingest+encode, ${at}`,
          figure: 'rows/s vs the minimal parse + Map dedupe reference (same file, same run)',
          value: lines / (ingest.subjectMs / 1000),
          reference: lines / (ingest.referenceMs / 1000),
          unit: 'rows/s',
          target: { op: '>=', value: INGEST_TARGET },
          verified: ingestOk
            ? `same ${count(ratings.length)} deduped rows (${count(appended)} re-ratings resolved) and set checksum as the reference`
            : `MISMATCH: reference ${ref.rows} rows ${ref.checksum}, ingestion ${ratings.length} rows ${subjectSum}`,
          detail: {
            subjectSeconds: ingest.subjectMs / 1000,
            referenceSeconds: ingest.referenceMs / 1000,
            fileMB: mb(statSync(file).size),
            recordIOMB: mb(encodedBytes),
            processPeakRssMB: peakRssMB(),
          },
        }),
      ),
    );

    // 2. prepare vs the pre-optimization prepare, each in its own process, interleaved; and its RSS.
    progress(
      `prepare vs the pre-optimization prepare (bench/reference/prepare-v0), each in its own process, ` +
        `${reps} interleaved round(s) (${at})`,
    );
    // Alternately, the reference first each round (as `interleave` does), keeping every round's result.
    const prepRuns = { subject: [] as PrepareChildResult[], reference: [] as PrepareChildResult[] };
    for (let round = 0; round < reps; round++) {
      prepRuns.reference.push(runPrepareChild(file, join(dir, 'prepared-v0'), 'v0'));
      prepRuns.subject.push(runPrepareChild(file, join(dir, 'prepared'), 'current'));
    }
    const prep = prepRuns.subject[0];
    const prepV0 = prepRuns.reference[0];
    // The children's own timings (Prepare alone, not the process start or the digest).
    const prepMs = median(prepRuns.subject.map((r) => r.ms));
    const prepV0Ms = median(prepRuns.reference.map((r) => r.ms));
    const sameArtifacts = [...prepRuns.subject, ...prepRuns.reference].every(
      (r) => r.artifacts.digest === prep.artifacts.digest && r.artifacts.files === prep.artifacts.files,
    );
    const prepOk = prep.rows === ref.rows && prep.checksum === ref.checksum;
    const prepVerified = prepOk
      ? `Prepare kept the reference's ${count(prep.rows)} deduped rows (same checksum), ${count(prep.trainExamples)} train examples`
      : `MISMATCH: Prepare kept ${prep.rows} rows ${prep.checksum}, reference ${ref.rows} ${ref.checksum}`;
    const v0Ok = prepOk && sameArtifacts;
    add(
      failUnless(
        v0Ok,
        figure({
          case: `prepare, ${at}`,
          figure:
            'rows/s of the whole Prepare step vs the pre-optimization prepare (bench/reference/prepare-v0), ' +
            'each in its own process, same file, same run',
          value: lines / (prepMs / 1000),
          reference: lines / (prepV0Ms / 1000),
          unit: 'rows/s',
          target: rows >= PREPARE_TARGET_MIN_ROWS ? { op: '>=', value: PREPARE_TARGET } : null,
          verified: v0Ok
            ? `every artifact byte-identical to the pre-optimization prepare's (${prep.artifacts.files} files, ` +
              `${mb(prep.artifacts.bytes).toFixed(0)} MB, sha256 ${prep.artifacts.digest.slice(0, 12)}); ${prepVerified}`
            : `MISMATCH: artifacts ${sameArtifacts ? 'equal' : 'differ'} (${prep.artifacts.digest.slice(0, 12)} vs ` +
              `${prepV0.artifacts.digest.slice(0, 12)}); ${prepVerified}`,
          detail: {
            prepareSeconds: prepMs / 1000,
            referenceSeconds: prepV0Ms / 1000,
            rounds: reps,
            referencePeakRssMB: prepV0.peakRssMB,
            cpuSeconds: prepRuns.subject.map((r) => r.cpu),
            referenceCpuSeconds: prepRuns.reference.map((r) => r.cpu),
            artifactsMB: mb(prep.artifacts.bytes),
          },
        }),
      ),
    );
    add(
      failUnless(
        prepOk,
        figure({
          case: `prepare, ${at}`,
          figure: 'rows/s of the whole Prepare step (own process) vs the reference parse + dedupe (context)',
          value: lines / (prepMs / 1000),
          reference: lines / (ingest.referenceMs / 1000),
          unit: 'rows/s',
          target: null,
          verified: prepVerified,
          detail: { prepareSeconds: prepMs / 1000 },
        }),
      ),
    );
    add(
      failUnless(
        prepOk,
        figure({
          case: `prepare, ${at}`,
          figure: `peak RSS of prepare at ${at} (maxRSS of a process that runs only Prepare)`,
          value: Math.max(...prepRuns.subject.map((r) => r.peakRssMB)),
          reference: null,
          unit: 'MB',
          target: large ? { op: '<=', value: PREPARE_RSS_TARGET_MB } : null,
          verified: prepVerified,
        }),
      ),
    );

    // 3. evaluation scorer vs the straightforward metrics, on a sample of test users.
    progress(`evaluation scorer vs the straightforward metrics, up to ${count(evalUsers)} test users`);
    const split = splitRatings(ratings, cfg.split, cfg.seed);
    const train = splitRowsOf(ratings, split.train);
    const test = splitRowsOf(ratings, split.test);
    const testUsers = Int32Array.from(new Set(test.userId)).sort();
    const step = Math.max(1, Math.floor(testUsers.length / evalUsers));
    const sample = new Set<number>();
    for (let i = 0; i < testUsers.length && sample.size < evalUsers; i += step) sample.add(testUsers[i]);
    const testSet = rowsByUser(rowsOfUsers(test, sample));
    const seen = rowsByUser(rowsOfUsers(train, sample));
    const ks = cfg.evaluation.ks;
    const maxK = Math.max(...ks);
    // The lists: most-popular unseen movies (any lists do: the scorer is what is measured).
    const lists = popularityRecommendations(
      countMovies(train.movieId),
      testSet.keys(),
      (u) => seen.get(u)?.movieIds ?? new Int32Array(0),
      maxK,
    );
    const catalogSize = ratings.movies.size;
    const minRating = cfg.evaluation.relevanceMinRating;
    // Cheap (well under a second a round): more rounds than the ingest case, for a steadier median.
    const scored = await interleave(
      Math.max(5, reps),
      () => evaluateLists(prepareTestSet(testSet, minRating), lists, { ks, catalogSize }).metrics,
      () => referenceMetrics(testSet, lists, ks, catalogSize, minRating),
    );
    const differ = differingMetrics(scored.subject, scored.reference);
    add(
      failUnless(
        differ.length === 0,
        figure({
          case: `evaluation, ${count(sample.size)} test users of ${at}`,
          figure: 'users/s of the scorer vs a straightforward per-user, per-K computation',
          value: sample.size / (scored.subjectMs / 1000),
          reference: sample.size / (scored.referenceMs / 1000),
          unit: 'users/s',
          target: { op: '>=', value: EVAL_TARGET },
          verified:
            differ.length === 0
              ? `all ${Object.keys(scored.reference).length} metrics equal the reference's (|diff| <= 1e-9)`
              : `MISMATCH in ${differ.join(', ')}`,
          detail: { ndcgAt10: scored.subject['ndcg@10'] },
        }),
      ),
    );
  } finally {
    if (!values.dir) rmSync(dir, { recursive: true, force: true });
  }
  emit(figures);
}

if (values['prepare-child']) {
  prepareChild(values['prepare-child'], values.out!, values.impl!).catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  });
} else {
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}
