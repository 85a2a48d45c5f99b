import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseMlConfig } from '../../functions/core/config';
import { decodeIalsModel, IALS_MODEL_FILE } from '../../functions/core/ials/model-file';
import { fileSource } from '../../functions/core/ingest';
import { prepareRun } from '../../functions/core/prepare';
import { directorySink } from '../../functions/core/sink';
import { parseIdMapCsv, parseSplitCsv } from '../../functions/core/split';
import {
  IALS_METADATA_FILE,
  IALS_METRIC_DEFINITIONS,
  mainTrain,
  runTrainingJob,
} from '../../functions/training/main';

const SAMPLE = resolve(__dirname, '../../local/sample/ratings.csv');

describe('the iALS training job entry', () => {
  let work: string;
  let prepared: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'reelflow-training-test-'));
    prepared = join(work, 'prepared');
    await prepareRun({
      sources: [fileSource(SAMPLE)],
      sink: directorySink(prepared),
      config: parseMlConfig({}),
    });
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** A /opt/ml tree as SageMaker lays it out for a job with the `train` channel. */
  async function jobTree(
    name: string,
    hyperparameters: Record<string, unknown>,
    channels: Record<string, unknown> = {
      train: {
        ContentType: 'text/csv',
        TrainingInputMode: 'File',
        S3DistributionType: 'FullyReplicated',
        RecordWrapperType: 'None',
      },
    },
  ): Promise<string> {
    const root = join(work, name);
    await mkdir(join(root, 'input', 'config'), { recursive: true });
    await mkdir(join(root, 'input', 'data', 'train'), { recursive: true });
    await writeFile(join(root, 'input', 'config', 'hyperparameters.json'), JSON.stringify(hyperparameters));
    await writeFile(join(root, 'input', 'config', 'inputdataconfig.json'), JSON.stringify(channels));
    await writeFile(
      join(root, 'input', 'data', 'train', 'train.csv'),
      await readFile(join(prepared, 'split', 'train.csv')),
    );
    return root;
  }

  it('trains on the train channel, writes the model and prints the metric lines', async () => {
    const root = await jobTree('ok', { num_factors: '8', iterations: '3', alpha: '1' });
    const lines: string[] = [];
    expect(await mainTrain(root, (line) => lines.push(line))).toBe(0);

    const model = decodeIalsModel(await readFile(join(root, 'model', IALS_MODEL_FILE)));
    const train = parseSplitCsv(await readFile(join(prepared, 'split', 'train.csv')));
    expect(model.factors).toBe(8);
    expect(Array.from(model.userIds)).toEqual(Array.from(new Set(train.userId)).sort((a, b) => a - b));
    expect(Array.from(model.movieIds)).toEqual(Array.from(new Set(train.movieId)).sort((a, b) => a - b));
    // Every trained movie is one of the run's movies (BuildVectors matches them by id).
    const movies = parseIdMapCsv(await readFile(join(prepared, 'id-maps', 'movies.csv'), 'utf8'));
    for (const id of model.movieIds) expect(movies.indexOf(id)).toBeDefined();
    expect(model.itemFactors.some((v) => v !== 0)).toBe(true);

    const metadata = JSON.parse(await readFile(join(root, 'model', IALS_METADATA_FILE), 'utf8'));
    expect(metadata).toMatchObject({
      trainRows: train.length,
      hyperparameters: { num_factors: 8, iterations: 3 },
    });
    expect(existsSync(join(root, 'output', 'failure'))).toBe(false);

    // Each metric definition's regex captures one number per line it matches, as SageMaker reads the log.
    const log = lines.join('\n');
    const losses = Array.from(log.matchAll(new RegExp(IALS_METRIC_DEFINITIONS[0].Regex, 'g')), (m) =>
      Number(m[1]),
    );
    expect(losses).toHaveLength(3);
    for (const loss of losses) expect(Number.isFinite(loss) && loss > 0).toBe(true);
    const final = Array.from(log.matchAll(new RegExp(IALS_METRIC_DEFINITIONS[1].Regex, 'g')), (m) =>
      Number(m[1]),
    );
    expect(final).toEqual([losses[2]]);
  });

  it.each([
    ['a bad hyperparameter', { alpha: 'high' }, undefined, /HyperParameters\.alpha/],
    ['an unknown hyperparameter', { epochs: '3' }, undefined, /unknown hyperparameter 'epochs'/],
    ['a non-string hyperparameter', { alpha: 1 }, undefined, /'alpha' is not a string/],
    ['no train channel', {}, { validation: {} }, /no 'train' channel/],
    ['Pipe mode', {}, { train: { TrainingInputMode: 'Pipe' } }, /only File is supported/],
    [
      'recordIO content',
      {},
      { train: { ContentType: 'application/x-recordio-protobuf' } },
      /must be text\/csv/,
    ],
  ])('writes output/failure and exits 1 on %s', async (name, hyperparameters, channels, message) => {
    const root = await jobTree(name.replace(/\W+/g, '-'), hyperparameters, channels);
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await mainTrain(root, () => undefined)).toBe(1);
    } finally {
      errors.mockRestore();
    }
    expect(await readFile(join(root, 'output', 'failure'), 'utf8')).toMatch(message);
    expect(existsSync(join(root, 'model', IALS_MODEL_FILE))).toBe(false);
  });

  it('fails on a channel that is not a split CSV, naming the file', async () => {
    const root = await jobTree('bad-csv', {});
    await writeFile(join(root, 'input', 'data', 'train', 'train.csv'), 'user,item\n1,2\n');
    await expect(runTrainingJob(root, () => undefined)).rejects.toThrow(/train\.csv/);
  });

  it('reads every file of the channel', async () => {
    const root = await jobTree('two-files', { num_factors: '4', iterations: '1' });
    const text = await readFile(join(prepared, 'split', 'train.csv'), 'utf8');
    const [header, ...lines] = text.trimEnd().split('\n');
    const half = Math.floor(lines.length / 2);
    await writeFile(
      join(root, 'input', 'data', 'train', 'train.csv'),
      `${[header, ...lines.slice(0, half)].join('\n')}\n`,
    );
    await writeFile(
      join(root, 'input', 'data', 'train', 'train-2.csv'),
      `${[header, ...lines.slice(half)].join('\n')}\n`,
    );
    const result = await runTrainingJob(root, () => undefined);
    expect(result.trainRows).toBe(lines.length);
  });

  it('runs as `train` under REELFLOW_ML_ROOT and exits 2 on another command', async () => {
    const root = await jobTree('cli', { num_factors: '4', iterations: '1' });
    const tsx = resolve(__dirname, '../../node_modules/.bin/tsx');
    const entry = resolve(__dirname, '../../functions/training/main.ts');
    const env = { ...process.env, REELFLOW_ML_ROOT: root };
    const ok = spawnSync(tsx, [entry, 'train'], { env, encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/#metric train:final_loss=/);
    expect(existsSync(join(root, 'model', IALS_MODEL_FILE))).toBe(true);
    const usage = spawnSync(tsx, [entry, 'serve'], { env, encoding: 'utf8' });
    expect(usage.status).toBe(2);
  });
});
