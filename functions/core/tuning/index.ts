/**
 * Tuning for the ranking metric: the search space and budget (config.ts), the trials (trials.ts), the
 * validation split carved from training data (validation.ts) and the choice of the winner (select.ts).
 */
export * from './config';
export * from './trials';
export * from './validation';
export * from './select';
export * from './score';
export * from './run';
export * from './names';
