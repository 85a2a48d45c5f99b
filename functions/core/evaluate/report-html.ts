/**
 * The human side of an evaluation: a self-contained HTML report (inline CSS and SVG, no scripts, fonts
 * or external URLs, so it opens from S3, a mail attachment or the local disk alike) and the plain-text
 * summary shown to the person who approves the deployment. Both show the FM training job's own test
 * metrics (accuracy, F1, cross-entropy) when the evaluation has them.
 */
import type { Evaluation } from './evaluation';
import { formatMetricValue, formatShare } from './gate';
import { METRIC_FAMILIES, type MetricMap } from './metrics';
import { barChart, type ChartSeries, escapeHtml, intervalChart, lineChart } from './svg-chart';
import {
  FM_TEST_METRIC_LABELS,
  formatFmTestMetrics,
  type IalsTrainingReport,
  WORKSHOP_FM_TEST_METRICS,
} from './training-metrics';
import { tuningNote, tuningSection } from './tuning-report';

/** CodePipeline manual approval `CustomData` is limited to 500 characters. */
export const APPROVAL_SHORT_MAX = 500;
/** Upper bound of the long approval summary (notification e-mails, logs). */
export const APPROVAL_SUMMARY_MAX = 2000;

const COLORS = { candidate: '#2563eb', production: '#6b7280', popularity: '#d97706', random: '#a855f7' };
const FAMILY_TITLES: Record<string, string> = {
  precision: 'Precision@K',
  recall: 'Recall@K',
  ndcg: 'NDCG@K',
  hit_rate: 'Hit rate@K',
  mrr: 'MRR@K (reciprocal rank of the first hit)',
};

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1120px;padding:0 1rem;color:#111827}
h1{font-size:1.5rem;margin-bottom:.25rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #e5e7eb;padding-bottom:.25rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.5rem 0}dl.meta dt{color:#6b7280}dl.meta dd{margin:0}
.verdict{border-radius:6px;padding:.75rem 1rem;margin:1rem 0;border:1px solid}
.verdict.passed{background:#f0fdf4;border-color:#15803d}.verdict.rejected{background:#fef2f2;border-color:#b91c1c}
.badge{font-weight:700;letter-spacing:.04em}.passed .badge{color:#15803d}.rejected .badge{color:#b91c1c}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}th,td{padding:.3rem .6rem;border-bottom:1px solid #e5e7eb;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f9fafb}
.better{color:#15803d}.worse{color:#b91c1c}.muted{color:#6b7280}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0;border:1px solid #e5e7eb;border-radius:6px;padding:.5rem}
figcaption{font-size:.8rem;color:#6b7280;max-width:520px}pre{background:#f9fafb;padding:.75rem;overflow:auto;font-size:.8rem}
`;

/** Renders the evaluation as one self-contained HTML page. Every interpolated text is escaped. */
export function renderReportHtml(evaluation: Evaluation): string {
  const e = evaluation;
  const runId = e.meta.runId ?? 'unnamed run';
  const title = `reelflow evaluation: ${runId}`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>`,
    header(e, title),
    metricsSection(e),
    trainingSection(e),
    tuningSection(e.tuning),
    chartsSection(e),
    coldStartSection(e),
    configSection(e),
    '</body></html>',
  ].join('\n');
}

function header(e: Evaluation, title: string): string {
  const rows: Array<[string, unknown]> = [
    ['Run', e.meta.runId ?? '-'],
    ['Candidate version', e.meta.candidateVersion ?? '-'],
    ['Production version', e.production ? (e.meta.productionVersion ?? '-') : 'none (first deployment)'],
  ];
  if (e.meta.createdAt) rows.push(['Created', e.meta.createdAt]);
  for (const [key, value] of Object.entries(e.meta)) {
    if (['runId', 'candidateVersion', 'productionVersion', 'createdAt'].includes(key) || value === undefined)
      continue;
    rows.push([key, typeof value === 'object' ? JSON.stringify(value) : value]);
  }
  const c = e.counts;
  const verdictClass = e.gate.passed ? 'passed' : 'rejected';
  return [
    `<header><h1>${escapeHtml(title)}</h1>`,
    '<dl class="meta">',
    ...rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`),
    '</dl>',
    `<div class="verdict ${verdictClass}"><div class="badge">Gate: ${e.gate.passed ? 'PASSED' : 'REJECTED'}</div>`,
    '<ul>',
    ...e.gate.reasons.map((r) => `<li>${escapeHtml(r)}</li>`),
    '</ul></div>',
    `<p class="muted">${c.evaluatedUsers} test users evaluated (of ${c.testUsers}; ${c.skippedNoRelevant} without a relevant ` +
      `held-out movie skipped), ${c.relevantItems} relevant movies (${escapeHtml(relevanceText(e))}), ` +
      `${c.catalogSize} recommendable movies${testOnlyText(e)}, top ${c.maxK} ` +
      `recommendations per user${c.commonUsers !== null ? `, ${c.commonUsers} users known to both candidate and production` : ''}.</p>`,
    '</header>',
  ].join('\n');
}

/** Which held-out ratings count as relevant. */
export function relevanceText(e: Evaluation): string {
  const min = e.config.evaluation.relevanceMinRating;
  return min === undefined ? 'every held-out rating is relevant' : `held-out ratings >= ${min} are relevant`;
}

/** `; 12 movies rated only in the test split are not recommendable` (empty when there are none). */
function testOnlyText(e: Evaluation): string {
  const n = e.counts.testOnlyMovies ?? 0;
  return n > 0
    ? `; ${n} movie${n === 1 ? '' : 's'} rated only in the test split ${n === 1 ? 'is' : 'are'} not recommendable`
    : '';
}

function trainingSection(e: Evaluation): string {
  const ials = e.training?.ials;
  if (ials) return ialsSection(ials);
  const fm = e.training?.fm;
  if (!fm) return '';
  const title = `<section><h2>FM training job: test channel</h2>`;
  if (!fm.testMetrics) {
    return `${title}<p class="muted">${escapeHtml(fm.job)}: no test metrics (${escapeHtml(fm.note ?? fm.status)}).</p></section>`;
  }
  const names = [
    ...Object.keys(FM_TEST_METRIC_LABELS).filter((n) => fm.testMetrics![n] !== undefined),
    ...Object.keys(fm.testMetrics).filter((n) => !(n in FM_TEST_METRIC_LABELS)),
  ];
  const rows = names.map(
    (n) =>
      `<tr><td>${escapeHtml(FM_TEST_METRIC_LABELS[n] ?? n)}</td><td class="muted">${escapeHtml(n)}</td>` +
      `<td>${num(fm.testMetrics![n])}</td><td class="muted">${num(WORKSHOP_FM_TEST_METRICS[n])}</td></tr>`,
  );
  return (
    `${title}<table><thead><tr><th>Metric</th><th>FinalMetricDataList name</th><th>${escapeHtml(fm.job)}</th>` +
    `<th>Workshop (ml-100k ua)</th></tr></thead><tbody>${rows.join('')}</tbody></table>` +
    `<p class="muted">The training job's own classification metrics on its test channel (label: rating at or above ` +
    `the encoding's threshold), as the built-in reports them. The workshop column is the built-in's result in the seed ` +
    `workshop (MovieLens-100k ua.base / ua.test, workshop objective and settings), for reference only.</p></section>`
  );
}

function num(value: number | undefined | null, digits = 4): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function signed(value: number, digits = 4): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
}

function metricOrder(e: Evaluation): string[] {
  const ks = [...e.config.evaluation.ks].sort((a, b) => a - b);
  const names = METRIC_FAMILIES.flatMap((f) => ks.map((k) => `${f}@${k}`));
  return [...new Set([...names, 'mrr', 'coverage'])];
}

function metricsSection(e: Evaluation): string {
  const cmp = e.comparison;
  const head =
    '<thead><tr><th>Metric</th><th>Candidate</th><th>Production</th><th>Most-popular</th><th>Random</th>' +
    (cmp ? '<th>Δ candidate − production</th><th>95% CI</th><th>Verdict</th>' : '') +
    '</tr></thead>';
  const rows = metricOrder(e).map((name) => {
    const cells = [
      `<td>${escapeHtml(name)}</td>`,
      `<td>${num(e.candidate[name])}</td>`,
      `<td>${num(e.production?.[name])}</td>`,
      `<td>${num(e.baselines.popularity[name])}</td>`,
      `<td>${num(e.baselines.random[name])}</td>`,
    ];
    if (cmp) {
      const d = cmp.metrics[name];
      if (d) {
        const cls = d.verdict === 'better' ? 'better' : d.verdict === 'worse' ? 'worse' : 'muted';
        const rel =
          d.relativeDelta !== null
            ? ` (${d.relativeDelta >= 0 ? '+' : ''}${formatShare(d.relativeDelta)})`
            : '';
        cells.push(
          `<td class="${cls}">${signed(d.delta)}${escapeHtml(rel)}</td>`,
          `<td>${d.ci95 ? `[${signed(d.ci95[0])}, ${signed(d.ci95[1])}]` : '-'}</td>`,
          `<td class="${cls}">${escapeHtml(d.verdict ?? '-')}</td>`,
        );
      } else cells.push('<td>-</td><td>-</td><td>-</td>');
    }
    return `<tr>${cells.join('')}</tr>`;
  });
  const note = cmp
    ? `<p class="muted">Candidate, production and baseline columns are means over the users each model knows. ` +
      `Δ and its 95% interval (paired percentile bootstrap, ${cmp.bootstrapSamples} resamples) compare both models ` +
      `on the ${cmp.nUsers} users they both know.</p>`
    : '<p class="muted">No production model: the candidate is compared with the baselines only.</p>';
  return `<section><h2>Metrics</h2><table>${head}<tbody>${rows.join('')}</tbody></table>${note}</section>`;
}

function seriesFor(e: Evaluation, pick: (m: MetricMap) => number | null): ChartSeries[] {
  const series: ChartSeries[] = [{ name: 'candidate', color: COLORS.candidate, values: [pick(e.candidate)] }];
  if (e.production)
    series.push({ name: 'production', color: COLORS.production, values: [pick(e.production)] });
  series.push(
    { name: 'most-popular', color: COLORS.popularity, values: [pick(e.baselines.popularity)] },
    { name: 'random', color: COLORS.random, values: [pick(e.baselines.random)], dashed: true },
  );
  return series;
}

function figure(svg: string, caption: string): string {
  return `<figure>${svg}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

function chartsSection(e: Evaluation): string {
  const ks = [...new Set(e.config.evaluation.ks)].sort((a, b) => a - b);
  const value = (m: MetricMap, name: string): number | null => (Number.isFinite(m[name]) ? m[name] : null);
  const figures: string[] = METRIC_FAMILIES.map((family) => {
    const series = seriesFor(e, () => null).map((s) => {
      const map = modelMap(e, s.name);
      return { ...s, values: ks.map((k) => (map ? value(map, `${family}@${k}`) : null)) };
    });
    const svg = lineChart({
      title: FAMILY_TITLES[family],
      x: ks,
      xLabel: 'K (list length)',
      yLabel: family,
      series,
    });
    return figure(svg, `${FAMILY_TITLES[family]} for each model at every cut-off K.`);
  });

  figures.push(
    figure(
      barChart({
        title: 'Catalog coverage',
        categories: ['coverage'],
        yLabel: 'share of catalog',
        percent: true,
        series: seriesFor(e, (m) => value(m, 'coverage')),
      }),
      `Distinct movies in the top ${e.counts.maxK} across users, as a share of the ${e.counts.catalogSize} recommendable ` +
        `movies (those in the training split)${testOnlyText(e)}.`,
    ),
  );

  const p = e.popularityProfile;
  const deciles: ChartSeries[] = [{ name: 'candidate', color: COLORS.candidate, values: p.candidate }];
  if (p.production) deciles.push({ name: 'production', color: COLORS.production, values: p.production });
  deciles.push(
    { name: 'most-popular', color: COLORS.popularity, values: p.popularity },
    { name: 'random', color: COLORS.random, values: p.random },
  );
  figures.push(
    figure(
      barChart({
        title: 'Recommendations by item-popularity decile',
        categories: p.deciles,
        yLabel: 'share of recommendations',
        percent: true,
        series: deciles,
      }),
      `D1 = the most popular 10% of movies (by ${p.basis === 'train' ? 'training' : 'held-out test'} interactions), ` +
        'D10 = the least popular. A model concentrated in D1 adds little beyond most-popular.',
    ),
  );

  if (e.comparison && e.comparison.nUsers > 0) {
    const rows = Object.entries(e.comparison.metrics)
      .filter(([name, d]) => d.ci95 !== null && name !== 'mrr')
      .map(([name, d]) => ({ label: name, value: d.delta, lo: d.ci95![0], hi: d.ci95![1] }));
    figures.push(
      figure(
        intervalChart({ title: 'Candidate − production (95% CI)', xLabel: 'difference of means', rows }),
        `Paired bootstrap over the ${e.comparison.nUsers} common users; green = clearly better, red = clearly worse.`,
      ),
    );
  }
  return `<section><h2>Charts</h2><div class="charts">${figures.join('\n')}</div></section>`;
}

function modelMap(e: Evaluation, name: string): MetricMap | null {
  if (name === 'candidate') return e.candidate;
  if (name === 'production') return e.production;
  if (name === 'most-popular') return e.baselines.popularity;
  return e.baselines.random;
}

function coldStartSection(e: Evaluation): string {
  const cs = e.coldStart;
  const row = (name: string, c: { unknownUsers: number; share: number } | null): string =>
    c
      ? `<tr><td>${escapeHtml(name)}</td><td>${c.unknownUsers}</td><td>${formatShare(c.share)}</td></tr>`
      : '';
  const parts = [
    '<section><h2>Cold start</h2>',
    `<p>Users a model cannot recommend for are left out of that model's means (not counted as zeros). ` +
      `Share of the ${cs.evaluatedUsers} evaluated users:</p>`,
    '<table><thead><tr><th>Model</th><th>Unknown users</th><th>Share</th></tr></thead><tbody>',
    row('candidate', cs.candidate),
    row('production', cs.production),
    row('most-popular', cs.popularity),
    row('random', cs.random),
    '</tbody></table>',
  ].filter(Boolean);
  const unknown = e.comparison?.unknownToProduction;
  if (unknown) {
    parts.push(
      `<p>${unknown.count} test users (${formatShare(unknown.share)}) are unknown to production; the candidate recommends for ` +
        `${unknown.candidateKnown} of them.</p>`,
    );
    const names = metricOrder(e).filter((n) => unknown.candidate[n] !== undefined);
    if (names.length) {
      parts.push(
        '<table><thead><tr><th>Candidate on users new to production</th><th>Value</th></tr></thead><tbody>',
        ...names.map((n) => `<tr><td>${escapeHtml(n)}</td><td>${num(unknown.candidate[n])}</td></tr>`),
        '</tbody></table>',
      );
    }
    if (e.comparison!.unknownToCandidate.count > 0) {
      parts.push(
        `<p class="worse">${e.comparison!.unknownToCandidate.count} users known to production are unknown to the candidate.</p>`,
      );
    }
  }
  parts.push('</section>');
  return parts.join('\n');
}

function configSection(e: Evaluation): string {
  return `<section><h2>Configuration</h2><pre>${escapeHtml(JSON.stringify(e.config, null, 2))}</pre></section>`;
}

/**
 * A plain-text summary for the approver: verdict, the primary and gated metrics against production and
 * the baselines, cold start, the gate's reasons and the report link. At most 2,000 characters, or with
 * `short` at most 500 (CodePipeline approval CustomData); reasons are dropped before the link, and the
 * link is left out of the short form when it alone would not fit.
 */
export function summarizeForApproval(
  evaluation: Evaluation,
  reportUrl?: string,
  options: { short?: boolean } = {},
): string {
  return options.short ? shortSummary(evaluation, reportUrl) : longSummary(evaluation, reportUrl);
}

function versus(e: Evaluation, name: string): string {
  const c = e.candidate[name];
  if (c === undefined) return `${name} n/a`;
  const parts = [`${name} ${formatMetricValue(c)}`];
  const d = e.comparison?.metrics[name];
  if (e.production?.[name] !== undefined) {
    const extra = d
      ? `, Δ ${signed(d.delta)}${d.ci95 ? ` [${signed(d.ci95[0])}, ${signed(d.ci95[1])}]` : ''} on common users`
      : '';
    parts.push(`production ${formatMetricValue(e.production[name])}${extra}`);
  }
  if (e.baselines.popularity[name] !== undefined)
    parts.push(`most-popular ${formatMetricValue(e.baselines.popularity[name])}`);
  if (e.baselines.random[name] !== undefined)
    parts.push(`random ${formatMetricValue(e.baselines.random[name])}`);
  return parts.length > 1 ? `${parts[0]} (${parts.slice(1).join('; ')})` : parts[0];
}

function verdictWord(e: Evaluation): string {
  return e.gate.passed ? 'PASSED' : 'REJECTED';
}

function longSummary(e: Evaluation, reportUrl?: string): string {
  const primary = e.config.gate.primaryMetric;
  const names = [primary, ...e.config.gate.regressionMetrics.filter((n) => n !== primary), 'coverage'];
  const fm = fmLine(e);
  const head = [
    `reelflow run ${e.meta.runId ?? '-'}: candidate ${e.meta.candidateVersion ?? '-'} ${verdictWord(e)} the gate` +
      (e.production ? ` vs production ${e.meta.productionVersion ?? '-'}.` : ' (no production model yet).'),
    ...names.map((n) => `- ${versus(e, n)}`),
    `Users: ${e.counts.evaluatedUsers} evaluated; candidate unknown ${e.coldStart.candidate.unknownUsers}` +
      (e.coldStart.production
        ? `, production unknown ${e.coldStart.production.unknownUsers} (${formatShare(e.coldStart.production.share)})`
        : '') +
      '.',
    ...(fm ? [fm] : []),
    'Gate:',
  ];
  const tail = reportUrl ? [`Report: ${reportUrl}`] : [];
  const reasons = e.gate.reasons.map((r) => `- ${r}`);
  return fitLines(head, reasons, tail, APPROVAL_SUMMARY_MAX);
}

function shortSummary(e: Evaluation, reportUrl?: string): string {
  const primary = e.config.gate.primaryMetric;
  const c = e.candidate[primary];
  const bits = [
    `${verdictWord(e)} run ${e.meta.runId ?? '-'}: ${primary} ${c === undefined ? 'n/a' : formatMetricValue(c)}`,
  ];
  const p = e.production?.[primary];
  if (p !== undefined) {
    const d = e.comparison?.metrics[primary];
    bits.push(
      `prod ${formatMetricValue(p)}${d?.relativeDelta != null ? ` (${d.relativeDelta >= 0 ? '+' : ''}${formatShare(d.relativeDelta)})` : ''}`,
    );
  }
  const pop = e.baselines.popularity[primary];
  if (pop !== undefined) bits.push(`popular ${formatMetricValue(pop)}`);
  const fm = fmLine(e);
  const head = [`${bits.join(', ')}.`, ...(fm ? [fm] : [])];
  const reasons = e.gate.passed ? ['All gate checks passed.'] : e.gate.failures.map((r) => `- ${r}`);
  const link = reportUrl ? `Report: ${reportUrl}` : '';
  const withLink = head.join('\n').length + link.length + 1 <= APPROVAL_SHORT_MAX && link ? [link] : [];
  return fitLines(head, reasons, withLink, APPROVAL_SHORT_MAX);
}

/** The iALS job's own figures: its final training loss (it has no test channel). */
function ialsSection(ials: IalsTrainingReport): string {
  const title = `<section><h2>iALS training job</h2>`;
  if (!ials.trainMetrics) {
    return `${title}<p class="muted">${escapeHtml(ials.job)}: no metrics (${escapeHtml(ials.note ?? ials.status)}).</p></section>`;
  }
  const rows = Object.entries(ials.trainMetrics).map(
    ([name, value]) => `<tr><td class="muted">${escapeHtml(name)}</td><td>${num(value)}</td></tr>`,
  );
  return (
    `${title}<table><thead><tr><th>FinalMetricDataList name</th><th>${escapeHtml(ials.job)}</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table><p class="muted">The job's weighted squared loss over all user-movie ` +
    `pairs at its last iteration. iALS has no test channel: its held-out quality is the ranking metrics above.</p></section>`
  );
}

/**
 * Plain-text lines under the terminal's metric table (local/terminal.ts): the FM job's test metrics
 * (or why there are none), what counts as relevant, and what coverage is a share of. Takes evaluation.json
 * as read back (older files lack the newer fields; those lines are then left out).
 */
export function evaluationNotes(
  e: Pick<Partial<Evaluation>, 'training' | 'counts' | 'config' | 'tuning'>,
): string[] {
  const lines: string[] = [];
  const tuning = tuningNote(e.tuning);
  if (tuning) lines.push(tuning);
  const fm = e.training?.fm;
  if (fm?.testMetrics) {
    const workshop = Object.fromEntries(
      Object.entries(WORKSHOP_FM_TEST_METRICS).filter(([name]) => fm.testMetrics![name] !== undefined),
    );
    lines.push(
      `FM test   ${formatFmTestMetrics(fm.testMetrics)} (${fm.job})` +
        (Object.keys(workshop).length > 0
          ? `; workshop built-in on ml-100k ua: ${formatFmTestMetrics(workshop)}`
          : ''),
    );
  } else if (fm) {
    lines.push(`FM test   none: ${fm.note ?? fm.status} (${fm.job})`);
  }
  const ials = e.training?.ials;
  if (ials) {
    const figures = ials.trainMetrics
      ? Object.entries(ials.trainMetrics)
          .map(([name, value]) => `${name} ${value.toPrecision(6)}`)
          .join(', ')
      : `none: ${ials.note ?? ials.status}`;
    lines.push(`iALS      ${figures} (${ials.job})`);
  }
  if (e.config?.evaluation) lines.push(`relevant  ${relevanceText(e as Evaluation)}`);
  const c = e.counts;
  if (c?.catalogMovies !== undefined) {
    lines.push(
      `coverage  share of the ${c.catalogSize} recommendable movies (in training)` +
        (c.testOnlyMovies > 0
          ? `; ${c.testOnlyMovies} movies rated only in the test split are not recommendable`
          : ''),
    );
  }
  return lines;
}

/** `FM test: accuracy 0.6978, F1 0.7436, cross-entropy 0.5769.` when the evaluation has them. */
function fmLine(e: Evaluation): string | undefined {
  const metrics = e.training?.fm?.testMetrics;
  return metrics ? `FM test: ${formatFmTestMetrics(metrics)}.` : undefined;
}

/** Joins head, as many optional lines as fit, and tail; hard-cuts with an ellipsis as a last resort. */
function fitLines(head: string[], optional: string[], tail: string[], max: number): string {
  const fixed = [...head, ...tail].join('\n').length;
  const kept: string[] = [];
  let used = fixed;
  let dropped = 0;
  for (const line of optional) {
    if (dropped === 0 && used + line.length + 1 + 24 <= max) {
      kept.push(line);
      used += line.length + 1;
    } else dropped++;
  }
  if (dropped > 0) kept.push(`(+${dropped} more in the report)`);
  const text = [...head, ...kept, ...tail].join('\n');
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
