/**
 * `reelflow runs [--json] [--limit n]` and `reelflow show <run>`: the run history of the release
 * pipeline, on the deployed stack (`--aws`) or the running twin, from what the runs left behind:
 *
 * - CodePipeline: the executions (ListPipelineExecutions), their trigger (GetPipelineExecution
 *   variables) and stages (ListActionExecutions);
 * - the data bucket: `runs/<id>/evaluation/summary.json` (metrics, gate), `runs/<id>/lineage.json`
 *   (batches trained on / left out), `runs/<id>/deployment.json`, `runs/<id>/rollbacks/*.json`, and for
 *   `show` `runs/<id>/evaluation/evaluation.json` (the baselines). A missing object is a step the run
 *   did not reach, not an error;
 * - SSM: the production record (which run serves).
 *
 * With no twin running and no `--aws`, `runs` prints the local history file instead (`npm run runs`:
 * local/client-commands.ts runsCommand), which needs no running instance.
 */
import type { PipelineExecutionSummary } from '@aws-sdk/client-codepipeline';
import type {
  DeploymentRecord,
  NothingToDoSummary,
  ProductionRecord,
  RunSummary,
} from '../../functions/contracts';
import type { Evaluation } from '../../functions/core/evaluate/evaluation';
import type { RunLineage } from '../../functions/workflow/prepare';
import { EXIT, UsageError, type ParsedArgs } from '../cli-args';
import { runsCommand as localHistoryCommand } from '../client-commands';
import { homeLayout, runningInstance } from '../home';
import { clip, duration, metric, primaryMetric, table, time } from './format';
import {
  actionExecutions,
  getExecution,
  isRunning,
  listExecutions,
  pipelineState,
  productionRecord,
  readJson,
  rollbacksOf,
  stagesOf,
  variableOf,
  type StageView,
} from './pipeline-read';
import { formatRun, readRun, servingLines } from './status';
import { homeOf, resolveTarget, STDOUT_IO, type OperatorIo, type OperatorTarget } from './target';

/** Everything the history knows about one run. */
export interface RunReport {
  readonly runId: string;
  /** CodePipeline's status of the execution. */
  readonly status: string;
  readonly startTime?: string;
  readonly lastUpdateTime?: string;
  readonly trigger?: { readonly key?: string; readonly versionId?: string };
  /** The stage the run ended in (the failed one, else the last one it reached). */
  readonly endedIn?: string;
  /** Why it failed, when CodePipeline says. */
  readonly reason?: string;
  readonly summary?: RunSummary | NothingToDoSummary;
  readonly lineage?: RunLineage;
  readonly deployment?: DeploymentRecord;
  readonly rollbacks: readonly DeploymentRecord[];
  /** True when this run's model serves now. */
  readonly serving: boolean;
  readonly links: { readonly console: string; readonly report?: string };
}

const DEFAULT_LIMIT = 20;

export async function runsCommand(args: ParsedArgs, io: OperatorIo = STDOUT_IO): Promise<number> {
  if (args.positionals.length > 0)
    throw new UsageError('runs takes no arguments (reelflow show <run> shows one)');
  const limit = limitOf(args);
  if (!args.values.aws && !runningInstance(homeLayout(homeOf(args)))) {
    // No twin and no --aws: the local history file, which needs no running instance.
    return localHistoryCommand(args);
  }
  const target = await resolveTarget(args);
  try {
    const reports = await readRuns(target, limit);
    if (args.values.json) {
      for (const report of reports) io.out(JSON.stringify(report));
      return EXIT.ok;
    }
    for (const line of formatRunReports(reports)) io.out(line);
    io.out('');
    for (const line of await servingLines(target)) io.out(line);
    return EXIT.ok;
  } finally {
    target.destroy();
  }
}

export async function showCommand(args: ParsedArgs, io: OperatorIo = STDOUT_IO): Promise<number> {
  const [runId, ...extra] = args.positionals;
  if (!runId || extra.length > 0) throw new UsageError('show takes one run id: reelflow show <run>');
  const target = await resolveTarget(args);
  try {
    for (const line of await showRun(target, runId)) io.out(line);
    return EXIT.ok;
  } finally {
    target.destroy();
  }
}

function limitOf(args: ParsedArgs): number {
  const value = args.values.limit;
  if (value === undefined) return DEFAULT_LIMIT;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < 1)
    throw new UsageError('--limit takes a whole number >= 1');
  return n;
}

/** The newest `limit` runs, newest first, with what each left in the bucket. */
export async function readRuns(target: OperatorTarget, limit: number): Promise<RunReport[]> {
  const [executions, production] = await Promise.all([
    listExecutions(target, limit),
    productionRecord(target),
  ]);
  const reports: RunReport[] = [];
  for (const execution of executions) reports.push(await readRunReport(target, execution, production));
  return reports;
}

/** One run's report (its execution summary given, or read by id). */
export async function readRunReport(
  target: OperatorTarget,
  summary: PipelineExecutionSummary,
  production: ProductionRecord | null,
  stages?: readonly StageView[],
): Promise<RunReport> {
  const runId = summary.pipelineExecutionId ?? '';
  const execution = await getExecution(target, runId);
  const runStages = stages ?? stagesOf(runId, undefined, await actionExecutions(target, runId));
  const failed = runStages.find((s) => s.status === 'Failed');
  const reached = [...runStages].reverse().find((s) => s.status !== '-');
  const failedAction = failed?.actions.find((a) => a.status === 'Failed');
  const prefix = `runs/${runId}/`;
  const [runSummary, lineage, deployment, rollbacks] = await Promise.all([
    readJson<RunSummary | NothingToDoSummary>(target, `${prefix}evaluation/summary.json`),
    readJson<RunLineage>(target, `${prefix}lineage.json`),
    readJson<DeploymentRecord>(target, `${prefix}deployment.json`),
    rollbacksOf(target, runId),
  ]);
  return {
    runId,
    status: execution.status ?? summary.status ?? 'Unknown',
    startTime: summary.startTime?.toISOString(),
    lastUpdateTime: summary.lastUpdateTime?.toISOString(),
    trigger: {
      key: variableOf(execution, 'triggerKey'),
      versionId: variableOf(execution, 'triggerVersionId'),
    },
    endedIn: (failed ?? reached)?.name,
    reason: failedAction?.output?.executionResult?.errorDetails?.message ?? execution.statusSummary,
    summary: runSummary,
    lineage,
    deployment,
    rollbacks,
    serving: production?.runId === runId,
    links: {
      console: target.links.pipelineExecution(runId),
      ...(runSummary && !('nothingToDo' in runSummary) ? { report: target.links.report(runId) } : {}),
    },
  };
}

/** The history table, newest first. */
export function formatRunReports(reports: readonly RunReport[]): string[] {
  if (reports.length === 0) return ['no runs yet (reelflow upload <ratings file> starts one)'];
  const header = [
    'run',
    'started',
    'status',
    'ended in',
    'trigger',
    'metric',
    'candidate',
    'production',
    'gate',
    'batches',
    'deployment',
    'serving',
  ];
  const rows = reports.map((r) => {
    const scored = r.summary && !('nothingToDo' in r.summary) ? r.summary : undefined;
    const primary = primaryMetric(scored?.candidateMetrics);
    return [
      r.runId,
      r.startTime ? time(r.startTime) : '-',
      r.status,
      r.endedIn ?? '-',
      clip(r.trigger?.key ?? '-', 60),
      primary?.[0] ?? '-',
      metric(primary?.[1]),
      metric(primary ? scored?.productionMetrics?.[primary[0]] : undefined),
      gateCell(r),
      r.lineage ? `${r.lineage.trained.length}/${r.lineage.excluded.length}` : '-',
      deploymentCell(r),
      r.serving ? 'serving' : '',
    ];
  });
  return table(header, rows);
}

function gateCell(r: RunReport): string {
  if (!r.summary) return '-';
  if ('nothingToDo' in r.summary) return 'nothing to do';
  return r.summary.gate.passed ? 'passed' : 'failed';
}

function deploymentCell(r: RunReport): string {
  const own = r.deployment?.outcome ?? '-';
  if (r.rollbacks.length === 0) return own;
  return `${own} (+${r.rollbacks.length} rollback${r.rollbacks.length > 1 ? 's' : ''} to it)`;
}

/** Everything about one run: stages, metrics against production and baselines, gate, batches, deployments. */
export async function showRun(target: OperatorTarget, runId: string): Promise<string[]> {
  const execution = await getExecution(target, runId);
  const state = await pipelineState(target);
  const view = await readRun(
    target,
    { pipelineExecutionId: runId, status: execution.status },
    state,
    variableOf(execution, 'triggerKey'),
  );
  const production = await productionRecord(target);
  const [listed] = (await listExecutions(target, 100)).filter((e) => e.pipelineExecutionId === runId);
  const report = await readRunReport(
    target,
    listed ?? { pipelineExecutionId: runId, status: execution.status },
    production,
    view.stages,
  );
  const evaluation = await readJson<Evaluation>(target, `runs/${runId}/evaluation/evaluation.json`);
  const lines: string[] = [];
  const started = report.startTime ? new Date(report.startTime) : undefined;
  const updated = report.lastUpdateTime ? new Date(report.lastUpdateTime) : undefined;
  const took = started && updated ? `  (${duration(updated.getTime() - started.getTime())})` : '';
  lines.push(
    `run       ${runId}  ${report.status}`,
    `started   ${time(started)}  last change ${time(updated)}${took}`,
    `trigger   ${report.trigger?.key ?? '-'}  (version ${report.trigger?.versionId ?? 'unknown'})`,
    `console   ${report.links.console}`,
    `report    ${report.links.report ?? '- (the run did not reach Evaluate)'}`,
    '',
  );
  const asOf = isRunning(report.status) || !updated ? new Date() : updated;
  const stageLines = formatRun(target, { ...view, startTime: started ?? view.startTime }, asOf, 'run');
  lines.push(...stageLines.slice(1, -1), '');
  lines.push(...metricLines(report, evaluation), '');
  lines.push(...batchLines(report.lineage), '');
  lines.push(...deploymentLines(report), '');
  lines.push(servingLine(runId, production));
  return lines;
}

function metricLines(report: RunReport, evaluation: Evaluation | undefined): string[] {
  const summary = report.summary;
  if (!summary) return ['metrics   - (the run did not reach Evaluate)'];
  if ('nothingToDo' in summary) return [`metrics   - (nothing to do: ${summary.reason})`];
  const names = Object.keys(summary.candidateMetrics);
  const rows = names.map((name) => [
    name,
    metric(summary.candidateMetrics[name]),
    metric(summary.productionMetrics?.[name]),
    metric(evaluation?.baselines.popularity[name]),
    metric(evaluation?.baselines.random[name]),
  ]);
  return [
    ...table(['metric', 'candidate', 'production', 'most-popular', 'random'], rows, '', [1, 2, 3, 4]),
    summary.productionRunId
      ? `against   production run ${summary.productionRunId}`
      : 'against   no production model yet',
    `gate      ${summary.gate.passed ? 'passed' : 'failed'}`,
    ...summary.gate.reasons.map((reason) => `  - ${reason}`),
  ];
}

function batchLines(lineage: RunLineage | undefined): string[] {
  if (!lineage) return ['batches   - (no lineage: the run did not reach Prepare)'];
  const rows = [
    ...lineage.trained.map((b) => ['trained', b.key, `${b.size} B`, b.versionId ?? '-', '']),
    ...lineage.excluded.map((b) => [
      'excluded',
      b.key,
      b.size === undefined ? '-' : `${b.size} B`,
      b.versionId ?? '-',
      `${b.status} (${b.movedTo}): ${clip(b.reason, 80)}`,
    ]),
  ];
  return [
    `batches   ${lineage.trained.length} trained, ${lineage.excluded.length} excluded`,
    ...table(['', 'batch', 'size', 'version', 'why'], rows, '  '),
  ];
}

function deploymentLines(report: RunReport): string[] {
  const lines: string[] = [];
  const d = report.deployment;
  lines.push(
    d
      ? `deployment ${d.outcome} at ${time(d.recordedAt)}  config ${d.endpointConfigName}  serving config ${d.servingConfigName ?? '-'}` +
          (d.reason ? `  reason: ${clip(d.reason, 100)}` : '') +
          (d.alarms.length > 0 ? `  alarms: ${d.alarms.join(', ')}` : '')
      : 'deployment - (the run did not reach Deploy, or Deploy recorded nothing)',
  );
  for (const r of report.rollbacks) {
    const rb = r.rollback;
    lines.push(
      `rollback  ${rb?.id ?? '?'} at ${time(r.recordedAt)}: ${r.outcome}, from ${rb?.from ?? '?'} to ${rb?.to ?? report.runId}` +
        (rb?.reason ? `, reason: ${clip(rb.reason, 80)}` : '') +
        (rb?.requestedBy ? `, by ${rb.requestedBy}` : ''),
    );
  }
  return lines;
}

function servingLine(runId: string, production: ProductionRecord | null): string {
  if (!production) return 'serving   nothing deployed yet';
  if (production.runId === runId) {
    const how = production.rollbackId ? ` (by rollback ${production.rollbackId})` : '';
    return `serving   this run, since ${time(production.deployedAt)}${how}`;
  }
  return `serving   run ${production.runId}, not this one`;
}
