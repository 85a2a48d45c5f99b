/**
 * Golden hashes of everything `prepareRun` writes and returns, for a small generated data set under
 * several configurations. The hashes were taken from the implementation before the Prepare step was
 * reworked for memory and speed (issue 11): the same input and seed must keep giving the same bytes
 * (recordIO shards, split files, id maps, validation.json, manifest, transform input) and the same
 * in-memory examples. A change here is a change of the data contract, never a refactoring detail.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseMlConfig } from '../../functions/core/config';
import { bufferSource } from '../../functions/core/ingest';
import { prepareRun } from '../../functions/core/prepare';
import { directorySink } from '../../functions/core/sink';
import { writeSplitArtifacts } from '../../functions/core/split';
import type { SparseExamples } from '../../functions/core/types';
import { SyntheticWorld, syntheticRatingsCsv } from '../../local/sample/synthetic';

const NOW = new Date('2026-01-01T00:00:00Z');

/** Two batches: a generated ratings.csv, then a later batch that re-rates some pairs and has a bad row. */
function sources() {
  const world = new SyntheticWorld({ users: 150, movies: 300, meanRatingsPerUser: 25, seed: 11 });
  const first = Array.from(syntheticRatingsCsv(world)).join('');
  const rows = first.trim().split('\n').slice(1);
  const later: string[] = ['userId,movieId,rating,timestamp'];
  for (let i = 0; i < rows.length; i += 37) {
    const [u, m, , t] = rows[i].split(',');
    // Every other one keeps its timestamp (the later batch wins the tie), the rest are newer.
    later.push(`${u},${m},${i % 2 ? '2.5' : '4.0'},${Number(t) + (i % 2 ? 0 : 3600)}`);
  }
  later.push('7,not-a-movie,4.0,1300000000');
  later.push('999999,12,3.5,1300000000');
  return [bufferSource('ratings/a.csv', first, 4096), bufferSource('ratings/b.csv', `${later.join('\n')}\n`)];
}

function sha(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

function filesUnder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(dir, path)] = sha(readFileSync(path));
    }
  };
  walk(dir);
  return out;
}

function examplesHash(examples: SparseExamples): string {
  const hash = createHash('sha256');
  hash.update(`${examples.featureDim}/${examples.length}`);
  for (const array of [examples.rowPtr, examples.cols, examples.vals, examples.label]) {
    hash.update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  }
  return hash.digest('hex').slice(0, 16);
}

const CASES: Record<string, Record<string, unknown>> = {
  implicitUniform: { seed: 3, encoding: { shardMaxBytes: 65536 } },
  implicitPopularity: {
    seed: 5,
    encoding: { negativeSampling: 'popularity', popularityExponent: 0.75, negativeRatio: 2.5 },
  },
  workshop: { seed: 8, encoding: { objective: 'workshop', shardMaxBytes: 32768 } },
  globalTime: { seed: 1, split: { mode: 'global-time', cutoffTimestamp: 1400000000 } },
};

async function hashRun(config: Record<string, unknown>): Promise<Record<string, string>> {
  const out = mkdtempSync(join(tmpdir(), 'prepare-golden-'));
  try {
    const run = await prepareRun({
      sources: sources(),
      sink: directorySink(join(out, 'prepared')),
      config: parseMlConfig(config),
      now: NOW,
    });
    await writeSplitArtifacts(join(out, 'split-artifacts'), run.ratings, run.split);
    return {
      ...filesUnder(out),
      'result.train': examplesHash(run.train),
      'result.test': examplesHash(run.test),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const GOLDEN: Record<string, Record<string, string>> = {
  implicitUniform: {
    'prepared/id-maps/movies.csv': 'fd9353b778090b34',
    'prepared/id-maps/users.csv': 'e92d95d70da8e282',
    'prepared/manifest.json': 'b548563aac955373',
    'prepared/split/test.csv': 'd1bb05750611b8e3',
    'prepared/split/train.csv': '0dd48afeae589483',
    'prepared/test/part-00000.recordio': '6bd3f1a63e4e1ae5',
    'prepared/test/part-00001.recordio': 'f33c5a9ff23433a8',
    'prepared/test/part-00002.recordio': 'feeb3bd056f85539',
    'prepared/test/part-00003.recordio': '8e7f5f0ecea0a329',
    'prepared/train/part-00000.recordio': 'f11323bacd16c64f',
    'prepared/train/part-00001.recordio': 'ae1f7bb42cbff18c',
    'prepared/train/part-00002.recordio': 'a9c2cc15faa6a034',
    'prepared/train/part-00003.recordio': 'c2089e31e986f46a',
    'prepared/train/part-00004.recordio': 'fe18b7248daf1def',
    'prepared/train/part-00005.recordio': '4f64e675f395dcca',
    'prepared/train/part-00006.recordio': 'daef4bcb1a67059a',
    'prepared/train/part-00007.recordio': '3af25e9ace00c2ee',
    'prepared/train/part-00008.recordio': 'c7c82057baf55fec',
    'prepared/train/part-00009.recordio': '4b1fd1e646b9700c',
    'prepared/train/part-00010.recordio': '4d80e8132ab0eec4',
    'prepared/train/part-00011.recordio': '792efce939dcc33e',
    'prepared/train/part-00012.recordio': '62163432965ce97d',
    'prepared/train/part-00013.recordio': '972eff46e024fba7',
    'prepared/train/part-00014.recordio': 'fb4d1e8d747f1fb6',
    'prepared/transform-input/users.jsonl': '57d660787cce412e',
    'prepared/validation.json': '734f2a58d33c75fa',
    'split-artifacts/id-maps/movies.csv': 'fd9353b778090b34',
    'split-artifacts/id-maps/users.csv': 'e92d95d70da8e282',
    'split-artifacts/split/test.csv': 'd1bb05750611b8e3',
    'split-artifacts/split/train.csv': '0dd48afeae589483',
    'result.train': '77c693e2d95fad9a',
    'result.test': '9ace34ac2c8d57e2',
  },
  implicitPopularity: {
    'prepared/id-maps/movies.csv': 'fd9353b778090b34',
    'prepared/id-maps/users.csv': 'e92d95d70da8e282',
    'prepared/manifest.json': 'db0edfe5b1308ddb',
    'prepared/split/test.csv': 'd1bb05750611b8e3',
    'prepared/split/train.csv': '0dd48afeae589483',
    'prepared/test/part-00000.recordio': 'a00bc0d9db4ec73f',
    'prepared/train/part-00000.recordio': 'eb997e1aebd6b34d',
    'prepared/transform-input/users.jsonl': '57d660787cce412e',
    'prepared/validation.json': '734f2a58d33c75fa',
    'split-artifacts/id-maps/movies.csv': 'fd9353b778090b34',
    'split-artifacts/id-maps/users.csv': 'e92d95d70da8e282',
    'split-artifacts/split/test.csv': 'd1bb05750611b8e3',
    'split-artifacts/split/train.csv': '0dd48afeae589483',
    'result.train': '933ef476eb5da873',
    'result.test': '878b806a97d4bf04',
  },
  workshop: {
    'prepared/id-maps/movies.csv': 'fd9353b778090b34',
    'prepared/id-maps/users.csv': 'e92d95d70da8e282',
    'prepared/manifest.json': '1782aae5bf6b5ef0',
    'prepared/split/test.csv': 'd1bb05750611b8e3',
    'prepared/split/train.csv': '0dd48afeae589483',
    'prepared/test/part-00000.recordio': '9bc99aa394d73dae',
    'prepared/test/part-00001.recordio': '685f61848dc18412',
    'prepared/train/part-00000.recordio': '76eafc864c1c39c5',
    'prepared/train/part-00001.recordio': 'bf822159f0c7cfc9',
    'prepared/train/part-00002.recordio': 'e9a4735aae53cd34',
    'prepared/train/part-00003.recordio': 'e76399b939fe56f4',
    'prepared/train/part-00004.recordio': 'e5f69f61b9d67f9a',
    'prepared/train/part-00005.recordio': '98da7672e1689cc1',
    'prepared/transform-input/users.jsonl': '57d660787cce412e',
    'prepared/validation.json': '734f2a58d33c75fa',
    'split-artifacts/id-maps/movies.csv': 'fd9353b778090b34',
    'split-artifacts/id-maps/users.csv': 'e92d95d70da8e282',
    'split-artifacts/split/test.csv': 'd1bb05750611b8e3',
    'split-artifacts/split/train.csv': '0dd48afeae589483',
    'result.train': '20ffbca8c69b22fc',
    'result.test': 'b0f13c28dae78fc5',
  },
  globalTime: {
    'prepared/id-maps/movies.csv': 'fd9353b778090b34',
    'prepared/id-maps/users.csv': 'e92d95d70da8e282',
    'prepared/manifest.json': 'ae5890757c97af4b',
    'prepared/split/test.csv': 'ccfe993f1124a721',
    'prepared/split/train.csv': '10a9ac8683c6e92a',
    'prepared/test/part-00000.recordio': '72b323965186a227',
    'prepared/train/part-00000.recordio': '42590b7db0e7a78b',
    'prepared/transform-input/users.jsonl': '7543e77e390ab2fe',
    'prepared/validation.json': '734f2a58d33c75fa',
    'split-artifacts/id-maps/movies.csv': 'fd9353b778090b34',
    'split-artifacts/id-maps/users.csv': 'e92d95d70da8e282',
    'split-artifacts/split/test.csv': 'ccfe993f1124a721',
    'split-artifacts/split/train.csv': '10a9ac8683c6e92a',
    'result.train': '583701101724ec56',
    'result.test': 'b4507a7d0a2258f0',
  },
};

describe('prepareRun golden artifacts', () => {
  for (const [name, config] of Object.entries(CASES)) {
    it(`${name}: every artifact and the returned examples are byte-identical`, async () => {
      const hashes = await hashRun(config);
      if (process.env.PRINT_GOLDEN) process.stdout.write(`${name}: ${JSON.stringify(hashes, null, 2)}\n`);
      expect(hashes).toEqual(GOLDEN[name]);
    });
  }
});
