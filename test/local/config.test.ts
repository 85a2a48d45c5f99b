import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../functions/core/config';
import { deepMerge, loadDeployConfig } from '../../local/config';
import { selectRatingFiles, uploadKey } from '../../local/data-files';

const dir = mkdtempSync(join(tmpdir(), 'local-config-'));

describe('loadDeployConfig', () => {
  it("reads cdk.json's context.reelflow, the object cdk deploy reads", async () => {
    const config = await loadDeployConfig();
    expect(config).toMatchObject({
      resourcePrefix: 'reelflow',
      endpoint: { name: 'reelflow-recommender', instanceCount: 2 },
    });
    expect(config.ml.fm.num_factors).toBe(64);
  });

  it('merges a --config file (a reelflow block or a cdk.json shape) over it, then validates the whole', async () => {
    const block = join(dir, 'block.json');
    writeFileSync(
      block,
      JSON.stringify({ ml: { fm: { epochs: 3 } }, deployment: { waitIntervalSeconds: 60 } }),
    );
    const shaped = join(dir, 'cdk-shaped.json');
    writeFileSync(shaped, JSON.stringify({ context: { reelflow: { ml: { knn: { k: 50 } } } } }));
    const merged = await loadDeployConfig({ configFile: block });
    expect(merged.ml.fm).toMatchObject({ epochs: 3, num_factors: 64 });
    expect(merged.deployment).toMatchObject({ waitIntervalSeconds: 60, terminationWaitSeconds: 600 });
    expect((await loadDeployConfig({ configFile: shaped })).ml.knn.k).toBe(50);

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ endpoint: { instanceCount: 1 } }));
    await expect(loadDeployConfig({ configFile: bad })).rejects.toThrow(ConfigError);
    await expect(loadDeployConfig({ configFile: bad })).rejects.toThrow(/reelflow\.endpoint\.instanceCount/);
  });

  it('deep-merges objects and replaces arrays and values', () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: 2 })).toEqual({
      a: { b: 1, c: [3] },
      d: 2,
    });
  });
});

describe('selectRatingFiles and uploadKey', () => {
  it('takes only the ratings file of a MovieLens folder, and every file of a folder of batches', async () => {
    const movielens = join(dir, 'ml-latest-small');
    mkdirSync(movielens);
    for (const name of ['links.csv', 'movies.csv', 'ratings.csv', 'tags.csv'])
      writeFileSync(join(movielens, name), 'x');
    const selected = await selectRatingFiles(movielens);
    expect(selected.files).toEqual([join(movielens, 'ratings.csv')]);
    expect(selected.skipped).toHaveLength(3);

    const batches = join(dir, 'batches');
    mkdirSync(join(batches, 'later'), { recursive: true });
    for (const name of ['b.csv', 'a.csv', 'later/c.csv', '.hidden']) writeFileSync(join(batches, name), 'x');
    expect((await selectRatingFiles(batches)).files).toEqual(
      ['a.csv', 'b.csv', 'later/c.csv'].map((f) => join(batches, f)),
    );
    await expect(selectRatingFiles(join(dir, 'nope'))).rejects.toThrow(/no such file or folder/);
  });

  it('names uploads ratings/<UTC timestamp>-<name>, ordered within a folder', () => {
    const now = new Date('2026-11-25T10:15:00.123Z');
    expect(uploadKey('/data/sample.csv', '/data/sample.csv', now)).toBe(
      'ratings/20261125T101500Z-sample.csv',
    );
    expect(uploadKey('/data/b/later/c.csv', '/data/b', now, 2)).toBe(
      'ratings/20261125T101500Z-002-later-c.csv',
    );
  });
});
