/**
 * A SageMaker model run in-process: its containers, in order, as a serial inference pipeline. Two images
 * are known locally, the ones reelflow's models use:
 *
 * - the reelflow serving image (pre/post, chosen by `REELFLOW_ROLE`): `createServingHandler` from
 *   functions/serving/server.ts over the serving bundle at `ModelDataUrl`, i.e. the container's own
 *   request handling, minus the HTTP server around it;
 * - the built-in k-NN (`.../knn:1`): the core's exact search over the k-NN artifact at `ModelDataUrl`,
 *   with the built-in's request parsing, response formats and Accept handling (core/knn/codec.ts). It
 *   reads only the documented request content types and answers only the documented Accept types
 *   (core/algorithms/knn.json): anything else gets 415 (Content-Type) or 406 (Accept) with a message,
 *   e.g. `application/jsonlines; verbose=true`, which the docs do not list.
 *
 * In a serial pipeline each container's answer (body and Content-Type) is the next one's request. An
 * intermediate container answers in its `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT` type; the last one gets
 * the caller's Accept. A non-200 answer stops the pipeline and is the pipeline's answer, which the
 * runtime turns into a ModelError as SageMaker does.
 */
import { parseS3Uri } from '../../functions/common/s3-uri';
import {
  formatKnnResponse,
  KnnRequestError,
  knnSearch,
  parseKnnRequest,
  readKnnModelTarGz,
} from '../../functions/core/knn';
import { readServingBundle } from '../../functions/core/serving/bundle';
import { createServingHandler } from '../../functions/serving/server';
import { SageMakerApiError } from './sagemaker-errors';

/** The container parts of a CreateModel request the local runtime reads. */
export interface ContainerSpec {
  readonly ContainerHostname?: string;
  readonly Image?: string;
  readonly ModelDataUrl?: string;
  readonly Environment?: Record<string, string>;
}

/** The parts of a CreateModel request the local runtime reads. */
export interface ModelSpec {
  readonly ModelName: string;
  readonly Containers?: readonly ContainerSpec[];
  readonly PrimaryContainer?: ContainerSpec;
  /** The role the model's containers run as (CreateModel's ExecutionRoleArn). */
  readonly ExecutionRoleArn?: string;
  /** When CreateModel ran (ISO; DescribeModel's CreationTime). */
  readonly CreationTime?: string;
}

/** One invocation of a container, or of the whole pipeline. */
export interface ContainerRequest {
  readonly body: string;
  readonly contentType: string;
  readonly accept?: string;
}

export interface ContainerResponse {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
  /** Hostname of the container that answered (the failing one for a non-200 answer). */
  readonly container?: string;
}

interface Container {
  readonly hostname: string;
  readonly defaultAccept?: string;
  invoke(request: ContainerRequest): ContainerResponse;
}

/** A model loaded for serving: what one fleet (or one transform job) runs. */
export interface LoadedModel {
  readonly modelName: string;
  /** The serving bundle's model version (the run id), when a reelflow container holds one. */
  readonly modelVersion?: string;
  /**
   * What the model was loaded from (its spec and the bytes of each ModelDataUrl), so an endpoint
   * instance on another thread loads its own copy, as each SageMaker instance downloads the model data.
   */
  readonly source?: ModelSource;
  invoke(request: ContainerRequest): ContainerResponse;
}

/** A model's spec and its containers' model data, by `s3://` URL. */
export interface ModelSource {
  readonly spec: ModelSpec;
  readonly data: ReadonlyMap<string, Uint8Array>;
}

/** Reads the bytes of an `s3://` model data URL. */
export type ObjectReader = (bucket: string, key: string) => Promise<Uint8Array>;

const KNN_IMAGE = /\/knn(:[^/]*)?$/;

/** Loads every container's model data and returns the runnable pipeline. */
export async function loadModel(spec: ModelSpec, read: ObjectReader): Promise<LoadedModel> {
  const data = new Map<string, Uint8Array>();
  const model = await loadContainers(spec, async (bucket, key) => {
    const bytes = await read(bucket, key);
    data.set(`s3://${bucket}/${key}`, bytes);
    return bytes;
  });
  return { ...model, source: { spec, data } };
}

/** Loads a model again from its source (an endpoint instance's own copy). */
export function loadModelFromSource(source: ModelSource): Promise<LoadedModel> {
  return loadContainers(source.spec, async (bucket, key) => {
    const bytes = source.data.get(`s3://${bucket}/${key}`);
    if (!bytes) throw new SageMakerApiError('ValidationException', `no model data at s3://${bucket}/${key}`);
    return bytes;
  });
}

async function loadContainers(spec: ModelSpec, read: ObjectReader): Promise<LoadedModel> {
  const specs = spec.Containers ?? (spec.PrimaryContainer ? [spec.PrimaryContainer] : []);
  if (specs.length === 0) {
    throw new SageMakerApiError('ValidationException', `model ${spec.ModelName} has no container`);
  }
  const containers: Container[] = [];
  let modelVersion: string | undefined;
  for (const [i, container] of specs.entries()) {
    const hostname = container.ContainerHostname ?? `container-${i + 1}`;
    const image = container.Image ?? '';
    if (!container.ModelDataUrl) {
      throw new SageMakerApiError(
        'ValidationException',
        `container ${hostname} of ${spec.ModelName} has no ModelDataUrl`,
      );
    }
    const { bucket, key } = parseS3Uri(container.ModelDataUrl);
    const data = await read(bucket, key);
    const env = container.Environment ?? {};
    const defaultAccept = env.SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT;
    const role = env.REELFLOW_ROLE;
    if (KNN_IMAGE.test(image)) {
      containers.push(await knnContainer(hostname, data, defaultAccept));
    } else if (role === 'pre' || role === 'post') {
      const bundle = await readServingBundle(data);
      modelVersion ??= bundle.manifest.modelVersion;
      const handle = createServingHandler(role, bundle);
      containers.push({
        hostname,
        defaultAccept,
        invoke: (request) => ({ ...handle(request), container: hostname }),
      });
    } else {
      throw new SageMakerApiError(
        'ValidationException',
        `container ${hostname} of ${spec.ModelName} runs image '${image}'; the local runtime runs the built-in ` +
          `k-NN and the reelflow serving image (REELFLOW_ROLE=pre|post) only`,
      );
    }
  }
  return {
    modelName: spec.ModelName,
    modelVersion,
    invoke: (request) => invokePipeline(containers, request),
  };
}

function invokePipeline(containers: readonly Container[], request: ContainerRequest): ContainerResponse {
  let current: ContainerResponse = { status: 200, body: request.body, contentType: request.contentType };
  for (const [i, container] of containers.entries()) {
    const last = i === containers.length - 1;
    const accept = last ? request.accept : container.defaultAccept;
    try {
      current = container.invoke({ body: current.body, contentType: current.contentType, accept });
    } catch (error) {
      current = jsonAnswer(
        500,
        `${container.hostname} failed: ${(error as Error).message}`,
        container.hostname,
      );
    }
    if (current.status !== 200) return { ...current, container: container.hostname };
  }
  return current;
}

/** The built-in k-NN container over its `model.tar.gz`: k and predictor type come from the artifact. */
async function knnContainer(hostname: string, data: Uint8Array, defaultAccept?: string): Promise<Container> {
  const model = await readKnnModelTarGz(data);
  return {
    hostname,
    defaultAccept,
    invoke(request) {
      try {
        const parsed = parseKnnRequest(request.body, request.contentType, model.index.dim);
        const result = knnSearch(model.index, parsed.vectors, parsed.count, model.k);
        // No Accept: the container's first documented type (application/json), as formatKnnResponse does.
        const out = formatKnnResponse(result, request.accept ?? '', model.predictorType);
        return { status: 200, body: out.body, contentType: out.contentType, container: hostname };
      } catch (error) {
        if (error instanceof KnnRequestError) return jsonAnswer(error.status, error.message, hostname);
        throw error;
      }
    },
  };
}

function jsonAnswer(status: number, message: string, container: string): ContainerResponse {
  return { status, body: JSON.stringify({ message }), contentType: 'application/json', container };
}
