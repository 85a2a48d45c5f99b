/** Ratings ingestion: sources, formats, validation, union and de-duplication into `Ratings`. */
export * from './formats';
export * from './sources';
export * from './ingest';
export * from './id-map';
