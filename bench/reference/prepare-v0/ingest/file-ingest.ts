// Reference copy (bench/reference/prepare-v0/README.md): functions/core/ingest/file-ingest.ts at 48aa102, imports rewired.
/**
 * One file (batch) of an ingestion, streamed: bytes split into lines, the format, CRLF and header
 * decided from the first bytes, each line parsed and validated, bad rows counted per reason into the
 * file's `FileReport`. Lines end in LF (CRLF decided by the first line) or, in a file whose line breaks
 * are CRs alone (classic Mac OS), in CR. Good rows go to the ingestion's `RatingStore`.
 */
import type { IngestConfig } from '../../../../functions/core/config';
import {
  BAD_ROW_REASONS,
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
import type { RatingStore } from './rating-store';
import type { FileReport, ReasonSample } from './validation-report';

/** Bytes gathered before deciding a file's format, CRLF and header. */
const SNIFF_BYTES = 1 << 16;
const LF = 0x0a;
const CR = 0x0d;

/** Per-file streaming state: line splitting on bytes, format/CRLF/header decisions, row counting. */
export class FileIngest {
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
  /** The byte that ends a line: LF, or CR in a CR-only file. */
  private eol = LF;

  constructor(
    name: string,
    private readonly sourceIndex: number,
    private readonly cfg: IngestConfig,
    private readonly store: RatingStore,
    private readonly maxTimestamp = Infinity,
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
      const bom = head[0] === 0xff ? 'FF FE' : 'FE FF';
      this.fail(`${this.report.name}: the file is UTF-16 (byte order mark ${bom}); save it as UTF-8`);
      return false;
    }
    const utf16 = utf16WithoutBom(head);
    if (utf16) {
      this.fail(`${this.report.name}: the file is UTF-16 (${utf16}, no byte order mark); save it as UTF-8`);
      return false;
    }
    if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) head = head.subarray(3);
    if (isCrOnly(head)) {
      this.eol = CR;
      this.report.crOnly = true;
    }
    const firstEnd = head.indexOf(this.eol);
    const firstLine = head.subarray(0, firstEnd < 0 ? Math.min(head.length, MAX_LINE_BYTES) : firstEnd);
    this.report.crlf = this.eol === LF && firstEnd > 0 && head[firstEnd - 1] === CR;
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
      maxTimestamp: this.maxTimestamp,
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
    const firstContent = text.split(this.eol === CR ? '\r' : '\n').find((l) => l.trim().length > 0) ?? '';
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
      const nl = chunk.indexOf(this.eol);
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
      const nl = chunk.indexOf(this.eol, pos);
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

/**
 * `little-endian` or `big-endian` when the first bytes look like UTF-16 text without a byte order
 * mark: ASCII digits and separators in UTF-16 have a zero byte in every other position, which no
 * UTF-8 rating file has.
 */
function utf16WithoutBom(head: Buffer): string | undefined {
  const pairs = Math.min(head.length, 4096) >> 1;
  if (pairs < 2) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i < pairs; i++) {
    if (head[2 * i] === 0) evenZeros++;
    if (head[2 * i + 1] === 0) oddZeros++;
  }
  if (oddZeros >= 0.4 * pairs && evenZeros <= 0.05 * pairs) return 'little-endian';
  if (evenZeros >= 0.4 * pairs && oddZeros <= 0.05 * pairs) return 'big-endian';
  return undefined;
}

/** True when the first bytes break lines with CRs alone (more lone CRs than LFs). */
function isCrOnly(head: Buffer): boolean {
  let loneCr = 0;
  let lf = 0;
  for (let i = 0; i < head.length; i++) {
    if (head[i] === LF) lf++;
    else if (head[i] === CR && head[i + 1] !== LF) loneCr++;
  }
  return loneCr > 0 && loneCr > lf;
}

function isBlank(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c !== 0x20 && c !== 0x09) return false;
  }
  return true;
}
