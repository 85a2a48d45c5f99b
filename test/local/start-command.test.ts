/**
 * `npm start -- --data <files>` on a state folder that already holds batches (issue 9): the new files
 * replace the data set, or join it with `--add`, and the terminal says which. Tested against the local
 * S3 stand-in the runtime uses, with the bucket as an earlier `npm start` leaves it (the sample batch).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { listObjects } from '../../functions/common/s3-io';
import { START_DATA_OPTIONS, UsageError } from '../../local/cli-args';
import { uploadKey } from '../../local/data-files';
import { LocalS3 } from '../../local/services/s3';
import { makeRoomForData, startCommand } from '../../local/start-command';

const BUCKET = 'reelflow-data';
const dir = mkdtempSync(join(tmpdir(), 'reelflow-start-'));
const home = join(dir, '.reelflow');
const server = new LocalS3({ directory: join(dir, 's3'), buckets: [BUCKET], reset: true });
let s3: S3Client;

beforeAll(async () => {
  await server.start();
  s3 = server.client();
});
afterAll(async () => {
  s3.destroy();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const SAMPLE_KEY = uploadKey('sample.csv', 'sample.csv', new Date('2026-01-01T00:00:00Z'));

async function afterQuickStart(): Promise<void> {
  for (const o of await listObjects(s3, BUCKET, 'ratings/')) {
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: o.key }));
  }
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: SAMPLE_KEY, Body: '1,1,5\n' }));
}

async function room(add: boolean): Promise<{ lines: string[]; keys: string[] }> {
  const lines: string[] = [];
  await makeRoomForData((line) => lines.push(line), { s3, bucket: BUCKET, home, files: 'my.csv', add });
  return { lines, keys: (await listObjects(s3, BUCKET, 'ratings/')).map((o) => o.key) };
}

describe('start --data on a state folder with batches', () => {
  it('replaces the batches already in the bucket and says so', async () => {
    await afterQuickStart();
    const { lines, keys } = await room(false);
    expect(lines).toEqual([
      expect.stringMatching(
        /^data {6}replacing the 1 batch in .*\.reelflow \(sample\.csv\) with my\.csv; use --add to keep them$/,
      ),
    ]);
    expect(keys).toEqual([]);
  });

  it('keeps them with --add and says the run trains on all of them', async () => {
    await afterQuickStart();
    const { lines, keys } = await room(true);
    expect(lines).toEqual([
      expect.stringMatching(
        /^data {6}adding my\.csv to the 1 batch in .*\.reelflow \(sample\.csv\); the run trains on all of them$/,
      ),
    ]);
    expect(keys).toEqual([SAMPLE_KEY]);
  });

  it('says nothing on an empty bucket', async () => {
    await afterQuickStart();
    await room(false);
    expect(await room(false)).toEqual({ lines: [], keys: [] });
  });

  it('parses --add and refuses it without --data or with --fresh', async () => {
    const parsed = parseArgs({
      args: ['--data', 'x.csv', '--add'],
      options: { ...START_DATA_OPTIONS, data: { type: 'string' } },
    });
    expect(parsed.values.add).toBe(true);
    await expect(startCommand({ values: { add: true }, positionals: [] })).rejects.toThrow(UsageError);
    await expect(
      startCommand({ values: { add: true, fresh: true, data: 'x.csv' }, positionals: [] }),
    ).rejects.toThrow('--add and --fresh exclude each other');
  });

  it('parses --await-approval and refuses it with --approve or --reject', async () => {
    const parsed = parseArgs({ args: ['--await-approval'], options: START_DATA_OPTIONS });
    expect(parsed.values['await-approval']).toBe(true);
    for (const flag of ['approve', 'reject']) {
      await expect(
        startCommand({ values: { 'await-approval': true, [flag]: true }, positionals: [] }),
      ).rejects.toThrow('--await-approval excludes --approve and --reject');
    }
  });
});
