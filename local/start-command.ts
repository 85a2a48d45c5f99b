/**
 * `reelflow start` (`npm start`): starts the local runtime, uploads ratings (the bundled sample on a
 * fresh state, or `--data`), follows the run they start, then serves the recommend API until Ctrl-C.
 * `--once` performs that one run without serving and prints the evaluation.json path as its last line.
 *
 * On a state folder with earlier runs, nothing is uploaded unless `--data` is given: a deployed model is
 * served again (the endpoint is restored), and data without a deployed model gets a run. `--data` on such
 * a folder replaces the batches already in the bucket (the run trains on the new files only) and says
 * so; `--add` keeps them (the run trains on all of them); `--fresh` starts over entirely.
 */
import { readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { listObjects } from '../functions/common/s3-io';
import { approverFor } from './approval';
import { EXIT, UsageError, type ParsedArgs } from './cli-args';
import { loadDeployConfig, withLocalTuning } from './config';
import { selectRatingFiles, uploadKey, type DataSelection } from './data-files';
import {
  DEFAULT_HOME,
  homeLayout,
  InstanceRunningError,
  PROJECT_ROOT,
  resetHome,
  runningInstance,
} from './home';
import type { PipelineExecution } from './pipeline-runner';
import {
  bucketReader,
  describeInterrupted,
  formatUntrained,
  readRuns,
  untrainedBatches,
  type RunRecord,
} from './run-history';
import { LocalRuntime } from './runtime';
import { PortInUseError } from './services/http';
import { duration } from './terminal';

export const SAMPLE_RATINGS = join(PROJECT_ROOT, 'local', 'sample', 'ratings.csv');
export const DEFAULT_PORT = 3000;
/** The user of the sample request printed with the URL. */
const SAMPLE_USER = 3;

export async function startCommand(args: ParsedArgs): Promise<number> {
  const v = args.values;
  if (v.approve && v.reject) throw new UsageError('--approve and --reject exclude each other');
  if (v['await-approval'] && (v.approve || v.reject))
    throw new UsageError('--await-approval excludes --approve and --reject');
  if (v.add && typeof v.data !== 'string') throw new UsageError('--add needs --data <file|folder>');
  if (v.add && v.fresh) throw new UsageError('--add and --fresh exclude each other');
  const once = v.once === true;
  const msPerSecond =
    v['time-scale'] === undefined ? undefined : numberFlag('--time-scale', v['time-scale'], 0);
  const port = v.port === undefined ? undefined : numberFlag('--port', v.port, 0, 65535);
  const layout = homeLayout(typeof v.home === 'string' ? v.home : DEFAULT_HOME);
  const write = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const started = performance.now();

  if (v.fresh) {
    const other = runningInstance(layout);
    if (other) throw new InstanceRunningError(layout.root, other.pid);
    await resetHome(layout);
  }
  const config = withLocalTuning(await loadDeployConfig({ configFile: v.config as string | undefined }));
  const data =
    typeof v.data === 'string'
      ? {
          root: v.data,
          ...(await selectRatingFiles(v.data, { predefinedSplit: config.ml.split.mode === 'predefined' })),
        }
      : undefined;
  const history = await readRuns(layout.historyFile);

  const approver = approverFor(
    { approve: v.approve === true, reject: v.reject === true, awaitApproval: v['await-approval'] === true },
    process.env,
    process.stdin,
    write,
  );
  const open = (apiPort: number): Promise<LocalRuntime> =>
    LocalRuntime.start({
      home: layout.root,
      config,
      approver,
      msPerSecond,
      apiPort,
      write,
      verbose: v.verbose === true,
    });
  let runtime: LocalRuntime;
  try {
    runtime = await open(port ?? (once ? 0 : DEFAULT_PORT));
  } catch (error) {
    if (!(error instanceof PortInUseError) || port !== undefined) {
      if (error instanceof PortInUseError)
        throw new UsageError(`${error.message}: pass --port <free port> or --port 0`);
      throw error;
    }
    write(`note: port ${DEFAULT_PORT} is in use; the API takes a free port instead (--port <n> to choose)`);
    runtime = await open(0);
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= runtime.stop());
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (): void => {
      if (stopping) process.exit(130);
      write('\nstopping (Ctrl-C again to quit at once)...');
      void stop().then(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });

  banner(write, runtime, config.resourcePrefix, v.config as string | undefined, history);
  await restartNotes(write, runtime, history, data === undefined);

  let execution: PipelineExecution | undefined;
  try {
    execution = await startRun(write, runtime, data, v.add === true);
  } catch (error) {
    await stop();
    throw error;
  }
  const record = execution ? await Promise.race([execution.done, stopped.then(() => undefined)]) : undefined;

  if (once) {
    await stop();
    write(`done in ${duration(performance.now() - started)}`);
    if (record?.evaluationPath) write(record.evaluationPath);
    return record ? exitCodeOf(record) : EXIT.failed;
  }
  if (!stopping) serving(write, runtime);
  await stopped;
  write('stopped');
  return EXIT.ok;
}

/** Uploads what there is to upload, or starts a run on the data already there; the run, if any. */
async function startRun(
  write: (line: string) => void,
  runtime: LocalRuntime,
  data: (DataSelection & { root: string }) | undefined,
  add: boolean,
): Promise<PipelineExecution | undefined> {
  const now = new Date();
  if (data) {
    await makeRoomForData(write, {
      s3: runtime.s3,
      bucket: runtime.bucket,
      home: runtime.layout.root,
      files: data.files.map((f) => relative(data.root, f) || basename(f)).join(', '),
      add,
    });
    if (data.skipped.length > 0) {
      write(
        `data      ${data.root}: uploading ${data.files.map((f) => relative(data.root, f) || f).join(', ')}; ${data.predefinedPair ? 'not the predefined split' : 'not ratings'}: ${data.skipped.map((f) => relative(data.root, f)).join(', ')}`,
      );
    }
    // A predefined pair keeps its names (ua.base sorts before ua.test, the upload order, anyway).
    const ordered = data.files.length > 1 && !data.predefinedPair;
    const files = await Promise.all(
      data.files.map(async (file, i) => ({
        key: uploadKey(file, data.root, now, ordered ? i : undefined),
        body: await readFile(file),
      })),
    );
    for (const file of files)
      write(`upload    ${file.key} (${(file.body.length / 1024 / 1024).toFixed(1)} MiB)`);
    if (files.length > 1) write('          one run for the whole folder: only the last upload triggers it');
    return runtime.uploadAll(files);
  }
  const uploaded = await listObjects(runtime.s3, runtime.bucket, 'ratings/');
  if (uploaded.length === 0) {
    const key = uploadKey('sample.csv', 'sample.csv', now);
    write(`upload    ${key} (the bundled sample: local/sample/ratings.csv)`);
    return runtime.upload(key, await readFile(SAMPLE_RATINGS));
  }
  const serving = runtime.servingVersion();
  if (serving && runtime.restoredEndpoints.length > 0) {
    write(
      `resume    serving ${serving} again; ${uploaded.length} batch(es) in the bucket (--data replaces them, --data --add adds more, --fresh starts over)`,
    );
    return undefined;
  }
  write(`run       ${uploaded.length} batch(es) in the bucket and no model serving: starting a run on them`);
  return runtime.startRun();
}

/**
 * Before `--data` uploads: the batches an earlier start left in the bucket are deleted (the new files
 * replace the data set), or kept with `add`; either way the terminal says which in one line.
 */
export async function makeRoomForData(
  write: (line: string) => void,
  target: {
    readonly s3: S3Client;
    readonly bucket: string;
    readonly home: string;
    /** What is about to be uploaded, for the line. */
    readonly files: string;
    readonly add: boolean;
  },
): Promise<void> {
  const batches = await listObjects(target.s3, target.bucket, RATINGS_PREFIX);
  if (batches.length === 0) return;
  const home = relative(process.cwd(), target.home) || target.home;
  const count = `${batches.length} batch${batches.length === 1 ? '' : 'es'}`;
  const shown = batches.slice(0, 3).map((b) => batchName(b.key));
  const names = `${shown.join(', ')}${batches.length > shown.length ? `, +${batches.length - shown.length} more` : ''}`;
  if (target.add) {
    write(
      `data      adding ${target.files} to the ${count} in ${home} (${names}); the run trains on all of them`,
    );
    return;
  }
  write(
    `data      replacing the ${count} in ${home} (${names}) with ${target.files}; use --add to keep them`,
  );
  for (const batch of batches) {
    await target.s3.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: batch.key }));
  }
}

const RATINGS_PREFIX = 'ratings/';

/** `ratings/20261125T070341Z-003-u.data` -> `u.data` (uploadKey's stamp and order taken off). */
function batchName(key: string): string {
  return key.slice(RATINGS_PREFIX.length).replace(/^\d{8}T\d{6}Z-(\d{3}-)?/, '');
}

function banner(
  write: (line: string) => void,
  runtime: LocalRuntime,
  prefix: string,
  configFile: string | undefined,
  history: readonly RunRecord[],
): void {
  const serving = runtime.servingVersion();
  write('reelflow local runtime: the retrain and deploy state machines `cdk synth` renders, run by');
  write('aws-local-stepfunctions, every AWS service replaced by a local stand-in on 127.0.0.1');
  write(
    `config    cdk.json context.reelflow${configFile ? ` + ${configFile}` : ''} (prefix ${prefix}); waits at ${runtime.scale.describe()}`,
  );
  write(
    `state     ${runtime.layout.root} ` +
      (runtime.fresh
        ? '(fresh: no earlier runs, no model deployed)'
        : `(${history.length} earlier run(s); ${serving ? `serving ${serving}` : 'no model deployed'})`),
  );
  write(`S3        ${runtime.s3Endpoint} (bucket ${runtime.bucket})`);
  write(`API       ${runtime.recommendUrl}`);
}

/**
 * On a restart: the runs an earlier process left unfinished (killed), where they stopped and what they
 * left in the bucket, and the batches under ratings/ no successful run has trained on yet. Only says so:
 * whether a run starts stays startRun's decision.
 */
async function restartNotes(
  write: (line: string) => void,
  runtime: LocalRuntime,
  history: readonly RunRecord[],
  untrained: boolean,
): Promise<void> {
  if (runtime.fresh || history.length === 0) return;
  const bucket = bucketReader(runtime.s3, runtime.bucket);
  try {
    const lastEnded = history.map((r) => r.status !== 'Interrupted').lastIndexOf(true);
    for (const line of await describeInterrupted(
      history.slice(lastEnded + 1),
      runtime.layout.runsDir,
      bucket.listKeys,
    ))
      write(line);
    const batches = untrained ? await untrainedBatches(history, bucket) : undefined;
    if (batches) write(formatUntrained(batches));
  } catch (error) {
    write(`note: could not check for interrupted runs: ${(error as Error).message}`);
  }
}

function serving(write: (line: string) => void, runtime: LocalRuntime): void {
  const version = runtime.servingVersion();
  write('');
  write(
    version
      ? `serving   ${runtime.recommendUrl}  (model ${version})`
      : `serving   ${runtime.recommendUrl}  (no model deployed yet: it answers 503)`,
  );
  write(`try       curl '${runtime.recommendUrl}?user_id=${SAMPLE_USER}'`);
  write('more data npm run upload -- <ratings file>   (starts the next run; it shows here)');
  write('also      npm run runs (history), npm run alarm -- latency (trip a rollback alarm), Ctrl-C to stop');
}

function exitCodeOf(record: RunRecord): number {
  switch (record.status) {
    case 'Succeeded':
    case 'NothingToDo':
      return EXIT.ok;
    case 'Rejected':
      return EXIT.rejected;
    case 'RolledBack':
      return EXIT.rolledBack;
    case 'Failed':
      return record.failedState === 'Prepare' && record.reason?.startsWith('data rejected')
        ? EXIT.dataRejected
        : EXIT.failed;
    default:
      return EXIT.failed;
  }
}

function numberFlag(
  flag: string,
  value: string | boolean | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`${flag} expects a number from ${min} to ${max}, got '${String(value)}'`);
  }
  return n;
}
