import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  type WriteStream,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMlConfig } from '../../functions/core/config';
import { bufferSource, DataRejectedError } from '../../functions/core/ingest';
import { prepareRun } from '../../functions/core/prepare';
import { countRecordIORecords } from '../../functions/core/recordio';
import { directorySink } from '../../functions/core/sink';

function csv(rows: string[]): string {
  return ['userId,movieId,rating,timestamp', ...rows].join('\n') + '\n';
}

/** 40 users x 30 ratings over up to 200 movies, timestamps increasing. */
function goodRows(): string[] {
  const rows: string[] = [];
  for (let u = 1; u <= 40; u++) {
    for (let i = 0; i < 30; i++)
      rows.push(`${u},${1 + ((u * 7 + i * 3) % 200)},${1 + (i % 5)},${1_000_000 + u * 100 + i}`);
  }
  return rows;
}

describe('prepareRun', () => {
  it('writes every prepared artifact, shards bounded by shardMaxBytes', async () => {
    const out = mkdtempSync(join(tmpdir(), 'prepare-'));
    const config = parseMlConfig({ encoding: { shardMaxBytes: 4096 } });
    const { manifest } = await prepareRun({
      sources: [bufferSource('ratings/batch-1.csv', csv(goodRows()))],
      sink: directorySink(out),
      config,
    });
    for (const path of [
      'validation.json',
      'manifest.json',
      'split/train.csv',
      'split/test.csv',
      'id-maps/users.csv',
      'id-maps/movies.csv',
      'transform-input/users.jsonl',
    ]) {
      expect(existsSync(join(out, path))).toBe(true);
    }
    const shards = readdirSync(join(out, 'train'));
    expect(shards.length).toBeGreaterThan(1);
    expect(shards[0]).toBe('part-00000.recordio');
    let records = 0;
    for (const shard of shards) {
      expect(statSync(join(out, 'train', shard)).size).toBeLessThanOrEqual(4096);
      records += countRecordIORecords(readFileSync(join(out, 'train', shard)));
    }
    expect(records).toBe(manifest.train.examples);
    // implicit objective: every rating a positive plus 4 negatives each
    expect(manifest.train.examples).toBe(5 * manifest.train.positives);
    expect(manifest.featureDim).toBe(40 + manifest.movies);
    expect(manifest.hyperparameters.fm.feature_dim).toBe(String(manifest.featureDim));
    expect(manifest.testUsers).toBe(40);
    const requests = readFileSync(join(out, 'transform-input/users.jsonl'), 'utf8').trim().split('\n');
    expect(requests).toHaveLength(1);
    const users = (JSON.parse(requests[0]) as { instances: { user_id: number }[] }).instances;
    expect(users.map((u) => u.user_id)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('writes recency copies into the train channel only, never into the split or the test channel', async () => {
    const prepared = async (recentCopies: number): Promise<{ out: string; train: number; test: number }> => {
      const out = mkdtempSync(join(tmpdir(), 'prepare-recent-'));
      const { manifest } = await prepareRun({
        sources: [bufferSource('ratings/batch-1.csv', csv(goodRows()))],
        sink: directorySink(out),
        config: parseMlConfig({ encoding: { recentCopies, recentShare: 0.25 } }),
      });
      expect(manifest.train.examples).toBe(5 * manifest.train.positives);
      expect(manifest.test.examples).toBe(5 * manifest.test.positives);
      return { out, train: manifest.train.positives, test: manifest.test.positives };
    };
    const plain = await prepared(0);
    const copied = await prepared(2);
    // 40 users with 24 training ratings each: round(24 × 0.25) = 6 latest, twice more.
    expect(plain.train).toBe(40 * 24);
    expect(copied.train).toBe(40 * 24 + 2 * 40 * 6);
    // The test channel holds the same held-out positives (its sampled negatives come later from the
    // same generator, so they may differ).
    expect(copied.test).toBe(plain.test);
    const bytes = (dir: string, path: string): Buffer => readFileSync(join(dir, path));
    for (const path of ['split/train.csv', 'split/test.csv', 'id-maps/users.csv']) {
      expect(bytes(copied.out, path).equals(bytes(plain.out, path))).toBe(true);
    }
  });

  it.each([
    ['one row', csv(['1,2,4,1000']), /only rating is of one movie \(id 2\)/],
    [
      'one movie',
      csv(goodRows().map((r) => r.replace(/^(\d+),\d+,/, '$1,7,'))),
      /40 ratings are all of one movie/,
    ],
    [
      'no user with enough history',
      csv(['1,1,4,1', '1,2,4,2', '2,1,3,3', '2,3,5,4']),
      /cannot be split for evaluation: the temporal-per-user split left no test ratings/,
    ],
  ])(
    'rejects valid rows that cannot make a run (%s), with the reason in validation.json',
    async (_, body, reason) => {
      const out = mkdtempSync(join(tmpdir(), 'prepare-degenerate-'));
      const run = prepareRun({
        sources: [bufferSource('r.csv', body)],
        sink: directorySink(out),
        config: parseMlConfig({}),
      });
      await expect(run).rejects.toThrow(DataRejectedError);
      const report = JSON.parse(readFileSync(join(out, 'validation.json'), 'utf8'));
      expect(report.accepted).toBe(false);
      expect(report.message).toMatch(reason);
      expect(existsSync(join(out, 'manifest.json'))).toBe(false);
    },
  );

  it('fails with the path when a streamed artifact cannot be written (no space left), never succeeding', async () => {
    const out = mkdtempSync(join(tmpdir(), 'prepare-enospc-'));
    const full = (file: string): WriteStream => {
      const stream = createWriteStream(file, { highWaterMark: 16 });
      // The first write fills the buffer; the disk then reports full while the writer waits for drain.
      stream._write = (_chunk, _encoding, callback) =>
        setTimeout(
          () =>
            callback(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })),
          5,
        );
      return stream;
    };
    const run = prepareRun({
      sources: [bufferSource('r.csv', csv(goodRows()))],
      sink: directorySink(out, { openWriteStream: full }),
      config: parseMlConfig({}),
    });
    await expect(run).rejects.toThrow(
      new RegExp(
        `^${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/split/train\\.csv: cannot write: no space left on device \\(ENOSPC\\)$`,
      ),
    );
  });

  it('rejects bad data before anything is trained, and still writes the validation report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'prepare-bad-'));
    const rows = goodRows();
    for (let i = 0; i < 30; i++) rows[i * 10] = `x,${i},4,1`;
    const run = prepareRun({
      sources: [bufferSource('ratings/bad.csv', csv(rows))],
      sink: directorySink(out),
      config: parseMlConfig({}),
    });
    await expect(run).rejects.toThrow(DataRejectedError);
    const report = JSON.parse(readFileSync(join(out, 'validation.json'), 'utf8'));
    expect(report.accepted).toBe(false);
    expect(report.reasons.non_integer_id).toBe(30);
    expect(existsSync(join(out, 'train'))).toBe(false);
    expect(existsSync(join(out, 'manifest.json'))).toBe(false);
  });
});
