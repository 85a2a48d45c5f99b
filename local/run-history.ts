/**
 * The local run history: one JSON line per pipeline run in `<home>/runs.jsonl` (`npm run runs` prints it
 * as a table), the local counterpart of CodePipeline's execution history. Each line says how the run
 * ended, where, why, with which metrics, which version served afterwards, and how long every stage and
 * state took (the per-stage timings the benchmarks read).
 *
 * A run (and each retry of it) also appends a `started` line when it begins, and keeps the stage and
 * state it has reached in `<home>/runs/<runId>/progress.json` while it runs. A `started` line that no
 * finished line of the same run follows is a run whose process died (SIGKILL, a crash, a power cut):
 * `readRuns` reads it back as `Interrupted`, at the stage and state the progress file names (`Running`
 * while the process that started it is still alive).
 */
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { listObjects } from '../functions/common/s3-io';
import type { RunTrigger } from '../functions/contracts';

/**
 * NothingToDo: the Retrain stage found no rating file under `ratings/` (nothing trained or deployed).
 * Interrupted: the run started and its process ended without recording an end (killed, crashed).
 * Running: started, no end recorded, and the process that runs it is still alive.
 */
export type RunStatus =
  | 'Succeeded'
  | 'NothingToDo'
  | 'Failed'
  | 'Rejected'
  | 'RolledBack'
  | 'Superseded'
  | 'Stopped'
  | 'Interrupted'
  | 'Running';

export interface RunRecord {
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly status: RunStatus;
  /** The stage the run ended in (Deploy for a deployed run). */
  readonly stage: string;
  /** The state that failed, when one did (e.g. `Prepare` for rejected data). */
  readonly failedState?: string;
  readonly reason?: string;
  readonly gate?: { readonly passed: boolean; readonly reasons: readonly string[] };
  readonly primaryMetric?: {
    readonly name: string;
    readonly candidate: number | null;
    readonly production: number | null;
  };
  /** The run id serving after this run (null: nothing deployed yet). */
  readonly servingVersion: string | null;
  /** Local copies of the run's evaluation and report, when the run got that far. */
  readonly evaluationPath?: string;
  readonly reportPath?: string;
  readonly timings: {
    readonly totalMs: number;
    /** Per pipeline stage. */
    readonly stages: Readonly<Record<string, number>>;
    /** Per state of the workflows (summed over repeats, e.g. the poll loop). */
    readonly states: Readonly<Record<string, number>>;
  };
}

/** The line a run appends when it (or a retry of it) starts. */
export interface RunStartedLine {
  readonly event: 'started';
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly startedAt: string;
  /** 1, then one more per retry. */
  readonly attempt: number;
  /** The process running it (alive: the run is Running, not Interrupted). */
  readonly pid?: number;
}

/** `<runsDir>/<runId>/progress.json`: where a run is, rewritten as it advances. */
export interface RunProgress {
  readonly runId: string;
  readonly attempt: number;
  readonly stage: string;
  /** The workflow state it last entered in that stage, if any. */
  readonly state?: string;
  readonly updatedAt: string;
  /** Milliseconds of every stage finished so far. */
  readonly stages: Readonly<Record<string, number>>;
}

export const PROGRESS_FILE = 'progress.json';

export async function appendRun(file: string, record: RunRecord | RunStartedLine): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await appendFile(file, `${JSON.stringify(record)}\n`);
}

/** Rewrites a run's progress file (write then rename: a kill never leaves half a file). */
export async function writeProgress(runsDir: string, progress: RunProgress): Promise<void> {
  const dir = join(runsDir, progress.runId);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `${PROGRESS_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(progress)}\n`);
  await rename(tmp, join(dir, PROGRESS_FILE));
}

/** Removes a finished run's progress file (its history line says where it ended). */
export async function clearProgress(runsDir: string, runId: string): Promise<void> {
  await rm(join(runsDir, runId, PROGRESS_FILE), { force: true });
}

async function readProgress(runsDir: string, runId: string): Promise<RunProgress | undefined> {
  try {
    return JSON.parse(await readFile(join(runsDir, runId, PROGRESS_FILE), 'utf8')) as RunProgress;
  } catch {
    return undefined;
  }
}

/**
 * The runs of the history file in the order they ended (a run without an end where it started). A
 * `started` line with no finished line of its run after it reads as Interrupted (or Running, while its
 * process lives), with the stage and state of `<runsDir>/<runId>/progress.json`; `runsDir` defaults to
 * the `runs/` folder next to the file (the home layout).
 */
export async function readRuns(file: string, runsDir = join(dirname(file), 'runs')): Promise<RunRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const lines = text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line): (RunRecord | RunStartedLine)[] => {
      try {
        return [JSON.parse(line) as RunRecord | RunStartedLine];
      } catch {
        return []; // a line the kill cut short
      }
    });
  const out: RunRecord[] = [];
  for (const [i, line] of lines.entries()) {
    if (!isStartedLine(line)) {
      out.push(line);
      continue;
    }
    const ended = lines.slice(i + 1).some((l) => l.runId === line.runId);
    if (!ended) out.push(unfinishedRecord(line, await readProgress(runsDir, line.runId)));
  }
  return out;
}

function isStartedLine(line: RunRecord | RunStartedLine): line is RunStartedLine {
  return (line as Partial<RunStartedLine>).event === 'started';
}

function unfinishedRecord(line: RunStartedLine, progress: RunProgress | undefined): RunRecord {
  const current = progress?.attempt === line.attempt ? progress : undefined;
  const running = line.pid !== undefined && isAlive(line.pid);
  const stage = current?.stage ?? 'Source';
  const where = current?.state ? `${stage}/${current.state}` : stage;
  const lastSeen = current?.updatedAt ?? line.startedAt;
  return {
    runId: line.runId,
    trigger: line.trigger,
    startedAt: line.startedAt,
    endedAt: lastSeen,
    status: running ? 'Running' : 'Interrupted',
    stage,
    ...(current?.state ? { failedState: current.state } : {}),
    reason: running
      ? `running in ${where} (pid ${line.pid})`
      : `the process stopped without recording an end (killed or crashed) in ${where}; last seen ${lastSeen}`,
    servingVersion: null,
    timings: {
      totalMs: Math.max(0, Date.parse(lastSeen) - Date.parse(line.startedAt)),
      stages: current?.stages ?? {},
      states: {},
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The artifacts an unfinished run left: the keys under `runs/<runId>/` of the bucket when `listKeys` can
 * reach it, else the files of the local `<runsDir>/<runId>/` folder (the progress file left out).
 */
export async function runArtifacts(
  runId: string,
  runsDir: string,
  listKeys?: (prefix: string) => Promise<readonly string[]>,
): Promise<{ readonly source: 's3' | 'local'; readonly keys: readonly string[] }> {
  if (listKeys) {
    try {
      return { source: 's3', keys: await listKeys(`runs/${runId}/`) };
    } catch {
      // the bucket is not reachable: the local copies
    }
  }
  try {
    const names = await readdir(join(runsDir, runId), { recursive: true });
    return {
      source: 'local',
      keys: names.filter((n) => !n.startsWith(PROGRESS_FILE)).sort((a, b) => a.localeCompare(b)),
    };
  } catch {
    return { source: 'local', keys: [] };
  }
}

/** One line per interrupted run: where it stopped and what it left. */
export async function describeInterrupted(
  runs: readonly RunRecord[],
  runsDir: string,
  listKeys?: (prefix: string) => Promise<readonly string[]>,
): Promise<string[]> {
  const lines: string[] = [];
  for (const run of runs.filter((r) => r.status === 'Interrupted')) {
    const where = run.failedState ? `${run.stage}/${run.failedState}` : run.stage;
    const { source, keys } = await runArtifacts(run.runId, runsDir, listKeys);
    const listed = keys.length === 0 ? 'none' : `${clipList(keys, 8)}`;
    const from = source === 's3' ? `s3 runs/${run.runId}/` : `${join(runsDir, run.runId)}/`;
    lines.push(
      `interrupted ${run.runId} (started ${run.startedAt.replace('T', ' ').slice(0, 19)}, trigger ${run.trigger.key}) reached ${where}; artifacts in ${from}: ${listed}`,
    );
  }
  return lines;
}

/** What the history's checks read of a bucket. */
export interface BucketReader {
  /** Every key under the prefix. */
  readonly listKeys: (prefix: string) => Promise<readonly string[]>;
  /** An object's bytes; undefined when it does not exist. */
  readonly readObject: (key: string) => Promise<Uint8Array | undefined>;
}

/** A BucketReader on an S3 client (the local S3 of a running instance). */
export function bucketReader(s3: S3Client, bucket: string): BucketReader {
  return {
    listKeys: async (prefix) => (await listObjects(s3, bucket, prefix)).map((o) => o.key),
    readObject: async (key) => {
      try {
        const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return await response.Body?.transformToByteArray();
      } catch (error) {
        if ((error as Error).name === 'NoSuchKey') return undefined;
        throw error;
      }
    },
  };
}

/** The parts of a lineage.json the untrained-batch check reads. */
interface LineageKeys {
  readonly trained: readonly { readonly key: string }[];
}

/**
 * The batches under `ratings/` that no successful run trained on (the `trained` list of its
 * `runs/<runId>/lineage.json`), and the newest interrupted run after the last successful one, which was
 * (or was about to be) training them. Undefined when every batch has been trained.
 */
export async function untrainedBatches(
  runs: readonly RunRecord[],
  bucket: BucketReader,
): Promise<{ readonly keys: readonly string[]; readonly interruptedRun?: string } | undefined> {
  const batches = await bucket.listKeys('ratings/');
  const succeeded = new Set(runs.filter((r) => r.status === 'Succeeded').map((r) => r.runId));
  const trained = new Set<string>();
  for (const key of await bucket.listKeys('runs/')) {
    const match = /^runs\/([^/]+)\/lineage\.json$/.exec(key);
    if (!match || !succeeded.has(match[1])) continue;
    try {
      const bytes = await bucket.readObject(key);
      if (!bytes) continue;
      const lineage = JSON.parse(Buffer.from(bytes).toString('utf8')) as LineageKeys;
      for (const batch of lineage.trained) trained.add(batch.key);
    } catch {
      // an unreadable lineage trains nothing
    }
  }
  const keys = batches.filter((k) => !trained.has(k)).sort((a, b) => a.localeCompare(b));
  if (keys.length === 0) return undefined;
  const lastSuccess = runs.map((r) => r.status).lastIndexOf('Succeeded');
  const interrupted = runs.slice(lastSuccess + 1).filter((r) => r.status === 'Interrupted');
  const interruptedRun = interrupted.at(-1)?.runId;
  return { keys, ...(interruptedRun ? { interruptedRun } : {}) };
}

/** The restart line of `npm start` for `untrainedBatches`' answer. */
export function formatUntrained(untrained: {
  readonly keys: readonly string[];
  readonly interruptedRun?: string;
}): string {
  const { keys, interruptedRun } = untrained;
  const by = interruptedRun ? `an interrupted run ${interruptedRun} was training them; ` : '';
  return `untrained ${keys.length} batch(es) since the last successful run: ${clipList(keys, 5)} (${by}npm run upload or --data starts a new run)`;
}

function clipList(items: readonly string[], max: number): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown}, +${items.length - max} more` : shown;
}

/** Batches a run trained on and left out (its lineage.json), for the table's `batches` column. */
export interface RunBatchCounts {
  readonly trained: number;
  readonly excluded: number;
}

/**
 * The batch counts of each run from the copies of `lineage.json` in `<runsDir>/<runId>/` (the runtime
 * keeps one per run); runs without one are left out.
 */
export async function readBatchCounts(
  runsDir: string,
  runs: readonly RunRecord[],
): Promise<Map<string, RunBatchCounts>> {
  const counts = new Map<string, RunBatchCounts>();
  for (const run of runs) {
    try {
      const lineage = JSON.parse(await readFile(join(runsDir, run.runId, 'lineage.json'), 'utf8')) as {
        trained: unknown[];
        excluded: unknown[];
      };
      counts.set(run.runId, { trained: lineage.trained.length, excluded: lineage.excluded.length });
    } catch {
      // No lineage (a run before lineage existed, or one that never reached Prepare).
    }
  }
  return counts;
}

/**
 * A fixed-width table of runs, oldest first. `batches` is `trained/excluded` (batches the run trained on
 * / batches it left out: quarantined or withdrawn), `-` when the run has no lineage.
 */
export function formatRuns(
  runs: readonly RunRecord[],
  batches: ReadonlyMap<string, RunBatchCounts> = new Map(),
): string {
  if (runs.length === 0) return 'no runs yet (npm start runs the first one)\n';
  const header = [
    'run',
    'started',
    'status',
    'ended in',
    'trigger',
    'metric',
    'candidate',
    'production',
    'serving',
    'batches',
    'time',
    'reason',
  ];
  const rows = runs.map((r) => [
    r.runId,
    r.startedAt.replace('T', ' ').slice(0, 19),
    r.status,
    r.failedState ? `${r.stage}/${r.failedState}` : r.stage,
    r.trigger.key,
    r.primaryMetric?.name ?? '-',
    metric(r.primaryMetric?.candidate),
    metric(r.primaryMetric?.production),
    r.servingVersion ?? '-',
    batchCell(batches.get(r.runId)),
    `${(r.timings.totalMs / 1000).toFixed(1)} s`,
    clip(r.reason ?? '', 70),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function batchCell(counts: RunBatchCounts | undefined): string {
  return counts ? `${counts.trained}/${counts.excluded}` : '-';
}

function metric(value: number | null | undefined): string {
  return value === null || value === undefined ? '-' : value.toFixed(4);
}

function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length <= max ? one : `${one.slice(0, max - 3)}...`;
}
