/**
 * The commands that talk to a running `reelflow start` through its state folder (state.json):
 *
 * - `upload <file|folder>`: PutObject into the local bucket under `ratings/`, through the AWS SDK, the
 *   way `aws s3 cp` uploads to the real bucket; the running instance's trigger starts the next run;
 * - `runs`: the run history (it needs no running instance), with each run's trained/excluded batch
 *   counts from its lineage, then a line per interrupted run (killed before it recorded an end): where it
 *   stopped and its artifacts (the running instance's bucket, else the local `runs/<runId>/` folder);
 * - `alarm`: DescribeAlarms / SetAlarmState on the running instance's CloudWatch JSON API, like
 *   `aws cloudwatch describe-alarms` / `set-alarm-state`.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Upload } from '@aws-sdk/lib-storage';
import { rollbackAlarmNames } from '../pipeline/names';
import { EXIT, UsageError, type ParsedArgs } from './cli-args';
import { selectRatingFiles, uploadKey } from './data-files';
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

export async function uploadCommand(args: ParsedArgs): Promise<number> {
  const [path, ...extra] = args.positionals;
  if (!path || extra.length > 0)
    throw new UsageError('upload takes one file or folder: npm run upload -- <file>');
  const state = instance(args);
  const { files } = await selectRatingFiles(path);
  const s3 = localS3Client(state.s3Endpoint);
  const now = new Date();
  try {
    for (const [i, file] of files.entries()) {
      const key = uploadKey(file, path, now, files.length > 1 ? i : undefined);
      const size = (await stat(file)).size;
      // lib-storage streams the file (multipart above 5 MiB), as `aws s3 cp` does with large files.
      await new Upload({
        client: s3,
        params: { Bucket: state.bucket, Key: key, Body: createReadStream(file) },
      }).done();
      process.stdout.write(
        `uploaded ${file} as s3://${state.bucket}/${key} (${(size / 1024 / 1024).toFixed(1)} MiB)\n`,
      );
    }
  } finally {
    s3.destroy();
  }
  process.stdout.write(
    files.length > 1
      ? 'each upload starts a run; the pipeline supersedes the ones still waiting (see the npm start terminal)\n'
      : 'the running reelflow starts a run now: follow it in the npm start terminal, then npm run runs\n',
  );
  return EXIT.ok;
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
