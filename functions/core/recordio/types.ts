/**
 * The data model of SageMaker's `aialgs.data.Record` (recordIO-protobuf), as plain objects and typed
 * arrays. One Record is one row: `features` (and optionally `label`) map names to tensors; the
 * built-in algorithms read the tensor stored under the key `values`.
 */

/** The numeric tensor messages of `record.proto`: Float32Tensor, Float64Tensor, Int32Tensor. */
export type TensorDType = 'float32' | 'float64' | 'int32';

/**
 * A dense or sparse tensor. Dense: `values` only. Sparse: `keys` are the indices of `values` (column
 * indices for a row) and `shape` must be given (`[featureDim]` for a sparse row, as the SDK writes it).
 *
 * `keys` and `shape` are protobuf uint64; they are handled as JavaScript numbers, so every entry must be
 * a non-negative integer no larger than `Number.MAX_SAFE_INTEGER` (2^53 - 1).
 */
export interface Tensor {
  readonly dtype: TensorDType;
  /** float32 values are rounded with `Math.fround` on write; int32 values must be 32-bit integers. */
  readonly values: ArrayLike<number>;
  readonly keys?: ArrayLike<number>;
  readonly shape?: ArrayLike<number>;
}

/** One `aialgs.data.Record`. An absent `label` (or an empty one) writes no label field at all. */
export interface RecordIORecord {
  readonly features: Readonly<Record<string, Tensor>>;
  readonly label?: Readonly<Record<string, Tensor>>;
  readonly uid?: string;
  readonly metadata?: string;
  /** JSON text: per-record inference configuration (batch transform). */
  readonly configuration?: string;
}

/** A tensor as `decodeRecord` returns it: concrete typed arrays, `keys`/`shape` only when present. */
export type DecodedTensor =
  | { readonly dtype: 'float32'; readonly values: Float32Array; keys?: Float64Array; shape?: Float64Array }
  | { readonly dtype: 'float64'; readonly values: Float64Array; keys?: Float64Array; shape?: Float64Array }
  | { readonly dtype: 'int32'; readonly values: Int32Array; keys?: Float64Array; shape?: Float64Array };

/** A record as `decodeRecord` returns it. `label` is present only when the payload has a label field. */
export interface DecodedRecord extends RecordIORecord {
  readonly features: Record<string, DecodedTensor>;
  readonly label?: Record<string, DecodedTensor>;
}
