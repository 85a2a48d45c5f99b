/**
 * The Step Functions API of the local twin (AWSStepFunctions, awsJson1_0, served by aws-json-server.ts):
 * the executions of the two state machines the local pipeline runs, as the console and the CLI see them.
 *
 * - ListExecutions (newest first, statusFilter, maxResults/nextToken), DescribeExecution,
 *   GetExecutionHistory (reverseOrder, maxResults/nextToken): every retrain and deploy execution the
 *   local pipeline ran in this session (`<workflow>-<runId>-<attempt>`), with its status, dates,
 *   input/output or error/cause, and a history built from the runner's events (ExecutionStarted,
 *   `<Type>StateEntered` / `<Type>StateExited`, TaskFailed, ExecutionSucceeded / ExecutionFailed /
 *   ExecutionAborted), numbered from 1 with previousEventId, as Step Functions records them;
 * - StartExecution on the deploy state machine: runs the deploy definition with that input outside the
 *   pipeline (`reelflow rollback`). As in AWS, a second deploy execution may run while one does (the CLI
 *   checks first). The retrain state machine starts only through the pipeline: StartExecution on it is
 *   refused with AccessDeniedException (an operator role in AWS may start the deploy machine only).
 *
 * Errors are AWS's: InvalidArn (not a state machine / execution ARN), StateMachineDoesNotExist,
 * ExecutionDoesNotExist, ExecutionAlreadyExists (a name reused with another input, or once the
 * execution ended), InvalidName, InvalidExecutionInput (not JSON), InvalidToken (a bad nextToken).
 *
 * Executions are kept in memory: each `npm start` begins with none (older runs are in runs.jsonl and
 * in CodePipeline's ListPipelineExecutions, not here). The twin has no execution timeout, so TIMED_OUT
 * is never reported.
 */
import { randomUUID } from 'node:crypto';
import { executionArn, type ExecutionEvent, type ExecutionResult } from '../state-machine-runner';
import { AwsServiceError, type AwsJsonService } from './aws-json-server';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './local-account';

export type Workflow = 'retrain' | 'deploy';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

/** One history event, as GetExecutionHistory returns it (timestamp as a Date; epoch seconds on the wire). */
export interface HistoryEvent {
  readonly id: number;
  readonly previousEventId: number;
  readonly timestamp: Date;
  readonly type: string;
  readonly [details: string]: unknown;
}

/** One execution of a local state machine. */
export interface ExecutionRecord {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly workflow: Workflow;
  status: ExecutionStatus;
  readonly startDate: Date;
  stopDate?: Date;
  /** The input as JSON text. */
  readonly input: string;
  output?: string;
  error?: string;
  cause?: string;
  readonly events: HistoryEvent[];
}

/** What records one execution while it runs: feed it the runner's events, then its result. */
export interface ExecutionRecorder {
  readonly executionArn: string;
  event(event: ExecutionEvent): void;
  end(result: ExecutionResult): void;
}

/** Runs the deploy definition outside the pipeline (StartExecution); records through `recorder`. */
export type StartDeploy = (name: string, input: unknown, recorder: ExecutionRecorder) => void;

/** The names of the two state machines (`<resourcePrefix>-retrain`, `<resourcePrefix>-deploy`). */
export function stateMachineNames(resourcePrefix: string): Record<Workflow, string> {
  return { retrain: `${resourcePrefix}-retrain`, deploy: `${resourcePrefix}-deploy` };
}

export function stateMachineArn(name: string): string {
  return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${name}`;
}

const DEFAULT_PAGE = 100;
const STATE_MACHINE_ARN = /^arn:aws:states:([a-z0-9-]+):(\d{12}):stateMachine:([^:]+)$/;
const EXECUTION_ARN = /^arn:aws:states:([a-z0-9-]+):(\d{12}):execution:([^:]+):([^:]+)$/;
/** Step Functions' execution name rule: no whitespace, brackets, wildcards or special characters. */
const INVALID_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;
/** ... and no control characters (U+0000-U+001F, U+007F-U+009F). */
const hasControl = (name: string): boolean =>
  [...name].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f));

export class LocalStepFunctionsApi {
  /** The state machine ARNs, by workflow. */
  readonly arns: Readonly<Record<Workflow, string>>;
  private readonly executions = new Map<string, ExecutionRecord>();

  /**
   * @param names the state machines' names
   * @param startDeploy runs the deploy definition for StartExecution; without it StartExecution is refused
   */
  constructor(
    names: Readonly<Record<Workflow, string>>,
    private readonly startDeploy?: StartDeploy,
  ) {
    this.arns = { retrain: stateMachineArn(names.retrain), deploy: stateMachineArn(names.deploy) };
  }

  /** Records a new execution (RUNNING, ExecutionStarted); the caller reports its events and result. */
  begin(workflow: Workflow, name: string, input: unknown): ExecutionRecorder {
    const arn = executionArn(this.arns[workflow], name);
    const text = JSON.stringify(input ?? {});
    const record: ExecutionRecord = {
      executionArn: arn,
      stateMachineArn: this.arns[workflow],
      name,
      workflow,
      status: 'RUNNING',
      startDate: new Date(),
      input: text,
      events: [],
    };
    this.executions.set(arn, record);
    const add = (type: string, details: Record<string, unknown> = {}): void => {
      const id = record.events.length + 1;
      record.events.push({ id, previousEventId: id - 1, timestamp: new Date(), type, ...details });
    };
    add('ExecutionStarted', {
      executionStartedEventDetails: {
        input: text,
        inputDetails: { truncated: false },
        roleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/${this.arns[workflow].split(':').at(-1)}-role`,
      },
    });
    return {
      executionArn: arn,
      event: (event) => {
        if (record.status !== 'RUNNING') return;
        const [type, details] = historyEventOf(event);
        if (type) add(type, details);
      },
      end: (result) => {
        if (record.status !== 'RUNNING') return;
        record.stopDate = new Date();
        if (result.status === 'SUCCEEDED') {
          record.status = 'SUCCEEDED';
          record.output = JSON.stringify(result.output ?? null);
          add('ExecutionSucceeded', {
            executionSucceededEventDetails: { output: record.output, outputDetails: { truncated: false } },
          });
          return;
        }
        record.status = result.status;
        record.error = result.error?.Error;
        record.cause = result.error?.Cause;
        const details = { error: record.error, cause: record.cause };
        if (result.status === 'ABORTED') add('ExecutionAborted', { executionAbortedEventDetails: details });
        else add('ExecutionFailed', { executionFailedEventDetails: details });
      },
    };
  }

  /** An execution by ARN (tests, the pipeline's action records). */
  execution(arn: string): ExecutionRecord | undefined {
    return this.executions.get(arn);
  }

  /** The JSON API service (target prefix `AWSStepFunctions`). */
  service(): AwsJsonService {
    return {
      targetPrefix: 'AWSStepFunctions',
      version: '1.0',
      operations: {
        ListExecutions: (input) => this.listExecutions(input),
        DescribeExecution: (input) => describe(this.find(String(input.executionArn))),
        GetExecutionHistory: (input) => this.history(input),
        StartExecution: (input) => this.startExecution(input),
      },
    };
  }

  private listExecutions(input: Record<string, unknown>): unknown {
    if (input.mapRunArn !== undefined) {
      throw new AwsServiceError('ResourceNotFound', `Map Run Does Not Exist: '${String(input.mapRunArn)}'`);
    }
    if (input.stateMachineArn === undefined) {
      throw new AwsServiceError('ValidationException', 'Must provide a StateMachine ARN or MapRun ARN');
    }
    const machine = this.machine(String(input.stateMachineArn));
    const matching = [...this.executions.values()]
      .filter((e) => e.stateMachineArn === machine)
      .filter((e) => input.statusFilter === undefined || e.status === input.statusFilter)
      .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
    const { items, nextToken } = page(matching, input, 'ListExecutions');
    return {
      executions: items.map((e) => ({
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: seconds(e.startDate),
        ...(e.stopDate ? { stopDate: seconds(e.stopDate) } : {}),
        redriveCount: 0,
      })),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  private history(input: Record<string, unknown>): unknown {
    const execution = this.find(String(input.executionArn));
    const withData = input.includeExecutionData !== false;
    const events = input.reverseOrder === true ? [...execution.events].reverse() : execution.events;
    const { items, nextToken } = page(events, input, `GetExecutionHistory ${execution.executionArn}`);
    return {
      events: items.map((e) => wireEvent(e, withData)),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  private startExecution(input: Record<string, unknown>): unknown {
    const machine = this.machine(String(input.stateMachineArn));
    if (machine !== this.arns.deploy || !this.startDeploy) {
      throw new AwsServiceError(
        'AccessDeniedException',
        `the local twin starts only the deploy state machine (${this.arns.deploy}) directly; ` +
          'a retrain runs through the pipeline (upload a batch)',
      );
    }
    const name = input.name === undefined ? randomUUID() : String(input.name);
    if (INVALID_NAME.test(name) || hasControl(name))
      throw new AwsServiceError('InvalidName', `Invalid Name: '${name}'`);
    const text = input.input === undefined ? '{}' : String(input.input);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new AwsServiceError(
        'InvalidExecutionInput',
        `Invalid State Machine Execution Input: '${(error as Error).message}'`,
      );
    }
    const arn = executionArn(machine, name);
    const existing = this.executions.get(arn);
    if (existing) {
      // Standard workflows: the same name and input while it runs is idempotent; anything else refused.
      if (existing.status === 'RUNNING' && existing.input === JSON.stringify(parsed)) {
        return { executionArn: arn, startDate: seconds(existing.startDate) };
      }
      throw new AwsServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
    }
    const recorder = this.begin('deploy', name, parsed);
    this.startDeploy(name, parsed, recorder);
    return { executionArn: arn, startDate: seconds(this.find(arn).startDate) };
  }

  /** The known state machine ARN `arn` names. @throws InvalidArn, StateMachineDoesNotExist */
  private machine(arn: string): string {
    if (!STATE_MACHINE_ARN.test(arn)) {
      throw new AwsServiceError('InvalidArn', `Invalid Arn: '${invalidReason(arn, 'stateMachine')}'`);
    }
    if (arn !== this.arns.retrain && arn !== this.arns.deploy) {
      throw new AwsServiceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    }
    return arn;
  }

  /** The execution `arn` names. @throws InvalidArn, ExecutionDoesNotExist */
  private find(arn: string): ExecutionRecord {
    if (!EXECUTION_ARN.test(arn)) {
      throw new AwsServiceError('InvalidArn', `Invalid Arn: '${invalidReason(arn, 'execution')}'`);
    }
    const execution = this.executions.get(arn);
    if (!execution) throw new AwsServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return execution;
  }
}

/** Why an ARN is refused, worded as Step Functions does. */
function invalidReason(arn: string, expected: 'stateMachine' | 'execution'): string {
  const resource = /^arn:aws:states:[^:]*:[^:]*:([^:]+):/.exec(arn)?.[1];
  return resource && resource !== expected
    ? `Resource type not valid in this context: ${resource}`
    : `Unable to parse ARN: ${arn}`;
}

/** A page of `items`: maxResults (0 means the default, 100) and an opaque nextToken bound to `scope`. */
function page<T>(
  items: readonly T[],
  input: Record<string, unknown>,
  scope: string,
): { items: T[]; nextToken?: string } {
  const size = typeof input.maxResults === 'number' && input.maxResults > 0 ? input.maxResults : DEFAULT_PAGE;
  let start = 0;
  if (input.nextToken !== undefined) {
    const token = decodeToken(String(input.nextToken));
    if (!token || token.scope !== scope) {
      throw new AwsServiceError('InvalidToken', `Invalid Token: '${String(input.nextToken)}'`);
    }
    start = token.offset;
  }
  const end = start + size;
  return {
    items: items.slice(start, end),
    ...(end < items.length
      ? { nextToken: Buffer.from(JSON.stringify({ scope, offset: end })).toString('base64') }
      : {}),
  };
}

function decodeToken(token: string): { scope: string; offset: number } | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as {
      scope?: unknown;
      offset?: unknown;
    };
    if (typeof parsed.scope !== 'string' || !Number.isInteger(parsed.offset)) return undefined;
    return { scope: parsed.scope, offset: parsed.offset as number };
  } catch {
    return undefined;
  }
}

function describe(e: ExecutionRecord): unknown {
  return {
    executionArn: e.executionArn,
    stateMachineArn: e.stateMachineArn,
    name: e.name,
    status: e.status,
    startDate: seconds(e.startDate),
    ...(e.stopDate ? { stopDate: seconds(e.stopDate) } : {}),
    input: e.input,
    inputDetails: { included: true },
    ...(e.output !== undefined ? { output: e.output, outputDetails: { included: true } } : {}),
    ...(e.error !== undefined ? { error: e.error } : {}),
    ...(e.cause !== undefined ? { cause: e.cause } : {}),
    redriveCount: 0,
    redriveStatus: 'NOT_REDRIVABLE',
    ...(e.status === 'RUNNING' || e.status === 'SUCCEEDED'
      ? { redriveStatusReason: `Execution is ${e.status}` }
      : { redriveStatusReason: 'The local twin does not redrive executions' }),
  };
}

/** The history event type and details of a runner event (retries and catches have no event of their own). */
function historyEventOf(event: ExecutionEvent): [string | undefined, Record<string, unknown>] {
  switch (event.type) {
    case 'entered':
      return [
        `${event.stateType}StateEntered`,
        {
          stateEnteredEventDetails: {
            name: event.state,
            ...(event.input !== undefined
              ? { input: JSON.stringify(event.input), inputDetails: { truncated: false } }
              : {}),
          },
        },
      ];
    case 'exited':
      // A Fail state ends the execution and has no Exited event.
      if (event.stateType === 'Fail') return [undefined, {}];
      return [
        `${event.stateType}StateExited`,
        {
          stateExitedEventDetails: {
            name: event.state,
            output: JSON.stringify(event.output ?? null),
            outputDetails: { truncated: false },
          },
        },
      ];
    case 'errored':
      if (event.stateType === 'Task') {
        return [
          'TaskFailed',
          {
            taskFailedEventDetails: {
              resourceType: 'local',
              resource: event.state,
              error: event.error,
              cause: event.cause,
            },
          },
        ];
      }
      if (event.stateType === 'Parallel' || event.stateType === 'Map') {
        return [`${event.stateType}StateFailed`, {}];
      }
      return [undefined, {}];
    default:
      return [undefined, {}];
  }
}

/** An event on the wire: epoch seconds; without the data when includeExecutionData is false. */
function wireEvent(event: HistoryEvent, withData: boolean): unknown {
  const wire: Record<string, unknown> = { ...event, timestamp: seconds(event.timestamp) };
  if (!withData) {
    for (const [key, value] of Object.entries(wire)) {
      if (key.endsWith('EventDetails') && value && typeof value === 'object') {
        wire[key] = Object.fromEntries(
          Object.entries(value as Record<string, unknown>).filter(([k]) => k !== 'input' && k !== 'output'),
        );
      }
    }
  }
  return wire;
}

function seconds(date: Date): number {
  return date.getTime() / 1000;
}
