/**
 * `reelflow rollback [--to <runId>] [--reason <text>] [--yes] [--no-follow]`: puts an earlier model version
 * back behind the endpoint by starting the deploy state machine directly (SFN StartExecution, name
 * `rollback-<8 hex>`, input `{runId, rollback: {id, from, reason, requestedBy}}`), so a rollback takes the
 * same blue/green update, alarms, smoke test, records and notices as any deployment
 * (pipeline/deploy-workflow.ts). Then it follows the execution until it ends.
 *
 * Which version (without --to): the serving history, replayed from the deployed records in S3
 * (`runs/<run>/deployment.json` and `runs/<run>/rollbacks/<id>.json` with outcome `deployed`, ordered by
 * recordedAt), as a stack (see servingStack):
 * - a pipeline deployment of R puts R on top (moving it there if it was lower);
 * - a rollback to R that is in the stack removes everything above R: the versions rolled away from are
 *   off the stack, so a second rollback goes further back instead of returning to the version just left;
 * - the production record decides what serves now: if it is in the stack, everything above it goes.
 * The default target is the version right below the one serving. Rolling back twice after A, B, C
 * deployed gives C -> B -> A; after A, B deployed and a rollback to A, there is nothing earlier (use --to).
 *
 * Guardrails before anything starts: the target is not what serves; its evaluation summary exists and
 * its gate passed; its hosting model still exists (DescribeModel); no deploy execution is RUNNING and the
 * pipeline's Deploy stage is not InProgress. Then the plan, and a question on a terminal (--yes skips
 * it; without a terminal --yes is required). Exit: 0 when the target serves, 4 when the guardrails rolled
 * the rollback back (error RolledBack), 3 when another version was deployed meanwhile (StaleBaseline),
 * 1 for any other failure.
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { GetPipelineStateCommand } from '@aws-sdk/client-codepipeline';
import { DescribeModelCommand } from '@aws-sdk/client-sagemaker';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { getObjectText, listObjects } from '../../functions/common/s3-io';
import { EXIT, UsageError, type ParsedArgs } from '../cli-args';
import { awsErrorName, explainAwsError, isNotFoundError, OperatorError } from './errors';
import { resolveTarget, STDOUT_IO, type OperatorIo, type OperatorTarget } from './target';

/** The flags of `rollback` beyond the target's (cli.ts spreads them into its options). */
export const ROLLBACK_OPTIONS = {
  to: { type: 'string' },
  reason: { type: 'string' },
  yes: { type: 'boolean' },
  'no-follow': { type: 'boolean' },
} as const;

/** The deploy workflow's Fail states the exit code distinguishes (pipeline/deploy/). */
export const ROLLED_BACK_ERROR = 'RolledBack';
export const STALE_BASELINE_ERROR = 'StaleBaseline';

/** What the production record (SSM) says serves now. */
export interface ServingVersion {
  readonly runId: string;
  readonly modelName?: string;
  readonly endpointConfigName?: string;
  readonly deployedAt?: string;
  readonly rollbackId?: string;
}

/** One `deployed` record: a version that started serving at `recordedAt`. */
export interface DeployedEvent {
  readonly runId: string;
  readonly recordedAt: string;
  /** True for `runs/<run>/rollbacks/<id>.json`. */
  readonly rollback: boolean;
}

/** The request, as the flags give it. */
export interface RollbackRequest {
  readonly to?: string;
  readonly reason?: string;
  readonly yes: boolean;
  readonly follow: boolean;
  /** Recorded as `rollback.requestedBy`. */
  readonly requestedBy: string;
}

/** What the core needs besides the target; tests inject all of it. */
export interface RollbackDeps {
  readonly io: OperatorIo;
  /** Asks a yes/no question on a terminal; undefined when there is none. */
  readonly confirm?: (question: string) => Promise<boolean>;
  readonly sleep: (ms: number) => Promise<void>;
  /** @default 5000 */
  readonly pollMs?: number;
  /** The 8 hex characters of the execution name. @default random */
  readonly newId?: () => string;
}

/** The command: resolves the target, reads the flags, runs the rollback. */
export async function rollbackCommand(args: ParsedArgs, io: OperatorIo = STDOUT_IO): Promise<number> {
  if (args.positionals.length > 0)
    throw new UsageError('rollback takes no arguments (the target is --to <runId>)');
  const request: RollbackRequest = {
    to: textFlag(args, 'to'),
    reason: textFlag(args, 'reason'),
    yes: args.values.yes === true,
    follow: args.values['no-follow'] !== true,
    requestedBy: requester(args),
  };
  const target = await resolveTarget(args);
  try {
    return await runRollback(target, request, {
      io,
      confirm: process.stdin.isTTY && process.stdout.isTTY ? askOnTerminal : undefined,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      pollMs: target.kind === 'local' ? 1000 : 5000,
    });
  } finally {
    target.destroy();
  }
}

/** Checks, plans, asks, starts and (unless told not to) follows a rollback. */
export async function runRollback(
  target: OperatorTarget,
  request: RollbackRequest,
  deps: RollbackDeps,
): Promise<number> {
  if (!target.names.deployStateMachineArn) {
    throw new OperatorError(
      'the target publishes no deploy state machine: restart npm start with this version',
    );
  }
  const current = await readServing(target);
  const to = request.to ?? defaultTarget(await deployedEvents(target), current.runId);
  if (to === current.runId) throw new OperatorError(`${to} serves already: nothing to roll back to`);
  const model = await checkTarget(target, to);
  await checkNoDeployRunning(target);

  const id = `rollback-${(deps.newId ?? (() => randomBytes(4).toString('hex')))()}`;
  const reason = request.reason ?? 'rollback by hand';
  const { io } = deps;
  io.out(`rollback ${id}`);
  io.out(
    `  from      ${current.runId} (model ${current.modelName ?? 'unknown'}, since ${current.deployedAt ?? '?'})`,
  );
  io.out(`  to        ${to} (model ${model})`);
  io.out(
    `  endpoint  ${target.names.endpointName}: the deploy workflow's blue/green update, alarms and smoke test`,
  );
  io.out(`  reason    ${reason} (requested by ${request.requestedBy})`);
  if (!request.yes) {
    if (!deps.confirm) throw new OperatorError('no terminal to confirm on: add --yes to start the rollback');
    if (!(await deps.confirm(`roll back from ${current.runId} to ${to}? [y/N] `))) {
      io.out('nothing started');
      return EXIT.failed;
    }
  }
  const input = {
    runId: to,
    rollback: { id, from: current.runId, reason, requestedBy: request.requestedBy },
  };
  const started = await call(target, 'start the rollback', () =>
    target.clients.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: target.names.deployStateMachineArn,
        name: id,
        input: JSON.stringify(input),
      }),
    ),
  );
  const executionArn = started.executionArn ?? '';
  io.out(`started   ${target.links.stateMachineExecution(executionArn)}`);
  if (!request.follow) return EXIT.ok;
  io.out('following (Ctrl-C stops following; the rollback goes on)');
  return followRollback(target, { executionArn, id, to, from: current.runId }, deps);
}

/** The production record; an OperatorError when nothing is deployed. */
export async function readServing(target: OperatorTarget): Promise<ServingVersion> {
  let value: string | undefined;
  try {
    const { Parameter } = await target.clients.ssm.send(
      new GetParameterCommand({ Name: target.names.productionParameterName, WithDecryption: true }),
    );
    value = Parameter?.Value;
  } catch (error) {
    if (awsErrorName(error) === 'ParameterNotFound') {
      throw new OperatorError('nothing is deployed: nothing to roll back');
    }
    throw new OperatorError(
      explainAwsError(error, { region: target.region, what: 'read the production record' }),
      {
        cause: error,
      },
    );
  }
  const record = parseJson(value ?? '') as Partial<ServingVersion> | undefined;
  if (!record || typeof record.runId !== 'string') {
    throw new OperatorError(`the production record ${target.names.productionParameterName} holds no runId`);
  }
  return record as ServingVersion;
}

/** Every `deployed` record under runs/, oldest first. */
export async function deployedEvents(target: OperatorTarget): Promise<DeployedEvent[]> {
  const { s3 } = target.clients;
  const { bucket } = target.names;
  const objects = await call(target, `list s3://${bucket}/runs/`, () => listObjects(s3, bucket, 'runs/'));
  const events: DeployedEvent[] = [];
  for (const { key } of objects) {
    const match = /^runs\/([^/]+)\/(deployment\.json|rollbacks\/[^/]+\.json)$/.exec(key);
    if (!match) continue;
    const record = parseJson(await call(target, `read ${key}`, () => getObjectText(s3, bucket, key))) as
      { outcome?: unknown; recordedAt?: unknown } | undefined;
    if (record?.outcome !== 'deployed' || typeof record.recordedAt !== 'string') continue;
    events.push({ runId: match[1], recordedAt: record.recordedAt, rollback: match[2] !== 'deployment.json' });
  }
  return events.sort((a, b) => Date.parse(a.recordedAt) - Date.parse(b.recordedAt));
}

/**
 * The serving history as a stack, oldest at the bottom, what serves now on top (the rules are in the
 * file's header).
 */
export function servingStack(events: readonly DeployedEvent[], currentRunId: string): string[] {
  const stack: string[] = [];
  const popTo = (runId: string): void => {
    stack.length = stack.lastIndexOf(runId) + 1;
  };
  for (const event of events) {
    if (event.rollback && stack.includes(event.runId)) {
      popTo(event.runId);
    } else {
      const at = stack.indexOf(event.runId);
      if (at >= 0) stack.splice(at, 1);
      stack.push(event.runId);
    }
  }
  if (stack.includes(currentRunId)) popTo(currentRunId);
  else stack.push(currentRunId);
  return stack;
}

/** The version right below the one serving; an OperatorError when there is none. */
export function defaultTarget(events: readonly DeployedEvent[], currentRunId: string): string {
  const stack = servingStack(events, currentRunId);
  const below = stack[stack.length - 2];
  if (!below) {
    throw new OperatorError(
      `no earlier version to roll back to: ${currentRunId} is the oldest version still in the serving ` +
        'history (a rollback never returns to a version it rolled away from); name one with --to <runId>',
    );
  }
  return below;
}

/** The target's summary passed its gate and its hosting model still exists; returns the model name. */
export async function checkTarget(target: OperatorTarget, runId: string): Promise<string> {
  const key = `runs/${runId}/evaluation/summary.json`;
  let text: string;
  try {
    text = await getObjectText(target.clients.s3, target.names.bucket, key);
  } catch (error) {
    if (isNotFoundError(error)) {
      throw new OperatorError(`run ${runId} has no evaluation summary (${key}): it cannot be deployed`);
    }
    throw new OperatorError(explainAwsError(error, { region: target.region, what: `read ${key}` }), {
      cause: error,
    });
  }
  const summary = parseJson(text) as
    | { gate?: { passed?: boolean; reasons?: string[] }; names?: { model?: string }; nothingToDo?: boolean }
    | undefined;
  if (summary?.nothingToDo) throw new OperatorError(`run ${runId} found nothing to do: it has no model`);
  if (summary?.gate?.passed !== true) {
    const reasons = summary?.gate?.reasons?.join('; ');
    throw new OperatorError(
      `run ${runId} did not pass the gate${reasons ? ` (${reasons})` : ''}: it cannot be deployed`,
    );
  }
  const model = summary.names?.model;
  if (!model) throw new OperatorError(`${key} names no model`);
  try {
    await target.clients.sageMaker.send(new DescribeModelCommand({ ModelName: model }));
  } catch (error) {
    if (awsErrorName(error) === 'ValidationException' && /could not find model/i.test(String(error))) {
      throw new OperatorError(`the model ${model} of run ${runId} no longer exists: it cannot serve again`);
    }
    throw new OperatorError(
      explainAwsError(error, { region: target.region, what: `describe model ${model}` }),
      {
        cause: error,
      },
    );
  }
  return model;
}

/** No deploy execution RUNNING and the pipeline's Deploy stage not InProgress. */
export async function checkNoDeployRunning(target: OperatorTarget): Promise<void> {
  const { executions = [] } = await call(target, 'list the running deployments', () =>
    target.clients.sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: target.names.deployStateMachineArn,
        statusFilter: 'RUNNING',
      }),
    ),
  );
  const running = executions[0];
  if (running) {
    throw new OperatorError(
      `a deployment is running (${running.name}, started ${running.startDate?.toISOString() ?? '?'}): ` +
        'wait until it ends, then try again',
    );
  }
  const state = await call(target, 'read the pipeline state', () =>
    target.clients.codePipeline.send(new GetPipelineStateCommand({ name: target.names.pipelineName })),
  );
  const deploy = state.stageStates?.find((stage) => stage.stageName === 'Deploy')?.latestExecution;
  if (deploy?.status === 'InProgress') {
    throw new OperatorError(
      `the pipeline's Deploy stage is deploying run ${deploy.pipelineExecutionId}: wait until it ends, then try again`,
    );
  }
}

/** The execution being followed. */
export interface StartedRollback {
  readonly executionArn: string;
  readonly id: string;
  readonly to: string;
  readonly from: string;
}

/** Prints the states entered (the poll loop once, then the endpoint's progress) until the execution ends. */
export async function followRollback(
  target: OperatorTarget,
  rollback: StartedRollback,
  deps: RollbackDeps,
): Promise<number> {
  const { io } = deps;
  const printer = historyPrinter(io);
  for (;;) {
    const execution = await call(target, 'describe the rollback', () =>
      target.clients.sfn.send(new DescribeExecutionCommand({ executionArn: rollback.executionArn })),
    );
    for (const event of await newEvents(target, rollback.executionArn, printer.lastId)) printer.print(event);
    if (execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') {
      return outcome(io, rollback, execution.status ?? 'unknown', execution.error, execution.cause);
    }
    await deps.sleep(deps.pollMs ?? 5000);
  }
}

function outcome(
  io: OperatorIo,
  rollback: StartedRollback,
  status: string,
  error?: string,
  cause?: string,
): number {
  if (status === 'SUCCEEDED') {
    io.out(`${rollback.to} serves again (rollback ${rollback.id})`);
    return EXIT.ok;
  }
  if (error === ROLLED_BACK_ERROR) {
    io.out(
      `the guardrails rolled ${rollback.id} back: ${rollback.from} still serves (${cause ?? 'no cause given'})`,
    );
    return EXIT.rolledBack;
  }
  if (error === STALE_BASELINE_ERROR) {
    io.out(
      `${rollback.id} refused: ${rollback.from} no longer serves (${cause ?? 'another version was deployed'})`,
    );
    return EXIT.rejected;
  }
  io.out(`${rollback.id} ${status}${error ? `: ${error}` : ''}${cause ? `: ${cause}` : ''}`);
  return EXIT.failed;
}

/** The history events after `afterId`, oldest first (paginated). */
async function newEvents(
  target: OperatorTarget,
  executionArn: string,
  afterId: number,
): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call(target, 'read the rollback history', () =>
      target.clients.sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken })),
    );
    events.push(...(page.events ?? []).filter((event) => (event.id ?? 0) > afterId));
    nextToken = page.nextToken;
  } while (nextToken);
  return events.sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
}

/**
 * Prints each state the first time it is entered (the poll loop repeats its states every interval),
 * and DescribeEndpoint's answer whenever it changes: the endpoint status and the blue/green update's
 * stage (PendingDeploymentSummary: Creating, ActivatingTraffic, Baking, ...).
 */
function historyPrinter(io: OperatorIo): { lastId: number; print(event: HistoryEvent): void } {
  const entered = new Set<string>();
  let start: number | undefined;
  let endpoint = '';
  const at = (event: HistoryEvent): string => {
    const ms = (event.timestamp?.getTime() ?? 0) - (start ?? 0);
    const s = Math.max(0, Math.round(ms / 1000));
    return `+${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const printer = {
    lastId: 0,
    print(event: HistoryEvent): void {
      printer.lastId = Math.max(printer.lastId, event.id ?? 0);
      start ??= event.timestamp?.getTime();
      const name = event.stateEnteredEventDetails?.name;
      if (event.type?.endsWith('StateEntered') && name && !entered.has(name)) {
        entered.add(name);
        io.out(`  ${at(event)}  ${name}`);
      }
      const exited = event.stateExitedEventDetails;
      if (exited?.name === 'DescribeEndpoint') {
        const progress = endpointProgress(exited.output);
        if (progress && progress !== endpoint) io.out(`  ${at(event)}    endpoint ${progress}`);
        endpoint = progress || endpoint;
      }
    },
  };
  return printer;
}

/** `Updating (Baking)` from the state after DescribeEndpoint (`$.endpoint`). */
export function endpointProgress(output: string | undefined): string {
  const state = parseJson(output ?? '') as { endpoint?: DescribedEndpoint } | undefined;
  const endpoint = state?.endpoint;
  if (!endpoint?.EndpointStatus) return '';
  const stages = (endpoint.PendingDeploymentSummary?.ProductionVariants ?? [])
    .flatMap((variant) => variant.VariantStatus ?? [])
    .map((status) => status.Status)
    .filter((status): status is string => Boolean(status));
  return stages.length
    ? `${endpoint.EndpointStatus} (${[...new Set(stages)].join(', ')})`
    : endpoint.EndpointStatus;
}

interface DescribedEndpoint {
  readonly EndpointStatus?: string;
  readonly PendingDeploymentSummary?: {
    readonly ProductionVariants?: { readonly VariantStatus?: { readonly Status?: string }[] }[];
  };
}

/** Who asks: the OS user, and the AWS profile when one is named. */
export function requester(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = env.USER ?? env.USERNAME ?? 'unknown';
  }
  const profile = args.values.aws ? (textFlag(args, 'profile') ?? env.AWS_PROFILE) : undefined;
  return profile ? `${user} (profile ${profile})` : user;
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

async function call<T>(target: OperatorTarget, what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new OperatorError(explainAwsError(error, { region: target.region, what }), { cause: error });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function textFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} needs a value`);
  return value.trim();
}
