/**
 * The iALS trainer's hyperparameters: one strict zod schema with documented defaults and ranges, read
 * from the strings SageMaker passes (`/opt/ml/input/config/hyperparameters.json` holds every value as a
 * string), or from typed values (the ML config, tests).
 *
 * Names are snake_case like the built-ins' (`num_factors`, ...), because they travel as
 * CreateTrainingJob HyperParameters. The defaults were tuned on ml-latest-small with the project's
 * temporal split (bench/quality/ials-ml-latest-small.ts prints the figures).
 */
import { z } from 'zod';
import { ConfigError, formatIssues } from '../config-errors';

/** How an observed pair's confidence grows with its rating r: c = 1 + alpha * f(r). */
export const IALS_CONFIDENCE = ['constant', 'rating', 'log-rating'] as const;
export type IalsConfidence = (typeof IALS_CONFIDENCE)[number];

/** How each row's normal equations are solved. */
export const IALS_SOLVERS = ['cg', 'cholesky'] as const;

export const ialsSchema = z.strictObject(
  {
    /** Latent dimension K (the k-NN vectors have K + 1 values). @default 64, range 1..1024 */
    num_factors: z.number().int().min(1).max(1024).default(64),
    /**
     * Alternations (users then items). 8 with 3 CG steps stops before convergence, which on
     * ml-latest-small scores higher than the converged factors (16 iterations: NDCG@10 0.1247).
     * @default 8, range 1..1000
     */
    iterations: z.number().int().min(1).max(1000).default(8),
    /**
     * L2 weight λ of every factor row, scaled per row by `(1 + n)^regularization_exponent` where n is
     * the row's number of observed pairs. @default 2, range >= 0
     */
    regularization: z.number().min(0).default(2),
    /** ν of the frequency-scaled regularization above (0 = plain λ). @default 0.5, range 0..2 */
    regularization_exponent: z.number().min(0).max(2).default(0.5),
    /**
     * Confidence slope: an observed pair weighs c = 1 + alpha * f(rating) * g, an unobserved pair 1.
     * @default 0.2, range >= 0
     */
    alpha: z.number().min(0).default(0.2),
    /** f above: `constant` (1), `rating` (r) or `log-rating` (ln(1 + r)). @default 'rating' */
    confidence: z.enum(IALS_CONFIDENCE).default('rating'),
    /**
     * Recency weighting g = 0.5^(m / recency_half_life) of the confidence's alpha term, m = how many of
     * the user's training ratings are later than this one (0 = off: every rating weighs alike).
     * @default 150, range >= 0
     */
    recency_half_life: z.number().min(0).default(150),
    /**
     * Learn an item bias b_i too: the score is ⟨U_u, V_i⟩ + b_i, served as the movie vector's last
     * value (`[V_i, b_i]`, as FM's linear weight). @default false
     */
    item_bias: z.boolean().default(false),
    /** `cg` (conjugate gradient, warm-started, `cg_steps` per row) or `cholesky` (exact). @default 'cg' */
    solver: z.enum(IALS_SOLVERS).default('cg'),
    /** Conjugate-gradient steps per row and half-iteration. @default 3, range 1..256 */
    cg_steps: z.number().int().min(1).max(256).default(3),
    /** Standard deviation of the initial factors, divided by sqrt(num_factors). @default 0.1, range > 0 */
    init_stddev: z.number().gt(0).default(0.1),
    /** Seed of the initial factors: the same data and seed give bit-identical factors. @default 42 */
    seed: z.number().int().min(0).max(0xffffffff).default(42),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown hyperparameter${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => `'${k}'`).join(', ')} ` +
          `(known: ${Object.keys(IALS_KEYS).join(', ')})`
        : undefined,
  },
);

/** Every key of the schema (for the unknown-key message). */
const IALS_KEYS = {
  num_factors: 1,
  iterations: 1,
  regularization: 1,
  regularization_exponent: 1,
  alpha: 1,
  confidence: 1,
  recency_half_life: 1,
  item_bias: 1,
  solver: 1,
  cg_steps: 1,
  init_stddev: 1,
  seed: 1,
} as const;

export type IalsHyperparameters = z.infer<typeof ialsSchema>;

/** Validates typed (partial) hyperparameters; defaults fill the rest. @throws ConfigError naming each bad key */
export function parseIalsHyperparameters(raw: unknown = {}, prefix = 'ials'): IalsHyperparameters {
  const result = ialsSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, prefix));
  return result.data;
}

/**
 * Reads CreateTrainingJob HyperParameters (every value a string) into typed values: a numeric key must
 * hold a finite decimal number, a text key one of its values. @throws ConfigError naming each bad key
 * (`HyperParameters.alpha: ...`)
 */
export function ialsHyperparametersFromStrings(strings: Record<string, unknown>): IalsHyperparameters {
  const typed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(strings)) {
    const shape = (ialsSchema.shape as Record<string, z.ZodType>)[key];
    // A numeric key gets its number; a text key (or a string that is no number) stays a string, so the
    // issue says what was expected.
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    const text = shape !== undefined && shape.safeParse(value).success;
    typed[key] =
      text || shape === undefined
        ? value
        : Number.isFinite(n)
          ? n
          : value === 'true' || value === 'false'
            ? value === 'true'
            : value;
  }
  return parseIalsHyperparameters(typed, 'HyperParameters');
}

/** Typed hyperparameters → the strings CreateTrainingJob sends (every key, defaults included). */
export function ialsHyperparameterStrings(params: IalsHyperparameters): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]));
}
