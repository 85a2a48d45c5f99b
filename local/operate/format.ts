/**
 * Plain-text formatting shared by the operator commands, in the house style of `npm run runs`
 * (local/run-history.ts formatRuns): left-aligned columns two spaces apart, trailing blanks trimmed,
 * `-` for a value that does not exist, UTC times as `YYYY-MM-DD HH:MM:SS`.
 */

/** Aligned columns: a header line then one line per row; the columns in `right` are right-aligned (numbers). */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  indent = '',
  right: readonly number[] = [],
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    indent +
    cells
      .map((c, i) => (right.includes(i) ? (c ?? '').padStart(widths[i]) : (c ?? '').padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** `2026-12-02 14:03:12`, or `-`. */
export function time(date: Date | string | undefined): string {
  if (date === undefined) return '-';
  const d = typeof date === 'string' ? new Date(date) : date;
  return Number.isNaN(d.getTime()) ? '-' : d.toISOString().replace('T', ' ').slice(0, 19);
}

/** `45s`, `3m 12s`, `1h 02m`. */
export function duration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** A metric value with four decimals, or `-`. */
export function metric(value: number | null | undefined): string {
  return value === null || value === undefined ? '-' : value.toFixed(4);
}

/** One line, at most `max` characters. */
export function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length <= max ? one : `${one.slice(0, max - 3)}...`;
}

/** The primary metric of a metric map: ndcg@10 (cdk.json's gate.primaryMetric default) when present, else the first. */
export function primaryMetric(
  metrics: Readonly<Record<string, number>> | null | undefined,
): [string, number] | undefined {
  if (!metrics) return undefined;
  if (metrics['ndcg@10'] !== undefined) return ['ndcg@10', metrics['ndcg@10']];
  return Object.entries(metrics)[0];
}
