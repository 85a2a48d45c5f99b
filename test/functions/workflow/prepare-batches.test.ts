import '../quiet-powertools';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PrepareResult } from '../../../functions/contracts';
import { parseMlConfig } from '../../../functions/core/config';
import { DataRejectedError } from '../../../functions/core/ingest';
import { prepare, type RunLineage } from '../../../functions/workflow/prepare';
import { LocalS3 } from '../../../local/services/s3';

const BUCKET = 'reelflow-data';
const SAMPLE = join(__dirname, '..', '..', '..', 'local', 'sample', 'ratings.csv');
const config = parseMlConfig({});
const HEADER = 'userId,movieId,rating,timestamp';

describe('Prepare: each batch on its own, quarantine and lineage (local S3 on loopback)', () => {
  const server = new LocalS3({
    directory: mkdtempSync(join(tmpdir(), 's3-')),
    buckets: [BUCKET],
    reset: true,
  });
  let s3: S3Client;
  const rows = readFileSync(SAMPLE, 'utf8').trimEnd().split('\n').slice(1);
  const half = Math.floor(rows.length / 2);
  const first = `${[HEADER, ...rows.slice(0, half)].join('\n')}\n`;
  const second = `${[HEADER, ...rows.slice(half)].join('\n')}\n`;

  beforeAll(async () => {
    await server.start();
    s3 = server.client();
    await put('ratings/2026-01-01-a.csv', first);
  });
  afterAll(() => server.stop());

  const run = (runId: string, key: string) =>
    prepare(
      {
        runId,
        executionName: `retrain-${runId}`,
        trigger: { key, versionId: 'v' },
        config,
        resourcePrefix: 'reelflow',
      },
      { s3, bucket: BUCKET, ratingsPrefix: 'ratings/' },
    );

  it('a bad upload: its run is rejected, the batch quarantined with its report; the next upload runs', async () => {
    const bad = `${HEADER}\n${'x,1,4.0,1300000000\n'.repeat(50)}`;
    await put('ratings/2026-01-02-bad.csv', bad);
    const error = await run('run-bad', 'ratings/2026-01-02-bad.csv').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataRejectedError);
    expect((error as DataRejectedError).message).toMatch(
      /^rejected: 1 of 2 batches is bad and moved to quarantine\/: ratings\/2026-01-02-bad\.csv: none of its 50 rows/,
    );
    expect((error as DataRejectedError).report.reasons).toEqual({ non_integer_id: 50 });

    expect(await keys('ratings/')).toEqual(['ratings/2026-01-01-a.csv']);
    expect(await keys('quarantine/')).toEqual([
      'quarantine/2026-01-02-bad.csv',
      'quarantine/2026-01-02-bad.csv.report.json',
    ]);
    expect(await text('quarantine/2026-01-02-bad.csv')).toBe(bad);
    const report = JSON.parse(await text('quarantine/2026-01-02-bad.csv.report.json'));
    expect(report).toMatchObject({ batch: 'ratings/2026-01-02-bad.csv', runId: 'run-bad' });
    expect(report.file).toMatchObject({ rows: 50, badRows: 50 });
    const validation = JSON.parse(await text('runs/run-bad/prepared/validation.json'));
    expect(validation.accepted).toBe(false);
    const rejectedLineage = JSON.parse(await text('runs/run-bad/lineage.json')) as RunLineage;
    expect(rejectedLineage.trained).toEqual([]);
    expect(rejectedLineage.excluded).toEqual([
      expect.objectContaining({
        key: 'ratings/2026-01-02-bad.csv',
        status: 'quarantined',
        movedTo: 'quarantine/2026-01-02-bad.csv',
        reportKey: 'quarantine/2026-01-02-bad.csv.report.json',
        sha256: sha(bad),
        byThisRun: true,
      }),
    ]);

    await put('ratings/2026-01-03-b.csv', second);
    const next = (await run('run-good', 'ratings/2026-01-03-b.csv')) as PrepareResult;
    expect(next.batches).toEqual({ trained: 2, excluded: 1 });
    expect(next.counts.ratings).toBe(29_916);
    const lineage = JSON.parse(await text('runs/run-good/lineage.json')) as RunLineage;
    expect(lineage.trained.map((b) => [b.key, b.size, b.sha256])).toEqual([
      ['ratings/2026-01-01-a.csv', Buffer.byteLength(first), sha(first)],
      ['ratings/2026-01-03-b.csv', Buffer.byteLength(second), sha(second)],
    ]);
    expect(lineage.excluded).toEqual([
      expect.objectContaining({ key: 'ratings/2026-01-02-bad.csv', status: 'quarantined', byThisRun: false }),
    ]);
  }, 60_000);

  it('a tiny 100%-bad batch among a big good set is rejected (under 1% of all rows it used to sneak in)', async () => {
    const tiny = `${HEADER}\n1,1,9.5,1300000000\n2,2,-1,1300000000\n`;
    await put('ratings/2026-01-04-tiny.csv', tiny);
    const error = await run('run-tiny', 'ratings/2026-01-04-tiny.csv').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataRejectedError);
    expect((error as DataRejectedError).message).toMatch(/ratings\/2026-01-04-tiny\.csv: none of its 2 rows/);
    expect(await keys('ratings/')).toEqual(['ratings/2026-01-01-a.csv', 'ratings/2026-01-03-b.csv']);
    expect(await keys('quarantine/')).toContain('quarantine/2026-01-04-tiny.csv');
  }, 60_000);

  async function put(key: string, body: string): Promise<void> {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  }

  async function text(key: string): Promise<string> {
    const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return response.Body!.transformToString();
  }

  async function keys(prefix: string): Promise<string[]> {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (listed.Contents ?? []).map((o) => o.Key!).sort();
  }
});

function sha(body: string): string {
  return createHash('sha256').update(body).digest('hex');
}
