// Reference copy (bench/reference/prepare-v0/README.md): functions/core/split/artifacts.ts at 48aa102, imports rewired.
/**
 * The split's artifacts and the rows read back from them. The split and the id maps are written as run
 * artifacts (`split/{train,test}.csv`, `id-maps/{users,movies}.csv`) so a run can be audited and
 * repeated; the evaluation and the vector step read them back with `readSplitCsv` / `parseSplitCsv` /
 * `parseIdMapCsv` as columnar `SplitRows` with original ids.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { idMapFromSortedIds } from '../ingest/id-map';
import { LineParser, parseHeader, reasonOf, ROW_OK, STANDARD_ORDER } from '../ingest/formats';
import type { IdMap, Ratings, Split } from '../../../../functions/core/types';

/** The header of the split CSVs: MovieLens `ratings.csv`. */
export const SPLIT_CSV_HEADER = 'userId,movieId,rating,timestamp';
const ROWS_PER_CHUNK = 1 << 15;

/**
 * The rows at `positions` as `ratings.csv` text (header first, original ids), in chunks of 32 Ki rows,
 * so a 25 M-row training set streams to a file or an S3 upload without one giant string.
 */
export function* splitCsvChunks(ratings: Ratings, positions: Uint32Array): Generator<string> {
  const userIds = ratings.users.ids;
  const movieIds = ratings.movies.ids;
  // Ratings take few distinct values (half stars): format each once.
  const ratingText = new Map<number, string>();
  const rating = (r: number): string => {
    let t = ratingText.get(r);
    if (t === undefined) ratingText.set(r, (t = formatRating(r)));
    return t;
  };
  let text = `${SPLIT_CSV_HEADER}\n`;
  for (let k = 0; k < positions.length; k++) {
    const i = positions[k];
    text += `${userIds[ratings.user[i]]},${movieIds[ratings.movie[i]]},${rating(ratings.rating[i])},${ratings.timestamp[i]}\n`;
    if ((k + 1) % ROWS_PER_CHUNK === 0) {
      yield text;
      text = '';
    }
  }
  if (text.length > 0) yield text;
}

/**
 * A float32 rating as the shortest decimal that reads back to the same float32: half stars as
 * MovieLens writes them (`4.0`, `3.5`), anything else without float32 noise (`3.7`, not `3.700000047`).
 */
export function formatRating(rating: number): string {
  if (Number.isInteger(rating * 2)) return Number.isInteger(rating) ? rating.toFixed(1) : String(rating);
  for (let digits = 1; digits <= 9; digits++) {
    const text = String(Number(rating.toPrecision(digits)));
    if (Math.fround(Number(text)) === rating) return text;
  }
  return String(rating);
}

/** `index,id` lines of an id map (index = the dense index used in the run's encoded data). */
export function idMapCsv(map: IdMap): string {
  const lines = ['index,id'];
  for (let i = 0; i < map.size; i++) lines.push(`${i},${map.ids[i]}`);
  return `${lines.join('\n')}\n`;
}

/** The artifact paths `writeSplitArtifacts` writes, relative to its `outDir`. */
export const SPLIT_ARTIFACTS = {
  train: 'split/train.csv',
  test: 'split/test.csv',
  users: 'id-maps/users.csv',
  movies: 'id-maps/movies.csv',
} as const;

/**
 * Writes `split/train.csv`, `split/test.csv` (ratings.csv format, original ids, rows in entry order)
 * and `id-maps/users.csv`, `id-maps/movies.csv` under `outDir`. Resolves with the relative paths.
 */
export async function writeSplitArtifacts(outDir: string, ratings: Ratings, split: Split): Promise<string[]> {
  await mkdir(join(outDir, 'split'), { recursive: true });
  await mkdir(join(outDir, 'id-maps'), { recursive: true });
  await writeFile(join(outDir, SPLIT_ARTIFACTS.train), splitCsvChunks(ratings, split.train));
  await writeFile(join(outDir, SPLIT_ARTIFACTS.test), splitCsvChunks(ratings, split.test));
  await writeFile(join(outDir, SPLIT_ARTIFACTS.users), idMapCsv(ratings.users));
  await writeFile(join(outDir, SPLIT_ARTIFACTS.movies), idMapCsv(ratings.movies));
  return Object.values(SPLIT_ARTIFACTS);
}

/** Rows of a split CSV, columnar, in file order, with original ids. */
export interface SplitRows {
  readonly length: number;
  readonly userId: Int32Array;
  readonly movieId: Int32Array;
  readonly rating: Float32Array;
  readonly timestamp: Float64Array;
}

/** Thrown when a split or id-map CSV is not what `writeSplitArtifacts` writes. */
export class SplitCsvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SplitCsvError';
  }
}

/**
 * Reads a split CSV back (`split/train.csv` or `split/test.csv`) from text, bytes or a stream (an S3
 * body). Strict: the header is required and any bad line throws `SplitCsvError` with its line number,
 * since these files are written by the pipeline and a bad line means a damaged artifact.
 */
export async function readSplitCsv(
  input: string | Uint8Array | NodeJS.ReadableStream | AsyncIterable<Uint8Array | string>,
): Promise<SplitRows> {
  const reader = new SplitCsvReader();
  if (typeof input === 'string' || input instanceof Uint8Array) {
    reader.push(toBuffer(input));
  } else {
    for await (const chunk of input as AsyncIterable<Uint8Array | string>) reader.push(toBuffer(chunk));
  }
  return reader.end();
}

/** `readSplitCsv` for text or bytes already in memory, synchronously. */
export function parseSplitCsv(input: string | Uint8Array): SplitRows {
  const reader = new SplitCsvReader();
  reader.push(toBuffer(input));
  return reader.end();
}

function toBuffer(chunk: string | Uint8Array): Buffer {
  return typeof chunk === 'string'
    ? Buffer.from(chunk, 'utf8')
    : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

class SplitCsvReader {
  private parser: LineParser | null = null;
  private carry: Buffer | null = null;
  private lineNo = 0;
  private length = 0;
  private userId = new Int32Array(1024);
  private movieId = new Int32Array(1024);
  private rating = new Float32Array(1024);
  private timestamp = new Float64Array(1024);

  push(chunk: Buffer): void {
    let bytes = chunk;
    if (this.carry !== null) {
      bytes = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let pos = 0;
    for (;;) {
      const nl = bytes.indexOf(0x0a, pos);
      if (nl < 0) break;
      this.line(bytes, pos, nl);
      pos = nl + 1;
    }
    if (pos < bytes.length) this.carry = Buffer.from(bytes.subarray(pos));
  }

  end(): SplitRows {
    if (this.carry !== null) this.line(this.carry, 0, this.carry.length);
    if (this.parser === null)
      throw new SplitCsvError(`split CSV is empty: expected the header ${SPLIT_CSV_HEADER}`);
    const n = this.length;
    return {
      length: n,
      userId: this.userId.slice(0, n),
      movieId: this.movieId.slice(0, n),
      rating: this.rating.slice(0, n),
      timestamp: this.timestamp.slice(0, n),
    };
  }

  private line(bytes: Buffer, start: number, lfEnd: number): void {
    const lineNo = ++this.lineNo;
    const end = lfEnd > start && bytes[lfEnd - 1] === 0x0d ? lfEnd - 1 : lfEnd;
    if (this.parser === null) {
      const order = parseHeader(bytes.toString('latin1', start, end), 'ratings.csv');
      if (!order || order.some((c, i) => c !== STANDARD_ORDER[i])) {
        throw new SplitCsvError(`split CSV line 1: expected the header ${SPLIT_CSV_HEADER}`);
      }
      this.parser = new LineParser('ratings.csv', { ratingMin: -Infinity, ratingMax: Infinity });
      return;
    }
    const p = this.parser;
    const code = p.parse(bytes, start, end);
    if (code !== ROW_OK) throw new SplitCsvError(`split CSV line ${lineNo}: ${reasonOf(code)}`);
    const i = this.length++;
    if (i === this.userId.length) {
      const grow = <T extends Int32Array | Float32Array | Float64Array>(a: T): T => {
        const next = new (a.constructor as new (n: number) => T)(a.length * 2);
        next.set(a);
        return next;
      };
      this.userId = grow(this.userId);
      this.movieId = grow(this.movieId);
      this.rating = grow(this.rating);
      this.timestamp = grow(this.timestamp);
    }
    this.userId[i] = p.userId;
    this.movieId[i] = p.movieId;
    this.rating[i] = p.rating;
    this.timestamp[i] = p.timestamp;
  }
}

/**
 * Reads `id-maps/users.csv` or `id-maps/movies.csv` back: the ids must be listed by index 0..n-1 in
 * ascending id order, as `idMapCsv` writes them.
 */
export function parseIdMapCsv(text: string): IdMap {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines[0]?.replace(/\r$/, '') !== 'index,id')
    throw new SplitCsvError('id map CSV line 1: expected index,id');
  const ids = new Int32Array(lines.length - 1);
  for (let k = 1; k < lines.length; k++) {
    const match = /^(\d+),(\d+)\r?$/.exec(lines[k]);
    if (!match || Number(match[1]) !== k - 1) {
      throw new SplitCsvError(`id map CSV line ${k + 1}: expected "${k - 1},<id>", got "${lines[k]}"`);
    }
    ids[k - 1] = Number(match[2]);
  }
  try {
    return idMapFromSortedIds(ids);
  } catch (error) {
    throw new SplitCsvError(`id map CSV: ${(error as Error).message}`);
  }
}

/** A user's rows of a `SplitRows` (the shape evaluation's `TestSet` and seen-movie lookups take). */
export interface UserRows {
  readonly movieIds: Int32Array;
  readonly ratings: Float32Array;
}

/** Groups split rows by user id (users in ascending id, each user's movies in file order). */
export function rowsByUser(rows: SplitRows): Map<number, UserRows> {
  const counts = new Map<number, number>();
  for (let i = 0; i < rows.length; i++) counts.set(rows.userId[i], (counts.get(rows.userId[i]) ?? 0) + 1);
  const result = new Map<number, { movieIds: Int32Array; ratings: Float32Array; n: number }>();
  for (const id of Array.from(counts.keys()).sort((a, b) => a - b)) {
    const n = counts.get(id)!;
    result.set(id, { movieIds: new Int32Array(n), ratings: new Float32Array(n), n: 0 });
  }
  for (let i = 0; i < rows.length; i++) {
    const entry = result.get(rows.userId[i])!;
    entry.movieIds[entry.n] = rows.movieId[i];
    entry.ratings[entry.n++] = rows.rating[i];
  }
  return new Map(Array.from(result, ([id, { movieIds, ratings }]) => [id, { movieIds, ratings }]));
}

/** The rows at `positions` of `ratings` with original ids: what `readSplitCsv` gives back from the CSV. */
export function splitRowsOf(ratings: Ratings, positions: Uint32Array): SplitRows {
  const n = positions.length;
  const rows = {
    length: n,
    userId: new Int32Array(n),
    movieId: new Int32Array(n),
    rating: new Float32Array(n),
    timestamp: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const p = positions[i];
    rows.userId[i] = ratings.users.ids[ratings.user[p]];
    rows.movieId[i] = ratings.movies.ids[ratings.movie[p]];
    rows.rating[i] = ratings.rating[p];
    rows.timestamp[i] = ratings.timestamp[p];
  }
  return rows;
}
