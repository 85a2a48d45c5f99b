/**
 * Local SageMaker Processing jobs of the project image: what CreateProcessingJob checks when it is called,
 * and the job itself as a Processing instance runs it:
 *
 * 1. each `ProcessingInputs[].S3Input` (S3Prefix, File mode) is downloaded into the job's root, the
 *    container's `/opt/ml/processing/...` `LocalPath` mapped to `<temp>/processing/...`, keeping each
 *    object's path below the prefix (as SageMaker does);
 * 2. the container runs: the project image's Processing entry (`node /app/processing.js <step>`, i.e.
 *    `runProcessingStep(step, root, env)` of functions/processing/main.ts) with the request's
 *    `Environment` plus the variables that point the AWS SDK at the local services;
 * 3. each `ProcessingOutputConfig.Outputs[].S3Output` `LocalPath` is uploaded under its `S3Uri`
 *    (`EndOfJob`), the temp root is removed, and the job resolves with its DescribeProcessingJob output.
 *
 * A container that exits non-zero (the step throws) ends the job `Failed` with SageMaker's
 * `AlgorithmError` FailureReason and the first KB of `/opt/ml/output/message` as `ExitMessage`; an image
 * other than the project's fails like an image SageMaker cannot pull. Only the project image is known
 * locally (the image the rendered definitions name, RENDER_PLACEHOLDERS.servingImage).
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { getObjectBytes, listObjects } from '../../functions/common/s3-io';
import { parseS3Uri } from '../../functions/common/s3-uri';
import { sageMakerArn, SageMakerApiError, SageMakerJobFailedError } from './sagemaker-errors';

/** The parts of a CreateProcessingJob request the local job reads (PascalCase, as the Task passes it). */
export interface ProcessingJobRequest {
  readonly ProcessingJobName: string;
  readonly RoleArn?: string;
  readonly AppSpecification?: {
    readonly ImageUri?: string;
    readonly ContainerEntrypoint?: readonly string[];
    readonly ContainerArguments?: readonly string[];
  };
  readonly ProcessingInputs?: readonly {
    readonly InputName?: string;
    readonly AppManaged?: boolean;
    readonly S3Input?: {
      readonly S3Uri?: string;
      readonly LocalPath?: string;
      readonly S3DataType?: string;
      readonly S3InputMode?: string;
      readonly S3DataDistributionType?: string;
      readonly S3CompressionType?: string;
    };
    readonly DatasetDefinition?: Record<string, unknown>;
  }[];
  readonly ProcessingOutputConfig?: {
    readonly Outputs?: readonly {
      readonly OutputName?: string;
      readonly AppManaged?: boolean;
      readonly S3Output?: {
        readonly S3Uri?: string;
        readonly LocalPath?: string;
        readonly S3UploadMode?: string;
      };
      readonly FeatureStoreOutput?: Record<string, unknown>;
    }[];
    readonly KmsKeyId?: string;
  };
  readonly ProcessingResources?: {
    readonly ClusterConfig?: { readonly InstanceCount?: number; readonly InstanceType?: string };
  };
  readonly StoppingCondition?: { readonly MaxRuntimeInSeconds?: number };
  readonly Environment?: Readonly<Record<string, string>>;
  readonly NetworkConfig?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

/** Where a Processing container finds its inputs and leaves its outputs. */
export const PROCESSING_ROOT = '/opt/ml/processing';
/** The file whose first KB SageMaker reports as ExitMessage (byoc-metadata.html). */
export const EXIT_MESSAGE_PATH = '/opt/ml/output/message';
/** The project image's Processing entry point (functions/serving/Dockerfile bundles it there). */
export const PROJECT_PROCESSING_ENTRYPOINT: readonly string[] = ['node', '/app/processing.js'];

/** `runProcessingStep` of functions/processing/main.ts: the container's work, given its root. */
export type ProcessingStepRunner = (
  step: string,
  root: string,
  env: Readonly<Record<string, string>>,
) => Promise<void>;

export interface ProcessingJobDeps {
  readonly s3: S3Client;
  readonly region: string;
  readonly account: string;
  /** The project image: the only image the local runtime can run. */
  readonly projectImage: string;
  /** The container's environment besides the request's (the local SDK endpoints and credentials). */
  readonly baseEnvironment: Readonly<Record<string, string>>;
  /** Where the job's temp root is made. */
  readonly tmpDir: string;
  readonly runStep: ProcessingStepRunner;
  readonly onProgress?: (progress: ProcessingProgress) => void;
}

/** Progress of a running job, for the terminal. */
export type ProcessingProgress =
  | {
      readonly kind: 'processing-input';
      readonly input: string;
      readonly files: number;
      readonly bytes: number;
    }
  | { readonly kind: 'processing-output'; readonly output: string; readonly files: number };

const invalid = (message: string): SageMakerApiError => new SageMakerApiError('ValidationException', message);

/**
 * What CreateProcessingJob refuses before a job exists (beyond the API model, which the binding checks):
 * the role, LocalPaths under /opt/ml/processing/, unique input and output names and paths, and the
 * settings the local stand-in does not model (said so, never silently ignored).
 */
export function validateProcessingJob(request: ProcessingJobRequest): void {
  if (!request.RoleArn) {
    throw invalid(
      "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
    );
  }
  if (!request.AppSpecification?.ImageUri) {
    throw invalid(
      "1 validation error detected: Value null at 'appSpecification.imageUri' failed to satisfy constraint: Member must not be null",
    );
  }
  const inputs = request.ProcessingInputs ?? [];
  const outputs = request.ProcessingOutputConfig?.Outputs ?? [];
  const names = new Set<string>();
  const paths = new Set<string>();
  const checkPath = (what: string, name: string, localPath: string | undefined): void => {
    // API_ProcessingS3Input: "LocalPath is an absolute path ... and must begin with /opt/ml/processing/"
    // (required unless AppManaged). The wording of the refusal is not documented; the rule is.
    if (!localPath || !localPath.startsWith(`${PROCESSING_ROOT}/`) || localPath.split('/').includes('..')) {
      throw invalid(
        `${what} ${name}: LocalPath ${String(localPath)} is not a valid path; it must be an absolute path ` +
          `under ${PROCESSING_ROOT}/`,
      );
    }
    // Two inputs (or two outputs) on one LocalPath are refused (a ValidationException on AWS).
    const normal = `${what}:${localPath.replace(/\/+$/, '')}`;
    if (paths.has(normal))
      throw invalid(`${what} ${name}: LocalPath ${localPath} is used by another ${what}`);
    paths.add(normal);
  };
  for (const input of inputs) {
    const name = input.InputName ?? '';
    if (names.has(name))
      throw invalid(`InputName ${name} is used more than once; input names must be unique`);
    names.add(name);
    if (input.DatasetDefinition || input.AppManaged) {
      throw invalid(
        `ProcessingInput ${name}: only S3Input is supported locally (no DatasetDefinition or AppManaged)`,
      );
    }
    const s3 = input.S3Input;
    if (!s3) throw invalid(`ProcessingInput ${name}: one of S3Input or DatasetDefinition is required`);
    checkPath('ProcessingInput', name, s3.LocalPath);
    if (s3.S3DataType !== 'S3Prefix') {
      throw invalid(
        `ProcessingInput ${name}: S3DataType ${String(s3.S3DataType)} is not supported locally (use S3Prefix)`,
      );
    }
    if ((s3.S3InputMode ?? 'File') !== 'File' || (s3.S3CompressionType ?? 'None') !== 'None') {
      throw invalid(`ProcessingInput ${name}: only File mode without compression is supported locally`);
    }
  }
  const outputNames = new Set<string>();
  for (const output of outputs) {
    const name = output.OutputName ?? '';
    if (outputNames.has(name))
      throw invalid(`OutputName ${name} is used more than once; output names must be unique`);
    outputNames.add(name);
    if (!output.S3Output || output.FeatureStoreOutput || output.AppManaged) {
      throw invalid(`ProcessingOutput ${name}: only S3Output is supported locally`);
    }
    checkPath('ProcessingOutput', name, output.S3Output.LocalPath);
    if (output.S3Output.S3UploadMode !== 'EndOfJob') {
      throw invalid(`ProcessingOutput ${name}: only S3UploadMode EndOfJob is supported locally`);
    }
  }
  const count = request.ProcessingResources?.ClusterConfig?.InstanceCount ?? 1;
  if (count !== 1) {
    throw invalid(
      `InstanceCount ${count}: the local runtime runs a Processing job on one instance (valid on AWS; use 1 locally)`,
    );
  }
}

/** The container path `localPath` (under /opt/ml/processing/) inside the job's local root. */
export function localPathIn(root: string, localPath: string): string {
  return join(root, ...posix.relative(PROCESSING_ROOT, localPath).split('/'));
}

/**
 * Runs a Processing job to its end. Resolves with the DescribeProcessingJob output of the completed job;
 * rejects with SageMakerJobFailedError (carrying the Failed description) when the job fails.
 */
export async function runProcessingJob(
  request: ProcessingJobRequest,
  deps: ProcessingJobDeps,
): Promise<Record<string, unknown>> {
  validateProcessingJob(request);
  const name = request.ProcessingJobName;
  const started = new Date();
  const describe = (extra: Record<string, unknown>): Record<string, unknown> => {
    const ended = new Date();
    return {
      ProcessingJobName: name,
      ProcessingJobArn: sageMakerArn(deps.region, deps.account, 'processing-job', name),
      ProcessingInputs: request.ProcessingInputs,
      ProcessingOutputConfig: request.ProcessingOutputConfig,
      ProcessingResources: request.ProcessingResources,
      StoppingCondition: request.StoppingCondition,
      AppSpecification: request.AppSpecification,
      Environment: request.Environment,
      NetworkConfig: request.NetworkConfig,
      RoleArn: request.RoleArn,
      CreationTime: started.toISOString(),
      ProcessingStartTime: started.toISOString(),
      ProcessingEndTime: ended.toISOString(),
      LastModifiedTime: ended.toISOString(),
      ...extra,
    };
  };
  const failed = (reason: string, exitMessage?: string): SageMakerJobFailedError =>
    new SageMakerJobFailedError(
      describe({
        ProcessingJobStatus: 'Failed',
        FailureReason: reason,
        ...(exitMessage !== undefined ? { ExitMessage: exitMessage } : {}),
      }),
      reason,
    );

  const app = request.AppSpecification!;
  if (app.ImageUri !== deps.projectImage) {
    // What a job whose image SageMaker cannot pull ends with; locally only the project image exists.
    throw failed(
      `ClientError: API error (404): manifest for ${app.ImageUri} not found: manifest unknown: Requested ` +
        `image not found (the local runtime runs the project image ${deps.projectImage} only)`,
    );
  }

  const temp = await mkdtemp(join(deps.tmpDir, `reelflow-processing-${name}-`));
  try {
    const root = join(temp, 'processing');
    await mkdir(root, { recursive: true });
    try {
      for (const input of request.ProcessingInputs ?? []) await download(input, root, request, deps);
    } catch (error) {
      throw failed(`ClientError: ${(error as Error).message}`);
    }
    // API_ProcessingS3Output: the output directory "will be created by the platform and exist when your
    // container's entrypoint is invoked".
    for (const output of request.ProcessingOutputConfig?.Outputs ?? []) {
      await mkdir(localPathIn(root, output.S3Output!.LocalPath!), { recursive: true });
    }
    const messageFile = join(temp, ...posix.relative('/opt/ml', EXIT_MESSAGE_PATH).split('/'));
    await mkdir(join(messageFile, '..'), { recursive: true });

    const entrypoint = app.ContainerEntrypoint ?? [];
    const step = app.ContainerArguments?.[0] ?? '';
    const env = { ...deps.baseEnvironment, ...(request.Environment ?? {}), REELFLOW_PROCESSING_ROOT: root };
    try {
      if (entrypoint.join(' ') !== PROJECT_PROCESSING_ENTRYPOINT.join(' ')) {
        throw new Error(
          `the project image runs ${PROJECT_PROCESSING_ENTRYPOINT.join(' ')}; ContainerEntrypoint ` +
            `${JSON.stringify(entrypoint)} does not exist in it`,
        );
      }
      await deps.runStep(step, root, env);
    } catch (error) {
      const message = await exitMessage(messageFile);
      // SageMaker's reason for a container that exits non-zero; "the job logs" are the step's error here.
      const log = (error as Error).message;
      throw failed(
        `AlgorithmError: See job logs for more information (local job log: ${log})`.slice(0, 1024),
        message,
      );
    }
    const message = await exitMessage(messageFile);
    try {
      for (const output of request.ProcessingOutputConfig?.Outputs ?? []) await upload(output, root, deps);
    } catch (error) {
      throw failed(`ClientError: ${(error as Error).message}`, message);
    }
    return describe({
      ProcessingJobStatus: 'Completed',
      ...(message !== undefined ? { ExitMessage: message } : {}),
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

type ProcessingInput = NonNullable<ProcessingJobRequest['ProcessingInputs']>[number];
type ProcessingOutput = NonNullable<
  NonNullable<ProcessingJobRequest['ProcessingOutputConfig']>['Outputs']
>[number];

/** Every object under the input's S3 prefix, at its path below the prefix under LocalPath. */
async function download(
  input: ProcessingInput,
  root: string,
  request: ProcessingJobRequest,
  deps: ProcessingJobDeps,
): Promise<void> {
  const source = input.S3Input!;
  const { bucket, key } = parseS3Uri(source.S3Uri!);
  const objects = await listObjects(deps.s3, bucket, key);
  if (objects.length === 0) {
    throw new Error(
      `No S3 objects found under S3 URL "${source.S3Uri}" given in input data source. Please ensure that the ` +
        `bucket exists in the selected region (${deps.region}), that objects exist under that S3 prefix, and ` +
        `that the role "${request.RoleArn}" has "s3:ListBucket" permissions on bucket "${bucket}".`,
    );
  }
  // Below a prefix ending in '/', the path after it; otherwise the path after its last '/'.
  const base = key.slice(0, key.lastIndexOf('/') + 1);
  const target = localPathIn(root, source.LocalPath!);
  let bytes = 0;
  for (const object of objects) {
    const file = join(target, ...object.key.slice(base.length).split('/').filter(Boolean));
    await mkdir(join(file, '..'), { recursive: true });
    const body = await getObjectBytes(deps.s3, bucket, object.key);
    await writeFile(file, body);
    bytes += body.length;
  }
  deps.onProgress?.({ kind: 'processing-input', input: input.InputName ?? '', files: objects.length, bytes });
}

/** Every file under the output's LocalPath, under its S3Uri at the same relative path. */
async function upload(output: ProcessingOutput, root: string, deps: ProcessingJobDeps): Promise<void> {
  const target = output.S3Output!;
  const { bucket, key } = parseS3Uri(target.S3Uri!);
  const prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
  const dir = localPathIn(root, target.LocalPath!);
  const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) =>
    entry.isFile(),
  );
  for (const entry of files) {
    const path = join(entry.parentPath, entry.name);
    const name = relative(dir, path).split(sep).join('/');
    await deps.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${name}`, Body: await readFile(path) }),
    );
  }
  deps.onProgress?.({ kind: 'processing-output', output: output.OutputName ?? '', files: files.length });
}

/** The first KB of the container's message file, when it wrote one. */
async function exitMessage(file: string): Promise<string | undefined> {
  try {
    const bytes = await readFile(file);
    return bytes.subarray(0, 1024).toString('utf8');
  } catch {
    return undefined;
  }
}
