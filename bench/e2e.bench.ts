/**
 * `npm start` end to end, as a user runs it: `reelflow start --data <file> --once --approve` in a fresh
 * state folder (its own process), on the bundled sample and on a generated MovieLens-100k-sized set
 * (943 users x 1,682 movies, ~100 k ratings); with `--large`, a MovieLens-1M-sized set instead
 * (6,040 x 3,706, ~1 M ratings). The tuning search is off (`tuning.local: false`), so both sides run the
 * same steps.
 *
 * Figure: its wall time over the bare core path's (`runCorePath`: the same steps and settings, no state
 * machines, no local AWS, no process start) on the same file in this run: what the faithful local AWS
 * (state machines, S3/DynamoDB stand-ins, the deploy workflow's simulated waits, the CLI's start) costs on
 * top of the work itself. No absolute-time target; the ratio is context (INFO): on small data the
 * fixed costs dominate it, which is what it is there to show. Stage and state timings are in `detail`.
 * Verified: the run Succeeded and its model is the one serving afterwards (the run history's
 * `servingVersion`), and the core path's gate passed too.
 *
 * Run: node local/bin/run-ts.js bench/e2e.bench.ts [--large]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCorePath } from './core-path';
import { emit, failUnless, figure, progress, report, type BenchFigure } from './harness';
import { fileSource } from '../functions/core/ingest';
import { directorySink } from '../functions/core/sink';
import { writeSyntheticRatings } from '../local/sample/synthetic';
import { readConfigFromCdkJson } from '../pipeline/config';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'local', 'bin', 'reelflow.js');

const { values } = parseArgs({ options: { large: { type: 'boolean', default: false } } });

interface RunHistoryLine {
  readonly runId: string;
  readonly status: string;
  readonly servingVersion: string | null;
  readonly timings: { totalMs: number; stages: Record<string, number>; states: Record<string, number> };
}

function reelflow(args: string[]): { status: number | null; stdout: string; ms: number } {
  const started = performance.now();
  const child = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CI: '' },
    maxBuffer: 64 << 20,
  });
  return { status: child.status, stdout: child.stdout, ms: performance.now() - started };
}

const seconds = (ms: number) => Number((ms / 1000).toFixed(2));

async function measure(name: string, file: string, scratch: string): Promise<BenchFigure> {
  const home = join(scratch, `home-${name.replace(/\W+/g, '-')}`);
  progress(`${name}: reelflow start --once --approve`);
  // The same steps as the core path: without the tuning search `npm start` runs by default (tuning.local).
  const noTuning = join(scratch, 'no-tuning.json');
  writeFileSync(noTuning, JSON.stringify({ tuning: { local: false } }));
  const run = reelflow([
    'start',
    '--data',
    file,
    '--once',
    '--approve',
    '--home',
    home,
    '--fresh',
    '--config',
    noTuning,
  ]);
  const history = reelflow(['runs', '--json', '--home', home]);
  // One JSON line per run; the fresh home holds this run only.
  const record = history.stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as RunHistoryLine)
    .pop();

  progress(`${name}: the bare core path on the same file`);
  const config = readConfigFromCdkJson(join(ROOT, 'cdk.json'));
  const started = performance.now();
  const core = await runCorePath({
    sources: [fileSource(file)],
    config: config.ml,
    runId: 'reference',
    sink: directorySink(join(scratch, `core-${name.replace(/\W+/g, '-')}`)),
  });
  const coreMs = performance.now() - started;

  const served = run.status === 0 && record?.status === 'Succeeded' && record.servingVersion === record.runId;
  return failUnless(
    served,
    figure({
      case: `local end to end, ${name}`,
      figure:
        'wall time of `reelflow start --once --approve` / the bare core path on the same file (context)',
      value: run.ms / 1000,
      reference: coreMs / 1000,
      unit: 's',
      target: null,
      verified: served
        ? `run ${record.runId} Succeeded and is the serving version; core path gate ${core.evaluation.evaluation.gate.passed ? 'passed' : 'rejected'}`
        : `run did not succeed and serve: exit ${run.status}, status ${record?.status}, serving ${record?.servingVersion}; ${run.stdout.slice(-500)}`,
      detail: record
        ? {
            stages: Object.fromEntries(
              Object.entries(record.timings.stages).map(([k, v]) => [k, seconds(v)]),
            ),
            states: Object.fromEntries(
              Object.entries(record.timings.states).map(([k, v]) => [k, seconds(v)]),
            ),
            coreStages: Object.fromEntries(Object.entries(core.timings).map(([k, v]) => [k, seconds(v)])),
          }
        : undefined,
    }),
  );
}

async function main(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'reelflow-e2e-bench-'));
  const figures: BenchFigure[] = [];
  try {
    const sets: [string, string][] = [];
    if (values.large) {
      const ml1m = join(scratch, 'ml-1m-sized.csv');
      progress('generating an ML-1M-sized data set');
      await writeSyntheticRatings(ml1m, { users: 6040, movies: 3706, meanRatingsPerUser: 165, seed: 1000 });
      sets.push(['ML-1M-sized', ml1m]);
    } else {
      const ml100k = join(scratch, 'ml-100k-sized.csv');
      await writeSyntheticRatings(ml100k, { users: 943, movies: 1682, meanRatingsPerUser: 106, seed: 100 });
      sets.push(['bundled sample', join(ROOT, 'local', 'sample', 'ratings.csv')], ['ML-100k-sized', ml100k]);
    }
    for (const [name, file] of sets) {
      const f = await measure(name, file, scratch);
      figures.push(f);
      report(f);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  emit(figures);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
