/**
 * The local runtime: every local service started and wired, the project's handlers loaded against
 * them, the two workflow definitions rendered from the CDK constructs and bound, and the local pipeline
 * triggered by uploads, as the stack wires them in AWS:
 *
 *   upload ratings/<file> -> s3rver event -> (the EventBridge rule's pattern) -> start-run handler
 *     -> CodePipeline StartPipelineExecution (local JSON API) -> local pipeline run
 *   GET /recommendEndpoint -> local API Gateway -> recommend handler -> InvokeEndpoint (local runtime)
 *     -> the endpoint's fleets (pre -> k-NN -> post)
 *
 *
 * The AWS JSON API server on loopback answers what the handlers and the operator CLI call (state.json
 * names it and the resources): SSM, CodePipeline (state, executions, actions, approvals), Step Functions
 * (the workflows' executions; StartExecution on the deploy machine runs it outside the pipeline),
 * SageMaker Describe*, CloudWatch alarms, Service Quotas and Lambda GetAccountSettings.
 *
 * `npm start` (cli.ts) and the end-to-end test both run this; nothing here prints unless a `write`
 * function is given.
 */
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DeployConfig } from '../pipeline/config';
import { productionParameterName } from '../pipeline/names';
import { RECOMMEND_RESOURCE } from '../infra/constructs/recommend-api';
import { DEPLOY_STATES } from '../pipeline/deploy-workflow';
import { RENDER_PLACEHOLDERS, renderWorkflowDefinitions, type RenderedWorkflows } from '../pipeline/render';
import type { ProductionRecord } from '../functions/contracts';
import type { ObjectCreatedEvent as S3Event } from '../functions/pipeline/start-run';
import type { Approver } from './approval';
import { applyHandlerEnvironment, type HandlerEnvironmentSettings } from './environment';
import { loadProjectHandlers, type ProjectHandlers } from './handlers';
import {
  clearInstanceState,
  homeLayout,
  InstanceRunningError,
  isFreshHome,
  runningInstance,
  writeInstanceState,
  type HomeLayout,
} from './home';
import { LocalPipeline, type PipelineEvent, type PipelineExecution } from './pipeline-runner';
import { readRuns } from './run-history';
import {
  lambdaAccountSettingsRoute,
  sageMakerQuotas,
  serviceQuotasJsonService,
} from './services/account-apis';
import { cloudWatchJsonService, LocalAlarms } from './services/alarms';
import { startLocalApi } from './services/api-gateway';
import { startAwsJsonServer, AwsServiceError } from './services/aws-json-server';
import { LocalCodePipelineApi } from './services/codepipeline';
import type { DeploymentEvent } from './services/hosting';
import type { LoopbackServer } from './services/http';
import type { JobProgress } from './services/job-instance';
import { LOCAL_ACCOUNT, LOCAL_BOOTSTRAP, LOCAL_REGION } from './services/local-account';
import { LocalNotifications, type Notification } from './services/notifications';
import { LocalParameterStore, ssmJsonService } from './services/parameters';
import { LocalS3, type ObjectCreatedEvent } from './services/s3';
import { LocalSageMaker } from './services/sagemaker';
import { sageMakerJsonService } from './services/sagemaker-api';
import { LocalStepFunctionsApi, stateMachineNames, type ExecutionRecorder } from './services/stepfunctions';
import { startSageMakerRuntime } from './services/sagemaker-runtime';
import { StateMachineRunner, type Definition } from './state-machine-runner';
import { taskBindings } from './task-bindings';
import { TerminalReporter, type Write } from './terminal';
import { TimeScale } from './time-scale';

export interface LocalRuntimeOptions {
  /** The state folder (`.reelflow`). */
  readonly home: string;
  readonly config: DeployConfig;
  readonly approver: Approver;
  /** Local milliseconds per configured second. @default 10 */
  readonly msPerSecond?: number;
  /** Port of the local API on 127.0.0.1. @default 0 - any free port */
  readonly apiPort?: number;
  /** Where the terminal output goes. @default - nowhere */
  readonly write?: Write;
  /** Let the handlers log (Powertools INFO). @default false */
  readonly verbose?: boolean;
  /**
   * Service Quotas values by QuotaName over the local account's (`ml.m5.xlarge for training job
   * usage`, ...). @default - local-account.ts, then REELFLOW_LOCAL_QUOTAS
   */
  readonly quotas?: Readonly<Record<string, number>>;
}

/** Thrown when the runtime cannot do what it is asked (no run started by an upload, a bad config change). */
export class LocalRuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalRuntimeError';
  }
}

/** How long an upload may take to start its run (the trigger path is asynchronous, as in AWS). */
const TRIGGER_TIMEOUT_MS = 30_000;
const RATINGS_PREFIX = 'ratings/';

export class LocalRuntime {
  readonly layout: HomeLayout;
  readonly scale: TimeScale;
  /** True when the folder held no earlier state. */
  readonly fresh: boolean;
  readonly bucket: string;
  readonly alarms: LocalAlarms;
  readonly parameters: LocalParameterStore;
  readonly notifications: LocalNotifications;
  readonly sagemaker: LocalSageMaker;
  readonly pipeline: LocalPipeline;
  /** The Step Functions API: the workflows' executions. */
  readonly stepFunctions: LocalStepFunctionsApi;
  readonly s3: S3Client;
  /** The endpoints restored InService from the folder's saved state. */
  readonly restoredEndpoints: readonly string[];
  private definitions: RenderedWorkflows;
  private runners: { retrain: StateMachineRunner; deploy: StateMachineRunner };
  private readonly listeners = {
    pipeline: [] as ((event: PipelineEvent) => void)[],
    deployment: [] as ((event: DeploymentEvent) => void)[],
  };
  private readonly quiet = new Set<string>();
  private readonly triggerWaiters = new Map<string, (execution: PipelineExecution) => void>();
  /** Deploy executions started through StartExecution (rollbacks), stopped with the runtime. */
  private readonly direct = { stop: new AbortController(), running: new Set<Promise<void>>() };
  private stopped = false;

  private constructor(
    private configValue: DeployConfig,
    private readonly parts: {
      layout: HomeLayout;
      scale: TimeScale;
      fresh: boolean;
      bucket: string;
      definitions: RenderedWorkflows;
      s3Server: LocalS3;
      servers: LoopbackServer[];
      api: LoopbackServer;
      awsJson: LoopbackServer;
      environment: HandlerEnvironmentSettings;
      alarms: LocalAlarms;
      parameters: LocalParameterStore;
      notifications: LocalNotifications;
      sagemaker: LocalSageMaker;
      codePipeline: LocalCodePipelineApi;
      stepFunctions: LocalStepFunctionsApi;
      handlers: ProjectHandlers;
      approver: Approver;
      reporter?: TerminalReporter;
      restored: string[];
      firstSeq: number;
    },
  ) {
    this.layout = parts.layout;
    this.scale = parts.scale;
    this.fresh = parts.fresh;
    this.bucket = parts.bucket;
    this.alarms = parts.alarms;
    this.parameters = parts.parameters;
    this.notifications = parts.notifications;
    this.sagemaker = parts.sagemaker;
    this.s3 = parts.s3Server.client();
    this.restoredEndpoints = parts.restored;
    this.stepFunctions = parts.stepFunctions;
    this.definitions = parts.definitions;
    this.runners = this.bind(parts.definitions);
    let seq = parts.firstSeq;
    this.pipeline = new LocalPipeline({
      name: parts.codePipeline.pipelineName,
      retrain: () => this.runners.retrain,
      deploy: () => this.runners.deploy,
      codePipeline: parts.codePipeline,
      stepFunctions: parts.stepFunctions,
      summarize: (event) => parts.handlers.summarize(event),
      approver: parts.approver,
      readObject: (key) => this.readObject(key),
      runsDir: parts.layout.runsDir,
      historyFile: parts.layout.historyFile,
      servingVersion: () => this.servingVersion(),
      nextRunId: () => runId(seq++),
      onEvent: (event) => {
        parts.reporter?.pipeline(event);
        if (event.type === 'run-finished') void this.keepLineage(event.record.runId, parts.layout.runsDir);
        for (const listener of this.listeners.pipeline) listener(event);
      },
    });
  }

  /** Starts every service on loopback and loads the handlers. */
  static async start(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const layout = homeLayout(options.home);
    const other = runningInstance(layout);
    if (other && other.pid !== process.pid) throw new InstanceRunningError(layout.root, other.pid);
    const fresh = isFreshHome(layout);
    await mkdir(layout.s3Dir, { recursive: true });
    const config = options.config;
    const scale = new TimeScale(options.msPerSecond);
    const reporter = options.write ? new TerminalReporter(options.write) : undefined;
    const definitions = renderWorkflowDefinitions(config);
    const bucket = dataBucketOf(definitions.deploy);

    const started: LoopbackServer[] = [];
    const s3Server = new LocalS3({ directory: layout.s3Dir, buckets: [bucket] });
    try {
      const s3Endpoint = await s3Server.start();
      const alarms = LocalAlarms.rollbackAlarms(config.endpoint.name, config.alarms, scale.ms(60));
      const parameters = new LocalParameterStore(layout.ssmFile);
      // A bootstrapped account: `cdk deploy` and the operator CLI's doctor read the bootstrap version.
      if (parameters.value(LOCAL_BOOTSTRAP.parameter) === undefined) {
        parameters.putParameter({
          Name: LOCAL_BOOTSTRAP.parameter,
          Value: LOCAL_BOOTSTRAP.version,
          Type: 'String',
        });
      }
      const notifications = new LocalNotifications((n: Notification) => reporter?.notification(n));
      // Set once built; the services below call into them only after start() returns.
      const late: { pipeline?: LocalPipeline; handlers?: ProjectHandlers; runtime?: LocalRuntime } = {};
      const codePipeline = new LocalCodePipelineApi(
        `${config.resourcePrefix}-release`,
        (variables) => {
          if (!late.pipeline)
            throw new AwsServiceError('ConflictException', 'the local pipeline is starting');
          return late.pipeline.start(variables).runId;
        },
        { history: () => readRuns(layout.historyFile, layout.runsDir) },
      );
      const stepFunctions = new LocalStepFunctionsApi(
        stateMachineNames(config.resourcePrefix),
        (name, input, recorder) => {
          if (!late.runtime) throw new AwsServiceError('ServiceUnavailable', 'the local runtime is starting');
          late.runtime.startDirectDeploy(name, input, recorder);
        },
      );

      const listeners: ((event: DeploymentEvent) => void)[] = [];
      const jobListener = (job: string, progress: JobProgress): void => reporter?.job(job, progress);
      const sagemaker = new LocalSageMaker({
        s3Endpoint,
        alarms,
        msPerSecond: scale.msPerSecond,
        trainingSeed: config.ml.seed,
        stateFile: layout.sagemakerFile,
        onJobProgress: jobListener,
        onDeployment: (event) => {
          reporter?.deployment(event);
          for (const listener of listeners) listener(event);
        },
      });
      const restored = await sagemaker.restore();
      for (const { name, reason } of restored.dropped) {
        reporter?.note(`note: endpoint ${name} could not be restored and is gone: ${reason}`);
      }
      const sageMakerRuntime = await startSageMakerRuntime(sagemaker);
      started.push(sageMakerRuntime);
      const awsJson = await startAwsJsonServer(
        [
          ssmJsonService(parameters),
          codePipeline.service(),
          cloudWatchJsonService(alarms),
          stepFunctions.service(),
          sageMakerJsonService(sagemaker),
          serviceQuotasJsonService(sageMakerQuotas(options.quotas)),
        ],
        {
          routes: [
            // The project's functions: the workflow handlers, recommend, summarize and start-run.
            lambdaAccountSettingsRoute(() => ({
              functionCount: Object.keys(late.handlers?.lambdas ?? {}).length + 3,
              reservedConcurrency:
                late.runtime?.config.api.reservedConcurrency ?? config.api.reservedConcurrency,
            })),
          ],
          onUnknown: (call) =>
            reporter?.note(`  refused an AWS call the local runtime does not provide: ${call}`),
        },
      );
      started.push(awsJson);

      const api = await startLocalApi({
        stage: config.api.stageName,
        port: options.apiPort ?? 0,
        routes: [
          {
            method: 'GET',
            path: `/${RECOMMEND_RESOURCE}`,
            requiredQuery: ['user_id'],
            handler: () => {
              if (!late.handlers) throw new LocalRuntimeError('the handlers are not loaded yet');
              return late.handlers.recommend;
            },
          },
        ],
        onRequest: ({ status }) => alarms.record('ApiServerErrors', status >= 500 ? 1 : 0),
        onHandlerError: (error) => reporter?.note(`  the recommend handler threw (502): ${error.message}`),
      });
      started.push(api);
      const recommendUrl = `${api.url}/${RECOMMEND_RESOURCE}`;

      const environment: HandlerEnvironmentSettings = {
        endpoints: {
          s3: s3Endpoint,
          awsJson: awsJson.url,
          sagemakerRuntime: sageMakerRuntime.url,
          recommendUrl,
        },
        config,
        bucket,
        pipelineName: codePipeline.pipelineName,
        keyArn: RENDER_PLACEHOLDERS.key,
        verbose: options.verbose,
      };
      applyHandlerEnvironment(environment);
      const handlers = loadProjectHandlers();
      late.handlers = handlers;

      const history = await readRuns(layout.historyFile);
      const firstSeq = history.reduce((max, r) => Math.max(max, seqOf(r.runId)), 0) + 1;
      const instance = new LocalRuntime(config, {
        layout,
        scale,
        fresh,
        bucket,
        definitions,
        s3Server,
        servers: started,
        api,
        awsJson,
        environment,
        alarms,
        parameters,
        notifications,
        sagemaker,
        codePipeline,
        stepFunctions,
        handlers,
        approver: options.approver,
        reporter,
        restored: restored.endpoints,
        firstSeq,
      });
      late.pipeline = instance.pipeline;
      late.runtime = instance;
      listeners.push((event) => {
        for (const listener of instance.listeners.deployment) listener(event);
      });
      s3Server.onObjectCreated((event) => instance.onObjectCreated(event, handlers));
      // `reelflow batches withdraw` starts its run on the CodePipeline API by the pipeline's name.
      const state = {
        pid: process.pid,
        startedAt: new Date().toISOString(),
        bucket,
        s3Endpoint,
        awsJsonEndpoint: awsJson.url,
        apiUrl: api.url,
        recommendUrl,
        endpointName: config.endpoint.name,
        pipelineName: codePipeline.pipelineName,
        stateMachines: stepFunctions.arns,
        productionParameterName: productionParameterName(config),
        region: LOCAL_REGION,
      };
      await writeInstanceState(layout, state);
      return instance;
    } catch (error) {
      await Promise.all(started.map((s) => s.close()));
      await s3Server.stop();
      throw error;
    }
  }

  get config(): DeployConfig {
    return this.configValue;
  }

  /** The base URL of the local API (`http://127.0.0.1:<port>`). */
  get apiUrl(): string {
    return this.parts.api.url;
  }

  /** `GET <recommendUrl>?user_id=N`. */
  get recommendUrl(): string {
    return `${this.parts.api.url}/${RECOMMEND_RESOURCE}`;
  }

  get s3Endpoint(): string {
    return this.parts.s3Server.endpoint;
  }

  get awsJsonEndpoint(): string {
    return this.parts.awsJson.url;
  }

  /** The rendered definitions the runners execute. */
  get workflowDefinitions(): RenderedWorkflows {
    return this.definitions;
  }

  /**
   * Takes a new deploy config for the next runs, as a `cdk deploy` of a changed context would: the
   * definitions are rendered again (the ML config is part of the retrain definition). The prefix, the
   * endpoint and the alarms name resources that exist, so they cannot change here.
   */
  updateConfig(config: DeployConfig): void {
    const old = this.configValue;
    if (
      config.resourcePrefix !== old.resourcePrefix ||
      config.endpoint.name !== old.endpoint.name ||
      JSON.stringify(config.alarms) !== JSON.stringify(old.alarms)
    ) {
      throw new LocalRuntimeError(
        'resourcePrefix, endpoint.name and alarms cannot change while the runtime runs',
      );
    }
    const definitions = renderWorkflowDefinitions(config);
    this.runners = this.bind(definitions);
    this.definitions = definitions;
    this.configValue = config;
    // The variables that follow the config (SMOKE_TEST_USER_ID); the endpoints stay as they are.
    applyHandlerEnvironment({ ...this.parts.environment, config });
  }

  onPipelineEvent(listener: (event: PipelineEvent) => void): void {
    this.listeners.pipeline.push(listener);
  }

  onDeploymentEvent(listener: (event: DeploymentEvent) => void): void {
    this.listeners.deployment.push(listener);
  }

  /** The run id the production record names, or null before the first deployment. */
  servingVersion(): string | null {
    const value = this.parameters.value(productionParameterName(this.configValue));
    return value ? (JSON.parse(value) as ProductionRecord).runId : null;
  }

  /**
   * Uploads a ratings batch under `ratings/` and resolves with the run the upload started (through the
   * same trigger path as in AWS). Keys outside `ratings/` start nothing; that is an error here.
   */
  async upload(key: string, body: string | Uint8Array): Promise<PipelineExecution> {
    if (!key.startsWith(RATINGS_PREFIX) || key.endsWith('/')) {
      throw new LocalRuntimeError(`${key} would not start a run: uploads go under ${RATINGS_PREFIX}`);
    }
    const started = this.waitForTrigger(key);
    await this.putObject(key, body);
    return started;
  }

  /**
   * Uploads several batches as one delivery: only the last upload's event starts a run (the earlier ones
   * are stored, and read by that run), so a folder of files is one run, not one per file.
   */
  async uploadAll(files: readonly { key: string; body: string | Uint8Array }[]): Promise<PipelineExecution> {
    if (files.length === 0) throw new LocalRuntimeError('nothing to upload');
    for (const file of files.slice(0, -1)) {
      this.quiet.add(file.key);
      await this.putObject(file.key, file.body);
    }
    const last = files[files.length - 1];
    return this.upload(last.key, last.body);
  }

  /**
   * Starts a run on the data already uploaded (CodePipeline's "Release change" with `triggerKey` set, as
   * the README says: the default value skips every stage after Source).
   */
  startRun(): PipelineExecution {
    return this.pipeline.start({
      triggerKey: `manual-${new Date().toISOString().replace(/[-:.]/g, '')}`,
      triggerVersionId: 'unknown',
    });
  }

  /** Stops the pipeline, the updates in flight, the job workers and every server. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.direct.stop.abort();
    await this.pipeline.stop();
    await Promise.all(this.direct.running);
    await this.sagemaker.stop();
    await this.parts.handlers.stop();
    await Promise.all(this.parts.servers.map((s) => s.close()));
    await this.parts.s3Server.stop();
    this.s3.destroy();
    await clearInstanceState(this.layout);
  }

  /**
   * StartExecution on the deploy state machine (a rollback): the deploy definition on a runner of its
   * own, outside the pipeline, recorded by the Step Functions API. Stopped with the runtime.
   */
  private startDirectDeploy(name: string, input: unknown, recorder: ExecutionRecorder): void {
    const reporter = this.parts.reporter;
    const runner = new StateMachineRunner(this.definitions.deploy, this.bindings(), this.parts.scale);
    reporter?.note(`  deploy execution ${name} started through StartExecution (outside the pipeline)`);
    const run = runner
      .run(input, {
        executionName: name,
        stateMachineArn: this.stepFunctions.arns.deploy,
        signal: this.direct.stop.signal,
        onEvent: (event) => recorder.event(event),
      })
      .then(
        (result) => {
          recorder.end(result);
          const why = result.error ? `: ${result.error.Error}` : '';
          reporter?.note(`  deploy execution ${name} ${result.status}${why}`);
        },
        (error: Error) =>
          recorder.end({
            status: 'FAILED',
            error: { Error: 'States.Runtime', Cause: error.message },
            path: [],
            stateMs: {},
            ms: 0,
          }),
      )
      .finally(() => this.direct.running.delete(run));
    this.direct.running.add(run);
  }

  private bindings(): ReturnType<typeof taskBindings> {
    return taskBindings({
      sagemaker: this.parts.sagemaker,
      parameters: this.parts.parameters,
      alarms: this.parts.alarms,
      notifications: this.parts.notifications,
      s3: this.parts.s3Server.client(),
      lambdas: this.parts.handlers.lambdas,
    });
  }

  private bind(definitions: RenderedWorkflows): { retrain: StateMachineRunner; deploy: StateMachineRunner } {
    const bindings = this.bindings();
    return {
      retrain: new StateMachineRunner(definitions.retrain, bindings, this.parts.scale),
      deploy: new StateMachineRunner(definitions.deploy, bindings, this.parts.scale),
    };
  }

  /** The EventBridge rule (bucket + `ratings/` prefix), then the start-run handler. */
  private onObjectCreated(event: ObjectCreatedEvent, handlers: ProjectHandlers): void {
    if (event.bucket !== this.bucket || !event.key.startsWith(RATINGS_PREFIX)) return;
    if (this.quiet.delete(event.key)) return;
    const eventBridge: S3Event = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Object Created',
      source: 'aws.s3',
      account: LOCAL_ACCOUNT,
      time: event.time,
      region: LOCAL_REGION,
      resources: [`arn:aws:s3:::${event.bucket}`],
      detail: { bucket: { name: event.bucket }, object: { key: event.key, size: event.size } },
    };
    handlers.startRun(eventBridge).then(
      (result) => {
        if (!result.started) return;
        const execution = this.pipeline.execution(result.executionId);
        const waiter = this.triggerWaiters.get(event.key);
        if (execution && waiter) {
          this.triggerWaiters.delete(event.key);
          waiter(execution);
        }
      },
      (error: Error) => {
        this.parts.reporter?.note(`  start-run failed for ${event.key}: ${error.message}`);
      },
    );
  }

  private waitForTrigger(key: string): Promise<PipelineExecution> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.triggerWaiters.delete(key);
        reject(
          new LocalRuntimeError(`the upload of ${key} started no run within ${TRIGGER_TIMEOUT_MS / 1000} s`),
        );
      }, TRIGGER_TIMEOUT_MS);
      this.triggerWaiters.set(key, (execution) => {
        clearTimeout(timer);
        resolve(execution);
      });
    });
  }

  private async putObject(key: string, body: string | Uint8Array): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
  }

  /** A copy of the run's lineage.json next to its other records (`npm run runs` shows its counts). */
  private async keepLineage(runId: string, runsDir: string): Promise<void> {
    try {
      const bytes = await this.readObject(`runs/${runId}/lineage.json`);
      if (!bytes) return;
      await mkdir(join(runsDir, runId), { recursive: true });
      await writeFile(join(runsDir, runId, 'lineage.json'), bytes);
    } catch {
      // A convenience copy: the lineage stays in the local S3 either way.
    }
  }

  private async readObject(key: string): Promise<Uint8Array | undefined> {
    try {
      const response = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await response.Body?.transformToByteArray();
    } catch (error) {
      if (error instanceof NoSuchKey || (error as Error).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }
}

/** The data bucket the deploy definition reads the run summary from (LoadCandidate's Bucket). */
export function dataBucketOf(deploy: Definition): string {
  const bucket = (deploy.States[DEPLOY_STATES.loadCandidate]?.Parameters as { Bucket?: unknown } | undefined)
    ?.Bucket;
  if (typeof bucket !== 'string') throw new LocalRuntimeError('the deploy definition names no data bucket');
  return bucket;
}

/** `r0001-20261125-101500`: a sequence number (the history's order) and the UTC start time. */
function runId(seq: number, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `r${String(seq).padStart(4, '0')}-${stamp}`;
}

function seqOf(id: string): number {
  const match = /^r(\d+)-/.exec(id);
  return match ? Number(match[1]) : 0;
}
