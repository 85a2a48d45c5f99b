/**
 * Where a run's artifacts go: a port with two adapters. The core writes through `ArtifactSink`; the
 * local runtime and `reelflow prepare` use `directorySink` (files under a folder), the Lambda handlers
 * use the S3 sink in functions/common/s3-io.ts (multipart uploads straight from memory, so a
 * MovieLens-32M run never needs its gigabytes of recordIO on the function's disk).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** A file being written in pieces. */
export interface ArtifactWriter {
  /** Appends bytes; the returned promise (if any) resolves when the sink can take more. */
  write(chunk: Uint8Array): Promise<void>;
  /** Finishes the file; resolves when it is stored. */
  end(): Promise<void>;
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

/** A sink writing files under `root` (folders are created as needed). */
export function directorySink(root: string): ArtifactSink {
  return {
    async put(path, data) {
      const file = join(root, path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, data);
    },
    open(path) {
      return new FileArtifactWriter(join(root, path));
    },
    locate(path) {
      return join(root, path);
    },
  };
}

class FileArtifactWriter implements ArtifactWriter {
  private stream?: WriteStream;
  private readonly ready: Promise<void>;
  private failure?: Error;

  constructor(file: string) {
    this.ready = mkdir(dirname(file), { recursive: true }).then(() => {
      this.stream = createWriteStream(file);
      this.stream.on('error', (error) => (this.failure = error));
    });
  }

  async write(chunk: Uint8Array): Promise<void> {
    await this.ready;
    if (this.failure) throw this.failure;
    const stream = this.stream!;
    if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve));
  }

  async end(): Promise<void> {
    await this.ready;
    if (this.failure) throw this.failure;
    const stream = this.stream!;
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject);
      stream.end(() => resolve());
    });
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
