/**
 * What the local pipeline ran, as CodePipeline's read APIs show it: each execution's status, variables
 * and trigger, each stage's latest execution, each action execution (Source, Retrain and Deploy with
 * the Step Functions execution ARN as `externalExecutionId`, Summarize with its output variables, the
 * manual approval with its token while it waits), and the approval decided through PutApprovalResult.
 * pipeline-runner.ts reports into it; codepipeline.ts serves it.
 *
 * This session's executions are kept in memory; ListPipelineExecutions and GetPipelineExecution also
 * answer the older runs of runs.jsonl (their status mapped to CodePipeline's: Rejected and RolledBack
 * are Failed, NothingToDo is Succeeded, an Interrupted run is Failed), without action details.
 */
import { randomUUID } from 'node:crypto';
import type { RunRecord } from '../run-history';
import { AwsServiceError } from './aws-json-server';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './local-account';

export type PipelineExecutionStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Stopped' | 'Superseded';
export type StageStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Stopped' | 'Skipped';
export type ActionStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Abandoned';

/** The decision PutApprovalResult carries. */
export interface ApprovalOutcome {
  readonly status: 'Approved' | 'Rejected';
  readonly summary: string;
}

/** The stages and their actions, as pipeline/release-stages.ts declares them. */
const ACTIONS: Readonly<Record<string, readonly ActionSpec[]>> = {
  Source: [{ name: 'ProjectSource', category: 'Source', provider: 'S3' }],
  Checks: [
    { name: 'Checks', category: 'Build', provider: 'CodeBuild' },
    { name: 'ServingImage', category: 'Build', provider: 'CodeBuild' },
  ],
  Retrain: [{ name: 'Retrain', category: 'Invoke', provider: 'StepFunctions' }],
  Approve: [
    { name: 'Summarize', category: 'Invoke', provider: 'Lambda' },
    { name: 'Approve', category: 'Approval', provider: 'Manual' },
  ],
  Deploy: [{ name: 'Deploy', category: 'Invoke', provider: 'StepFunctions' }],
};

interface ActionSpec {
  readonly name: string;
  readonly category: string;
  readonly provider: string;
}

/** What an action reports when it starts. */
export interface ActionStart {
  readonly configuration?: Readonly<Record<string, string>>;
  readonly namespace?: string;
  /** The Step Functions execution ARN (Retrain, Deploy). */
  readonly externalExecutionId?: string;
}

/** What an action reports when it ends. */
export interface ActionEnd {
  readonly status: Exclude<ActionStatus, 'InProgress'>;
  readonly summary?: string;
  readonly outputVariables?: Readonly<Record<string, string>>;
  readonly error?: string;
  readonly updatedBy?: string;
}

interface ActionRecord {
  readonly actionExecutionId: string;
  readonly pipelineExecutionId: string;
  readonly stageName: string;
  readonly actionName: string;
  readonly spec: ActionSpec;
  readonly startTime: Date;
  readonly start: ActionStart;
  lastUpdateTime: Date;
  status: ActionStatus;
  token?: string;
  end?: ActionEnd;
}

interface ExecutionRecord {
  readonly pipelineExecutionId: string;
  readonly startTime: Date;
  readonly variables: Readonly<Record<string, string>>;
  lastUpdateTime: Date;
  status: PipelineExecutionStatus;
  statusSummary?: string;
  /** Each stage the execution reached: its status and when it entered it (the latest entry). */
  readonly stages: Map<string, { status: StageStatus; entered: Date }>;
}

/** A manual approval waiting for PutApprovalResult. */
interface PendingApproval {
  readonly runId: string;
  readonly action: ActionRecord;
  readonly resolve: (outcome: ApprovalOutcome) => void;
}

/** The approval a run waits in: the API's decision, or `close` when something else decided first. */
export interface ApprovalWait {
  readonly token: string;
  /** Resolves with PutApprovalResult's decision (never if something else decides first). */
  readonly decision: Promise<ApprovalOutcome>;
  /** Ends the wait: decided elsewhere (`by`), or abandoned (the pipeline stopped). */
  close(outcome: { approved: boolean; by: string; comment?: string } | 'abandoned'): void;
}

const PAGE = 100;

export class ExecutionLog {
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly actions: ActionRecord[] = [];
  private pending?: PendingApproval;
  /** Tokens of approvals already decided. */
  private readonly decided = new Set<string>();
  private readonly created = new Date();

  constructor(
    private readonly pipelineName: string,
    private readonly history: () => Promise<readonly RunRecord[]> = async () => [],
  ) {}

  /** An execution starts (or a retry of it starts again: same id). */
  executionStarted(runId: string, variables: Readonly<Record<string, string>>): void {
    const existing = this.executions.get(runId);
    if (existing) {
      existing.status = 'InProgress';
      existing.statusSummary = undefined;
      existing.lastUpdateTime = new Date();
      return;
    }
    const now = new Date();
    this.executions.set(runId, {
      pipelineExecutionId: runId,
      startTime: now,
      lastUpdateTime: now,
      variables,
      status: 'InProgress',
      stages: new Map(),
    });
  }

  executionEnded(runId: string, status: RunRecord['status'], reason?: string): void {
    const execution = this.executions.get(runId);
    if (!execution) return;
    execution.status = pipelineStatus(status);
    execution.statusSummary = reason?.slice(0, 2048);
    execution.lastUpdateTime = new Date();
  }

  stageChanged(runId: string, stage: string, status: StageStatus): void {
    const execution = this.executions.get(runId);
    if (!execution) return;
    const now = new Date();
    const entered = status === 'InProgress' ? now : (execution.stages.get(stage)?.entered ?? now);
    execution.stages.set(stage, { status, entered });
    execution.lastUpdateTime = new Date();
  }

  /** An action execution starts; returns its id. */
  actionStarted(runId: string, stageName: string, actionName: string, start: ActionStart = {}): string {
    const spec = ACTIONS[stageName]?.find((a) => a.name === actionName);
    if (!spec) throw new Error(`no action ${actionName} in stage ${stageName}`);
    const now = new Date();
    const record: ActionRecord = {
      actionExecutionId: randomUUID(),
      pipelineExecutionId: runId,
      stageName,
      actionName,
      spec,
      startTime: now,
      lastUpdateTime: now,
      status: 'InProgress',
      start,
    };
    this.actions.push(record);
    return record.actionExecutionId;
  }

  actionEnded(actionExecutionId: string, end: ActionEnd): void {
    const record = this.actions.find((a) => a.actionExecutionId === actionExecutionId);
    if (!record || record.status !== 'InProgress') return;
    record.status = end.status;
    record.end = end;
    record.lastUpdateTime = new Date();
  }

  /** The manual approval starts waiting: its token, and the API's decision when one comes. */
  awaitApproval(runId: string, start: ActionStart): ApprovalWait {
    const id = this.actionStarted(runId, 'Approve', 'Approve', start);
    const action = this.actions.find((a) => a.actionExecutionId === id)!;
    const token = randomUUID();
    action.token = token;
    let settled = false;
    const finish = (end: ActionEnd): void => {
      if (settled) return;
      settled = true;
      this.decided.add(token);
      if (this.pending?.action === action) this.pending = undefined;
      this.actionEnded(id, end);
    };
    const decision = new Promise<ApprovalOutcome>((resolve) => {
      this.pending = {
        runId,
        action,
        resolve: (outcome) => {
          finish({
            status: outcome.status === 'Approved' ? 'Succeeded' : 'Failed',
            summary: outcome.summary,
            updatedBy: `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/local/reelflow`,
            ...(outcome.status === 'Rejected' ? { error: `Rejected: ${outcome.summary}` } : {}),
          });
          resolve(outcome);
        },
      };
    });
    return {
      token,
      decision,
      close: (outcome) => {
        if (outcome === 'abandoned') {
          finish({ status: 'Abandoned', summary: 'the local pipeline stopped' });
          return;
        }
        finish({
          status: outcome.approved ? 'Succeeded' : 'Failed',
          summary: outcome.comment ?? `${outcome.approved ? 'approved' : 'rejected'} by ${outcome.by}`,
          updatedBy: outcome.by,
          ...(outcome.approved ? {} : { error: `Rejected by ${outcome.by}` }),
        });
      },
    };
  }

  /** PutApprovalResult. */
  putApprovalResult(request: {
    stageName: string;
    actionName: string;
    token: string;
    result: ApprovalOutcome;
  }): { approvedAt: number } {
    if (!ACTIONS[request.stageName]) {
      throw new AwsServiceError(
        'StageNotFoundException',
        `Stage '${request.stageName}' not found in pipeline '${this.pipelineName}'`,
      );
    }
    const spec = ACTIONS[request.stageName].find((a) => a.name === request.actionName);
    if (!spec || spec.category !== 'Approval') {
      throw new AwsServiceError(
        'ActionNotFoundException',
        `Approval action '${request.actionName}' not found in stage '${request.stageName}'`,
      );
    }
    const pending = this.pending;
    if (!pending || this.decided.has(request.token)) {
      throw new AwsServiceError(
        'ApprovalAlreadyCompletedException',
        `The approval action ${request.actionName} in stage ${request.stageName} is not waiting for a result`,
      );
    }
    if (pending.action.token !== request.token) {
      throw new AwsServiceError(
        'InvalidApprovalTokenException',
        `The approval token ${request.token} is not valid for the approval action ${request.actionName} in stage ${request.stageName}`,
      );
    }
    pending.resolve(request.result);
    return { approvedAt: seconds(new Date()) };
  }

  /** GetPipelineState: each stage's latest execution and each action's latest execution. */
  pipelineState(name: string): unknown {
    const executions = [...this.executions.values()];
    return {
      pipelineName: name,
      pipelineVersion: 1,
      stageStates: Object.entries(ACTIONS).map(([stageName, actions]) => {
        const latest = executions
          .filter((e) => e.stages.has(stageName))
          .sort(
            (a, b) => b.stages.get(stageName)!.entered.getTime() - a.stages.get(stageName)!.entered.getTime(),
          )[0];
        return {
          stageName,
          inboundTransitionState: { enabled: true },
          actionStates: actions.map((spec) => {
            const action = this.actions
              .filter((a) => a.stageName === stageName && a.actionName === spec.name)
              .at(-1);
            return {
              actionName: spec.name,
              ...(action ? { latestExecution: actionState(action) } : {}),
            };
          }),
          ...(latest
            ? {
                latestExecution: {
                  pipelineExecutionId: latest.pipelineExecutionId,
                  status: latest.stages.get(stageName)!.status,
                  type: 'STANDARD',
                },
              }
            : {}),
        };
      }),
      created: seconds(this.created),
      updated: seconds(this.created),
    };
  }

  /** ListPipelineExecutions: newest first, this session's then the history's. */
  async listExecutions(name: string, input: Record<string, unknown>): Promise<unknown> {
    const succeededIn = (input.filter as { succeededInStage?: { stageName?: string } } | undefined)
      ?.succeededInStage?.stageName;
    const all = (await this.allExecutions()).filter(
      (e) => succeededIn === undefined || e.succeededStages.includes(succeededIn),
    );
    const size = typeof input.maxResults === 'number' ? input.maxResults : PAGE;
    const start = input.nextToken === undefined ? 0 : offsetOf(String(input.nextToken), name);
    const items = all.slice(start, start + size);
    const next = start + size < all.length ? tokenOf(name, start + size) : undefined;
    return {
      pipelineExecutionSummaries: items.map((e) => ({
        pipelineExecutionId: e.pipelineExecutionId,
        status: e.status,
        ...(e.statusSummary ? { statusSummary: e.statusSummary } : {}),
        startTime: seconds(e.startTime),
        lastUpdateTime: seconds(e.lastUpdateTime),
        sourceRevisions: [],
        trigger: this.trigger(),
        executionMode: 'SUPERSEDED',
        executionType: 'STANDARD',
      })),
      ...(next ? { nextToken: next } : {}),
    };
  }

  /** GetPipelineExecution. */
  async getExecution(name: string, id: string): Promise<unknown> {
    const execution = (await this.allExecutions()).find((e) => e.pipelineExecutionId === id);
    if (!execution) {
      throw new AwsServiceError(
        'PipelineExecutionNotFoundException',
        `Pipeline execution with id ${id} does not exist in pipeline with name ${name}`,
      );
    }
    return {
      pipelineExecution: {
        pipelineName: name,
        pipelineVersion: 1,
        pipelineExecutionId: id,
        status: execution.status,
        ...(execution.statusSummary ? { statusSummary: execution.statusSummary } : {}),
        artifactRevisions: [],
        variables: Object.entries(execution.variables).map(([variable, value]) => ({
          name: variable,
          resolvedValue: value,
        })),
        trigger: this.trigger(),
        executionMode: 'SUPERSEDED',
        executionType: 'STANDARD',
      },
    };
  }

  /** ListActionExecutions: newest first; `filter.pipelineExecutionId` must name a known execution. */
  async listActions(name: string, input: Record<string, unknown>): Promise<unknown> {
    const id = (input.filter as { pipelineExecutionId?: string } | undefined)?.pipelineExecutionId;
    if (id !== undefined && !(await this.allExecutions()).some((e) => e.pipelineExecutionId === id)) {
      throw new AwsServiceError(
        'PipelineExecutionNotFoundException',
        `Pipeline execution with id ${id} does not exist in pipeline with name ${name}`,
      );
    }
    const all = this.actions
      .filter((a) => id === undefined || a.pipelineExecutionId === id)
      .sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
    const size = typeof input.maxResults === 'number' ? input.maxResults : PAGE;
    const start = input.nextToken === undefined ? 0 : offsetOf(String(input.nextToken), `${name}/${id}`);
    const items = all.slice(start, start + size);
    const next = start + size < all.length ? tokenOf(`${name}/${id}`, start + size) : undefined;
    return {
      actionExecutionDetails: items.map((a) => actionDetail(a)),
      ...(next ? { nextToken: next } : {}),
    };
  }

  /** This session's executions, then the history's others, newest first. */
  private async allExecutions(): Promise<Summary[]> {
    const session: Summary[] = [...this.executions.values()].map((e) => ({
      ...e,
      succeededStages: [...e.stages].filter(([, stage]) => stage.status === 'Succeeded').map(([s]) => s),
    }));
    const known = new Set(session.map((e) => e.pipelineExecutionId));
    const older: Summary[] = [];
    for (const run of await this.history()) {
      if (known.has(run.runId)) continue;
      known.add(run.runId);
      older.push(summaryOf(run));
    }
    return [...session, ...older].sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
  }

  private trigger(): { triggerType: string; triggerDetail: string } {
    return {
      triggerType: 'StartPipelineExecution',
      triggerDetail: `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/${this.pipelineName.replace(/-release$/, '')}-start-run/local`,
    };
  }
}

interface Summary {
  readonly pipelineExecutionId: string;
  readonly status: PipelineExecutionStatus;
  readonly statusSummary?: string;
  readonly startTime: Date;
  readonly lastUpdateTime: Date;
  readonly variables: Readonly<Record<string, string>>;
  readonly succeededStages: readonly string[];
}

/** A run of the history as an execution summary. */
function summaryOf(run: RunRecord): Summary {
  const stages = Object.keys(ACTIONS);
  const reached = stages.indexOf(run.stage);
  const succeeded = run.status === 'Succeeded' ? stages : stages.slice(0, reached < 0 ? 0 : reached);
  return {
    pipelineExecutionId: run.runId,
    status: pipelineStatus(run.status),
    ...(run.reason ? { statusSummary: run.reason.slice(0, 2048) } : {}),
    startTime: new Date(run.startedAt),
    lastUpdateTime: new Date(run.endedAt),
    variables: { triggerKey: run.trigger.key, triggerVersionId: run.trigger.versionId },
    succeededStages: succeeded,
  };
}

/** A run status as CodePipeline's execution status. */
export function pipelineStatus(status: RunRecord['status']): PipelineExecutionStatus {
  switch (status) {
    case 'Succeeded':
    case 'NothingToDo':
      return 'Succeeded';
    case 'Superseded':
      return 'Superseded';
    case 'Stopped':
      return 'Stopped';
    case 'Running':
      return 'InProgress';
    default:
      return 'Failed';
  }
}

function actionState(action: ActionRecord): unknown {
  const end = action.end;
  return {
    actionExecutionId: action.actionExecutionId,
    status: action.status,
    ...(end?.summary ? { summary: end.summary } : {}),
    lastStatusChange: seconds(action.lastUpdateTime),
    ...(action.status === 'InProgress' && action.token ? { token: action.token } : {}),
    ...(end?.updatedBy ? { lastUpdatedBy: end.updatedBy } : {}),
    ...(action.start.externalExecutionId ? { externalExecutionId: action.start.externalExecutionId } : {}),
    ...(end?.error ? { errorDetails: { code: 'JobFailed', message: end.error.slice(0, 5000) } } : {}),
  };
}

function actionDetail(action: ActionRecord): unknown {
  const end = action.end;
  const configuration = action.start.configuration ?? {};
  return {
    pipelineExecutionId: action.pipelineExecutionId,
    actionExecutionId: action.actionExecutionId,
    pipelineVersion: 1,
    stageName: action.stageName,
    actionName: action.actionName,
    startTime: seconds(action.startTime),
    lastUpdateTime: seconds(action.lastUpdateTime),
    ...(end?.updatedBy ? { updatedBy: end.updatedBy } : {}),
    status: action.status,
    input: {
      actionTypeId: {
        category: action.spec.category,
        owner: 'AWS',
        provider: action.spec.provider,
        version: '1',
      },
      configuration,
      resolvedConfiguration: configuration,
      region: LOCAL_REGION,
      inputArtifacts: [],
      ...(action.start.namespace ? { namespace: action.start.namespace } : {}),
    },
    output: {
      outputArtifacts: [],
      executionResult: {
        ...(action.start.externalExecutionId
          ? { externalExecutionId: action.start.externalExecutionId }
          : {}),
        ...(end?.summary ? { externalExecutionSummary: end.summary } : {}),
        ...(end?.error ? { errorDetails: { code: 'JobFailed', message: end.error.slice(0, 5000) } } : {}),
      },
      ...(end?.outputVariables ? { outputVariables: end.outputVariables } : {}),
    },
  };
}

function tokenOf(scope: string, offset: number): string {
  return Buffer.from(JSON.stringify({ scope, offset })).toString('base64');
}

/** The offset a nextToken carries. @throws InvalidNextTokenException */
function offsetOf(token: string, scope: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as {
      scope?: unknown;
      offset?: unknown;
    };
    if (parsed.scope === scope && Number.isInteger(parsed.offset)) return parsed.offset as number;
  } catch {
    // not ours
  }
  throw new AwsServiceError('InvalidNextTokenException', 'The next token is not valid.');
}

function seconds(date: Date): number {
  return date.getTime() / 1000;
}
