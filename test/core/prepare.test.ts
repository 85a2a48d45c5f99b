import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
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
