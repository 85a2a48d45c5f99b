/**
 * Tiny static SVG charts for the evaluation report: line chart by K, grouped bars, and a delta-with-
 * interval (forest) chart. Hand-written because every plotting library either needs a browser or a JS
 * runtime bundle in the page; the report must be one self-contained file with no scripts.
 */

/** One line or bar series. `null` values are gaps. */
export interface ChartSeries {
  readonly name: string;
  readonly color: string;
  readonly values: ReadonlyArray<number | null>;
  readonly dashed?: boolean;
}

/** Escapes text for HTML/SVG element content and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const WIDTH = 520;
const HEIGHT = 280;
const PAD = { left: 56, right: 16, top: 34, bottom: 64 };
const FONT = 'font-family="system-ui, sans-serif" font-size="11"';

/** Round tick values spanning [0, max] (at least [0, 1e-9]). */
export function niceTicks(max: number, count = 5): number[] {
  const top = max > 0 ? max : 1e-9;
  const raw = top / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = 0; v <= top + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < top) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function tickLabel(value: number, percent: boolean): string {
  if (percent) return `${Number((value * 100).toPrecision(3))}%`;
  return String(Number(value.toPrecision(3)));
}

function frame(title: string, body: string, legend: readonly ChartSeries[]): string {
  const legendItems = legend
    .map((s, i) => {
      const x = PAD.left + i * 118;
      const y = HEIGHT - 14;
      const dash = s.dashed ? ' stroke-dasharray="4 3"' : '';
      return (
        `<line x1="${x}" y1="${y - 4}" x2="${x + 18}" y2="${y - 4}" stroke="${escapeHtml(s.color)}" stroke-width="3"${dash}/>` +
        `<text x="${x + 22}" y="${y}" ${FONT}>${escapeHtml(s.name)}</text>`
      );
    })
    .join('');
  return (
    `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeHtml(title)}">` +
    `<title>${escapeHtml(title)}</title>` +
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-family="system-ui, sans-serif" font-size="13" font-weight="600">${escapeHtml(title)}</text>` +
    body +
    legendItems +
    '</svg>'
  );
}

function yAxis(ticks: number[], scaleY: (v: number) => number, percent: boolean, label: string): string {
  const grid = ticks
    .map((t) => {
      const y = scaleY(t).toFixed(1);
      return (
        `<line x1="${PAD.left}" y1="${y}" x2="${WIDTH - PAD.right}" y2="${y}" stroke="#e5e7eb"/>` +
        `<text x="${PAD.left - 6}" y="${y}" dy="4" text-anchor="end" ${FONT}>${tickLabel(t, percent)}</text>`
      );
    })
    .join('');
  const midY = (PAD.top + HEIGHT - PAD.bottom) / 2;
  return (
    grid +
    `<text transform="translate(14 ${midY}) rotate(-90)" text-anchor="middle" ${FONT}>${escapeHtml(label)}</text>`
  );
}

/** A line chart of each series over numeric x values (e.g. K), with a marker and tooltip per point. */
export function lineChart(opts: {
  title: string;
  x: readonly number[];
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
}): string {
  const values = opts.series.flatMap((s) =>
    s.values.filter((v): v is number => v !== null && Number.isFinite(v)),
  );
  const ticks = niceTicks(Math.max(0, ...values));
  const yMax = ticks[ticks.length - 1];
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const n = opts.x.length;
  const scaleX = (i: number): number => PAD.left + (n === 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const scaleY = (v: number): number => PAD.top + plotH - (v / yMax) * plotH;
  const xAxis =
    opts.x
      .map(
        (x, i) =>
          `<text x="${scaleX(i).toFixed(1)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle" ${FONT}>${escapeHtml(x)}</text>`,
      )
      .join('') +
    `<text x="${PAD.left + plotW / 2}" y="${HEIGHT - PAD.bottom + 32}" text-anchor="middle" ${FONT}>${escapeHtml(opts.xLabel)}</text>`;
  const lines = opts.series
    .map((s) => {
      const color = escapeHtml(s.color);
      const points: string[] = [];
      const markers: string[] = [];
      s.values.forEach((v, i) => {
        if (v === null || !Number.isFinite(v)) return;
        const cx = scaleX(i).toFixed(1);
        const cy = scaleY(v).toFixed(1);
        points.push(`${cx},${cy}`);
        markers.push(
          `<circle cx="${cx}" cy="${cy}" r="3.5" fill="${color}"><title>${escapeHtml(`${s.name} ${opts.x[i]}: ${v}`)}</title></circle>`,
        );
      });
      const dash = s.dashed ? ' stroke-dasharray="4 3"' : '';
      const path =
        points.length > 1
          ? `<polyline points="${points.join(' ')}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`
          : '';
      return path + markers.join('');
    })
    .join('');
  return frame(opts.title, yAxis(ticks, scaleY, false, opts.yLabel) + xAxis + lines, opts.series);
}

/** Grouped vertical bars: one group per category, one bar per series. */
export function barChart(opts: {
  title: string;
  categories: readonly string[];
  yLabel: string;
  series: readonly ChartSeries[];
  percent?: boolean;
}): string {
  const percent = opts.percent ?? false;
  const values = opts.series.flatMap((s) =>
    s.values.filter((v): v is number => v !== null && Number.isFinite(v)),
  );
  const ticks = niceTicks(Math.max(0, ...values));
  const yMax = ticks[ticks.length - 1];
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const groupW = plotW / Math.max(1, opts.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, opts.series.length);
  const scaleY = (v: number): number => PAD.top + plotH - (v / yMax) * plotH;
  const xAxis = opts.categories
    .map(
      (c, i) =>
        `<text x="${(PAD.left + groupW * (i + 0.5)).toFixed(1)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle" ${FONT}>${escapeHtml(c)}</text>`,
    )
    .join('');
  const bars = opts.series
    .map((s, si) =>
      s.values
        .map((v, ci) => {
          if (v === null || !Number.isFinite(v)) return '';
          const x = PAD.left + groupW * ci + groupW * 0.1 + barW * si;
          const y = scaleY(v);
          const label = `${s.name} ${opts.categories[ci]}: ${tickLabel(v, percent)}`;
          return (
            `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barW.toFixed(1)}" height="${(PAD.top + plotH - y).toFixed(1)}" fill="${escapeHtml(s.color)}">` +
            `<title>${escapeHtml(label)}</title></rect>`
          );
        })
        .join(''),
    )
    .join('');
  return frame(opts.title, yAxis(ticks, scaleY, percent, opts.yLabel) + xAxis + bars, opts.series);
}

/** One row of an interval chart. */
export interface IntervalRow {
  readonly label: string;
  readonly value: number;
  readonly lo: number;
  readonly hi: number;
}

/** Horizontal point-and-interval chart around a zero line (candidate - production with 95% CIs). */
export function intervalChart(opts: { title: string; xLabel: string; rows: readonly IntervalRow[] }): string {
  const extent = Math.max(
    1e-9,
    ...opts.rows.flatMap((r) => [Math.abs(r.lo), Math.abs(r.hi), Math.abs(r.value)]),
  );
  const ticks = niceTicks(extent, 3);
  const xMax = ticks[ticks.length - 1];
  const left = 110;
  const plotW = WIDTH - left - PAD.right;
  const rowH = 18;
  const height = PAD.top + opts.rows.length * rowH + 44;
  const scaleX = (v: number): number => left + ((v + xMax) / (2 * xMax)) * plotW;
  const axis = [
    ...ticks
      .slice(1)
      .map((t) => -t)
      .reverse(),
    ...ticks,
  ]
    .map((t) => {
      const x = scaleX(t).toFixed(1);
      return (
        `<line x1="${x}" y1="${PAD.top - 4}" x2="${x}" y2="${height - 38}" stroke="${t === 0 ? '#6b7280' : '#e5e7eb'}"/>` +
        `<text x="${x}" y="${height - 24}" text-anchor="middle" ${FONT}>${tickLabel(t, false)}</text>`
      );
    })
    .join('');
  const rows = opts.rows
    .map((r, i) => {
      const y = PAD.top + i * rowH + rowH / 2;
      const color = r.lo > 0 ? '#15803d' : r.hi < 0 ? '#b91c1c' : '#374151';
      const tip = escapeHtml(`${r.label}: ${r.value} [${r.lo}, ${r.hi}]`);
      return (
        `<text x="${left - 8}" y="${y}" dy="4" text-anchor="end" ${FONT}>${escapeHtml(r.label)}</text>` +
        `<line x1="${scaleX(r.lo).toFixed(1)}" y1="${y}" x2="${scaleX(r.hi).toFixed(1)}" y2="${y}" stroke="${color}" stroke-width="2"/>` +
        `<circle cx="${scaleX(r.value).toFixed(1)}" cy="${y}" r="4" fill="${color}"><title>${tip}</title></circle>`
      );
    })
    .join('');
  const title = escapeHtml(opts.title);
  return (
    `<svg viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${title}">` +
    `<title>${title}</title>` +
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-family="system-ui, sans-serif" font-size="13" font-weight="600">${title}</text>` +
    axis +
    rows +
    `<text x="${left + plotW / 2}" y="${height - 8}" text-anchor="middle" ${FONT}>${escapeHtml(opts.xLabel)}</text>` +
    '</svg>'
  );
}
