/**
 * The config errors every settings module shares (the ML config, the iALS hyperparameters): one error
 * class and the one-line-per-issue format that names each bad key.
 */
import type { z } from 'zod';

/** Thrown when a configuration value is invalid; the message names every bad key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** One line per issue: `ml.split.testShare: Too big: expected number to be <1 (got 1.5)`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: string): string {
  return issues
    .map((issue) => {
      const key = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      // One unknown key: name it in the path, as every other issue does.
      if (issue.code === 'unrecognized_keys' && issue.keys.length === 1) {
        return `invalid config ${key}.${issue.keys[0]}: ${issue.message}`;
      }
      return `invalid config ${key}: ${issue.message}`;
    })
    .join('\n');
}
