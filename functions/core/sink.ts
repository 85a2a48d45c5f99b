/**
 * Where a run's artifacts go: a port with two adapters. The core writes through `ArtifactSink`; the
 * local runtime and `reelflow prepare` use `directorySink` (files under a folder), the Lambda handlers
 * use the S3 sink in functions/common/s3-io.ts (multipart uploads straight from memory, so a
 * MovieLens-32M run never needs its gigabytes of recordIO on the function's disk).
 */
import type { WriteStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BlockFileWriter } from './direct-file';

/** A file being written in pieces. */
export interface ArtifactWriter {
  /** Appends bytes; the returned promise (if any) resolves when the sink can take more. */
  write(chunk: Uint8Array): Promise<void>;
  /** Finishes the file; resolves when it is stored. */
  end(): Promise<void>;
  /**
   * True when the writer is done with a chunk once its `write` resolved, so the caller may refill that
   * buffer (a folder's files: the bytes are in the OS by then). Otherwise (e.g. an S3 upload, which
   * gathers chunks into parts) every chunk must be a fresh buffer.
   */
  readonly releasesChunks?: boolean;
}

/** Stores a run's artifacts under relative paths such as `train/part-00000.recordio`. */
export interface ArtifactSink {
  /** Writes a whole (small) file. */
  put(path: string, data: string | Uint8Array): Promise<void>;
  /** Opens a file to stream into. */
  open(path: string): ArtifactWriter;
  /** A human-readable location of `path` (a file path or an s3:// URI), for reports. */
  locate(path: string): string;
}

/**
 * A file-system error, in one line that names the path: `out/train/part-00000.recordio: no space left
 * on device (ENOSPC)`. `code` is the system error code. Thrown by `directorySink` for every failure.
 */
export class FileIoError extends Error {
  readonly code: string | undefined;

  constructor(
    readonly path: string,
    cause: unknown,
    doing?: string,
  ) {
    super(`${path}: ${doing ? `${doing}: ` : ''}${describeIoError(cause)}`, { cause });
    this.name = 'FileIoError';
    this.code = (cause as { code?: string } | null)?.code;
  }
}

const IO_ERRORS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'is a folder, not a file',
  ELOOP: 'too many levels of symbolic links (a symlink loop?)',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
  EIO: 'input/output error',
  ENAMETOOLONG: 'name too long',
  EMFILE: 'too many open files',
  EFBIG: 'file too large',
};

/** A short reason for a file-system error, without a path or a stack: `permission denied (EACCES)`. */
export function describeIoError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && IO_ERRORS[code]) return `${IO_ERRORS[code]} (${code})`;
  const message = error instanceof Error ? error.message : String(error);
  // Node's messages repeat the path after a comma ("EACCES: permission denied, open '/x'").
  return message.split('\n')[0].replace(/, \w+ '.*'$/, '');
}

/**
 * Creates `dir` and its missing parents. Not `mkdir(..., { recursive: true })`: Node's recursive mkdir
 * never returns where a parent exists but refuses new entries without saying so (`/proc/x`).
 */
export async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir);
    return;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EEXIST') {
      if ((await stat(dir)).isDirectory()) return;
      throw Object.assign(new Error(`${dir} exists and is not a folder`), { code: 'ENOTDIR' });
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw error;
  }
  await makeDirectory(dirname(dir));
  try {
    await mkdir(dir);
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST' || !(await stat(dir)).isDirectory()) throw error;
  }
}

/** How `directorySink` opens a file to stream into (tests inject failing streams). */
export type OpenWriteStream = (file: string) => WriteStream;

/**
 * A sink writing files under `root` (folders are created as needed). Errors are `FileIoError`s.
 * Streamed files are written in blocks, with O_DIRECT where the system has it (direct-file.ts: the
 * page cache's copy was most of the system CPU of a big Prepare); with `openWriteStream`, through the
 * streams it opens.
 */
export function directorySink(
  root: string,
  options: { readonly openWriteStream?: OpenWriteStream } = {},
): ArtifactSink {
  const openStream = options.openWriteStream;
  return {
    async put(path, data) {
      const file = join(root, path);
      await ensureParent(file);
      try {
        await writeFile(file, data);
      } catch (error) {
        throw new FileIoError(file, error, 'cannot write');
      }
    },
    open(path) {
      const file = join(root, path);
      return openStream ? new FileArtifactWriter(file, openStream) : new BlockArtifactWriter(file);
    },
    locate(path) {
      return join(root, path);
    },
  };
}

async function ensureParent(file: string): Promise<void> {
  const dir = dirname(file);
  try {
    await makeDirectory(dir);
  } catch (error) {
    throw new FileIoError(dir, error, 'cannot create the folder');
  }
}

/**
 * Streams into one file through the stream `openWriteStream` opens (tests inject failing ones). Every
 * stream error is kept and fails the next `write`/`end`, including one that happens while a write
 * waits for its bytes to be written (the wait ends on `error` and `close` too), so a full disk never
 * leaves a truncated file behind a successful run.
 */
class FileArtifactWriter implements ArtifactWriter {
  /** Each write resolves once its bytes are in the OS: the chunk is free then. */
  readonly releasesChunks = true;
  private stream?: WriteStream;
  private readonly ready: Promise<void>;
  private failure?: Error;

  constructor(
    private readonly file: string,
    openStream: OpenWriteStream,
  ) {
    this.ready = ensureParent(file).then(() => {
      const stream = openStream(file);
      stream.on('error', (error) => {
        this.failure ??= new FileIoError(file, error, 'cannot write');
      });
      this.stream = stream;
    });
    // A failure before the first write is reported by that write.
    this.ready.catch(() => undefined);
  }

  async write(chunk: Uint8Array): Promise<void> {
    const stream = await this.open();
    if (stream.destroyed)
      throw (this.failure ??= new FileIoError(this.file, 'the file was closed', 'cannot write'));
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (): void => {
        if (settled) return;
        settled = true;
        stream.off('error', done);
        stream.off('close', done);
        if (this.failure) reject(this.failure);
        else resolve();
      };
      // The callback runs once the chunk is written (or failed); an error or a close before it also
      // ends the wait, with the failure kept by the 'error' listener.
      stream.write(chunk, (error) => {
        if (error) this.failure ??= new FileIoError(this.file, error, 'cannot write');
        done();
      });
      stream.on('error', done);
      stream.on('close', done);
    });
  }

  async end(): Promise<void> {
    const stream = await this.open();
    await new Promise<void>((resolve, reject) => {
      stream.end((error?: Error | null) => {
        if (error && !this.failure) this.failure = new FileIoError(this.file, error, 'cannot write');
        if (this.failure) reject(this.failure);
        else resolve();
      });
    });
  }

  private async open(): Promise<WriteStream> {
    await this.ready;
    if (this.failure) throw this.failure;
    return this.stream!;
  }
}

/** `BlockFileWriter` (direct-file.ts) with the sink's errors: `FileIoError`s that name the file. */
class BlockArtifactWriter implements ArtifactWriter {
  /** `write` copies the chunk into the writer's own block before it resolves. */
  readonly releasesChunks = true;
  private readonly out: BlockFileWriter;

  constructor(private readonly file: string) {
    const ready = ensureParent(file);
    // A failure before the first block is written is reported by the call that needs the file.
    ready.catch(() => undefined);
    this.out = new BlockFileWriter(file, ready);
  }

  async write(chunk: Uint8Array): Promise<void> {
    try {
      await this.out.write(chunk);
    } catch (error) {
      throw this.ioError(error);
    }
  }

  async end(): Promise<void> {
    try {
      await this.out.end();
    } catch (error) {
      throw this.ioError(error);
    }
  }

  private ioError(error: unknown): Error {
    return error instanceof FileIoError ? error : new FileIoError(this.file, error, 'cannot write');
  }
}

/** A buffered text writer over an ArtifactWriter: lines are batched into ~1 MB chunks. */
export class LineWriter {
  private parts: string[] = [];
  private size = 0;

  constructor(
    private readonly out: ArtifactWriter,
    private readonly chunkChars = 1 << 20,
  ) {}

  async line(text: string): Promise<void> {
    this.parts.push(text, '\n');
    this.size += text.length + 1;
    if (this.size >= this.chunkChars) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const chunk = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.size = 0;
    await this.out.write(chunk);
  }

  async end(): Promise<void> {
    await this.flush();
    await this.out.end();
  }
}

/**
 * Shards of framed recordIO records written through a sink: `<dir>/part-00000.recordio`, ... A shard
 * never exceeds `maxBytes` unless one record alone does. `add` is synchronous (it copies into the
 * current chunk); callers `await drain()` whenever `pendingBytes` grows, which hands full chunks to
 * the sink and keeps memory bounded by one chunk per shard in flight.
 */
export class ShardedSinkWriter {
  private readonly paths: string[] = [];
  private current?: ArtifactWriter;
  private shardBytes = 0;
  private chunk: Uint8Array;
  private chunkView: DataView;
  private used = 0;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private records = 0;
  /** Writers of shards whose end has not been drained yet, oldest first. */
  private readonly writers: ArtifactWriter[] = [];

  constructor(
    private readonly sink: ArtifactSink,
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly chunkBytes = 4 << 20,
  ) {
    this.chunk = new Uint8Array(chunkBytes);
    this.chunkView = new DataView(this.chunk.buffer);
  }

  /** Bytes copied but not yet handed to the sink. */
  get pendingBytes(): number {
    return this.queued + this.used;
  }

  /** Records added so far. */
  get count(): number {
    return this.records;
  }

  /** Copies one framed record into the current shard. */
  add(framed: Uint8Array): void {
    // Claim first: claiming may seal the chunk and start a new one, which `buffer` then returns.
    const at = this.claim(framed.length);
    this.buffer.set(framed, at);
  }

  /**
   * Reserves `size` bytes for one record in the current shard and returns their offset in `buffer`;
   * the caller writes exactly `size` bytes there before the next call (no copy for encoders that
   * write in place).
   */
  claim(size: number): number {
    if (this.shardBytes > 0 && this.shardBytes + size > this.maxBytes) this.rollShard();
    if (!this.current) this.openShard();
    if (this.used + size > this.chunk.length) this.sealChunk(size);
    const at = this.used;
    this.used += size;
    this.shardBytes += size;
    this.records++;
    return at;
  }

  /** The chunk `claim` offsets point into (replaced when a chunk is sealed). */
  get buffer(): Uint8Array {
    return this.chunk;
  }

  /** A DataView over `buffer`. */
  get view(): DataView {
    if (this.chunkView.buffer !== this.chunk.buffer) this.chunkView = new DataView(this.chunk.buffer);
    return this.chunkView;
  }

  /** Hands every sealed chunk to the sink, in order. */
  async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.queued -= next.length;
      if (next === SHARD_END) await this.endShard();
      else await this.writers[0].write(next);
    }
  }

  /** Writes everything and returns the shard paths (relative to the sink), in order. */
  async close(): Promise<string[]> {
    if (this.current) this.rollShard();
    await this.drain();
    return [...this.paths];
  }

  private openShard(): void {
    const path = `${this.dir}/part-${String(this.paths.length).padStart(5, '0')}.recordio`;
    this.paths.push(path);
    this.current = this.sink.open(path);
    this.writers.push(this.current);
    this.shardBytes = 0;
  }

  private rollShard(): void {
    this.sealChunk(0);
    this.queue.push(SHARD_END);
    this.current = undefined;
    this.shardBytes = 0;
  }

  private sealChunk(nextRecordBytes: number): void {
    if (this.used > 0) {
      const sealed = this.chunk.slice(0, this.used);
      this.queue.push(sealed);
      this.queued += sealed.length;
    }
    this.chunk = new Uint8Array(Math.max(this.chunkBytes, nextRecordBytes));
    this.used = 0;
  }

  private async endShard(): Promise<void> {
    const writer = this.writers.shift()!;
    await writer.end();
  }
}

/** Queue marker: the shard before it is complete. */
const SHARD_END = new Uint8Array(0);
