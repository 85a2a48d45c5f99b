/**
 * The `reelflow` command (local/bin/reelflow.js runs it through tsx):
 *
 *   start     the local pipeline and API (`npm start`)
 *   prepare   the core's prepare step on local files, into a folder
 *   upload    a ratings batch into the running instance's bucket (`npm run upload -- <file>`)
 *   runs      the run history (`npm run runs`)
 *   alarm     list the rollback alarms, or set one's state (`aws cloudwatch set-alarm-state`, locally)
 *   batches   list the rating batches, withdraw one from the training set, restore one (local or --aws)
 *   verify-aws  in your AWS account: the built-ins, the serving pipeline and the recommend path, then cleanup
 *
 * Arguments are parsed with node:util parseArgs (no dependency for a handful of flags). Exit codes are
 * listed in USAGE.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../functions/core/config';
import { EXIT, START_DATA_OPTIONS, UsageError, type ParsedArgs } from './cli-args';
import { batchesCommand } from './batches-command';
import { alarmCommand, runsCommand, uploadCommand } from './client-commands';
import { prepareCommand } from './prepare-command';
import { startCommand } from './start-command';
import { verifyAwsCommand } from './verify-aws/command';

export const USAGE = `Usage: reelflow <command> [options]

  start     run the pipeline locally and serve the recommend API
              --data <file|folder>   ratings to upload (default: the bundled sample on a fresh state);
                                     on a state that holds batches they are replaced, unless --add
              --add                  keep the batches already in the state folder and add --data's
              --once                 one run, no serving; the last line printed is the evaluation.json path
              --approve | --reject   answer the approval (default: ask; CI=true approves)
              --port <n>             API port on 127.0.0.1 (default 3000)
              --time-scale <ms>      local milliseconds per configured second (default 10)
              --config <file.json>   overrides of cdk.json's context.reelflow
              --home <folder>        state folder (default .reelflow)
              --fresh                delete the state folder first
              --verbose              print the handlers' logs
  prepare   --data <file|folder> --out <folder> [--config <file.json>] [--format auto|u.data|ratings.dat|ratings.csv]
  upload    <file|folder> [--home <folder>]      add ratings to the running instance (starts a run)
  runs      [--home <folder>] [--json]            the run history
  alarm     [<name>|5xx|latency|api] [--state ALARM|OK] [--reason <text>] [--home <folder>]
  batches   list | withdraw <key> [--reason <text>] | restore <key>   [--home <folder>]
              the batches in ratings/, quarantine/ and withdrawn/; withdraw and restore move one and a run
              starts; --aws [--region <r>] [--profile <p>] [--stack <name>]: the deployed stack's bucket
  verify-aws  [--region <r>] [--profile <p>] [--stack <name>] [--config <file.json>]
              in your AWS account (the deployed stack): one tiny FM and k-NN training job, the pre/knn/post
              endpoint and the recommend handler on it, then deletes all it created (~15 min, < 1 USD)

Exit codes: 0 done, 1 failed, 2 data rejected by validation, 3 candidate rejected (gate or approval),
4 deployment rolled back, 64 usage error.`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        process.exitCode = await startCommand(parse(rest, START_OPTIONS));
        return;
      case 'prepare':
        process.exitCode = await prepareCommand(parse(rest, PREPARE_OPTIONS));
        return;
      case 'upload':
        process.exitCode = await uploadCommand(parse(rest, HOME_OPTIONS, true));
        return;
      case 'runs':
        process.exitCode = await runsCommand(parse(rest, { ...HOME_OPTIONS, json: { type: 'boolean' } }));
        return;
      case 'alarm':
        process.exitCode = await alarmCommand(
          parse(rest, { ...HOME_OPTIONS, state: { type: 'string' }, reason: { type: 'string' } }, true),
        );
        return;
      case 'batches':
        process.exitCode = await batchesCommand(parse(rest, BATCHES_OPTIONS, true));
        return;
      case 'verify-aws':
        process.exitCode = await verifyAwsCommand(parse(rest, VERIFY_AWS_OPTIONS));
        return;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        process.exitCode = command ? EXIT.ok : EXIT.usage;
        return;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    const err = error as Error;
    if (err instanceof UsageError) {
      process.stderr.write(`reelflow: ${err.message}\n\n${USAGE}\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    const prefix = err instanceof ConfigError ? 'invalid configuration:\n' : '';
    process.stderr.write(`reelflow ${command}: ${prefix}${err.message}\n`);
    process.exitCode = EXIT.failed;
  }
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

const HOME_OPTIONS = { home: { type: 'string' } } as const;

const START_OPTIONS = {
  ...HOME_OPTIONS,
  data: { type: 'string' },
  ...START_DATA_OPTIONS,
  once: { type: 'boolean' },
  approve: { type: 'boolean' },
  reject: { type: 'boolean' },
  port: { type: 'string' },
  'time-scale': { type: 'string' },
  config: { type: 'string' },
  fresh: { type: 'boolean' },
  verbose: { type: 'boolean' },
} as const;

const PREPARE_OPTIONS = {
  data: { type: 'string' },
  out: { type: 'string' },
  config: { type: 'string' },
  format: { type: 'string' },
} as const;

const BATCHES_OPTIONS = {
  ...HOME_OPTIONS,
  reason: { type: 'string' },
  aws: { type: 'boolean' },
  region: { type: 'string' },
  profile: { type: 'string' },
  stack: { type: 'string' },
} as const;

const VERIFY_AWS_OPTIONS = {
  region: { type: 'string' },
  profile: { type: 'string' },
  stack: { type: 'string' },
  config: { type: 'string' },
} as const;

function parse(args: string[], options: Options, positionals = false): ParsedArgs {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: positionals, strict: true });
    return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
