/**
 * `reelflow status [--watch] [--interval <s>]`: where the release pipeline is, on the deployed stack
 * (`--aws`) or the running twin. Prints the runs in progress and the last finished one stage by stage
 * (GetPipelineState, ListActionExecutions); inside Retrain and Deploy the state machine's current state
 * and how long it has been in it (the Step Functions action's execution ARN -> GetExecutionHistory);
 * then what serves now (the SSM production record, DescribeEndpoint). `--watch` follows the run in
 * progress until it ends, a line each time it moves on, and exits by its outcome (EXIT codes); `reelflow
 * upload` follows the run of its upload the same way (watchRun).
 */
import type { PipelineExecutionSummary } from '@aws-sdk/client-codepipeline';
import { EXIT, UsageError, type ParsedArgs } from '../cli-args';
import { clip, duration, metric, primaryMetric, table, time } from './format';
import {
  actionExecutions,
  endpointStatus,
  exitCodeOf,
  getExecution,
  isRunning,
  listExecutions,
  machinePosition,
  MACHINE_STAGES,
  pipelineState,
  productionRecord,
  stagesOf,
  variableOf,
  type MachinePosition,
  type StageView,
} from './pipeline-read';
import { resolveTarget, STDOUT_IO, type OperatorIo, type OperatorTarget } from './target';

/** How status reads time and waits (tests pass a fake clock). */
export interface StatusOptions {
  readonly io?: OperatorIo;
  /** Follow the run in progress until it ends. */
  readonly watch?: boolean;
  /** @default 10 s */
  readonly intervalMs?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** One run as status shows it. */
export interface RunView {
  readonly runId: string;
  readonly status: string;
  readonly startTime?: Date;
  readonly lastUpdateTime?: Date;
  readonly trigger?: string;
  readonly stages: readonly StageView[];
  /** Per Retrain/Deploy stage that started an execution: where it is or how it ended. */
  readonly positions: ReadonlyMap<string, MachinePosition>;
}

/** A watched run prints a line when it moves on, and at least this often while it stays. */
const HEARTBEAT_MS = 60_000;
const DEFAULT_INTERVAL_MS = 10_000;

export async function statusCommand(args: ParsedArgs, io: OperatorIo = STDOUT_IO): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError('status takes no arguments');
  const intervalMs = intervalOf(args);
  const target = await resolveTarget(args);
  try {
    return await runStatus(target, { io, watch: args.values.watch === true, intervalMs });
  } finally {
    target.destroy();
  }
}

/** `--interval <s>`: seconds between refreshes of `--watch` (and of upload's follow). */
export function intervalOf(args: ParsedArgs): number {
  const value = args.values.interval;
  if (value === undefined) return DEFAULT_INTERVAL_MS;
  const seconds = Number(value);
  if (typeof value !== 'string' || !Number.isFinite(seconds) || seconds < 1)
    throw new UsageError('--interval takes a number of seconds >= 1');
  return seconds * 1000;
}

/** Prints the status; with `watch`, follows the newest run in progress and returns its outcome. */
export async function runStatus(target: OperatorTarget, options: StatusOptions = {}): Promise<number> {
  const io = options.io ?? STDOUT_IO;
  const now = options.now ?? (() => new Date());
  const executions = await listExecutions(target, 20);
  const state = await pipelineState(target);
  const current = executions.filter((e) => isRunning(e.status));
  const last = executions.find((e) => !isRunning(e.status));
  const lines = [`pipeline ${target.names.pipelineName}  (${where(target)})`, ''];
  for (const execution of current) {
    lines.push(...formatRun(target, await readRun(target, execution, state), now(), 'current'), '');
  }
  if (current.length === 0) lines.push('no run in progress', '');
  if (last) lines.push(...formatRun(target, await readRun(target, last, state), now(), 'last'), '');
  lines.push(...(await servingLines(target)));
  for (const line of lines) io.out(line);
  if (!options.watch || current.length === 0) return EXIT.ok;
  io.out('');
  return watchRun(target, current[0].pipelineExecutionId ?? '', options);
}

/**
 * Follows one run until it ends: a line when it enters another stage or state (and once a minute
 * otherwise), then the run stage by stage and what serves. Returns the exit code of its outcome.
 */
export async function watchRun(
  target: OperatorTarget,
  runId: string,
  options: StatusOptions = {},
): Promise<number> {
  const io = options.io ?? STDOUT_IO;
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  let lastKey = '';
  let lastPrinted = 0;
  for (;;) {
    const execution = await getExecution(target, runId);
    const run = await readRun(
      target,
      { pipelineExecutionId: runId, status: execution.status },
      await pipelineState(target),
      variableOf(execution, 'triggerKey'),
    );
    if (!isRunning(run.status)) {
      for (const line of formatRun(target, run, now(), 'run')) io.out(line);
      io.out('');
      for (const line of await servingLines(target)) io.out(line);
      const code = exitCodeOf(run.status, run.stages, errorsOf(run));
      const note =
        run.status === 'Superseded'
          ? ': a newer run took its place (reelflow status shows it)'
          : outcomeNote(code);
      io.out(`run ${runId} ended ${run.status}${note}`);
      return code;
    }
    const stage = currentStage(run);
    const position = stage ? run.positions.get(stage.name) : undefined;
    const key = `${stage?.name ?? ''}/${position?.state ?? ''}`;
    const at = now();
    if (key !== lastKey || at.getTime() - lastPrinted >= HEARTBEAT_MS) {
      const detail = stage ? stageDetail(run, stage, at) : 'starting';
      io.out(`${time(at)}  ${runId}  ${stage?.name ?? '-'}  ${clip(detail, 150)}`);
      lastKey = key;
      lastPrinted = at.getTime();
    }
    await sleep(intervalMs);
  }
}

/** A run's stages, and where its Retrain / Deploy executions are. */
export async function readRun(
  target: OperatorTarget,
  summary: Pick<PipelineExecutionSummary, 'pipelineExecutionId' | 'status' | 'startTime' | 'lastUpdateTime'>,
  state: Awaited<ReturnType<typeof pipelineState>> | undefined,
  trigger?: string,
): Promise<RunView> {
  const runId = summary.pipelineExecutionId ?? '';
  const triggerKey = trigger ?? variableOf(await getExecution(target, runId), 'triggerKey');
  const actions = await actionExecutions(target, runId);
  const stages = stagesOf(runId, state, actions);
  const positions = new Map<string, MachinePosition>();
  for (const stage of stages) {
    if (MACHINE_STAGES.has(stage.name) && stage.executionArn && stage.status !== '-')
      positions.set(stage.name, await machinePosition(target, stage.executionArn));
  }
  const times = actions.flatMap((a) => (a.startTime ? [a.startTime] : []));
  return {
    runId,
    status: summary.status ?? 'Unknown',
    startTime: summary.startTime ?? times.sort((a, b) => a.getTime() - b.getTime())[0],
    lastUpdateTime: summary.lastUpdateTime,
    trigger: triggerKey,
    stages,
    positions,
  };
}

/** The run's heading, its stages (status and what is happening in each) and its console link. */
export function formatRun(target: OperatorTarget, run: RunView, now: Date, label: string): string[] {
  const inStage = currentStage(run);
  const started = run.startTime
    ? `started ${time(run.startTime)} (${duration(now.getTime() - run.startTime.getTime())} ago)`
    : '';
  const heading = [
    `${label} ${run.runId}`,
    run.status + (inStage ? `${inStage.status === '-' ? ', waiting to enter' : ' in'} ${inStage.name}` : ''),
    started,
    run.trigger ? `trigger ${run.trigger}` : '',
  ];
  const rows = run.stages.map((s) => [s.name, s.status, stageDetail(run, s, now)]);
  return [
    heading.filter((part) => part !== '').join('  '),
    ...table(['stage', 'status', 'detail'], rows, '  '),
    `  console  ${target.links.pipelineExecution(run.runId)}`,
  ];
}

/**
 * The stage a run in progress is in, or waits to enter (listed inbound, or the first one after the last
 * it reached: in SUPERSEDED mode a run waits while an older one is in the next stage).
 */
function currentStage(run: RunView): StageView | undefined {
  if (!isRunning(run.status)) return undefined;
  const running = run.stages.find((s) => isRunning(s.status));
  if (running) return running;
  const inbound = run.stages.find((s) => s.inbound);
  if (inbound) return inbound;
  const reached = run.stages.map((s) => s.status !== '-').lastIndexOf(true);
  return reached >= 0 ? run.stages[reached + 1] : undefined;
}

/** What happens or happened inside one stage. */
function stageDetail(run: RunView, stage: StageView, now: Date): string {
  if (stage.status === '-' && isRunning(run.status) && stage === currentStage(run)) {
    return `waiting to enter${stage.occupiedBy ? `: run ${stage.occupiedBy} is in it` : ''}`;
  }
  const position = run.positions.get(stage.name);
  if (position) {
    if (position.status === 'RUNNING') {
      if (!position.state) return 'state machine starting';
      const since = position.enteredAt
        ? ` for ${duration(now.getTime() - position.enteredAt.getTime())}`
        : '';
      return `${position.state} (${position.stateType ?? 'state'})${since}`;
    }
    const why = position.error
      ? `: ${position.error}${position.cause ? ` (${clip(position.cause, 90)})` : ''}`
      : '';
    return `state machine ${position.status}${why}`;
  }
  if (stage.name === 'Approve') {
    const approval = stage.actions.find((a) => a.actionName === 'Approve');
    if (approval?.status === 'InProgress')
      return `waiting: reelflow approve ${run.runId} | reelflow reject ${run.runId} --reason <text>`;
    const summary = approval?.output?.executionResult?.externalExecutionSummary;
    if (summary) return clip(summary, 100);
  }
  const failed = stage.actions.find((a) => a.status === 'Failed');
  const message = failed?.output?.executionResult?.errorDetails?.message;
  return message ? clip(message, 100) : '';
}

/** The state machine error of each stage that ended with one. */
function errorsOf(run: RunView): Map<string, string> {
  const errors = new Map<string, string>();
  for (const [stage, position] of run.positions) if (position.error) errors.set(stage, position.error);
  return errors;
}

function outcomeNote(code: number): string {
  switch (code) {
    case EXIT.rejected:
      return ': candidate rejected';
    case EXIT.rolledBack:
      return ': deployment rolled back';
    case EXIT.dataRejected:
      return ': data rejected by validation';
    case EXIT.ok:
      return '';
    default:
      return ': failed';
  }
}

/** What serves now: the production record and the endpoint's status. */
export async function servingLines(target: OperatorTarget): Promise<string[]> {
  const [record, endpoint] = await Promise.all([productionRecord(target), endpointStatus(target)]);
  const endpointText = `endpoint ${target.names.endpointName} ${endpoint ?? 'does not exist'}`;
  if (!record) return [`serving  nothing deployed yet  (${endpointText})`];
  const primary = primaryMetric(record.metrics);
  const parts = [
    `serving  ${record.runId}`,
    `since ${time(record.deployedAt)}`,
    primary ? `${primary[0]} ${metric(primary[1])}` : '',
    record.rollbackId ? `by rollback ${record.rollbackId}` : '',
    `(${endpointText})`,
  ];
  return [parts.filter((p) => p !== '').join('  ')];
}

function where(target: OperatorTarget): string {
  return target.kind === 'aws'
    ? `stack ${target.names.stackName ?? '?'}, ${target.region}`
    : `local twin, ${target.region}`;
}
