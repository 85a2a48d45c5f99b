/**
 * The `tuning` settings: a search space over the FM hyperparameters and the data-preparation knobs, a
 * budget (trials, parallelism) and the validation split carved from the training data only. The trials
 * are scored by NDCG@10 of their k-NN recommendations on that validation split (the metric users care
 * about; SageMaker's own tuner can only optimise the built-in's accuracy or loss), so this is reelflow's
 * own search, not a SageMaker hyperparameter tuning job.
 *
 * A parameter is named by its path in the ML config: `fm.<hyperparameter>` or `encoding.<knob>`. Each
 * sampled value must be one the ML config accepts (checked when the settings are parsed, so a bad range
 * fails `cdk synth`, not trial 5 of a run).
 */
import { z } from 'zod';
import { encodingSchema, fmSchema } from '../config';

/** The parameters a search may vary, with the kind of value each takes. */
export const TUNABLE_PARAMETERS = {
  'fm.num_factors': 'integer',
  'fm.epochs': 'integer',
  'fm.mini_batch_size': 'integer',
  'fm.predictor_type': 'categorical',
  'fm.factors_lr': 'number',
  'fm.linear_lr': 'number',
  'fm.bias_lr': 'number',
  'fm.factors_wd': 'number',
  'fm.linear_wd': 'number',
  'fm.bias_wd': 'number',
  'fm.factors_init_sigma': 'number',
  'encoding.negativeRatio': 'number',
  'encoding.negativeSampling': 'categorical',
  'encoding.popularityExponent': 'number',
  'encoding.recentCopies': 'integer',
  'encoding.recentShare': 'number',
} as const;

export type TunableParameter = keyof typeof TUNABLE_PARAMETERS;
export type ParameterValue = number | string;

const rangeSchema = z.strictObject({
  /** `continuous` draws a real number, `integer` a whole one, both in [min, max]. */
  type: z.enum(['continuous', 'integer']),
  min: z.number(),
  max: z.number(),
  /** `log` draws uniformly in log space (learning rates, weight decay). @default 'linear' */
  scale: z.enum(['linear', 'log']).default('linear'),
});

const categoricalSchema = z.strictObject({
  type: z.literal('categorical'),
  values: z.array(z.union([z.string(), z.number()])).min(1),
});

export const parameterRangeSchema = z.discriminatedUnion('type', [rangeSchema, categoricalSchema]);
export type ParameterRange = z.infer<typeof parameterRangeSchema>;

/**
 * The default search space: the region a held-out sweep on MovieLens-latest-small (about 150 trainings
 * of the local FM; bench/tuning-quality.ts runs the search) found best, narrow enough that most of the
 * few trials land in it. What moved held-out NDCG@10 there: negatives drawn by popularity^0.5 to 0.7
 * (0.75 ranks too few popular movies, 1.0 and uniform are clearly worse), 5 to 7 of them per positive
 * (4 and 8 lose a little, 1 to 3 and 16 clearly), a factor learning rate of 2e-3 to 5e-3 for 20 to 35 epochs, and the factor
 * weight decay in a narrow band below 1e-4 (3e-5 and 1.4e-4 up already lose, 3e-4 collapses). Squared
 * and log loss, 128 and 256 factors, factor init σ 0.001 and 0.05 all score alike there; the space
 * takes the regressor and 128 factors (the cheaper of the two). One training's seed moves held-out
 * NDCG@10 by about ±0.004, as much as the differences inside the region, so trials within it are
 * told apart by noise: the search's job is to land there, not to pick the point.
 *
 * On that plateau (0.117 to 0.118 held-out) the one data knob that moved it was recency: 2 or 3 more
 * copies of each user's latest 20% to 40% of training ratings (encoding.recentCopies, recentShare:
 * fm/recent-copies.ts) lifted the same settings from 0.1195 to 0.126-0.131 over 3 seeds (4 copies or
 * a 50% share gained no more and cost more examples), so the space searches that too. The baseline
 * (trial 0, the config as it is) keeps whatever the config says.
 */
export const DEFAULT_SPACE: Readonly<Partial<Record<TunableParameter, ParameterRange>>> = {
  'fm.predictor_type': { type: 'categorical', values: ['regressor'] },
  'fm.num_factors': { type: 'categorical', values: [128] },
  'encoding.negativeRatio': { type: 'integer', min: 5, max: 7, scale: 'linear' },
  'encoding.popularityExponent': { type: 'continuous', min: 0.5, max: 0.7, scale: 'linear' },
  'fm.factors_lr': { type: 'continuous', min: 2e-3, max: 5e-3, scale: 'log' },
  'fm.factors_wd': { type: 'continuous', min: 5e-5, max: 8e-5, scale: 'log' },
  'fm.factors_init_sigma': { type: 'continuous', min: 0.02, max: 0.07, scale: 'log' },
  'fm.linear_lr': { type: 'continuous', min: 1e-4, max: 1e-3, scale: 'log' },
  'fm.epochs': { type: 'integer', min: 20, max: 35, scale: 'linear' },
  'encoding.recentCopies': { type: 'integer', min: 2, max: 3, scale: 'linear' },
  'encoding.recentShare': { type: 'continuous', min: 0.2, max: 0.4, scale: 'linear' },
};

export const tuningSchema = z
  .strictObject({
    /**
     * Run the search before the final training of every run on AWS. @default false (it multiplies the
     * training cost: trainingCostFactor, quoted in the README)
     */
    enabled: z.boolean().default(false),
    /** Run it in `npm start` (the local runtime) even when `enabled` is false: cheap there. @default true */
    local: z.boolean().default(true),
    /** Trials, the baseline (the config's own settings) included. @default 8 */
    trials: z.number().int().min(2).max(100).default(8),
    /** Trials trained at once at most (the Map state's MaxConcurrency). @default 4 */
    parallelism: z.number().int().min(1).max(20).default(4),
    /** Share of each eligible user's latest training ratings held out to score the trials. @default 0.2 */
    validationShare: z.number().gt(0).lt(1).default(0.2),
    /** Cut-off of the NDCG the trials are ranked by. @default 10 */
    k: z.number().int().min(1).max(100).default(10),
    /** The search space, by ML config path. @default DEFAULT_SPACE */
    space: z
      .record(z.string(), parameterRangeSchema)
      .default(() => ({ ...DEFAULT_SPACE }) as Record<string, ParameterRange>),
  })
  .superRefine((tuning, ctx) => {
    for (const [name, range] of Object.entries(tuning.space)) {
      for (const message of rangeProblems(name, range)) {
        ctx.addIssue({ code: 'custom', path: ['space', name], message });
      }
    }
  });

export type TuningConfig = z.infer<typeof tuningSchema>;

/** Why `range` cannot be searched for parameter `name` (empty when it can). */
export function rangeProblems(name: string, range: ParameterRange): string[] {
  if (!(name in TUNABLE_PARAMETERS)) {
    return [`'${name}' cannot be tuned; tunable parameters: ${Object.keys(TUNABLE_PARAMETERS).join(', ')}`];
  }
  const kind = TUNABLE_PARAMETERS[name as TunableParameter];
  if (range.type === 'categorical') {
    const bad = range.values.filter((value) => !acceptedValue(name, value));
    return bad.length === 0 ? [] : [`values ${JSON.stringify(bad)} are not valid for ${name}`];
  }
  if (kind === 'categorical') return [`${name} takes a categorical range (values: [...])`];
  if (kind === 'integer' && range.type !== 'integer') return [`${name} takes whole numbers: type 'integer'`];
  const problems: string[] = [];
  if (!(range.min < range.max)) problems.push(`min (${range.min}) must be below max (${range.max})`);
  if (range.scale === 'log' && range.min <= 0) problems.push(`a log scale needs min > 0 (got ${range.min})`);
  for (const bound of [range.min, range.max]) {
    if (!acceptedValue(name, bound)) problems.push(`${bound} is not a valid value of ${name}`);
  }
  return problems;
}

/** Whether the ML config accepts `value` at `name` (`fm.x` or `encoding.x`). */
export function acceptedValue(name: string, value: ParameterValue): boolean {
  const [section, key] = name.split('.');
  const schema = section === 'fm' ? fmSchema : encodingSchema;
  return schema.safeParse({ [key]: value }).success;
}
