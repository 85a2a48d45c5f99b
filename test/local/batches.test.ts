/**
 * `reelflow batches list | withdraw | restore` against a running local runtime (its state.json), on a
 * small data set with the approval answered "reject" (no deployment waits): a withdrawal starts a run
 * that trains without the batch, a restore starts one that trains with it again, and the lineage, the
 * listing and the run history say so.
 */
import '../functions/quiet-powertools';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunLineage } from '../../functions/workflow/prepare';
import { fixedApprover } from '../../local/approval';
import { batchesCommand } from '../../local/batches-command';
import { runsCommand } from '../../local/client-commands';
import { loadDeployConfig } from '../../local/config';
import type { RunRecord } from '../../local/run-history';
import { LocalRuntime } from '../../local/runtime';
import { SyntheticWorld } from '../../local/sample/synthetic';

const OVERRIDES = {
  ml: {
    fm: { num_factors: 8, epochs: 2 },
    knn: { k: 30 },
    evaluation: { bootstrapSamples: 20 },
  },
};

function twoBatches(): { a: string; b: string } {
  const world = new SyntheticWorld({ users: 120, movies: 150, meanRatingsPerUser: 25, seed: 3 });
  const header = 'userId,movieId,rating,timestamp';
  const a = [header];
  const b = [header];
  for (const user of world.users()) {
    user.movies.forEach((movie, i) => {
      const line = `${user.userId},${world.movieIds[movie]},${user.ratings[i].toFixed(1)},${Math.round(user.timestamps[i])}`;
      (i % 2 === 0 ? a : b).push(line);
    });
  }
  return { a: `${a.join('\n')}\n`, b: `${b.join('\n')}\n` };
}

describe('reelflow batches against the running local runtime', () => {
  const home = mkdtempSync(join(tmpdir(), 'reelflow-batches-'));
  let runtime: LocalRuntime;
  const finished = new Map<string, (record: RunRecord) => void>();
  const records: RunRecord[] = [];

  const runFinished = (match: (record: RunRecord) => boolean): Promise<RunRecord> =>
    new Promise((resolve) => {
      const done = records.find(match);
      if (done) resolve(done);
      else finished.set(String(finished.size), (record) => match(record) && resolve(record));
    });

  const command = async (...positionals: string[]): Promise<string> => {
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const values = { home, ...(positionals[0] === 'withdraw' ? { reason: 'suspicious source' } : {}) };
      const code =
        positionals[0] === 'runs'
          ? await runsCommand({ values: { home }, positionals: [] })
          : await batchesCommand({ values, positionals });
      expect(code).toBe(0);
    } finally {
      write.mockRestore();
    }
    return lines.join('');
  };

  const lineage = async (runId: string): Promise<RunLineage> => {
    const response = await runtime.s3.send(
      new GetObjectCommand({ Bucket: runtime.bucket, Key: `runs/${runId}/lineage.json` }),
    );
    return JSON.parse(await response.Body!.transformToString()) as RunLineage;
  };
  const keys = async (prefix: string): Promise<string[]> => {
    const listed = await runtime.s3.send(
      new ListObjectsV2Command({ Bucket: runtime.bucket, Prefix: prefix }),
    );
    return (listed.Contents ?? []).map((o) => o.Key!).sort();
  };

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      home,
      config: await loadDeployConfig({ overrides: OVERRIDES }),
      approver: fixedApprover(false, 'the batches test'),
      msPerSecond: 1,
    });
    runtime.onPipelineEvent((event) => {
      if (event.type !== 'run-finished') return;
      records.push(event.record);
      for (const listener of finished.values()) listener(event.record);
    });
  }, 60_000);

  afterAll(async () => {
    await runtime?.stop();
  });

  it('withdraw: moves the batch to withdrawn/ and starts a run without it; restore brings it back', async () => {
    const data = twoBatches();
    const first = await runtime.uploadAll([
      { key: 'ratings/2026-01-01-a.csv', body: data.a },
      { key: 'ratings/2026-01-02-b.csv', body: data.b },
    ]);
    const one = await first.done;
    expect((await lineage(one.runId)).trained.map((b) => b.key)).toEqual([
      'ratings/2026-01-01-a.csv',
      'ratings/2026-01-02-b.csv',
    ]);

    // withdraw
    const withdrawn = await command('withdraw', 'ratings/2026-01-02-b.csv');
    const runId = /run (\S+) started/.exec(withdrawn)?.[1];
    expect(runId).toBeDefined();
    const two = await runFinished((r) => r.runId === runId);
    expect(two.trigger).toEqual({ key: 'ratings/2026-01-02-b.csv', versionId: 'deleted' });
    expect(await keys('ratings/')).toEqual(['ratings/2026-01-01-a.csv']);
    expect(await keys('withdrawn/')).toEqual([
      'withdrawn/2026-01-02-b.csv',
      'withdrawn/2026-01-02-b.csv.withdrawal.json',
    ]);
    const twoLineage = await lineage(two.runId);
    expect(twoLineage.trained.map((b) => b.key)).toEqual(['ratings/2026-01-01-a.csv']);
    expect(twoLineage.excluded).toEqual([
      expect.objectContaining({ key: 'ratings/2026-01-02-b.csv', status: 'withdrawn', byThisRun: false }),
    ]);

    // list
    const listed = await command('list');
    expect(listed).toMatch(
      new RegExp(`ratings/2026-01-01-a\\.csv\\s+training\\s+\\d+ B\\s+\\S+\\s+${two.runId}`),
    );
    expect(listed).toMatch(
      new RegExp(`ratings/2026-01-02-b\\.csv\\s+withdrawn\\s+\\d+ B\\s+\\S+\\s+${one.runId}\\s+withdrawn/`),
    );

    // restore: the upload event starts the run
    const restoredRun = runFinished((r) => r.runId !== one.runId && r.runId !== two.runId);
    expect(await command('restore', '2026-01-02-b.csv')).toMatch(/restored withdrawn\/2026-01-02-b\.csv/);
    const three = await restoredRun;
    expect(three.trigger.key).toBe('ratings/2026-01-02-b.csv');
    expect(await keys('withdrawn/')).toEqual([]);
    const threeLineage = await lineage(three.runId);
    expect(threeLineage.trained.map((b) => b.key)).toEqual([
      'ratings/2026-01-01-a.csv',
      'ratings/2026-01-02-b.csv',
    ]);
    expect(threeLineage.excluded).toEqual([]);

    // the history's batches column (trained/excluded), from the lineage copies the runtime keeps
    const copy = join(home, 'runs', three.runId, 'lineage.json');
    for (let i = 0; i < 100 && !existsSync(copy); i++) await new Promise((r) => setTimeout(r, 20));
    const history = await command('runs');
    expect(history).toMatch(/\bbatches\b/);
    expect(history).toMatch(new RegExp(`${two.runId} .* 1/1 `));
    expect(history).toMatch(new RegExp(`${three.runId} .* 2/0 `));
  }, 60_000);
});
