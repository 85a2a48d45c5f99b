/**
 * The iALS training entry as the project image ships it: functions/serving/Dockerfile bundles
 * functions/training/main.ts with esbuild to /out/training.js, copied to /app/ (the path TrainIALS's
 * ContainerEntrypoint names). Bundled the same way here and run as SageMaker runs it
 * (`node training.js train` on a /opt/ml tree, REELFLOW_ML_ROOT standing in for /opt/ml), the bundle
 * trains, writes the model and prints the metric lines, and on a bad hyperparameter writes
 * output/failure and exits 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { parseMlConfig } from '../../../functions/core/config';
import { decodeIalsModel, IALS_MODEL_FILE } from '../../../functions/core/ials/model-file';
import { fileSource } from '../../../functions/core/ingest';
import { prepareRun } from '../../../functions/core/prepare';
import { directorySink } from '../../../functions/core/sink';
import { TRAINING_ARGUMENTS, TRAINING_ENTRYPOINT } from '../../../functions/training/main';

const ROOT = resolve(__dirname, '../../..');
const DOCKERFILE = readFileSync(join(ROOT, 'functions/serving/Dockerfile'), 'utf8').replace(/\\\r?\n/g, ' ');

describe('the training entry bundled as in the project image', () => {
  let work: string;
  let bundle: string;
  let trainCsv: Buffer;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'reelflow-training-bundle-'));
    bundle = join(work, 'training.js');
    // The Dockerfile's own esbuild options for this entry.
    await build({
      entryPoints: [join(ROOT, 'functions/training/main.ts')],
      bundle: true,
      platform: 'node',
      target: 'node22',
      outfile: bundle,
      sourcemap: true,
      logLevel: 'silent',
    });
    await prepareRun({
      sources: [fileSource(join(ROOT, 'local/sample/ratings.csv'))],
      sink: directorySink(join(work, 'prepared')),
      config: parseMlConfig({}),
    });
    trainCsv = await readFile(join(work, 'prepared', 'split', 'train.csv'));
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('is built by the Dockerfile to the path the training jobs start', () => {
    expect(DOCKERFILE).toMatch(
      /npx esbuild functions\/training\/main\.ts --bundle --platform=node --target=node22\s+--outfile=\/out\/training\.js --sourcemap/,
    );
    // The final stage copies /out/ to its WORKDIR /app.
    expect(DOCKERFILE).toMatch(/WORKDIR \/app\s+COPY --from=build \/out\/ \.\//);
    expect([...TRAINING_ENTRYPOINT]).toEqual(['node', '/app/training.js']);
    expect([...TRAINING_ARGUMENTS]).toEqual(['train']);
  });

  async function tree(name: string, hyperparameters: Record<string, string>): Promise<string> {
    const root = join(work, name);
    await mkdir(join(root, 'input', 'config'), { recursive: true });
    await mkdir(join(root, 'input', 'data', 'train'), { recursive: true });
    await writeFile(join(root, 'input', 'config', 'hyperparameters.json'), JSON.stringify(hyperparameters));
    await writeFile(
      join(root, 'input', 'config', 'inputdataconfig.json'),
      JSON.stringify({ train: { ContentType: 'text/csv', TrainingInputMode: 'File' } }),
    );
    await writeFile(join(root, 'input', 'data', 'train', 'train.csv'), trainCsv);
    return root;
  }

  it('trains as `node training.js train`, writing the model and the metric lines', async () => {
    const root = await tree('ok', { num_factors: '6', iterations: '2' });
    const run = spawnSync(process.execPath, [bundle, ...TRAINING_ARGUMENTS], {
      env: { PATH: process.env.PATH, REELFLOW_ML_ROOT: root },
      encoding: 'utf8',
    });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    expect(run.stdout).toMatch(/^#metric train:loss=[0-9.e+-]+ iteration=2$/m);
    expect(run.stdout).toMatch(/^#metric train:final_loss=[0-9.e+-]+$/m);
    const model = decodeIalsModel(await readFile(join(root, 'model', IALS_MODEL_FILE)));
    expect(model.factors).toBe(6);
  });

  it('exits 1 with the reason in output/failure on a bad hyperparameter', async () => {
    const root = await tree('bad', { iterations: 'many' });
    const run = spawnSync(process.execPath, [bundle, 'train'], {
      env: { PATH: process.env.PATH, REELFLOW_ML_ROOT: root },
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(await readFile(join(root, 'output', 'failure'), 'utf8')).toMatch(/HyperParameters\.iterations/);
    expect(existsSync(join(root, 'model', IALS_MODEL_FILE))).toBe(false);
  });
});
