import { mkdtempSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appendRun,
  describeInterrupted,
  formatRuns,
  formatUntrained,
  readRuns,
  runArtifacts,
  untrainedBatches,
  writeProgress,
  type BucketReader,
  type RunRecord,
} from '../../local/run-history';

const trigger = { key: 'ratings/b.csv', versionId: 'v2' };

function finished(runId: string, status: RunRecord['status']): RunRecord {
  return {
    runId,
    trigger,
    startedAt: '2026-05-01T10:00:00.000Z',
    endedAt: '2026-05-01T10:01:00.000Z',
    status,
    stage: 'Deploy',
    servingVersion: status === 'Succeeded' ? runId : null,
    timings: { totalMs: 60_000, stages: {}, states: {} },
  };
}

function home(): { historyFile: string; runsDir: string } {
  const root = mkdtempSync(join(tmpdir(), 'run-history-'));
  return { historyFile: join(root, 'runs.jsonl'), runsDir: join(root, 'runs') };
}

const started = (runId: string, attempt = 1) =>
  ({ event: 'started', runId, trigger, startedAt: '2026-05-01T11:00:00.000Z', attempt }) as const;

describe('run history', () => {
  it('reads a started run with no end as Interrupted at the stage and state it reached, and the table shows it', async () => {
    // GIVEN a finished run, then a run whose process was killed in Retrain/TrainFM
    const { historyFile, runsDir } = home();
    await appendRun(historyFile, started('r0001'));
    await appendRun(historyFile, finished('r0001', 'Succeeded'));
    await appendRun(historyFile, started('r0002'));
    await writeProgress(runsDir, {
      runId: 'r0002',
      attempt: 1,
      stage: 'Retrain',
      state: 'TrainFM',
      updatedAt: '2026-05-01T11:00:30.000Z',
      stages: { Source: 1, Checks: 1 },
    });
    // and a line the kill cut short
    await appendFile(historyFile, '{"runId":"r00');
    // WHEN it is read
    const runs = await readRuns(historyFile);
    // THEN the finished run is as recorded and the killed one is Interrupted where it was
    expect(runs.map((r) => [r.runId, r.status])).toEqual([
      ['r0001', 'Succeeded'],
      ['r0002', 'Interrupted'],
    ]);
    expect(runs[1]).toMatchObject({
      stage: 'Retrain',
      failedState: 'TrainFM',
      endedAt: '2026-05-01T11:00:30.000Z',
      timings: { totalMs: 30_000, stages: { Source: 1, Checks: 1 } },
    });
    expect(runs[1].reason).toMatch(/without recording an end .* in Retrain\/TrainFM/);
    expect(formatRuns(runs)).toMatch(
      /\nr0002\s+2026-05-01 11:00:00\s+Interrupted\s+Retrain\/TrainFM\s+ratings\/b\.csv/,
    );
  });

  it('reads an interrupted retry next to the attempt that ended, and a start with no progress at Source', async () => {
    const { historyFile } = home();
    await appendRun(historyFile, started('r0001'));
    await appendRun(historyFile, finished('r0001', 'Failed'));
    await appendRun(historyFile, started('r0001', 2));
    await appendRun(historyFile, started('r0002'));
    const runs = await readRuns(historyFile);
    expect(runs.map((r) => `${r.runId}:${r.status}:${r.stage}`)).toEqual([
      'r0001:Failed:Deploy',
      'r0001:Interrupted:Source',
      'r0002:Interrupted:Source',
    ]);
  });

  it('lists what an interrupted run left: the bucket keys, else the local folder without the progress file', async () => {
    const { historyFile, runsDir } = home();
    await appendRun(historyFile, started('r0002'));
    await writeProgress(runsDir, {
      runId: 'r0002',
      attempt: 1,
      stage: 'Approve',
      updatedAt: '2026-05-01T11:00:30.000Z',
      stages: {},
    });
    await writeFile(join(runsDir, 'r0002', 'report.html'), '<html/>');
    expect(await runArtifacts('r0002', runsDir)).toEqual({ source: 'local', keys: ['report.html'] });
    const unreachable = () => Promise.reject(new Error('ECONNREFUSED'));
    expect(await runArtifacts('r0002', runsDir, unreachable)).toEqual({
      source: 'local',
      keys: ['report.html'],
    });
    const listKeys = async (prefix: string) => [`${prefix}lineage.json`, `${prefix}prepared/train.protobuf`];
    const [line] = await describeInterrupted(await readRuns(historyFile), runsDir, listKeys);
    expect(line).toBe(
      'interrupted r0002 (started 2026-05-01 11:00:00, trigger ratings/b.csv) reached Approve; artifacts in s3 runs/r0002/: runs/r0002/lineage.json, runs/r0002/prepared/train.protobuf',
    );
  });

  it('names the batches no successful run trained on, and the interrupted run that was training them', async () => {
    // GIVEN r0001 succeeded on a.csv, r0002 (rejected) and r0003 (killed) listed b.csv and c.csv
    const objects = new Map<string, unknown>([
      ['ratings/a.csv', ''],
      ['ratings/b.csv', ''],
      ['ratings/c.csv', ''],
      ['runs/r0001/lineage.json', { trained: [{ key: 'ratings/a.csv' }], excluded: [] }],
      ['runs/r0002/lineage.json', { trained: [{ key: 'ratings/b.csv' }], excluded: [] }],
      [
        'runs/r0003/lineage.json',
        { trained: [{ key: 'ratings/b.csv' }, { key: 'ratings/c.csv' }], excluded: [] },
      ],
    ]);
    const bucket: BucketReader = {
      listKeys: async (prefix) => [...objects.keys()].filter((k) => k.startsWith(prefix)),
      readObject: async (key) =>
        objects.has(key) ? Buffer.from(JSON.stringify(objects.get(key))) : undefined,
    };
    const { historyFile } = home();
    await appendRun(historyFile, finished('r0001', 'Succeeded'));
    await appendRun(historyFile, finished('r0002', 'Rejected'));
    await appendRun(historyFile, started('r0003'));
    // WHEN the restart checks
    const untrained = await untrainedBatches(await readRuns(historyFile), bucket);
    // THEN
    expect(untrained).toEqual({ keys: ['ratings/b.csv', 'ratings/c.csv'], interruptedRun: 'r0003' });
    expect(formatUntrained(untrained!)).toBe(
      'untrained 2 batch(es) since the last successful run: ratings/b.csv, ratings/c.csv (an interrupted run r0003 was training them; npm run upload or --data starts a new run)',
    );
    // and nothing to say once every batch is trained
    objects.delete('ratings/b.csv');
    objects.delete('ratings/c.csv');
    expect(await untrainedBatches(await readRuns(historyFile), bucket)).toBeUndefined();
  });

  it('reads no file as no runs', async () => {
    const { historyFile, runsDir } = home();
    await mkdir(runsDir, { recursive: true });
    expect(await readRuns(historyFile)).toEqual([]);
  });
});
