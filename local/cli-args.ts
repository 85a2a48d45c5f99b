/** What the command implementations share with the dispatcher (cli.ts): exit codes, usage errors, parsed flags. */

export const EXIT = {
  ok: 0,
  failed: 1,
  dataRejected: 2,
  rejected: 3,
  rolledBack: 4,
  usage: 64,
} as const;

/** Thrown for a command line that cannot be run. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parsed flags and positionals. */
export interface ParsedArgs {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
}

/**
 * Flags of `start` beyond cli.ts's START_OPTIONS (spread them in there): `--add` keeps the batches an
 * earlier `start` left in the bucket when `--data` uploads more; without it `--data` replaces them.
 * `--await-approval`: no prompt and no automatic approval; a run waits at Approve for
 * `reelflow approve|reject` (CodePipeline PutApprovalResult), as the console waits.
 */
export const START_DATA_OPTIONS = {
  add: { type: 'boolean' },
  'await-approval': { type: 'boolean' },
} as const;
