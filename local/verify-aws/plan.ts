/**
 * What `reelflow verify-aws` creates, built with the project's own code: a tiny synthetic data set
 * prepared exactly as the Prepare step prepares a run (core/prepare.ts, in memory), the vectors and
 * serving bundle built from the real FM artifact exactly as BuildVectors builds them
 * (core/build-vectors.ts), and the SageMaker requests in the shapes the retrain and deploy workflows send
 * (pipeline/retrain-workflow.ts, pipeline/deploy-workflow.ts).
 */
import type {
  CreateEndpointConfigInput,
  CreateModelInput,
  CreateTrainingJobRequest,
} from '@aws-sdk/client-sagemaker';
import { SERVING_CONTENT_TYPES } from '../../functions/contracts';
import { buildVectors } from '../../functions/core/build-vectors';
import type { MlConfig } from '../../functions/core/config';
import { readFmModelTarGz } from '../../functions/core/fm/artifact';
import { bufferSource } from '../../functions/core/ingest';
import { prepareRun, type PreparedManifest } from '../../functions/core/prepare';
import type { ArtifactSink } from '../../functions/core/sink';
import { parseIdMapCsv, parseSplitCsv } from '../../functions/core/split';
import { generateSample, SYNTHETIC_DEFAULTS } from '../sample/synthetic';
import { VARIANT_NAME } from '../../pipeline/names';
import { builtinImageUriFor } from '../../pipeline/images';
import { VerifyCheckError } from './errors';

/** Key prefix of everything the check writes in the data bucket (`verify/<id>/`). */
export const VERIFY_PREFIX = 'verify/';

/** MaxRuntimeInSeconds of each training job: a few hundred rows train in seconds once started. */
export const TRAINING_MAX_RUNTIME_SECONDS = 600;
/** VolumeSizeInGB of each training job. */
export const TRAINING_VOLUME_GB = 5;

const RECORDIO = 'application/x-recordio-protobuf';

/** Where and how the check runs: the stack's resources and the deploy config's settings. */
export interface VerifySettings {
  readonly region: string;
  readonly bucket: string;
  readonly trainingRoleArn: string;
  readonly modelRoleArn: string;
  readonly keyArn: string;
  readonly servingImageUri: string;
  readonly resourcePrefix: string;
  readonly fmInstanceType: string;
  readonly knnInstanceType: string;
  readonly endpointInstanceType: string;
  readonly ml: MlConfig;
}

/** The SageMaker names of one check: `<prefix>-verify-<id>-<kind>`. */
export interface VerifyNames {
  readonly fmJob: string;
  readonly knnJob: string;
  readonly model: string;
  readonly endpointConfig: string;
  readonly endpoint: string;
}

export function verifyNames(prefix: string, id: string): VerifyNames {
  const base = `${prefix}-verify-${id}`;
  return {
    fmJob: `${base}-fm`,
    knnJob: `${base}-knn`,
    model: `${base}-model`,
    endpointConfig: `${base}-config`,
    endpoint: base,
  };
}

/** A check id: UTC time to the second and 4 random hex digits, e.g. `20261202-101530-3fa9`. */
export function newVerifyId(now: Date, random: () => number = Math.random): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const suffix = Math.floor(random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
  return `${stamp}-${suffix}`;
}

/** An ArtifactSink that keeps the files in memory (they are uploaded afterwards). */
export function memorySink(): ArtifactSink & { readonly files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  const bytes = (data: string | Uint8Array): Uint8Array =>
    typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return {
    files,
    async put(path, data) {
      files.set(path, bytes(data));
    },
    open(path) {
      const chunks: Uint8Array[] = [];
      return {
        async write(chunk) {
          chunks.push(chunk.slice());
        },
        async end() {
          files.set(path, Buffer.concat(chunks));
        },
      };
    },
    locate: (path) => `memory:${path}`,
  };
}

/** The synthetic data set: ~400 ratings of 50 users over ~110 movies (a broad catalog, so k fits). */
export function syntheticRatingsCsv(): string {
  return generateSample({
    ...SYNTHETIC_DEFAULTS,
    users: 50,
    movies: 110,
    meanRatingsPerUser: 8,
    minRatingsPerUser: 6,
    popularityExponent: 0.2,
    tasteShare: 0.3,
    genres: 6,
    seed: 7,
  }).ratingsCsv;
}

/** The prepared data set of a check, with what later steps need. */
export interface PreparedVerifyData {
  readonly config: MlConfig;
  readonly manifest: PreparedManifest;
  /** Relative path -> bytes, as Prepare writes them under `runs/<runId>/prepared/`. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** A user of the data, and the movies they rated in training (the answer must not contain them). */
  readonly user: { readonly id: number; readonly seen: readonly number[] };
}

/**
 * Prepares the synthetic ratings with the deployed ML config. The only change: k-NN's `k` is capped at
 * the catalog size, which a few hundred rows cannot reach otherwise (same keys, smaller value).
 */
export async function prepareVerifyData(ml: MlConfig): Promise<PreparedVerifyData> {
  const csv = syntheticRatingsCsv();
  const movies = new Set(
    csv
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(',')[1]),
  ).size;
  const config: MlConfig = { ...ml, knn: { ...ml.knn, k: Math.min(ml.knn.k, movies) } };
  const sink = memorySink();
  const { manifest } = await prepareRun({ sources: [bufferSource('verify.csv', csv)], sink, config });
  const train = parseSplitCsv(sink.files.get('split/train.csv')!);
  const id = train.userId[0];
  const seen: number[] = [];
  for (let i = 0; i < train.length; i++) if (train.userId[i] === id) seen.push(train.movieId[i]);
  return { config, manifest, files: sink.files, user: { id, seen } };
}

/** The k-NN training data and serving bundle built from the FM job's real `model.tar.gz`. */
export async function buildVerifyVectors(
  data: PreparedVerifyData,
  fmArtifact: Uint8Array,
  modelVersion: string,
): Promise<{ files: ReadonlyMap<string, Uint8Array>; dim: number; rows: number }> {
  const text = (path: string): string => Buffer.from(data.files.get(path)!).toString('utf8');
  const users = parseIdMapCsv(text('id-maps/users.csv'));
  const movies = parseIdMapCsv(text('id-maps/movies.csv'));
  let model;
  try {
    model = await readFmModelTarGz(fmArtifact, { featureDim: users.size + movies.size });
  } catch (error) {
    throw new VerifyCheckError(
      `the FM artifact is not in the format the core reads: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const sink = memorySink();
  const built = await buildVectors({
    model,
    users,
    movies,
    train: parseSplitCsv(data.files.get('split/train.csv')!),
    modelVersion,
    config: data.config,
    sink,
  });
  return { files: sink.files, dim: built.index.dim, rows: built.index.labels.length };
}

/** S3 layout of a check under `verify/<id>/`, mirroring a run's layout under `runs/<runId>/`. */
export function verifyUris(bucket: string, id: string) {
  const prefix = `${VERIFY_PREFIX}${id}/`;
  const uri = (path: string): string => `s3://${bucket}/${prefix}${path}`;
  return {
    prefix,
    prepared: `${prefix}prepared/`,
    vectors: `${prefix}vectors/`,
    train: uri('prepared/train/'),
    test: uri('prepared/test/'),
    fmOutput: uri('fm/'),
    knnTrain: uri('vectors/knn-train/'),
    knnOutput: uri('knn/'),
    servingBundle: uri('vectors/serving-bundle.tar.gz'),
  };
}

/** A built-in algorithm's CreateTrainingJob request, as the retrain workflow sends it (one instance). */
export function trainingJobRequest(spec: {
  readonly settings: VerifySettings;
  readonly name: string;
  readonly algorithm: 'factorization-machines' | 'knn';
  readonly hyperparameters: Record<string, string>;
  readonly channels: readonly { readonly name: string; readonly uri: string }[];
  readonly output: string;
  readonly instanceType: string;
}): CreateTrainingJobRequest {
  const { settings } = spec;
  return {
    TrainingJobName: spec.name,
    RoleArn: settings.trainingRoleArn,
    AlgorithmSpecification: {
      TrainingImage: builtinImageUriFor(settings.region, spec.algorithm),
      TrainingInputMode: 'File',
    },
    HyperParameters: spec.hyperparameters,
    InputDataConfig: spec.channels.map((channel) => ({
      ChannelName: channel.name,
      ContentType: RECORDIO,
      DataSource: {
        S3DataSource: {
          S3DataType: 'S3Prefix',
          S3Uri: channel.uri,
          S3DataDistributionType: 'FullyReplicated',
        },
      },
    })),
    OutputDataConfig: { S3OutputPath: spec.output, KmsKeyId: settings.keyArn },
    ResourceConfig: {
      InstanceType: spec.instanceType as NonNullable<
        CreateTrainingJobRequest['ResourceConfig']
      >['InstanceType'],
      InstanceCount: 1,
      VolumeSizeInGB: TRAINING_VOLUME_GB,
      VolumeKmsKeyId: settings.keyArn,
    },
    StoppingCondition: { MaxRuntimeInSeconds: TRAINING_MAX_RUNTIME_SECONDS },
    EnableNetworkIsolation: true,
    EnableInterContainerTrafficEncryption: false,
    EnableManagedSpotTraining: false,
  };
}

/** The serial inference pipeline pre -> built-in k-NN -> post, as the retrain workflow creates it. */
export function modelRequest(
  settings: VerifySettings,
  name: string,
  knnArtifact: string,
  servingBundle: string,
): CreateModelInput {
  return {
    ModelName: name,
    ExecutionRoleArn: settings.modelRoleArn,
    EnableNetworkIsolation: true,
    InferenceExecutionConfig: { Mode: 'Serial' },
    Containers: [
      {
        ContainerHostname: 'pre',
        Image: settings.servingImageUri,
        ModelDataUrl: servingBundle,
        Environment: { REELFLOW_ROLE: 'pre' },
      },
      {
        ContainerHostname: 'knn',
        Image: builtinImageUriFor(settings.region, 'knn'),
        ModelDataUrl: knnArtifact,
        Environment: { SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: SERVING_CONTENT_TYPES.accept },
      },
      {
        ContainerHostname: 'post',
        Image: settings.servingImageUri,
        ModelDataUrl: servingBundle,
        Environment: { REELFLOW_ROLE: 'post' },
      },
    ],
  };
}

/** One instance of the production variant, encrypted with the project key (as the deploy workflow). */
export function endpointConfigRequest(
  settings: VerifySettings,
  name: string,
  modelName: string,
): CreateEndpointConfigInput {
  return {
    EndpointConfigName: name,
    KmsKeyId: settings.keyArn,
    ProductionVariants: [
      {
        VariantName: VARIANT_NAME,
        ModelName: modelName,
        InstanceType: settings.endpointInstanceType as NonNullable<
          CreateEndpointConfigInput['ProductionVariants']
        >[number]['InstanceType'],
        InitialInstanceCount: 1,
        InitialVariantWeight: 1,
      },
    ],
  };
}
