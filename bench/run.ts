/**
 * `npm run bench`: every benchmark script, each in its own process (its own peak RSS, no JIT state
 * shared), one after the other so they do not compete for the cores. Each script's stderr streams
 * through as it runs (a progress line per case, each figure as it completes); its last stdout line,
 * `{"figures": [...]}` (bench/harness.ts), is collected. At the end: one summary table (PASS / FAIL /
 * INFO per figure), every figure saved as JSON under bench/results/, and exit 1 if any figure FAILed
 * or any script failed (non-zero exit, or no figures line).
 *
 *   npm run bench                          core, fm, knn, api, e2e at their quick default sizes
 *   npm run bench -- --only core,knn       some of them
 *   npm run bench -- --large               each script's big case (core: MovieLens-32M's 32 M rows)
 *   npm run bench -- --fm-workshop <dir with ua.base and ua.test>   adds the FM fidelity check
 *
 * A script that is not there is reported as skipped (not a failure). `--bench-dir` and `--results`
 * point elsewhere (test/bench/run.test.ts runs fake scripts with them).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatFigure, type BenchFigure } from './harness';

const ROOT = join(__dirname, '..');
/** Runs a .ts file through tsx, as the reelflow command does. */
const RUN_TS = join(ROOT, 'local', 'bin', 'run-ts.js');
/** The sections, in run order: the quick in-process ones first, end to end last. */
const SECTIONS = ['core', 'fm', 'knn', 'api', 'e2e'] as const;

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    large: { type: 'boolean', default: false },
    'fm-workshop': { type: 'string' },
    'bench-dir': { type: 'string', default: __dirname },
    results: { type: 'string', default: join(__dirname, 'results') },
  },
});

/** What one script gave. */
interface ScriptResult {
  readonly section: string;
  readonly script: string;
  readonly args: readonly string[];
  readonly status: 'ok' | 'failed' | 'skipped';
  readonly exitCode: number | null;
  readonly seconds: number;
  readonly figures: readonly BenchFigure[];
  /** Why it failed or was skipped; or the last stdout line of a script that reports no figures. */
  readonly note?: string;
}

/** Runs `script` with `args` in a child process, its stderr streaming through; collects its figures. */
function runScript(
  section: string,
  script: string,
  args: string[],
  wantsFigures = true,
): Promise<ScriptResult> {
  const path = join(values['bench-dir']!, script);
  if (!existsSync(path)) {
    return Promise.resolve({
      section,
      script,
      args,
      status: 'skipped',
      exitCode: null,
      seconds: 0,
      figures: [],
      note: `${path} is not there`,
    });
  }
  process.stderr.write(`\n> ${script} ${args.join(' ')}\n`);
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN_TS, path, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.on('close', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      const done = (status: ScriptResult['status'], figures: BenchFigure[], note?: string) =>
        resolve({ section, script, args, status, exitCode: code, seconds, figures, note });
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) return done('failed', [], `exit ${code ?? signal}; stdout tail: ${stdout.slice(-500)}`);
      const figures = parseFigures(last);
      if (figures) return done('ok', figures);
      return wantsFigures
        ? done('failed', [], `no {"figures": [...]} line at the end of stdout: ${last.slice(0, 300)}`)
        : done('ok', [], last);
    });
  });
}

/** The figures of a script's last stdout line, or null when it is not `{"figures": [...]}`. */
function parseFigures(line: string): BenchFigure[] | null {
  try {
    const parsed = JSON.parse(line) as { figures?: unknown };
    return Array.isArray(parsed.figures) ? (parsed.figures as BenchFigure[]) : null;
  } catch {
    return null;
  }
}

function verdict(f: BenchFigure): 'PASS' | 'FAIL' | 'INFO' {
  return f.pass === null ? 'INFO' : f.pass ? 'PASS' : 'FAIL';
}

/** The summary table: one line per figure, then one per script that failed or was skipped. */
function summary(results: readonly ScriptResult[]): string {
  const lines = ['', '== bench summary =='];
  for (const r of results) {
    if (r.status !== 'ok') {
      lines.push(`${r.status === 'failed' ? 'FAIL' : 'SKIP'}  ${r.script}: ${r.note ?? ''}`);
      continue;
    }
    lines.push(`-- ${[r.script, ...r.args].join(' ')} (${r.seconds.toFixed(1)} s)`);
    if (r.figures.length === 0) lines.push(`INFO  no figures; output: ${(r.note ?? '').slice(0, 300)}`);
    for (const f of r.figures) lines.push(formatFigure(f));
  }
  const figures = results.flatMap((r) => r.figures);
  const counts = (v: string) => figures.filter((f) => verdict(f) === v).length;
  const failedScripts = results.filter((r) => r.status === 'failed').length;
  lines.push(
    `${counts('PASS')} PASS, ${counts('FAIL')} FAIL, ${counts('INFO')} INFO; ${failedScripts} script(s) failed, ` +
      `${results.filter((r) => r.status === 'skipped').length} skipped`,
  );
  return lines.join('\n');
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((s) => !(SECTIONS as readonly string[]).includes(s)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}\n`);
    return 64;
  }
  const args = values.large ? ['--large'] : [];
  const results: ScriptResult[] = [];
  for (const section of SECTIONS) {
    if (only && !only.includes(section)) continue;
    results.push(await runScript(section, `${section}.bench.ts`, args));
  }
  if (values['fm-workshop']) {
    const dir = values['fm-workshop'];
    const workshopArgs = ['--base', join(dir, 'ua.base'), '--test', join(dir, 'ua.test')];
    results.push(await runScript('fm-workshop', 'fm-workshop.ts', workshopArgs, false));
  }

  process.stderr.write(`${summary(results)}\n`);
  mkdirSync(values.results!, { recursive: true });
  const saved = join(values.results!, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const record = {
    startedAt: startedAt.toISOString(),
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    large: values.large,
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      node: process.version,
      platform: process.platform,
    },
    scripts: results,
  };
  writeFileSync(saved, `${JSON.stringify(record, null, 2)}\n`);
  process.stderr.write(`saved ${saved}\n`);
  const failed =
    results.some((r) => r.status === 'failed') ||
    results.some((r) => r.figures.some((f) => f.pass === false));
  return failed ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  },
);
