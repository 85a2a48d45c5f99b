/**
 * The "evaluate" step of a run (functions/workflow/evaluate.ts and the local runtime): the answers the
 * candidate's and production's serving pipelines gave for every test user (batch transform output),
 * scored on the held-out split against the most-popular and random baselines, gated, and rendered for
 * the person who approves.
 *
 * A user a model does not know answers with `fallback: "popular"`; that user is left out of the model's
 * lists, so evaluation reports it as cold start instead of scoring popular movies as the model's work.
 *
 * Only movies of the training split can be recommended (the others have no trained vector): they are the
 * random baseline's pool and the denominator of coverage; movies rated only in the test split are
 * counted apart.
 */
import type { ServedRecommendation } from '../../contracts';
import type { MlConfig } from '../config';
import { Rng } from '../random';
import { rowsByUser, type SplitRows } from '../split';
import { evaluateRun, type Evaluation, type EvaluationMeta } from './evaluation';
import {
  countMovies,
  popularityRecommendations,
  randomRecommendations,
  type RecommendationLists,
} from './recommend';
import { renderReportHtml, summarizeForApproval } from './report-html';
import type { TrainingReport } from './training-metrics';
import type { TuningReport } from './tuning-report';

export interface RunEvaluationInput {
  readonly train: SplitRows;
  readonly test: SplitRows;
  /** Every movie id of the run's catalog (the movies id map). */
  readonly catalog: Int32Array;
  readonly candidate: readonly ServedRecommendation[];
  readonly production: readonly ServedRecommendation[] | null;
  readonly config: MlConfig;
  readonly meta: EvaluationMeta;
  /** Where the HTML report will be readable (shown in the approval text). */
  readonly reportUrl?: string;
  /** The FM training job's test metrics (DescribeTrainingJob). @default - not reported */
  readonly training?: TrainingReport;
  /** The run's tuning search (tuning.json). @default - no search */
  readonly tuning?: TuningReport;
}

export interface RunEvaluationOutput {
  readonly evaluation: Evaluation;
  readonly html: string;
  /** <= 500 characters: CodePipeline's approval CustomData. */
  readonly approvalText: string;
  /** <= 2,000 characters: notifications and logs. */
  readonly summary: string;
}

export class RunEvaluationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunEvaluationError';
  }
}

export function runEvaluation(input: RunEvaluationInput): RunEvaluationOutput {
  const { config } = input;
  const test = rowsByUser(input.test);
  const seenByUser = rowsByUser(input.train);
  const empty = new Int32Array(0);
  const seen = (userId: number): ArrayLike<number> => seenByUser.get(userId)?.movieIds ?? empty;
  const users = Array.from(test.keys());
  const n = Math.max(...config.evaluation.ks);

  const candidate = listsOf(input.candidate, 'candidate', test);
  const production = input.production ? listsOf(input.production, 'production', test) : null;
  const trainCounts = countMovies(input.train.movieId);
  const recommendable = Int32Array.from(trainCounts.keys()).sort();
  if (recommendable.length === 0) throw new RunEvaluationError('the training split holds no movie');
  const rng = new Rng(config.seed).fork();
  const evaluation = evaluateRun({
    test,
    catalogSize: recommendable.length,
    catalogMovies: input.catalog.length,
    testOnlyMovies: countTestOnly(input.test.movieId, trainCounts),
    candidate,
    production,
    popularity: popularityRecommendations(trainCounts, users, seen, n),
    random: randomRecommendations(recommendable, users, seen, n, rng),
    cfg: config.evaluation,
    gateCfg: config.gate,
    seed: config.seed,
    itemPopularity: trainCounts,
    meta: input.meta,
    ...(input.training ? { training: input.training } : {}),
    ...(input.tuning ? { tuning: input.tuning } : {}),
  });
  return {
    evaluation,
    html: renderReportHtml(evaluation),
    approvalText: summarizeForApproval(evaluation, input.reportUrl, { short: true }),
    summary: summarizeForApproval(evaluation, input.reportUrl),
  };
}

/** Distinct movies of the test split that the training split does not have. */
function countTestOnly(testMovies: Int32Array, trainCounts: ReadonlyMap<number, number>): number {
  const testOnly = new Set<number>();
  for (let i = 0; i < testMovies.length; i++) {
    if (!trainCounts.has(testMovies[i])) testOnly.add(testMovies[i]);
  }
  return testOnly.size;
}

/**
 * Answers → lists for the test users; fallback answers are omitted (cold start). Every test user must
 * have an answer: a missing one means the transform lost records, which must fail the run.
 */
function listsOf(
  answers: readonly ServedRecommendation[],
  model: string,
  test: ReadonlyMap<number, unknown>,
): RecommendationLists {
  const lists: RecommendationLists = new Map();
  const answered = new Set<number>();
  for (const answer of answers) {
    answered.add(answer.user_id);
    if (answer.fallback === undefined) lists.set(answer.user_id, answer.movies);
  }
  const missing = Array.from(test.keys()).filter((u) => !answered.has(u));
  if (missing.length > 0) {
    throw new RunEvaluationError(
      `the ${model} model answered no recommendation for ${missing.length} test user(s), e.g. ${missing.slice(0, 5).join(', ')}`,
    );
  }
  return lists;
}

/** Parses the JSON lines of a batch transform output (one ServedRecommendation per line). */
export function parseServedLines(text: string, source: string): ServedRecommendation[] {
  const out: ServedRecommendation[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new RunEvaluationError(`${source} line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
    }
    const v = value as Partial<ServedRecommendation>;
    if (typeof v.user_id !== 'number' || !Array.isArray(v.movies) || typeof v.modelVersion !== 'string') {
      throw new RunEvaluationError(`${source} line ${i + 1} is not a recommendation: ${line.slice(0, 80)}`);
    }
    out.push(v as ServedRecommendation);
  });
  return out;
}
