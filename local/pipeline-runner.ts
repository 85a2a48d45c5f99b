/**
 * The local stand-in for the release pipeline (pipeline/release-pipeline.ts): the same five stages, the
 * same execution mode, the same actions, one run per execution (the execution id is the run id).
 *
 *   Source   records the upload that started the run (pipeline variables triggerKey/triggerVersionId)
 *   Checks   skipped locally: in AWS, CodeBuild runs buildspec.yml (lint, typecheck, tests, cdk synth)
 *   Retrain  the retrain state machine, with the pipeline's literal input {runId, trigger}
 *   Approve  the summarize handler with a CodePipeline job event, then the manual approval (approval.ts)
 *   Deploy   the deploy state machine with {runId}
 *
 * SUPERSEDED mode, as CodePipeline V2 runs it: one execution per stage at a time; an execution that
 * finished a stage waits at the next one's boundary while it is busy, and a newer execution arriving at
 * the same boundary replaces the waiting one (which ends Superseded). A stage's work is never cut short.
 *
 * Every run's evaluation, report and records are copied from the local S3 to `<home>/runs/<runId>/`, so
 * people can open them, and the run is appended to the run history. A run also appends a `started` line
 * when it begins and keeps `<home>/runs/<runId>/progress.json` at the stage and state it has reached, so
 * a run whose process is killed reads back as Interrupted there (run-history.ts).
 *
 * `retry(runId)` is CodePipeline's stage Retry: the run starts again at the stage it failed in, with the
 * same run id, and each workflow execution gets a new name (`<workflow>-<runId>-<attempt>`), as the
 * Step Functions action names every execution anew. A run whose Retrain found no rating file ends
 * NothingToDo there (in AWS the pipeline skips the later stages).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CodePipelineEvent } from 'aws-lambda';
import type { EvaluateResult, NothingToDoResult, RunTrigger } from '../functions/contracts';
import { decodeTriggerKey } from '../functions/core/run-layout';
import { DEPLOY_STATES } from '../pipeline/deploy-workflow';
import { NO_TRIGGER, STAGES } from '../pipeline/release-pipeline';
import { SUMMARY_NAMESPACE } from '../pipeline/release-stages';
import { RETRAIN_STATES } from '../pipeline/retrain-workflow';
import { processingStateNames } from '../pipeline/retrain/states';
import type { ApprovalDecision, ApprovalRequest, Approver } from './approval';
import { appendRun, clearProgress, writeProgress, type RunRecord, type RunStatus } from './run-history';
import type { LocalCodePipelineApi } from './services/codepipeline';
import type { StageStatus } from './services/execution-log';
import type { LocalStepFunctionsApi } from './services/stepfunctions';
import type { ExecutionEvent, ExecutionResult, StateMachineRunner } from './state-machine-runner';

export type Stage = (typeof STAGES)[number];

/** `<Step>Error` (the Processing path's failure route) -> the data step's Lambda state name. */
const PROCESSING_ERROR_STATES = new Map(
  [RETRAIN_STATES.prepare, RETRAIN_STATES.buildVectors, RETRAIN_STATES.evaluate].map(
    (step): [string, string] => [processingStateNames(step).error, step],
  ),
);

/** What the pipeline reports while it runs (the terminal prints it; tests and benchmarks read it). */
export type PipelineEvent =
  | { readonly type: 'run-started'; readonly runId: string; readonly trigger: RunTrigger }
  | { readonly type: 'stage-started'; readonly runId: string; readonly stage: Stage }
  | {
      readonly type: 'stage-ended';
      readonly runId: string;
      readonly stage: Stage;
      readonly ms: number;
      readonly outcome:
        'succeeded' | 'failed' | 'skipped' | 'rejected' | 'rolled back' | 'superseded' | 'stopped';
      readonly note?: string;
    }
  | {
      readonly type: 'state';
      readonly runId: string;
      readonly workflow: 'retrain' | 'deploy';
      readonly event: ExecutionEvent;
    }
  | { readonly type: 'approval-requested'; readonly runId: string; readonly request: ApprovalRequest }
  | { readonly type: 'approval-decided'; readonly runId: string; readonly decision: ApprovalDecision }
  | {
      readonly type: 'run-finished';
      readonly record: RunRecord;
      /** The run's evaluation.json, when it has one. */
      readonly evaluation?: EvaluationFile;
      /** The validation report, when the data was rejected. */
      readonly validation?: unknown;
    };

/** The parts of evaluation.json the summary shows. */
export interface EvaluationFile {
  readonly candidate: Record<string, number>;
  readonly production: Record<string, number> | null;
  readonly baselines: {
    readonly popularity: Record<string, number>;
    readonly random: Record<string, number>;
  };
  readonly gate: { readonly passed: boolean; readonly reasons: string[]; readonly failures?: string[] };
  readonly config?: { readonly gate?: { readonly primaryMetric?: string } };
  readonly [key: string]: unknown;
}

export interface PipelineDeps {
  /** The pipeline's name (start-run's PIPELINE_NAME). */
  readonly name: string;
  /** The state machine runners; functions so a config change (a new render) takes effect at the next run. */
  readonly retrain: () => StateMachineRunner;
  readonly deploy: () => StateMachineRunner;
  readonly codePipeline: LocalCodePipelineApi;
  /** Records the workflow executions (the Step Functions API). @default - not recorded */
  readonly stepFunctions?: LocalStepFunctionsApi;
  /** The summarize handler (the Approve stage's Lambda action). */
  readonly summarize: (event: CodePipelineEvent) => Promise<void>;
  readonly approver: Approver;
  /** Reads an object of the data bucket; undefined when it does not exist. */
  readonly readObject: (key: string) => Promise<Uint8Array | undefined>;
  /** Local folder of the run copies (`<home>/runs`). */
  readonly runsDir: string;
  readonly historyFile: string;
  /** The run id the production record names (null before the first deployment). */
  readonly servingVersion: () => string | null;
  readonly nextRunId: () => string;
  readonly onEvent?: (event: PipelineEvent) => void;
}

/** A running or finished execution. */
export interface PipelineExecution {
  readonly runId: string;
  /** The trigger with its key decoded (the workflows get it as the pipeline variables carry it). */
  readonly trigger: RunTrigger;
  /** Resolves with the run's history record when the run is over (never rejects). */
  readonly done: Promise<RunRecord>;
}

interface Outcome {
  readonly status: RunStatus | 'continue';
  readonly reason?: string;
  readonly failedState?: string;
  readonly note?: string;
}

/** Stage locks of SUPERSEDED mode: one occupant per stage, at most one execution waiting to enter. */
class StageLocks {
  private readonly occupant = new Map<Stage, string>();
  private readonly waiting = new Map<Stage, { runId: string; resolve: (entered: boolean) => void }>();

  /** Resolves true when `runId` holds the stage, false when a newer execution superseded it first. */
  enter(stage: Stage, runId: string): Promise<boolean> {
    if (!this.occupant.has(stage)) {
      this.occupant.set(stage, runId);
      return Promise.resolve(true);
    }
    this.waiting.get(stage)?.resolve(false);
    return new Promise((resolve) => this.waiting.set(stage, { runId, resolve }));
  }

  leave(stage: Stage, runId: string): void {
    if (this.occupant.get(stage) !== runId) return;
    this.occupant.delete(stage);
    const next = this.waiting.get(stage);
    if (next) {
      this.waiting.delete(stage);
      this.occupant.set(stage, next.runId);
      next.resolve(true);
    }
  }

  /** Releases every waiter (the pipeline stops). */
  release(): void {
    for (const waiter of this.waiting.values()) waiter.resolve(false);
    this.waiting.clear();
  }
}

export class LocalPipeline {
  private readonly locks = new StageLocks();
  private readonly executions = new Map<string, PipelineExecution>();
  private readonly runs = new Map<string, RunStart>();
  private readonly stopping = new AbortController();

  constructor(private readonly deps: PipelineDeps) {}

  /** Starts an execution (StartPipelineExecution); returns at once with its run id. */
  start(variables: Readonly<Record<string, string>>): PipelineExecution {
    const runId = this.deps.nextRunId();
    const input: RunTrigger = {
      key: variables.triggerKey ?? 'manual',
      versionId: variables.triggerVersionId ?? 'unknown',
    };
    const trigger: RunTrigger = { ...input, key: decodeTriggerKey(input.key) };
    const run: RunStart = { runId, trigger, input, from: STAGES[0], attempt: 1 };
    const execution: PipelineExecution = { runId, trigger, done: this.execute(run) };
    this.executions.set(runId, execution);
    this.runs.set(runId, run);
    return execution;
  }

  /**
   * Retries a finished run at the stage it ended in (CodePipeline's Retry of a failed stage): same run id
   * and trigger, new workflow execution names. Resolves with the new execution once the old one is over.
   * @throws RetryRefusedError for an unknown run, or one that succeeded, was superseded or had nothing to do
   */
  async retry(runId: string): Promise<PipelineExecution> {
    const previous = this.executions.get(runId);
    const run = this.runs.get(runId);
    if (!previous || !run) throw new RetryRefusedError(`no run ${runId} in this session`);
    const record = await previous.done;
    if (!RETRYABLE.includes(record.status)) {
      throw new RetryRefusedError(`run ${runId} ended ${record.status}; only a failed stage can be retried`);
    }
    const next: RunStart = { ...run, from: record.stage as Stage, attempt: run.attempt + 1 };
    const execution: PipelineExecution = { runId, trigger: run.trigger, done: this.execute(next) };
    this.executions.set(runId, execution);
    this.runs.set(runId, next);
    return execution;
  }

  execution(runId: string): PipelineExecution | undefined {
    return this.executions.get(runId);
  }

  /** Resolves when every execution started so far is over. */
  async idle(): Promise<void> {
    let count = -1;
    while (count !== this.executions.size) {
      count = this.executions.size;
      await Promise.all([...this.executions.values()].map((e) => e.done));
    }
  }

  /** Stops every execution where it is (Ctrl-C); resolves when they have ended. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.locks.release();
    await this.idle();
  }

  private emit(event: PipelineEvent): void {
    this.deps.onEvent?.(event);
  }

  private async execute(run: RunStart): Promise<RunRecord> {
    // Let start() return the id before the first event.
    await Promise.resolve();
    const { runId, trigger } = run;
    const startedAt = new Date();
    const started = performance.now();
    const stages: Record<string, number> = {};
    const states: Record<string, number> = {};
    const context: RunContext = { runId, trigger, input: run.input, attempt: run.attempt, states };
    const progress = this.progressWriter(run, stages);
    await appendRun(this.deps.historyFile, {
      event: 'started',
      runId,
      trigger,
      startedAt: startedAt.toISOString(),
      attempt: run.attempt,
      pid: process.pid,
    }).catch(() => undefined);
    progress.stage(run.from);
    await progress.flush();
    context.progress = progress;
    this.deps.codePipeline.log.executionStarted(runId, {
      triggerKey: run.input.key,
      triggerVersionId: run.input.versionId,
    });
    this.emit({ type: 'run-started', runId, trigger });
    let outcome: Outcome = { status: 'Stopped', reason: 'the pipeline stopped before the run began' };
    let stage: Stage = run.from;
    for (stage of STAGES.slice(STAGES.indexOf(run.from))) {
      if (this.stopping.signal.aborted) {
        outcome = { status: 'Stopped', reason: 'the local runtime stopped' };
        break;
      }
      const entered = await this.locks.enter(stage, runId);
      if (!entered) {
        outcome = this.stopping.signal.aborted
          ? { status: 'Stopped', reason: 'the local runtime stopped' }
          : { status: 'Superseded', reason: `a newer execution reached the ${stage} stage first` };
        this.emit({
          type: 'stage-ended',
          runId,
          stage,
          ms: 0,
          outcome: outcome.status === 'Stopped' ? 'stopped' : 'superseded',
        });
        break;
      }
      progress.stage(stage);
      this.deps.codePipeline.log.stageChanged(runId, stage, 'InProgress');
      this.emit({ type: 'stage-started', runId, stage });
      const stageStarted = performance.now();
      try {
        outcome = await this.runStage(stage, context);
      } catch (error) {
        outcome = { status: 'Failed', reason: `${stage} stage error: ${(error as Error).message}` };
      } finally {
        this.locks.leave(stage, runId);
      }
      const ms = performance.now() - stageStarted;
      stages[stage] = ms;
      this.deps.codePipeline.log.stageChanged(runId, stage, stageStatus(stageOutcome(stage, outcome)));
      this.emit({
        type: 'stage-ended',
        runId,
        stage,
        ms,
        outcome: stageOutcome(stage, outcome),
        note: outcome.note ?? (outcome.status === 'continue' ? undefined : outcome.reason),
      });
      if (outcome.status !== 'continue') break;
      if (stage === STAGES[STAGES.length - 1]) outcome = { status: 'Succeeded' };
    }
    const status: RunStatus = outcome.status === 'continue' ? 'Succeeded' : outcome.status;
    await progress.flush();
    return this.finish(context, {
      status,
      stage,
      reason: outcome.reason,
      failedState: outcome.failedState,
      startedAt,
      stages,
      totalMs: performance.now() - started,
    });
  }

  private async runStage(stage: Stage, context: RunContext): Promise<Outcome> {
    // The stage conditions of the release pipeline: a run no upload started skips every later stage.
    if (stage !== 'Source' && context.input.key === NO_TRIGGER) {
      return {
        status: 'NothingToDo',
        reason: `no upload started this run (triggerKey '${NO_TRIGGER}'): every stage after Source is skipped`,
      };
    }
    switch (stage) {
      case 'Source': {
        const { log } = this.deps.codePipeline;
        log.actionEnded(log.actionStarted(context.runId, 'Source', 'ProjectSource'), {
          status: 'Succeeded',
          summary: 'the project source cdk deploy uploaded',
        });
        return {
          status: 'continue',
          note: `trigger ${context.trigger.key} (version ${context.trigger.versionId})`,
        };
      }
      case 'Checks':
        return {
          status: 'continue',
          note: 'skipped locally; in AWS, CodeBuild runs buildspec.yml (lint, typecheck, tests, cdk synth)',
        };
      case 'Retrain':
        return this.retrain(context);
      case 'Approve':
        return this.approve(context);
      case 'Deploy':
        return this.deploy(context);
    }
  }

  private async retrain(context: RunContext): Promise<Outcome> {
    const result = await this.runWorkflow('retrain', context, {
      runId: context.runId,
      trigger: context.input,
    });
    if (result.status === 'SUCCEEDED' && (result.output as Partial<NothingToDoResult>).nothingToDo) {
      const { reason } = result.output as NothingToDoResult;
      return { status: 'NothingToDo', reason, note: reason };
    }
    if (result.status === 'SUCCEEDED') {
      context.evaluation = result.output as EvaluateResult;
      const { name, candidate, production } = context.evaluation.primaryMetric;
      const vs = production === null ? 'no production model yet' : `production ${production.toFixed(4)}`;
      return { status: 'continue', note: `gate passed: ${name} ${candidate?.toFixed(4) ?? '-'}, ${vs}` };
    }
    if (result.status === 'ABORTED') return { status: 'Stopped', reason: 'the local runtime stopped' };
    const error = result.error!;
    if (error.Error === 'CandidateRejected') {
      return { status: 'Rejected', reason: 'the gate rejected the candidate', failedState: 'Gate' };
    }
    // The failure path's Fail state reports the caught error ($.error); the catch that led there names the state.
    const failedState = context.failedState;
    if (failedState === RETRAIN_STATES.prepare && error.Error === 'DataRejectedError') {
      return {
        status: 'Failed',
        failedState,
        reason: `data rejected at validation: ${causeText(error.Cause)}`,
      };
    }
    return {
      status: 'Failed',
      failedState,
      reason: `${failedState ? `${failedState}: ` : ''}${error.Error}: ${causeText(error.Cause)}`,
    };
  }

  private async approve(context: RunContext): Promise<Outcome> {
    const { codePipeline } = this.deps;
    const { log } = codePipeline;
    const jobId = codePipeline.createJob();
    const userParameters = JSON.stringify({ runId: context.runId });
    const summarizeAction = log.actionStarted(context.runId, 'Approve', 'Summarize', {
      configuration: { FunctionName: SUMMARIZE_FUNCTION, UserParameters: userParameters },
      namespace: SUMMARY_NAMESPACE,
    });
    await this.deps.summarize(jobEvent(jobId, context.runId));
    const result = codePipeline.result(jobId);
    if (!result || result.status === 'Failed') {
      const reason = result?.message ?? 'summarize ended without reporting the job result';
      log.actionEnded(summarizeAction, { status: 'Failed', error: reason });
      return result ? { status: 'Failed', failedState: 'Summarize', reason } : { status: 'Failed', reason };
    }
    log.actionEnded(summarizeAction, { status: 'Succeeded', outputVariables: result.outputVariables });
    const request: ApprovalRequest = {
      runId: context.runId,
      approvalText: result.outputVariables.approvalText ?? '',
      reportUrl: result.outputVariables.reportUrl,
      reportPath: await this.copyArtifact(context.runId, 'evaluation/report.html', 'report.html'),
    };
    this.emit({ type: 'approval-requested', runId: context.runId, request });
    const decision = await this.decide(context.runId, request);
    this.emit({ type: 'approval-decided', runId: context.runId, decision });
    if (this.stopping.signal.aborted) return { status: 'Stopped', reason: 'the local runtime stopped' };
    if (!decision.approved) {
      return {
        status: 'Rejected',
        failedState: 'Approve',
        reason: `rejected at approval by ${decision.by}${decision.comment ? `: ${decision.comment}` : ''}`,
      };
    }
    return { status: 'continue', note: `approved by ${decision.by}` };
  }

  /**
   * The manual approval: the configured approver (flags, CI, prompt, or none with --await-approval)
   * races PutApprovalResult on the token GetPipelineState shows; the first decision wins and the other
   * is cancelled (the prompt is aborted, or the token stops being valid).
   */
  private async decide(runId: string, request: ApprovalRequest): Promise<ApprovalDecision> {
    const wait = this.deps.codePipeline.log.awaitApproval(runId, {
      configuration: {
        CustomData: request.approvalText,
        ...(request.reportUrl ? { ExternalEntityLink: request.reportUrl } : {}),
      },
    });
    const cancel = new AbortController();
    const signal = AbortSignal.any([this.stopping.signal, cancel.signal]);
    const viaApi = wait.decision.then((outcome): ApprovalDecision => ({
      approved: outcome.status === 'Approved',
      by: 'PutApprovalResult (reelflow approve|reject)',
      ...(outcome.summary ? { comment: outcome.summary } : {}),
    }));
    const decision = await Promise.race([this.deps.approver.decide(request, signal), viaApi]);
    cancel.abort();
    wait.close(this.stopping.signal.aborted ? 'abandoned' : decision);
    return decision;
  }

  private async deploy(context: RunContext): Promise<Outcome> {
    const result = await this.runWorkflow('deploy', context, { runId: context.runId });
    if (result.status === 'SUCCEEDED') return { status: 'continue', note: `${context.runId} is serving` };
    if (result.status === 'ABORTED')
      return { status: 'Stopped', reason: 'the local runtime stopped during the deployment' };
    const error = result.error!;
    if (error.Error === 'RolledBack')
      return { status: 'RolledBack', reason: error.Cause, failedState: 'UpdateEndpoint' };
    return {
      status: 'Failed',
      failedState: context.failedState,
      reason: `${context.failedState ? `${context.failedState}: ` : ''}${error.Error}: ${causeText(error.Cause)}`,
    };
  }

  private async runWorkflow(
    workflow: 'retrain' | 'deploy',
    context: RunContext,
    input: unknown,
  ): Promise<ExecutionResult> {
    const runner = workflow === 'retrain' ? this.deps.retrain() : this.deps.deploy();
    context.failedState = undefined;
    const failurePath =
      workflow === 'retrain' ? RETRAIN_STATES.notifyFailure : DEPLOY_STATES.readFailureAlarms;
    const executionName = `${workflow}-${context.runId}-${context.attempt}`;
    const recorder = this.deps.stepFunctions?.begin(workflow, executionName, input);
    const stateMachineArn = this.deps.stepFunctions?.arns[workflow];
    const { log } = this.deps.codePipeline;
    // The stage and its one action share the name (Retrain, Deploy).
    const stage = workflow === 'retrain' ? 'Retrain' : 'Deploy';
    const action = log.actionStarted(context.runId, stage, stage, {
      configuration: {
        ...(stateMachineArn ? { StateMachineArn: stateMachineArn } : {}),
        ExecutionNamePrefix: workflow,
        InputType: 'Literal',
        Input: JSON.stringify(input),
      },
      ...(recorder ? { externalExecutionId: recorder.executionArn } : {}),
    });
    let result: ExecutionResult;
    try {
      result = await runner.run(input, {
        executionName,
        stateMachineArn,
        signal: this.stopping.signal,
        onEvent: (event) => {
          recorder?.event(event);
          // Only a catch into the failure path marks the failing state (ReadProduction's catch into
          // NoProduction, FindEndpoint's into EndpointExists? are the expected paths, not failures).
          if (event.type === 'caught' && event.next === failurePath) context.failedState ??= event.state;
          // A data step run as a Processing job reports its error in its result: `<Step>Error` routes it
          // to the failure path, and the step failed as its Lambda would have.
          if (event.type === 'entered' && PROCESSING_ERROR_STATES.has(event.state)) {
            context.failedState ??= PROCESSING_ERROR_STATES.get(event.state);
          }
          if (event.type === 'entered') context.progress?.state(event.state);
          this.emit({ type: 'state', runId: context.runId, workflow, event });
        },
      });
    } catch (error) {
      // The runner could not run it (busy, a broken binding): the execution and the action failed.
      const failed = { Error: 'States.Runtime', Cause: (error as Error).message };
      recorder?.end({ status: 'FAILED', error: failed, path: [], stateMs: {}, ms: 0 });
      log.actionEnded(action, { status: 'Failed', error: `${failed.Error}: ${failed.Cause}` });
      throw error;
    }
    for (const [state, ms] of Object.entries(result.stateMs))
      context.states[state] = (context.states[state] ?? 0) + ms;
    recorder?.end(result);
    log.actionEnded(action, {
      status:
        result.status === 'SUCCEEDED' ? 'Succeeded' : result.status === 'ABORTED' ? 'Abandoned' : 'Failed',
      summary: `execution ${executionName} ${result.status}`,
      ...(stateMachineArn && recorder
        ? { outputVariables: { StateMachineArn: stateMachineArn, ExecutionArn: recorder.executionArn } }
        : {}),
      ...(result.error ? { error: `${result.error.Error}: ${causeText(result.error.Cause)}` } : {}),
    });
    return result;
  }

  private async finish(
    context: RunContext,
    end: {
      status: RunStatus;
      stage: Stage;
      reason?: string;
      failedState?: string;
      startedAt: Date;
      stages: Record<string, number>;
      totalMs: number;
    },
  ): Promise<RunRecord> {
    const { runId } = context;
    let evaluation: EvaluationFile | undefined;
    let validation: unknown;
    let evaluationPath: string | undefined;
    let reportPath: string | undefined;
    try {
      evaluationPath = await this.copyArtifact(runId, 'evaluation/evaluation.json', 'evaluation.json');
      reportPath = await this.copyArtifact(runId, 'evaluation/report.html', 'report.html');
      await this.copyArtifact(runId, 'evaluation/summary.json', 'summary.json');
      await this.copyArtifact(runId, 'deployment.json', 'deployment.json');
      const validationPath = await this.copyArtifact(runId, 'prepared/validation.json', 'validation.json');
      if (evaluationPath) evaluation = JSON.parse(await readText(evaluationPath)) as EvaluationFile;
      if (validationPath && end.failedState === 'Prepare')
        validation = JSON.parse(await readText(validationPath));
    } catch {
      // The copies are a convenience: the run's artifacts stay in the local S3 either way.
    }
    if (end.failedState === 'Gate' && evaluation?.gate.failures?.length) {
      end = { ...end, reason: `the gate rejected the candidate: ${evaluation.gate.failures.join('; ')}` };
    }
    const primary = context.evaluation?.primaryMetric;
    const record: RunRecord = {
      runId,
      trigger: context.trigger,
      startedAt: end.startedAt.toISOString(),
      endedAt: new Date().toISOString(),
      status: end.status,
      stage: end.stage,
      ...(end.failedState ? { failedState: end.failedState } : {}),
      ...(end.reason ? { reason: end.reason } : {}),
      ...(evaluation
        ? {
            gate: {
              passed: evaluation.gate.passed,
              reasons: evaluation.gate.failures?.length ? evaluation.gate.failures : evaluation.gate.reasons,
            },
          }
        : {}),
      ...(primary
        ? {
            primaryMetric: {
              name: primary.name,
              candidate: primary.candidate,
              production: primary.production,
            },
          }
        : evaluation
          ? { primaryMetric: primaryOf(evaluation) }
          : {}),
      servingVersion: this.deps.servingVersion(),
      ...(evaluationPath ? { evaluationPath } : {}),
      ...(reportPath ? { reportPath } : {}),
      timings: { totalMs: end.totalMs, stages: end.stages, states: context.states },
    };
    this.deps.codePipeline.log.executionEnded(runId, record.status, record.reason);
    await appendRun(this.deps.historyFile, record);
    await clearProgress(this.deps.runsDir, runId).catch(() => undefined);
    this.emit({ type: 'run-finished', record, evaluation, validation });
    return record;
  }

  /**
   * Keeps `<runsDir>/<runId>/progress.json` at the stage and state the run has reached: one write at a
   * time, the newest position last (a state entered again, e.g. the poll loop, writes nothing).
   */
  private progressWriter(run: RunStart, stages: Readonly<Record<string, number>>): ProgressWriter {
    let current: { stage: string; state?: string } = { stage: run.from };
    let chain: Promise<void> = Promise.resolve();
    const write = (): void => {
      const snapshot = { ...current, stages: { ...stages } };
      chain = chain
        .then(() =>
          writeProgress(this.deps.runsDir, {
            runId: run.runId,
            attempt: run.attempt,
            ...snapshot,
            updatedAt: new Date().toISOString(),
          }),
        )
        .catch(() => undefined); // the progress file is a hint: a failed write never fails the run
    };
    return {
      stage: (stage) => {
        current = { stage };
        write();
      },
      state: (state) => {
        if (current.state === state) return;
        current = { stage: current.stage, state };
        write();
      },
      flush: () => chain,
    };
  }

  /** Copies `runs/<runId>/<key>` from the bucket to `<runsDir>/<runId>/<name>`; the local path, if it exists. */
  private async copyArtifact(runId: string, key: string, name: string): Promise<string | undefined> {
    const bytes = await this.deps.readObject(`runs/${runId}/${key}`);
    if (!bytes) return undefined;
    const dir = join(this.deps.runsDir, runId);
    await mkdir(dir, { recursive: true });
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  }
}

/** What an execution starts with: a new run at Source, or a retried one at its failed stage. */
interface RunStart {
  readonly runId: string;
  /** The trigger with its key decoded (history, terminal). */
  readonly trigger: RunTrigger;
  /** The trigger as the pipeline variables carry it (the retrain workflow's input). */
  readonly input: RunTrigger;
  readonly from: Stage;
  /** 1, then one more per retry: part of the workflow execution names. */
  readonly attempt: number;
}

/** Statuses a retry accepts: a stage failed (a rejection fails the stage, as in CodePipeline). */
const RETRYABLE: readonly RunStatus[] = ['Failed', 'Rejected', 'RolledBack', 'Stopped'];

/** Thrown when a run cannot be retried. */
export class RetryRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryRefusedError';
  }
}

/** Records where a run is (progress.json). */
interface ProgressWriter {
  stage(stage: string): void;
  state(state: string): void;
  /** Resolves when every write so far is done. */
  flush(): Promise<void>;
}

interface RunContext {
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly input: RunTrigger;
  readonly attempt: number;
  readonly states: Record<string, number>;
  evaluation?: EvaluateResult;
  /** The first state whose error a workflow caught into its failure path. */
  failedState?: string;
  progress?: ProgressWriter;
}

function stageOutcome(
  stage: Stage,
  outcome: Outcome,
): Extract<PipelineEvent, { type: 'stage-ended' }>['outcome'] {
  if (outcome.status === 'continue') return stage === 'Checks' ? 'skipped' : 'succeeded';
  if (outcome.status === 'NothingToDo' && stage === 'Checks') return 'skipped';
  if (outcome.status === 'Rejected') return 'rejected';
  if (outcome.status === 'RolledBack') return 'rolled back';
  if (outcome.status === 'Stopped') return 'stopped';
  if (outcome.status === 'Succeeded' || outcome.status === 'NothingToDo') return 'succeeded';
  return 'failed';
}

/** A stage's outcome as CodePipeline's stage execution status. */
function stageStatus(outcome: Extract<PipelineEvent, { type: 'stage-ended' }>['outcome']): StageStatus {
  switch (outcome) {
    case 'succeeded':
      return 'Succeeded';
    case 'skipped':
      return 'Skipped';
    case 'stopped':
    case 'superseded':
      return 'Stopped';
    default:
      return 'Failed';
  }
}

/** The summarize function's name in the job event (the stack names it `<prefix>-summarize`). */
const SUMMARIZE_FUNCTION = 'reelflow-summarize';

/** The CodePipeline job event the Lambda invoke action sends (UserParameters as the stack sets them). */
function jobEvent(jobId: string, runId: string): CodePipelineEvent {
  return {
    'CodePipeline.job': {
      id: jobId,
      accountId: '123456789012',
      data: {
        actionConfiguration: {
          configuration: { FunctionName: SUMMARIZE_FUNCTION, UserParameters: JSON.stringify({ runId }) },
        },
        inputArtifacts: [],
        outputArtifacts: [],
        artifactCredentials: { accessKeyId: '', secretAccessKey: '', sessionToken: '' },
      },
    },
  } as CodePipelineEvent;
}

/**
 * The readable part of an error cause: a Lambda error's errorMessage, a failed job's FailureReason (both
 * JSON), else the cause as it is.
 */
export function causeText(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown; FailureReason?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
    if (typeof parsed.FailureReason === 'string') return parsed.FailureReason;
  } catch {
    // a plain-text cause
  }
  return cause;
}

function primaryOf(evaluation: EvaluationFile): RunRecord['primaryMetric'] {
  const name = evaluation.config?.gate?.primaryMetric ?? 'ndcg@10';
  return {
    name,
    candidate: evaluation.candidate[name] ?? null,
    production: evaluation.production?.[name] ?? null,
  };
}

function readText(path: string): Promise<string> {
  return readFile(path, 'utf8');
}
