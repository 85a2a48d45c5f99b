import { evaluationSchema, gateSchema } from '../../../functions/core/config';
import { evaluateRun, type EvaluationInput } from '../../../functions/core/evaluate/evaluation';
import {
  countMovies,
  popularityRecommendations,
  randomRecommendations,
} from '../../../functions/core/evaluate/recommend';
import { Rng } from '../../../functions/core/random';

/**
 * 200 users over a 100-movie catalog. Users like movies near 10 x (userId mod 10); the candidate ranks
 * by that taste, production is a noisier copy that does not know users 181..200.
 */
export function syntheticInput(overrides: Partial<EvaluationInput> = {}): EvaluationInput {
  const rng = new Rng(123);
  const test = new Map<number, { movieIds: number[]; ratings?: number[] }>();
  const trainMovies: number[] = [];
  const candidate = new Map<number, number[]>();
  const production = new Map<number, number[]>();
  const users: number[] = [];
  for (let u = 1; u <= 200; u++) {
    users.push(u);
    const centre = 10 * (u % 10);
    const liked = Array.from({ length: 6 }, (_, i) => 1 + ((centre + i + rng.int(3)) % 100));
    test.set(u, { movieIds: [...new Set(liked)], ratings: [...new Set(liked)].map(() => 3 + rng.int(3)) });
    for (let i = 0; i < 5; i++) trainMovies.push(1 + ((centre + rng.int(20)) % 100), 1 + rng.int(10));
    const ranked = Array.from({ length: 25 }, (_, i) => 1 + ((centre + i) % 100));
    candidate.set(u, ranked);
    if (u <= 180) production.set(u, rng.next() < 0.5 ? ranked : [...ranked].reverse());
  }
  const seen = (): number[] => [];
  const counts = countMovies(trainMovies);
  return {
    test,
    catalogSize: 100,
    candidate,
    production,
    popularity: popularityRecommendations(counts, users, seen, 25),
    random: randomRecommendations(
      Int32Array.from({ length: 100 }, (_, i) => i + 1),
      users,
      seen,
      25,
      new Rng(5),
    ),
    cfg: evaluationSchema.parse({ bootstrapSamples: 300 }),
    gateCfg: gateSchema.parse({}),
    seed: 42,
    itemPopularity: counts,
    meta: {
      runId: 'run-2026-01-01',
      candidateVersion: 'v2',
      productionVersion: 'v1',
      createdAt: '2026-01-01T00:00:00Z',
    },
    ...overrides,
  };
}

export const syntheticEvaluation = (overrides: Partial<EvaluationInput> = {}) =>
  evaluateRun(syntheticInput(overrides));
