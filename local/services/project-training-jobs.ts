/**
 * Local training jobs of the project's own image (SageMaker's bring-your-own-algorithm contract): the
 * iALS job the retrain workflow's TrainIALS state starts with `ml.trainer` 'ials'. The job runs as the
 * container would, on a temporary copy of the container's `/opt/ml` tree:
 *
 * 1. `input/config/hyperparameters.json` (the request's HyperParameters, strings), `inputdataconfig.json`
 *    (each channel's ContentType, TrainingInputMode, S3DistributionType, RecordWrapperType) and
 *    `resourceconfig.json` (one host) are written, and every object under each channel's S3 prefix is
 *    downloaded to `input/data/<channel>/`, at its path below the prefix (an empty prefix fails the job
 *    with SageMaker's `ClientError: No S3 objects found ...`);
 * 2. the entry the request names runs: `ContainerEntrypoint` `node /app/training.js` with
 *    `ContainerArguments` `train` is `mainTrain(root)` of functions/training/main.ts (the module the
 *    image bundles as /app/training.js); anything else fails the job as the container would (the
 *    image's default entry is the serving container, which never ends a training job);
 * 3. its log lines are matched with the request's `MetricDefinitions` regexes (the first group of the
 *    last match of each is the metric's final value: `FinalMetricDataList`), and passed on as progress;
 * 4. exit 0: `model/` is packed into the job's `model.tar.gz`; exit 1: the job fails with
 *    `AlgorithmError: <the first KB of output/failure>` as its FailureReason.
 *
 * What differs from AWS: one instance (the iALS trainer does not distribute; InstanceCount > 1 is
 * refused here, valid on AWS), File mode and S3Prefix only, no container, so the entry runs with the
 * repository's code rather than a built image.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { getObjectBytes, listObjects } from '../../functions/common/s3-io';
import { parseS3Uri } from '../../functions/common/s3-uri';
import { writeTarGz } from '../../functions/core/archive';
import { TRAINING_ARGUMENTS, TRAINING_ENTRYPOINT } from '../../functions/training/main';
import type { FinalMetric } from '../../functions/core/fm/test-metrics';
import type { TrainingJobRequest, TrainingProgress } from './training-jobs';

/** `mainTrain` of functions/training/main.ts: the container's work on its /opt/ml tree; the exit code. */
export type TrainingContainerRunner = (
  root: string,
  log: (line: string) => void,
  errorLog: (line: string) => void,
) => Promise<number>;

/** What the local runtime needs to run jobs of the project's image. */
export interface ProjectTrainingDeps {
  /** The project image: the one image besides the built-ins a training job can run locally. */
  readonly image: string;
  /** Where each job's temporary /opt/ml tree is made. */
  readonly tmpDir: string;
  readonly runContainer: TrainingContainerRunner;
}

/** A project-image job that failed, with SageMaker's FailureReason. */
export class TrainingContainerError extends Error {
  constructor(readonly failureReason: string) {
    super(failureReason);
    this.name = 'TrainingContainerError';
  }
}

const MAX_FAILURE_REASON = 1024;

/**
 * Runs a training job of the project image to its model artifact and final metrics. Throws
 * `TrainingContainerError` with the job's FailureReason when it fails.
 */
export async function runProjectTrainingJob(
  request: TrainingJobRequest,
  deps: { readonly s3: S3Client; readonly region: string; readonly project: ProjectTrainingDeps },
  onProgress?: (progress: TrainingProgress) => void,
): Promise<{ artifact: Uint8Array; finalMetrics: FinalMetric[] }> {
  checkContainer(request);
  const temp = await mkdtemp(join(deps.project.tmpDir, `reelflow-training-${request.TrainingJobName}-`));
  try {
    const root = join(temp, 'ml');
    await writeJobConfig(root, request);
    for (const channel of request.InputDataConfig ?? []) {
      await downloadChannel(root, channel, request, deps, onProgress);
    }
    await mkdir(join(root, 'model'), { recursive: true });
    await mkdir(join(root, 'output'), { recursive: true });

    const metrics = new MetricCollector(request.AlgorithmSpecification?.MetricDefinitions ?? []);
    const errors: string[] = [];
    const log = (line: string): void => {
      metrics.read(line);
      onProgress?.({ kind: 'log', line });
    };
    let code: number;
    try {
      code = await deps.project.runContainer(root, log, (line) => errors.push(line));
    } catch (error) {
      code = 1;
      errors.push(String((error as Error).stack ?? error));
    }
    if (code !== 0) {
      const failure = await readFile(join(root, 'output', 'failure'), 'utf8').catch(() => undefined);
      const reason = failure?.trim()
        ? `AlgorithmError: ${failure.trim()}`
        : `AlgorithmError: See job logs for more information (local job log: ${errors.join(' ') || `exit code ${code}`})`;
      throw new TrainingContainerError(reason.slice(0, MAX_FAILURE_REASON));
    }
    return { artifact: await packModel(join(root, 'model')), finalMetrics: metrics.final() };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/**
 * The entry the request starts must be the image's training entry: without ContainerEntrypoint the
 * image's own (the serving container) would start and never end the job; any other path does not exist.
 */
function checkContainer(request: TrainingJobRequest): void {
  const spec = request.AlgorithmSpecification;
  const entrypoint = spec?.ContainerEntrypoint ?? [];
  const args = spec?.ContainerArguments ?? [];
  const expected = `${TRAINING_ENTRYPOINT.join(' ')} ${TRAINING_ARGUMENTS.join(' ')}`;
  if (`${entrypoint.join(' ')} ${args.join(' ')}` !== expected) {
    throw new TrainingContainerError(
      `AlgorithmError: the project image trains with \`${expected}\` (ContainerEntrypoint ` +
        `${JSON.stringify(TRAINING_ENTRYPOINT)}, ContainerArguments ${JSON.stringify(TRAINING_ARGUMENTS)}); ` +
        `the request starts ${JSON.stringify([...entrypoint, ...args])}` +
        (entrypoint.length === 0
          ? ', the image default: the serving container, which never ends a training job'
          : ''),
    );
  }
  const count = request.ResourceConfig?.InstanceCount;
  if (count !== undefined && count !== 1) {
    throw new TrainingContainerError(
      `AlgorithmError: InstanceCount ${String(count)}: the local runtime runs the project image's ` +
        `training job on one instance (valid on AWS; the iALS trainer does not distribute)`,
    );
  }
}

/** `input/config/`: hyperparameters.json, inputdataconfig.json and resourceconfig.json, as SageMaker writes them. */
async function writeJobConfig(root: string, request: TrainingJobRequest): Promise<void> {
  const config = join(root, 'input', 'config');
  await mkdir(config, { recursive: true });
  await writeFile(join(config, 'hyperparameters.json'), JSON.stringify(request.HyperParameters ?? {}));
  const channels = Object.fromEntries(
    (request.InputDataConfig ?? []).map((channel) => [
      channel.ChannelName ?? '',
      {
        ...(channel.ContentType !== undefined ? { ContentType: channel.ContentType } : {}),
        TrainingInputMode: channel.InputMode ?? request.AlgorithmSpecification?.TrainingInputMode ?? 'File',
        S3DistributionType: channel.DataSource?.S3DataSource?.S3DataDistributionType ?? 'FullyReplicated',
        RecordWrapperType: channel.RecordWrapperType ?? 'None',
      },
    ]),
  );
  await writeFile(join(config, 'inputdataconfig.json'), JSON.stringify(channels));
  await writeFile(
    join(config, 'resourceconfig.json'),
    JSON.stringify({ current_host: 'algo-1', hosts: ['algo-1'], network_interface_name: 'eth0' }),
  );
}

type Channel = NonNullable<TrainingJobRequest['InputDataConfig']>[number];

/** Every object under the channel's S3 prefix, at its path below the prefix, in `input/data/<channel>/`. */
async function downloadChannel(
  root: string,
  channel: Channel,
  request: TrainingJobRequest,
  deps: { readonly s3: S3Client; readonly region: string },
  onProgress?: (progress: TrainingProgress) => void,
): Promise<void> {
  const source = channel.DataSource?.S3DataSource;
  const name = channel.ChannelName ?? '';
  if (!source?.S3Uri) throw new TrainingContainerError(`ClientError: channel ${name} has no S3DataSource`);
  const mode = channel.InputMode ?? request.AlgorithmSpecification?.TrainingInputMode ?? 'File';
  if ((source.S3DataType ?? 'S3Prefix') !== 'S3Prefix' || mode !== 'File') {
    throw new TrainingContainerError(
      `ClientError: channel ${name}: the local runtime reads S3Prefix channels in File mode only ` +
        `(got ${source.S3DataType ?? 'S3Prefix'}, ${mode}; valid on AWS)`,
    );
  }
  const { bucket, key } = parseS3Uri(source.S3Uri);
  const objects = await listObjects(deps.s3, bucket, key);
  if (objects.length === 0) {
    throw new TrainingContainerError(
      `ClientError: No S3 objects found under S3 URL "${source.S3Uri}" given in input data source. Please ` +
        `ensure that the bucket exists in the selected region (${deps.region}), that objects exist under ` +
        `that S3 prefix, and that the role "${request.RoleArn}" has "s3:ListBucket" permissions on bucket "${bucket}".`,
    );
  }
  const base = key.slice(0, key.lastIndexOf('/') + 1);
  const dir = join(root, 'input', 'data', name);
  let bytes = 0;
  for (const object of objects) {
    const file = join(dir, ...object.key.slice(base.length).split('/').filter(Boolean));
    await mkdir(join(file, '..'), { recursive: true });
    const body = await getObjectBytes(deps.s3, bucket, object.key);
    await writeFile(file, body);
    bytes += body.length;
  }
  onProgress?.({ kind: 'channel', channel: name, files: objects.length, bytes });
}

/** `model/` as SageMaker uploads it: every file, at its path below the folder, in one model.tar.gz. */
async function packModel(dir: string): Promise<Uint8Array> {
  const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  const entries: [string, Uint8Array][] = [];
  for (const entry of files) {
    const path = join(entry.parentPath, entry.name);
    entries.push([relative(dir, path).split(sep).join('/'), await readFile(path)]);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return writeTarGz(entries);
}

/**
 * The job's metrics as SageMaker reads them from its log: each definition's regex on every line, the
 * first group a number; the final value of a metric is its last match. Values that are not finite
 * numbers (a `NaN` loss) are not recorded.
 */
class MetricCollector {
  private readonly patterns: { readonly name: string; readonly regex: RegExp }[];
  private readonly last = new Map<string, number>();

  constructor(definitions: readonly { readonly Name?: string; readonly Regex?: string }[]) {
    this.patterns = definitions.map((d) => ({ name: d.Name ?? '', regex: new RegExp(d.Regex ?? '') }));
  }

  read(line: string): void {
    for (const { name, regex } of this.patterns) {
      const value = Number(regex.exec(line)?.[1]);
      if (Number.isFinite(value)) this.last.set(name, value);
    }
  }

  final(): FinalMetric[] {
    return this.patterns.flatMap(({ name }) =>
      this.last.has(name) ? [{ MetricName: name, Value: this.last.get(name)! }] : [],
    );
  }
}
