// Reference copy (bench/reference/prepare-v0/README.md): functions/core/ingest/validation-report.ts at 48aa102, imports rewired.
/**
 * The validation report of one ingestion (the run's `validation.json`): what happened to each file, the
 * totals, and the accept/reject decision with its one-sentence message. `DataRejectedError` carries a
 * rejected report.
 */
import type { IngestConfig } from '../../../../functions/core/config';
import type { Ratings } from '../../../../functions/core/types';
import { BAD_ROW_REASONS, type BadRowReason, type RatingFormat } from './formats';

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
  /** Lines end in CR alone (classic Mac OS line breaks); set only then. */
  crOnly?: boolean;
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
  /**
   * The file could not be read to the end (corrupt gzip, decompressed size above
   * `maxDecompressedBytes`, UTF-16, ...); the data set is rejected.
   */
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

/** Thrown when the data set must not be used; `report` says why (the message repeats it in words). */
export class DataRejectedError extends Error {
  constructor(readonly report: ValidationReport) {
    super(report.message);
    this.name = 'DataRejectedError';
  }
}

/** Applies `cfg`'s policy to the file reports: totals, bad rows per reason, the verdict and its message. */
export function buildReport(cfg: IngestConfig, files: FileReport[], ratings: Ratings): ValidationReport {
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
