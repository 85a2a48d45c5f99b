/**
 * The SageMaker port of `reelflow verify-aws` on the local twin's LocalSageMaker, so the whole check
 * runs offline (test/local/verify-aws-twin.test.ts): training jobs really train on the local stand-ins
 * and the model really serves through the local pre/knn/post pipeline.
 *
 * What LocalSageMaker does not offer is done here:
 * - CreateTrainingJob there resolves when the job is over (the `.sync` view); here the job runs in the
 *   background and DescribeTrainingJob reports InProgress until it settles;
 * - StopTrainingJob marks the job Stopped (a local job cannot be stopped alone);
 * - DeleteEndpoint / DeleteEndpointConfig / DeleteModel use LocalSageMaker's methods when it has them,
 *   otherwise the resource is hidden from this port (a tombstone), as if deleted.
 */
import type { LocalSageMaker } from '../services/sagemaker';
import { SageMakerApiError, SageMakerJobFailedError } from '../services/sagemaker-errors';
import type { TrainingJobRequest } from '../services/training-jobs';
import type { EndpointConfigSpec } from '../services/hosting';
import type { ModelSpec } from '../services/model-containers';
import type { SageMakerPort, TrainingJobState, TrainingJobStatus } from './ports';

/** A local API error named by its SageMaker error code, as the SDK names service errors. */
export class LocalTwinApiError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** Delete calls LocalSageMaker may have (being added there); used when present. */
interface OptionalDeletes {
  deleteEndpoint?(request: { EndpointName: string }): unknown;
  deleteEndpointConfig?(request: { EndpointConfigName: string }): unknown;
  deleteModel?(request: { ModelName: string }): unknown;
}

type Kind = 'endpoint' | 'endpointConfig' | 'model';

export class LocalTwinSageMaker implements SageMakerPort {
  private readonly jobs = new Map<string, TrainingJobState>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly tombstones: Record<Kind, Set<string>> = {
    endpoint: new Set(),
    endpointConfig: new Set(),
    model: new Set(),
  };

  constructor(private readonly local: LocalSageMaker) {}

  async createTrainingJob(request: Parameters<SageMakerPort['createTrainingJob']>[0]): Promise<void> {
    const name = request.TrainingJobName ?? '';
    let refused: unknown;
    const job = this.local.createTrainingJob(request as unknown as TrainingJobRequest).then(
      (description) => this.settle(name, description),
      (error: unknown) => {
        if (error instanceof SageMakerJobFailedError) this.settle(name, error.description);
        else if (error instanceof SageMakerApiError) refused = error;
        else this.jobs.set(name, { status: 'Failed', failureReason: (error as Error).message });
      },
    );
    this.running.add(job);
    void job.finally(() => this.running.delete(job));
    // CreateTrainingJob's own validation fails before the job starts: surface it as the call's error.
    await new Promise((resolve) => setImmediate(resolve));
    if (refused) throw named(refused);
    if (!this.jobs.has(name)) this.jobs.set(name, { status: 'InProgress', secondaryStatus: 'Training' });
  }

  async describeTrainingJob(name: string): Promise<TrainingJobState> {
    const state = this.jobs.get(name);
    if (!state) throw new LocalTwinApiError('ValidationException', `Requested resource not found: ${name}`);
    return state;
  }

  async stopTrainingJob(name: string): Promise<void> {
    const state = await this.describeTrainingJob(name);
    if (state.status === 'InProgress') this.jobs.set(name, { ...state, status: 'Stopped' });
  }

  async createModel(request: Parameters<SageMakerPort['createModel']>[0]): Promise<void> {
    call(() => this.local.createModel(request as unknown as ModelSpec & Record<string, unknown>));
  }

  async createEndpointConfig(request: Parameters<SageMakerPort['createEndpointConfig']>[0]): Promise<void> {
    call(() => this.local.createEndpointConfig(request as unknown as EndpointConfigSpec));
  }

  async createEndpoint(request: Parameters<SageMakerPort['createEndpoint']>[0]): Promise<void> {
    call(() => this.local.createEndpoint(request));
  }

  async describeEndpoint(name: string): Promise<{ status: string; failureReason?: string } | undefined> {
    if (this.tombstones.endpoint.has(name)) return undefined;
    try {
      const d = this.local.describeEndpoint({ EndpointName: name });
      return { status: String(d.EndpointStatus), failureReason: d.FailureReason as string | undefined };
    } catch (error) {
      if (error instanceof SageMakerApiError && /could not find/i.test(error.message)) return undefined;
      throw named(error);
    }
  }

  async deleteEndpoint(name: string): Promise<void> {
    await this.remove(
      'endpoint',
      name,
      (l) => l.deleteEndpoint?.({ EndpointName: name }),
      () => {
        this.local.describeEndpoint({ EndpointName: name });
      },
    );
  }

  async deleteEndpointConfig(name: string): Promise<void> {
    await this.remove(
      'endpointConfig',
      name,
      (l) => l.deleteEndpointConfig?.({ EndpointConfigName: name }),
      () => {
        this.local.endpointConfig(name);
      },
    );
  }

  async deleteModel(name: string): Promise<void> {
    await this.remove(
      'model',
      name,
      (l) => l.deleteModel?.({ ModelName: name }),
      () => {
        this.local.model(name);
      },
    );
  }

  /** Whether a resource is still there as this port sees it (tests: "cleanup leaves nothing"). */
  exists(kind: Kind | 'trainingJobRunning', name: string): boolean {
    if (kind === 'trainingJobRunning') return this.jobs.get(name)?.status === 'InProgress';
    if (this.tombstones[kind].has(name)) return false;
    try {
      if (kind === 'endpoint') this.local.describeEndpoint({ EndpointName: name });
      else if (kind === 'endpointConfig') this.local.endpointConfig(name);
      else this.local.model(name);
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves when every background job has settled. */
  async settled(): Promise<void> {
    await Promise.all([...this.running]);
  }

  private settle(name: string, description: Record<string, unknown>): void {
    if (this.jobs.get(name)?.status === 'Stopped') return;
    const artifacts = description.ModelArtifacts as { S3ModelArtifacts?: string } | undefined;
    this.jobs.set(name, {
      status: description.TrainingJobStatus as TrainingJobStatus,
      secondaryStatus: description.SecondaryStatus as string | undefined,
      failureReason: description.FailureReason as string | undefined,
      artifact: artifacts?.S3ModelArtifacts,
      billableSeconds: description.BillableTimeInSeconds as number | undefined,
    });
  }

  private async remove(
    kind: Kind,
    name: string,
    native: (local: OptionalDeletes) => unknown,
    find: () => void,
  ): Promise<void> {
    if (this.tombstones[kind].has(name)) throw notFound(name);
    const local = this.local as unknown as OptionalDeletes;
    const method = {
      endpoint: 'deleteEndpoint',
      endpointConfig: 'deleteEndpointConfig',
      model: 'deleteModel',
    }[kind] as keyof OptionalDeletes;
    if (typeof local[method] === 'function') {
      try {
        await native(local);
      } catch (error) {
        throw named(error);
      }
      return;
    }
    call(find);
    this.tombstones[kind].add(name);
  }
}

function call<T>(body: () => T): T {
  try {
    return body();
  } catch (error) {
    throw named(error);
  }
}

function named(error: unknown): Error {
  if (error instanceof SageMakerApiError) return new LocalTwinApiError(error.code, error.message);
  return error as Error;
}

function notFound(name: string): Error {
  return new LocalTwinApiError('ValidationException', `Could not find ${name}.`);
}
