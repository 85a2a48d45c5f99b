/**
 * `reelflow approve <run> [--comment <text>]` and `reelflow reject <run> --reason <text>`: decide the
 * manual approval a run waits at, from the terminal, with what the console shows before deciding.
 *
 * A run waits for approval when the pipeline's `Approve` stage holds that run (the stage's
 * latestExecution.pipelineExecutionId) and its `Approve` action is InProgress with a token
 * (GetPipelineState). Anything else is refused in one line that says where the run is. Before deciding,
 * the command prints the Summarize action's output variables for the run (ListActionExecutions):
 * `approvalText` (the candidate against production) and `reportUrl`, then sends PutApprovalResult with
 * the token it read. The same calls work on the local twin (pipeline-runner.ts serves them).
 *
 * CodePipeline refuses a token that is not the current one (InvalidApprovalTokenException: a newer run
 * superseded this one, or the stage was retried) and a decision on an approval that is no longer open
 * (ApprovalAlreadyCompletedException); both come back as one line.
 * @see https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PutApprovalResult.html
 */
import {
  GetPipelineExecutionCommand,
  GetPipelineStateCommand,
  ListActionExecutionsCommand,
  PutApprovalResultCommand,
  type ActionExecutionDetail,
  type StageState,
} from '@aws-sdk/client-codepipeline';
import { EXIT, UsageError, type ParsedArgs } from '../cli-args';
import { awsErrorName, explainAwsError, OperatorError } from './errors';
import { resolveTarget, STDOUT_IO, type OperatorIo, type OperatorTarget } from './target';

/** The Approve stage and its actions (pipeline/release-stages.ts). */
export const APPROVE_STAGE = 'Approve';
export const APPROVE_ACTION = 'Approve';
export const SUMMARIZE_ACTION = 'Summarize';

/** PutApprovalResult's limit on `result.summary`. */
export const APPROVAL_SUMMARY_MAX = 512;

/** The flags of `approve` and `reject` beyond the target's (cli.ts spreads them into its options). */
export const APPROVAL_OPTIONS = {
  comment: { type: 'string' },
  reason: { type: 'string' },
} as const;

/** A decision on one run's approval. */
export interface ApprovalDecision {
  readonly runId: string;
  readonly status: 'Approved' | 'Rejected';
  /** Recorded with the decision (the console's "comments"); at most APPROVAL_SUMMARY_MAX characters. */
  readonly summary: string;
}

/** What the approver sees: the Summarize action's output variables of the run. */
export interface ApprovalSummary {
  readonly approvalText: string | null;
  readonly reportUrl: string | null;
}

/** `approve <run> [--comment <text>]`. */
export async function approveCommand(args: ParsedArgs, io: OperatorIo = STDOUT_IO): Promise<number> {
  const runId = runArgument(args, 'approve');
  if (args.values.reason !== undefined) throw new UsageError('approve takes --comment, not --reason');
  const comment = textFlag(args, 'comment');
  return withTarget(args, (target) =>
    decideApproval(
      target,
      { runId, status: 'Approved', summary: comment ?? 'approved with reelflow approve' },
      io,
    ),
  );
}

/** `reject <run> --reason <text>`: the reason is required (it is what the run's history keeps). */
export async function rejectCommand(args: ParsedArgs, io: OperatorIo = STDOUT_IO): Promise<number> {
  const runId = runArgument(args, 'reject');
  if (args.values.comment !== undefined) throw new UsageError('reject takes --reason, not --comment');
  const reason = textFlag(args, 'reason');
  if (!reason) throw new UsageError('reject needs --reason <text>: say why the candidate is rejected');
  return withTarget(args, (target) =>
    decideApproval(target, { runId, status: 'Rejected', summary: reason }, io),
  );
}

/**
 * Finds the run's open approval, prints its summary and sends the decision with the approval's token.
 * Throws OperatorError when the run does not wait for approval or CodePipeline refuses the decision.
 */
export async function decideApproval(
  target: OperatorTarget,
  decision: ApprovalDecision,
  io: OperatorIo,
): Promise<number> {
  const { pipelineName } = target.names;
  const { runId } = decision;
  const token = await pendingApprovalToken(target, runId);
  const summary = await approvalSummary(target, runId);
  io.out(`run ${runId} waits for approval in ${pipelineName}`);
  for (const line of (summary.approvalText ?? '(the Summarize action left no approval text)').split('\n')) {
    io.out(`  ${line}`);
  }
  // Locally the report is a file to open; in AWS the console link the approval carries.
  const report = target.kind === 'local' ? null : summary.reportUrl;
  io.out(`report    ${report ?? target.links.report(runId)}`);
  io.out(`pipeline  ${target.links.pipelineExecution(runId)}`);
  try {
    await target.clients.codePipeline.send(
      new PutApprovalResultCommand({
        pipelineName,
        stageName: APPROVE_STAGE,
        actionName: APPROVE_ACTION,
        result: { status: decision.status, summary: clip(decision.summary, APPROVAL_SUMMARY_MAX) },
        token,
      }),
    );
  } catch (error) {
    throw new OperatorError(refusal(error, target, runId), { cause: error });
  }
  io.out(
    decision.status === 'Approved'
      ? `approved run ${runId}: the Deploy stage starts`
      : `rejected run ${runId}: ${decision.summary}`,
  );
  return EXIT.ok;
}

/** The token of the run's open approval; an OperatorError saying where the run is otherwise. */
export async function pendingApprovalToken(target: OperatorTarget, runId: string): Promise<string> {
  const { pipelineName } = target.names;
  const state = await send(target, 'read the pipeline state', () =>
    target.clients.codePipeline.send(new GetPipelineStateCommand({ name: pipelineName })),
  );
  const stages = state.stageStates ?? [];
  const approve = stages.find((stage) => stage.stageName === APPROVE_STAGE);
  const action = approve?.actionStates?.find((a) => a.actionName === APPROVE_ACTION)?.latestExecution;
  if (
    approve?.latestExecution?.pipelineExecutionId === runId &&
    action?.status === 'InProgress' &&
    action.token
  ) {
    return action.token;
  }
  throw new OperatorError(
    `run ${runId} is not waiting for approval: ${await whereIsRun(target, runId, stages)}`,
  );
}

/** Where a run is: the last stage that holds it, or the run's own status once no stage does. */
async function whereIsRun(target: OperatorTarget, runId: string, stages: StageState[]): Promise<string> {
  const holding = stages.filter((stage) => stage.latestExecution?.pipelineExecutionId === runId);
  const last = holding[holding.length - 1];
  if (last) {
    const status = last.latestExecution?.status ?? 'unknown';
    return last.stageName === APPROVE_STAGE && status === 'InProgress'
      ? `its approval is not open yet (Summarize is still running); try again in a moment`
      : `it is in ${last.stageName} (${status})`;
  }
  try {
    const { pipelineExecution } = await target.clients.codePipeline.send(
      new GetPipelineExecutionCommand({
        pipelineName: target.names.pipelineName,
        pipelineExecutionId: runId,
      }),
    );
    return `the run is ${pipelineExecution?.status ?? 'unknown'}${
      pipelineExecution?.statusSummary ? ` (${pipelineExecution.statusSummary})` : ''
    }`;
  } catch (error) {
    if (awsErrorName(error) === 'PipelineExecutionNotFoundException') {
      return `pipeline ${target.names.pipelineName} has no such run (reelflow runs lists them)`;
    }
    throw new OperatorError(explainAwsError(error, { region: target.region, what: `read run ${runId}` }), {
      cause: error,
    });
  }
}

/** The Summarize action's output variables for the run (paginated ListActionExecutions). */
export async function approvalSummary(target: OperatorTarget, runId: string): Promise<ApprovalSummary> {
  let nextToken: string | undefined;
  do {
    const page = await send(target, `list the actions of run ${runId}`, () =>
      target.clients.codePipeline.send(
        new ListActionExecutionsCommand({
          pipelineName: target.names.pipelineName,
          filter: { pipelineExecutionId: runId },
          nextToken,
        }),
      ),
    );
    const summarize = (page.actionExecutionDetails ?? []).find(isSummarizeOf(runId));
    if (summarize) {
      const variables = summarize.output?.outputVariables ?? {};
      return { approvalText: variables.approvalText ?? null, reportUrl: variables.reportUrl ?? null };
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return { approvalText: null, reportUrl: null };
}

const isSummarizeOf =
  (runId: string) =>
  (detail: ActionExecutionDetail): boolean =>
    detail.pipelineExecutionId === runId &&
    detail.stageName === APPROVE_STAGE &&
    detail.actionName === SUMMARIZE_ACTION &&
    detail.status === 'Succeeded';

/** CodePipeline's refusals of a decision, as one line. */
function refusal(error: unknown, target: OperatorTarget, runId: string): string {
  switch (awsErrorName(error)) {
    case 'InvalidApprovalTokenException':
      return `the approval of run ${runId} changed while deciding (a newer run or a retry replaced it): run reelflow status and decide again`;
    case 'ApprovalAlreadyCompletedException':
      return `the approval of run ${runId} is already decided (or timed out): nothing was changed`;
    default:
      return explainAwsError(error, { region: target.region, what: `decide the approval of run ${runId}` });
  }
}

async function send<T>(target: OperatorTarget, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new OperatorError(explainAwsError(error, { region: target.region, what }), { cause: error });
  }
}

async function withTarget(
  args: ParsedArgs,
  run: (target: OperatorTarget) => Promise<number>,
): Promise<number> {
  const target = await resolveTarget(args);
  try {
    return await run(target);
  } finally {
    target.destroy();
  }
}

function runArgument(args: ParsedArgs, command: string): string {
  const [runId, ...extra] = args.positionals;
  if (!runId || extra.length > 0)
    throw new UsageError(`${command} takes one run id (reelflow runs lists them)`);
  return runId;
}

function textFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} needs a text`);
  return value.trim();
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}\u2026`;
}
