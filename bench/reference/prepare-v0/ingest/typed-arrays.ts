// Reference copy (bench/reference/prepare-v0/README.md): functions/core/ingest/typed-arrays.ts at 48aa102, imports rewired.
/** Growable typed-array columns for the ingestion's tables. */

/** The column types the ingestion grows. */
export type Column = Float32Array | Float64Array | Uint16Array | Int32Array;

/** A copy of `array` with room for `capacity` elements (typed arrays cannot be resized in place). */
export function grow<T extends Column>(array: T, capacity: number): T {
  const next = new (array.constructor as new (n: number) => T)(capacity);
  next.set(array);
  return next;
}
