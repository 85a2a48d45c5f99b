/**
 * Local SageMaker hosting: endpoints served by fleets, and blue/green updates that shift real traffic.
 *
 * A fleet is one endpoint config's production variant: its instances run one loaded model (one model
 * version), each on its own worker thread with its own copy of the model (endpoint-instances.ts), so
 * the serial pipeline runs beside the runtime's HTTP server, not on it. An endpoint has one fleet, or two
 * during an update. Every InvokeEndpoint request goes to exactly one fleet, picked by the traffic weights
 * with smooth weighted round-robin (deterministic, and exact over any window) before it is sent to one of
 * the fleet's instances, so one request always gets one model version end to end; a retired fleet
 * answers the requests it already took.
 *
 * UpdateEndpoint with a DeploymentConfig runs SageMaker's blue/green procedure in the background:
 * provision the green fleet (the old one keeps serving), shift traffic in the configured steps
 * (ALL_AT_ONCE, CANARY: the canary then the rest, LINEAR: equal steps), wait WaitIntervalInSeconds after
 * each shift, bake for TerminationWaitInSeconds with all traffic on green, then retire blue. The
 * AutoRollbackConfiguration alarms are watched the whole time: one in ALARM, or the update running past
 * MaximumExecutionTimeoutInSeconds, sends all traffic back to blue and retires green. As on AWS, an
 * auto-rolled-back update ends InService on the old config with no FailureReason.
 *
 * DeleteEndpoint, as on AWS, leaves the endpoint Deleting for a moment (one configured second), then
 * gone: DescribeEndpoint answers "Could not find endpoint". `failEndpoint` puts an endpoint into Failed
 * (what a broken instance or a failed creation leaves on AWS), for tests and demos.
 *
 * The Invocation5XXErrors and ModelLatency data points the alarms evaluate come from here.
 */
import { VARIANT_NAME } from '../../pipeline/names';
import type { LocalAlarms } from './alarms';
import { EndpointInstances, threadsFor } from './endpoint-instances';
import type { ContainerRequest, ContainerResponse, LoadedModel } from './model-containers';
import { sageMakerArn, SageMakerApiError } from './sagemaker-errors';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './local-account';

/** The parts of a production variant the local hosting reads. */
export interface VariantSpec {
  readonly VariantName?: string;
  readonly ModelName?: string;
  readonly InitialInstanceCount?: number;
  readonly InstanceType?: string;
  readonly InitialVariantWeight?: number;
}

export interface EndpointConfigSpec {
  readonly EndpointConfigName: string;
  readonly ProductionVariants?: readonly VariantSpec[];
  readonly [key: string]: unknown;
}

interface CapacitySize {
  readonly Type?: string;
  readonly Value?: number;
}

/** UpdateEndpoint's DeploymentConfig (the blue/green parts). */
export interface DeploymentConfigSpec {
  readonly BlueGreenUpdatePolicy?: {
    readonly TrafficRoutingConfiguration?: {
      readonly Type?: string;
      readonly WaitIntervalInSeconds?: number;
      readonly CanarySize?: CapacitySize;
      readonly LinearStepSize?: CapacitySize;
    };
    readonly TerminationWaitInSeconds?: number;
    readonly MaximumExecutionTimeoutInSeconds?: number;
  };
  readonly AutoRollbackConfiguration?: { readonly Alarms?: readonly { readonly AlarmName?: string }[] };
}

export type EndpointStatus = 'Creating' | 'Updating' | 'InService' | 'RollingBack' | 'Failed' | 'Deleting';

/** What the local hosting reports while it deploys (the terminal and the tests listen). */
export interface DeploymentEvent {
  readonly endpoint: string;
  readonly phase:
    | 'created'
    | 'provisioned'
    | 'shift'
    | 'bake'
    | 'succeeded'
    | 'rolling-back'
    | 'rolled-back'
    | 'failed'
    | 'deleted';
  readonly configName: string;
  /** Share of the traffic on the new fleet after this event. */
  readonly newTrafficShare?: number;
  readonly detail: string;
}

/** An InvokeEndpoint answer with the fleet that served it. */
export interface InvokeResult extends ContainerResponse {
  readonly variantName: string;
  readonly configName: string;
  readonly modelName: string;
}

interface Fleet {
  readonly configName: string;
  readonly variantName: string;
  readonly modelName: string;
  readonly instanceCount: number;
  readonly model: LoadedModel;
  /** The fleet's instances on their threads (endpoint-instances.ts); none: the model runs in-process. */
  readonly instances?: EndpointInstances;
  /** Share of the endpoint's traffic, 0..1. */
  weight: number;
  /** Smooth weighted round-robin state. */
  current: number;
}

interface Endpoint {
  readonly name: string;
  readonly arn: string;
  status: EndpointStatus;
  /** The config the endpoint serves (the old one until an update succeeds). */
  configName: string;
  pendingConfigName?: string;
  fleets: Fleet[];
  failureReason?: string;
  readonly createdAt: Date;
  modifiedAt: Date;
  /** Settles when the running creation or update is over. */
  work: Promise<void>;
  abort?: AbortController;
}

export interface LocalHostingOptions {
  readonly alarms: LocalAlarms;
  /** Local milliseconds of one configured second. */
  readonly msPerSecond: number;
  /**
   * Loads the model of a variant (from the local SageMaker's models). A model with a `source` runs on
   * the fleet's instance threads; one without (a test double) runs in-process.
   */
  readonly loadModel: (modelName: string) => Promise<LoadedModel>;
  /** How often the alarms are checked during a shift or bake, in ms. @default 5 */
  readonly alarmPollMs?: number;
  readonly onDeployment?: (event: DeploymentEvent) => void;
}

/** Thrown into an update's waits when the hosting stops (process exit). */
class HostingStoppedError extends Error {
  constructor() {
    super('the local hosting stopped');
    this.name = 'HostingStoppedError';
  }
}

export class LocalHosting {
  private readonly endpoints = new Map<string, Endpoint>();

  constructor(private readonly options: LocalHostingOptions) {}

  /** CreateEndpoint: the endpoint is Creating until its fleet is provisioned, then InService. */
  createEndpoint(name: string, config: EndpointConfigSpec): { EndpointArn: string } {
    if (this.endpoints.has(name)) {
      throw new SageMakerApiError(
        'ValidationException',
        `Cannot create already existing endpoint "${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'endpoint', name)}".`,
      );
    }
    const variant = singleVariant(config);
    const now = new Date();
    const endpoint: Endpoint = {
      name,
      arn: sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'endpoint', name),
      status: 'Creating',
      configName: config.EndpointConfigName,
      fleets: [],
      createdAt: now,
      modifiedAt: now,
      work: Promise.resolve(),
    };
    this.endpoints.set(name, endpoint);
    endpoint.work = this.provision(config.EndpointConfigName, variant).then(
      (fleet) => {
        fleet.weight = 1;
        setFleets(endpoint, [fleet]);
        this.settle(endpoint, 'InService');
        this.emit(endpoint, 'created', config.EndpointConfigName, `serving ${config.EndpointConfigName}`, 1);
      },
      (error: Error) => {
        endpoint.failureReason = `Failed to provision the fleet: ${error.message}`;
        this.settle(endpoint, 'Failed');
        this.emit(endpoint, 'failed', config.EndpointConfigName, endpoint.failureReason);
      },
    );
    return { EndpointArn: endpoint.arn };
  }

  /**
   * Restores an endpoint that was InService on `config` when the local runtime last stopped (SageMaker
   * endpoints outlive a session; the local fleets are rebuilt from the persisted models).
   */
  async restoreEndpoint(name: string, config: EndpointConfigSpec, createdAt: Date): Promise<void> {
    const fleet = await this.provision(config.EndpointConfigName, singleVariant(config));
    fleet.weight = 1;
    this.endpoints.set(name, {
      name,
      arn: sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'endpoint', name),
      status: 'InService',
      configName: config.EndpointConfigName,
      fleets: [fleet],
      createdAt,
      modifiedAt: new Date(),
      work: Promise.resolve(),
    });
  }

  /** UpdateEndpoint: validates, then runs the blue/green update in the background. */
  updateEndpoint(
    name: string,
    current: EndpointConfigSpec,
    next: EndpointConfigSpec,
    deployment: DeploymentConfigSpec | undefined,
  ): { EndpointArn: string } {
    const endpoint = this.endpoint(name);
    if (endpoint.status !== 'InService') {
      throw new SageMakerApiError(
        'ValidationException',
        `Cannot update in-progress endpoint "${endpoint.arn}" (status ${endpoint.status}).`,
      );
    }
    const oldVariant = singleVariant(current);
    const newVariant = singleVariant(next);
    if ((newVariant.VariantName ?? VARIANT_NAME) !== (oldVariant.VariantName ?? VARIANT_NAME)) {
      throw new SageMakerApiError(
        'ValidationException',
        `The variant name of a blue/green update cannot change: the endpoint serves variant ` +
          `${oldVariant.VariantName}, the new config names ${newVariant.VariantName}.`,
      );
    }
    const plan = planDeployment(deployment, newVariant.InitialInstanceCount ?? 1);
    const alarms = (deployment?.AutoRollbackConfiguration?.Alarms ?? []).map((a) => a.AlarmName ?? '');
    for (const alarm of alarms) {
      if (!this.options.alarms.names.includes(alarm)) {
        throw new SageMakerApiError('ValidationException', `The alarm ${alarm} does not exist.`);
      }
    }
    endpoint.status = 'Updating';
    endpoint.pendingConfigName = next.EndpointConfigName;
    endpoint.failureReason = undefined;
    endpoint.modifiedAt = new Date();
    endpoint.abort = new AbortController();
    endpoint.work = this.blueGreen(
      endpoint,
      next.EndpointConfigName,
      newVariant,
      plan,
      alarms,
      endpoint.abort.signal,
    )
      .catch((error: Error) => {
        if (error instanceof HostingStoppedError) return;
        // A failure of the update itself (the new fleet cannot be provisioned): the old fleet serves on.
        setFleets(
          endpoint,
          endpoint.fleets.filter((f) => f.configName === endpoint.configName),
        );
        endpoint.fleets.forEach((f) => (f.weight = 1));
        endpoint.failureReason = `Failed to update the endpoint: ${error.message}`;
        this.settle(endpoint, 'InService');
        this.emit(endpoint, 'failed', next.EndpointConfigName, endpoint.failureReason);
      })
      .finally(() => {
        endpoint.pendingConfigName = undefined;
        endpoint.abort = undefined;
      });
    return { EndpointArn: endpoint.arn };
  }

  /**
   * DeleteEndpoint: the endpoint is Deleting (it serves nothing), then gone after one configured second.
   * Refused while an update runs, as on AWS.
   */
  deleteEndpoint(name: string): Record<string, never> {
    const endpoint = this.endpoint(name);
    if (['Creating', 'Updating', 'RollingBack', 'Deleting'].includes(endpoint.status)) {
      throw new SageMakerApiError(
        'ValidationException',
        `Cannot delete in-progress endpoint "${endpoint.arn}" (status ${endpoint.status}).`,
      );
    }
    this.settle(endpoint, 'Deleting');
    setFleets(endpoint, []);
    endpoint.work = new Promise<void>((resolve) =>
      setTimeout(() => {
        if (this.endpoints.get(name) === endpoint) this.endpoints.delete(name);
        this.emit(
          endpoint,
          'deleted',
          endpoint.configName,
          `deleted (was serving ${endpoint.configName})`,
          0,
        );
        resolve();
      }, this.options.msPerSecond),
    );
    return {};
  }

  /**
   * Puts an endpoint into Failed with `reason` as its FailureReason (its fleets are gone, as after a
   * failed creation); only UpdateEndpoint refuses it now, DeleteEndpoint takes it.
   */
  failEndpoint(name: string, reason: string): void {
    const endpoint = this.endpoint(name);
    endpoint.abort?.abort(new HostingStoppedError());
    setFleets(endpoint, []);
    endpoint.pendingConfigName = undefined;
    endpoint.failureReason = reason;
    this.settle(endpoint, 'Failed');
    this.emit(endpoint, 'failed', endpoint.configName, reason);
  }

  /** DescribeEndpoint, shaped as the API returns it. */
  describeEndpoint(name: string): Record<string, unknown> {
    const endpoint = this.endpoints.get(name);
    if (!endpoint) {
      throw new SageMakerApiError(
        'ValidationException',
        `Could not find endpoint "${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'endpoint', name)}".`,
      );
    }
    const serving = endpoint.fleets.filter((f) => f.configName === endpoint.configName);
    const pending = endpoint.fleets.find((f) => f.configName === endpoint.pendingConfigName);
    return {
      EndpointName: endpoint.name,
      EndpointArn: endpoint.arn,
      EndpointConfigName: endpoint.configName,
      ProductionVariants: serving.map((fleet) => ({
        VariantName: fleet.variantName,
        CurrentWeight: 1,
        DesiredWeight: 1,
        CurrentInstanceCount: fleet.instanceCount,
        DesiredInstanceCount: fleet.instanceCount,
        DeployedImages: [],
      })),
      EndpointStatus: endpoint.status,
      ...(endpoint.failureReason ? { FailureReason: endpoint.failureReason } : {}),
      CreationTime: endpoint.createdAt.toISOString(),
      LastModifiedTime: endpoint.modifiedAt.toISOString(),
      ...(endpoint.pendingConfigName
        ? {
            PendingDeploymentSummary: {
              EndpointConfigName: endpoint.pendingConfigName,
              ProductionVariants: pending
                ? [{ VariantName: pending.variantName, CurrentWeight: pending.weight, DesiredWeight: 1 }]
                : [],
            },
          }
        : {}),
    };
  }

  /**
   * InvokeEndpoint: one request, one fleet, one model version (the fleet is picked before anything
   * else happens, and all its instances hold the same model). Records ModelLatency (ms: from sending
   * the request to the instance to its answer, as SageMaker counts it) and, for a 5XX answer of a
   * container, one Invocation5XXErrors data point.
   * @throws SageMakerApiError (synchronously) when the endpoint has no fleet
   */
  invoke(name: string, request: ContainerRequest): Promise<InvokeResult> {
    const endpoint = this.endpoints.get(name);
    if (!endpoint || endpoint.fleets.length === 0) {
      throw new SageMakerApiError(
        'ValidationException',
        `Endpoint ${name} of account ${LOCAL_ACCOUNT} not found.`,
      );
    }
    const fleet = pickFleet(endpoint.fleets);
    const started = performance.now();
    const answer = fleet.instances
      ? fleet.instances.invoke(request)
      : Promise.resolve(runInProcess(fleet.model, request));
    return answer.then((response) => this.answered(fleet, response, performance.now() - started));
  }

  private answered(fleet: Fleet, response: ContainerResponse, ms: number): InvokeResult {
    this.options.alarms.record('ModelLatency', ms);
    if (response.status >= 500) this.options.alarms.record('Invocation5XXErrors', 1);
    return {
      ...response,
      variantName: fleet.variantName,
      configName: fleet.configName,
      modelName: fleet.modelName,
    };
  }

  /** The fleets of an endpoint with their traffic shares (for the terminal and the tests). */
  fleets(name: string): { configName: string; modelName: string; weight: number }[] {
    return (this.endpoints.get(name)?.fleets ?? []).map((f) => ({
      configName: f.configName,
      modelName: f.modelName,
      weight: f.weight,
    }));
  }

  /** Endpoints and the config each serves (what the local SageMaker persists). */
  list(): { name: string; configName: string; status: EndpointStatus; createdAt: string }[] {
    return [...this.endpoints.values()].map((e) => ({
      name: e.name,
      configName: e.configName,
      status: e.status,
      createdAt: e.createdAt.toISOString(),
    }));
  }

  /** Resolves when the endpoint's running creation or update is over. */
  async settled(name: string): Promise<void> {
    await this.endpoints.get(name)?.work;
  }

  /**
   * Stops every running update where it is (the endpoint keeps its current config), then the fleets'
   * instance threads.
   */
  async stop(): Promise<void> {
    for (const endpoint of this.endpoints.values()) endpoint.abort?.abort(new HostingStoppedError());
    await Promise.all([...this.endpoints.values()].map((e) => e.work.catch(() => undefined)));
    const fleets = [...this.endpoints.values()].flatMap((e) => e.fleets);
    await Promise.all(fleets.map((f) => f.instances?.stop() ?? Promise.resolve()));
  }

  private async blueGreen(
    endpoint: Endpoint,
    configName: string,
    variant: VariantSpec,
    plan: DeploymentPlan,
    alarms: readonly string[],
    signal: AbortSignal,
  ): Promise<void> {
    const blue = endpoint.fleets.find((f) => f.configName === endpoint.configName);
    if (!blue)
      throw new SageMakerApiError('ValidationException', `endpoint ${endpoint.name} has no serving fleet`);
    const green = await this.provision(configName, variant);
    // The timeout runs from the moment the green fleet is up: the local time scale models the
    // configured waits, not how long starting instance threads takes on this machine.
    const deadline = performance.now() + this.options.msPerSecond * plan.timeoutSeconds;
    green.weight = 0;
    if (signal.aborted) {
      // stopped (or failed) while the green fleet was provisioned: it never serves
      await green.instances?.stop();
      throw signal.reason as Error;
    }
    setFleets(endpoint, [blue, green]);
    this.emit(
      endpoint,
      'provisioned',
      configName,
      `new fleet for ${configName} is up (${green.instanceCount} instances)`,
      0,
    );

    const rollBack = (reason: string): void => {
      endpoint.status = 'RollingBack';
      this.emit(endpoint, 'rolling-back', configName, reason, green.weight);
      blue.weight = 1;
      blue.current = 0;
      setFleets(endpoint, [blue]);
      this.settle(endpoint, 'InService');
      this.emit(
        endpoint,
        'rolled-back',
        configName,
        `${endpoint.configName} serves all traffic again: ${reason}`,
        0,
      );
    };

    for (const share of plan.steps) {
      setWeights(blue, green, share);
      this.emit(endpoint, 'shift', configName, `${percent(share)} of traffic on ${configName}`, share);
      const stop = await this.watch(alarms, this.options.msPerSecond * plan.waitSeconds, deadline, signal);
      if (stop) {
        rollBack(`${stop} while ${percent(share)} of traffic was on ${configName}`);
        return;
      }
    }
    this.emit(
      endpoint,
      'bake',
      configName,
      `baking ${plan.bakeSeconds} s with all traffic on ${configName}`,
      1,
    );
    const stop = await this.watch(alarms, this.options.msPerSecond * plan.bakeSeconds, deadline, signal);
    if (stop) {
      rollBack(`${stop} during the bake`);
      return;
    }
    green.current = 0;
    setFleets(endpoint, [green]);
    endpoint.configName = configName;
    this.settle(endpoint, 'InService');
    this.emit(
      endpoint,
      'succeeded',
      configName,
      `${configName} serves all traffic; the old fleet is retired`,
      1,
    );
  }

  /** Watches the alarms for `ms`; resolves to why the update must roll back, or undefined. */
  private async watch(
    alarms: readonly string[],
    ms: number,
    deadline: number,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const poll = this.options.alarmPollMs ?? 5;
    const end = performance.now() + ms;
    for (;;) {
      if (signal.aborted) throw signal.reason as Error;
      const firing = this.options.alarms.firing(alarms);
      if (firing) return `alarm ${firing.name} went to ALARM (${firing.reason})`;
      const now = performance.now();
      if (now > deadline) return 'the update ran past MaximumExecutionTimeoutInSeconds';
      if (now >= end) return undefined;
      await new Promise((resolve) => setTimeout(resolve, Math.min(poll, end - now)));
    }
  }

  private async provision(configName: string, variant: VariantSpec): Promise<Fleet> {
    const modelName = variant.ModelName;
    if (!modelName)
      throw new SageMakerApiError('ValidationException', `${configName}: the variant names no model`);
    const model = await this.options.loadModel(modelName);
    const instanceCount = variant.InitialInstanceCount ?? 1;
    return {
      configName,
      variantName: variant.VariantName ?? VARIANT_NAME,
      modelName,
      instanceCount,
      model,
      instances: model.source
        ? await EndpointInstances.start(model.source, threadsFor(instanceCount))
        : undefined,
      weight: 0,
      current: 0,
    };
  }

  private endpoint(name: string): Endpoint {
    const endpoint = this.endpoints.get(name);
    if (!endpoint) {
      throw new SageMakerApiError(
        'ValidationException',
        `Could not find endpoint "${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'endpoint', name)}".`,
      );
    }
    return endpoint;
  }

  private settle(endpoint: Endpoint, status: EndpointStatus): void {
    endpoint.status = status;
    endpoint.modifiedAt = new Date();
  }

  private emit(
    endpoint: Endpoint,
    phase: DeploymentEvent['phase'],
    configName: string,
    detail: string,
    newTrafficShare?: number,
  ): void {
    this.options.onDeployment?.({ endpoint: endpoint.name, phase, configName, detail, newTrafficShare });
  }
}

/** The traffic steps and waits of a blue/green update. */
export interface DeploymentPlan {
  /** Share of traffic on the new fleet after each shift; the last is 1. */
  readonly steps: readonly number[];
  readonly waitSeconds: number;
  readonly bakeSeconds: number;
  readonly timeoutSeconds: number;
}

/**
 * The plan of a DeploymentConfig for a new fleet of `instanceCount` instances, with SageMaker's limits:
 * CANARY and LINEAR need at least 2 instances, a canary at most 50 % of them, a linear step 10-50 %.
 * Without a DeploymentConfig SageMaker still updates blue/green, all at once, without waits.
 */
export function planDeployment(
  deployment: DeploymentConfigSpec | undefined,
  instanceCount: number,
): DeploymentPlan {
  const policy = deployment?.BlueGreenUpdatePolicy;
  const routing = policy?.TrafficRoutingConfiguration;
  const type = routing?.Type ?? 'ALL_AT_ONCE';
  const waitSeconds = routing?.WaitIntervalInSeconds ?? 0;
  const bakeSeconds = policy?.TerminationWaitInSeconds ?? 0;
  const timeoutSeconds = policy?.MaximumExecutionTimeoutInSeconds ?? 3600;
  const shareOf = (size: CapacitySize | undefined, what: string): number => {
    if (!size?.Type || !size.Value || size.Value <= 0) {
      throw new SageMakerApiError('ValidationException', `${what} needs a Type and a positive Value`);
    }
    return size.Type === 'CAPACITY_PERCENT' ? size.Value / 100 : size.Value / instanceCount;
  };
  if (type === 'ALL_AT_ONCE') return { steps: [1], waitSeconds, bakeSeconds, timeoutSeconds };
  if (instanceCount < 2) {
    throw new SageMakerApiError(
      'ValidationException',
      `${type} traffic routing needs at least 2 instances in the new production variant; it has ${instanceCount}.`,
    );
  }
  if (type === 'CANARY') {
    const canary = shareOf(routing?.CanarySize, 'CanarySize');
    if (canary > 0.5) {
      throw new SageMakerApiError(
        'ValidationException',
        'CanarySize must be at most 50% of the production variant.',
      );
    }
    // Whole instances take traffic: the canary is at least one instance.
    const share = Math.max(1, Math.round(canary * instanceCount)) / instanceCount;
    return { steps: [share, 1], waitSeconds, bakeSeconds, timeoutSeconds };
  }
  if (type === 'LINEAR') {
    const step = shareOf(routing?.LinearStepSize, 'LinearStepSize');
    if (step < 0.1 || step > 0.5) {
      throw new SageMakerApiError(
        'ValidationException',
        'LinearStepSize must be 10-50% of the production variant.',
      );
    }
    const steps: number[] = [];
    for (let share = step; share < 1 - 1e-9; share += step) steps.push(share);
    return { steps: [...steps, 1], waitSeconds, bakeSeconds, timeoutSeconds };
  }
  throw new SageMakerApiError('ValidationException', `unknown TrafficRoutingConfiguration Type ${type}`);
}

function singleVariant(config: EndpointConfigSpec): VariantSpec {
  const variants = config.ProductionVariants ?? [];
  if (variants.length !== 1) {
    throw new SageMakerApiError(
      'ValidationException',
      `${config.EndpointConfigName}: the local hosting serves one production variant per config, got ${variants.length}`,
    );
  }
  return variants[0];
}

/** Replaces the endpoint's fleets; a fleet no longer among them retires (after its requests in flight). */
function setFleets(endpoint: Endpoint, fleets: Fleet[]): void {
  for (const fleet of endpoint.fleets) if (!fleets.includes(fleet)) fleet.instances?.retire();
  endpoint.fleets = fleets;
}

/** A fleet without instance threads runs its model on the calling thread. */
function runInProcess(model: LoadedModel, request: ContainerRequest): ContainerResponse {
  try {
    return model.invoke(request);
  } catch (error) {
    return {
      status: 500,
      body: JSON.stringify({ message: (error as Error).message }),
      contentType: 'application/json',
    };
  }
}

function setWeights(blue: Fleet, green: Fleet, greenShare: number): void {
  green.weight = greenShare;
  blue.weight = 1 - greenShare;
}

/**
 * Smooth weighted round-robin (as nginx balances upstreams): over any run of requests each fleet's
 * share stays within one request of its weight, deterministically.
 */
export function pickFleet<T extends { weight: number; current: number }>(fleets: readonly T[]): T {
  if (fleets.length === 1) return fleets[0];
  let best: T | undefined;
  let total = 0;
  for (const fleet of fleets) {
    if (fleet.weight <= 0) continue;
    fleet.current += fleet.weight;
    total += fleet.weight;
    if (!best || fleet.current > best.current) best = fleet;
  }
  if (!best) return fleets[0];
  best.current -= total;
  return best;
}

function percent(share: number): string {
  return `${Math.round(share * 100)} %`;
}
