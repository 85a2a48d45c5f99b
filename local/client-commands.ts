/**
 * The commands that talk to a running `reelflow start` through its state folder (state.json):
 *
 * (`upload` moved to local/operate/upload.ts: the same upload, on the twin or the deployed stack, and it
 * follows the run it starts.)
 *
 * - `runs`: the local run history file (it needs no running instance; `reelflow runs` prints it when no
 *   instance runs and --aws is not given, local/operate/runs.ts), with each run's trained/excluded batch
 *   counts from its lineage, then a line per interrupted run (killed before it recorded an end): where it
 *   stopped and its artifacts (the running instance's bucket, else the local `runs/<runId>/` folder);
 * - `alarm`: DescribeAlarms / SetAlarmState on the running instance's CloudWatch JSON API, like
 *   `aws cloudwatch describe-alarms` / `set-alarm-state`.
 */
import { rollbackAlarmNames } from '../pipeline/names';
import { EXIT, UsageError, type ParsedArgs } from './cli-args';
import { DEFAULT_HOME, homeLayout, runningInstance, type InstanceState } from './home';
import { bucketReader, describeInterrupted, formatRuns, readBatchCounts, readRuns } from './run-history';
import { localS3Client } from './services/s3-client';

/** Thrown when no instance runs on the state folder. */
export class NotRunningError extends Error {
  constructor(home: string) {
    super(`no reelflow is running on ${home}: start one with npm start (or pass --home <folder>)`);
    this.name = 'NotRunningError';
  }
}

function instance(args: ParsedArgs): InstanceState {
  const layout = homeLayout(typeof args.values.home === 'string' ? args.values.home : DEFAULT_HOME);
  const state = runningInstance(layout);
  if (!state) throw new NotRunningError(layout.root);
  return state;
}

export async function runsCommand(args: ParsedArgs): Promise<number> {
  const layout = homeLayout(typeof args.values.home === 'string' ? args.values.home : DEFAULT_HOME);
  const runs = await readRuns(layout.historyFile);
  if (args.values.json) {
    for (const run of runs) process.stdout.write(`${JSON.stringify(run)}\n`);
  } else {
    process.stdout.write(formatRuns(runs, await readBatchCounts(layout.runsDir, runs)));
    if (runs.some((r) => r.status === 'Interrupted')) {
      const state = runningInstance(layout);
      const s3 = state ? localS3Client(state.s3Endpoint) : undefined;
      try {
        const listKeys = s3 && state ? bucketReader(s3, state.bucket).listKeys : undefined;
        for (const line of await describeInterrupted(runs, layout.runsDir, listKeys))
          process.stdout.write(`${line}\n`);
      } finally {
        s3?.destroy();
      }
    }
  }
  return EXIT.ok;
}

export async function alarmCommand(args: ParsedArgs): Promise<number> {
  const [name, ...extra] = args.positionals;
  if (extra.length > 0) throw new UsageError('alarm takes at most one alarm name');
  const state = instance(args);
  const names = rollbackAlarmNames(state.endpointName);
  const short: Record<string, string> = { '5xx': names[0], latency: names[1], api: names[2] };
  if (!name) {
    const described = (await cloudWatch(state, 'DescribeAlarms', { AlarmNames: names })) as {
      MetricAlarms: { AlarmName: string; StateValue: string; StateReason: string }[];
    };
    for (const alarm of described.MetricAlarms) {
      process.stdout.write(
        `${alarm.AlarmName.padEnd(50)} ${alarm.StateValue.padEnd(6)} ${alarm.StateReason}\n`,
      );
    }
    return EXIT.ok;
  }
  const alarmName = short[name] ?? name;
  const value = typeof args.values.state === 'string' ? args.values.state.toUpperCase() : 'ALARM';
  if (!['ALARM', 'OK', 'INSUFFICIENT_DATA'].includes(value))
    throw new UsageError('--state must be ALARM, OK or INSUFFICIENT_DATA');
  const reason =
    typeof args.values.reason === 'string' ? args.values.reason : 'set by hand with reelflow alarm';
  await cloudWatch(state, 'SetAlarmState', { AlarmName: alarmName, StateValue: value, StateReason: reason });
  process.stdout.write(
    `${alarmName} is ${value} until its next evaluation; a blue/green update in progress rolls back when it sees it\n`,
  );
  return EXIT.ok;
}

/** One CloudWatch call in the awsJson1_0 protocol (the target prefix CloudWatch's JSON API uses). */
async function cloudWatch(state: InstanceState, operation: string, input: unknown): Promise<unknown> {
  const response = await fetch(state.awsJsonEndpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `GraniteServiceVersion20100801.${operation}`,
    },
    body: JSON.stringify(input),
  });
  const body = (await response.json()) as { message?: string };
  if (!response.ok) throw new Error(`${operation} failed: ${body.message ?? response.status}`);
  return body;
}
