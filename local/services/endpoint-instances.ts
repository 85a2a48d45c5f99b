/**
 * Endpoint instances: the instances of one hosting fleet, each a worker thread holding its own copy of
 * the fleet's model (its serial inference pipeline), as each SageMaker instance downloads the model data
 * and runs the containers on its own machine. InvokeEndpoint requests reach the fleet on the main thread
 * (hosting.ts picks the fleet, so one request gets one model version) and are run by the instance with
 * the fewest requests in flight; the main thread keeps serving HTTP meanwhile.
 *
 * A fleet is InService only once every instance has loaded the model (SageMaker waits for /ping). A
 * machine has only so many cores: instances beyond them would only cost memory, so a fleet of more
 * instances than cores runs one thread per core (`threadsFor`). A retired fleet (blue after a
 * blue/green update, green after a rollback) finishes the requests it already took, then its threads end.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ContainerRequest, ContainerResponse, ModelSource } from './model-containers';

/** What an instance thread starts with. */
export interface EndpointInstanceData {
  readonly source: ModelSource;
}

/** Main thread -> instance: one invocation. */
export interface EndpointInstanceRequest {
  readonly id: number;
  readonly request: ContainerRequest;
}

/** Instance -> main thread: loaded (or not), then one answer per invocation. */
export type EndpointInstanceMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'load-failed'; readonly message: string }
  | { readonly type: 'answer'; readonly id: number; readonly response: ContainerResponse };

const ENTRY = join(__dirname, 'endpoint-instance-entry.js');

/** Threads for a fleet of `instanceCount` instances: one per instance, at most one per core. */
export function threadsFor(instanceCount: number): number {
  return Math.max(1, Math.min(instanceCount, availableParallelism()));
}

interface Instance {
  readonly worker: Worker;
  readonly pending: Map<number, (answer: ContainerResponse) => void>;
  readonly ready: Promise<void>;
}

export class EndpointInstances {
  private readonly instances: Instance[];
  private nextId = 1;
  private retired = false;

  private constructor(source: ModelSource, threads: number) {
    this.instances = Array.from({ length: threads }, () => this.startInstance(source));
  }

  /** Starts `threads` instances of the model and resolves once each has loaded it. */
  static async start(source: ModelSource, threads: number): Promise<EndpointInstances> {
    const fleet = new EndpointInstances(source, threads);
    const loaded = await Promise.allSettled(fleet.instances.map((i) => i.ready));
    const failed = loaded.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await fleet.stop();
      throw failed.reason as Error;
    }
    return fleet;
  }

  /** Runs one request on the least busy instance; an instance that dies answers 500. */
  invoke(request: ContainerRequest): Promise<ContainerResponse> {
    let instance = this.instances[0];
    for (const candidate of this.instances) {
      if (candidate.pending.size < instance.pending.size) instance = candidate;
    }
    const id = this.nextId++;
    return new Promise((resolve) => {
      instance.pending.set(id, resolve);
      // An idle instance must not keep the process alive; one with a request in flight does.
      instance.worker.ref();
      instance.worker.postMessage({ id, request } satisfies EndpointInstanceRequest);
    });
  }

  /** Ends the threads once the requests in flight are answered. */
  retire(): void {
    this.retired = true;
    for (const instance of this.instances) {
      if (instance.pending.size === 0) void instance.worker.terminate();
    }
  }

  /** Ends the threads now; requests in flight answer 500. */
  async stop(): Promise<void> {
    this.retired = true;
    await Promise.all(this.instances.map((i) => i.worker.terminate()));
  }

  private startInstance(source: ModelSource): Instance {
    const worker = new Worker(ENTRY, { workerData: { source } satisfies EndpointInstanceData });
    worker.unref();
    const pending = new Map<number, (answer: ContainerResponse) => void>();
    const answerAll = (message: string): void => {
      for (const [id, resolve] of pending) {
        pending.delete(id);
        resolve(failure(message));
      }
    };
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: EndpointInstanceMessage) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'load-failed') reject(new Error(message.message));
        else {
          const answer = pending.get(message.id);
          pending.delete(message.id);
          if (pending.size === 0) {
            worker.unref();
            if (this.retired) void worker.terminate();
          }
          answer?.(message.response);
        }
      });
      worker.on('error', (error) => {
        reject(error);
        answerAll(`the instance failed: ${error.message}`);
      });
      worker.on('exit', (code) => {
        reject(new Error(`the instance exited with code ${code} before it loaded the model`));
        answerAll(`the instance exited with code ${code}`);
      });
    });
    // A load failure is reported by `start`; no unhandled rejection for an instance that ends later.
    ready.catch(() => undefined);
    return { worker, pending, ready };
  }
}

function failure(message: string): ContainerResponse {
  return { status: 500, body: JSON.stringify({ message }), contentType: 'application/json' };
}
