/**
 * The file writer of `directorySink` (sink.ts): a file streamed in 8 MB blocks written at their
 * offsets, and on Linux with O_DIRECT, i.e. from aligned memory straight to the device instead of
 * through the page cache.
 *
 * Why: the bytes of a big run are written once and not read back by this process, and copying them
 * into the page cache is what writing them costs. On the 2-core VMs the benches run on, every page
 * cache page is a fresh page of the guest's memory, and writing the ~3.5 GB a 10 M-row Prepare writes
 * took 11-14 s of system CPU, as much as the rest of Prepare's framing and encoding: `dd bs=4M` of
 * 3.5 GB took 12.9 s of system CPU buffered and 0.5 s with `oflag=direct`. With two cores, that CPU
 * is taken from the thread that frames the next records.
 *
 * How: O_DIRECT needs the memory, the file offset and the length aligned to the device's block. The
 * blocks are views of `WebAssembly.Memory` buffers (page-aligned by construction, unlike Node's
 * Buffers, which are malloc'ed), reused across files (`BlockPool`); every block but the last is full,
 * and of the last only the aligned part goes the direct way, its tail (< 4 KiB) through a second,
 * ordinary descriptor. A file that ends inside its first block is written the ordinary way at `end`
 * (id maps, reports: small files never pay O_DIRECT's synchronous device write). Where O_DIRECT is
 * refused (tmpfs, other systems: EINVAL at open, or a write refused as misaligned) the same blocks
 * are written through an ordinary descriptor, so the bytes are the same everywhere.
 */
import { constants } from 'node:fs';
import { open, writeFile, type FileHandle } from 'node:fs/promises';

/** Block size: a multiple of the alignment, and large enough that a write is one device request. */
export const BLOCK_BYTES = 8 << 20;
/** O_DIRECT alignment of offsets and lengths: the largest logical block size of common devices. */
const ALIGN = 4096;
/** Blocks of one file being written while the next one fills. */
const MAX_IN_FLIGHT = 2;
const WASM_PAGE = 1 << 16;
/** Free blocks are dropped this long after the last one came back (nothing held between runs). */
const POOL_IDLE_MS = 2000;

/** `WebAssembly.Memory`, which Node has but the project's TypeScript libs (ES2023) do not declare. */
const WasmMemory = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } };
  }
).WebAssembly.Memory;

/**
 * Page-aligned blocks of `BLOCK_BYTES`, reused: a block taken from the pool is already-touched memory,
 * where a fresh one would fault in each of its pages again (the same cost as the page cache's).
 */
class BlockPool {
  private free: Uint8Array[] = [];
  private lent = 0;
  private idle: ReturnType<typeof setTimeout> | undefined;

  take(): Uint8Array {
    this.lent++;
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    const pages = BLOCK_BYTES / WASM_PAGE;
    return this.free.pop() ?? new Uint8Array(new WasmMemory({ initial: pages, maximum: pages }).buffer);
  }

  give(block: Uint8Array): void {
    this.lent--;
    this.free.push(block);
    if (this.lent === 0 && !this.idle) {
      this.idle = setTimeout(() => {
        this.idle = undefined;
        if (this.lent === 0) this.free = [];
      }, POOL_IDLE_MS);
      this.idle.unref();
    }
  }
}

const pool = new BlockPool();

/** The O_DIRECT flag where the platform has it (Linux), else 0 (then no file is opened that way). */
const O_DIRECT: number = (constants as { O_DIRECT?: number }).O_DIRECT ?? 0;

/**
 * One file written in blocks at their offsets (see the module doc). `write` copies the chunk into the
 * current block and resolves once it is copied (the chunk is free then) and, when blocks are all in
 * flight, once one is back; `end` writes the last block and closes. Errors are raw file-system errors
 * (the sink names the file); after one, every call rejects with it, and the descriptors are closed
 * once the blocks in flight are back.
 */
export class BlockFileWriter {
  private block: Uint8Array | undefined;
  private fill = 0;
  /** File offset of the current block. */
  private position = 0;
  /** Set when the file is created (at the first full block), resolved once it is open. */
  private opened: Promise<void> | undefined;
  private directHandle: FileHandle | undefined;
  private plainHandle: Promise<FileHandle> | undefined;
  private readonly inFlight: Promise<void>[] = [];
  private closed: Promise<void> | undefined;
  private failure: unknown;
  private failed = false;

  constructor(
    private readonly file: string,
    /** Resolves when the file's folder exists (rejects with why not). */
    private readonly ready: Promise<void>,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    this.check();
    let at = 0;
    while (at < chunk.length) {
      if (!this.block) {
        while (this.inFlight.length >= MAX_IN_FLIGHT) await this.inFlight.shift();
        this.check();
        this.block = pool.take();
      }
      const n = Math.min(chunk.length - at, BLOCK_BYTES - this.fill);
      this.block.set(n === chunk.length ? chunk : chunk.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      if (this.fill === BLOCK_BYTES) this.flush(BLOCK_BYTES);
    }
  }

  async end(): Promise<void> {
    try {
      this.check();
      if (!this.opened) {
        // The whole file fits its first block: one ordinary write.
        await this.ready;
        await writeFile(this.file, this.block ? this.block.subarray(0, this.fill) : new Uint8Array(0));
      } else {
        const fill = this.fill;
        const aligned = fill - (fill % ALIGN);
        // A copy: the block goes back to the pool (and to another file) once its aligned part is written.
        const tail = this.block?.slice(aligned, fill);
        const tailAt = this.position + aligned;
        if (aligned > 0) this.flush(aligned);
        while (this.inFlight.length > 0) await this.inFlight.shift();
        this.check();
        if (tail && tail.length > 0) await writeAll(await this.plain(), tail, tail.length, tailAt);
      }
    } catch (error) {
      this.fail(error);
      throw error;
    } finally {
      this.giveBack();
      await this.close();
    }
    this.check();
  }

  /** Starts writing `block[0, length)` at the current block's offset; the block goes back when done. */
  private flush(length: number): void {
    const block = this.block!;
    const at = this.position;
    this.block = undefined;
    this.fill = 0;
    this.position += length;
    this.opened ??= this.create();
    const done = this.writeBlock(block, length, at).then(
      () => pool.give(block),
      (error: unknown) => {
        pool.give(block);
        this.fail(error);
      },
    );
    this.inFlight.push(done);
  }

  private async writeBlock(block: Uint8Array, length: number, at: number): Promise<void> {
    await this.opened;
    const direct = this.directHandle;
    if (direct) {
      try {
        await writeAll(direct, block, length, at);
        return;
      } catch (error) {
        // A file system that takes O_DIRECT opens but not these writes: the ordinary way from now on.
        if ((error as { code?: string }).code !== 'EINVAL') throw error;
        this.directHandle = undefined;
        this.closeQuietly(direct);
      }
    }
    await writeAll(await this.plain(), block, length, at);
  }

  /** Creates (truncates) the file: the O_DIRECT descriptor, or an ordinary one where it is refused. */
  private async create(): Promise<void> {
    await this.ready;
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC;
    if (O_DIRECT !== 0) {
      try {
        this.directHandle = await open(this.file, flags | O_DIRECT, 0o666);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== 'EINVAL') throw error;
      }
    }
    this.plainHandle = open(this.file, flags, 0o666);
    await this.plainHandle;
  }

  /** The ordinary descriptor (the unaligned tail, or every block where O_DIRECT is refused). */
  private plain(): Promise<FileHandle> {
    return (this.plainHandle ??= open(this.file, constants.O_WRONLY));
  }

  private giveBack(): void {
    if (this.block) pool.give(this.block);
    this.block = undefined;
    this.fill = 0;
  }

  /** Closes the descriptors once the blocks in flight are back; a close error fails the writer. */
  private close(): Promise<void> {
    return (this.closed ??= (async () => {
      await Promise.allSettled(this.inFlight.splice(0));
      await this.opened?.catch(() => undefined);
      const handles: Promise<FileHandle | undefined>[] = [Promise.resolve(this.directHandle)];
      if (this.plainHandle) handles.push(this.plainHandle.catch(() => undefined));
      this.directHandle = undefined;
      for (const handle of await Promise.all(handles)) {
        try {
          await handle?.close();
        } catch (error) {
          this.fail(error);
        }
      }
    })());
  }

  private closeQuietly(handle: FileHandle): void {
    handle.close().catch(() => undefined);
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.failure = error;
    this.giveBack();
    void this.close();
  }

  private check(): void {
    if (this.failed) throw this.failure;
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, length: number, at: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await handle.write(bytes, done, length - done, at + done);
    if (bytesWritten === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}
