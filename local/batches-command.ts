/**
 * `reelflow batches list | withdraw <key> | restore <key>`: the rating batches of the data bucket, by
 * where they are (docs/data-contract.md, "Batches, quarantine and lineage"):
 *
 * - `ratings/<path>`     in the training set (every run validates it on its own);
 * - `quarantine/<path>`  refused by a run's validation, its report in `<path>.report.json`;
 * - `withdrawn/<path>`   withdrawn by hand, the reason in `<path>.withdrawal.json`.
 *
 * `withdraw` moves `ratings/<path>` to `withdrawn/<path>` (CopyObject + DeleteObject: the versioned
 * bucket keeps the version) and a run starts: in AWS by the S3 "Object Deleted" event (the trigger rule),
 * locally by StartPipelineExecution with the variables start-run would send (the local S3 forwards
 * created objects only). `restore` moves a batch back to `ratings/` from `withdrawn/` or `quarantine/`;
 * the upload's "Object Created" event starts the run (the run validates it again: a batch the policy
 * refuses goes back to quarantine).
 *
 * Against the running `npm start` instance (state.json), or with `--aws` against the deployed stack's
 * data bucket (the stack output DataBucketName, DescribeStacks, like `verify-aws`).
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { listObjects, type ListedObject } from '../functions/common/s3-io';
import {
  encodeTriggerKey,
  QUARANTINE_PREFIX,
  QUARANTINE_REPORT_SUFFIX,
  WITHDRAWAL_SUFFIX,
  WITHDRAWN_PREFIX,
} from '../functions/core/run-layout';
import { deletedVersionValue } from '../functions/pipeline/start-run';
import { moveObject, type RunLineage } from '../functions/workflow/prepare';
import { EXIT, UsageError, type ParsedArgs } from './cli-args';
import { DEFAULT_HOME, homeLayout, runningInstance, type InstanceState } from './home';
import { localS3Client } from './services/s3-client';
import { stackOutputsAdapter } from './verify-aws/aws-adapters';
import { DEFAULT_STACK } from './verify-aws/command';
import { STACK_OUTPUTS } from './verify-aws/stack';

const RATINGS_PREFIX = 'ratings/';

export type BatchStatus = 'training' | 'quarantined' | 'withdrawn';

/** One batch as `batches list` shows it. */
export interface BatchRow {
  /** Its key under ratings/ (where it is, or where it was). */
  readonly key: string;
  readonly status: BatchStatus;
  /** The object's key now. */
  readonly location: string;
  readonly size: number;
  readonly versionId: string | null;
  /** The newest run whose lineage lists it as trained on. */
  readonly lastRun: string | null;
}

/** Where the commands act: a bucket, a client, and how a withdrawal starts its run. */
export interface BatchTarget {
  readonly s3: S3Client;
  readonly bucket: string;
  /** Starts the run of a withdrawal when the bucket's deletion event does not (the local twin). */
  readonly startRunForDeletion?: (key: string, deleteMarker: string | null) => Promise<string>;
}

export async function batchesCommand(args: ParsedArgs): Promise<number> {
  const [action, key, ...extra] = args.positionals;
  if (!['list', 'withdraw', 'restore'].includes(action ?? '') || extra.length > 0) {
    throw new UsageError('batches takes list, withdraw <key> or restore <key>');
  }
  if (action !== 'list' && !key) throw new UsageError(`batches ${action} takes the batch's key`);
  const target = args.values.aws ? await awsTarget(args) : localTarget(args);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    if (action === 'list') {
      out(formatBatches(await listBatches(target)));
    } else if (action === 'withdraw') {
      const reason = typeof args.values.reason === 'string' ? args.values.reason : 'withdrawn by hand';
      const done = await withdrawBatch(target, key, reason);
      out(`withdrew ${done.key} to ${done.location} (${reason})`);
      out(done.runId ? `run ${done.runId} started on the batches left` : 'the deletion event starts a run');
    } else {
      const done = await restoreBatch(target, key);
      out(`restored ${done.from} to ${done.key}; its upload event starts a run, which validates it again`);
    }
  } finally {
    target.s3.destroy();
  }
  return EXIT.ok;
}

/** Every batch in ratings/, quarantine/ and withdrawn/, with the last run that trained on it. */
export async function listBatches(target: BatchTarget): Promise<BatchRow[]> {
  const lastRun = await lastRunPerBatch(target);
  const rows: BatchRow[] = [];
  const places: [string, BatchStatus, string | null][] = [
    [RATINGS_PREFIX, 'training', null],
    [QUARANTINE_PREFIX, 'quarantined', QUARANTINE_REPORT_SUFFIX],
    [WITHDRAWN_PREFIX, 'withdrawn', WITHDRAWAL_SUFFIX],
  ];
  for (const [prefix, status, sidecar] of places) {
    for (const object of await listObjects(target.s3, target.bucket, prefix)) {
      if (sidecar && object.key.endsWith(sidecar)) continue;
      const key = RATINGS_PREFIX + object.key.slice(prefix.length);
      rows.push({
        key,
        status,
        location: object.key,
        size: object.size,
        versionId: await versionOf(target, object),
        lastRun: lastRun.get(key) ?? null,
      });
    }
  }
  return rows;
}

/** Moves `ratings/<path>` to `withdrawn/<path>` with the reason next to it; a run starts. */
export async function withdrawBatch(
  target: BatchTarget,
  key: string,
  reason: string,
): Promise<{ key: string; location: string; runId: string | null }> {
  const path = pathOf(key);
  const from = RATINGS_PREFIX + path;
  const to = WITHDRAWN_PREFIX + path;
  if (!(await exists(target, from))) throw new Error(`${from} is not in the training set`);
  const record = { key: from, reason, withdrawnAt: new Date().toISOString() };
  // The reason first: the deletion's run may already look.
  await put(target, `${to}${WITHDRAWAL_SUFFIX}`, record);
  const moved = await moveObject(target.s3, target.bucket, from, to);
  await put(target, `${to}${WITHDRAWAL_SUFFIX}`, { ...record, ...moved });
  const runId = target.startRunForDeletion
    ? await target.startRunForDeletion(from, moved.deleteMarkerVersionId)
    : null;
  return { key: from, location: to, runId };
}

/** Moves a batch back to `ratings/<path>` from withdrawn/ (first) or quarantine/; its upload starts a run. */
export async function restoreBatch(target: BatchTarget, key: string): Promise<{ key: string; from: string }> {
  const path = pathOf(key);
  const to = RATINGS_PREFIX + path;
  if (await exists(target, to)) throw new Error(`${to} is in the training set already`);
  for (const [prefix, sidecar] of [
    [WITHDRAWN_PREFIX, WITHDRAWAL_SUFFIX],
    [QUARANTINE_PREFIX, QUARANTINE_REPORT_SUFFIX],
  ] as const) {
    const from = prefix + path;
    if (!(await exists(target, from))) continue;
    await target.s3.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: `${from}${sidecar}` }));
    await moveObject(target.s3, target.bucket, from, to);
    return { key: to, from };
  }
  throw new Error(`${path} is neither under ${WITHDRAWN_PREFIX} nor under ${QUARANTINE_PREFIX}`);
}

export function formatBatches(rows: readonly BatchRow[]): string {
  if (rows.length === 0) return 'no batches yet (npm run upload -- <file>)';
  const header = ['batch', 'status', 'size', 'version', 'last run trained on it', 'location'];
  const cells = rows.map((r) => [
    r.key,
    r.status,
    `${r.size} B`,
    r.versionId ?? '-',
    r.lastRun ?? '-',
    r.location === r.key ? '' : r.location,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}

/** `ratings/a.csv`, `quarantine/a.csv`, `withdrawn/a.csv` or `a.csv` -> `a.csv`. */
function pathOf(key: string): string {
  for (const prefix of [RATINGS_PREFIX, QUARANTINE_PREFIX, WITHDRAWN_PREFIX]) {
    if (key.startsWith(prefix)) return key.slice(prefix.length);
  }
  if (key === '' || key.endsWith('/')) throw new UsageError(`'${key}' names no batch`);
  return key;
}

/** The newest run (by its lineage's start time) that trained on each batch key. */
async function lastRunPerBatch(target: BatchTarget): Promise<Map<string, string>> {
  const runs: string[] = [];
  let token: string | undefined;
  do {
    const page = await target.s3.send(
      new ListObjectsV2Command({
        Bucket: target.bucket,
        Prefix: 'runs/',
        Delimiter: '/',
        ContinuationToken: token,
      }),
    );
    for (const p of page.CommonPrefixes ?? []) if (p.Prefix) runs.push(p.Prefix);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const lineages: RunLineage[] = [];
  for (const prefix of runs) {
    const text = await read(target, `${prefix}lineage.json`);
    if (text) lineages.push(JSON.parse(text) as RunLineage);
  }
  lineages.sort((a, b) => (a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0));
  const last = new Map<string, string>();
  for (const lineage of lineages) for (const batch of lineage.trained) last.set(batch.key, lineage.runId);
  return last;
}

async function versionOf(target: BatchTarget, object: ListedObject): Promise<string | null> {
  const head = await target.s3.send(new HeadObjectCommand({ Bucket: target.bucket, Key: object.key }));
  return head.VersionId ?? null;
}

async function exists(target: BatchTarget, key: string): Promise<boolean> {
  try {
    await target.s3.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchKey') return false;
    throw error;
  }
}

async function read(target: BatchTarget, key: string): Promise<string | undefined> {
  try {
    const response = await target.s3.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
    return await response.Body?.transformToString();
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey' || (error as Error).name === 'NotFound') return undefined;
    throw error;
  }
}

async function put(target: BatchTarget, key: string, body: unknown): Promise<void> {
  await target.s3.send(
    new PutObjectCommand({
      Bucket: target.bucket,
      Key: key,
      Body: `${JSON.stringify(body, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
}

/** The running instance's bucket; a withdrawal's run is started on its CodePipeline API. */
export function localTarget(args: ParsedArgs): BatchTarget {
  const layout = homeLayout(typeof args.values.home === 'string' ? args.values.home : DEFAULT_HOME);
  const state = runningInstance(layout);
  if (!state) {
    throw new Error(
      `no reelflow is running on ${layout.root}: start one with npm start (or pass --home <folder>)`,
    );
  }
  return {
    s3: localS3Client(state.s3Endpoint),
    bucket: state.bucket,
    startRunForDeletion: (key, marker) => startLocalRun(state, key, marker),
  };
}

/** What start-run sends for an "Object Deleted" event, on the running instance's CodePipeline API. */
async function startLocalRun(state: InstanceState, key: string, marker: string | null): Promise<string> {
  const { pipelineName } = state as Partial<InstanceState>;
  if (!pipelineName) throw new Error('the running reelflow publishes no pipeline name: restart npm start');
  const response = await fetch(state.awsJsonEndpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'CodePipeline_20150709.StartPipelineExecution',
    },
    body: JSON.stringify({
      name: pipelineName,
      variables: [
        { name: 'triggerKey', value: encodeTriggerKey(key) },
        { name: 'triggerVersionId', value: deletedVersionValue(marker ?? undefined) },
      ],
    }),
  });
  const body = (await response.json()) as { pipelineExecutionId?: string; message?: string };
  if (!response.ok || !body.pipelineExecutionId) {
    throw new Error(`StartPipelineExecution failed: ${body.message ?? response.status}`);
  }
  return body.pipelineExecutionId;
}

/** The deployed stack's data bucket (DescribeStacks); runs start by the bucket's events. */
async function awsTarget(args: ParsedArgs): Promise<BatchTarget> {
  const { region, profile, stack } = args.values;
  const config = {
    ...(typeof region === 'string' ? { region } : {}),
    ...(typeof profile === 'string' ? { profile } : {}),
  };
  const stackName = typeof stack === 'string' ? stack : DEFAULT_STACK;
  const cloudFormation = new CloudFormationClient(config);
  try {
    const outputs = await stackOutputsAdapter(cloudFormation).outputs(stackName);
    const bucket = outputs[STACK_OUTPUTS.dataBucket];
    if (!bucket) throw new Error(`stack ${stackName} has no output ${STACK_OUTPUTS.dataBucket}`);
    return { s3: new S3Client(config), bucket };
  } finally {
    cloudFormation.destroy();
  }
}
