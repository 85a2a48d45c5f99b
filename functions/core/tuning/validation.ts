/**
 * The validation split of a search, carved from the training positions only: each eligible user's
 * latest training ratings (the same temporal rule as the test split, `heldOutCount`), so the trials
 * are ranked on "what did the user rate next" without ever seeing the held-out test set. The chosen
 * configuration is then retrained on all training data and evaluated on the test set as without tuning.
 */
import { Rng } from '../random';
import { heldOutCount } from '../split';
import type { Ratings } from '../types';

/** Training positions split into what the trials fit on and what scores them. */
export interface ValidationSplit {
  readonly fit: Uint32Array;
  readonly validation: Uint32Array;
}

export interface ValidationOptions {
  /** Share of each eligible user's latest training ratings held out. */
  readonly validationShare: number;
  /** Users with fewer training ratings than this keep them all for fitting. */
  readonly minUserRatings: number;
}

/** Thrown when no user has enough training ratings to hold any out. */
export class ValidationSplitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationSplitError';
  }
}

/**
 * Splits `train` (positions into `ratings`, ascending) per user by time; ties are broken by a seeded
 * permutation of the movies, as the test split does. Both outputs are ascending.
 */
export function carveValidation(
  ratings: Ratings,
  train: Uint32Array,
  options: ValidationOptions,
  seed: number,
): ValidationSplit {
  const { user, movie, timestamp } = ratings;
  const nUsers = ratings.users.size;
  const start = new Uint32Array(nUsers + 1);
  for (let i = 0; i < train.length; i++) start[user[train[i]] + 1]++;
  for (let u = 0; u < nUsers; u++) start[u + 1] += start[u];
  const cursor = start.slice(0, nUsers);
  const byUser = new Uint32Array(train.length);
  for (let i = 0; i < train.length; i++) byUser[cursor[user[train[i]]]++] = train[i];

  const tie = new Uint32Array(ratings.movies.size);
  for (let m = 0; m < tie.length; m++) tie[m] = m;
  new Rng(seed ^ 0x7661_6c69).shuffle(tie);
  const order = (a: number, b: number): number =>
    timestamp[a] - timestamp[b] || tie[movie[a]] - tie[movie[b]];

  const held = new Uint8Array(ratings.length);
  let nHeld = 0;
  const rule = { testShare: options.validationShare, minUserRatings: options.minUserRatings };
  for (let u = 0; u < nUsers; u++) {
    const n = start[u + 1] - start[u];
    const count = heldOutCount(n, rule);
    if (count === 0) continue;
    const positions = byUser.subarray(start[u], start[u + 1]).sort(order);
    for (let k = n - count; k < n; k++) held[positions[k]] = 1;
    nHeld += count;
  }
  if (nHeld === 0) {
    throw new ValidationSplitError(
      `no user has ${options.minUserRatings} or more training ratings: nothing to validate the trials on`,
    );
  }
  const fit = new Uint32Array(train.length - nHeld);
  const validation = new Uint32Array(nHeld);
  for (let i = 0, a = 0, b = 0; i < train.length; i++) {
    const position = train[i];
    if (held[position]) validation[b++] = position;
    else fit[a++] = position;
  }
  return { fit, validation };
}
