/**
 * The `reelflow` command (local/bin/reelflow.js runs it through tsx):
 *
 *   start     the local pipeline and API (`npm start`)
 *   prepare   the core's prepare step on local files, into a folder
 *   upload    a ratings batch into the data bucket, then follows the run it starts (`npm run upload -- <file>`)
 *   status    the pipeline's runs stage by stage, the state machines' states, what serves (--watch follows)
 *   runs, show  the run history (`npm run runs`), everything about one run
 *   approve, reject  the decision a run waits for at Approve
 *   rollback  puts an earlier run's model back behind the endpoint (the deploy workflow's guardrails)
 *   doctor    whether an account and region are ready for `cdk deploy`
 *   alarm     list the rollback alarms, or set one's state (`aws cloudwatch set-alarm-state`, locally)
 *   batches   list the rating batches, withdraw one from the training set, restore one (local or --aws)
 *   verify-aws  in your AWS account: the built-ins, the serving pipeline and the recommend path, then cleanup
 *
 * The operator commands (upload, status, runs, show, approve, reject, rollback, doctor) act on the
 * running local twin (default, `--home`) or, with `--aws [--region] [--profile] [--stack]`, on the
 * deployed stack, through the same AWS APIs (local/operate/).
 *
 * Arguments are parsed with node:util parseArgs (no dependency for a handful of flags). Exit codes are
 * listed in USAGE.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../functions/core/config';
import { EXIT, START_DATA_OPTIONS, UsageError, type ParsedArgs } from './cli-args';
import { alarmCommand } from './client-commands';
import { APPROVAL_OPTIONS, approveCommand, rejectCommand } from './operate/approval-commands';
import { DOCTOR_OPTIONS, doctorCommand } from './operate/doctor';
import { explainAwsError } from './operate/errors';
import { ROLLBACK_OPTIONS, rollbackCommand } from './operate/rollback';
import { runsCommand, showCommand } from './operate/runs';
import { statusCommand } from './operate/status';
import { uploadCommand } from './operate/upload';
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
              --await-approval       no prompt: a run waits at Approve for reelflow approve|reject <runId>
              --port <n>             API port on 127.0.0.1 (default 3000)
              --time-scale <ms>      local milliseconds per configured second (default 10)
              --config <file.json>   overrides of cdk.json's context.reelflow
              --home <folder>        state folder (default .reelflow)
              --fresh                delete the state folder first
              --verbose              print the handlers' logs
  prepare   --data <file|folder> --out <folder> [--config <file.json>] [--format auto|u.data|ratings.dat|ratings.csv]
  upload    <file|folder> [--no-follow] [--interval <s>]
              add ratings to the data bucket's ratings/ (a key no other upload holds), then follow the run
              it starts until it ends; the exit code is the run's outcome
  status    [--watch] [--interval <s>]            the runs in progress and the last one, stage by stage, the
              state machine's state and time in it, what serves; --watch follows the run until it ends
  runs      [--json] [--limit <n>]                the run history: metrics, gate, batches, deployment, serving
              (no running instance and no --aws: the local history file .reelflow/runs.jsonl)
  show      <run>                                 one run: stages, metrics vs production and baselines, gate
              reasons, batches, deployment and rollbacks, links
  approve   <run> [--comment <text>]              approve the run waiting at Approve
  reject    <run> --reason <text>                 reject it
  rollback  [--to <run>] [--reason <text>] [--yes] [--no-follow]
              put an earlier run's model back (default: the one serving before) through the deploy
              workflow's blue/green rollout and guardrails
  doctor    [--config <file.json>]                is the account and region ready for cdk deploy (bootstrap,
              quotas, Lambda concurrency, Docker)
            upload, status, runs, show, approve, reject, rollback, doctor take
              --home <folder>        the running local instance's state folder (default .reelflow)
              --aws [--region <r>] [--profile <p>] [--stack <name>]   the deployed stack instead (default
                                     stack ReelflowStack; region and credentials the AWS SDK way)
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
        process.exitCode = await uploadCommand(parse(rest, UPLOAD_OPTIONS, true));
        return;
      case 'status':
        process.exitCode = await statusCommand(parse(rest, STATUS_OPTIONS));
        return;
      case 'runs':
        process.exitCode = await runsCommand(parse(rest, RUNS_OPTIONS));
        return;
      case 'show':
        process.exitCode = await showCommand(parse(rest, TARGET_OPTIONS, true));
        return;
      case 'approve':
        process.exitCode = await approveCommand(
          parse(rest, { ...TARGET_OPTIONS, ...APPROVAL_OPTIONS }, true),
        );
        return;
      case 'reject':
        process.exitCode = await rejectCommand(parse(rest, { ...TARGET_OPTIONS, ...APPROVAL_OPTIONS }, true));
        return;
      case 'rollback':
        process.exitCode = await rollbackCommand(parse(rest, { ...TARGET_OPTIONS, ...ROLLBACK_OPTIONS }));
        return;
      case 'doctor':
        process.exitCode = await doctorCommand(parse(rest, { ...TARGET_OPTIONS, ...DOCTOR_OPTIONS }));
        return;
      case 'alarm':
        process.exitCode = await alarmCommand(
          parse(rest, { ...HOME_OPTIONS, state: { type: 'string' }, reason: { type: 'string' } }, true),
        );
        return;
      case 'batches':
        // Loaded on demand: it imports handler modules (start-run, prepare), whose Powertools logger and
        // metrics read their settings when first imported; `start` must set the local handler environment
        // (local/environment.ts: silent logs, no EMF) before that happens (local/handlers.ts).
        // `require`: the CommonJS loader tsx provides (as local/handlers.ts loads the handlers).
        process.exitCode = await (
          require('./batches-command') as typeof import('./batches-command')
        ).batchesCommand(parse(rest, BATCHES_OPTIONS, true));
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
    // The operator commands' AWS errors (and OperatorError) become one line saying what to do.
    const message = OPERATOR_COMMANDS.has(command) && !prefix ? explainAwsError(err) : err.message;
    process.stderr.write(`reelflow ${command}: ${prefix}${message}\n`);
    process.exitCode = EXIT.failed;
  }
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

const HOME_OPTIONS = { home: { type: 'string' } } as const;

/** The commands that act on the local twin or, with --aws, the deployed stack (local/operate/). */
const OPERATOR_COMMANDS = new Set([
  'upload',
  'status',
  'runs',
  'show',
  'approve',
  'reject',
  'rollback',
  'doctor',
]);

/** Where an operator command acts: the twin on --home, or the deployed stack (--aws). */
const TARGET_OPTIONS = {
  ...HOME_OPTIONS,
  aws: { type: 'boolean' },
  region: { type: 'string' },
  profile: { type: 'string' },
  stack: { type: 'string' },
} as const;

const UPLOAD_OPTIONS = {
  ...TARGET_OPTIONS,
  'no-follow': { type: 'boolean' },
  interval: { type: 'string' },
} as const;

const STATUS_OPTIONS = {
  ...TARGET_OPTIONS,
  watch: { type: 'boolean' },
  interval: { type: 'string' },
} as const;

const RUNS_OPTIONS = { ...TARGET_OPTIONS, json: { type: 'boolean' }, limit: { type: 'string' } } as const;

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
