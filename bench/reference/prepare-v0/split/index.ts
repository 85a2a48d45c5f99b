// Reference copy (bench/reference/prepare-v0/README.md): functions/core/split/index.ts at 48aa102, imports rewired.
/**
 * The held-out split of a run: strategies.ts decides which ratings are test (positions into `Ratings`)
 * and sizes the split; artifacts.ts writes the split and the id maps as CSV run artifacts and reads
 * them back as `SplitRows`.
 */
export * from './strategies';
export * from './artifacts';
