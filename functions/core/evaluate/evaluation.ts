/**
 * One run's offline evaluation, the content of `evaluation.json`: candidate, production and baseline
 * metrics on the held-out users, the paired candidate-vs-production comparison, cold-start counts, the
 * recommendations' spread over item-popularity deciles, the gate verdict, and (when known) the FM
 * training job's own test metrics.
 */
import type { EvaluationConfig, GateConfig } from '../config';
import { Rng } from '../random';
import { compareModels, type Comparison } from './compare';
import { applyGate, type GateResult } from './gate';
import {
  EvaluationInputError,
  evaluateLists,
  type MetricMap,
  normalizeKs,
  prepareTestSet,
  type TestSet,
} from './metrics';
import type { RecommendationLists } from './recommend';
import type { TrainingReport } from './training-metrics';
import type { TuningReport } from './tuning-report';

/** Free-form run facts shown in the report header. */
export interface EvaluationMeta {
  runId?: string;
  candidateVersion?: string;
  productionVersion?: string | null;
  createdAt?: string;
  [key: string]: unknown;
}

/** Input of `evaluateRun`. All lists are in original MovieLens ids. */
export interface EvaluationInput {
  readonly test: TestSet;
  /**
   * Number of movies that could be recommended (denominator of coverage): the movies of the training
   * split; a movie rated only in the test split has no trained vector.
   */
  readonly catalogSize: number;
  /** Movies of the run's catalog, recommendable or not. @default catalogSize */
  readonly catalogMovies?: number;
  /** Movies rated only in the test split, reported apart from coverage. @default 0 */
  readonly testOnlyMovies?: number;
  /** The FM training job's test metrics. @default - not in the evaluation */
  readonly training?: TrainingReport;
  /** The run's tuning search. @default - not in the evaluation (no search) */
  readonly tuning?: TuningReport;
  readonly candidate: RecommendationLists;
  readonly production: RecommendationLists | null;
  readonly popularity: RecommendationLists;
  readonly random: RecommendationLists;
  readonly cfg: EvaluationConfig;
  readonly gateCfg: GateConfig;
  /** Seeds the bootstrap. */
  readonly seed: number;
  /**
   * Training interactions per movie, to place recommendations in popularity deciles.
   * @default - held-out test interactions per movie
   */
  readonly itemPopularity?: ReadonlyMap<number, number>;
  readonly meta?: EvaluationMeta;
}

/** Unknown-user count and share (of evaluated users) for one model. */
export interface ColdStartCount {
  readonly unknownUsers: number;
  readonly share: number;
}

/** Users each model could not recommend for; they are excluded from that model's means. */
export interface ColdStart {
  readonly evaluatedUsers: number;
  readonly candidate: ColdStartCount;
  readonly production: ColdStartCount | null;
  readonly popularity: ColdStartCount;
  readonly random: ColdStartCount;
}

/**
 * Share of each model's top-max(K) recommendations falling in each item-popularity decile. Decile 1
 * holds the most popular 10% of the catalog; movies with no recorded interactions fall in decile 10.
 */
export interface PopularityProfile {
  readonly basis: 'train' | 'test';
  readonly deciles: string[];
  readonly candidate: number[];
  readonly production: number[] | null;
  readonly popularity: number[];
  readonly random: number[];
}

/** Sizes of everything evaluated. */
export interface EvaluationCounts {
  readonly testUsers: number;
  readonly evaluatedUsers: number;
  readonly skippedNoRelevant: number;
  readonly relevantItems: number;
  /** Recommendable movies (the training split's), the denominator of coverage. */
  readonly catalogSize: number;
  /** Every movie of the run (id map), recommendable or not. */
  readonly catalogMovies: number;
  /** Movies rated only in the test split: no model can recommend them; not in `catalogSize`. */
  readonly testOnlyMovies: number;
  readonly maxK: number;
  readonly candidateUsers: number;
  readonly productionUsers: number | null;
  readonly commonUsers: number | null;
}

/** evaluation.json. */
export interface Evaluation {
  readonly schemaVersion: 1;
  readonly meta: EvaluationMeta;
  readonly config: {
    readonly evaluation: EvaluationConfig;
    readonly gate: GateConfig;
    readonly seed: number;
  };
  readonly counts: EvaluationCounts;
  readonly candidate: MetricMap;
  readonly production: MetricMap | null;
  readonly baselines: { readonly popularity: MetricMap; readonly random: MetricMap };
  readonly comparison: Comparison | null;
  readonly coldStart: ColdStart;
  readonly popularityProfile: PopularityProfile;
  readonly gate: GateResult;
  /** The training jobs' own metrics (the FM job's test channel), when the step looked them up. */
  readonly training?: TrainingReport;
  /** The tuning search that chose the candidate's settings, when the run had one. */
  readonly tuning?: TuningReport;
}

/** Decimal places kept in evaluation.json. */
export const DECIMALS = 6;

/**
 * Evaluates a run: every model on the same prepared test users, the bootstrap comparison when a
 * production model exists, and the gate.
 */
export function evaluateRun(input: EvaluationInput): Evaluation {
  const { cfg, gateCfg, catalogSize } = input;
  if (!(Number.isInteger(catalogSize) && catalogSize > 0)) {
    throw new EvaluationInputError(`catalogSize must be a positive integer, got ${catalogSize}`);
  }
  const ks = normalizeKs(cfg.ks);
  const maxK = ks[ks.length - 1];
  const prepared = prepareTestSet(input.test, cfg.relevanceMinRating);
  const opts = { ks, catalogSize };
  const candidate = evaluateLists(prepared, input.candidate, opts);
  const production = input.production ? evaluateLists(prepared, input.production, opts) : null;
  const popularity = evaluateLists(prepared, input.popularity, opts);
  const random = evaluateLists(prepared, input.random, opts);

  const comparison =
    production && input.production
      ? compareModels(prepared, candidate, production, input.candidate, input.production, {
          catalogSize,
          bootstrapSamples: cfg.bootstrapSamples,
          rng: new Rng(input.seed),
        })
      : null;

  const evaluated = prepared.userIds.length;
  const cold = (m: { unknownUsers: number; unknownShare: number }): ColdStartCount => ({
    unknownUsers: m.unknownUsers,
    share: m.unknownShare,
  });

  const usePopularity = input.itemPopularity ?? testCounts(input.test);
  const decileOf = popularityDeciles(usePopularity, catalogSize);
  const profile = (lists: RecommendationLists): number[] =>
    decileShares(lists, prepared.userIds, maxK, decileOf);

  const result = {
    schemaVersion: 1 as const,
    meta: { ...(input.meta ?? {}) },
    config: { evaluation: cfg, gate: gateCfg, seed: input.seed },
    counts: {
      testUsers: prepared.testUsers,
      evaluatedUsers: evaluated,
      skippedNoRelevant: prepared.skippedNoRelevant,
      relevantItems: prepared.relevantItems,
      catalogSize,
      catalogMovies: input.catalogMovies ?? catalogSize,
      testOnlyMovies: input.testOnlyMovies ?? 0,
      maxK,
      candidateUsers: candidate.nUsers,
      productionUsers: production ? production.nUsers : null,
      commonUsers: comparison ? comparison.nUsers : null,
    },
    candidate: candidate.metrics,
    production: production ? production.metrics : null,
    baselines: { popularity: popularity.metrics, random: random.metrics },
    comparison,
    coldStart: {
      evaluatedUsers: evaluated,
      candidate: cold(candidate),
      production: production ? cold(production) : null,
      popularity: cold(popularity),
      random: cold(random),
    },
    popularityProfile: {
      basis: input.itemPopularity ? ('train' as const) : ('test' as const),
      deciles: Array.from({ length: 10 }, (_, i) => `D${i + 1}`),
      candidate: profile(input.candidate),
      production: input.production ? profile(input.production) : null,
      popularity: profile(input.popularity),
      random: profile(input.random),
    },
    ...(input.training ? { training: input.training } : {}),
    ...(input.tuning ? { tuning: input.tuning } : {}),
  };
  const rounded = roundNumbers(result) as Omit<Evaluation, 'gate'>;
  return { ...rounded, gate: applyGate(rounded, gateCfg) };
}

function testCounts(test: TestSet): Map<number, number> {
  const counts = new Map<number, number>();
  for (const { movieIds } of test.values()) {
    for (let i = 0; i < movieIds.length; i++) counts.set(movieIds[i], (counts.get(movieIds[i]) ?? 0) + 1);
  }
  return counts;
}

/**
 * Movie id -> decile 0..9: movies ranked by interaction count (descending, then id) and cut into tenths
 * of the catalog; movies absent from `counts` are treated as the least popular (decile 9).
 */
export function popularityDeciles(
  counts: ReadonlyMap<number, number>,
  catalogSize: number,
): Map<number, number> {
  const ids = Array.from(counts.keys()).sort((a, b) => counts.get(b)! - counts.get(a)! || a - b);
  const size = Math.max(catalogSize, ids.length);
  const decile = new Map<number, number>();
  ids.forEach((id, rank) => decile.set(id, Math.min(9, Math.floor((rank * 10) / size))));
  return decile;
}

/** Share of the top-`maxK` entries of the users' lists per decile (zeros when there are none). */
export function decileShares(
  lists: RecommendationLists,
  userIds: Int32Array,
  maxK: number,
  decileOf: ReadonlyMap<number, number>,
): number[] {
  const counts = new Float64Array(10);
  let total = 0;
  for (let u = 0; u < userIds.length; u++) {
    const list = lists.get(userIds[u]);
    if (!list) continue;
    const len = Math.min(list.length, maxK);
    for (let p = 0; p < len; p++) {
      counts[decileOf.get(list[p]) ?? 9]++;
      total++;
    }
  }
  return Array.from(counts, (c) => (total ? c / total : 0));
}

/** Rounds every number in a JSON-like value to `DECIMALS` places (integers are unchanged). */
export function roundNumbers(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? round(value) : value;
  if (Array.isArray(value)) return value.map(roundNumbers);
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundNumbers(v)]));
  }
  return value;
}

function round(x: number): number {
  const f = 10 ** DECIMALS;
  const r = Math.round(x * f) / f;
  return r === 0 ? 0 : r;
}
