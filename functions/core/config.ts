/**
 * The ML settings of a reelflow run: ingestion policy, split, encoding, hyperparameters, evaluation
 * and gate. One typed, validated object with documented defaults; the CDK app (infra/config.ts)
 * embeds it under `ml`, the local runtime reads the same file, so both paths train alike.
 *
 * Hyperparameter names are the SageMaker built-ins' own (`num_factors`, `mini_batch_size`, ...).
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();
const share = z.number().gt(0).lt(1);

export const RATING_FORMATS = ['auto', 'u.data', 'ratings.dat', 'ratings.csv'] as const;
export type RatingFormatOption = (typeof RATING_FORMATS)[number];

export const ingestSchema = z
  .object({
    /** Force a file format instead of detecting it from the name and first line. @default 'auto' */
    format: z.enum(RATING_FORMATS).default('auto'),
    /** Lowest valid rating (inclusive). @default 0.5 (MovieLens half stars; ml-100k uses 1) */
    ratingMin: z.number().default(0.5),
    /** Highest valid rating (inclusive). @default 5 */
    ratingMax: z.number().default(5),
    /** Reject the whole data set when bad rows exceed this share of all rows. @default 0.01 */
    maxBadRowShare: z.number().min(0).max(1).default(0.01),
    /** How many line numbers to keep per file and reason in the validation report. @default 5 */
    sampleLinesPerReason: positiveInt.default(5),
  })
  .refine((v) => v.ratingMin < v.ratingMax, {
    message: 'ratingMin must be below ratingMax',
    path: ['ratingMin'],
  });

export const splitSchema = z
  .object({
    /**
     * `temporal-per-user`: each user's latest ratings are the test set.
     * `global-time`: every rating at or after `cutoffTimestamp` is test.
     * `predefined`: MovieLens-100k `ua.base`/`ua.test` files, as the workshop did.
     * @default 'temporal-per-user'
     */
    mode: z.enum(['temporal-per-user', 'global-time', 'predefined']).default('temporal-per-user'),
    /** Share of each eligible user's latest ratings held out. @default 0.2 */
    testShare: share.default(0.2),
    /** Users with fewer ratings than this stay in training only. @default 5 */
    minUserRatings: positiveInt.default(5),
    /** Unix seconds; required for `global-time`. @default - none */
    cutoffTimestamp: z.number().int().optional(),
  })
  .refine((v) => v.mode !== 'global-time' || v.cutoffTimestamp !== undefined, {
    message: 'cutoffTimestamp is required when mode is global-time',
    path: ['cutoffTimestamp'],
  });

export const encodingSchema = z.object({
  /**
   * `implicit`: every rated pair is a positive, plus sampled unrated movies as negatives.
   * `workshop`: the lab's notebook exactly, label 1 when rating >= `positiveMinRating` else 0.
   * @default 'implicit'
   */
  objective: z.enum(['implicit', 'workshop']).default('implicit'),
  /** Workshop objective: ratings at or above this are label 1. @default 4 */
  positiveMinRating: z.number().default(4),
  /** Implicit objective: sampled negatives per positive. @default 4 */
  negativeRatio: z.number().positive().default(4),
  /**
   * Implicit objective: how negatives are drawn. `popularity` samples movies in proportion to
   * count^`popularityExponent`, so the model must learn more than popularity. @default 'popularity'
   */
  negativeSampling: z.enum(['uniform', 'popularity']).default('popularity'),
  /** @default 0.75 */
  popularityExponent: z.number().min(0).max(2).default(0.75),
  /** Upper bound of one recordIO shard, for multi-instance training. @default 64 MiB */
  shardMaxBytes: positiveInt.default(64 * 1024 * 1024),
});

/** Factorization Machines hyperparameters, named as the built-in algorithm names them. */
export const fmSchema = z.object({
  num_factors: positiveInt.default(64),
  epochs: positiveInt.default(100),
  mini_batch_size: positiveInt.default(1000),
  predictor_type: z.enum(['binary_classifier', 'regressor']).default('binary_classifier'),
  optimizer: z.enum(['adam', 'sgd', 'adagrad']).default('adam'),
  factors_lr: z.number().positive().default(1e-4),
  linear_lr: z.number().positive().default(1e-3),
  bias_lr: z.number().positive().default(0.1),
  factors_wd: z.number().min(0).default(1e-5),
  linear_wd: z.number().min(0).default(1e-3),
  bias_wd: z.number().min(0).default(0.01),
  factors_init_sigma: z.number().positive().default(0.001),
  linear_init_sigma: z.number().positive().default(0.01),
  bias_init_sigma: z.number().positive().default(0.01),
});

/** k-NN hyperparameters, named as the built-in algorithm names them. */
export const knnSchema = z.object({
  k: positiveInt.max(1024).default(100),
  index_metric: z.enum(['INNER_PRODUCT', 'L2']).default('INNER_PRODUCT'),
  index_type: z.literal('faiss.Flat').default('faiss.Flat'),
  predictor_type: z.enum(['classifier', 'regressor']).default('classifier'),
  sample_size: positiveInt.default(200000),
});

export const evaluationSchema = z.object({
  /** Cut-offs reported for every ranking metric. @default [5, 10, 25] */
  ks: z.array(positiveInt).nonempty().default([5, 10, 25]),
  /** Number of recommendations the API returns. @default 25 */
  topN: positiveInt.default(25),
  /** Bootstrap resamples over users for the candidate-vs-production intervals. @default 1000 */
  bootstrapSamples: positiveInt.default(1000),
  /** Test ratings at or above this count as relevant. @default - every held-out rating is relevant */
  relevanceMinRating: z.number().optional(),
});

export const gateSchema = z.object({
  /** The metric the gate and the approval summary lead with. @default 'ndcg@10' */
  primaryMetric: z
    .string()
    .regex(/^(precision|recall|ndcg|mrr|hit_rate)@\d+$/)
    .default('ndcg@10'),
  /** Absolute floor of the primary metric. @default 0 */
  minPrimary: z.number().min(0).default(0),
  /** The candidate must beat the most-popular baseline on the primary metric. @default true */
  mustBeatPopularity: z.boolean().default(true),
  /** Largest allowed drop vs production, relative (0.05 = 5 %), on each gated metric. @default 0.05 */
  maxRegression: z.number().min(0).max(1).default(0.05),
  /** Metrics checked for regression against production. @default ['ndcg@10', 'precision@10', 'recall@10'] */
  regressionMetrics: z.array(z.string()).default(['ndcg@10', 'precision@10', 'recall@10']),
});

export const mlConfigSchema = z.object({
  /** Seed for every random choice of a run (split ties, negatives, init, bootstrap). @default 42 */
  seed: z.number().int().default(42),
  ingest: ingestSchema.default(() => ingestSchema.parse({})),
  split: splitSchema.default(() => splitSchema.parse({})),
  encoding: encodingSchema.default(() => encodingSchema.parse({})),
  fm: fmSchema.default(() => fmSchema.parse({})),
  knn: knnSchema.default(() => knnSchema.parse({})),
  evaluation: evaluationSchema.default(() => evaluationSchema.parse({})),
  gate: gateSchema.default(() => gateSchema.parse({})),
});

export type MlConfig = z.infer<typeof mlConfigSchema>;
export type IngestConfig = MlConfig['ingest'];
export type SplitConfig = MlConfig['split'];
export type EncodingConfig = MlConfig['encoding'];
export type FmHyperparameters = MlConfig['fm'];
export type KnnHyperparameters = MlConfig['knn'];
export type EvaluationConfig = MlConfig['evaluation'];
export type GateConfig = MlConfig['gate'];

/** Thrown when a configuration value is invalid; the message names every bad key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses and validates `raw` (partial; defaults fill the rest). `prefix` names the keys in errors. */
export function parseMlConfig(raw: unknown = {}, prefix = 'ml'): MlConfig {
  const result = mlConfigSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, prefix));
  return result.data;
}

/** One line per issue: `ml.split.testShare: Too big: expected number to be <1 (got 1.5)`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: string): string {
  return issues
    .map((issue) => {
      const key = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      return `invalid config ${key}: ${issue.message}`;
    })
    .join('\n');
}

/** Hyperparameters as CreateTrainingJob wants them: a map of strings. */
export function toHyperparameterStrings(
  values: Record<string, string | number | boolean>,
): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, String(v)]));
}

/**
 * Reads CreateTrainingJob HyperParameters (strings) back into typed values, as the built-in
 * algorithm does: unknown names are rejected, `feature_dim` is required, numbers must parse.
 */
export function fmHyperparametersFromStrings(
  strings: Record<string, string>,
): FmHyperparameters & { feature_dim: number } {
  const { feature_dim: featureDim, ...rest } = strings;
  const fm = parseStrings(fmSchema, rest, 'HyperParameters');
  const dim = Number(featureDim);
  if (!Number.isInteger(dim) || dim <= 0) {
    throw new ConfigError(
      `invalid config HyperParameters.feature_dim: expected a positive integer, got '${featureDim}'`,
    );
  }
  return { ...fm, feature_dim: dim };
}

/** The k-NN counterpart of `fmHyperparametersFromStrings` (`feature_dim` required). */
export function knnHyperparametersFromStrings(
  strings: Record<string, string>,
): KnnHyperparameters & { feature_dim: number } {
  const { feature_dim: featureDim, ...rest } = strings;
  const knn = parseStrings(knnSchema, rest, 'HyperParameters');
  const dim = Number(featureDim);
  if (!Number.isInteger(dim) || dim <= 0) {
    throw new ConfigError(
      `invalid config HyperParameters.feature_dim: expected a positive integer, got '${featureDim}'`,
    );
  }
  return { ...knn, feature_dim: dim };
}

function parseStrings<S extends z.ZodObject>(
  schema: S,
  strings: Record<string, string>,
  prefix: string,
): z.infer<S> {
  const known = new Set(Object.keys(schema.shape));
  const unknown = Object.keys(strings).filter((k) => !known.has(k));
  if (unknown.length)
    throw new ConfigError(`invalid config ${prefix}: unknown hyperparameter(s) ${unknown.join(', ')}`);
  const typed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(strings)) {
    const asNumber = Number(value);
    typed[key] =
      value.trim() !== '' && Number.isFinite(asNumber)
        ? asNumber
        : value === 'true'
          ? true
          : value === 'false'
            ? false
            : value;
  }
  const result = schema.strict().safeParse(typed);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, prefix));
  return result.data as z.infer<S>;
}
