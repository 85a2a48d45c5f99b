/**
 * Picking the winner of a search and summarising it for the report: every trial with its settings,
 * validation NDCG@k and cost in instance-minutes. The best scoring trial wins; ties go to the lower
 * trial number, so the baseline (trial 0) wins every tie and the search never returns a configuration
 * that is worse than the default on validation. A failed trial is reported, not fatal, unless every
 * trial failed.
 */
import type { ParameterValue, TuningConfig } from './config';

/** One trial's outcome, as the scoring step records it. */
export interface TrialResult {
  readonly id: string;
  readonly baseline: boolean;
  readonly settings: Readonly<Record<string, ParameterValue>>;
  readonly status: 'scored' | 'failed';
  /** NDCG@k of the trial's recommendations on the validation split (scored trials). */
  readonly validationNdcg?: number;
  /** Why the trial failed (failed trials). */
  readonly error?: string;
  /** Billable training seconds × instances (SageMaker's BillableTimeInSeconds; locally, wall time). */
  readonly instanceSeconds: number;
}

/** The outcome of a search. */
export interface TuningOutcome {
  readonly k: number;
  readonly best: TrialResult;
  readonly baseline: TrialResult;
  /** best − baseline validation NDCG (0 when the baseline won or failed). */
  readonly gainOverBaseline: number;
  readonly totalInstanceMinutes: number;
  /** Every trial, best first (failed ones last). */
  readonly trials: readonly TrialResult[];
}

/** Thrown when no trial produced a score. */
export class TuningFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TuningFailedError';
  }
}

const trialNumber = (id: string): number => Number(id.replace(/^\D+/, ''));

/** Ranks the trials and picks the best one. */
export function selectBest(results: readonly TrialResult[], k: number): TuningOutcome {
  const scored = results.filter(
    (r): r is TrialResult & { validationNdcg: number } =>
      r.status === 'scored' && typeof r.validationNdcg === 'number' && Number.isFinite(r.validationNdcg),
  );
  if (scored.length === 0) {
    const reasons = results.map((r) => `${r.id}: ${r.error ?? 'no score'}`).join('; ');
    throw new TuningFailedError(`every tuning trial failed (${reasons})`);
  }
  const ranked = [...scored].sort(
    (a, b) => b.validationNdcg - a.validationNdcg || trialNumber(a.id) - trialNumber(b.id),
  );
  const failed = results.filter((r) => !scored.includes(r as never));
  const best = ranked[0];
  const baseline = results.find((r) => r.baseline);
  if (!baseline) throw new TuningFailedError('the trials have no baseline (trial 0)');
  const gain =
    baseline.status === 'scored' && baseline.validationNdcg !== undefined
      ? best.validationNdcg - baseline.validationNdcg
      : 0;
  const seconds = results.reduce((sum, r) => sum + r.instanceSeconds, 0);
  return {
    k,
    best,
    baseline,
    gainOverBaseline: gain,
    totalInstanceMinutes: seconds / 60,
    trials: [...ranked, ...failed],
  };
}

/** The settings a trial's training cost grows with (the baseline's, from the ML config). */
export interface CostSettings {
  readonly epochs: number;
  readonly num_factors: number;
  readonly negativeRatio: number;
  readonly recentCopies: number;
  readonly recentShare: number;
}

/**
 * How many times the training cost of a run without tuning a run with it costs, before any data: every
 * trial trains on the fit share of the training data, then the winner trains again on all of it. One
 * training costs about epochs × examples × factors (the one-hot FM update is linear in num_factors; the
 * examples are the positives, recency copies included (1 + recentCopies × recentShare of the ratings),
 * times 1 + negativeRatio). Each searched setting counts at the top of its
 * range, and the winner at the dearer of baseline and top, so this is an upper bound (the README
 * quotes it).
 */
export function trainingCostFactor(tuning: TuningConfig, baseline: CostSettings): number {
  const top = (name: string, value: number): number => {
    const range = tuning.space[name];
    if (!range) return value;
    if (range.type !== 'categorical') return range.max;
    return Math.max(...range.values.map((v) => (typeof v === 'number' ? v : value)));
  };
  const cost = (s: CostSettings): number =>
    s.epochs * s.num_factors * (1 + s.negativeRatio) * (1 + s.recentCopies * s.recentShare);
  const trial =
    cost({
      epochs: top('fm.epochs', baseline.epochs),
      num_factors: top('fm.num_factors', baseline.num_factors),
      negativeRatio: top('encoding.negativeRatio', baseline.negativeRatio),
      recentCopies: top('encoding.recentCopies', baseline.recentCopies),
      recentShare: top('encoding.recentShare', baseline.recentShare),
    }) / cost(baseline);
  const fitShare = 1 - tuning.validationShare;
  const search = fitShare + (tuning.trials - 1) * trial * fitShare;
  return search + Math.max(1, trial);
}
