/**
 * The search as a run performs it, step by step, over a run's artifacts (an `ArtifactSink` at
 * `runs/<runId>/tuning/` and the split the Prepare step wrote). The workflow's Tuning states call these
 * through functions/workflow/tune.ts; the local twin runs the same states.
 *
 *   planRunTuning    carve the validation split, draw the trials, write one FM train channel per distinct
 *                    encoding (trials that differ only in FM hyperparameters share it), the fit and
 *                    validation rows and plan.json; returns what the Map state iterates
 *   scoreRunTrial    one trained trial's validation NDCG@k (score.ts)
 *   pickRunBest      the winner (select.ts), its ML config, its HyperParameters and, when its encoding
 *                    differs from the run's, its train channel encoded from all training data
 */
import { trainingHyperparameters } from '../prepare';
import type { MlConfig } from '../config';
import { encodeFmExamples } from '../fm/encode';
import { idMapFromSortedIds } from '../ingest/id-map';
import { Rng } from '../random';
import { FramedRowEncoder } from '../recordio';
import { ShardedSinkWriter, type ArtifactSink } from '../sink';
import { splitCsvByteChunks, type SplitRows } from '../split';
import type { FmModel, IdMap, Ratings, SparseExamples } from '../types';
import type { TuningConfig } from './config';
import { scoreTrialModel, type TrialScore } from './score';
import { selectBest, type TrialResult, type TuningOutcome } from './select';
import { planTrials, withSettings } from './trials';
import { carveValidation } from './validation';

/** A trial as the Map state iterates it: everything its training job and its scoring need. */
export interface PlannedTrial {
  readonly id: string;
  readonly baseline: boolean;
  readonly settings: Readonly<Record<string, string | number>>;
  /** The trial's training job name (per attempt, like every job of a run). */
  readonly jobName: string;
  /** CreateTrainingJob HyperParameters (strings; feature_dim set). */
  readonly hyperparameters: Record<string, string>;
  /** The S3 prefix of its train channel. */
  readonly trainUri: string;
  /** The S3 output path of its job. */
  readonly outputUri: string;
  /** Training instances: one (a trial's fit channel is not sharded). */
  readonly instanceCount: 1;
}

/** What planRunTuning returns (the Map's items and the counts for the report). */
export interface TuningPlan {
  readonly k: number;
  readonly fitRatings: number;
  readonly validationRatings: number;
  readonly trials: readonly PlannedTrial[];
}

/** Files under the tuning prefix. */
export const TUNING_FILES = {
  plan: 'plan.json',
  fit: 'split/fit.csv',
  validation: 'split/validation.csv',
  outcome: 'tuning.json',
  channel: (n: number) => `channels/c${n}`,
  finalChannel: 'final/train',
} as const;

export interface PlanRunTuningInput {
  /** The run's ratings; `train` are the training positions (the test set is never read). */
  readonly ratings: Ratings;
  readonly train: Uint32Array;
  readonly ml: MlConfig;
  readonly tuning: TuningConfig;
  /** `runs/<runId>/tuning/`. */
  readonly sink: ArtifactSink;
  /** The same prefix as an `s3://` URI ending with `/` (for the channel and output URIs). */
  readonly tuningUri: string;
  /** Trial index -> training job name. */
  readonly jobName: (index: number) => string;
}

export async function planRunTuning(input: PlanRunTuningInput): Promise<TuningPlan> {
  const { ratings, train, ml, tuning, sink, tuningUri } = input;
  const { fit, validation } = carveValidation(
    ratings,
    train,
    { validationShare: tuning.validationShare, minUserRatings: ml.split.minUserRatings },
    ml.seed,
  );
  await writeRows(sink, TUNING_FILES.fit, ratings, fit);
  await writeRows(sink, TUNING_FILES.validation, ratings, validation);

  const featureDim = ratings.users.size + ratings.movies.size;
  const channels = new Map<string, string>();
  const trials: PlannedTrial[] = [];
  for (const [index, trial] of planTrials(tuning, ml).entries()) {
    const encodingKey = JSON.stringify(trial.ml.encoding);
    let channel = channels.get(encodingKey);
    if (channel === undefined) {
      channel = TUNING_FILES.channel(channels.size);
      channels.set(encodingKey, channel);
      await writeChannel(sink, channel, encodeFor(trial.ml, ratings, fit), trial.ml);
    }
    trials.push({
      id: trial.id,
      baseline: trial.baseline,
      settings: trial.settings,
      jobName: input.jobName(index),
      hyperparameters: trainingHyperparameters(trial.ml, featureDim).fm,
      trainUri: `${tuningUri}${channel}/`,
      outputUri: `${tuningUri}jobs/`,
      instanceCount: 1,
    });
  }
  const plan: TuningPlan = {
    k: tuning.k,
    fitRatings: fit.length,
    validationRatings: validation.length,
    trials,
  };
  await sink.put(TUNING_FILES.plan, `${JSON.stringify({ tuning, ...plan }, null, 2)}\n`);
  return plan;
}

/** The fit and validation rows of a plan, back as one `Ratings` with the two position sets. */
export interface TuningData {
  readonly ratings: Ratings;
  readonly fit: Uint32Array;
  readonly validation: Uint32Array;
}

/** Rebuilds `TuningData` from the run's id maps and the plan's fit and validation rows. */
export function tuningData(users: IdMap, movies: IdMap, fit: SplitRows, validation: SplitRows): TuningData {
  const { ratings, parts } = ratingsFromRows(users, movies, [fit, validation]);
  return { ratings, fit: parts[0], validation: parts[1] };
}

/** One trained trial's score on the validation rows. */
export function scoreRunTrial(
  model: FmModel,
  data: TuningData,
  options: { k: number; relevanceMinRating?: number },
): TrialScore {
  return scoreTrialModel(model, data.ratings, data.fit, data.validation, options);
}

export interface PickRunBestInput {
  readonly results: readonly TrialResult[];
  readonly k: number;
  /** The run's ML config (the baseline). */
  readonly ml: MlConfig;
  /** The run's training rows (to re-encode the train channel when the winner's encoding differs). */
  readonly ratings: Ratings;
  readonly train: Uint32Array;
  readonly sink: ArtifactSink;
  readonly tuningUri: string;
}

export interface PickRunBestOutput {
  readonly outcome: TuningOutcome;
  /** The ML config the run trains its final model with. */
  readonly ml: MlConfig;
  readonly hyperparameters: { readonly fm: Record<string, string>; readonly knn: Record<string, string> };
  /** The final train channel when the winner's encoding differs from the run's, else undefined. */
  readonly trainUri?: string;
}

export async function pickRunBest(input: PickRunBestInput): Promise<PickRunBestOutput> {
  const { ml, ratings, sink } = input;
  const outcome = selectBest(input.results, input.k);
  const tuned = withSettings(ml, outcome.best.settings);
  const featureDim = ratings.users.size + ratings.movies.size;
  const hyperparameters = trainingHyperparameters(tuned, featureDim);
  let trainUri: string | undefined;
  if (JSON.stringify(tuned.encoding) !== JSON.stringify(ml.encoding)) {
    await writeChannel(sink, TUNING_FILES.finalChannel, encodeFor(tuned, ratings, input.train), tuned);
    trainUri = `${input.tuningUri}${TUNING_FILES.finalChannel}/`;
  }
  await sink.put(TUNING_FILES.outcome, `${JSON.stringify({ ...outcome, ml: tuned }, null, 2)}\n`);
  return { outcome, ml: tuned, hyperparameters, trainUri };
}

/** The FM examples of `positions` with `ml`'s encoding, drawn as Prepare draws them (seeded). */
function encodeFor(ml: MlConfig, ratings: Ratings, positions: Uint32Array): SparseExamples {
  return encodeFmExamples(ratings, positions, ml.encoding, new Rng(ml.seed).fork());
}

async function writeChannel(
  sink: ArtifactSink,
  dir: string,
  examples: SparseExamples,
  ml: MlConfig,
): Promise<string[]> {
  const writer = new ShardedSinkWriter(sink, dir, ml.encoding.shardMaxBytes);
  const encoder = new FramedRowEncoder();
  const { rowPtr, cols, vals, label, featureDim } = examples;
  for (let r = 0; r < examples.length; r++) {
    writer.add(encoder.sparseRange(cols, vals, rowPtr[r], rowPtr[r + 1], featureDim, label[r]));
    if (writer.pendingBytes >= 16 << 20) await writer.drain();
  }
  return writer.close();
}

async function writeRows(sink: ArtifactSink, path: string, ratings: Ratings, positions: Uint32Array) {
  const out = sink.open(path);
  for (const chunk of splitCsvByteChunks(ratings, positions)) await out.write(chunk);
  await out.end();
}

/**
 * Split rows (original ids) as one `Ratings` in the run's one-hot layout: `users` and `movies` are the
 * run's id maps, so feature columns match the trial jobs' feature_dim. Part p's rows are positions
 * `parts[p]`, in file order.
 */
export function ratingsFromRows(
  users: IdMap,
  movies: IdMap,
  rowSets: readonly SplitRows[],
): { ratings: Ratings; parts: Uint32Array[] } {
  const n = rowSets.reduce((sum, rows) => sum + rows.length, 0);
  const user = new Uint32Array(n);
  const movie = new Uint32Array(n);
  const rating = new Float32Array(n);
  const timestamp = new Float64Array(n);
  const parts: Uint32Array[] = [];
  let at = 0;
  for (const rows of rowSets) {
    const part = new Uint32Array(rows.length);
    for (let i = 0; i < rows.length; i++, at++) {
      const u = users.indexOf(rows.userId[i]);
      const m = movies.indexOf(rows.movieId[i]);
      if (u === undefined || m === undefined) {
        throw new Error(`rating (${rows.userId[i]}, ${rows.movieId[i]}) is not in the run's id maps`);
      }
      user[at] = u;
      movie[at] = m;
      rating[at] = rows.rating[i];
      timestamp[at] = rows.timestamp[i];
      part[i] = at;
    }
    parts.push(part);
  }
  const ratings: Ratings = {
    length: n,
    user,
    movie,
    rating,
    timestamp,
    users: idMapFromSortedIds(users.ids),
    movies: idMapFromSortedIds(movies.ids),
    source: new Uint16Array(n),
    sourceNames: ['split'],
  };
  return { ratings, parts };
}
