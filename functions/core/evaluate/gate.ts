/**
 * The quality gate between evaluation and deployment: a floor on the primary metric, a win over the
 * most-popular baseline, and no regression beyond the allowed share against production. Every check,
 * passing or not, leaves one plain-language reason with the numbers, for the person who approves.
 */
import type { GateConfig } from '../config';
import type { MetricMap } from './metrics';

/** The parts of an evaluation the gate reads. */
export interface GateInput {
  readonly candidate: MetricMap | null | undefined;
  readonly production?: MetricMap | null;
  readonly baselines?: { readonly popularity?: MetricMap | null } | null;
  /** When present with users, regression is checked on the users both models know. */
  readonly comparison?: {
    readonly nUsers: number;
    readonly candidate: MetricMap;
    readonly production: MetricMap;
  } | null;
}

/** The gate's verdict and why. */
export interface GateResult {
  readonly passed: boolean;
  /** One line per check, passing or failing, in check order. */
  readonly reasons: string[];
  /** The failing subset of `reasons` (empty when passed). */
  readonly failures: string[];
}

/**
 * Applies the gate. Passes only if every check passes; a missing or non-numeric metric fails its check
 * with a reason instead of throwing.
 */
export function applyGate(evaluation: GateInput, cfg: GateConfig): GateResult {
  const reasons: string[] = [];
  const failures: string[] = [];
  const fail = (reason: string): void => {
    failures.push(reason);
    reasons.push(reason);
  };
  const primary = cfg.primaryMetric;
  const candidatePrimary = readMetric(evaluation.candidate, primary);

  if (candidatePrimary === undefined) {
    fail(`${primary} is missing from the candidate metrics${available(evaluation.candidate)}`);
  } else if (candidatePrimary >= cfg.minPrimary) {
    reasons.push(
      `${primary} ${formatMetricValue(candidatePrimary)} meets the minimum ${formatMetricValue(cfg.minPrimary)}`,
    );
  } else {
    fail(
      `${primary} ${formatMetricValue(candidatePrimary)} is below the minimum ${formatMetricValue(cfg.minPrimary)}`,
    );
  }

  if (cfg.mustBeatPopularity) {
    const popular = readMetric(evaluation.baselines?.popularity, primary);
    if (popular === undefined) {
      fail(`the most-popular baseline has no ${primary} value, so the candidate cannot be shown to beat it`);
    } else if (candidatePrimary === undefined) {
      fail(
        `cannot compare with most-popular on ${primary}: the candidate has no value (most-popular ${formatMetricValue(popular)})`,
      );
    } else if (candidatePrimary > popular) {
      reasons.push(
        `beats most-popular on ${primary}: ${formatMetricValue(candidatePrimary)} vs ${formatMetricValue(popular)}`,
      );
    } else {
      fail(
        `does not beat most-popular on ${primary}: ${formatMetricValue(candidatePrimary)} vs ${formatMetricValue(popular)}`,
      );
    }
  } else {
    reasons.push('most-popular check switched off (mustBeatPopularity: false)');
  }

  if (!evaluation.production) {
    reasons.push('no production model yet: regression checks skipped (first deployment)');
    return { passed: failures.length === 0, reasons, failures };
  }

  const comparison = evaluation.comparison;
  const onCommon = comparison != null && comparison.nUsers > 0;
  const cand = onCommon ? comparison.candidate : evaluation.candidate;
  const prod = onCommon ? comparison.production : evaluation.production;
  const scope = onCommon ? ` (on the ${comparison.nUsers} test users both models know)` : '';
  const allowed = formatShare(cfg.maxRegression);
  for (const name of cfg.regressionMetrics) {
    const c = readMetric(cand, name);
    const p = readMetric(prod, name);
    if (c === undefined) {
      fail(
        `${name} is missing from the candidate metrics, so regression against production cannot be checked`,
      );
      continue;
    }
    if (p === undefined) {
      fail(
        `${name} is missing from the production metrics, so regression against production cannot be checked`,
      );
      continue;
    }
    const floor = p * (1 - cfg.maxRegression);
    const relative = p !== 0 ? (c - p) / Math.abs(p) : null;
    if (c >= floor) {
      if (c === p)
        reasons.push(`${name} ${formatMetricValue(c)} equals production ${formatMetricValue(p)}${scope}`);
      else if (c > p) {
        const by = relative === null ? '' : ` ${formatShare(relative)}`;
        reasons.push(
          `${name} ${formatMetricValue(c)} is${by} above production ${formatMetricValue(p)}${scope}`,
        );
      } else {
        reasons.push(
          `${name} ${formatMetricValue(c)} is ${formatShare(-(relative ?? 0))} below production ${formatMetricValue(p)}, within the allowed ${allowed}${scope}`,
        );
      }
    } else {
      fail(
        `${name} ${formatMetricValue(c)} is ${formatShare(-(relative ?? 0))} below production ${formatMetricValue(p)} (allowed: ${allowed})${scope}`,
      );
    }
  }
  return { passed: failures.length === 0, reasons, failures };
}

function readMetric(map: MetricMap | null | undefined, name: string): number | undefined {
  const value = map?.[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function available(map: MetricMap | null | undefined): string {
  const names = map ? Object.keys(map) : [];
  if (names.length === 0) return ' (the candidate has no metrics: did it recommend for any test user?)';
  const shown = names.slice(0, 12).join(', ');
  return ` (available: ${shown}${names.length > 12 ? ', ...' : ''})`;
}

/** A metric value with 3 significant digits: 0.182, 0.24, 0.0079. */
export function formatMetricValue(value: number): string {
  return String(Number(value.toPrecision(3)));
}

/** A share as a percentage with one decimal: 0.12 -> "12.0%". */
export function formatShare(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}
