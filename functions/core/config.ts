/**
 * The ML settings of a reelflow run: ingestion policy, split, encoding, hyperparameters, evaluation
 * and gate. One typed, validated object with documented defaults; the CDK app (pipeline/config.ts)
 * embeds it under `ml`, the local runtime reads the same file, so both paths train alike.
 *
 * Hyperparameter names are the SageMaker built-ins' own (`num_factors`, `mini_batch_size`, ...).
 */
import { z } from 'zod';
import { ConfigError, formatIssues } from './config-errors';

export { ConfigError, formatIssues } from './config-errors';
import { ialsSchema } from './ials/config';
import {
  FACTORIZATION_MACHINES,
  KNN,
  documentedHyperparameters,
  hyperparameterDocUrl,
  validateHyperparameters,
  type BuiltinContract,
} from './algorithms';

const positiveInt = z.number().int().positive();
const share = z.number().gt(0).lt(1);

export const RATING_FORMATS = ['auto', 'u.data', 'ratings.dat', 'ratings.csv'] as const;
export type RatingFormatOption = (typeof RATING_FORMATS)[number];

/**
 * A strict settings object: an unknown key (a typo such as `ml.split.testshare`) fails with a message
 * naming it and the known keys, instead of being silently ignored.
 */
function section<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const keys = issue.keys.map((key) => `'${key}'`).join(', ');
      return `unknown key${issue.keys.length === 1 ? '' : 's'} ${keys} (known keys: ${known})`;
    },
  });
}

export const ingestSchema = section({
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
  /**
   * Timestamps later than now + this many seconds are bad rows (`future_timestamp`): with latest-wins
   * de-duplication one would override every later correction. @default 86400 (one day)
   */
  maxFutureSeconds: z.number().min(0).default(86_400),
  /**
   * A gzipped file that decompresses to more bytes than this rejects the data set (a gzip bomb).
   * MovieLens-32M is ~0.9 GB. @default 8 GiB
   */
  maxDecompressedBytes: positiveInt.default(8 * 1024 ** 3),
}).refine((v) => v.ratingMin < v.ratingMax, {
  message: 'ratingMin must be below ratingMax',
  path: ['ratingMin'],
});

export const splitSchema = section({
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
}).refine((v) => v.mode !== 'global-time' || v.cutoffTimestamp !== undefined, {
  message: 'cutoffTimestamp is required when mode is global-time',
  path: ['cutoffTimestamp'],
});

export const encodingSchema = section({
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
  /**
   * Recency weight of the training examples: each user's latest `recentShare` of training ratings
   * (counted as the test split counts: at least one, never all) is written `1 + recentCopies` times,
   * so what a user rated last weighs more (the held-out ratings are each user's latest; see
   * fm/recent-copies.ts). The copies count as ratings everywhere in the encoding (negatives per
   * positive, popularity of the negative sampling); the test channel and the split CSVs are never
   * copied. 0 leaves the examples as they were. @default 0
   */
  recentCopies: z.number().int().min(0).max(10).default(0),
  /** Share of each user's training ratings, latest first, that `recentCopies` repeats. @default 0.3 */
  recentShare: z.number().gt(0).max(1).default(0.3),
  /** Upper bound of one recordIO shard, for multi-instance training. @default 64 MiB */
  shardMaxBytes: positiveInt.default(64 * 1024 * 1024),
});

/**
 * Why a documented hyperparameter is still not a config key: reelflow sets it, or the serving design
 * (exact inner-product search over user-tag rows, docs/architecture.md) cannot work with it.
 */
const NOT_CONFIGURABLE: Readonly<Record<string, string>> = {
  feature_dim:
    'reelflow sets it from the data (FM: users + movies; k-NN: the vector and user-tag dimensions)',
  dimension_reduction_type: "the user-tag rows need exact search in the index's own dimensions",
  dimension_reduction_target: "the user-tag rows need exact search in the index's own dimensions",
  faiss_index_ivf_nlists: 'reelflow uses index_type faiss.Flat (exact search, which the user-tag rows need)',
  faiss_index_pq_m: 'reelflow uses index_type faiss.Flat (exact search, which the user-tag rows need)',
};

/**
 * A strict hyperparameter object: a key the built-in does not document fails with a message naming
 * it and the doc page, because the built-in fails the whole training job on it (algorithms/index.ts).
 */
function hyperparameterObject<T extends z.ZodRawShape>(contract: BuiltinContract, shape: T) {
  const documented = new Set(documentedHyperparameters(contract));
  const url = hyperparameterDocUrl(contract);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      return issue.keys
        .map((key) =>
          documented.has(key)
            ? `'${key}' is a documented hyperparameter of the SageMaker built-in ${contract.algorithm} ` +
              `algorithm, but not a reelflow setting: ${NOT_CONFIGURABLE[key] ?? 'not supported'}`
            : `'${key}' is not a documented hyperparameter of the SageMaker built-in ${contract.algorithm} ` +
              `algorithm (${url}); the built-in fails the training job on unknown hyperparameters`,
        )
        .join('; ');
    },
  });
}

const nonNegative = z.number().min(0);
const initMethod = z.enum(['uniform', 'normal', 'constant']);

/**
 * Factorization Machines hyperparameters: only names the built-in documents (feature_dim is set from
 * the data). Keys with a default are always sent; the optional ones only when set. The local trainer's
 * own settings (its optimizer: the built-in's adam) are not here, so they never reach SageMaker.
 */
export const fmSchema = hyperparameterObject(FACTORIZATION_MACHINES, {
  num_factors: positiveInt.default(64),
  epochs: positiveInt.default(100),
  mini_batch_size: positiveInt.default(1000),
  predictor_type: z.enum(['binary_classifier', 'regressor']).default('binary_classifier'),
  factors_lr: nonNegative.default(1e-4),
  linear_lr: nonNegative.default(1e-3),
  bias_lr: nonNegative.default(0.1),
  factors_wd: nonNegative.default(1e-5),
  linear_wd: nonNegative.default(1e-3),
  bias_wd: nonNegative.default(0.01),
  factors_init_sigma: nonNegative.default(0.001),
  linear_init_sigma: nonNegative.default(0.01),
  bias_init_sigma: nonNegative.default(0.01),
  /** Optimizer parameter: clip the gradient to [-clip_gradient, +clip_gradient]. @default - not sent */
  clip_gradient: z.number().optional(),
  /** Optimizer parameter: small value to avoid division by 0. @default - not sent */
  eps: z.number().optional(),
  /** Optimizer parameter: multiplies the gradient before updating. @default - not sent */
  rescale_grad: z.number().optional(),
  /** @default - not sent (the built-in's normal) */
  bias_init_method: initMethod.optional(),
  bias_init_scale: nonNegative.optional(),
  bias_init_value: z.number().optional(),
  /** @default - not sent (the built-in's normal) */
  linear_init_method: initMethod.optional(),
  linear_init_scale: nonNegative.optional(),
  linear_init_value: z.number().optional(),
  /** @default - not sent (the built-in's normal) */
  factors_init_method: initMethod.optional(),
  factors_init_scale: nonNegative.optional(),
  factors_init_value: z.number().optional(),
});

/**
 * k-NN hyperparameters: only names the built-in documents (feature_dim is set by reelflow). The user
 * tags need exact search, so the index is faiss.Flat with no dimension reduction.
 */
export const knnSchema = hyperparameterObject(KNN, {
  k: positiveInt.max(1024).default(100),
  index_metric: z.enum(['INNER_PRODUCT', 'L2']).default('INNER_PRODUCT'),
  index_type: z.literal('faiss.Flat').default('faiss.Flat'),
  predictor_type: z.enum(['classifier', 'regressor']).default('classifier'),
  sample_size: positiveInt.default(200000),
  /** Observations per mini-batch of the data iterator. @default - not sent (the built-in's 5000) */
  mini_batch_size: positiveInt.optional(),
});

export const evaluationSchema = section({
  /** Cut-offs reported for every ranking metric. @default [5, 10, 25] */
  ks: z.array(positiveInt).nonempty().default([5, 10, 25]),
  /** Number of recommendations the API returns. @default 25 */
  topN: positiveInt.default(25),
  /** Bootstrap resamples over users for the candidate-vs-production intervals. @default 1000 */
  bootstrapSamples: positiveInt.default(1000),
  /**
   * Held-out ratings at or above this count as relevant (e.g. 4 on a 1-5 scale: only movies the user
   * liked); users left with no relevant movie are skipped and counted. At most `ingest.ratingMax`.
   * @default - every held-out rating is relevant
   */
  relevanceMinRating: z.number().optional(),
});

export const gateSchema = section({
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

export const mlConfigSchema = z
  .object({
    /** Seed for every random choice of a run (split ties, negatives, init, bootstrap). @default 42 */
    seed: z.number().int().default(42),
    ingest: ingestSchema.default(() => ingestSchema.parse({})),
    split: splitSchema.default(() => splitSchema.parse({})),
    encoding: encodingSchema.default(() => encodingSchema.parse({})),
    /**
     * The embedding trainer: SageMaker's built-in Factorization Machines, or reelflow's implicit ALS
     * (functions/core/ials/) run as a training job in the project's image. @default 'fm'
     */
    trainer: z.enum(['fm', 'ials']).default('fm'),
    fm: fmSchema.default(() => fmSchema.parse({})),
    /** iALS hyperparameters (functions/core/ials/config.ts), sent when `trainer` is 'ials'. */
    ials: ialsSchema.default(() => ialsSchema.parse({})),
    knn: knnSchema.default(() => knnSchema.parse({})),
    evaluation: evaluationSchema.default(() => evaluationSchema.parse({})),
    gate: gateSchema.default(() => gateSchema.parse({})),
  })
  // Checks across sections (one per rule; add new ones here).
  .refine(
    (c) =>
      c.evaluation.relevanceMinRating === undefined || c.evaluation.relevanceMinRating <= c.ingest.ratingMax,
    {
      message: 'relevanceMinRating is above ingest.ratingMax: no held-out rating could be relevant',
      path: ['evaluation', 'relevanceMinRating'],
    },
  );

export type MlConfig = z.infer<typeof mlConfigSchema>;
export type IngestConfig = MlConfig['ingest'];
export type SplitConfig = MlConfig['split'];
export type EncodingConfig = MlConfig['encoding'];
export type FmHyperparameters = MlConfig['fm'];
export type KnnHyperparameters = MlConfig['knn'];
export type EvaluationConfig = MlConfig['evaluation'];
export type GateConfig = MlConfig['gate'];

/** Parses and validates `raw` (partial; defaults fill the rest). `prefix` names the keys in errors. */
export function parseMlConfig(raw: unknown = {}, prefix = 'ml'): MlConfig {
  const result = mlConfigSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, prefix));
  return result.data;
}

/** Hyperparameters as CreateTrainingJob wants them: a map of strings; unset (undefined) ones are left out. */
export function toHyperparameterStrings(
  values: Record<string, string | number | boolean | undefined>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])),
  );
}

/**
 * Reads CreateTrainingJob HyperParameters (strings) back into typed values, as the built-in algorithm
 * does: first the built-in's documented contract (unknown names, missing required ones, invalid
 * values: `BuiltinClientError` with the built-in's FailureReason), then absent optional ones take the
 * built-in's documented defaults (epochs 1, ...), not reelflow's config defaults. A documented
 * hyperparameter the local trainer does not model fails with `ConfigError`.
 */
export function fmHyperparametersFromStrings(
  strings: Record<string, string>,
): FmHyperparameters & { feature_dim: number } {
  return fromStrings(FACTORIZATION_MACHINES, fmSchema, strings);
}

/** The k-NN counterpart of `fmHyperparametersFromStrings` (index_metric defaults to L2, as documented). */
export function knnHyperparametersFromStrings(
  strings: Record<string, string>,
): KnnHyperparameters & { feature_dim: number } {
  return fromStrings(KNN, knnSchema, strings);
}

function fromStrings<S extends z.ZodObject>(
  contract: BuiltinContract,
  schema: S,
  strings: Record<string, string>,
): z.infer<S> & { feature_dim: number } {
  validateHyperparameters(contract, strings);
  const { feature_dim: featureDim, ...rest } = strings;
  const shape = schema.shape as Record<string, z.ZodType>;
  const withDefaults: Record<string, string> = {};
  for (const spec of contract.hyperparameters) {
    // Only keys that always have a value in the typed result (optional ones stay unset).
    const field = shape[spec.name];
    if (spec.default !== null && field && field.safeParse(undefined).data !== undefined) {
      withDefaults[spec.name] = spec.default;
    }
  }
  const typed = parseStrings(schema, { ...withDefaults, ...rest }, 'HyperParameters');
  return { ...typed, feature_dim: Number(featureDim) };
}

function parseStrings<S extends z.ZodObject>(
  schema: S,
  strings: Record<string, string>,
  prefix: string,
): z.infer<S> {
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
  const result = schema.safeParse(typed);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, prefix));
  return result.data as z.infer<S>;
}
