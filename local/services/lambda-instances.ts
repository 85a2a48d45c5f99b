/**
 * Lambda instances: the heavy workflow handlers (Prepare, BuildVectors, Evaluate: seconds to minutes of
 * CPU on a large data set) run on their own worker threads, as Lambda runs each function in its own
 * container. On the main thread they would stall the local API and the endpoint fleets, and a stalled
 * API during another run's blue/green bake reads as errors to the rollback alarms.
 *
 * Like Lambda, an instance is reused while warm (the module and its clients stay loaded between
 * invocations), runs one invocation at a time, and a second concurrent invocation gets a new instance.
 * The worker gets the handler environment (environment.ts) as it is when the instance starts.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export interface LambdaInstanceData {
  /** Absolute path of the handler module. */
  readonly modulePath: string;
  readonly exportName: string;
}

export interface LambdaInstanceRequest {
  readonly id: number;
  readonly payload: unknown;
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

interface Instance {
  readonly worker: Worker;
  busy?: { id: number; resolve: (value: unknown) => void; reject: (error: Error) => void };
}

export class LambdaInstances {
  private readonly instances = new Set<Instance>();
  private nextId = 1;
  private stopped = false;

  constructor(private readonly function_: LambdaInstanceData) {}

  /** Invokes the handler with `payload` on a warm idle instance, or a new one. */
  invoke(payload: unknown): Promise<unknown> {
    if (this.stopped) return Promise.reject(new LambdaInstanceError('the local runtime stopped'));
    const instance = [...this.instances].find((i) => !i.busy) ?? this.start();
    const id = this.nextId++;
    instance.worker.ref();
    return new Promise((resolve, reject) => {
      instance.busy = { id, resolve, reject };
      instance.worker.postMessage({ id, payload } satisfies LambdaInstanceRequest);
    });
  }

  /** Terminates every instance; invocations in flight fail. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.instances].map((i) => i.worker.terminate()));
    this.instances.clear();
  }

  private start(): Instance {
    const worker = new Worker(ENTRY, { workerData: this.function_, env: { ...process.env } });
    // Idle instances must not keep the process alive (Lambda freezes them between invocations).
    worker.unref();
    const instance: Instance = { worker };
    this.instances.add(instance);
    const fail = (error: Error): void => {
      this.instances.delete(instance);
      const busy = instance.busy;
      instance.busy = undefined;
      busy?.reject(error);
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
    });
    worker.on('error', (error) => fail(new LambdaInstanceError(`the instance failed: ${error.message}`)));
    worker.on('exit', (code) => fail(new LambdaInstanceError(`the instance exited with code ${code}`)));
    return instance;
  }
}
