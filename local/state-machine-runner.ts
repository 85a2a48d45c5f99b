/**
 * Runs a state machine definition rendered from the CDK constructs (pipeline/render.ts) with
 * aws-local-stepfunctions, every Task state bound to a local implementation chosen by its `Resource`:
 * a Lambda function ARN (the project's handler, in-process) or a service integration
 * (`arn:aws:states:::sagemaker:createTrainingJob.sync`, `...:::aws-sdk:ssm:getParameter`, ...). So the
 * states, paths, choices, retries and catches that run are the ones deployed to AWS.
 *
 * A Task without a binding is an error when the runner is built, listing every unbound state: the
 * engine would otherwise call the real Lambda service with the ambient credentials.
 *
 * What the runner adds to the definition (on a copy; the engine and asl-validator annotate the object
 * they get, so the caller's definition is deep-copied with JSON, not structuredClone):
 * - Wait states and retry intervals run on the local time scale (a `Seconds: 60` wait lasts 60 x scale
 *   ms; a retrier waits IntervalSeconds x scale ms, without backoff or jitter, which the engine cannot
 *   scale);
 * - a Task without `TimeoutSeconds` gets Step Functions' own default (99999999 s, capped at what a Node
 *   timer holds): the engine follows the States Language spec's 60 s instead, which would time a
 *   training job out.
 */
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import type { TimeScale } from './time-scale';

/** An Amazon States Language definition (the shape render.ts returns). */
export interface Definition {
  readonly StartAt: string;
  readonly States: Record<string, Record<string, unknown>>;
  readonly [key: string]: unknown;
}

/** What a binding knows about the call besides the Task's input (after Parameters). */
export interface TaskCall {
  readonly state: string;
  readonly resource: string;
  readonly executionName: string;
  readonly signal: AbortSignal;
}

/** A local implementation of one Task resource. Throw an Error whose `name` is the Step Functions error name. */
export type TaskBinding = (input: unknown, call: TaskCall) => Promise<unknown> | unknown;

/** Bindings by Task `Resource` (a Lambda function ARN or `arn:aws:states:::<integration>`). */
export type TaskBindings = Readonly<Record<string, TaskBinding>>;

/** Progress of one execution, for the terminal and for timings. */
export type ExecutionEvent =
  | {
      readonly type: 'entered';
      readonly state: string;
      readonly stateType: string;
      /** The state's input (its raw input, before InputPath and Parameters). */
      readonly input?: unknown;
    }
  | {
      readonly type: 'exited';
      readonly state: string;
      readonly stateType: string;
      readonly ms: number;
      /** The state's output (its input with the result placed by ResultPath). */
      readonly output: unknown;
    }
  /** A state raised an error; a `retried` or `caught` event follows when a rule handles it. */
  | {
      readonly type: 'errored';
      readonly state: string;
      readonly stateType: string;
      readonly error: string;
      readonly cause: string;
    }
  | { readonly type: 'retried'; readonly state: string; readonly attempt: number }
  | { readonly type: 'caught'; readonly state: string; readonly next: string };

export interface ExecutionResult {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly output?: unknown;
  /** The execution's error, as Step Functions reports it (`Error`, `Cause`). */
  readonly error?: { readonly Error: string; readonly Cause: string };
  /** Every state entered, in order (Parallel branch states included). */
  readonly path: readonly string[];
  /** Milliseconds per state (summed when a state runs several times, e.g. a poll loop). */
  readonly stateMs: Readonly<Record<string, number>>;
  readonly ms: number;
}

/** Thrown when Task states have no binding. */
export class UnboundTaskError extends Error {
  constructor(readonly unbound: readonly { state: string; resource: string }[]) {
    super(
      `no local binding for ${unbound.length} Task state(s): ` +
        unbound.map((u) => `${u.state} (${u.resource})`).join(', ') +
        '; every Task must run locally, nothing is sent to AWS',
    );
    this.name = 'UnboundTaskError';
  }
}

/** Thrown when a runner is used out of turn (a second execution on a busy runner). */
export class RunnerBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunnerBusyError';
  }
}

/** The state machine ARN of an execution run without one (tests): `...:stateMachine:local`. */
const LOCAL_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:local';

/** `arn:aws:states:<region>:<account>:execution:<state machine name>:<execution name>`. */
export function executionArn(stateMachineArn: string, executionName: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
}

/** Step Functions' default Task timeout, capped at the longest delay a Node.js timer takes (2^31-1 ms). */
const TASK_TIMEOUT_SECONDS = Math.min(99_999_999, Math.floor((2 ** 31 - 1) / 1000));

interface StateInfo {
  readonly name: string;
  readonly state: Record<string, unknown>;
}

/** Every state of a definition, Parallel branches and Map processors included. */
export function allStates(definition: { States: Record<string, Record<string, unknown>> }): StateInfo[] {
  return Object.entries(definition.States).flatMap(([name, state]) => {
    const nested = [
      ...((state.Branches as Definition[] | undefined) ?? []),
      ...[state.ItemProcessor ?? state.Iterator].filter((d): d is Definition => d !== undefined),
    ];
    return [{ name, state }, ...nested.flatMap((d) => allStates(d))];
  });
}

/** The events of the engine's event log the runner reads (the package does not export the type). */
type EventLog = StateMachine['run'] extends (...args: never[]) => { eventLogs: AsyncGenerator<infer E> }
  ? E
  : never;

export class StateMachineRunner {
  private readonly definition: Definition;
  private readonly machine: StateMachine;
  private readonly handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  private readonly waits: Record<string, number> = {};
  private readonly retries: Record<string, number[]> = {};
  private current?: { name: string; signal: AbortSignal };

  /**
   * Validates the definition (asl-validator, via the engine) and binds every Task.
   * @throws UnboundTaskError when a Task's Resource has no binding
   */
  constructor(definition: Definition, bindings: TaskBindings, scale: TimeScale) {
    this.definition = JSON.parse(JSON.stringify(definition)) as Definition;
    const unbound: { state: string; resource: string }[] = [];
    for (const { name, state } of allStates(this.definition)) {
      if (state.Type === 'Task') {
        const resource = String(state.Resource);
        const binding = bindings[resource];
        if (!binding) {
          unbound.push({ state: name, resource });
          continue;
        }
        if (state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined) {
          state.TimeoutSeconds = TASK_TIMEOUT_SECONDS;
        }
        this.handlers[name] = async (input) => {
          const execution = this.current;
          if (!execution) throw new RunnerBusyError('a Task ran outside an execution');
          const { signal } = execution;
          // A stopped execution must not wait for a binding that ignores the signal: the engine keeps a
          // timer per pending Task, which would keep the process alive.
          return untilAborted(
            Promise.resolve(binding(input, { state: name, resource, executionName: execution.name, signal })),
            signal,
          );
        };
      }
      if (state.Type === 'Wait' && typeof state.Seconds === 'number') {
        this.waits[name] = scale.ms(state.Seconds);
      }
      const retry = state.Retry as { IntervalSeconds?: number }[] | undefined;
      if (retry) this.retries[name] = retry.map((r) => scale.ms(r.IntervalSeconds ?? 1));
    }
    if (unbound.length > 0) throw new UnboundTaskError(unbound);
    this.machine = new StateMachine(JSON.parse(JSON.stringify(this.definition)) as never, {
      // ARNs are the renderer's placeholders; paths are checked by asl-validator in test/pipeline.
      validationOptions: { checkArn: false },
    });
  }

  /** The definition as run (with the runner's timeouts filled in). */
  get runDefinition(): Definition {
    return this.definition;
  }

  /**
   * Runs one execution to its end. One execution at a time per runner (the pipeline runs one per stage).
   * `signal` aborts the execution and tells running bindings to stop.
   */
  async run(
    input: unknown,
    options: {
      executionName: string;
      /** The state machine's ARN (`$$.StateMachine.Id`; the execution ARN is built from its name). */
      stateMachineArn?: string;
      signal?: AbortSignal;
      onEvent?: (event: ExecutionEvent) => void;
    },
  ): Promise<ExecutionResult> {
    if (this.current)
      throw new RunnerBusyError(`execution ${this.current.name} is still running on this runner`);
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.current = { name: options.executionName, signal: controller.signal };
    const stateMachineArn = options.stateMachineArn ?? LOCAL_STATE_MACHINE_ARN;
    const started = performance.now();
    const execution = this.machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: this.handlers as never,
        waitTimeOverrides: this.waits,
        retryIntervalOverrides: this.retries,
      },
      context: {
        Execution: { Id: executionArn(stateMachineArn, options.executionName), Name: options.executionName },
        StateMachine: { Id: stateMachineArn, Name: stateMachineArn.split(':').at(-1) },
      } as never,
    });
    controller.signal.addEventListener('abort', () => execution.abort(), { once: true });

    const path: string[] = [];
    const stateMs: Record<string, number> = {};
    const entered = new Map<string, number>();
    const logs = (async () => {
      for await (const event of execution.eventLogs) {
        const mapped = mapEvent(event, entered);
        if (!mapped) continue;
        if (mapped.type === 'entered') path.push(mapped.state);
        if (mapped.type === 'exited') stateMs[mapped.state] = (stateMs[mapped.state] ?? 0) + mapped.ms;
        options.onEvent?.(mapped);
      }
    })();

    try {
      const output = await execution.result;
      await logs;
      return { status: 'SUCCEEDED', output, path, stateMs, ms: performance.now() - started };
    } catch (error) {
      await logs.catch(() => undefined);
      const ms = performance.now() - started;
      if (controller.signal.aborted) {
        return {
          status: 'ABORTED',
          error: { Error: 'Aborted', Cause: 'the execution was stopped' },
          path,
          stateMs,
          ms,
        };
      }
      if (!(error instanceof ExecutionError)) throw error;
      return { status: 'FAILED', error: errorOf(error), path, stateMs, ms };
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      this.current = undefined;
    }
  }
}

/**
 * `work`, or a rejection once `signal` aborts. The abort listener is removed as soon as `work` settles:
 * one execution's signal sees every Task of it (the deploy machine's endpoint poll loop runs
 * DescribeEndpoint dozens of times), so a listener left behind per Task would pile up on it.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stop = (): void => reject(new Error('the execution was stopped'));
    if (signal.aborted) {
      stop();
      work.catch(() => undefined);
      return;
    }
    signal.addEventListener('abort', stop, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

function mapEvent(event: EventLog, entered: Map<string, number>): ExecutionEvent | undefined {
  switch (event.type) {
    case 'StateEntered':
      entered.set(event.state.name, event.timestamp);
      return {
        type: 'entered',
        state: event.state.name,
        stateType: event.state.type,
        input: event.state.input,
      };
    case 'StateExited':
      return {
        type: 'exited',
        state: event.state.name,
        stateType: event.state.type,
        ms: event.timestamp - (entered.get(event.state.name) ?? event.timestamp),
        output: event.state.output,
      };
    case 'StateFailed':
      return {
        type: 'errored',
        state: event.state.name,
        stateType: event.state.type,
        error: event.Error,
        cause: String(event.Cause),
      };
    case 'StateRetried':
      return { type: 'retried', state: event.state.name, attempt: event.retry.attempt };
    case 'StateCaught':
      return { type: 'caught', state: event.state.name, next: event.catch.catcher.Next };
    default:
      return undefined;
  }
}

/** The execution's Error and Cause, as Step Functions reports them (a Fail state's, or the failing state's). */
function errorOf(error: ExecutionError): { Error: string; Cause: string } {
  const cause = error.cause as { name?: string; message?: string; cause?: unknown } | undefined;
  const inner = cause?.cause;
  return {
    Error: cause?.name ?? 'States.Runtime',
    Cause: typeof inner === 'string' ? inner : (cause?.message ?? error.message),
  };
}
