/**
 * What the person running `npm start` sees: one compact line per state with its duration, the training
 * epochs (every few), what each data step processed, the endpoint's traffic shifts, the notices, the
 * approval request, and at the end of a run a summary table (candidate, production, most-popular and
 * random on every metric), the gate's verdict and the version serving.
 *
 * A state that repeats (the deploy workflow's poll loop) is printed once, then summed on one line.
 */
import { evaluationNotes } from '../functions/core/evaluate/report-html';
import type { DeploymentEvent } from './services/hosting';
import type { JobProgress } from './services/job-instance';
import type { Notification } from './services/notifications';
import { causeText, type EvaluationFile, type PipelineEvent } from './pipeline-runner';
import type { RunRecord } from './run-history';
import type { ExecutionEvent } from './state-machine-runner';

type ExitedEvent = Extract<ExecutionEvent, { type: 'exited' }>;

export type Write = (line: string) => void;

/** Epoch lines per training job, about (first, last and evenly between). */
const EPOCH_LINES = 5;

export class TerminalReporter {
  private seen = new Set<string>();
  private repeats = new Map<string, { count: number; ms: number }>();
  private deployStarted = 0;
  private pendingError?: Extract<ExecutionEvent, { type: 'errored' }>;
  private readonly notices: Notification[] = [];

  constructor(private readonly write: Write) {}

  /** A free line (startup notes, serving banner). */
  note(text: string): void {
    this.write(text);
  }

  pipeline(event: PipelineEvent): void {
    switch (event.type) {
      case 'run-started':
        this.write('');
        this.write(`run ${event.runId}  (trigger ${event.trigger.key})`);
        return;
      case 'stage-started':
        this.seen = new Set();
        this.repeats.clear();
        if (event.stage === 'Retrain' || event.stage === 'Approve' || event.stage === 'Deploy') {
          this.write(`  ${event.stage}`);
        }
        if (event.stage === 'Deploy') this.deployStarted = performance.now();
        return;
      case 'stage-ended': {
        this.flushRepeats();
        this.flushNotices();
        const inline = event.stage === 'Source' || event.stage === 'Checks';
        const note = event.note ? `  ${event.note}` : '';
        if (inline) this.write(`  ${event.stage.padEnd(8)}${note}`);
        else this.write(`  ${event.stage} ${event.outcome} in ${duration(event.ms)}${note}`);
        return;
      }
      case 'state':
        this.state(event.event);
        return;
      case 'approval-requested':
        for (const line of event.request.approvalText.split('\n')) this.write(`    ${line}`);
        if (event.request.reportPath) this.write(`    report: ${event.request.reportPath}`);
        return;
      case 'approval-decided':
        this.write(
          `    ${event.decision.approved ? 'approved' : 'rejected'} by ${event.decision.by}${event.decision.comment ? ` (${event.decision.comment})` : ''}`,
        );
        return;
      case 'run-finished':
        this.finished(event.record, event.evaluation, event.validation);
        return;
    }
  }

  job(name: string, progress: JobProgress): void {
    switch (progress.kind) {
      case 'channel':
        this.write(
          `      ${name}: ${progress.channel} channel, ${progress.files} file(s), ${bytes(progress.bytes)}`,
        );
        return;
      case 'epoch': {
        const { epoch, epochs } = progress;
        const every = Math.max(1, Math.ceil(epochs / EPOCH_LINES));
        const n = epoch.epoch + 1;
        if (n !== 1 && n !== epochs && n % every !== 0) return;
        const accuracy =
          epoch.trainAccuracy !== undefined ? `  accuracy ${epoch.trainAccuracy.toFixed(4)}` : '';
        const rmse = epoch.trainRmse !== undefined ? `  rmse ${epoch.trainRmse.toFixed(4)}` : '';
        this.write(
          `      epoch ${String(n).padStart(3)}/${epochs}  loss ${epoch.trainLoss.toFixed(4)}${accuracy}${rmse}  ` +
            `${duration(epoch.epochMs)}, ${Math.round(epoch.examplesPerSecond).toLocaleString('en-US')} examples/s`,
        );
        return;
      }
      case 'index':
        this.write(
          `      ${name}: indexed ${progress.vectors.toLocaleString('en-US')} vectors of dimension ${progress.dim}`,
        );
        return;
      case 'log':
        // The project image's training log (the iALS job); its `#metric` lines become FinalMetricDataList.
        if (!progress.line.startsWith('#metric')) this.write(`      ${progress.line}`);
        return;
      case 'object':
        this.write(
          `      ${name}: ${progress.key.split('/').pop()}: ${progress.records.toLocaleString('en-US')} records in ${progress.requests} request(s)`,
        );
        return;
    }
  }

  deployment(event: DeploymentEvent): void {
    const at = this.deployStarted ? `+${duration(performance.now() - this.deployStarted)}` : '';
    this.write(`      endpoint ${at.padEnd(8)} ${event.detail}`);
  }

  /** Shown after the line of the state that published it (the engine reports states asynchronously). */
  notification(notification: Notification): void {
    this.notices.push(notification);
  }

  private flushNotices(): void {
    for (const n of this.notices.splice(0)) this.write(`      notice: ${n.subject ?? n.event ?? 'message'}`);
  }

  private state(event: ExecutionEvent): void {
    // An error is shown with what the definition did about it: retried, or caught into another state.
    // An error that ends the execution is the stage's outcome, shown on the stage line.
    if (event.type === 'errored') {
      this.pendingError = event;
      return;
    }
    if (event.type === 'retried' || event.type === 'caught') {
      const error = this.pendingError?.state === event.state ? this.pendingError : undefined;
      this.pendingError = undefined;
      this.flushRepeats();
      const what = error
        ? `${error.error}: ${clip(causeText(error.cause).replace(/ \(Service: [^)]*\)$/, ''), 140)}`
        : 'error';
      this.write(
        event.type === 'retried'
          ? `    ${event.state} ${what} -> retry ${event.attempt}`
          : `    ${event.state} ${what} -> ${event.next}`,
      );
      return;
    }
    if (event.type !== 'exited') return;
    const exited = event;
    if (this.seen.has(exited.state)) {
      const repeat = this.repeats.get(exited.state) ?? { count: 0, ms: 0 };
      repeat.count += 1;
      repeat.ms += exited.ms;
      this.repeats.set(exited.state, repeat);
      return;
    }
    this.flushRepeats();
    this.seen.add(exited.state);
    const detail = describeState(exited);
    this.write(
      `    ${exited.state.padEnd(24)} ${duration(exited.ms).padStart(8)}${detail ? `  ${detail}` : ''}`,
    );
    // The workflows publish their notices in the Notify* states.
    if (exited.state.startsWith('Notify')) this.flushNotices();
  }

  private flushRepeats(): void {
    if (this.repeats.size === 0) return;
    const parts = [...this.repeats.entries()].map(([state, r]) => `${state} x${r.count + 1}`);
    const ms = [...this.repeats.values()].reduce((n, r) => n + r.ms, 0);
    this.write(`    ${'(repeated)'.padEnd(24)} ${duration(ms).padStart(8)}  ${parts.join(', ')}`);
    this.repeats.clear();
  }

  private finished(record: RunRecord, evaluation?: EvaluationFile, validation?: unknown): void {
    this.flushRepeats();
    if (validation) this.validation(validation);
    if (evaluation) {
      this.write(summaryTable(evaluation));
      // The FM job's test-channel metrics (the workshop's numbers), what counts as relevant, coverage.
      for (const line of evaluationNotes(evaluation as Parameters<typeof evaluationNotes>[0])) {
        this.write(`  ${line}`);
      }
    }
    if (evaluation) {
      const gate = evaluation.gate;
      this.write(`  gate      ${gate.passed ? 'passed' : 'REJECTED'}`);
      for (const reason of gate.passed ? gate.reasons : (gate.failures ?? gate.reasons))
        this.write(`            - ${reason}`);
    }
    const serving = record.servingVersion ?? 'nothing (no model deployed yet)';
    this.write(`  serving   ${serving}${record.servingVersion === record.runId ? ' (this run)' : ''}`);
    this.write(
      `  result    ${record.status} in ${duration(record.timings.totalMs)}${record.reason ? `: ${record.reason}` : ''}`,
    );
    if (record.reportPath) this.write(`  report    ${record.reportPath}`);
    if (record.evaluationPath) this.write(`  evaluation ${record.evaluationPath}`);
  }

  private validation(report: unknown): void {
    const r = report as {
      message?: string;
      totals?: { rows: number; badRows: number; badShare: number };
      files?: {
        name: string;
        badRows: number;
        reasons: Record<string, { count: number; lines: number[] }>;
      }[];
    };
    this.write(`  validation report: ${r.message ?? ''}`);
    for (const file of r.files ?? []) {
      if (file.badRows === 0) continue;
      const reasons = Object.entries(file.reasons)
        .map(
          ([reason, sample]) => `${reason} x${sample.count} (lines ${sample.lines.slice(0, 3).join(', ')})`,
        )
        .join('; ');
      this.write(`    ${file.name}: ${file.badRows.toLocaleString('en-US')} bad rows: ${reasons}`);
    }
  }
}

/** The detail printed next to a state: what its result says (rows, examples, metrics, status). */
function describeState(event: ExitedEvent): string {
  const out = (event.output ?? {}) as Record<string, unknown>;
  const get = (path: string): unknown =>
    path
      .split('.')
      .reduce<unknown>(
        (v, key) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined),
        out,
      );
  const n = (value: unknown): string => (typeof value === 'number' ? value.toLocaleString('en-US') : '?');
  switch (event.state) {
    case 'Prepare': {
      const c = get('prepared.counts') as Record<string, number> | undefined;
      return c
        ? `${n(c.ratings)} ratings (${n(c.users)} users x ${n(c.movies)} movies); ${n(c.trainExamples)} train / ${n(c.testExamples)} test examples, ${n(c.testUsers)} test users`
        : '';
    }
    case 'BuildVectors': {
      const v = get('vectors') as Record<string, number> | undefined;
      return v ? `${n(v.movies)} movie and ${n(v.users)} user vectors, dimension ${n(v.dim)}` : '';
    }
    case 'Evaluate': {
      const p = get('evaluation.primaryMetric') as
        { name: string; candidate: number | null; production: number | null } | undefined;
      if (!p) return '';
      const production =
        p.production === null ? 'no production yet' : `production ${p.production.toFixed(4)}`;
      return `${p.name}: candidate ${p.candidate?.toFixed(4) ?? '-'}, ${production}`;
    }
    case 'DescribeEndpoint':
      return String(get('endpoint.EndpointStatus') ?? '');
    case 'SmokeTest': {
      const s = get('smokeTest') as { attempts?: number; movies?: number; userId?: number } | undefined;
      return s ? `user ${s.userId}: ${s.movies} movies from the new version` : '';
    }
    default:
      return '';
  }
}

/** metric | candidate | production | most-popular | random, for every metric of the evaluation. */
export function summaryTable(evaluation: EvaluationFile): string {
  const metrics = Object.keys(evaluation.candidate);
  const header = ['metric', 'candidate', 'production', 'most-popular', 'random'];
  const cell = (value: number | undefined): string => (value === undefined ? '-' : value.toFixed(4));
  const rows = metrics.map((m) => [
    m,
    cell(evaluation.candidate[m]),
    cell(evaluation.production?.[m]),
    cell(evaluation.baselines.popularity[m]),
    cell(evaluation.baselines.random[m]),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`;
  return ['', line(header), ...rows.map(line), ''].join('\n');
}

function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length <= max ? one : `${one.slice(0, max - 3)}...`;
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
