// Reference copy (bench/reference/prepare-v0/README.md): functions/core/ingest/ingest.ts at 48aa102, imports rewired.
/**
 * Ratings ingestion: every uploaded batch (file) streamed, parsed, validated row by row, unioned and
 * de-duplicated into one columnar `Ratings`, with a `ValidationReport` that says what was dropped and
 * why. The data set is all batches so far, not the newest file.
 *
 * This module runs the sources in order; the work is split by concern:
 * - file-ingest.ts: one file's bytes -> lines -> validated rows (format, CRLF and header decisions);
 * - rating-store.ts: the de-duplicated entries, memory bounded by the distinct (user, movie) pairs;
 * - id-interner.ts: original ids -> dense indices;
 * - validation-report.ts: the report, the accept/reject policy and `DataRejectedError`.
 *
 * Latest wins: for a repeated (user, movie) the row with the greatest timestamp is kept; on equal
 * timestamps the later one in ingestion order wins (a later source, then a later line of the same
 * source), since sources are given in upload order.
 */
import type { IngestConfig } from '../../../../functions/core/config';
import type { Ratings } from '../../../../functions/core/types';
import { FileIngest } from './file-ingest';
import { RatingStore } from './rating-store';
import { CorruptSourceError, openDecoded, type RatingSource } from './sources';
import { buildReport, DataRejectedError, type FileReport, type ValidationReport } from './validation-report';

/** Options of `ingestRatings`. */
export interface IngestOptions {
  /** Called with the running row count about every million rows, and once at the end. */
  onProgress?: (rows: number) => void;
  /** The time `ml.ingest.maxFutureSeconds` counts from (tests inject it). @default new Date() */
  now?: Date;
}

/** `Ratings.source` is a Uint16Array. */
export const MAX_SOURCES = 0xffff;
const PROGRESS_EVERY = 1 << 20;
/** MovieLens rows take ~20-30 bytes (`1,1,4.0,964982703`): bytes / 20 slightly overestimates rows. */
const BYTES_PER_ROW_ESTIMATE = 20;

/**
 * Reads, validates and unions `sources` (in upload order). Resolves with the de-duplicated ratings and
 * an accepted report; throws `DataRejectedError` when there are no rows, no good rows, bad rows above
 * `cfg.maxBadRowShare`, or a file that cannot be read to the end (corrupt gzip, a gzip bomb past
 * `cfg.maxDecompressedBytes`, UTF-16). Read errors of a source (I/O) are
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
  const maxTimestamp = Math.floor((opts.now ?? new Date()).getTime() / 1000) + cfg.maxFutureSeconds;
  let rowsSoFar = 0;
  let nextProgress = PROGRESS_EVERY;
  for (let s = 0; s < sources.length; s++) {
    const source = sources[s];
    const file = new FileIngest(source.name, s, cfg, store, maxTimestamp);
    try {
      const decoded = await openDecoded(source, { maxDecompressedBytes: cfg.maxDecompressedBytes });
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
