// Reference copy (bench/reference/prepare-v0/README.md): functions/core/ingest/index.ts at 48aa102, imports rewired.
/**
 * Ratings ingestion: sources, formats, validation, union and de-duplication into `Ratings`. This index
 * is the folder's public surface; file-ingest.ts, rating-store.ts, id-interner.ts and typed-arrays.ts
 * are internal to ingestion.
 */
export * from './formats';
export * from './sources';
export * from './ingest';
export * from './id-map';
export { DataRejectedError, type ValidationReport } from './validation-report';
