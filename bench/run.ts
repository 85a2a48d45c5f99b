/**
 * `npm run bench`: every benchmark, each in its own process (clean peak RSS, no JIT state shared), then
 * one summary. Figures are ratios against a reference measured in the same process, never pass/fail
 * on absolute time; absolute numbers are printed for context.
 *
 *   npm run bench                      core at 1 M and 10 M rows, local end to end, local API load
 *   npm run bench -- --only core       one section (core | e2e | api)
 *   npm run bench -- --sizes 1000000   other core sizes
 *   npm run bench -- --fm-workshop <dir with ua.base and ua.test>   adds the FM fidelity check
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    sizes: { type: 'string', default: '1000000,10000000' },
    'fm-workshop': { type: 'string' },
  },
});

const ROOT = join(__dirname, '..');
/** Runs a .ts file through tsx, as the reelflow command does. */
const RUN_TS = join(ROOT, 'local', 'bin', 'run-ts.js');

/** Runs a bench script in a child process; returns its last stdout line parsed as JSON. */
function run(script: string, args: string[], nodeOptions = ''): Record<string, unknown> | null {
  process.stderr.write(`\n> ${script} ${args.join(' ')}\n`);
  const child = spawnSync(process.execPath, [RUN_TS, join(ROOT, 'bench', script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${nodeOptions}`.trim() },
    maxBuffer: 64 << 20,
  });
  const lines = (child.stdout ?? '').trim().split('\n');
  if (child.status !== 0) {
    process.stderr.write(`${script} failed (exit ${child.status}):\n${child.stdout}\n`);
    return null;
  }
  process.stderr.write(`${lines.slice(0, -1).join('\n')}\n`);
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

function want(section: string): boolean {
  return !values.only || values.only.split(',').includes(section);
}

const results: Record<string, unknown> = {};
if (want('core')) {
  for (const rows of values.sizes!.split(',').map(Number)) {
    // MovieLens-32M scale must fit a 3 GB heap; the benchmark runs under the same limit.
    results[`core ${rows.toLocaleString('en-US')} rows`] = run(
      'core.bench.ts',
      ['--rows', String(rows)],
      '--max-old-space-size=3072',
    );
  }
}
if (values['fm-workshop']) {
  results['FM on ml-100k ua.base/ua.test'] = run('fm-workshop.ts', [
    '--base',
    join(values['fm-workshop'], 'ua.base'),
    '--test',
    join(values['fm-workshop'], 'ua.test'),
  ]);
}
for (const [section, script] of [
  ['e2e', 'e2e.bench.ts'],
  ['api', 'api.bench.ts'],
] as const) {
  if (want(section)) results[section] = run(script, []);
}

process.stdout.write(`\n${JSON.stringify(results, null, 2)}\n`);
