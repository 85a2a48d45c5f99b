import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTarGz, writeTarGz } from '../../../functions/core/archive';
import {
  buildServingBundle,
  readServingBundle,
  readServingBundleDir,
  seenMoviesOf,
  ServingBundleError,
  userRow,
  writeServingBundle,
} from '../../../functions/core/serving/bundle';

export function smallBundle() {
  return buildServingBundle({
    modelVersion: 'run-1',
    userIds: Int32Array.from([3, 7, 42]),
    userVectors: Float32Array.from([1, 0, 1, 0, 1, 1, 0.5, 0.5, 1]),
    factorDim: 3,
    movies: 5,
    seen: (u) => [[20, 10, 20], [], [50]][u],
    popular: Int32Array.from([10, 20, 30, 40, 50]),
    k: 100,
    topN: 3,
  });
}

describe('serving bundle', () => {
  it('sorts and de-duplicates seen movies and finds users by id', () => {
    const bundle = smallBundle();
    expect(Array.from(seenMoviesOf(bundle, 0))).toEqual([10, 20]);
    expect(Array.from(seenMoviesOf(bundle, 1))).toEqual([]);
    expect(userRow(bundle, 42)).toBe(2);
    expect(userRow(bundle, 4)).toBe(-1);
    expect(bundle.manifest).toMatchObject({ users: 3, factorDim: 3, tagBits: 24, seenTotal: 3, topN: 3 });
  });

  it('round-trips through its tar.gz and through an extracted model directory', async () => {
    const bundle = smallBundle();
    const bytes = await writeServingBundle(bundle);
    const back = await readServingBundle(bytes);
    expect(back.manifest).toEqual(bundle.manifest);
    expect(Array.from(back.userVectors)).toEqual(Array.from(bundle.userVectors));
    expect(Array.from(back.seenMovies)).toEqual([10, 20, 50]);

    // SageMaker extracts model data into /opt/ml/model: the directory reader sees the same files.
    const dir = mkdtempSync(join(tmpdir(), 'bundle-'));
    for (const [name, content] of await readTarGz(bytes)) writeFileSync(join(dir, name), content);
    const fromDir = await readServingBundleDir(dir);
    expect(Array.from(fromDir.popular)).toEqual([10, 20, 30, 40, 50]);
  });

  it('rejects unsorted users, wrong vector sizes, missing or short files and other versions', async () => {
    const ok = smallBundle();
    expect(() => buildServingBundle({ ...inputOf(ok), userIds: Int32Array.from([7, 3, 42]) })).toThrow(
      /strictly ascending/,
    );
    expect(() => buildServingBundle({ ...inputOf(ok), userVectors: new Float32Array(4) })).toThrow(
      /expected 3 x 3/,
    );
    const files = await readTarGz(await writeServingBundle(ok));
    const without = [...files].filter(([name]) => name !== 'popular.i32');
    await expect(readServingBundle(await writeTarGz(without))).rejects.toThrow(/has no popular.i32/);
    const short = [...files].map(([n, b]) => [n, n === 'user-ids.i32' ? b.subarray(0, 4) : b] as const);
    await expect(readServingBundle(await writeTarGz(short))).rejects.toThrow(ServingBundleError);
    const future = [...files].map(
      ([n, b]) =>
        [
          n,
          n === 'manifest.json' ? Buffer.from(JSON.stringify({ ...ok.manifest, formatVersion: 9 })) : b,
        ] as const,
    );
    await expect(readServingBundle(await writeTarGz(future))).rejects.toThrow(/format 9 is not supported/);
  });
});

function inputOf(bundle: ReturnType<typeof smallBundle>) {
  return {
    modelVersion: 'run-1',
    userIds: bundle.userIds,
    userVectors: bundle.userVectors,
    factorDim: 3,
    movies: 5,
    seen: () => [],
    popular: bundle.popular,
    k: 100,
    topN: 3,
  };
}
