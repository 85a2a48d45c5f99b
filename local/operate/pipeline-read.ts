/**
 * What the operator commands read about runs, through an OperatorTarget's clients (AWS and the twin
 * alike): the release pipeline's executions and stages (CodePipeline), where a Step Functions action's
 * execution is (GetExecutionHistory), what serves now (the SSM production record, the endpoint), the
 * run's records in the data bucket (a missing object = that step was not reached), and the exit code a
 * finished run maps to.
 */
import {
  GetPipelineExecutionCommand,
  GetPipelineStateCommand,
  ListActionExecutionsCommand,
  ListPipelineExecutionsCommand,
  type ActionExecutionDetail,
  type GetPipelineStateCommandOutput,
  type PipelineExecution,
  type PipelineExecutionSummary,
} from '@aws-sdk/client-codepipeline';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { GetExecutionHistoryCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import type { DeploymentRecord, ProductionRecord } from '../../functions/contracts';
import { decodeTriggerKey } from '../../functions/core/run-layout';
import { EXIT } from '../cli-args';
import { awsErrorName, isNotFoundError, OperatorError } from './errors';
import type { OperatorTarget } from './target';

/** The release pipeline's stages, in order (pipeline/release-stages.ts STAGES). */
export const STAGE_ORDER = ['Source', 'Checks', 'Retrain', 'Approve', 'Deploy'] as const;
/** The stages whose action is a Step Functions execution. */
export const MACHINE_STAGES: ReadonlySet<string> = new Set(['Retrain', 'Deploy']);

/** Execution statuses CodePipeline reports for a run that has not ended. */
const RUNNING = new Set(['InProgress', 'Stopping']);

export function isRunning(status: string | undefined): boolean {
  return RUNNING.has(status ?? '');
}

/** The newest `limit` executions, newest first (ListPipelineExecutions, paginated). */
export async function listExecutions(
  target: OperatorTarget,
  limit: number,
): Promise<PipelineExecutionSummary[]> {
  const found: PipelineExecutionSummary[] = [];
  let nextToken: string | undefined;
  do {
    const page = await target.clients.codePipeline.send(
      new ListPipelineExecutionsCommand({
        pipelineName: target.names.pipelineName,
        maxResults: Math.min(100, Math.max(1, limit - found.length)),
        nextToken,
      }),
    );
    found.push(...(page.pipelineExecutionSummaries ?? []));
    nextToken = page.nextToken;
  } while (nextToken && found.length < limit);
  return found.slice(0, limit);
}

/** One execution (status, variables, trigger); an OperatorError when the pipeline has no such run. */
export async function getExecution(target: OperatorTarget, runId: string): Promise<PipelineExecution> {
  try {
    const response = await target.clients.codePipeline.send(
      new GetPipelineExecutionCommand({
        pipelineName: target.names.pipelineName,
        pipelineExecutionId: runId,
      }),
    );
    return response.pipelineExecution ?? { pipelineExecutionId: runId };
  } catch (error) {
    if (awsErrorName(error) === 'PipelineExecutionNotFoundException') {
      throw new OperatorError(`no run ${runId} in pipeline ${target.names.pipelineName}`, { cause: error });
    }
    throw error;
  }
}

/** A pipeline variable's value (`triggerKey` decoded back to the S3 key). */
export function variableOf(execution: PipelineExecution, name: string): string | undefined {
  const value = execution.variables?.find((v) => v.name === name)?.resolvedValue;
  return value !== undefined && name === 'triggerKey' ? decodeTriggerKey(value) : value;
}

/** Every action execution of one run (ListActionExecutions filtered by the execution id). */
export async function actionExecutions(
  target: OperatorTarget,
  runId: string,
): Promise<ActionExecutionDetail[]> {
  const found: ActionExecutionDetail[] = [];
  let nextToken: string | undefined;
  do {
    const page = await target.clients.codePipeline.send(
      new ListActionExecutionsCommand({
        pipelineName: target.names.pipelineName,
        filter: { pipelineExecutionId: runId },
        nextToken,
      }),
    );
    found.push(...(page.actionExecutionDetails ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return found;
}

export async function pipelineState(target: OperatorTarget): Promise<GetPipelineStateCommandOutput> {
  return target.clients.codePipeline.send(new GetPipelineStateCommand({ name: target.names.pipelineName }));
}

/** Where a state machine execution is: its last state entered and not exited, or how it ended. */
export interface MachinePosition {
  readonly executionArn: string;
  /** RUNNING, SUCCEEDED, FAILED, ABORTED, TIMED_OUT. */
  readonly status: string;
  /** The state it is in (RUNNING only). */
  readonly state?: string;
  /** That state's type (`Task`, `Wait`, `Choice`, ...). */
  readonly stateType?: string;
  readonly enteredAt?: Date;
  /** ExecutionFailed's error and cause (FAILED, TIMED_OUT, ABORTED). */
  readonly error?: string;
  readonly cause?: string;
}

const ENDINGS: Readonly<Record<string, string>> = {
  ExecutionSucceeded: 'SUCCEEDED',
  ExecutionFailed: 'FAILED',
  ExecutionAborted: 'ABORTED',
  ExecutionTimedOut: 'TIMED_OUT',
};

/**
 * GetExecutionHistory newest first: the first `*StateEntered` whose `*StateExited` was not seen after it
 * is the state the execution is in (an inner state of a Map or Parallel comes before its parent).
 */
export async function machinePosition(
  target: OperatorTarget,
  executionArn: string,
): Promise<MachinePosition> {
  const history = await target.clients.sfn.send(
    new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 200 }),
  );
  return positionFromHistory(executionArn, history.events ?? []);
}

/** The position in a newest-first list of history events (see machinePosition). */
export function positionFromHistory(
  executionArn: string,
  newestFirst: readonly HistoryEvent[],
): MachinePosition {
  const exited = new Map<string, number>();
  for (const event of newestFirst) {
    const type = event.type ?? '';
    const ending = ENDINGS[type];
    if (ending) {
      const details =
        event.executionFailedEventDetails ??
        event.executionAbortedEventDetails ??
        event.executionTimedOutEventDetails;
      return { executionArn, status: ending, error: details?.error, cause: details?.cause };
    }
    if (type.endsWith('StateExited')) {
      const name = event.stateExitedEventDetails?.name ?? '';
      exited.set(name, (exited.get(name) ?? 0) + 1);
    } else if (type.endsWith('StateEntered')) {
      const name = event.stateEnteredEventDetails?.name ?? '';
      const pending = exited.get(name) ?? 0;
      if (pending > 0) {
        exited.set(name, pending - 1);
        continue;
      }
      return {
        executionArn,
        status: 'RUNNING',
        state: name,
        stateType: type.slice(0, -'StateEntered'.length),
        enteredAt: event.timestamp,
      };
    }
  }
  return { executionArn, status: 'RUNNING' };
}

/** One stage of one run. */
export interface StageView {
  readonly name: string;
  /** Succeeded, Failed, InProgress, Skipped, Stopped, ... or '-' (not reached). */
  readonly status: string;
  /** The actions of the stage in this run. */
  readonly actions: readonly ActionExecutionDetail[];
  /** The state machine execution of a Retrain/Deploy stage, when it started one. */
  readonly executionArn?: string;
  /** GetPipelineState lists this run as waiting to enter the stage (inboundExecution[s]). */
  readonly inbound?: boolean;
  /** Another run in progress in the stage (a run in SUPERSEDED mode waits for it to leave). */
  readonly occupiedBy?: string;
}

/**
 * The stages of a run, in the pipeline's order: the stage's status from GetPipelineState when its latest
 * execution is this run, else from this run's action executions ('-' when it has none: not reached).
 */
export function stagesOf(
  runId: string,
  state: GetPipelineStateCommandOutput | undefined,
  actions: readonly ActionExecutionDetail[],
): StageView[] {
  const names = state?.stageStates?.flatMap((s) => (s.stageName ? [s.stageName] : [])) ?? [...STAGE_ORDER];
  return names.map((name) => {
    const stage = state?.stageStates?.find((s) => s.stageName === name);
    const own = actions.filter((a) => a.stageName === name);
    const latest =
      stage?.latestExecution?.pipelineExecutionId === runId ? stage.latestExecution.status : undefined;
    const machineAction = own.find((a) => a.output?.executionResult?.externalExecutionId?.startsWith('arn:'));
    const fromState =
      latest && stage?.actionStates?.find((a) => a.latestExecution?.externalExecutionId?.startsWith('arn:'));
    const executionArn =
      machineAction?.output?.executionResult?.externalExecutionId ??
      (MACHINE_STAGES.has(name) ? fromState?.latestExecution?.externalExecutionId : undefined);
    const inbound = [stage?.inboundExecution, ...(stage?.inboundExecutions ?? [])].some(
      (e) => e?.pipelineExecutionId === runId,
    );
    const other = stage?.latestExecution;
    const occupiedBy =
      other && other.pipelineExecutionId !== runId && isRunning(other.status)
        ? other.pipelineExecutionId
        : undefined;
    return { name, status: latest ?? statusOfActions(own), actions: own, executionArn, inbound, occupiedBy };
  });
}

function statusOfActions(actions: readonly ActionExecutionDetail[]): string {
  if (actions.length === 0) return '-';
  const statuses: string[] = actions.map((a) => a.status ?? '');
  for (const s of ['InProgress', 'Failed', 'Abandoned']) if (statuses.includes(s)) return s;
  return statuses.every((s) => s === 'Succeeded') ? 'Succeeded' : (statuses.at(-1) ?? '-');
}

/** The production record (SSM); null when nothing is deployed yet. */
export async function productionRecord(target: OperatorTarget): Promise<ProductionRecord | null> {
  try {
    const response = await target.clients.ssm.send(
      new GetParameterCommand({ Name: target.names.productionParameterName }),
    );
    return response.Parameter?.Value ? (JSON.parse(response.Parameter.Value) as ProductionRecord) : null;
  } catch (error) {
    if (awsErrorName(error) === 'ParameterNotFound') return null;
    throw error;
  }
}

/** The production endpoint's status (InService, Updating, ...); null when there is no endpoint. */
export async function endpointStatus(target: OperatorTarget): Promise<string | null> {
  try {
    const response = await target.clients.sageMaker.send(
      new DescribeEndpointCommand({ EndpointName: target.names.endpointName }),
    );
    return response.EndpointStatus ?? 'Unknown';
  } catch (error) {
    // SageMaker answers an unknown endpoint with ValidationException "Could not find endpoint ...".
    if (awsErrorName(error) === 'ValidationException' && /could not find/i.test((error as Error).message))
      return null;
    throw error;
  }
}

/** A JSON object of the data bucket; undefined when it is not there (that step was not reached). */
export async function readJson<T>(target: OperatorTarget, key: string): Promise<T | undefined> {
  try {
    const response = await target.clients.s3.send(
      new GetObjectCommand({ Bucket: target.names.bucket, Key: key }),
    );
    const text = await response.Body?.transformToString();
    return text ? (JSON.parse(text) as T) : undefined;
  } catch (error) {
    if (isNotFoundError(error)) return undefined;
    throw error;
  }
}

/** The rollback records of a run (`runs/<runId>/rollbacks/*.json`), oldest first. */
export async function rollbacksOf(target: OperatorTarget, runId: string): Promise<DeploymentRecord[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await target.clients.s3.send(
      new ListObjectsV2Command({
        Bucket: target.names.bucket,
        Prefix: `runs/${runId}/rollbacks/`,
        ContinuationToken: token,
      }),
    );
    for (const o of page.Contents ?? []) if (o.Key?.endsWith('.json')) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const records: DeploymentRecord[] = [];
  for (const key of keys) {
    const record = await readJson<DeploymentRecord>(target, key);
    if (record) records.push(record);
  }
  return records.sort((a, b) => a.recordedAt.localeCompare(b.recordedAt));
}

/** How a run ended, for the exit code: from its status and its failed stage's state machine error. */
export function exitCodeOf(
  status: string | undefined,
  stages: readonly StageView[],
  errors: ReadonlyMap<string, string>,
): number {
  if (status === 'Succeeded') return EXIT.ok;
  const failed = stages.find((s) => s.status === 'Failed');
  const error = failed ? (errors.get(failed.name) ?? '') : '';
  if (failed?.name === 'Approve') return EXIT.rejected;
  if (error === 'CandidateRejected' || error === 'GateNotPassed') return EXIT.rejected;
  if (error === 'RolledBack') return EXIT.rolledBack;
  if (/DataRejected/.test(error)) return EXIT.dataRejected;
  return EXIT.failed;
}
