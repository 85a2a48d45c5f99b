/**
 * The iALS model of a run in original MovieLens ids, and its way into the rest of the pipeline:
 * training rows (split/train.csv) → dense interactions → factors labelled with their user and movie ids
 * → the same user/movie vectors BuildVectors makes from an FM model, so the k-NN index, the serving
 * bundle and the pre/post containers work unchanged.
 *
 * Vector convention (functions/core/vectors.ts): user = `[U_u, 1]`, movie = `[V_i, w_i]` with w_i the
 * item bias (0 unless trained with `item_bias`), so ⟨user, movie⟩ = ⟨U_u, V_i⟩ + b_i, the iALS score.
 */
import type { SplitRows } from '../split';
import type { FmModel } from '../types';
import { buildKnnVectors, type ScoringVectors } from '../vectors';
import type { IalsHyperparameters } from './config';
import { trainIals, type IalsFactors, type IalsInteractions, type TrainIalsOptions } from './train';

/** Trained iALS factors with the original id of each row. */
export interface IalsModel {
  readonly factors: number;
  /** Ascending user ids: row u of `userFactors`. */
  readonly userIds: Int32Array;
  /** Ascending movie ids: row i of `itemFactors`. */
  readonly movieIds: Int32Array;
  readonly userFactors: Float32Array;
  readonly itemFactors: Float32Array;
  /** Per movie row: the item bias b_i (zeros for a model trained without one). */
  readonly itemBias: Float32Array;
}

/** Thrown when a model and the run's id maps cannot be matched. */
export class IalsModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IalsModelError';
  }
}

/** Training rows (original ids) → dense interactions over their distinct ids, ascending. */
export function interactionsFromRows(rows: SplitRows): {
  readonly interactions: IalsInteractions;
  readonly userIds: Int32Array;
  readonly movieIds: Int32Array;
} {
  const userIds = distinctAscending(rows.userId.subarray(0, rows.length));
  const movieIds = distinctAscending(rows.movieId.subarray(0, rows.length));
  const userRow = indexOf(userIds);
  const movieRow = indexOf(movieIds);
  const user = new Uint32Array(rows.length);
  const item = new Uint32Array(rows.length);
  for (let p = 0; p < rows.length; p++) {
    user[p] = userRow.get(rows.userId[p])!;
    item[p] = movieRow.get(rows.movieId[p])!;
  }
  return {
    interactions: {
      users: userIds.length,
      items: movieIds.length,
      user,
      item,
      rating: rows.rating.subarray(0, rows.length),
      time: rows.timestamp.subarray(0, rows.length),
    },
    userIds,
    movieIds,
  };
}

/** Trains iALS on training rows (original ids): every rated pair is a positive. */
export function trainIalsModel(
  rows: SplitRows,
  params: IalsHyperparameters,
  options: TrainIalsOptions = {},
): { readonly model: IalsModel; readonly losses: readonly number[] } {
  const { interactions, userIds, movieIds } = interactionsFromRows(rows);
  const { factors, losses } = trainIals(interactions, params, options);
  return { model: labelFactors(factors, userIds, movieIds), losses };
}

/** Attaches ids to factors (rows in id order). */
export function labelFactors(factors: IalsFactors, userIds: Int32Array, movieIds: Int32Array): IalsModel {
  if (userIds.length !== factors.users || movieIds.length !== factors.items) {
    throw new IalsModelError(
      `${userIds.length} user ids and ${movieIds.length} movie ids for ${factors.users} x ${factors.items} factors`,
    );
  }
  return {
    factors: factors.factors,
    userIds,
    movieIds,
    userFactors: factors.userFactors,
    itemFactors: factors.itemFactors,
    itemBias: factors.itemBias,
  };
}

/**
 * The model as the FM model of the run's one-hot layout (users `users.ids`, then movies `movies.ids`):
 * v = the factors, w1 = 0 for users and the item bias for movies, w0 = 0. A user or movie of the run the model never saw in training (a
 * movie rated only in the test split) gets a zero row, so it scores 0 and is ranked after every movie
 * the model likes. `buildKnnVectors` of this model is exactly `ialsScoringVectors`.
 */
export function ialsAsFmModel(
  model: IalsModel,
  users: { readonly ids: Int32Array },
  movies: { readonly ids: Int32Array },
): FmModel {
  const k = model.factors;
  const nUsers = users.ids.length;
  const featureDim = nUsers + movies.ids.length;
  const v = new Float32Array(featureDim * k);
  copyRowsById(model.userIds, model.userFactors, users.ids, v, 0, k, 'user');
  copyRowsById(model.movieIds, model.itemFactors, movies.ids, v, nUsers, k, 'movie');
  const w1 = new Float32Array(featureDim);
  copyRowsById(model.movieIds, model.itemBias, movies.ids, w1, nUsers, 1, 'movie');
  return { featureDim, numFactors: k, w0: 0, w1, v };
}

/**
 * The user query vectors `[U_u, 1]` and movie vectors `[V_i, b_i]` (dimension K + 1) for the run's id
 * maps, in the same layout, order and types `buildKnnVectors` gives for an FM model: what BuildVectors
 * turns into the k-NN training rows and the serving bundle.
 */
export function ialsScoringVectors(
  model: IalsModel,
  users: { readonly ids: Int32Array },
  movies: { readonly ids: Int32Array },
): ScoringVectors {
  return buildKnnVectors(ialsAsFmModel(model, users, movies), users, movies);
}

function copyRowsById(
  modelIds: Int32Array,
  modelRows: Float32Array,
  runIds: Int32Array,
  out: Float32Array,
  rowOffset: number,
  k: number,
  what: string,
): void {
  const runRow = indexOf(runIds);
  for (let r = 0; r < modelIds.length; r++) {
    const row = runRow.get(modelIds[r]);
    if (row === undefined) {
      throw new IalsModelError(`the model's ${what} ${modelIds[r]} is not in the run's id map`);
    }
    out.set(modelRows.subarray(r * k, (r + 1) * k), (rowOffset + row) * k);
  }
}

function distinctAscending(ids: Int32Array): Int32Array {
  return Int32Array.from(new Set(ids)).sort();
}

function indexOf(ids: Int32Array): Map<number, number> {
  const map = new Map<number, number>();
  ids.forEach((id, row) => map.set(id, row));
  return map;
}
