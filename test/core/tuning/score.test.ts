import { idMapFromIds } from '../../../functions/core/ingest';
import { scoreTrialModel } from '../../../functions/core/tuning';
import type { FmModel, Ratings } from '../../../functions/core/types';

// Users 1, 2; movies 10 (A), 20 (B), 30 (C), 40 (D). Positions 0..3.
const rows = [
  [1, 20, 5, 1], // user 1 rated B: fit
  [1, 10, 4, 2], // user 1 rated A next: validation
  [2, 30, 3, 1], // user 2 rated C: fit
  [2, 40, 2, 2], // user 2 rated D next: validation
] as const;
const users = idMapFromIds(new Set([1, 2]));
const movies = idMapFromIds(new Set([10, 20, 30, 40]));
const ratings: Ratings = {
  length: rows.length,
  user: Uint32Array.from(rows, (r) => users.indexOf(r[0])!),
  movie: Uint32Array.from(rows, (r) => movies.indexOf(r[1])!),
  rating: Float32Array.from(rows, (r) => r[2]),
  timestamp: Float64Array.from(rows, (r) => r[3]),
  source: new Uint16Array(rows.length),
  users,
  movies,
  sourceNames: ['ratings.csv'],
};
const fit = Uint32Array.of(0, 2);
const validation = Uint32Array.of(1, 3);

/** An FM model with 2 factors: feature rows user 1, user 2, then movies 10, 20, 30, 40. */
function model(v: number[][], w1: number[] = [0, 0, 0, 0, 0, 0]): FmModel {
  return { featureDim: 6, numFactors: 2, w0: 0, w1: Float32Array.from(w1), v: Float32Array.from(v.flat()) };
}

describe('scoreTrialModel', () => {
  it('scores a model that ranks each user next movie first, skipping what the user rated in fit', () => {
    // User 1 points along x: B (seen, excluded) > A > C > D. User 2 along y: C (seen) > D > A, B.
    const good = model([
      [1, 0],
      [0, 1],
      [0.5, 0.1],
      [1, 0],
      [0, 1],
      [0.1, 0.5],
    ]);
    expect(scoreTrialModel(good, ratings, fit, validation, { k: 1 })).toEqual({
      ndcg: 1,
      users: 2,
      coverage: 0.5,
    });
  });

  it('scores a model that ranks them last lower, with the same metric code as the evaluation', () => {
    const bad = model([
      [1, 0],
      [0, 1],
      [-1, -1],
      [1, 0],
      [0, 1],
      [-1, -1],
    ]);
    const score = scoreTrialModel(bad, ratings, fit, validation, { k: 1 });
    // Each user's next movie scores -1 against an unseen movie at 0: never first.
    expect(score.ndcg).toBe(0);
    // The bias column counts: a large w1 on A lifts it to first for both users (a hit for user 1 only).
    const lifted = model(
      [
        [1, 0],
        [0, 1],
        [-1, -1],
        [1, 0],
        [0, 1],
        [-1, -1],
      ],
      [0, 0, 10, 0, 0, 0],
    );
    const user1Only = scoreTrialModel(lifted, ratings, fit, validation, { k: 1 });
    expect(user1Only.ndcg).toBe(0.5);
  });

  it('honours the relevance threshold', () => {
    const good = model([
      [1, 0],
      [0, 1],
      [0.5, 0.1],
      [1, 0],
      [0, 1],
      [0.1, 0.5],
    ]);
    // Only user 1 validation rating (4) reaches 4.
    expect(scoreTrialModel(good, ratings, fit, validation, { k: 1, relevanceMinRating: 4 }).users).toBe(1);
  });
});
