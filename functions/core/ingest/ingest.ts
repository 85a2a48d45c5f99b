/**
 * Ratings ingestion: every uploaded batch (file) streamed, parsed, validated row by row, unioned and
 * de-duplicated into one columnar `Ratings`, with a `ValidationReport` that says what was dropped and
 * why. The data set is all batches so far, not the newest file.
 *
 * Memory is bounded by the distinct (user, movie) pairs, never by the rows: entries live in growable
 * typed arrays (22 bytes each) and an open-addressing hash over (user index, movie index) finds the
 * entry a repeated pair replaces (4 bytes per slot, load <= 1/2). No JS object or string per row; a JS
 * Map keyed by strings would cost ~100 bytes per pair and a string per row.
 *
 * Latest wins: for a repeated (user, movie) the row with the greatest timestamp is kept; on equal
 * timestamps the later one in ingestion order wins (a later source, then a later line of the same
 * source), since sources are given in upload order.
 */
import type { IngestConfig } from '../config';
import type { Ratings } from '../types';
import {
  BAD_ROW_REASONS,
  type BadRowReason,
  type ColumnOrder,
  formatFromLine,
  formatFromName,
  LineParser,
  looksLikeHeader,
  MAX_LINE_BYTES,
  parseHeader,
  type RatingFormat,
  reasonCode,
  ROW_OK,
} from './formats';
import { idMapFromIds } from './id-map';
import { CorruptSourceError, openDecoded, type RatingSource } from './sources';

/** How a file's format was decided. */
export type FormatDecision = 'override' | 'content' | 'name' | 'default';

/** Count of one bad-row reason in one file, with the first line numbers (1-based, physical lines). */
export interface ReasonSample {
  count: number;
  lines: number[];
}

/** What happened to one file (batch). */
export interface FileReport {
  name: string;
  format: RatingFormat;
  formatDecidedBy: FormatDecision;
  /** Set when the name and the content disagree, to say which one won. */
  formatNote?: string;
  gzip: boolean;
  /** Lines end in CRLF (decided by the first line); their CRs are not errors. */
  crlf: boolean;
  /** The first line named the columns and was skipped. */
  header: boolean;
  /** Decompressed bytes read. */
  bytes: number;
  /** Physical lines, including a header and trailing blank lines. */
  lines: number;
  /** Rows = good + bad; a header and blank lines at the end of the file are not rows. */
  rows: number;
  goodRows: number;
  badRows: number;
  trailingEmptyLines: number;
  reasons: Partial<Record<BadRowReason, ReasonSample>>;
  /** The file could not be read to the end (corrupt gzip, UTF-16, ...); the data set is rejected. */
  error?: string;
}

/** The validation report of one ingestion, written as the run's `validation.json`. JSON-serializable. */
export interface ValidationReport {
  accepted: boolean;
  /** One sentence: what was accepted, or why the data set was rejected. */
  message: string;
  policy: {
    format: IngestConfig['format'];
    maxBadRowShare: number;
    ratingMin: number;
    ratingMax: number;
  };
  totals: {
    files: number;
    rows: number;
    goodRows: number;
    badRows: number;
    /** badRows / rows (0 when there are no rows). */
    badShare: number;
    /** Good rows folded into an existing (user, movie) entry: goodRows - ratings. */
    duplicatesReplaced: number;
    distinctUsers: number;
    distinctMovies: number;
    /** Entries in the data set: distinct (user, movie) pairs. */
    ratings: number;
  };
  /** Bad rows per reason over all files (reasons with a count only, in `BAD_ROW_REASONS` order). */
  reasons: Partial<Record<BadRowReason, number>>;
  files: FileReport[];
}

/** Options of `ingestRatings`. */
export interface IngestOptions {
  /** Called with the running row count about every million rows, and once at the end. */
  onProgress?: (rows: number) => void;
}

/** Thrown when the data set must not be used; `report` says why (the message repeats it in words). */
export class DataRejectedError extends Error {
  constructor(readonly report: ValidationReport) {
    super(report.message);
    this.name = 'DataRejectedError';
  }
}

/** `Ratings.source` is a Uint16Array. */
export const MAX_SOURCES = 0xffff;
/** Bytes gathered before deciding a file's format, CRLF and header. */
const SNIFF_BYTES = 1 << 16;
const PROGRESS_EVERY = 1 << 20;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Reads, validates and unions `sources` (in upload order). Resolves with the de-duplicated ratings and
 * an accepted report; throws `DataRejectedError` when there are no rows, no good rows, bad rows above
 * `cfg.maxBadRowShare`, or a file that cannot be read to the end. Read errors of a source (I/O) are
 * not data errors and pass through unchanged.
 */
export async function ingestRatings(
  sources: readonly RatingSource[],
  cfg: IngestConfig,
  opts: IngestOptions = {},
): Promise<{ ratings: Ratings; report: ValidationReport }> {
  if (sources.length > MAX_SOURCES) {
    throw new RangeError(`ingestRatings: at most ${MAX_SOURCES} sources, got ${sources.length}`);
  }
  // Pre-sized from the byte count, the columns and the pair table never grow or rehash on the way for
  // plain files (at 10 M rows that saves a quarter of the time); gzip sizes underestimate, and then
  // the store grows as before.
  const knownBytes = sources.reduce((sum, source) => sum + (source.sizeBytes ?? 0), 0);
  const store = new RatingStore(Math.ceil(knownBytes / BYTES_PER_ROW_ESTIMATE));
  const files: FileReport[] = [];
  let rowsSoFar = 0;
  let nextProgress = PROGRESS_EVERY;
  for (let s = 0; s < sources.length; s++) {
    const source = sources[s];
    const file = new FileIngest(source.name, s, cfg, store);
    try {
      const decoded = await openDecoded(source);
      file.report.gzip = decoded.gzip;
      for await (const chunk of decoded.chunks) {
        if (!file.push(chunk)) break;
        if (opts.onProgress && rowsSoFar + file.report.rows >= nextProgress) {
          opts.onProgress(rowsSoFar + file.report.rows);
          nextProgress = rowsSoFar + file.report.rows + PROGRESS_EVERY;
        }
      }
      file.end();
    } catch (error) {
      if (!(error instanceof CorruptSourceError)) throw error;
      file.fail(error.message);
    }
    rowsSoFar += file.report.rows;
    files.push(file.finish());
  }
  opts.onProgress?.(rowsSoFar);

  const ratings = store.toRatings(sources.map((source) => source.name));
  const report = buildReport(cfg, files, ratings);
  if (!report.accepted) throw new DataRejectedError(report);
  return { ratings, report };
}

/** Per-file streaming state: line splitting on bytes, format/CRLF/header decisions, row counting. */
class FileIngest {
  readonly report: FileReport;
  private parser: LineParser | null = null;
  private window: Buffer[] = [];
  private windowBytes = 0;
  /** Bytes of an unfinished line carried to the next chunk (at most MAX_LINE_BYTES are kept). */
  private carry: Buffer | null = null;
  private carryOverflow = false;
  private lineNo = 0;
  /** Line 1 is a header to skip, or a bad header row. */
  private firstLine: 'row' | 'header' | 'bad_header' = 'row';
  private pendingBlank = 0;
  private pendingBlankStart = 0;
  private readonly reasonSamples: (ReasonSample | undefined)[] = [];
  private stopped = false;

  constructor(
    name: string,
    private readonly sourceIndex: number,
    private readonly cfg: IngestConfig,
    private readonly store: RatingStore,
  ) {
    this.report = {
      name,
      format: 'ratings.csv',
      formatDecidedBy: 'default',
      gzip: false,
      crlf: false,
      header: false,
      bytes: 0,
      lines: 0,
      rows: 0,
      goodRows: 0,
      badRows: 0,
      trailingEmptyLines: 0,
      reasons: {},
    };
  }

  /** Feeds decompressed bytes; false when the file must not be read further. */
  push(chunk: Buffer): boolean {
    if (this.stopped) return false;
    this.report.bytes += chunk.length;
    if (this.parser === null) {
      this.window.push(chunk);
      this.windowBytes += chunk.length;
      if (this.windowBytes < SNIFF_BYTES) return true;
      return this.start();
    }
    this.scan(chunk);
    return true;
  }

  end(): void {
    if (this.stopped) return;
    if (this.parser === null && !this.start()) return;
    if (this.carryOverflow) {
      this.overlongLine();
    } else if (this.carry !== null) {
      // A last line without a newline is a line like any other.
      const last = this.carry;
      this.carry = null;
      this.line(last, 0, last.length);
    }
    this.report.trailingEmptyLines = this.pendingBlank;
    this.pendingBlank = 0;
  }

  fail(message: string): void {
    this.stopped = true;
    this.report.error = message;
  }

  finish(): FileReport {
    this.report.lines = this.lineNo;
    const reasons: FileReport['reasons'] = {};
    BAD_ROW_REASONS.forEach((reason, i) => {
      const sample = this.reasonSamples[i + 1];
      if (sample) reasons[reason] = sample;
    });
    this.report.reasons = reasons;
    return this.report;
  }

  /** Decides format, CRLF and header from the first bytes, then scans them. */
  private start(): boolean {
    let head = this.window.length === 1 ? this.window[0] : Buffer.concat(this.window);
    this.window = [];
    if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
      this.fail(`${this.report.name}: UTF-16 text is not supported; save the file as UTF-8 or ASCII`);
      return false;
    }
    if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) head = head.subarray(3);
    const firstEnd = head.indexOf(LF);
    const firstLine = head.subarray(0, firstEnd < 0 ? Math.min(head.length, MAX_LINE_BYTES) : firstEnd);
    this.report.crlf = firstEnd > 0 && head[firstEnd - 1] === CR;
    const format = this.decideFormat(head);
    let order: ColumnOrder | undefined;
    const firstText = firstLine.toString('latin1').replace(/\r$/, '');
    if (looksLikeHeader(firstText)) {
      order = parseHeader(firstText, format);
      this.firstLine = order ? 'header' : 'bad_header';
      this.report.header = order !== undefined;
    }
    this.parser = new LineParser(format, {
      ratingMin: this.cfg.ratingMin,
      ratingMax: this.cfg.ratingMax,
      order,
    });
    this.scan(head);
    return true;
  }

  private decideFormat(head: Buffer): RatingFormat {
    const report = this.report;
    const byName = formatFromName(report.name);
    if (this.cfg.format !== 'auto') {
      report.format = this.cfg.format;
      report.formatDecidedBy = 'override';
      return report.format;
    }
    // The first line with content decides; the name only breaks a tie (no separator at all).
    const text = head.subarray(0, Math.min(head.length, SNIFF_BYTES)).toString('latin1');
    const firstContent = text.split('\n').find((l) => l.trim().length > 0) ?? '';
    const byContent = formatFromLine(firstContent);
    if (byContent) {
      report.format = byContent;
      report.formatDecidedBy = 'content';
      if (byName && byName !== byContent) {
        const what = { 'u.data': 'tab', 'ratings.dat': '"::"', 'ratings.csv': 'comma' }[byContent];
        report.formatNote = `the name suggests ${byName} but the first line is ${what}-separated; read as ${byContent}`;
      }
    } else if (byName) {
      report.format = byName;
      report.formatDecidedBy = 'name';
    } else {
      report.format = 'ratings.csv';
      report.formatDecidedBy = 'default';
    }
    return report.format;
  }

  /** Splits `chunk` into lines (joining the carry from the previous chunk). */
  private scan(chunk: Buffer): void {
    let pos = 0;
    if (this.carry !== null || this.carryOverflow) {
      const nl = chunk.indexOf(LF);
      if (nl < 0) {
        this.extendCarry(chunk);
        return;
      }
      if (this.carryOverflow) {
        this.overlongLine();
      } else {
        const line = Buffer.concat([this.carry!, chunk.subarray(0, nl)]);
        this.carry = null;
        this.line(line, 0, line.length);
      }
      pos = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(LF, pos);
      if (nl < 0) break;
      this.line(chunk, pos, nl);
      pos = nl + 1;
    }
    if (pos < chunk.length) this.extendCarry(chunk.subarray(pos));
  }

  private extendCarry(bytes: Buffer): void {
    if (this.carryOverflow) return;
    const length = (this.carry?.length ?? 0) + bytes.length;
    if (length > MAX_LINE_BYTES) {
      // Only the fact that the line is too long is kept, not its bytes.
      this.carryOverflow = true;
      this.carry = null;
      return;
    }
    this.carry = this.carry === null ? Buffer.from(bytes) : Buffer.concat([this.carry, bytes]);
  }

  /** A line that outgrew the carry buffer: its bytes were dropped, only its verdict is kept. */
  private overlongLine(): void {
    this.carryOverflow = false;
    this.carry = null;
    this.lineNo++;
    if (this.pendingBlank > 0) this.flushBlankLines();
    this.bad(reasonCode('line_too_long'));
  }

  private line(bytes: Buffer, start: number, lfEnd: number): void {
    const lineNo = ++this.lineNo;
    let end = lfEnd;
    if (this.report.crlf && end > start && bytes[end - 1] === CR) end--;
    if (isBlank(bytes, start, end)) {
      if (this.pendingBlank++ === 0) this.pendingBlankStart = lineNo;
      return;
    }
    if (this.pendingBlank > 0) this.flushBlankLines();
    if (lineNo === 1 && this.firstLine !== 'row') {
      if (this.firstLine === 'bad_header') this.bad(reasonCode('bad_header'));
      return;
    }
    const p = this.parser!;
    const code = p.parse(bytes, start, end);
    if (code !== ROW_OK) {
      this.bad(code);
      return;
    }
    this.report.rows++;
    this.report.goodRows++;
    this.store.add(p.userId, p.movieId, p.rating, p.timestamp, this.sourceIndex);
  }

  /** Blank lines followed by a row are bad rows; blank lines at the end of the file are not rows. */
  private flushBlankLines(): void {
    const code = reasonCode('empty_line');
    const first = this.pendingBlankStart;
    for (let i = 0; i < this.pendingBlank; i++) this.badAt(code, first + i);
    this.pendingBlank = 0;
  }

  private bad(code: number): void {
    this.badAt(code, this.lineNo);
  }

  private badAt(code: number, lineNo: number): void {
    this.report.rows++;
    this.report.badRows++;
    let sample = this.reasonSamples[code];
    if (sample === undefined) sample = this.reasonSamples[code] = { count: 0, lines: [] };
    sample.count++;
    if (sample.lines.length < this.cfg.sampleLinesPerReason) sample.lines.push(lineNo);
  }
}

function isBlank(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c !== 0x20 && c !== 0x09) return false;
  }
  return true;
}

/**
 * Original id -> dense index in first-seen order (open addressing, linear probing, Fibonacci hashing).
 * Ids are non-negative, so -1 marks an empty slot.
 */
class IdInterner {
  ids: Int32Array = new Int32Array(1024);
  size = 0;
  private keys = new Int32Array(2048).fill(-1);
  private values = new Int32Array(2048);
  private shift = 32 - 11;
  private lastId = -1;
  private lastIndex = -1;

  intern(id: number): number {
    // Files are usually grouped by user: the same id as the previous row is the common case.
    if (id === this.lastId) return this.lastIndex;
    const keys = this.keys;
    const mask = keys.length - 1;
    let slot = Math.imul(id, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const key = keys[slot];
      if (key === id) {
        this.lastId = id;
        return (this.lastIndex = this.values[slot]);
      }
      if (key === -1) break;
      slot = (slot + 1) & mask;
    }
    const index = this.size++;
    keys[slot] = id;
    this.values[slot] = index;
    if (index === this.ids.length) this.ids = grow(this.ids, this.ids.length * 2);
    this.ids[index] = id;
    if (this.size * 2 > keys.length) this.rehash(keys.length * 2);
    this.lastId = id;
    return (this.lastIndex = index);
  }

  private rehash(capacity: number): void {
    this.keys = new Int32Array(capacity).fill(-1);
    this.values = new Int32Array(capacity);
    this.shift = 32 - Math.log2(capacity);
    const mask = capacity - 1;
    for (let i = 0; i < this.size; i++) {
      let slot = Math.imul(this.ids[i], 0x9e3779b1) >>> this.shift;
      while (this.keys[slot] !== -1) slot = (slot + 1) & mask;
      this.keys[slot] = this.ids[i];
      this.values[slot] = i;
    }
  }
}

type Column = Float32Array | Float64Array | Uint16Array | Int32Array;

function grow<T extends Column>(array: T, capacity: number): T {
  const next = new (array.constructor as new (n: number) => T)(capacity);
  next.set(array);
  return next;
}

/** Mixes a (user, movie) index pair into 32 bits (lowbias32 finalizer). */
function hashPair(user: number, movie: number): number {
  let h = Math.imul(user, 0x9e3779b1) ^ Math.imul(movie, 0x85ebca6b);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  return h ^ (h >>> 16);
}

/** MovieLens rows take ~20-30 bytes (`1,1,4.0,964982703`): bytes / 20 slightly overestimates rows. */
const BYTES_PER_ROW_ESTIMATE = 20;
/** Pre-size for at most 64 M entries (a ~1.5 GB csv); larger inputs grow as they go. */
const MAX_PRESIZED_ENTRIES = 1 << 26;

/** Movie indices take the low 26 bits of an entry key; users the 27 bits above (53 bits in a double). */
const MOVIE_BITS = 2 ** 26;
const MAX_USERS = 2 ** 27;
/** A slot holds entry index + 1 in its low 27 bits and 5 bits of the pair's hash above them. */
const SLOT_INDEX_BITS = 27;
const SLOT_INDEX_MASK = 2 ** SLOT_INDEX_BITS - 1;
const MAX_ENTRIES = SLOT_INDEX_MASK - 1;

/**
 * The de-duplicated entries: columnar growable arrays plus the pair hash. An entry's (user, movie) is
 * packed into one float64 key, and each slot carries 5 bits of the hash, so a probe that meets another
 * pair's slot usually moves on without reading the entry (the cache misses are the cost at 32 M rows).
 */
class RatingStore {
  length = 0;
  private key: Float64Array;
  private rating: Float32Array;
  private timestamp: Float64Array;
  private source: Uint16Array;
  /** Entry index + 1 per slot; 0 is empty. */
  private slots: Int32Array | null;
  private readonly users = new IdInterner();
  private readonly movies = new IdInterner();

  /** `expectedEntries` sizes the columns and the table (at most half full) up front. */
  constructor(expectedEntries = 0) {
    const entries = Math.min(Math.max(1 << 16, expectedEntries), MAX_PRESIZED_ENTRIES);
    this.key = new Float64Array(entries);
    this.rating = new Float32Array(entries);
    this.timestamp = new Float64Array(entries);
    this.source = new Uint16Array(entries);
    this.slots = new Int32Array(2 ** Math.ceil(Math.log2(2 * entries + 1)));
  }

  add(userId: number, movieId: number, rating: number, timestamp: number, source: number): void {
    const u = this.users.intern(userId);
    const m = this.movies.intern(movieId);
    if (m === MOVIE_BITS || u === MAX_USERS) {
      throw new RangeError(`ingestRatings: more than ${MOVIE_BITS} movies or ${MAX_USERS} users`);
    }
    const key = u * MOVIE_BITS + m;
    const slots = this.slots!;
    const mask = slots.length - 1;
    const hash = hashPair(u, m);
    const tag = (hash >>> SLOT_INDEX_BITS) << SLOT_INDEX_BITS;
    let slot = hash & mask;
    for (;;) {
      const entry = slots[slot];
      if (entry === 0) break;
      const e = (entry & SLOT_INDEX_MASK) - 1;
      if ((entry & ~SLOT_INDEX_MASK) === tag && this.key[e] === key) {
        if (timestamp >= this.timestamp[e]) {
          this.rating[e] = rating;
          this.timestamp[e] = timestamp;
          this.source[e] = source;
        }
        return;
      }
      slot = (slot + 1) & mask;
    }
    const e = this.length++;
    if (e === MAX_ENTRIES) throw new RangeError(`ingestRatings: more than ${MAX_ENTRIES} distinct ratings`);
    if (e === this.key.length) this.growEntries();
    this.key[e] = key;
    this.rating[e] = rating;
    this.timestamp[e] = timestamp;
    this.source[e] = source;
    slots[slot] = tag | (e + 1);
    if (this.length * 2 > slots.length) this.rehash(slots.length * 2);
  }

  private growEntries(): void {
    // x1.5 keeps the unused tail at 1/3 of the entries at most (typed arrays cannot be resized in place).
    const capacity = Math.ceil(this.key.length * 1.5);
    this.key = grow(this.key, capacity);
    this.rating = grow(this.rating, capacity);
    this.timestamp = grow(this.timestamp, capacity);
    this.source = grow(this.source, capacity);
  }

  private rehash(capacity: number): void {
    this.slots = null; // let the old table go before the new one is allocated
    const slots = new Int32Array(capacity);
    const mask = capacity - 1;
    for (let e = 0; e < this.length; e++) {
      const key = this.key[e];
      const u = Math.floor(key / MOVIE_BITS);
      const hash = hashPair(u, key - u * MOVIE_BITS);
      let slot = hash & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = ((hash >>> SLOT_INDEX_BITS) << SLOT_INDEX_BITS) | (e + 1);
    }
    this.slots = slots;
  }

  /** Exact-length columns with user/movie indices renumbered to ascending original id. */
  toRatings(sourceNames: string[]): Ratings {
    this.slots = null;
    const n = this.length;
    const users = idMapFromIds(this.users.ids.subarray(0, this.users.size));
    const movies = idMapFromIds(this.movies.ids.subarray(0, this.movies.size));
    const userRank = rankOf(this.users.ids, this.users.size, users.indexOf);
    const movieRank = rankOf(this.movies.ids, this.movies.size, movies.indexOf);
    const user = new Uint32Array(n);
    const movie = new Uint32Array(n);
    const keys = this.key;
    for (let i = 0; i < n; i++) {
      const u = Math.floor(keys[i] / MOVIE_BITS);
      user[i] = userRank[u];
      movie[i] = movieRank[keys[i] - u * MOVIE_BITS];
    }
    this.key = new Float64Array(0);
    const rating = this.rating.slice(0, n);
    this.rating = new Float32Array(0);
    const timestamp = this.timestamp.slice(0, n);
    this.timestamp = new Float64Array(0);
    const source = this.source.slice(0, n);
    this.source = new Uint16Array(0);
    return { length: n, user, movie, rating, timestamp, source, users, movies, sourceNames };
  }
}

function rankOf(
  firstSeenIds: Int32Array,
  size: number,
  indexOf: (id: number) => number | undefined,
): Uint32Array {
  const rank = new Uint32Array(size);
  for (let i = 0; i < size; i++) rank[i] = indexOf(firstSeenIds[i])!;
  return rank;
}

function buildReport(cfg: IngestConfig, files: FileReport[], ratings: Ratings): ValidationReport {
  let rows = 0;
  let goodRows = 0;
  let badRows = 0;
  const reasonCounts = new Map<BadRowReason, number>();
  for (const file of files) {
    rows += file.rows;
    goodRows += file.goodRows;
    badRows += file.badRows;
    for (const [reason, sample] of Object.entries(file.reasons) as [BadRowReason, ReasonSample][]) {
      reasonCounts.set(reason, (reasonCounts.get(reason) ?? 0) + sample.count);
    }
  }
  const reasons: ValidationReport['reasons'] = {};
  for (const reason of BAD_ROW_REASONS)
    if (reasonCounts.has(reason)) reasons[reason] = reasonCounts.get(reason);
  const badShare = rows > 0 ? badRows / rows : 0;
  const failed = files.filter((f) => f.error !== undefined);
  const nFiles = counted(files.length, 'file');
  const worst = Array.from(reasonCounts.entries())
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([reason, n]) => `${reason} ${count(n)}`)
    .join(', ');

  let message: string;
  let accepted = false;
  if (files.length === 0) {
    message = 'rejected: no rating files were given';
  } else if (failed.length > 0) {
    message = `rejected: ${failed.length} of ${nFiles} could not be read: ${failed.map((f) => f.error).join('; ')}`;
  } else if (rows === 0) {
    message = `rejected: the data set has no rows (${nFiles}, all empty)`;
  } else if (goodRows === 0) {
    message = `rejected: none of the ${count(rows)} rows in ${nFiles} is valid (${worst})`;
  } else if (badShare > cfg.maxBadRowShare) {
    message =
      `rejected: ${percent(badShare)} of rows are bad (${count(badRows)} of ${count(rows)}), above the allowed ` +
      `${percent(cfg.maxBadRowShare)} (maxBadRowShare); most common: ${worst}`;
  } else {
    accepted = true;
    message =
      `accepted ${counted(ratings.length, 'rating')} by ${counted(ratings.users.size, 'user')} of ` +
      `${counted(ratings.movies.size, 'movie')} from ${nFiles}: ${counted(badRows, 'bad row')} dropped` +
      (badRows > 0 ? ` (${percent(badShare)}: ${worst})` : '') +
      `, ${counted(goodRows - ratings.length, 'duplicate')} replaced`;
  }
  return {
    accepted,
    message,
    policy: {
      format: cfg.format,
      maxBadRowShare: cfg.maxBadRowShare,
      ratingMin: cfg.ratingMin,
      ratingMax: cfg.ratingMax,
    },
    totals: {
      files: files.length,
      rows,
      goodRows,
      badRows,
      badShare,
      duplicatesReplaced: goodRows - ratings.length,
      distinctUsers: ratings.users.size,
      distinctMovies: ratings.movies.size,
      ratings: ratings.length,
    },
    reasons,
    files,
  };
}

function counted(n: number, noun: string): string {
  return `${count(n)} ${noun}${n === 1 ? '' : 's'}`;
}

function count(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function percent(share: number): string {
  const p = share * 100;
  if (p === 0 || p >= 10) return `${p.toFixed(0)}%`;
  return `${p >= 1 ? p.toFixed(1) : p >= 0.01 ? p.toFixed(2) : p.toPrecision(2)}%`;
}
