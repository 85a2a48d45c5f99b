/**
 * Local training jobs of the two built-in algorithms reelflow trains, and of the project's own image
 * (the iALS job, project-training-jobs.ts), reading and writing what the real jobs read and write:
 *
 * - `factorization-machines`: the `train` (and optional `test`) channel's recordIO-protobuf shards ->
 *   `fmExamplesFromRecordIO` -> the core's FM trainer with the job's string HyperParameters -> a
 *   real-format `model.tar.gz` at `<S3OutputPath>/<job>/output/model.tar.gz`; with a `test` channel the
 *   job ends with the built-in's test metrics in `FinalMetricDataList` (functions/core/fm/test-metrics.ts);
 * - `knn`: the dense recordIO rows (vector + label) -> the exact `faiss.Flat` index -> the built-in's
 *   three-member `model.tar.gz` at the same place.
 *
 * The result is the job's DescribeTrainingJob output, which is what the `.sync` integration returns to
 * the state machine. A job that cannot train ends `Failed` with a FailureReason, as on AWS. Like the
 * built-ins, a job is first checked against the algorithm's documented contract
 * (functions/core/algorithms/): an undocumented or missing hyperparameter, an invalid value, an unknown
 * channel or an undocumented channel content type ends the job `Failed` with the built-in's
 * `ClientError: ...` FailureReason before any data is read.
 *
 * All instances' work runs in one process: with `ShardedByS3Key` and several instances each instance
 * would train on its shards and the built-in would merge them; locally one trainer reads every shard.
 *
 * An image is one of the built-ins (by repository name) or the project image the local runtime knows
 * (`TrainingJobDeps.project`); any other image is refused when the job is created.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getObjectBytes, listObjects } from '../../functions/common/s3-io';
import { parseS3Uri } from '../../functions/common/s3-uri';
import {
  BuiltinClientError,
  builtinContract,
  validateChannels,
  validateHyperparameters,
} from '../../functions/core/algorithms';
import { fmHyperparametersFromStrings, knnHyperparametersFromStrings } from '../../functions/core/config';
import { writeFmModelTarGz } from '../../functions/core/fm/artifact';
import { fmExamplesFromRecordIO } from '../../functions/core/fm/encode';
import { finalTestMetrics, type FinalMetric } from '../../functions/core/fm/test-metrics';
import { trainFm, type EpochReport } from '../../functions/core/fm/train';
import { buildKnnIndex, writeKnnModelTarGz } from '../../functions/core/knn';
import { countRecordIORecords, iterateRecordIO } from '../../functions/core/recordio';
import {
  runProjectTrainingJob,
  TrainingContainerError,
  type ProjectTrainingDeps,
} from './project-training-jobs';
import { AlgorithmError, sageMakerArn, SageMakerApiError, SageMakerJobFailedError } from './sagemaker-errors';

/** The parts of a CreateTrainingJob request the local jobs read (PascalCase, as the Task passes it). */
export interface TrainingJobRequest {
  readonly TrainingJobName: string;
  readonly AlgorithmSpecification?: {
    readonly TrainingImage?: string;
    readonly TrainingInputMode?: string;
    /** A job of the project image: the entry in the image and its arguments. */
    readonly ContainerEntrypoint?: readonly string[];
    readonly ContainerArguments?: readonly string[];
    readonly MetricDefinitions?: readonly { readonly Name?: string; readonly Regex?: string }[];
  };
  readonly HyperParameters?: Record<string, string>;
  readonly InputDataConfig?: readonly {
    readonly ChannelName?: string;
    readonly ContentType?: string;
    readonly InputMode?: string;
    readonly RecordWrapperType?: string;
    readonly DataSource?: {
      readonly S3DataSource?: {
        readonly S3Uri?: string;
        readonly S3DataType?: string;
        readonly S3DataDistributionType?: string;
      };
    };
  }[];
  readonly OutputDataConfig?: { readonly S3OutputPath?: string };
  readonly ResourceConfig?: { readonly InstanceCount?: number; readonly [key: string]: unknown };
  readonly StoppingCondition?: Record<string, unknown>;
  readonly RoleArn?: string;
  readonly [key: string]: unknown;
}

/** Progress of a running job, for the terminal. */
export type TrainingProgress =
  | { readonly kind: 'channel'; readonly channel: string; readonly files: number; readonly bytes: number }
  | { readonly kind: 'epoch'; readonly epoch: EpochReport; readonly epochs: number }
  | { readonly kind: 'index'; readonly vectors: number; readonly dim: number }
  /** A line the project image's training container logged (its stdout). */
  | { readonly kind: 'log'; readonly line: string };

export interface TrainingJobDeps {
  readonly s3: S3Client;
  /** Seeds the FM parameter initialization (the built-in has no seed; locally runs are repeatable). */
  readonly seed: number;
  readonly region: string;
  readonly account: string;
  readonly onProgress?: (progress: TrainingProgress) => void;
  /** The project image and how its training entry runs. @default - built-in images only */
  readonly project?: ProjectTrainingDeps;
}

export type BuiltinAlgorithm = 'factorization-machines' | 'knn';

/** What a training image runs locally: a built-in algorithm, or the project image's training entry. */
export type TrainingAlgorithm = BuiltinAlgorithm | 'project';

const RECORDIO = 'application/x-recordio-protobuf';

/** The built-in algorithm of a training image URI (`<account>.dkr.ecr.<region>.amazonaws.com/knn:1`). */
export function builtinAlgorithmOf(image: string): BuiltinAlgorithm {
  const repository = /\/([^/:]+)(?::[^/]*)?$/.exec(image)?.[1];
  if (repository === 'factorization-machines' || repository === 'knn') return repository;
  throw new SageMakerApiError(
    'ValidationException',
    `training image '${image}' is not available locally: the local runtime trains the built-in ` +
      `factorization-machines and knn algorithms`,
  );
}

/**
 * Checks a request before the job is accepted (what CreateTrainingJob validates synchronously: the
 * API does not know a built-in's hyperparameters or channels; the job checks those, see
 * `checkBuiltinContract`). `projectImage` is the one other image the local runtime can run.
 */
export function validateTrainingJob(request: TrainingJobRequest, projectImage?: string): TrainingAlgorithm {
  const image = request.AlgorithmSpecification?.TrainingImage ?? '';
  const algorithm =
    projectImage !== undefined && image === projectImage ? 'project' : builtinAlgorithmOf(image);
  if (!request.OutputDataConfig?.S3OutputPath?.startsWith('s3://')) {
    throw new SageMakerApiError('ValidationException', 'OutputDataConfig.S3OutputPath must be an s3:// URI');
  }
  for (const [name, value] of Object.entries(request.HyperParameters ?? {})) {
    // HyperParameters is a map<string,string> in the API model; anything else is refused up front.
    if (typeof value !== 'string') {
      throw new SageMakerApiError(
        'ValidationException',
        `1 validation error detected: Value at 'hyperParameters' failed to satisfy constraint: ` +
          `Map value for key '${name}' must be a string`,
      );
    }
  }
  return algorithm;
}

/**
 * What the built-in checks first when its job starts: the hyperparameters and channels against its
 * documented contract. Throws `BuiltinClientError` (the job then ends Failed with its FailureReason).
 */
export function checkBuiltinContract(algorithm: BuiltinAlgorithm, request: TrainingJobRequest): void {
  const contract = builtinContract(algorithm);
  validateHyperparameters(contract, request.HyperParameters ?? {});
  validateChannels(contract, request.InputDataConfig ?? []);
}

/**
 * Runs a training job to its end. Resolves with the DescribeTrainingJob output of the completed job;
 * rejects with SageMakerJobFailedError (carrying the Failed description) when the job fails.
 */
export async function runTrainingJob(
  request: TrainingJobRequest,
  deps: TrainingJobDeps,
): Promise<Record<string, unknown>> {
  const name = request.TrainingJobName;
  const algorithm = validateTrainingJob(request, deps.project?.image);
  const started = new Date();
  const base = {
    TrainingJobName: name,
    TrainingJobArn: sageMakerArn(deps.region, deps.account, 'training-job', name),
    AlgorithmSpecification: request.AlgorithmSpecification,
    HyperParameters: request.HyperParameters ?? {},
    InputDataConfig: request.InputDataConfig,
    OutputDataConfig: request.OutputDataConfig,
    ResourceConfig: request.ResourceConfig,
    StoppingCondition: request.StoppingCondition,
    RoleArn: request.RoleArn,
    CreationTime: started.toISOString(),
    TrainingStartTime: started.toISOString(),
  };
  const finished = (extra: Record<string, unknown>): Record<string, unknown> => {
    const ended = new Date();
    const seconds = Math.max(1, Math.round((ended.getTime() - started.getTime()) / 1000));
    return {
      ...base,
      ...extra,
      TrainingEndTime: ended.toISOString(),
      LastModifiedTime: ended.toISOString(),
      TrainingTimeInSeconds: seconds,
      BillableTimeInSeconds: seconds,
    };
  };

  let artifact: Uint8Array;
  let finalMetrics: FinalMetric[] = [];
  try {
    ({ artifact, finalMetrics } =
      algorithm === 'project'
        ? await runProjectTrainingJob(request, { ...deps, project: deps.project! }, deps.onProgress)
        : await trainBuiltin(algorithm, request, deps));
  } catch (error) {
    const reason =
      error instanceof BuiltinClientError || error instanceof TrainingContainerError
        ? error.failureReason
        : `AlgorithmError: ${(error as Error).message}`;
    throw new SageMakerJobFailedError(
      finished({ TrainingJobStatus: 'Failed', SecondaryStatus: 'Failed', FailureReason: reason }),
      reason,
    );
  }

  const output = parseS3Uri(request.OutputDataConfig!.S3OutputPath!);
  const key = `${output.key.replace(/\/?$/, '/').replace(/^\//, '')}${name}/output/model.tar.gz`;
  await deps.s3.send(
    new PutObjectCommand({
      Bucket: output.bucket,
      Key: key,
      Body: artifact,
      ContentType: 'application/gzip',
    }),
  );
  const metricsAt = new Date().toISOString();
  return finished({
    TrainingJobStatus: 'Completed',
    SecondaryStatus: 'Completed',
    ModelArtifacts: { S3ModelArtifacts: `s3://${output.bucket}/${key}` },
    // Optional in DescribeTrainingJob: only a job whose algorithm emitted metrics has it.
    ...(finalMetrics.length > 0
      ? { FinalMetricDataList: finalMetrics.map((m) => ({ ...m, Timestamp: metricsAt })) }
      : {}),
  });
}

/** A built-in's job: its documented contract, then its channels, then the local trainer. */
async function trainBuiltin(
  algorithm: BuiltinAlgorithm,
  request: TrainingJobRequest,
  deps: TrainingJobDeps,
): Promise<{ artifact: Uint8Array; finalMetrics: FinalMetric[] }> {
  checkBuiltinContract(algorithm, request);
  checkLocalSupport(algorithm, request);
  const channels = await readChannels(request, deps);
  const train = channels.get('train') ?? [];
  if (train.length === 0) throw new AlgorithmError('the train channel holds no data');
  if (algorithm === 'factorization-machines') {
    return trainFactorizationMachines(request, train, channels.get('test'), deps);
  }
  return { artifact: await trainKnn(request, train, deps), finalMetrics: [] };
}

/** FM hyperparameters the built-in documents but the local trainer does not model. */
const FM_NOT_MODELLED_LOCALLY = ['clip_gradient', 'eps', 'rescale_grad'];

/**
 * Documented settings the local stand-ins do not model fail the job with a message saying so (never a
 * silent difference from the built-in): FM's optimizer knobs and non-normal initialization, k-NN's
 * CSV channels.
 */
function checkLocalSupport(algorithm: BuiltinAlgorithm, request: TrainingJobRequest): void {
  const hp = request.HyperParameters ?? {};
  const unsupported =
    algorithm === 'factorization-machines'
      ? Object.keys(hp).filter(
          (name) =>
            FM_NOT_MODELLED_LOCALLY.includes(name) ||
            (name.endsWith('_init_method') && hp[name] !== 'normal'),
        )
      : [];
  if (unsupported.length > 0) {
    throw new AlgorithmError(
      `the local ${algorithm} trainer does not model ${unsupported.join(', ')} (documented, valid on AWS); ` +
        `remove them to train locally`,
    );
  }
  for (const channel of request.InputDataConfig ?? []) {
    if (channel.ContentType !== undefined && !channel.ContentType.startsWith(RECORDIO)) {
      throw new AlgorithmError(
        `channel ${channel.ChannelName}: the local ${algorithm} reads ${RECORDIO} only, got ${channel.ContentType} ` +
          `(documented, valid on AWS)`,
      );
    }
  }
}

/** Every object of every channel (S3Prefix: all keys under the prefix, in key order). */
async function readChannels(
  request: TrainingJobRequest,
  deps: TrainingJobDeps,
): Promise<Map<string, Uint8Array[]>> {
  const channels = new Map<string, Uint8Array[]>();
  for (const channel of request.InputDataConfig ?? []) {
    const source = channel.DataSource?.S3DataSource;
    if (!channel.ChannelName || !source?.S3Uri) throw new AlgorithmError('a channel has no name or S3Uri');
    if (source.S3DataType !== undefined && source.S3DataType !== 'S3Prefix') {
      throw new AlgorithmError(
        `channel ${channel.ChannelName}: S3DataType ${source.S3DataType} is not supported locally`,
      );
    }
    const { bucket, key } = parseS3Uri(source.S3Uri);
    const objects = await listObjects(deps.s3, bucket, key);
    const files = await Promise.all(objects.map((o) => getObjectBytes(deps.s3, bucket, o.key)));
    channels.set(channel.ChannelName, files);
    const bytes = files.reduce((n, f) => n + f.length, 0);
    deps.onProgress?.({ kind: 'channel', channel: channel.ChannelName, files: files.length, bytes });
  }
  return channels;
}

async function trainFactorizationMachines(
  request: TrainingJobRequest,
  train: Uint8Array[],
  test: Uint8Array[] | undefined,
  deps: TrainingJobDeps,
): Promise<{ artifact: Uint8Array; finalMetrics: FinalMetric[] }> {
  const hyperparameters = request.HyperParameters ?? {};
  const hp = fmHyperparametersFromStrings(hyperparameters);
  const trainSet = fmExamplesFromRecordIO(train);
  const testSet = test && test.length > 0 ? fmExamplesFromRecordIO(test) : undefined;
  const { model, metrics } = trainFm(trainSet, hp, {
    seed: deps.seed,
    test: testSet,
    onEpoch: (epoch) => deps.onProgress?.({ kind: 'epoch', epoch, epochs: hp.epochs }),
  });
  // The built-in reports its test-channel metrics under its own names; none without a test channel.
  const finalMetrics = metrics.test ? finalTestMetrics(hp.predictor_type, metrics.test) : [];
  const artifact = await writeFmModelTarGz(model, { hyperparameters });
  return { artifact, finalMetrics };
}

async function trainKnn(
  request: TrainingJobRequest,
  train: Uint8Array[],
  deps: TrainingJobDeps,
): Promise<Uint8Array> {
  const hp = knnHyperparametersFromStrings(request.HyperParameters ?? {});
  const count = train.reduce((n, bytes) => n + countRecordIORecords(bytes), 0);
  if (count > hp.sample_size) {
    // The built-in would index a random sample of sample_size rows; reelflow's index must hold every
    // movie and tag row, so locally this is a configuration error, not a silent sample.
    throw new AlgorithmError(
      `the train channel holds ${count} rows, more than sample_size ${hp.sample_size}`,
    );
  }
  const dim = hp.feature_dim;
  const vectors = new Float32Array(count * dim);
  const labels = new Float32Array(count);
  let row = 0;
  for (const bytes of train) {
    for (const record of iterateRecordIO(bytes)) {
      const values = record.features.values?.values;
      if (!values || values.length !== dim || record.features.values.keys) {
        throw new AlgorithmError(`row ${row} is not a dense vector of feature_dim ${dim}`);
      }
      const label = record.label?.values?.values[0];
      if (label === undefined) throw new AlgorithmError(`row ${row} has no label`);
      vectors.set(values, row * dim);
      labels[row] = label;
      row++;
    }
  }
  const index = buildKnnIndex(vectors, labels, dim, hp.index_metric);
  deps.onProgress?.({ kind: 'index', vectors: count, dim });
  return writeKnnModelTarGz(index, { k: hp.k, predictor_type: hp.predictor_type });
}

/**
 * The DescribeTrainingJob outputs of the jobs that ended (Completed or Failed), for the SageMaker API's
 * DescribeTrainingJob (sagemaker-api.ts): what AWS keeps about a job after it ends. A name no job ended
 * under is AWS's `ValidationException: Requested resource not found.` (DescribeTrainingJob does not
 * answer ResourceNotFound: aws/aws-sdk#165).
 */
export class TrainingJobDescriptions {
  private readonly jobs = new Map<string, Record<string, unknown>>();

  /** Keeps a job's final description (`runTrainingJob`'s result or a Failed job's `description`). */
  record(description: Record<string, unknown>): void {
    const name = description.TrainingJobName;
    if (typeof name !== 'string' || name === '') throw new Error('a training job description has no name');
    this.jobs.set(name, description);
  }

  /** Resolves like `runTrainingJob` and records the job's description, Completed or Failed. */
  async track(job: Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
    try {
      const description = await job;
      this.record(description);
      return description;
    } catch (error) {
      // The job's own error always propagates; a Failed job's description is kept when it names the job.
      if (error instanceof SageMakerJobFailedError && typeof error.description.TrainingJobName === 'string') {
        this.record(error.description);
      }
      throw error;
    }
  }

  /** DescribeTrainingJob of `name` (ISO timestamps; the JSON API turns them into epoch seconds). */
  describeTrainingJob(name: string): Record<string, unknown> {
    const description = this.jobs.get(name);
    if (!description) throw new SageMakerApiError('ValidationException', 'Requested resource not found.');
    return description;
  }

  /** Every recorded description (saved with the local SageMaker's state). */
  list(): Record<string, unknown>[] {
    return [...this.jobs.values()];
  }
}
