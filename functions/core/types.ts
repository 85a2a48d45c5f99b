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

/**
 * Sparse examples in CSR layout: the FM training/test channels, and what the local FM trainer reads.
 * Row r has the non-zeros `cols[rowPtr[r] .. rowPtr[r+1])` with values `vals[...]`, and `label[r]`.
 * The one-hot encoding has exactly two non-zeros per row: the user column, then the movie column.
 */
export interface SparseExamples {
  readonly featureDim: number;
  readonly length: number;
  /** length + 1 offsets into cols/vals. */
  readonly rowPtr: Uint32Array;
  readonly cols: Uint32Array;
  readonly vals: Float32Array;
  readonly label: Float32Array;
}

/**
 * A Factorization Machines model as the built-in algorithm stores it (MXNet params `w0_weight`,
 * `w1_weight`, `v`): ŷ = w0 + Σ w1ᵢxᵢ + Σᵢ<ⱼ ⟨vᵢ, vⱼ⟩ xᵢxⱼ.
 */
export interface FmModel {
  readonly featureDim: number;
  readonly numFactors: number;
  /** Global bias. */
  readonly w0: number;
  /** Linear weight per feature (length featureDim). */
  readonly w1: Float32Array;
  /** Factor matrix, feature-major: row i (featureDim rows) holds feature i's numFactors factors. */
  readonly v: Float32Array;
}
