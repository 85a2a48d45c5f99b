/**
 * Candidate vs production on the same test users: per-metric mean difference with a 95% paired
 * bootstrap interval over users (percentile method, seeded), plus the users production does not know.
 *
 * One resample of users serves every metric at once, so the intervals are mutually consistent and the
 * cost is samples x users x metrics additions over a typed matrix.
 */
import type { Rng } from '../random';
import {
  catalogCoverage,
  EvaluationInputError,
  meanMetrics,
  type MetricMap,
  type ModelMetrics,
  type PreparedTest,
} from './metrics';
import type { RecommendationLists } from './recommend';

/** Difference of one metric between candidate and production on their common users. */
export interface MetricDelta {
  readonly candidate: number;
  readonly production: number;
  /** candidate - production. */
  readonly delta: number;
  /** delta / production, or null when production is 0. */
  readonly relativeDelta: number | null;
  /** 95% bootstrap interval of `delta`; null for `coverage` (not a per-user mean). */
  readonly ci95: [number, number] | null;
  /** 'better' / 'worse' when the interval excludes 0, else 'no clear difference'; null without interval. */
  readonly verdict: 'better' | 'worse' | 'no clear difference' | null;
}

/** The users production has no list for (new since its training), and the candidate's quality on them. */
export interface UnknownToProduction {
  readonly count: number;
  /** count / evaluated users. */
  readonly share: number;
  /** How many of them the candidate knows (its metrics below are over these). */
  readonly candidateKnown: number;
  readonly candidate: MetricMap;
}

/** Candidate vs production on the users both know. */
export interface Comparison {
  readonly nUsers: number;
  readonly bootstrapSamples: number;
  readonly candidate: MetricMap;
  readonly production: MetricMap;
  readonly metrics: Record<string, MetricDelta>;
  readonly unknownToProduction: UnknownToProduction;
  /** Users production knows but the candidate does not. */
  readonly unknownToCandidate: { readonly count: number; readonly share: number };
}

/** Options of `compareModels`. */
export interface CompareOptions {
  readonly catalogSize: number;
  readonly bootstrapSamples: number;
  readonly rng: Rng;
}

/**
 * Compares two scored models on the prepared test users. Both must have been scored with the same
 * cut-offs on the same `prepared` set.
 */
export function compareModels(
  prepared: PreparedTest,
  candidate: ModelMetrics,
  production: ModelMetrics,
  candidateLists: RecommendationLists,
  productionLists: RecommendationLists,
  opts: CompareOptions,
): Comparison {
  const cs = candidate.scores;
  const ps = production.scores;
  if (cs.names.join() !== ps.names.join() || cs.known.length !== ps.known.length) {
    throw new EvaluationInputError(
      'candidate and production were scored with different cut-offs or test sets',
    );
  }
  const nUsers = cs.known.length;
  const width = cs.names.length;
  const maxK = cs.ks[cs.ks.length - 1];
  const common = new Uint8Array(nUsers);
  const unknownToProd = new Uint8Array(nUsers);
  let nCommon = 0;
  let nUnknownToProd = 0;
  let nUnknownToCand = 0;
  for (let u = 0; u < nUsers; u++) {
    if (cs.known[u] && ps.known[u]) {
      common[u] = 1;
      nCommon++;
    }
    if (!ps.known[u]) {
      unknownToProd[u] = 1;
      nUnknownToProd++;
    }
    if (ps.known[u] && !cs.known[u]) nUnknownToCand++;
  }

  const deltas = new Float64Array(nCommon * width);
  for (let u = 0, r = 0; u < nUsers; u++) {
    if (!common[u]) continue;
    const row = u * width;
    const out = r++ * width;
    for (let m = 0; m < width; m++) deltas[out + m] = cs.values[row + m] - ps.values[row + m];
  }
  const intervals = bootstrapMeanIntervals(deltas, nCommon, width, opts.bootstrapSamples, opts.rng);

  const cand = meanMetrics(cs, common).metrics;
  const prod = meanMetrics(ps, common).metrics;
  const metrics: Record<string, MetricDelta> = {};
  if (nCommon > 0) {
    for (let m = 0; m < width; m++) {
      const name = cs.names[m];
      metrics[name] = delta(cand[name], prod[name], [intervals.lo[m], intervals.hi[m]]);
    }
    const mrrName = `mrr@${maxK}`;
    metrics.mrr = metrics[mrrName];
    cand.coverage = catalogCoverage(prepared, candidateLists, maxK, opts.catalogSize, common);
    prod.coverage = catalogCoverage(prepared, productionLists, maxK, opts.catalogSize, common);
    metrics.coverage = delta(cand.coverage, prod.coverage, null);
  }

  const onUnknown = meanMetrics(cs, unknownToProd);
  if (onUnknown.nUsers > 0) {
    onUnknown.metrics.coverage = catalogCoverage(
      prepared,
      candidateLists,
      maxK,
      opts.catalogSize,
      unknownToProd,
    );
  }
  return {
    nUsers: nCommon,
    bootstrapSamples: opts.bootstrapSamples,
    candidate: cand,
    production: prod,
    metrics,
    unknownToProduction: {
      count: nUnknownToProd,
      share: nUsers ? nUnknownToProd / nUsers : 0,
      candidateKnown: onUnknown.nUsers,
      candidate: onUnknown.metrics,
    },
    unknownToCandidate: { count: nUnknownToCand, share: nUsers ? nUnknownToCand / nUsers : 0 },
  };
}

function delta(candidate: number, production: number, ci95: [number, number] | null): MetricDelta {
  const d = candidate - production;
  let verdict: MetricDelta['verdict'] = null;
  if (ci95) verdict = ci95[0] > 0 ? 'better' : ci95[1] < 0 ? 'worse' : 'no clear difference';
  return {
    candidate,
    production,
    delta: d,
    relativeDelta: production !== 0 ? d / production : null,
    ci95,
    verdict,
  };
}

/**
 * Percentile bootstrap of column means: `samples` resamples of the `n` rows with replacement (the same
 * rows for every column), then the 2.5th and 97.5th percentiles of each column's resampled mean.
 * With n = 0 every bound is 0.
 */
export function bootstrapMeanIntervals(
  matrix: Float64Array,
  n: number,
  width: number,
  samples: number,
  rng: Rng,
): { lo: Float64Array; hi: Float64Array } {
  if (!Number.isInteger(samples) || samples <= 0) {
    throw new EvaluationInputError(`bootstrapSamples must be a positive integer, got ${samples}`);
  }
  if (matrix.length !== n * width) {
    throw new EvaluationInputError(`bootstrap matrix has ${matrix.length} values, expected ${n} x ${width}`);
  }
  const lo = new Float64Array(width);
  const hi = new Float64Array(width);
  if (n === 0) return { lo, hi };
  // All-zero rows (both models score a user alike) add nothing: keep only the others, first.
  const compact = new Float64Array(matrix.length);
  let nonZero = 0;
  for (let i = 0; i < n; i++) {
    const row = i * width;
    let any = false;
    for (let m = 0; m < width && !any; m++) any = matrix[row + m] !== 0;
    if (!any) continue;
    compact.set(matrix.subarray(row, row + width), nonZero * width);
    nonZero++;
  }
  const means = new Float64Array(width * samples);
  const sums = new Float64Array(width);
  for (let b = 0; b < samples; b++) {
    sums.fill(0);
    for (let i = 0; i < n; i++) {
      const pick = rng.int(n);
      if (pick >= nonZero) continue;
      const row = pick * width;
      for (let m = 0; m < width; m++) sums[m] += compact[row + m];
    }
    for (let m = 0; m < width; m++) means[m * samples + b] = sums[m] / n;
  }
  for (let m = 0; m < width; m++) {
    const column = means.subarray(m * samples, (m + 1) * samples).sort();
    lo[m] = quantile(column, 0.025);
    hi[m] = quantile(column, 0.975);
  }
  return { lo, hi };
}

/** Linear-interpolation quantile of sorted values (the common "type 7" definition). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const pos = (sorted.length - 1) * q;
  const below = Math.floor(pos);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (pos - below);
}
