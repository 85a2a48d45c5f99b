/**
 * `npm start` end to end, as a user runs it: `reelflow start --data <file> --once --approve` in a fresh
 * state folder, on the bundled sample and on a generated MovieLens-100k-sized set (943 users x 1,682
 * movies, ~100 k ratings). Wall time (target: under 60 s on 2 cores), stage by stage and state by state
 * from the run history.
 *
 * Reference, in this process: the bare core path (`runCorePath`: the same steps and settings, no state
 * machines, no local AWS) on the same file. The ratio is what the faithful local AWS costs on top.
 *
 * Run: node local/bin/run-ts.js bench/e2e.bench.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCorePath } from './core-path';
import { fileSource } from '../functions/core/ingest';
import { directorySink } from '../functions/core/sink';
import { writeSyntheticRatings } from '../local/sample/synthetic';
import { readConfigFromCdkJson } from '../pipeline/config';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'local', 'bin', 'reelflow.js');
const TARGET_SECONDS = 60;

interface RunHistoryLine {
  readonly status: string;
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

async function measure(name: string, file: string, scratch: string) {
  const home = join(scratch, `home-${name}`);
  const run = reelflow(['start', '--data', file, '--once', '--approve', '--home', home, '--fresh']);
  if (run.status !== 0)
    throw new Error(`reelflow start on ${name} exited ${run.status}:\n${run.stdout.slice(-2000)}`);
  const history = reelflow(['runs', '--json', '--home', home]);
  // One JSON line per run.
  const [record] = history.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as RunHistoryLine);

  const config = readConfigFromCdkJson(join(ROOT, 'cdk.json'));
  const started = performance.now();
  await runCorePath({
    sources: [fileSource(file)],
    config: config.ml,
    runId: 'reference',
    sink: directorySink(join(scratch, `core-${name}`)),
  });
  const coreMs = performance.now() - started;

  const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
  return {
    dataset: name,
    status: record.status,
    wallSeconds: seconds(run.ms),
    targetSeconds: TARGET_SECONDS,
    withinTarget: run.ms / 1000 < TARGET_SECONDS,
    stages: Object.fromEntries(Object.entries(record.timings.stages).map(([k, v]) => [k, seconds(v)])),
    states: Object.fromEntries(Object.entries(record.timings.states).map(([k, v]) => [k, seconds(v)])),
    corePathSeconds: seconds(coreMs),
    ratioToCorePath: Number((run.ms / coreMs).toFixed(2)),
  };
}

async function main(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'reelflow-e2e-bench-'));
  try {
    const ml100k = join(scratch, 'ml-100k-sized.csv');
    await writeSyntheticRatings(ml100k, { users: 943, movies: 1682, meanRatingsPerUser: 106, seed: 100 });
    const results = [
      await measure('bundled sample', join(ROOT, 'local', 'sample', 'ratings.csv'), scratch),
      await measure('ML-100k-sized', ml100k, scratch),
    ];
    for (const r of results) {
      process.stderr.write(
        `${r.dataset}: ${r.wallSeconds} s wall (target < ${TARGET_SECONDS} s), core path alone ${r.corePathSeconds} s, ` +
          `ratio ${r.ratioToCorePath}; stages ${JSON.stringify(r.stages)}\n`,
      );
    }
    process.stdout.write(`${JSON.stringify(results)}\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
