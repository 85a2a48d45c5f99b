/**
 * The two archive formats SageMaker artifacts use: `model.tar.gz` (a gzipped POSIX tar, read and written
 * with tar-stream + node:zlib) and the zip inside the FM `model_algo-1` (fflate). Everything is in
 * memory: artifacts are a few MB at most, and handlers read them from and write them to S3 as buffers.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { unzipSync, zipSync } from 'fflate';
import { extract, pack } from 'tar-stream';

/** Thrown when bytes are not the archive they should be (truncated, foreign, corrupt). */
export class ArchiveError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ArchiveError';
  }
}

/** A named file inside an archive. Names use `/` and no leading `./`. */
export type ArchiveEntries = ReadonlyArray<readonly [name: string, bytes: Uint8Array]>;

const GZIP_MAGIC = [0x1f, 0x8b];
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/** True when `bytes` start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return startsWith(bytes, GZIP_MAGIC);
}

/** True when `bytes` start with a zip local file header (`PK\x03\x04`). */
export function isZip(bytes: Uint8Array): boolean {
  return startsWith(bytes, ZIP_MAGIC);
}

/** Reads every regular file of a `.tar.gz` (or plain `.tar`) into a map keyed by normalized name. */
export async function readTarGz(bytes: Uint8Array, what = 'archive'): Promise<Map<string, Uint8Array>> {
  let tar: Buffer;
  try {
    tar = isGzip(bytes) ? gunzipSync(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (error) {
    throw new ArchiveError(`${what} is not a valid gzip stream (truncated or corrupt)`, { cause: error });
  }
  if (tar.length < 512 || !isUstarOrV7Header(tar)) {
    throw new ArchiveError(`${what} is not a tar archive`);
  }
  const files = new Map<string, Uint8Array>();
  const extractor = extract();
  const done = new Promise<void>((resolve, reject) => {
    extractor.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') files.set(normalizeName(header.name), Buffer.concat(chunks));
        next();
      });
      stream.on('error', reject);
    });
    extractor.on('finish', resolve);
    extractor.on('error', (error: Error) =>
      reject(new ArchiveError(`${what} is not a valid tar archive: ${error.message}`, { cause: error })),
    );
  });
  extractor.end(tar);
  await done;
  return files;
}

/**
 * Writes a `.tar.gz` with the entries in the given order. Deterministic: fixed mtime, mode, owner, so
 * the same entries always give the same bytes (artifacts can be compared and cached by hash).
 */
export async function writeTarGz(entries: ArchiveEntries): Promise<Buffer> {
  const packer = pack();
  const chunks: Buffer[] = [];
  packer.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    packer.on('end', resolve);
    packer.on('error', reject);
  });
  for (const [name, bytes] of entries) {
    await new Promise<void>((resolve, reject) => {
      packer.entry(
        { name, size: bytes.byteLength, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, type: 'file' },
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        (error) => (error ? reject(error) : resolve()),
      );
    });
  }
  packer.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks), { level: 6 });
}

/** Reads every file of a zip archive (stored or deflated members). */
export function readZip(bytes: Uint8Array, what = 'zip archive'): Map<string, Uint8Array> {
  if (!isZip(bytes)) throw new ArchiveError(`${what} is not a zip archive`);
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (error) {
    throw new ArchiveError(`${what} is a corrupt or truncated zip: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const out = new Map<string, Uint8Array>();
  for (const [name, content] of Object.entries(files)) {
    if (!name.endsWith('/')) out.set(normalizeName(name), content);
  }
  return out;
}

/**
 * Writes a zip with the entries in order and a fixed timestamp (deterministic bytes). `level` 0 stores
 * members uncompressed: right for float matrices that barely compress and are gzipped again by the
 * enclosing model.tar.gz. @default level 6 (deflate)
 */
export function writeZip(entries: ArchiveEntries, options: { level?: 0 | 6 | 9 } = {}): Uint8Array {
  const input: Record<string, [Uint8Array, { mtime: Date }]> = {};
  for (const [name, bytes] of entries) input[name] = [bytes, { mtime: new Date(Date.UTC(1980, 0, 1)) }];
  return zipSync(input, { level: options.level ?? 6 });
}

function normalizeName(name: string): string {
  return name.replace(/^(\.\/)+/, '');
}

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  if (bytes.length < magic.length) return false;
  return magic.every((b, i) => bytes[i] === b);
}

/** A tar header block has a checksum over its 512 bytes; checking it rejects foreign data early. */
function isUstarOrV7Header(tar: Buffer): boolean {
  const stored = parseInt(tar.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : tar[i];
  return sum === stored;
}
