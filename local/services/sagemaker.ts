/**
 * The local SageMaker: the API calls reelflow's state machines make, with the request and response
 * shapes of the real API (PascalCase, as the Task states pass them) and its limits (unique names, an
 * existing model per variant, one variant name for the life of an endpoint).
 *
 * - Training, transform and Processing jobs run on job instances (worker threads, job-instance.ts) and
 *   resolve with their Describe*Job output, as the `.sync` integrations do. Processing runs the project
 *   image's entry (functions/processing/main.ts) only (processing-jobs.ts); training runs the built-ins
 *   and the project image's training entry (functions/training/main.ts, project-training-jobs.ts).
 * - Models are kept as their CreateModel request and loaded on first use (model-containers.ts).
 * - Endpoints are served by the local hosting (hosting.ts): fleets, blue/green, alarms.
 *
 * Models, endpoint configs, endpoints and job names are saved to a JSON file after every change, so an
 * endpoint outlives `npm start` as it outlives a session on AWS; the model data stays in the local S3.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getObjectBytes } from '../../functions/common/s3-io';
import { RENDER_PLACEHOLDERS } from '../../pipeline/render';
import type { LocalAlarms } from './alarms';
import {
  LocalHosting,
  type DeploymentConfigSpec,
  type DeploymentEvent,
  type EndpointConfigSpec,
} from './hosting';
import { runOnJobInstance, type JobProgress } from './job-instance';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './local-account';
import { loadModel, type ContainerRequest, type LoadedModel, type ModelSpec } from './model-containers';
import { validateProcessingJob, type ProcessingJobRequest } from './processing-jobs';
import { LOCAL_CREDENTIALS, localS3Client } from './s3-client';
import { checkName, required, sageMakerArn, SageMakerApiError } from './sagemaker-errors';
import { TrainingJobDescriptions, validateTrainingJob, type TrainingJobRequest } from './training-jobs';
import { validateTransformJob, type TransformJobRequest } from './transform-jobs';

export interface LocalSageMakerOptions {
  readonly s3Endpoint: string;
  readonly alarms: LocalAlarms;
  /** Local milliseconds of one configured second (waits, bakes). */
  readonly msPerSecond: number;
  /** Seed of the local FM trainer. */
  readonly trainingSeed: number;
  /** Where models, configs, endpoints and job names are saved. @default - not saved */
  readonly stateFile?: string;
  readonly onJobProgress?: (job: string, progress: JobProgress) => void;
  readonly onDeployment?: (event: DeploymentEvent) => void;
  /**
   * The project image, the one image Processing jobs can run locally, and the one image besides the
   * built-ins training jobs can (its training entry: the iALS job).
   * @default - the image the rendered definitions name (RENDER_PLACEHOLDERS.servingImage)
   */
  readonly projectImage?: string;
  /**
   * The module whose `runProcessingStep` a Processing job of the project image runs (its /app/processing.js).
   * @default - functions/processing/main.ts
   */
  readonly processingEntry?: string;
  /** Run jobs on the calling thread instead of job instances (unit tests of the bindings). */
  readonly inProcessJobs?: {
    training(request: TrainingJobRequest): Promise<Record<string, unknown>>;
    transform(request: TransformJobRequest, model: LoadedModel): Promise<Record<string, unknown>>;
    processing?(request: ProcessingJobRequest): Promise<Record<string, unknown>>;
  };
}

/** The project image's Processing entry (bundled to /app/processing.js in the image). */
export const PROCESSING_ENTRY = join(__dirname, '..', '..', 'functions', 'processing', 'main.ts');

/** The project image's training entry (bundled to /app/training.js in the image): the iALS job. */
export const TRAINING_ENTRY = join(__dirname, '..', '..', 'functions', 'training', 'main.ts');

/**
 * What a local Processing container gets besides the request's Environment: the AWS SDK settings the
 * local handlers get (environment.ts) so its clients reach the local services and nothing else.
 */
export function processingBaseEnvironment(
  s3Endpoint: string,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const sdk = Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] =>
        /^(AWS_ENDPOINT_URL|POWERTOOLS_)/.test(entry[0]) && typeof entry[1] === 'string',
    ),
  );
  return {
    // No local AWS JSON server known: a client of any other service gets a refused connection (port 9).
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    ...sdk,
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  };
}

interface SavedState {
  readonly models: Record<string, ModelSpec>;
  readonly endpointConfigs: Record<string, EndpointConfigSpec>;
  readonly endpoints: { name: string; configName: string; createdAt: string }[];
  readonly trainingJobs: string[];
  readonly transformJobs: string[];
  readonly processingJobs?: string[];
}

export class LocalSageMaker {
  readonly hosting: LocalHosting;
  private readonly models = new Map<string, ModelSpec>();
  private readonly endpointConfigs = new Map<string, EndpointConfigSpec>();
  private readonly trainingJobs = new Set<string>();
  private readonly transformJobs = new Set<string>();
  private readonly processingJobs = new Set<string>();
  /** Finished training jobs' descriptions, for DescribeTrainingJob (the Evaluate and Tune steps read them). */
  private readonly trainingJobDescriptions = new TrainingJobDescriptions();
  private readonly loaded = new Map<string, Promise<LoadedModel>>();
  private readonly s3;
  private readonly jobs = new AbortController();

  constructor(private readonly options: LocalSageMakerOptions) {
    this.s3 = localS3Client(options.s3Endpoint);
    this.hosting = new LocalHosting({
      alarms: options.alarms,
      msPerSecond: options.msPerSecond,
      loadModel: (name) => this.loadModel(name),
      onDeployment: (event) => {
        options.onDeployment?.(event);
        if (['created', 'succeeded', 'rolled-back', 'failed', 'deleted'].includes(event.phase)) this.save();
      },
    });
  }

  /**
   * Loads the saved resources and brings saved endpoints back InService. An endpoint whose model data is
   * gone (the bucket was emptied by hand) is dropped and reported, not fatal.
   */
  async restore(): Promise<{ endpoints: string[]; dropped: { name: string; reason: string }[] }> {
    const file = this.options.stateFile;
    if (!file || !existsSync(file)) return { endpoints: [], dropped: [] };
    const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedState;
    for (const [name, spec] of Object.entries(saved.models)) this.models.set(name, spec);
    for (const [name, spec] of Object.entries(saved.endpointConfigs)) this.endpointConfigs.set(name, spec);
    saved.trainingJobs.forEach((name) => this.trainingJobs.add(name));
    saved.transformJobs.forEach((name) => this.transformJobs.add(name));
    saved.processingJobs?.forEach((name) => this.processingJobs.add(name));
    const restored: string[] = [];
    const dropped: { name: string; reason: string }[] = [];
    for (const endpoint of saved.endpoints) {
      const config = this.endpointConfigs.get(endpoint.configName);
      try {
        if (!config)
          throw new SageMakerApiError(
            'ValidationException',
            `its config ${endpoint.configName} is not saved`,
          );
        await this.hosting.restoreEndpoint(endpoint.name, config, new Date(endpoint.createdAt));
        restored.push(endpoint.name);
      } catch (error) {
        dropped.push({ name: endpoint.name, reason: (error as Error).message });
      }
    }
    if (dropped.length > 0) this.save();
    return { endpoints: restored, dropped };
  }

  /** CreateTrainingJob, resolving when the job is over (the `.sync` integration's view). */
  async createTrainingJob(request: TrainingJobRequest): Promise<Record<string, unknown>> {
    const name = checkName(required(request.TrainingJobName, 'TrainingJobName'), 'trainingJobName');
    if (this.trainingJobs.has(name)) {
      throw new SageMakerApiError(
        'ResourceInUse',
        `Training job names must be unique within an AWS account and region, and a training job with this name already exists (${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'training-job', name)})`,
      );
    }
    const projectImage = this.options.projectImage ?? RENDER_PLACEHOLDERS.servingImage;
    validateTrainingJob(request, projectImage);
    this.trainingJobs.add(name);
    this.save();
    if (this.options.inProcessJobs) {
      return this.trainingJobDescriptions.track(this.options.inProcessJobs.training(request));
    }
    return this.trainingJobDescriptions.track(
      runOnJobInstance(
        {
          kind: 'training',
          request,
          seed: this.options.trainingSeed,
          project: { image: projectImage, tmpDir: tmpdir(), entryModule: TRAINING_ENTRY },
          s3Endpoint: this.options.s3Endpoint,
          region: LOCAL_REGION,
          account: LOCAL_ACCOUNT,
        },
        (progress) => this.options.onJobProgress?.(name, progress),
        this.jobs.signal,
      ),
    );
  }

  /** DescribeTrainingJob of a job this runtime ran (ValidationException for any other name, as AWS). */
  describeTrainingJob(name: string): Record<string, unknown> {
    return this.trainingJobDescriptions.describeTrainingJob(name);
  }

  /**
   * CreateProcessingJob, resolving when the job is over (the `.sync` integration's view): the project
   * image's Processing entry on a job instance (processing-jobs.ts).
   */
  async createProcessingJob(request: ProcessingJobRequest): Promise<Record<string, unknown>> {
    const name = checkName(required(request.ProcessingJobName, 'ProcessingJobName'), 'processingJobName');
    if (this.processingJobs.has(name)) {
      throw new SageMakerApiError(
        'ResourceInUse',
        `Job name must be unique within an AWS account and region, and a job with this name already exists (${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'processing-job', name)})`,
      );
    }
    validateProcessingJob(request);
    this.processingJobs.add(name);
    this.save();
    if (this.options.inProcessJobs?.processing) return this.options.inProcessJobs.processing(request);
    return runOnJobInstance(
      {
        kind: 'processing',
        request,
        projectImage: this.options.projectImage ?? RENDER_PLACEHOLDERS.servingImage,
        baseEnvironment: processingBaseEnvironment(this.options.s3Endpoint),
        tmpDir: tmpdir(),
        entryModule: this.options.processingEntry ?? PROCESSING_ENTRY,
        s3Endpoint: this.options.s3Endpoint,
        region: LOCAL_REGION,
        account: LOCAL_ACCOUNT,
      },
      (progress) => this.options.onJobProgress?.(name, progress),
      this.jobs.signal,
    );
  }

  /** CreateModel: the request is kept; the model data is read when a fleet or a job first needs it. */
  createModel(request: ModelSpec & Record<string, unknown>): { ModelArn: string } {
    const name = checkName(required(request.ModelName, 'ModelName'), 'modelName');
    if (this.models.has(name)) {
      throw new SageMakerApiError(
        'ValidationException',
        `Cannot create already existing model "${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'model', name)}".`,
      );
    }
    const containers = request.Containers ?? (request.PrimaryContainer ? [request.PrimaryContainer] : []);
    if (containers.length === 0 || containers.length > 15) {
      throw new SageMakerApiError(
        'ValidationException',
        `a model needs 1 to 15 containers, ${name} has ${containers.length}`,
      );
    }
    for (const container of containers) required(container.Image, 'Containers.Image');
    this.models.set(name, {
      ModelName: name,
      Containers: request.Containers,
      PrimaryContainer: request.PrimaryContainer,
      ...(typeof request.ExecutionRoleArn === 'string' ? { ExecutionRoleArn: request.ExecutionRoleArn } : {}),
      CreationTime: new Date().toISOString(),
    });
    this.save();
    return { ModelArn: sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'model', name) };
  }

  /** CreateTransformJob, resolving when the job is over. */
  async createTransformJob(request: TransformJobRequest): Promise<Record<string, unknown>> {
    const name = checkName(required(request.TransformJobName, 'TransformJobName'), 'transformJobName');
    if (this.transformJobs.has(name)) {
      throw new SageMakerApiError(
        'ResourceInUse',
        `Job name must be unique within an AWS account and region, and a job with this name already exists (${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'transform-job', name)})`,
      );
    }
    const model = this.model(required(request.ModelName, 'ModelName'));
    validateTransformJob(request);
    this.transformJobs.add(name);
    this.save();
    if (this.options.inProcessJobs) {
      return this.options.inProcessJobs.transform(request, await this.loadModel(model.ModelName));
    }
    return runOnJobInstance(
      {
        kind: 'transform',
        request,
        model,
        s3Endpoint: this.options.s3Endpoint,
        region: LOCAL_REGION,
        account: LOCAL_ACCOUNT,
      },
      (progress) => this.options.onJobProgress?.(name, progress),
      this.jobs.signal,
    );
  }

  createEndpointConfig(request: EndpointConfigSpec): { EndpointConfigArn: string } {
    const name = checkName(required(request.EndpointConfigName, 'EndpointConfigName'), 'endpointConfigName');
    if (this.endpointConfigs.has(name)) {
      throw new SageMakerApiError(
        'ValidationException',
        `Cannot create already existing endpoint configuration "${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'endpoint-config', name)}".`,
      );
    }
    const variants = request.ProductionVariants ?? [];
    if (variants.length === 0) {
      throw new SageMakerApiError('ValidationException', 'ProductionVariants must hold at least one variant');
    }
    for (const variant of variants) {
      const model = required(variant.ModelName, 'ProductionVariants.ModelName');
      if (!this.models.has(model)) {
        throw new SageMakerApiError(
          'ValidationException',
          `Could not find model "${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'model', model)}".`,
        );
      }
      const count = variant.InitialInstanceCount ?? 0;
      if (!Number.isInteger(count) || count < 1) {
        throw new SageMakerApiError(
          'ValidationException',
          `InitialInstanceCount must be at least 1, got ${count}`,
        );
      }
    }
    this.endpointConfigs.set(name, {
      ...request,
      EndpointConfigName: name,
      CreationTime: new Date().toISOString(),
    });
    this.save();
    return { EndpointConfigArn: sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'endpoint-config', name) };
  }

  createEndpoint(request: { EndpointName?: string; EndpointConfigName?: string }): { EndpointArn: string } {
    const name = checkName(required(request.EndpointName, 'EndpointName'), 'endpointName');
    const config = this.endpointConfig(required(request.EndpointConfigName, 'EndpointConfigName'));
    const result = this.hosting.createEndpoint(name, config);
    this.save();
    return result;
  }

  updateEndpoint(request: {
    EndpointName?: string;
    EndpointConfigName?: string;
    RetainAllVariantProperties?: boolean;
    DeploymentConfig?: DeploymentConfigSpec;
  }): { EndpointArn: string } {
    const name = required(request.EndpointName, 'EndpointName');
    const current = this.describeEndpoint({ EndpointName: name }).EndpointConfigName as string;
    const next = this.endpointConfig(required(request.EndpointConfigName, 'EndpointConfigName'));
    if (next.EndpointConfigName === current) {
      throw new SageMakerApiError(
        'ValidationException',
        `The endpoint already serves ${current}; use a new endpoint configuration.`,
      );
    }
    return this.hosting.updateEndpoint(name, this.endpointConfig(current), next, request.DeploymentConfig);
  }

  /** DeleteEndpoint: Deleting, then gone (the endpoint configs stay, as on AWS). */
  deleteEndpoint(request: { EndpointName?: string }): Record<string, never> {
    const result = this.hosting.deleteEndpoint(required(request.EndpointName, 'EndpointName'));
    this.save();
    return result;
  }

  describeEndpoint(request: { EndpointName?: string }): Record<string, unknown> {
    return this.hosting.describeEndpoint(required(request.EndpointName, 'EndpointName'));
  }

  /** InvokeEndpoint (the runtime server's backend). */
  invokeEndpoint(name: string, request: ContainerRequest): ReturnType<LocalHosting['invoke']> {
    return this.hosting.invoke(name, request);
  }

  /** DescribeModel: the model's containers and execution role, as AWS answers (unknown: ValidationException). */
  describeModel(request: { ModelName?: string }): Record<string, unknown> {
    const model = this.model(required(request.ModelName, 'ModelName'));
    return {
      ...model,
      ModelArn: sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'model', model.ModelName),
    };
  }

  /** The CreateModel request of a model (tests compute expected answers from its artifacts). */
  model(name: string): ModelSpec {
    const model = this.models.get(name);
    if (!model) {
      throw new SageMakerApiError(
        'ValidationException',
        `Could not find model "${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'model', name)}".`,
      );
    }
    return model;
  }

  endpointConfig(name: string): EndpointConfigSpec {
    const config = this.endpointConfigs.get(name);
    if (!config) {
      throw new SageMakerApiError(
        'ValidationException',
        `Could not find endpoint configuration "${sageMakerArn(LOCAL_REGION, LOCAL_ACCOUNT, 'endpoint-config', name)}".`,
      );
    }
    return config;
  }

  /** Stops running jobs and updates (the process is exiting); endpoints keep their current config. */
  async stop(): Promise<void> {
    this.jobs.abort();
    await this.hosting.stop();
    this.save();
  }

  private loadModel(name: string): Promise<LoadedModel> {
    let loading = this.loaded.get(name);
    if (!loading) {
      const spec = this.model(name);
      loading = loadModel(spec, (bucket, key) => getObjectBytes(this.s3, bucket, key));
      this.loaded.set(name, loading);
      loading.catch(() => this.loaded.delete(name));
    }
    return loading;
  }

  private save(): void {
    const file = this.options.stateFile;
    if (!file) return;
    const state: SavedState = {
      models: Object.fromEntries(this.models),
      endpointConfigs: Object.fromEntries(this.endpointConfigs),
      endpoints: this.hosting
        .list()
        .filter((e) => e.status !== 'Failed' && e.status !== 'Creating' && e.status !== 'Deleting')
        .map(({ name, configName, createdAt }) => ({ name, configName, createdAt })),
      trainingJobs: [...this.trainingJobs],
      transformJobs: [...this.transformJobs],
      processingJobs: [...this.processingJobs],
    };
    writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }
}
