// Reference copy (bench/reference/prepare-v0/README.md): functions/core/ingest/sources.ts at 48aa102, imports rewired.
/**
 * Where rating bytes come from: one `RatingSource` per uploaded file (an S3 object, a local file, a
 * buffer in a test), opened as a byte stream. Compression is recognised by the gzip magic bytes, not by
 * the name, because uploads are named by people (`ratings.csv` may be gzipped, `x.gz` may not be).
 */
import { constants, statSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { describeIoError } from '../sink';

/** One file of ratings, opened as raw bytes (maybe gzipped). */
export interface RatingSource {
  /** Shown in the validation report; the `predefined` split matches it (`ua.base`, `ua.test`). */
  readonly name: string;
  /** Size in bytes when known (files, listed S3 objects): ingestion pre-sizes its tables from it. */
  readonly sizeBytes?: number;
  open(): Promise<NodeJS.ReadableStream | AsyncIterable<Uint8Array>>;
}

/** Thrown while reading a source whose bytes cannot be decoded (truncated or corrupt gzip). */
export class CorruptSourceError extends Error {
  constructor(
    readonly sourceName: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${sourceName}: ${message}`, options);
    this.name = 'CorruptSourceError';
  }
}

/**
 * Thrown when a local file cannot be read (permission denied, a folder or a FIFO given as a file, a
 * symlink loop, ...): an I/O error, not a data error; the message is one line naming the path.
 */
export class SourceReadError extends Error {
  readonly code: string | undefined;

  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`${path}: cannot read: ${describeIoError(cause)}`, { cause });
    this.name = 'SourceReadError';
    this.code = (cause as { code?: string } | null)?.code;
  }
}

/** Read size for local files: large chunks keep the per-chunk overhead of the parser negligible. */
const FILE_CHUNK_BYTES = 1 << 20;
/** Output chunk of the gunzip stream (zlib's default is 16 KiB). */
const GUNZIP_CHUNK_BYTES = 1 << 18;

/**
 * Sources for a file, or for every file under a directory (recursively, sorted by relative path in
 * code-unit order, dotfiles and dot-directories skipped). Names are the paths relative to `path` with
 * `/` separators (a single file is named by its base name). Sorting by name is the upload order, so
 * timestamped upload names (`2024-05-01T...csv`) replay in the order they arrived.
 */
export async function fileSources(path: string): Promise<RatingSource[]> {
  const info = await readingPath(path, () => stat(path));
  if (info.isFile()) return [fileSource(path, basename(path))];
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readingPath(dir, () => readdir(dir, { withFileTypes: true }))) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      const kind = entry.isSymbolicLink() ? await readingPath(full, () => stat(full)) : entry;
      if (kind.isDirectory()) await walk(full);
      else if (kind.isFile()) files.push(full);
    }
  };
  await walk(path);
  const named = files.map((full) => ({ full, name: relative(path, full).split(sep).join('/') }));
  named.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return named.map(({ full, name }) => fileSource(full, name));
}

/** `read()`, with its error as a `SourceReadError` naming `path`. */
async function readingPath<T>(path: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw new SourceReadError(path, error);
  }
}

/** A source reading one local file. */
export function fileSource(path: string, name: string = basename(path)): RatingSource {
  let sizeBytes: number | undefined;
  try {
    sizeBytes = statSync(path).size;
  } catch {
    sizeBytes = undefined; // a missing file fails in open(), naming the file
  }
  return { name, sizeBytes, open: async () => readFileChunks(path) };
}

/**
 * The bytes of a regular file, in large chunks. Anything else (a FIFO would block until a writer
 * comes, a device may never end, a folder cannot be read) and every read error is a `SourceReadError`.
 */
async function* readFileChunks(path: string): AsyncGenerator<Buffer> {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO without a writer must not wait for one (it is refused just below).
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new SourceReadError(path, error);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      const what = info.isDirectory()
        ? 'a folder'
        : info.isFIFO()
          ? 'a FIFO (named pipe)'
          : 'not a regular file';
      throw new SourceReadError(path, new Error(`${what}, not a regular file`));
    }
    const buffer = Buffer.allocUnsafe(FILE_CHUNK_BYTES);
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
      } catch (error) {
        throw new SourceReadError(path, error);
      }
      if (bytesRead === 0) return;
      yield Buffer.from(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

/**
 * A source over bytes already in memory (a handler's S3 body, a test). `chunkSize` splits them into
 * several chunks, to exercise lines that straddle chunk boundaries.
 */
export function bufferSource(name: string, bytes: Uint8Array | string, chunkSize?: number): RatingSource {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  return {
    name,
    open: async () => chunked(data, chunkSize && chunkSize > 0 ? chunkSize : Math.max(1, data.length)),
  };
}

async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, Math.min(data.length, i + size));
}

/** True when the bytes start with the gzip magic number 1f 8b. */
export function startsWithGzipMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** What `openDecoded` yields: the decompressed bytes and whether the source was gzipped. */
export interface DecodedSource {
  readonly gzip: boolean;
  readonly chunks: AsyncIterable<Buffer>;
}

/**
 * Opens a source and returns its plain bytes: gunzipped when the first two bytes are the gzip magic
 * (concatenated gzip members are read as one stream, like `zcat`). A corrupt or truncated gzip stream
 * throws `CorruptSourceError` from the iteration; read errors of the source itself pass through.
 */
export async function openDecoded(
  source: RatingSource,
  options: { readonly maxDecompressedBytes?: number } = {},
): Promise<DecodedSource> {
  const iterator = toBuffers(await source.open())[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  let ended = false;
  while (head.length < 2) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    head = head.length === 0 ? next.value : Buffer.concat([head, next.value]);
  }
  async function* all(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      while (!ended) {
        const next = await iterator.next();
        if (next.done) break;
        yield next.value;
      }
    } finally {
      await iterator.return?.(undefined);
    }
  }
  if (!startsWithGzipMagic(head)) return { gzip: false, chunks: all() };
  return { gzip: true, chunks: gunzipped(source.name, all(), options.maxDecompressedBytes ?? Infinity) };
}

/**
 * The gunzipped bytes of `input`. Output is counted as zlib produces it: past `maxBytes` the stream
 * is destroyed and `CorruptSourceError` thrown, so a gzip bomb (a few MB that inflate to terabytes)
 * never reaches memory or the parser.
 */
async function* gunzipped(
  name: string,
  input: AsyncIterable<Buffer>,
  maxBytes: number,
): AsyncGenerator<Buffer> {
  const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
  const output = pipeline(Readable.from(input), gunzip, () => undefined);
  let produced = 0;
  try {
    for await (const chunk of output) {
      produced += (chunk as Buffer).length;
      if (produced > maxBytes) {
        throw new CorruptSourceError(
          name,
          `decompresses to more than ${maxBytes.toLocaleString('en-US')} bytes ` +
            `(ml.ingest.maxDecompressedBytes); refused as a possible gzip bomb`,
        );
      }
      yield chunk as Buffer;
    }
  } catch (error) {
    if (error instanceof CorruptSourceError) throw error;
    if (isZlibError(error)) {
      throw new CorruptSourceError(name, `not a valid gzip stream (${(error as Error).message})`, {
        cause: error,
      });
    }
    throw error;
  } finally {
    output.destroy();
  }
}

function isZlibError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

async function* toBuffers(
  stream: NodeJS.ReadableStream | AsyncIterable<Uint8Array | string>,
): AsyncGenerator<Buffer> {
  for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
    if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else if (Buffer.isBuffer(chunk)) yield chunk;
    else yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}
