/**
 * The iALS training job's entry in the project's own image (SageMaker's bring-your-own-algorithm
 * contract: SageMaker runs the image with the argument `train`, or `ContainerEntrypoint`
 * `['node', '/app/training.js']` and `ContainerArguments` `['train']`):
 *
 *   <root>/input/config/hyperparameters.json   CreateTrainingJob HyperParameters, every value a string
 *                                              (functions/core/ials/config.ts)
 *   <root>/input/config/inputdataconfig.json   the channels; `train` is required, File mode, text/csv
 *   <root>/input/data/train/…                  Prepare's split/train.csv (every file of the channel is
 *                                              read, each a split CSV with its header)
 *   <root>/model/ials-model.bin                the model (functions/core/ials/model-file.ts); SageMaker
 *                                              uploads this folder as the job's model.tar.gz
 *   <root>/model/ials-model.json               the hyperparameters used, sizes and losses
 *   <root>/output/failure                      on error: the reason (the job's FailureReason); exit 1
 *   stdout                                     `#metric train:loss=<x> iteration=<i>` per iteration and
 *                                              `#metric train:final_loss=<x>`: IALS_METRIC_DEFINITIONS
 *
 * Why the split CSV and not the FM recordIO shards: it has every training rating with its value (the
 * `rating`/`log-rating` confidences need it) whatever the FM encoding objective (the `workshop` one
 * labels ratings below 4 as 0), no sampled negatives (iALS treats every unobserved pair as a zero; the
 * shards are ~5 times larger), and original ids, which the model keeps so BuildVectors matches them
 * with the run's id maps. `root` is `REELFLOW_ML_ROOT` or /opt/ml, so the local twin and the tests run
 * the same code on a temporary tree.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ialsHyperparametersFromStrings, type IalsHyperparameters } from '../core/ials/config';
import { IALS_MODEL_FILE, encodeIalsModel } from '../core/ials/model-file';
import { trainIalsModel } from '../core/ials/model';
import { parseSplitCsv, type SplitRows } from '../core/split';

/** The default root of SageMaker's training container contract. */
export const SAGEMAKER_ML_ROOT = '/opt/ml';

/** The training channel the job reads. */
export const TRAIN_CHANNEL = 'train';

/**
 * How a training job starts this entry in the project's image (functions/serving/Dockerfile bundles it
 * as /app/training.js): `AlgorithmSpecification.ContainerEntrypoint` and `ContainerArguments`.
 */
export const TRAINING_ENTRYPOINT = ['node', '/app/training.js'] as const;
export const TRAINING_ARGUMENTS = ['train'] as const;

/** The model's metadata file next to the model (hyperparameters, sizes, losses). */
export const IALS_METADATA_FILE = 'ials-model.json';

/**
 * CreateTrainingJob `AlgorithmSpecification.MetricDefinitions` for the lines this entry prints (SageMaker
 * applies each regex to the job's log and records the first group).
 */
export const IALS_METRIC_DEFINITIONS = [
  { Name: 'train:loss', Regex: '#metric train:loss=([-+0-9.eE]+|NaN)' },
  { Name: 'train:final_loss', Regex: '#metric train:final_loss=([-+0-9.eE]+|NaN)' },
] as const;

/** Thrown for a job the entry cannot run (bad configuration or input); its message is the FailureReason. */
export class TrainingJobError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TrainingJobError';
  }
}

export interface TrainingJobResult {
  readonly hyperparameters: IalsHyperparameters;
  readonly trainRows: number;
  readonly users: number;
  readonly movies: number;
  readonly finalLoss: number;
  readonly modelFiles: readonly string[];
}

/**
 * Runs one training job on the tree under `root`: reads the configuration and the `train` channel,
 * trains, writes the model, prints the metric lines through `log`. Errors propagate (see `mainTrain`
 * for the failure file and exit code).
 */
export async function runTrainingJob(
  root: string,
  log: (line: string) => void = (line) => console.log(line),
): Promise<TrainingJobResult> {
  const config = join(root, 'input', 'config');
  const strings = await readJsonObject(join(config, 'hyperparameters.json'), true);
  for (const [key, value] of Object.entries(strings)) {
    if (typeof value !== 'string') {
      throw new TrainingJobError(`hyperparameters.json: '${key}' is not a string (SageMaker passes strings)`);
    }
  }
  const hyperparameters = ialsHyperparametersFromStrings(strings);
  const channels = await readJsonObject(join(config, 'inputdataconfig.json'), false);
  checkChannels(channels);

  const rows = await readTrainChannel(join(root, 'input', 'data', TRAIN_CHANNEL));
  log(`iALS: ${rows.length} training ratings; ${describe(hyperparameters)}`);
  const { model, losses } = trainIalsModel(rows, hyperparameters, {
    onIteration: (r) => {
      log(`#metric train:loss=${r.loss} iteration=${r.iteration}`);
      log(`iteration ${r.iteration}/${r.iterations}  loss ${r.loss.toFixed(6)}  ${Math.round(r.millis)} ms`);
    },
  });
  const finalLoss = losses[losses.length - 1];
  log(`#metric train:final_loss=${finalLoss}`);

  const modelDir = join(root, 'model');
  await mkdir(modelDir, { recursive: true });
  await writeFile(join(modelDir, IALS_MODEL_FILE), encodeIalsModel(model));
  const metadata = {
    formatVersion: 1,
    algorithm: 'reelflow-ials',
    hyperparameters,
    trainRows: rows.length,
    users: model.userIds.length,
    movies: model.movieIds.length,
    losses,
  };
  await writeFile(join(modelDir, IALS_METADATA_FILE), `${JSON.stringify(metadata, null, 2)}\n`);
  return {
    hyperparameters,
    trainRows: rows.length,
    users: model.userIds.length,
    movies: model.movieIds.length,
    finalLoss,
    modelFiles: [IALS_MODEL_FILE, IALS_METADATA_FILE],
  };
}

/**
 * The container's `train` command: runs the job; on any error writes the reason to
 * `<root>/output/failure` (SageMaker's FailureReason, first 1 KB) and returns exit code 1. Exported so
 * the local twin can run it on a job instance (`log` and `errorLog` are the container's stdout and
 * stderr).
 */
export async function mainTrain(
  root: string = process.env.REELFLOW_ML_ROOT ?? SAGEMAKER_ML_ROOT,
  log: (line: string) => void = (line) => console.log(line),
  errorLog: (line: string) => void = (line) => console.error(line),
): Promise<number> {
  try {
    await runTrainingJob(root, log);
    return 0;
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    errorLog(reason);
    try {
      await mkdir(join(root, 'output'), { recursive: true });
      await writeFile(join(root, 'output', 'failure'), reason);
    } catch (writeError) {
      errorLog(`cannot write ${join(root, 'output', 'failure')}: ${String(writeError)}`);
    }
    return 1;
  }
}

async function readJsonObject(file: string, optional: boolean): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (optional && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new TrainingJobError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TrainingJobError(`${file} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TrainingJobError(`${file} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** The `train` channel must exist, in File mode (the files on disk), as CSV when a content type is set. */
function checkChannels(channels: Record<string, unknown>): void {
  const train = channels[TRAIN_CHANNEL] as Record<string, unknown> | undefined;
  if (!train) {
    throw new TrainingJobError(
      `inputdataconfig.json has no '${TRAIN_CHANNEL}' channel (channels: ${Object.keys(channels).join(', ') || 'none'})`,
    );
  }
  const mode = train.TrainingInputMode;
  if (mode !== undefined && mode !== 'File') {
    throw new TrainingJobError(
      `channel '${TRAIN_CHANNEL}' has TrainingInputMode ${String(mode)}; only File is supported`,
    );
  }
  const type = train.ContentType;
  if (type !== undefined && !/^text\/csv\b/.test(String(type))) {
    throw new TrainingJobError(
      `channel '${TRAIN_CHANNEL}' has ContentType ${String(type)}; it must be text/csv (Prepare's split/train.csv)`,
    );
  }
  const wrapper = train.RecordWrapperType;
  if (wrapper !== undefined && wrapper !== 'None') {
    throw new TrainingJobError(
      `channel '${TRAIN_CHANNEL}' has RecordWrapperType ${String(wrapper)}; only None is supported`,
    );
  }
}

/** Every file under the channel folder (recursively, sorted by path), each a split CSV. */
async function readTrainChannel(dir: string): Promise<SplitRows> {
  let entries: string[];
  try {
    entries = (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => join(e.parentPath, e.name))
      .sort();
  } catch (error) {
    throw new TrainingJobError(
      `cannot read the '${TRAIN_CHANNEL}' channel at ${dir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (entries.length === 0)
    throw new TrainingJobError(`the '${TRAIN_CHANNEL}' channel at ${dir} has no files`);
  const parts: SplitRows[] = [];
  for (const file of entries) {
    try {
      parts.push(parseSplitCsv(await readFile(file)));
    } catch (error) {
      throw new TrainingJobError(`${file}: ${(error as Error).message}`, { cause: error });
    }
  }
  const rows = parts.length === 1 ? parts[0] : concatRows(parts);
  if (rows.length === 0) throw new TrainingJobError(`the '${TRAIN_CHANNEL}' channel has no ratings`);
  return rows;
}

function concatRows(parts: readonly SplitRows[]): SplitRows {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const out = {
    length,
    userId: new Int32Array(length),
    movieId: new Int32Array(length),
    rating: new Float32Array(length),
    timestamp: new Float64Array(length),
  };
  let at = 0;
  for (const p of parts) {
    out.userId.set(p.userId.subarray(0, p.length), at);
    out.movieId.set(p.movieId.subarray(0, p.length), at);
    out.rating.set(p.rating.subarray(0, p.length), at);
    out.timestamp.set(p.timestamp.subarray(0, p.length), at);
    at += p.length;
  }
  return out;
}

function describe(p: IalsHyperparameters): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

if (require.main === module) {
  const command = process.argv[2];
  if (command !== 'train') {
    console.error(
      `usage: training.js train   (SageMaker's training container contract; got ${command ?? 'nothing'})`,
    );
    process.exit(2);
  }
  void mainTrain().then((code) => process.exit(code));
}
