/**
 * A run killed with SIGKILL is not lost: `reelflow start` in a child process is killed mid-Retrain, the
 * history reads the run back as Interrupted at its stage, and the next start says so and names the batch
 * no successful run has trained on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../local/home';
import { PROGRESS_FILE, readRuns, type RunProgress } from '../../local/run-history';

// Generous: the children compile and start on a shared, possibly busy machine; nothing here measures speed.
jest.setTimeout(150_000);

/** The Node.js 22 the npm scripts use (a real binary: the PID spawned is the process that runs). */
const NODE = join(PROJECT_ROOT, 'node_modules', '.bin', 'node');
const CLI = join(PROJECT_ROOT, 'local', 'bin', 'reelflow.js');

interface Child {
  readonly process: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<void>;
}

const children: Child[] = [];

function startReelflow(home: string): Child {
  // A long time scale: every configured wait lasts 1 s per second, so the run is still going when killed.
  const child = spawn(
    NODE,
    [CLI, 'start', '--home', home, '--once', '--approve', '--port', '0', '--time-scale', '1000'],
    { cwd: PROJECT_ROOT, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle = { process: child, output: () => output, exited };
  children.push(handle);
  return handle;
}

/** SIGKILL to the one PID this test spawned, then waits (bounded) for it to be gone. */
async function kill(child: Child): Promise<void> {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([child.exited, new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))]);
  clearTimeout(timer);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` returns a value, or fails after `ms` with what the child printed. */
async function until<T>(what: string, child: Child, ms: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = check();
    if (value !== undefined) return value;
    if (child.process.exitCode !== null) break;
    await sleep(50);
  }
  throw new Error(`${what}: not seen within ${ms} ms; the child printed:\n${child.output().slice(-3000)}`);
}

function readJsonLines(file: string): { event?: string; runId: string }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { event?: string; runId: string }];
      } catch {
        return [];
      }
    });
}

function readProgress(file: string): RunProgress | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RunProgress;
  } catch {
    return undefined;
  }
}

afterAll(async () => {
  for (const child of children) await kill(child);
});

describe('a run killed with SIGKILL', () => {
  const home = mkdtempSync(join(tmpdir(), 'reelflow-killed-'));
  afterAll(() => rm(home, { recursive: true, force: true }));

  it('reads back as Interrupted at its stage, and the next start names the untrained batch', async () => {
    // GIVEN `reelflow start` training the bundled sample
    const first = startReelflow(home);
    const historyFile = join(home, 'runs.jsonl');
    const runId = await until(
      'the started line',
      first,
      45_000,
      () => readJsonLines(historyFile).find((l) => l.event === 'started')?.runId,
    );
    // past Prepare (the lineage is written), inside the training
    await until('the run training', first, 45_000, () => {
      const progress = readProgress(join(home, 'runs', runId, PROGRESS_FILE));
      return progress?.stage === 'Retrain' && progress.state?.startsWith('Train') ? progress : undefined;
    });
    // WHEN it is killed
    await kill(first);
    expect(first.process.signalCode).toBe('SIGKILL');

    // THEN the history has the run, Interrupted in Retrain at the state it had reached
    const runs = await readRuns(historyFile);
    expect(runs).toHaveLength(1);
    const [run] = runs;
    expect(run).toMatchObject({ runId, status: 'Interrupted', stage: 'Retrain' });
    expect(run.failedState).toMatch(/^Train/);
    const sample = run.trigger.key;
    expect(sample).toMatch(/^ratings\/.*sample\.csv$/);

    // AND the next start lists it with its artifacts, and the sample batch as untrained
    const second = startReelflow(home);
    const untrained = await until('the untrained line', second, 45_000, () =>
      second
        .output()
        .split('\n')
        .find((l) => l.startsWith('untrained ')),
    );
    await kill(second);
    expect(untrained).toBe(
      `untrained 1 batch(es) since the last successful run: ${sample} (an interrupted run ${runId} was training them; npm run upload or --data starts a new run)`,
    );
    expect(second.output()).toMatch(
      new RegExp(
        `\\ninterrupted ${runId} \\(started .*\\) reached Retrain/Train\\w+; artifacts in s3 runs/${runId}/: .*runs/${runId}/lineage\\.json`,
      ),
    );
  });
});
