import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directorySink, ShardedSinkWriter } from '../../functions/core/sink';

describe('ShardedSinkWriter.add', () => {
  it('keeps every record when one crosses a chunk or a shard boundary', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reelflow-sink-'));
    try {
      // 10 records of 24 bytes, 64-byte chunks (a record every third one crosses), 100-byte shards.
      const writer = new ShardedSinkWriter(directorySink(dir), 'out', 100, 64);
      const records = Array.from({ length: 10 }, (_, r) => new Uint8Array(24).fill(r + 1));
      for (const record of records) writer.add(record);
      const paths = await writer.close();
      expect(paths).toEqual([
        'out/part-00000.recordio',
        'out/part-00001.recordio',
        'out/part-00002.recordio',
      ]);
      const written = Buffer.concat(await Promise.all(paths.map((p) => readFile(join(dir, p)))));
      expect(written).toEqual(Buffer.concat(records));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
