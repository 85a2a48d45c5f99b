/**
 * The validation split of a search, carved from the training positions only: each eligible user's
 * latest training ratings (the test split's own rule, `markLatestPerUser`), so the trials
 * are ranked on "what did the user rate next" without ever seeing the held-out test set. The chosen
 * configuration is then retrained on all training data and evaluated on the test set as without tuning.
 */
import { markLatestPerUser } from '../split';
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
 * Splits `train` (positions into `ratings`, ascending) per user by time, as the test split does (its
 * own seed for the tie order). Both outputs are ascending.
 */
export function carveValidation(
  ratings: Ratings,
  train: Uint32Array,
  options: ValidationOptions,
  seed: number,
): ValidationSplit {
  const held = new Uint8Array(ratings.length);
  const rule = { testShare: options.validationShare, minUserRatings: options.minUserRatings };
  const nHeld = markLatestPerUser(ratings, rule, seed ^ 0x7661_6c69, held, train);
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
