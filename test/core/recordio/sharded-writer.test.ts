import fc from 'fast-check';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FramedRowEncoder,
  MemoryShardedRecordIOWriter,
  RecordIOEncodeError,
  ShardedRecordIOWriter,
  countRecordIORecords,
  encodeRecord,
  frameRecord,
  readRecordIO,
  shardFileName,
} from '../../../functions/core/recordio';

/** A framed record of exactly `bytes` bytes (a multiple of 4, at least 12) whose uid starts with `tag`. */
function rowOfSize(bytes: number, tag: number): Uint8Array {
  // header 8 + uid field (1a, varint length, text): no pad when that field fills bytes - 8
  const textLength = bytes - 10 < 128 ? bytes - 10 : bytes - 11;
  const framed = frameRecord(encodeRecord({ features: {}, uid: `${tag}:`.padEnd(textLength, '.') }));
  expect(framed.length).toBe(bytes);
  return framed;
}

const tagOf = (uid: string | undefined): number => Number(uid!.split(':')[0]);

/** The shard split the rule implies, computed naively. */
function expectedShardSizes(sizes: number[], maxBytes: number): number[] {
  const shards: number[] = [];
  for (const size of sizes) {
    if (shards.length === 0 || shards[shards.length - 1] + size > maxBytes) shards.push(size);
    else shards[shards.length - 1] += size;
  }
  return shards;
}

describe('sharded recordIO writers', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'reelflow-shards-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names shards <prefix>-00000.recordio, ...', () => {
    expect(shardFileName('train', 0)).toBe('train-00000.recordio');
    expect(shardFileName('train', 123456)).toBe('train-123456.recordio');
  });

  it('cuts shards at record boundaries, never above maxBytes, an oversized record alone', async () => {
    // GIVEN records of 28, 28, 100, 28, 28 bytes and maxBytes 60
    const rows = [28, 28, 100, 28, 28].map((size, i) => rowOfSize(size, i));
    const writer = new ShardedRecordIOWriter({
      dir: join(dir, 'nested', 'train'),
      prefix: 'train',
      maxBytes: 60,
    });
    rows.forEach((row) => writer.write(row));
    // WHEN closing
    const paths = await writer.close();
    // THEN [28+28], [100], [28+28], in order, each a complete recordIO stream
    expect(paths).toEqual([0, 1, 2].map((i) => join(dir, 'nested', 'train', `train-0000${i}.recordio`)));
    const shards = paths.map((p) => readFileSync(p));
    expect(shards.map((s) => s.length)).toEqual([56, 100, 56]);
    expect(shards.map((s) => readRecordIO(s).map((r) => tagOf(r.uid)))).toEqual([[0, 1], [2], [3, 4]]);
    expect(Buffer.concat(shards).equals(Buffer.concat(rows))).toBe(true);
    expect(writer.bytesWritten).toBe(212);
  });

  it('matches the rule on random record sizes, through a small write buffer, on disk and in memory', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.integer({ min: 7, max: 300 }).map((w) => w * 4),
          { maxLength: 40 },
        ),
        fc.integer({ min: 8, max: 2000 }),
        async (sizes, maxBytes) => {
          const rows = sizes.map((size, i) => rowOfSize(size, i));
          const sub = mkdtempSync(join(dir, 'p-'));
          const disk = new ShardedRecordIOWriter({ dir: sub, prefix: 'x', maxBytes, bufferBytes: 512 });
          const memory = new MemoryShardedRecordIOWriter({ maxBytes });
          for (const row of rows) {
            disk.write(row);
            memory.write(row);
          }
          const fromDisk = (await disk.close()).map((p) => readFileSync(p));
          const fromMemory = memory.close();
          const expected = expectedShardSizes(sizes, maxBytes);
          expect(fromDisk.map((s) => s.length)).toEqual(expected);
          expect(fromMemory.map((s) => s.length)).toEqual(expected);
          fromDisk.forEach((s, i) => expect(Buffer.from(fromMemory[i]).equals(s)).toBe(true));
          expect(Buffer.concat(fromDisk).equals(Buffer.concat(rows))).toBe(true);
          expect(fromDisk.reduce((n, s) => n + countRecordIORecords(s), 0)).toBe(rows.length);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('copies what it is given, so a FramedRowEncoder view can be passed straight in', async () => {
    const encoder = new FramedRowEncoder();
    const writer = new ShardedRecordIOWriter({ dir, prefix: 'r', maxBytes: 1 << 20 });
    const memory = new MemoryShardedRecordIOWriter({ maxBytes: 1 << 20 });
    for (let i = 0; i < 1000; i++) {
      const view = encoder.sparse([i % 7, 7 + (i % 3)], [1, 1], 10, i % 2);
      writer.write(view);
      memory.write(view);
    }
    const [path] = await writer.close();
    const records = readRecordIO(readFileSync(path));
    expect(records.map((r) => Array.from(r.features.values.keys!))).toEqual(
      Array.from({ length: 1000 }, (_, i) => [i % 7, 7 + (i % 3)]),
    );
    expect(Buffer.from(memory.close()[0]).equals(readFileSync(path))).toBe(true);
  });

  it('writes no shard (and no directory) when no record was written', async () => {
    const target = join(dir, 'empty');
    const writer = new ShardedRecordIOWriter({ dir: target, prefix: 'x', maxBytes: 100 });
    expect(await writer.close()).toEqual([]);
    expect(existsSync(target)).toBe(false);
    expect(new MemoryShardedRecordIOWriter({ maxBytes: 100 }).close()).toEqual([]);
  });

  it('keeps the data of shards already closed on disk, not in memory', async () => {
    const writer = new ShardedRecordIOWriter({ dir, prefix: 'x', maxBytes: 28, bufferBytes: 4096 });
    writer.write(rowOfSize(28, 1));
    writer.write(rowOfSize(28, 2));
    // The first shard is complete on disk as soon as the second starts.
    expect(readFileSync(join(dir, 'x-00000.recordio')).length).toBe(28);
    expect(readdirSync(dir).sort()).toEqual(['x-00000.recordio', 'x-00001.recordio']);
    await writer.close();
  });

  it('rejects unframed bytes, writes after close and a maxBytes below one frame header', async () => {
    const writer = new ShardedRecordIOWriter({ dir, prefix: 'x', maxBytes: 100 });
    expect(() => writer.write(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(RecordIOEncodeError);
    expect(() => writer.write(rowOfSize(28, 1).subarray(0, 27))).toThrow(/takes framed recordIO records/);
    writer.write(rowOfSize(28, 1));
    const paths = await writer.close();
    expect(await writer.close()).toEqual(paths);
    expect(() => writer.write(rowOfSize(28, 1))).toThrow(/write after close/);
    expect(() => new MemoryShardedRecordIOWriter({ maxBytes: 4 })).toThrow(
      /maxBytes must be an integer >= 8/,
    );
  });
});
