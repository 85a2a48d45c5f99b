/**
 * bench/run.ts on fake bench scripts: it collects each script's figures, saves them as JSON, exits 1
 * when a figure FAILs or a script fails (crash, or no figures line), skips absent scripts, and passes
 * `--large` through.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const RUN_TS = join(ROOT, 'local', 'bin', 'run-ts.js');
const HARNESS = join(ROOT, 'bench', 'harness');

/** A bench script reporting one figure of ratio 2 against `target` (the case names its arguments). */
function fakeScript(target: number): string {
  return `import { emit, figure, progress, report } from ${JSON.stringify(HARNESS)};
progress('fake case');
const f = figure({ case: 'fake ' + process.argv.slice(2).join(' '), figure: 'x vs y', value: 2, reference: 1,
  unit: 'x/s', target: { op: '>=', value: ${target} }, verified: 'checked' });
report(f);
emit([f]);
`;
}

function runBench(scripts: Record<string, string>, args: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-run-'));
  for (const [name, text] of Object.entries(scripts)) writeFileSync(join(dir, name), text);
  const results = join(dir, 'results');
  const child = spawnSync(
    process.execPath,
    [RUN_TS, join(ROOT, 'bench', 'run.ts'), '--bench-dir', dir, '--results', results, ...args],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const saved = (existsSync(results) ? readdirSync(results) : []).map((f) =>
    JSON.parse(readFileSync(join(results, f), 'utf8')),
  );
  return { status: child.status, stderr: child.stderr, saved };
}

describe('bench/run.ts', () => {
  it('exits 0 when every figure passes, saves the figures, and skips scripts that are not there', () => {
    const out = runBench({ 'core.bench.ts': fakeScript(1) });
    expect(out.stderr).toMatch(/\.\. fake case/); // the script's progress streams through
    expect(out.stderr).toMatch(/PASS {2}fake : x vs y = 2 \(target >= 1\)/);
    expect(out.stderr).toMatch(/SKIP {2}knn\.bench\.ts/);
    expect(out.status).toBe(0);
    expect(out.saved).toHaveLength(1);
    const [core] = out.saved[0].scripts;
    expect(core).toMatchObject({ section: 'core', status: 'ok', figures: [{ ratio: 2, pass: true }] });
  });

  it('exits 1 when a figure FAILs, and passes --large to each script', () => {
    const out = runBench({ 'core.bench.ts': fakeScript(1), 'fm.bench.ts': fakeScript(3) }, ['--large']);
    expect(out.stderr).toMatch(/FAIL {2}fake --large: x vs y = 2 \(target >= 3\)/);
    expect(out.stderr).toMatch(/1 PASS, 1 FAIL, 0 INFO/);
    expect(out.status).toBe(1);
  });

  it('exits 1 when a script crashes or prints no figures line', () => {
    expect(runBench({ 'core.bench.ts': 'process.exit(3);\n' }).status).toBe(1);
    const silent = runBench({ 'core.bench.ts': fakeScript(1), 'api.bench.ts': 'console.log("done");\n' });
    expect(silent.stderr).toMatch(/FAIL {2}api\.bench\.ts: no \{"figures"/);
    expect(silent.status).toBe(1);
  });

  it('runs only the sections asked for, and refuses unknown ones', () => {
    const out = runBench({ 'core.bench.ts': fakeScript(3), 'e2e.bench.ts': fakeScript(1) }, [
      '--only',
      'e2e',
    ]);
    expect(out.status).toBe(0);
    expect(out.saved[0].scripts.map((s: { section: string }) => s.section)).toEqual(['e2e']);
    const unknown = runBench({ 'core.bench.ts': fakeScript(1) }, ['--only', 'cor']);
    expect(unknown.status).toBe(64);
    expect(unknown.stderr).toMatch(/unknown section\(s\) cor/);
  });
});
