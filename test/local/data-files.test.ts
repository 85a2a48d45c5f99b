/**
 * `--data <folder>` with `split.mode: predefined` (issue 12): the folder's `<x>.base` / `<x>.test` pair
 * is taken (ml-100k's `ua` pair when it holds several), and its upload keys keep the names, so Prepare's
 * predefined split still recognises the pair (test/local/start-predefined.test.ts runs it end to end).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataPathError, selectRatingFiles, uploadKey } from '../../local/data-files';

const dir = mkdtempSync(join(tmpdir(), 'reelflow-data-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function folder(name: string, files: readonly string[]): string {
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  for (const file of files) writeFileSync(join(path, file), '1\t1\t5\t881250949\n');
  return path;
}

describe('selectRatingFiles with the predefined split', () => {
  it('takes the ua pair of an ml-100k folder and says what it skips', async () => {
    const path = folder('ml-100k', [
      'u.data',
      'u.item',
      'u1.base',
      'u1.test',
      'ua.base',
      'ua.test',
      'ub.base',
      'ub.test',
    ]);
    const selection = await selectRatingFiles(path, { predefinedSplit: true });
    expect(selection.files).toEqual([join(path, 'ua.base'), join(path, 'ua.test')]);
    expect(selection.predefinedPair).toBe(true);
    expect(selection.skipped).toHaveLength(6);
  });

  it('takes the only pair of a folder, gzipped or not', async () => {
    const path = folder('one-pair', ['notes.txt', 'x.base.gz', 'x.test']);
    expect((await selectRatingFiles(path, { predefinedSplit: true })).files).toEqual([
      join(path, 'x.base.gz'),
      join(path, 'x.test'),
    ]);
  });

  it('refuses a folder with no pair, or several and no ua pair', async () => {
    await expect(
      selectRatingFiles(folder('none', ['u.data', 'ua.base']), { predefinedSplit: true }),
    ).rejects.toThrow(
      new DataPathError(
        `--data ${join(dir, 'none')}: the predefined split needs one <x>.base / <x>.test pair (ml-100k ua.base and ua.test); the folder holds none`,
      ),
    );
    await expect(
      selectRatingFiles(folder('two', ['u1.base', 'u1.test', 'u2.base', 'u2.test']), {
        predefinedSplit: true,
      }),
    ).rejects.toThrow(/the folder holds 2 \(u1\.base\/\.test, u2\.base\/\.test\) and no ua pair/);
  });

  it('keeps the pair recognisable in its upload keys', () => {
    const now = new Date('2026-12-02T10:00:00Z');
    const root = join(dir, 'ml-100k');
    const keys = ['ua.base', 'ua.test'].map((f) => uploadKey(join(root, f), root, now));
    expect(keys).toEqual(['ratings/20261202T100000Z-ua.base', 'ratings/20261202T100000Z-ua.test']);
    // what Prepare's predefined split compares: the names without .base / .test must be equal
    expect(new Set(keys.map((k) => k.replace(/\.(base|test)$/, '')))).toEqual(
      new Set(['ratings/20261202T100000Z-ua']),
    );
  });
});
