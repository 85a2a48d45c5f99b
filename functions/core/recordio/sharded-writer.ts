/**
 * Writers that cut a stream of framed records into recordIO shards of bounded size. SageMaker training
 * with `ShardedByS3Key` gives each instance whole objects, so a channel is several files, each of
 * which must be a complete recordIO stream: shards end only at record boundaries.
 *
 * Rule: a shard never exceeds `maxBytes`, except a record that alone is larger, which gets a shard of
 * its own. Writing no record produces no shard.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ByteWriter } from './byte-writer';
import { RecordIOEncodeError } from './errors';
import { RECORDIO_MAGIC } from './framing';

/**
 * Where framed records go. `framed` holds one or more complete frames (they stay in one shard) and may be
 * a reused buffer (see `FramedRowEncoder`): `write` must copy or consume it before returning.
 */
export interface FramedRecordSink {
  write(framed: Uint8Array): void;
}

/** Shard file name: `<prefix>-00000.recordio`, `<prefix>-00001.recordio`, ... */
export function shardFileName(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(5, '0')}.recordio`;
}

/** The shard-rolling rule shared by the file and the in-memory writers. */
abstract class ShardRoller implements FramedRecordSink {
  private shardCount = 0;
  private shardBytes = 0;
  private recordBytes = 0;
  protected closed = false;

  protected constructor(protected readonly maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 8) {
      throw new RecordIOEncodeError(`maxBytes must be an integer >= 8, got ${maxBytes}`);
    }
  }

  /** Bytes written so far, over all shards. */
  get bytesWritten(): number {
    return this.recordBytes;
  }

  write(framed: Uint8Array): void {
    if (this.closed) throw new RecordIOEncodeError('write after close');
    checkFramed(framed);
    // An open shard always holds at least one record, so a record that alone exceeds maxBytes still
    // lands in a fresh shard of its own and never loops.
    if (this.shardCount === 0 || this.shardBytes + framed.length > this.maxBytes) {
      if (this.shardCount > 0) this.endShard();
      this.startShard(this.shardCount++);
      this.shardBytes = 0;
    }
    this.append(framed);
    this.shardBytes += framed.length;
    this.recordBytes += framed.length;
  }

  protected get hasOpenShard(): boolean {
    return this.shardCount > 0;
  }

  protected abstract startShard(index: number): void;
  protected abstract append(framed: Uint8Array): void;
  protected abstract endShard(): void;
}

function checkFramed(framed: Uint8Array): void {
  const ok =
    framed.length >= 8 &&
    framed.length % 4 === 0 &&
    (framed[0] | (framed[1] << 8) | (framed[2] << 16) | (framed[3] << 24)) >>> 0 === RECORDIO_MAGIC;
  if (!ok) {
    throw new RecordIOEncodeError(
      'write() takes framed recordIO records (magic header, padded to 4 bytes); frame payloads with frameRecord',
    );
  }
}

export interface ShardedRecordIOWriterOptions {
  /** Directory of the shards; created when missing. */
  readonly dir: string;
  /** File name prefix: shards are `<prefix>-00000.recordio`, ... */
  readonly prefix: string;
  /** Upper bound of one shard in bytes (see the rule above). */
  readonly maxBytes: number;
  /** Bytes buffered before a write to disk. @default 1 MiB */
  readonly bufferBytes?: number;
}

/**
 * Writes shards to files through a fixed write buffer: memory stays at `bufferBytes` whatever the data
 * size. Writes are synchronous because `write` is (a row encoder calls it per row and cannot await);
 * with a 1 MiB buffer that is one system call per MiB, and nothing queues up in memory behind a slow disk.
 */
export class ShardedRecordIOWriter extends ShardRoller {
  private readonly dir: string;
  private readonly prefix: string;
  private readonly buffer: Uint8Array;
  private buffered = 0;
  private fd: number | undefined;
  private readonly paths: string[] = [];

  constructor(options: ShardedRecordIOWriterOptions) {
    super(options.maxBytes);
    this.dir = options.dir;
    this.prefix = options.prefix;
    this.buffer = new Uint8Array(Math.max(4096, options.bufferBytes ?? 1024 * 1024));
  }

  /** Flushes and closes the last shard; returns the shard paths in order. */
  async close(): Promise<string[]> {
    if (!this.closed) {
      this.closed = true;
      if (this.hasOpenShard) this.endShard();
    }
    return [...this.paths];
  }

  protected startShard(index: number): void {
    if (index === 0) mkdirSync(this.dir, { recursive: true });
    const path = join(this.dir, shardFileName(this.prefix, index));
    this.fd = openSync(path, 'w');
    this.paths.push(path);
  }

  protected append(framed: Uint8Array): void {
    if (this.buffered + framed.length > this.buffer.length) this.flush();
    if (framed.length > this.buffer.length) {
      this.writeAll(framed);
    } else {
      this.buffer.set(framed, this.buffered);
      this.buffered += framed.length;
    }
  }

  protected endShard(): void {
    const fd = this.fd!;
    try {
      this.flush();
    } finally {
      this.fd = undefined;
      closeSync(fd);
    }
  }

  private flush(): void {
    if (this.buffered === 0) return;
    const pending = this.buffer.subarray(0, this.buffered);
    this.buffered = 0;
    this.writeAll(pending);
  }

  private writeAll(bytes: Uint8Array): void {
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd!, bytes, done, bytes.length - done);
    } catch (error) {
      // Leave no open descriptor behind a failed disk write.
      this.closed = true;
      const fd = this.fd;
      this.fd = undefined;
      if (fd !== undefined) closeSync(fd);
      throw error;
    }
  }
}

/**
 * The same sharding in memory, for callers that upload each shard as one object (a Lambda writing to
 * S3 without touching /tmp). Memory holds every shard: use it when the channel fits.
 */
export class MemoryShardedRecordIOWriter extends ShardRoller {
  private current: ByteWriter | undefined;
  private readonly shards: Uint8Array[] = [];

  constructor(options: { readonly maxBytes: number }) {
    super(options.maxBytes);
  }

  /** Ends the last shard and returns every shard, in order. */
  close(): Uint8Array[] {
    if (!this.closed) {
      this.closed = true;
      if (this.hasOpenShard) this.endShard();
    }
    return [...this.shards];
  }

  protected startShard(): void {
    this.current = new ByteWriter(Math.min(this.maxBytes, 1024 * 1024));
  }

  protected append(framed: Uint8Array): void {
    const w = this.current!;
    w.ensure(framed.length);
    w.raw(framed);
  }

  protected endShard(): void {
    this.shards.push(this.current!.toBytes());
    this.current = undefined;
  }
}
