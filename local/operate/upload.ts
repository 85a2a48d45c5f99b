/**
 * `reelflow upload <file|folder> [--no-follow] [--interval <s>]`: puts rating batches into the data
 * bucket's `ratings/` (the deployed stack's with `--aws`, the running twin's otherwise), the way `aws s3
 * cp` would, then follows the run the upload starts until it ends and exits by its outcome (EXIT codes:
 * 0 deployed or nothing to do, 1 failed, 2 data rejected, 3 candidate rejected, 4 rolled back).
 *
 * Keys are `ratings/<UTC second>-<name>` (local/data-files.ts uploadKey). Two uploads of the same name in
 * the same second must not overwrite each other (the bucket keeps versions, but the second upload would
 * replace the batch the first run trains on): HeadObject finds a key in use and a random part is added,
 * and in AWS the PutObject is conditional (`If-None-Match: *`), so a race between two uploaders ends in
 * 412 PreconditionFailed and a new key instead of an overwrite.
 *
 * The run is found by its pipeline variable `triggerKey`, which start-run sets to the uploaded key
 * URI-encoded (functions/core/run-layout.ts encodeTriggerKey): ListPipelineExecutions, then
 * GetPipelineExecution of each new execution until one carries the key.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { encodeTriggerKey } from '../../functions/core/run-layout';
import { EXIT, UsageError, type ParsedArgs } from '../cli-args';
import { selectRatingFiles, uploadKey } from '../data-files';
import { awsErrorName, isNotFoundError, OperatorError } from './errors';
import { getExecution, listExecutions } from './pipeline-read';
import { intervalOf, watchRun, type StatusOptions } from './status';
import { resolveTarget, STDOUT_IO, type OperatorIo, type OperatorTarget } from './target';

/** How upload names keys, waits and follows (tests pass a fake clock and suffixes). */
export interface UploadOptions extends StatusOptions {
  /** Follow the run until it ends. @default true */
  readonly follow?: boolean;
  /** The random part of a key whose plain name is taken. @default 6 hex characters */
  readonly randomPart?: () => string;
  /** How long to wait for the run to appear. @default 5 minutes */
  readonly findTimeoutMs?: number;
}

/** Tries for a free key before giving up (each try draws a new random part). */
const KEY_ATTEMPTS = 5;
const FIND_TIMEOUT_MS = 5 * 60_000;
/** Executions that started this long before the upload cannot be its run. */
const CLOCK_SLACK_MS = 5 * 60_000;

export async function uploadCommand(args: ParsedArgs, io: OperatorIo = STDOUT_IO): Promise<number> {
  const [path, ...extra] = args.positionals;
  if (!path || extra.length > 0)
    throw new UsageError('upload takes one file or folder: reelflow upload <file>');
  const intervalMs = intervalOf(args);
  const target = await resolveTarget(args);
  try {
    return await runUpload(target, path, { io, follow: args.values['no-follow'] !== true, intervalMs });
  } finally {
    target.destroy();
  }
}

/** Uploads the batches of `path`; follows the run of the last one unless `follow` is false. */
export async function runUpload(
  target: OperatorTarget,
  path: string,
  options: UploadOptions = {},
): Promise<number> {
  const io = options.io ?? STDOUT_IO;
  const now = options.now ?? (() => new Date());
  const { files } = await selectRatingFiles(path);
  const uploadedAt = now();
  const keys: string[] = [];
  for (const [i, file] of files.entries()) {
    const planned = uploadKey(file, path, uploadedAt, files.length > 1 ? i : undefined);
    const key = await putBatch(target, file, planned, options.randomPart ?? randomPart);
    const size = (await stat(file)).size;
    io.out(`uploaded ${file} as s3://${target.names.bucket}/${key} (${(size / 1024 / 1024).toFixed(1)} MiB)`);
    keys.push(key);
  }
  const key = keys[keys.length - 1];
  if (options.follow === false) {
    io.out(
      files.length > 1
        ? 'each upload starts a run; the pipeline supersedes the ones still waiting: reelflow status --watch follows them'
        : 'a run starts for it: reelflow status --watch follows it',
    );
    return EXIT.ok;
  }
  if (files.length > 1)
    io.out(`following the run of the last batch, ${key} (it supersedes the earlier ones)`);
  const runId = await findRun(target, key, uploadedAt, options);
  io.out(`run ${runId} started for ${key}`);
  io.out(`  console  ${target.links.pipelineExecution(runId)}`);
  return watchRun(target, runId, options);
}

/** Puts the file under a key no other upload holds; returns the key used. */
async function putBatch(
  target: OperatorTarget,
  file: string,
  planned: string,
  random: () => string,
): Promise<string> {
  let key = planned;
  for (let attempt = 1; attempt <= KEY_ATTEMPTS; attempt += 1) {
    if (!(await keyInUse(target, key))) {
      try {
        // lib-storage streams the file (multipart above 5 MiB), as `aws s3 cp` does with large files.
        await new Upload({
          client: target.clients.s3,
          params: {
            Bucket: target.names.bucket,
            Key: key,
            Body: createReadStream(file),
            // S3's conditional write; the local S3 (s3rver) does not implement it, HeadObject covers it there.
            ...(target.kind === 'aws' ? { IfNoneMatch: '*' } : {}),
          },
        }).done();
        return key;
      } catch (error) {
        if (
          awsErrorName(error) !== 'PreconditionFailed' &&
          awsErrorName(error) !== 'ConditionalRequestConflict'
        )
          throw error;
      }
    }
    key = withRandomPart(planned, random());
  }
  throw new OperatorError(`could not find a free key for ${planned} after ${KEY_ATTEMPTS} tries`);
}

async function keyInUse(target: OperatorTarget, key: string): Promise<boolean> {
  try {
    await target.clients.s3.send(new HeadObjectCommand({ Bucket: target.names.bucket, Key: key }));
    return true;
  } catch (error) {
    if (isNotFoundError(error)) return false;
    throw error;
  }
}

/** `ratings/20261202T140000Z-a.csv` -> `ratings/20261202T140000Z-<part>-a.csv` (arrival order kept). */
export function withRandomPart(key: string, part: string): string {
  const match = /^(ratings\/\d{8}T\d{6}Z)-(.*)$/.exec(key);
  return match ? `${match[1]}-${part}-${match[2]}` : key.replace(/^ratings\//, `ratings/${part}-`);
}

function randomPart(): string {
  return randomBytes(3).toString('hex');
}

/**
 * The execution whose `triggerKey` is the key (as start-run encodes it). An execution's variables never
 * change, so each one is read once.
 */
export async function findRun(
  target: OperatorTarget,
  key: string,
  uploadedAt: Date,
  options: UploadOptions = {},
): Promise<string> {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const intervalMs = Math.min(options.intervalMs ?? 5000, 5000);
  const deadline = now().getTime() + (options.findTimeoutMs ?? FIND_TIMEOUT_MS);
  const wanted = encodeTriggerKey(key);
  const checked = new Set<string>();
  for (;;) {
    for (const summary of await listExecutions(target, 20)) {
      const id = summary.pipelineExecutionId;
      if (!id || checked.has(id)) continue;
      checked.add(id);
      if (summary.startTime && summary.startTime.getTime() < uploadedAt.getTime() - CLOCK_SLACK_MS) continue;
      const execution = await getExecution(target, id);
      const triggerKey = execution.variables?.find((v) => v.name === 'triggerKey')?.resolvedValue;
      if (triggerKey === wanted) return id;
    }
    if (now().getTime() >= deadline) {
      throw new OperatorError(
        `no run started for ${key} within ${Math.round((options.findTimeoutMs ?? FIND_TIMEOUT_MS) / 60_000)} min: ` +
          'check the upload trigger (the bucket rule and the start-run function); reelflow status shows the pipeline',
      );
    }
    await sleep(intervalMs);
  }
}
