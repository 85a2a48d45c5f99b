/**
 * Shapes shared by the core modules. Ratings are columnar typed arrays (no object per row), so a
 * MovieLens-32M data set costs ~20 bytes per distinct (user, movie) pair, whatever the row count.
 */

/** Original MovieLens ids <-> dense 0-based indices, sorted by original id (deterministic). */
export interface IdMap {
  /** index -> original id, ascending. */
  readonly ids: Int32Array;
  /** original id -> index, or undefined. */
  indexOf(id: number): number | undefined;
  readonly size: number;
}

/** All ratings of a data set after union and de-duplication, one entry per (user, movie). */
export interface Ratings {
  readonly length: number;
  /** Dense user index per entry (into `users`). */
  readonly user: Uint32Array;
  /** Dense movie index per entry (into `movies`). */
  readonly movie: Uint32Array;
  readonly rating: Float32Array;
  /** Unix seconds. */
  readonly timestamp: Float64Array;
  readonly users: IdMap;
  readonly movies: IdMap;
  /** Index into `sourceNames` of the upload each kept entry came from (audit, `predefined` split). */
  readonly source: Uint16Array;
  /** Names of the ingested files (batches), in ingestion order. */
  readonly sourceNames: readonly string[];
}

/** Positions into a `Ratings` for the training and held-out test sets. */
export interface Split {
  readonly mode: 'temporal-per-user' | 'global-time' | 'predefined';
  readonly train: Uint32Array;
  readonly test: Uint32Array;
}
