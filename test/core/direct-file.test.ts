import { randomBytes } from 'node:crypto';
import { symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_BYTES } from '../../functions/core/direct-file';
import { directorySink, FileIoError, type ArtifactSink } from '../../functions/core/sink';

/** `length` random bytes: they differ from file to file and are not periodic in the block size. */
const content = (length: number): Uint8Array => randomBytes(length);

/** Writes `bytes` through `sink.open(path)` in chunks of `chunk` bytes. */
async function stream(sink: ArtifactSink, path: string, bytes: Uint8Array, chunk: number): Promise<void> {
  const out = sink.open(path);
  for (let at = 0; at < bytes.length; at += chunk) await out.write(bytes.subarray(at, at + chunk));
  await out.end();
}

describe('directorySink streamed files (blocks, O_DIRECT where the system has it)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reelflow-direct-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes exactly the bytes streamed, whatever the size: empty, inside a block, full blocks, an unaligned tail', async () => {
    const sink = directorySink(dir);
    const sizes = [0, 100, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES + 4096, 2 * BLOCK_BYTES + 5003];
    for (const [i, size] of sizes.entries()) {
      const bytes = content(size);
      await stream(sink, `out/f${i}.bin`, bytes, (1 << 20) + 7);
      expect(Buffer.compare(await readFile(join(dir, `out/f${i}.bin`)), bytes)).toBe(0);
    }
  });

  it('keeps files written at the same time apart (blocks are reused across files)', async () => {
    const sink = directorySink(dir);
    const files = [0, 1, 2].map((i) => content(3 * BLOCK_BYTES + 1000 * i + 17));
    // Interleaved: every file has blocks in flight while the others fill theirs.
    const writers = files.map((_, i) => sink.open(`part-${i}`));
    const chunk = 3 << 20;
    for (let at = 0; at < files[0].length + 2000; at += chunk) {
      await Promise.all(
        writers.map((w, i) =>
          at < files[i].length ? w.write(files[i].subarray(at, at + chunk)) : Promise.resolve(),
        ),
      );
    }
    await Promise.all(writers.map((w) => w.end()));
    for (const [i, bytes] of files.entries())
      expect(Buffer.compare(await readFile(join(dir, `part-${i}`)), bytes)).toBe(0);
  });

  it('replaces a longer existing file', async () => {
    const sink = directorySink(dir);
    await mkdir(join(dir, 'a'));
    for (const [i, size] of [10, BLOCK_BYTES + 10].entries()) {
      writeFileSync(join(dir, `a/${i}`), new Uint8Array(3 * BLOCK_BYTES).fill(7));
      const bytes = content(size);
      await stream(sink, `a/${i}`, bytes, 1 << 20);
      expect((await stat(join(dir, `a/${i}`))).size).toBe(size);
      expect(Buffer.compare(await readFile(join(dir, `a/${i}`)), bytes)).toBe(0);
    }
  });

  it('fails with the folder when it cannot be created', async () => {
    writeFileSync(join(dir, 'file'), 'x');
    const out = directorySink(dir).open('file/sub/part-0');
    const write = (async () => {
      await out.write(content(2 * BLOCK_BYTES));
      await out.end();
    })();
    await expect(write).rejects.toThrow(FileIoError);
    await expect(write).rejects.toThrow(`${join(dir, 'file/sub')}: cannot create the folder`);
  });

  it('fails with the file when it cannot be opened (a folder is in the way)', async () => {
    await mkdir(join(dir, 'train/part-0'), { recursive: true });
    const out = directorySink(dir).open('train/part-0');
    const run = (async () => {
      for (let i = 0; i < 3; i++) await out.write(content(BLOCK_BYTES));
      await out.end();
    })();
    await expect(run).rejects.toThrow(
      `${join(dir, 'train/part-0')}: cannot write: is a folder, not a file (EISDIR)`,
    );
  });

  // Linux (where the product runs) has /dev/full: every write to it fails with ENOSPC.
  it('fails with the file when the device is full, at the next write or the end, and keeps failing', async () => {
    await mkdir(join(dir, 'train'));
    symlinkSync('/dev/full', join(dir, 'train/part-0'));
    const out = directorySink(dir).open('train/part-0');
    const run = (async () => {
      for (let i = 0; i < 8; i++) await out.write(content(BLOCK_BYTES));
      await out.end();
    })();
    await expect(run).rejects.toThrow(
      `${join(dir, 'train/part-0')}: cannot write: no space left on device (ENOSPC)`,
    );
    await expect(out.end()).rejects.toThrow(FileIoError);
  });
});
