import {
  APPROVAL_SHORT_MAX,
  APPROVAL_SUMMARY_MAX,
  renderReportHtml,
  summarizeForApproval,
} from '../../../functions/core/evaluate/report-html';
import { escapeHtml, niceTicks } from '../../../functions/core/evaluate/svg-chart';
import { syntheticEvaluation } from './evaluation-fixture';

const count = (text: string, needle: string | RegExp): number => text.split(needle).length - 1;

describe('renderReportHtml', () => {
  const e = syntheticEvaluation();
  const html = renderReportHtml(e);

  it('shows the metric values, deltas and intervals when given an evaluation', () => {
    for (const name of ['ndcg@10', 'precision@5', 'recall@25', 'coverage', 'mrr']) {
      expect(html).toContain(e.candidate[name].toFixed(4));
      expect(html).toContain(e.production![name].toFixed(4));
      expect(html).toContain(e.baselines.popularity[name].toFixed(4));
      expect(html).toContain(e.baselines.random[name].toFixed(4));
    }
    const d = e.comparison!.metrics['ndcg@10'];
    expect(html).toContain(
      `[${d.ci95![0] >= 0 ? '+' : ''}${d.ci95![0].toFixed(4)}, +${d.ci95![1].toFixed(4)}]`,
    );
    expect(html).toContain('Gate: PASSED');
    expect(html).toContain('class="verdict passed"');
    for (const reason of e.gate.reasons) expect(html).toContain(escapeHtml(reason));
    expect(html).toContain('run-2026-01-01');
    expect(html).toContain('20 test users (10.0%) are unknown to production');
  });

  it('draws one svg per chart when production exists', () => {
    expect(count(html, '<svg')).toBe(8);
    expect(count(html, '</svg>')).toBe(8);
    expect(count(html, '<figure>')).toBe(8);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
  });

  it('draws no delta chart and a rejected verdict when there is no production and the gate fails', () => {
    const first = syntheticEvaluation({ production: null, gateCfg: { ...e.config.gate, minPrimary: 0.99 } });
    const page = renderReportHtml(first);
    expect(count(page, '<svg')).toBe(7);
    expect(page).toContain('Gate: REJECTED');
    expect(page).toContain('class="verdict rejected"');
    expect(page).toContain('none (first deployment)');
  });

  it('references nothing external and runs no script', () => {
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/http/i);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/@import|url\(/i);
  });

  it('escapes markup when the run id holds a script tag', () => {
    const hostile = syntheticEvaluation({
      meta: { runId: '<script>alert("x")</script>', candidateVersion: 'a&b', note: "it's <b>" },
    });
    const page = renderReportHtml(hostile);
    expect(page).not.toContain('<script>');
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(page).toContain('a&amp;b');
    expect(page).toContain('it&#39;s &lt;b&gt;');
  });
});

describe('summarizeForApproval', () => {
  const e = syntheticEvaluation();
  const url = 'https://example.invalid/runs/run-2026-01-01/evaluation/report.html';

  it('names the verdict, the primary metric against production and baselines and the link', () => {
    const text = summarizeForApproval(e, url);
    expect(text.length).toBeLessThanOrEqual(APPROVAL_SUMMARY_MAX);
    expect(text).toMatch(/^reelflow run run-2026-01-01: candidate v2 PASSED the gate vs production v1\./);
    expect(text).toContain(`ndcg@10 ${Number(e.candidate['ndcg@10'].toPrecision(3))}`);
    expect(text).toContain(`most-popular ${Number(e.baselines.popularity['ndcg@10'].toPrecision(3))}`);
    expect(text).toContain(e.gate.reasons[1]);
    expect(text.endsWith(`Report: ${url}`)).toBe(true);
  });

  it('fits 500 characters and keeps the link when the short form is asked for', () => {
    const text = summarizeForApproval(e, url, { short: true });
    expect(text.length).toBeLessThanOrEqual(APPROVAL_SHORT_MAX);
    expect(text).toMatch(/^PASSED run run-2026-01-01: ndcg@10 /);
    expect(text).toContain('All gate checks passed.');
    expect(text).toContain(url);
  });

  it('lists failures first and stays within the limits when there are many long reasons', () => {
    const failures = Array.from(
      { length: 60 },
      (_, i) => `metric${i}@10 is missing from the candidate metrics, so regression cannot be checked`,
    );
    const failed = { ...e, gate: { passed: false, reasons: failures, failures } };
    const long = summarizeForApproval(failed, url);
    const short = summarizeForApproval(failed, url, { short: true });
    expect(long.length).toBeLessThanOrEqual(APPROVAL_SUMMARY_MAX);
    expect(long).toMatch(/more in the report\)/);
    expect(long).toContain(url);
    expect(short.length).toBeLessThanOrEqual(APPROVAL_SHORT_MAX);
    expect(short).toMatch(/^REJECTED /);
    expect(short).toContain(failures[0]);
  });

  it('leaves out a link too long for the short form', () => {
    const text = summarizeForApproval(e, `${url}?${'x'.repeat(600)}`, { short: true });
    expect(text.length).toBeLessThanOrEqual(APPROVAL_SHORT_MAX);
    expect(text).not.toContain('Report:');
  });
});

describe('niceTicks', () => {
  it('returns round steps covering the maximum', () => {
    expect(niceTicks(0.23)).toEqual([0, 0.05, 0.1, 0.15, 0.2, 0.25]);
    expect(niceTicks(0)[0]).toBe(0);
  });
});
