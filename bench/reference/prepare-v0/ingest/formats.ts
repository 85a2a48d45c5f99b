// Reference copy (bench/reference/prepare-v0/README.md): functions/core/ingest/formats.ts at 48aa102, imports rewired.
/**
 * The MovieLens rating file formats, how a file's format is recognised, and the row parser.
 *
 * | format        | separator | example line                    | MovieLens files                    |
 * |---------------|-----------|---------------------------------|------------------------------------|
 * | `u.data`      | tab       | `196\t242\t3\t881250949`        | ml-100k u.data, ua.base, ua.test   |
 * | `ratings.dat` | `::`      | `1::1193::5::978300760`         | ml-1m, ml-10m ratings.dat          |
 * | `ratings.csv` | `,`       | `1,1,4.0,964982703`             | ml-latest(-small), ml-20m/25m/32m  |
 *
 * Every row has four columns: user id, movie id, rating, timestamp (Unix seconds). The parser works on
 * raw bytes (no string per line or field on the good path) because ingestion must keep up with
 * MovieLens-32M; a line that fails the fast path is decoded once and classified by `classifyLine`, the
 * single definition of what each bad-row reason means.
 */
import type { RatingFormatOption } from '../../../../functions/core/config';

/** A concrete rating file format (`auto` resolved). */
export type RatingFormat = Exclude<RatingFormatOption, 'auto'>;

/** Column separator of each format. */
export const SEPARATORS: Readonly<Record<RatingFormat, string>> = {
  'u.data': '\t',
  'ratings.dat': '::',
  'ratings.csv': ',',
};

/**
 * Why a row was not accepted, in precedence order: a row gets the first reason that applies.
 *
 * - `empty_line`: nothing but spaces/tabs between two rows (blank lines at the very end are not rows)
 * - `stray_cr`: a carriage return that is not part of the file's CRLF line endings
 * - `line_too_long`: longer than `MAX_LINE_BYTES` (no valid row comes close; bounds memory)
 * - `bad_header`: the first line is text but does not name the four columns
 * - `wrong_column_count`: not exactly four columns
 * - `non_integer_id`: a user or movie id that is not a non-negative decimal integer
 * - `id_out_of_range`: an id above MAX_ID (k-NN returns movie ids as float32 labels, and the serving
 *   path reserves 16,000,000 and up for its user tags: see functions/core/serving/user-tags.ts)
 * - `bad_rating`: the rating is not a finite decimal number
 * - `rating_out_of_range`: the rating is outside [ratingMin, ratingMax]
 * - `bad_timestamp`: the timestamp is not non-negative decimal Unix seconds
 * - `future_timestamp`: the timestamp is later than `maxTimestamp` (now + `ml.ingest.maxFutureSeconds`):
 *   with latest-wins de-duplication a row from the year 3000 would override every later correction
 */
export const BAD_ROW_REASONS = [
  'empty_line',
  'stray_cr',
  'line_too_long',
  'bad_header',
  'wrong_column_count',
  'non_integer_id',
  'id_out_of_range',
  'bad_rating',
  'rating_out_of_range',
  'bad_timestamp',
  'future_timestamp',
] as const;
export type BadRowReason = (typeof BAD_ROW_REASONS)[number];

/** Parse result codes of the byte parser: 0 is a good row, `i + 1` is `BAD_ROW_REASONS[i]`. */
export const ROW_OK = 0;
export const reasonCode = (reason: BadRowReason): number => BAD_ROW_REASONS.indexOf(reason) + 1;
export const reasonOf = (code: number): BadRowReason => BAD_ROW_REASONS[code - 1];

/** Longest accepted line in bytes. A valid row is under 60 bytes; the cap bounds the line buffer. */
export const MAX_LINE_BYTES = 4096;

/**
 * Largest user or movie id: movie ids travel through k-NN as float32 labels and must stay below the
 * user-tag labels (16,000,000 and up); user ids are far below the 16,777,214 the tags can carry.
 */
export const MAX_ID = 15_999_999;

/** The four columns, and the order MovieLens writes them in. */
export const COLUMNS = ['userId', 'movieId', 'rating', 'timestamp'] as const;
export type Column = (typeof COLUMNS)[number];
/** For each position in a line, the column it holds. */
export type ColumnOrder = readonly [Column, Column, Column, Column];
export const STANDARD_ORDER: ColumnOrder = ['userId', 'movieId', 'rating', 'timestamp'];

/** Header names accepted for each column (compared case-insensitively). */
const HEADER_NAMES: Readonly<Record<string, Column>> = {
  userid: 'userId',
  user_id: 'userId',
  user: 'userId',
  movieid: 'movieId',
  movie_id: 'movieId',
  movie: 'movieId',
  itemid: 'movieId',
  item_id: 'movieId',
  item: 'movieId',
  rating: 'rating',
  timestamp: 'timestamp',
};

/**
 * The format a file name suggests, or undefined. `.gz` is ignored; ml-100k's tab files are `u.data`,
 * `ua.base`, `u1.test`, ... (`*.data`, `*.base`, `*.test`, `*.tsv`).
 */
export function formatFromName(name: string): RatingFormat | undefined {
  const base = (name.split('/').pop() ?? '').toLowerCase().replace(/\.(gz|gzip)$/, '');
  if (/\.(data|base|test|tsv)$/.test(base)) return 'u.data';
  if (base.endsWith('.dat')) return 'ratings.dat';
  if (base.endsWith('.csv')) return 'ratings.csv';
  return undefined;
}

/** The format a line's separators suggest: `::` first (a `.dat` line has no tab or comma), then tab, then comma. */
export function formatFromLine(line: string): RatingFormat | undefined {
  if (line.includes('::')) return 'ratings.dat';
  if (line.includes('\t')) return 'u.data';
  if (line.includes(',')) return 'ratings.csv';
  return undefined;
}

/** True when a first line is text rather than a row: its first non-space character is not a digit. */
export function looksLikeHeader(line: string): boolean {
  const trimmed = line.replace(/^[ \t\uFEFF]+/, '');
  return trimmed.length > 0 && !/^[0-9+\-.]/.test(trimmed);
}

/**
 * The column order a header line names, or undefined when it does not name each column exactly once.
 * Names may be quoted and use any case (`userId`, `user_id`, `item`, ...).
 */
export function parseHeader(line: string, format: RatingFormat): ColumnOrder | undefined {
  const names = line.replace(/\r$/, '').split(SEPARATORS[format]);
  if (names.length !== 4) return undefined;
  const order = names.map(
    (n) =>
      HEADER_NAMES[
        n
          .trim()
          .replace(/^"(.*)"$/, '$1')
          .toLowerCase()
      ],
  );
  if (order.some((c) => c === undefined) || new Set(order).size !== 4) return undefined;
  return order as unknown as ColumnOrder;
}

/** A parsed row, or the reason it is bad. */
export type ParsedLine =
  | { ok: true; userId: number; movieId: number; rating: number; timestamp: number }
  | { ok: false; reason: BadRowReason };

/** What the parser needs besides the format. */
export interface LineParserOptions {
  readonly ratingMin: number;
  readonly ratingMax: number;
  /** @default STANDARD_ORDER */
  readonly order?: ColumnOrder;
  /** Latest valid timestamp (Unix seconds); later ones are `future_timestamp`. @default Infinity */
  readonly maxTimestamp?: number;
}

const ID_RE = /^[0-9]+$/;
const DECIMAL_RE = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
const TIMESTAMP_RE = /^[0-9]+(\.[0-9]+)?$/;

/**
 * The reference classification of one line (CRLF already removed): the slow path of `LineParser` and
 * the definition the fast path must agree with. Fields may carry spaces around them.
 */
export function classifyLine(line: string, format: RatingFormat, opts: LineParserOptions): ParsedLine {
  if (line.length > MAX_LINE_BYTES) return { ok: false, reason: 'line_too_long' };
  if (/^[ \t]*$/.test(line)) return { ok: false, reason: 'empty_line' };
  if (line.includes('\r')) return { ok: false, reason: 'stray_cr' };
  const fields = line.split(SEPARATORS[format]);
  if (fields.length !== 4) return { ok: false, reason: 'wrong_column_count' };
  const order = opts.order ?? STANDARD_ORDER;
  const value: Record<Column, string> = { userId: '', movieId: '', rating: '', timestamp: '' };
  fields.forEach((f, i) => (value[order[i]] = f.replace(/^ +| +$/g, '')));
  if (!ID_RE.test(value.userId) || !ID_RE.test(value.movieId)) return { ok: false, reason: 'non_integer_id' };
  if (Number(value.userId) > MAX_ID || Number(value.movieId) > MAX_ID) {
    return { ok: false, reason: 'id_out_of_range' };
  }
  const rating = DECIMAL_RE.test(value.rating) ? Number(value.rating) : NaN;
  if (!Number.isFinite(rating)) return { ok: false, reason: 'bad_rating' };
  if (rating < opts.ratingMin || rating > opts.ratingMax) return { ok: false, reason: 'rating_out_of_range' };
  const timestamp = TIMESTAMP_RE.test(value.timestamp) ? Number(value.timestamp) : NaN;
  if (!Number.isFinite(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  if (timestamp > (opts.maxTimestamp ?? Infinity)) return { ok: false, reason: 'future_timestamp' };
  return { ok: true, userId: Number(value.userId), movieId: Number(value.movieId), rating, timestamp };
}

/** 10^0 .. 10^15, exact in float64. */
const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);
/** At most 15 significant digits keep the mantissa exact, so one division rounds like `Number(text)`. */
const MAX_FAST_DIGITS = 15;
const SPACE = 0x20;
const DOT = 0x2e;

/**
 * Parses rows straight from bytes. `parse` returns `ROW_OK` and sets `userId`, `movieId`, `rating`,
 * `timestamp`, or returns a reason code (`reasonOf`). One instance per file; reused for every line.
 *
 * Fast path: one pass over the bytes, digits accumulated into an exact integer mantissa. Anything it
 * does not recognise (signs, exponents, CRs, quotes, more than 15 digits, ...) goes to `classifyLine`
 * on the decoded line, so both paths classify identically and the fast path needs no error handling.
 */
export class LineParser {
  userId = 0;
  movieId = 0;
  rating = 0;
  timestamp = 0;
  private readonly sep0: number;
  private readonly sepLen: number;
  /** Role per position: 0 user, 1 movie, 2 rating, 3 timestamp. */
  private readonly roles: Uint8Array;
  private readonly maxTimestamp: number;

  constructor(
    readonly format: RatingFormat,
    private readonly opts: LineParserOptions,
  ) {
    const sep = SEPARATORS[format];
    this.sep0 = sep.charCodeAt(0);
    this.sepLen = sep.length;
    this.roles = Uint8Array.from((opts.order ?? STANDARD_ORDER).map((c) => COLUMNS.indexOf(c)));
    this.maxTimestamp = opts.maxTimestamp ?? Infinity;
  }

  /** Parses `bytes[start, end)`: one line without its `\n` (and without the CR of a CRLF file). */
  parse(bytes: Uint8Array, start: number, end: number): number {
    const { sep0, sepLen, roles } = this;
    if (end - start > MAX_LINE_BYTES) return reasonCode('line_too_long');
    let i = start;
    for (let col = 0; col < 4; col++) {
      while (i < end && bytes[i] === SPACE) i++;
      let mantissa = 0;
      let digits = 0;
      let fraction = -1;
      for (; i < end; i++) {
        const c = bytes[i];
        if (c >= 0x30 && c <= 0x39) {
          mantissa = mantissa * 10 + (c - 0x30);
          digits++;
          if (fraction >= 0) fraction++;
        } else if (c === DOT && fraction < 0) {
          fraction = 0;
        } else break;
      }
      while (i < end && bytes[i] === SPACE) i++;
      if (col < 3) {
        if (i >= end || bytes[i] !== sep0 || (sepLen === 2 && bytes[i + 1] !== sep0))
          return this.slow(bytes, start, end);
        i += sepLen;
      } else if (i !== end) return this.slow(bytes, start, end);
      if (digits === 0 || digits > MAX_FAST_DIGITS) return this.slow(bytes, start, end);
      const role = roles[col];
      if (role === 0 || role === 1) {
        if (fraction >= 0 || mantissa > MAX_ID) return this.slow(bytes, start, end);
        if (role === 0) this.userId = mantissa;
        else this.movieId = mantissa;
      } else {
        const value = fraction > 0 ? mantissa / POW10[fraction] : mantissa;
        if (role === 2) this.rating = value;
        // A timestamp needs digits on both sides of a dot ("123." and ".5" are not timestamps).
        else if (fraction === 0 || digits === fraction) return this.slow(bytes, start, end);
        else this.timestamp = value;
      }
    }
    // Ids and timestamp syntax are checked above; the rating range and the timestamp's limit decide
    // between good and a reason the slow path names.
    if (
      this.rating < this.opts.ratingMin ||
      this.rating > this.opts.ratingMax ||
      this.timestamp > this.maxTimestamp
    ) {
      return this.slow(bytes, start, end);
    }
    return ROW_OK;
  }

  private slow(bytes: Uint8Array, start: number, end: number): number {
    const line = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
    const result = classifyLine(line, this.format, this.opts);
    if (!result.ok) return reasonCode(result.reason);
    this.userId = result.userId;
    this.movieId = result.movieId;
    this.rating = result.rating;
    this.timestamp = result.timestamp;
    return ROW_OK;
  }
}

/**
 * Parses one line (string or bytes, without its newline) with `LineParser`: handy for tests and for
 * callers that hold a single line. Never throws on malformed input.
 */
export function parseRatingLine(
  line: string | Uint8Array,
  format: RatingFormat,
  opts: LineParserOptions,
): ParsedLine {
  const bytes = typeof line === 'string' ? Buffer.from(line, 'latin1') : line;
  const parser = new LineParser(format, opts);
  const code = parser.parse(bytes, 0, bytes.length);
  if (code !== ROW_OK) return { ok: false, reason: reasonOf(code) };
  const { userId, movieId, rating, timestamp } = parser;
  return { ok: true, userId, movieId, rating, timestamp };
}
