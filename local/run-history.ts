/**
 * The local run history: one JSON line per pipeline run in `<home>/runs.jsonl` (`npm run runs` prints it
 * as a table), the local counterpart of CodePipeline's execution history. Each line says how the run
 * ended, where, why, with which metrics, which version served afterwards, and how long every stage and
 * state took (the per-stage timings the benchmarks read).
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { RunTrigger } from '../functions/contracts';

/** NothingToDo: the Retrain stage found no rating file under `ratings/` (nothing trained or deployed). */
export type RunStatus =
  'Succeeded' | 'NothingToDo' | 'Failed' | 'Rejected' | 'RolledBack' | 'Superseded' | 'Stopped';

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

export async function appendRun(file: string, record: RunRecord): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await appendFile(file, `${JSON.stringify(record)}\n`);
}

export async function readRuns(file: string): Promise<RunRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as RunRecord);
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
