/**
 * The tuning search in the evaluation: every trial (settings, validation NDCG@k, cost in
 * instance-minutes, or why it failed), the winner and its gain over the baseline, as evaluation.json
 * keeps it, the report's table and the terminal's one line.
 */
import type { TuningOutcome } from '../tuning/select';
import { escapeHtml } from './svg-chart';

/** One trial as the evaluation reports it. */
export interface TuningTrialReport {
  readonly id: string;
  readonly baseline: boolean;
  readonly settings: Readonly<Record<string, string | number>>;
  readonly status: 'scored' | 'failed';
  readonly validationNdcg?: number;
  readonly error?: string;
  readonly instanceMinutes: number;
}

/** The search of a run (from `runs/<runId>/tuning/tuning.json`). */
export interface TuningReport {
  readonly k: number;
  readonly best: string;
  readonly baseline: string;
  readonly gainOverBaseline: number;
  readonly totalInstanceMinutes: number;
  /** Best first, failed trials last. */
  readonly trials: readonly TuningTrialReport[];
}

/** The report of a search's outcome (tuning.json as PickBest wrote it). */
export function tuningReport(outcome: TuningOutcome): TuningReport {
  return {
    k: outcome.k,
    best: outcome.best.id,
    baseline: outcome.baseline.id,
    gainOverBaseline: outcome.gainOverBaseline,
    totalInstanceMinutes: outcome.totalInstanceMinutes,
    trials: outcome.trials.map((t) => ({
      id: t.id,
      baseline: t.baseline,
      settings: t.settings,
      status: t.status,
      ...(t.validationNdcg !== undefined ? { validationNdcg: t.validationNdcg } : {}),
      ...(t.error !== undefined ? { error: t.error } : {}),
      instanceMinutes: t.instanceSeconds / 60,
    })),
  };
}

/** The report's section: one row per trial, the winner marked. Empty without a search. */
export function tuningSection(report: TuningReport | undefined): string {
  if (!report) return '';
  const names = [...new Set(report.trials.flatMap((t) => Object.keys(t.settings)))].sort();
  const head = ['trial', ...names, `validation ndcg@${report.k}`, 'instance-min']
    .map((h) => `<th>${escapeHtml(h)}</th>`)
    .join('');
  const rows = report.trials
    .map((t) => {
      const mark = t.id === report.best ? ' (chosen)' : t.baseline ? ' (baseline: the config)' : '';
      const score = t.status === 'scored' ? (t.validationNdcg ?? 0).toFixed(4) : `failed: ${t.error ?? ''}`;
      const cells = [
        `${t.id}${mark}`,
        ...names.map((n) => String(t.settings[n] ?? '')),
        score,
        t.instanceMinutes.toFixed(1),
      ];
      return `<tr>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`;
    })
    .join('');
  return (
    `<section><h2>Tuning: ${report.trials.length} trials ranked by validation NDCG@${report.k}</h2>` +
    `<p>Each trial is an FM training job on the training data minus a validation split (each user's latest ` +
    `training ratings); the chosen settings were then trained on all training data and evaluated above. ` +
    `Gain over the baseline on validation: ${report.gainOverBaseline.toFixed(4)}; ` +
    `${report.totalInstanceMinutes.toFixed(1)} instance-minutes in all.</p>` +
    `<table><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></section>`
  );
}

/** The terminal's line, or undefined without a search. */
export function tuningNote(report: TuningReport | undefined): string | undefined {
  if (!report) return undefined;
  const best = report.trials.find((t) => t.id === report.best);
  const baseline = report.trials.find((t) => t.id === report.baseline);
  const failed = report.trials.filter((t) => t.status === 'failed').length;
  const score = (t?: TuningTrialReport): string =>
    t?.validationNdcg === undefined ? 'failed' : t.validationNdcg.toFixed(4);
  return (
    `tuning    ${report.best} chosen of ${report.trials.length} trials` +
    (failed > 0 ? ` (${failed} failed)` : '') +
    `: validation ndcg@${report.k} ${score(best)} vs baseline ${score(baseline)}, ` +
    `${report.totalInstanceMinutes.toFixed(1)} instance-minutes ${JSON.stringify(best?.settings ?? {})}`
  );
}
