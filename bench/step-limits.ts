/**
 * The measured limits of the Lambda path (docs/processing-limits.md): peak RSS and wall time of the
 * core of each data step the workflow runs as a Lambda or a Processing job (Prepare, BuildVectors,
 * Evaluate), each in its own child process, on a generated MovieLens-shaped `ratings.csv` of N rows.
 *
 * - prepare: `prepareRun` on the file, artifacts to a folder (what the Prepare handler runs on S3 streams);
 * - build-vectors: the `buildVectors` core on a random FM model of the run's shape, the run's id maps
 *   and training split read back from the folder;
 * - evaluate: `runEvaluation` on every test user, the candidate's answers being the 100 most popular
 *   movies as JSON lines (parsed as the handler parses the transform output).
 *
 * Tooling, not product; not a benchmark with a target (`npm run bench` has those). Run:
 *   node local/bin/run-ts.js bench/step-limits.ts --rows 1000000 [--dir <folder>] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildVectors } from '../functions/core/build-vectors';
import { countMovies, popularityRanking } from '../functions/core/evaluate/recommend';
import { parseServedLines, runEvaluation } from '../functions/core/evaluate/run-evaluation';
import { fileSource } from '../functions/core/ingest';
import { prepareRun } from '../functions/core/prepare';
import { directorySink } from '../functions/core/sink';
import { parseIdMapCsv, parseSplitCsv } from '../functions/core/split';
import { writeSyntheticRatings } from '../local/sample/synthetic';
import { readConfigFromCdkJson } from '../pipeline/config';
import { peakRssMB } from './harness';

const ROOT = join(__dirname, '..');
const STEPS = ['prepare', 'build-vectors', 'evaluate'] as const;
type Step = (typeof STEPS)[number];

/** The same MovieLens-like shape as bench/core.bench.ts. */
function shape(n: number) {
  const users = Math.max(100, Math.round(n / 60));
  const movies = Math.min(60_000, Math.max(1_000, Math.round(Math.sqrt(n) * 10)));
  return { users, movies, meanRatingsPerUser: 60, seed: 7 };
}

async function runStep(step: Step, dir: string): Promise<void> {
  const config = readConfigFromCdkJson(join(ROOT, 'cdk.json')).ml;
  const prepared = join(dir, 'prepared');
  const started = performance.now();
  if (step === 'prepare') {
    rmSync(prepared, { recursive: true, force: true });
    await prepareRun({
      sources: [fileSource(join(dir, 'ratings.csv'))],
      sink: directorySink(prepared),
      config,
    });
  } else if (step === 'build-vectors') {
    const users = parseIdMapCsv(readFileSync(join(prepared, 'id-maps/users.csv'), 'utf8'));
    const movies = parseIdMapCsv(readFileSync(join(prepared, 'id-maps/movies.csv'), 'utf8'));
    const featureDim = users.size + movies.size;
    const k = config.fm.num_factors;
    const v = new Float32Array(featureDim * k);
    for (let i = 0; i < v.length; i++) v[i] = Math.random() - 0.5;
    await buildVectors({
      model: { featureDim, numFactors: k, w0: 0, w1: new Float32Array(featureDim), v },
      users,
      movies,
      train: parseSplitCsv(readFileSync(join(prepared, 'split/train.csv'))),
      modelVersion: 'limits',
      config,
      sink: directorySink(join(dir, 'vectors')),
    });
  } else {
    const train = parseSplitCsv(readFileSync(join(prepared, 'split/train.csv')));
    const test = parseSplitCsv(readFileSync(join(prepared, 'split/test.csv')));
    const catalog = parseIdMapCsv(readFileSync(join(prepared, 'id-maps/movies.csv'), 'utf8')).ids;
    const popular = Array.from(popularityRanking(countMovies(train.movieId)).slice(0, 100));
    const lines = [...new Set(test.userId)].map((user) =>
      JSON.stringify({ user_id: user, movies: popular, modelVersion: 'limits' }),
    );
    runEvaluation({
      train,
      test,
      catalog,
      candidate: parseServedLines(lines.join('\n'), 'candidate'),
      production: null,
      config,
      meta: {
        runId: 'limits',
        candidateVersion: 'limits',
        productionVersion: null,
        createdAt: '',
        trigger: '',
      },
    });
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ step, seconds, peakRssMB: peakRssMB() }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      dir: { type: 'string' },
      step: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const rows = Number(values.rows);
  const dir = values.dir ?? join(tmpdir(), `reelflow-limits-${rows}`);
  if (values.step) return runStep(values.step as Step, dir);

  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'ratings.csv');
  let generateSeconds = 0;
  if (!existsSync(file)) {
    const started = performance.now();
    await writeSyntheticRatings(file, shape(rows));
    generateSeconds = (performance.now() - started) / 1000;
  }
  const results: unknown[] = [];
  for (const step of STEPS) {
    const child = spawnSync(
      process.execPath,
      [join(ROOT, 'local/bin/run-ts.js'), __filename, '--rows', String(rows), '--dir', dir, '--step', step],
      { encoding: 'utf8', maxBuffer: 1 << 26 },
    );
    if (child.status !== 0) throw new Error(`${step} failed: ${child.stderr}`);
    results.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!));
  }
  console.log(JSON.stringify({ rows, generateSeconds, results }));
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
