/**
 * Lambda instances: a project handler run on its own worker threads, as Lambda runs each function in its
 * own containers. The heavy workflow handlers (Prepare, BuildVectors, Evaluate: seconds to minutes of
 * CPU on a large data set) run here, so they do not stall the local API and the endpoint fleets (a
 * stalled API during another run's blue/green bake reads as errors to the rollback alarms).
 *
 * Like Lambda, an instance is reused while warm (the module and its clients stay loaded between
 * invocations), runs one invocation at a time, and a concurrent invocation gets a new instance. Where
 * Lambda would keep adding instances up to the function's concurrency, a local machine cannot run dozens
 * of threads usefully: `maxInstances` caps the instances, and an invocation that finds all of them busy
 * waits for the first one free (in arrival order) instead of being throttled, since the cap is this
 * machine's, not a configured AWS limit. An invocation may carry its Lambda context (its data crosses to
 * the thread, which rebuilds the methods). The worker gets the handler environment (environment.ts) as
 * it is when the instance starts.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Context } from 'aws-lambda';

export interface LambdaInstanceData {
  /** Absolute path of the handler module. */
  readonly modulePath: string;
  readonly exportName: string;
}

export interface LambdaInstancesOptions extends LambdaInstanceData {
  /** Most instances at once; further invocations wait for a free one. @default no limit */
  readonly maxInstances?: number;
}

/** The data fields of a Lambda context (its methods cannot cross to a thread; the instance rebuilds them). */
export interface LambdaContextData {
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  readonly callbackWaitsForEmptyEventLoop: boolean;
  /** Epoch milliseconds at which the invocation times out. */
  readonly deadlineMs: number;
}

export interface LambdaInstanceRequest {
  readonly id: number;
  readonly payload: unknown;
  readonly context?: LambdaContextData;
}

export type LambdaInstanceReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: { name: string; message: string; stack?: string };
    };

/** Thrown when an instance died during an invocation (out of memory, a crash at init, stopped). */
export class LambdaInstanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Runtime.ExitError';
  }
}

const ENTRY = join(__dirname, 'lambda-instance-entry.js');

interface Invocation {
  readonly payload: unknown;
  readonly context?: LambdaContextData;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

interface Instance {
  readonly worker: Worker;
  busy?: { id: number; resolve: (value: unknown) => void; reject: (error: Error) => void };
}

/** The data fields of `context`, for an instance thread. */
export function contextData(context: Context): LambdaContextData {
  return {
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    awsRequestId: context.awsRequestId,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
    deadlineMs: Date.now() + context.getRemainingTimeInMillis(),
  };
}

/** A Lambda context rebuilt from its data on an instance thread. */
export function contextFrom(data: LambdaContextData): Context {
  const { deadlineMs, ...fields } = data;
  return {
    ...fields,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export class LambdaInstances {
  private readonly instances = new Set<Instance>();
  /** Invocations waiting for an instance (only with maxInstances). */
  private readonly waiting: Invocation[] = [];
  private nextId = 1;
  private stopped = false;

  constructor(private readonly function_: LambdaInstancesOptions) {}

  /** Invokes the handler with `payload` (and `context`) on a warm idle instance, or a new one. */
  invoke(payload: unknown, context?: Context): Promise<unknown> {
    if (this.stopped) return Promise.reject(new LambdaInstanceError('the local runtime stopped'));
    return new Promise((resolve, reject) => {
      const invocation = { payload, context: context && contextData(context), resolve, reject };
      const instance = this.idle();
      if (instance) this.run(instance, invocation);
      else this.waiting.push(invocation);
    });
  }

  /** Terminates every instance; invocations in flight or waiting fail. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const invocation of this.waiting.splice(0)) {
      invocation.reject(new LambdaInstanceError('the local runtime stopped'));
    }
    await Promise.all([...this.instances].map((i) => i.worker.terminate()));
    this.instances.clear();
  }

  /** An idle instance, a new one when there is room, or undefined when all are busy. */
  private idle(): Instance | undefined {
    for (const instance of this.instances) if (!instance.busy) return instance;
    return this.instances.size < (this.function_.maxInstances ?? Infinity) ? this.start() : undefined;
  }

  private run(instance: Instance, { payload, context, resolve, reject }: Invocation): void {
    const id = this.nextId++;
    instance.worker.ref();
    instance.busy = { id, resolve, reject };
    instance.worker.postMessage({ id, payload, context } satisfies LambdaInstanceRequest);
  }

  /** Hands the next waiting invocation to an instance that became free (or replaces one that died). */
  private next(): void {
    if (this.stopped || this.waiting.length === 0) return;
    const instance = this.idle();
    if (instance) this.run(instance, this.waiting.shift()!);
  }

  private start(): Instance {
    const { modulePath, exportName } = this.function_;
    const workerData: LambdaInstanceData = { modulePath, exportName };
    const worker = new Worker(ENTRY, { workerData, env: { ...process.env } });
    // Idle instances must not keep the process alive (Lambda freezes them between invocations).
    worker.unref();
    const instance: Instance = { worker };
    this.instances.add(instance);
    const fail = (error: Error): void => {
      this.instances.delete(instance);
      const busy = instance.busy;
      instance.busy = undefined;
      busy?.reject(error);
      this.next();
    };
    worker.on('message', (reply: LambdaInstanceReply) => {
      const busy = instance.busy;
      if (!busy || busy.id !== reply.id) return;
      instance.busy = undefined;
      worker.unref();
      if (reply.ok) {
        busy.resolve(reply.result);
      } else {
        const error = new Error(reply.error.message);
        error.name = reply.error.name;
        error.stack = reply.error.stack;
        busy.reject(error);
      }
      this.next();
    });
    worker.on('error', (error) => fail(new LambdaInstanceError(`the instance failed: ${error.message}`)));
    worker.on('exit', (code) => fail(new LambdaInstanceError(`the instance exited with code ${code}`)));
    return instance;
  }
}
