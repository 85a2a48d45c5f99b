import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import {
  bufferSource,
  CorruptSourceError,
  fileSource,
  fileSources,
  openDecoded,
  type RatingSource,
  SourceReadError,
  startsWithGzipMagic,
} from '../../../functions/core/ingest/sources';

async function readAll(source: RatingSource): Promise<{ gzip: boolean; text: string }> {
  const decoded = await openDecoded(source);
  const chunks: Buffer[] = [];
  for await (const chunk of decoded.chunks) chunks.push(chunk);
  return { gzip: decoded.gzip, text: Buffer.concat(chunks).toString('utf8') };
}

describe('bufferSource', () => {
  it('yields the bytes in chunks of the given size', async () => {
    const source = bufferSource('a.csv', 'abcdefg', 3);
    const chunks: string[] = [];
    for await (const chunk of (await source.open()) as AsyncIterable<Uint8Array>) {
      chunks.push(Buffer.from(chunk).toString());
    }
    expect(chunks).toEqual(['abc', 'def', 'g']);
  });

  it('yields nothing for no bytes', async () => {
    expect(await readAll(bufferSource('empty.csv', ''))).toEqual({ gzip: false, text: '' });
  });
});

describe('openDecoded', () => {
  const text = 'userId,movieId,rating,timestamp\n1,2,3.5,4\n';

  it('passes plain bytes through, whatever the name says', async () => {
    expect(await readAll(bufferSource('ratings.csv.gz', text, 1))).toEqual({ gzip: false, text });
  });

  it('gunzips by magic bytes, whatever the name says, even when the magic is split over chunks', async () => {
    const zipped = gzipSync(text);
    expect(startsWithGzipMagic(zipped)).toBe(true);
    expect(await readAll(bufferSource('ratings.csv', zipped))).toEqual({ gzip: true, text });
    expect(await readAll(bufferSource('ratings.csv', zipped, 1))).toEqual({ gzip: true, text });
  });

  it('reads concatenated gzip members as one stream, like zcat', async () => {
    const zipped = Buffer.concat([gzipSync('1,2,3,4\n'), gzipSync('5,6,7,8\n')]);
    expect((await readAll(bufferSource('x', zipped, 7))).text).toBe('1,2,3,4\n5,6,7,8\n');
  });

  it('throws CorruptSourceError naming the source for truncated or corrupt gzip', async () => {
    const zipped = gzipSync(text.repeat(100));
    await expect(readAll(bufferSource('cut.csv.gz', zipped.subarray(0, zipped.length - 20)))).rejects.toThrow(
      CorruptSourceError,
    );
    const garbled = Buffer.from(zipped);
    garbled.fill(0x41, 12, 40);
    await expect(readAll(bufferSource('bad.gz', garbled))).rejects.toThrow(
      /^bad\.gz: not a valid gzip stream/,
    );
  });

  it('accepts Node streams, including string chunks', async () => {
    const source: RatingSource = { name: 's', open: async () => Readable.from(['1,2,', '3,4\n']) };
    expect((await readAll(source)).text).toBe('1,2,3,4\n');
  });

  it('passes read errors of the source through unchanged', async () => {
    const failing: RatingSource = {
      name: 'broken',
      open: async () =>
        (async function* () {
          yield new Uint8Array([0x31, 0x2c]);
          throw new Error('connection reset');
        })(),
    };
    await expect(readAll(failing)).rejects.toThrow('connection reset');
  });
});

describe('fileSources', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reelflow-sources-'));
    await mkdir(join(dir, 'b'), { recursive: true });
    await mkdir(join(dir, '.hidden'), { recursive: true });
    await writeFile(join(dir, 'c.csv'), 'c');
    await writeFile(join(dir, 'a.csv'), 'a');
    await writeFile(join(dir, 'b', 'z.dat'), 'z');
    await writeFile(join(dir, 'B.csv'), 'B');
    await writeFile(join(dir, '.DS_Store'), 'x');
    await writeFile(join(dir, '.hidden', 'x.csv'), 'x');
    await symlink(join(dir, 'a.csv'), join(dir, 'link.csv'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lists files recursively, sorted by relative path, skipping dotfiles and dot-directories', async () => {
    const sources = await fileSources(dir);
    expect(sources.map((s) => s.name)).toEqual(['B.csv', 'a.csv', 'b/z.dat', 'c.csv', 'link.csv']);
    expect((await readAll(sources[2])).text).toBe('z');
    expect((await readAll(sources[4])).text).toBe('a');
  });

  it('names a single file by its base name', async () => {
    const sources = await fileSources(join(dir, 'b', 'z.dat'));
    expect(sources.map((s) => s.name)).toEqual(['z.dat']);
    expect(fileSource(join(dir, 'a.csv'), 'ratings/a.csv').name).toBe('ratings/a.csv');
  });

  it('fails for a path that does not exist', async () => {
    await expect(fileSources(join(dir, 'missing'))).rejects.toThrow(/ENOENT/);
  });

  it('fails with SourceReadError naming the path for a symlink loop in a folder', async () => {
    const loopDir = join(dir, 'loops');
    await mkdir(loopDir);
    await symlink(join(loopDir, 'x'), join(loopDir, 'x'));
    const error = await fileSources(loopDir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceReadError);
    expect((error as Error).message).toBe(
      `${join(loopDir, 'x')}: cannot read: too many levels of symbolic links (a symlink loop?) (ELOOP)`,
    );
    await rm(loopDir, { recursive: true });
  });
});

describe('fileSource errors', () => {
  it('refuses a folder, and a missing file, as SourceReadError naming the path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reelflow-source-errors-'));
    await expect(readAll(fileSource(dir))).rejects.toThrow(
      `${dir}: cannot read: a folder, not a regular file`,
    );
    await expect(readAll(fileSource(join(dir, 'no.csv')))).rejects.toThrow(
      new SourceReadError(join(dir, 'no.csv'), { code: 'ENOENT' }).message,
    );
    await rm(dir, { recursive: true });
  });

  it('stops a gzip stream past maxDecompressedBytes with CorruptSourceError', async () => {
    const source = bufferSource('big.gz', gzipSync(Buffer.alloc(8 << 20)));
    const decoded = await openDecoded(source, { maxDecompressedBytes: 1 << 20 });
    let seen = 0;
    const read = async (): Promise<void> => {
      for await (const chunk of decoded.chunks) seen += chunk.length;
    };
    await expect(read()).rejects.toThrow(CorruptSourceError);
    expect(seen).toBeLessThanOrEqual(1 << 20);
  });
});
