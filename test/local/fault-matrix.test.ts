/**
 * Issue 9, "Reliability figures, as tests": a fault matrix against ONE local runtime (in-process,
 * loopback, a temp home, a fast time scale) while a poller asks the API for one known user every ~20 ms
 * through the whole matrix. Each scenario checks: the API answered only 200 (after the first
 * deployment), every answer equals its modelVersion's own answer for that user (no mixed versions),
 * production as expected, no upload lost (every uploaded key is under ratings/, quarantine/ or
 * withdrawn/), and a complete history (every run started is in runs.jsonl with a final status).
 *
 * Scenario 11 (disk full during prepare) runs `reelflow prepare` (prepareCommand) with its output on a
 * /dev/full-backed path (or an injected ENOSPC stream where /dev/full is missing) next to the running
 * runtime: the Prepare handler streams to S3 and writes no temp file, so the runtime itself offers no
 * disk to fill without product changes.
 */
import '../functions/quiet-powertools';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { WriteStream } from 'node:fs';
import type { RecommendResponse } from '../../functions/contracts';
import { readKnnModelTarGz } from '../../functions/core/knn';
import { readServingBundle } from '../../functions/core/serving/bundle';
import { serveUsers } from '../../functions/core/serving/pipeline';
import type { RunLineage } from '../../functions/workflow/prepare';
import type { ApprovalDecision, ApprovalRequest, Approver } from '../../local/approval';
import { localTarget, restoreBatch, withdrawBatch } from '../../local/batches-command';
import { deepMerge, loadDeployConfig } from '../../local/config';
import type { PipelineEvent, PipelineExecution } from '../../local/pipeline-runner';
import { prepareCommand } from '../../local/prepare-command';
import { readRuns, type RunRecord } from '../../local/run-history';
import { LocalRuntime } from '../../local/runtime';
import { SyntheticWorld } from '../../local/sample/synthetic';
import { rollbackAlarmNames } from '../../pipeline/names';
import { RETRAIN_STATES as R } from '../../pipeline/retrain-workflow';

const MS_PER_SECOND = 2;
const POLL_MS = 20;
const MAX_POLLS = 20_000;
const USER = 3;

/** Small and fast; maxRegression 1 so that a run on a bit more or less data is never gated on noise. */
const OVERRIDES = {
  ml: {
    fm: { num_factors: 16, epochs: 8, factors_lr: 0.01, factors_wd: 0.0001 },
    knn: { k: 40 },
    evaluation: { bootstrapSamples: 50 },
    gate: { maxRegression: 1 },
  },
};
/** A degenerate model (as e2e run 4): it cannot beat most-popular. */
const WORSE = { ml: { fm: { epochs: 1, factors_lr: 1e-6, linear_lr: 1e-6, bias_lr: 1e-6 } } };

const HEADER = 'userId,movieId,rating,timestamp';
const FINAL = ['Succeeded', 'NothingToDo', 'Failed', 'Rejected', 'RolledBack', 'Superseded', 'Stopped'];

/** Each user's ratings in time order, cut into good batches at the given shares. */
function goodBatches(cuts: readonly number[]): { batches: string[]; rows: string[] } {
  const world = new SyntheticWorld({ users: 250, movies: 300, meanRatingsPerUser: 40, seed: 7 });
  const batches = cuts.map(() => [HEADER]);
  const rows: string[] = [];
  for (const user of world.users()) {
    user.movies.forEach((movie, i) => {
      const line = `${user.userId},${world.movieIds[movie]},${user.ratings[i].toFixed(1)},${Math.round(user.timestamps[i])}`;
      const share = (i + 0.5) / user.movies.length;
      batches[cuts.findIndex((c) => share <= c)].push(line);
      rows.push(line);
    });
  }
  return { batches: batches.map((b) => `${b.join('\n')}\n`), rows };
}

/** A batch of `good` valid rows (new users, so nothing collides) plus `bad` non-integer-id rows. */
function mixedBatch(good: number, bad: number): string {
  const lines = [HEADER];
  for (let i = 0; i < good; i++) lines.push(`${800_000 + (i % 40)},${1 + (i % 97)},4.0,${1_300_000_000 + i}`);
  for (let i = 0; i < bad; i++) lines.push(`x${i},1,4.0,1300000000`);
  return `${lines.join('\n')}\n`;
}

interface Answer {
  readonly at: number;
  readonly status: number;
  readonly version?: string;
  readonly movies?: readonly number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fault matrix on one local runtime, with the API polled throughout', () => {
  const home = mkdtempSync(join(tmpdir(), 'reelflow-faults-'));
  const data = goodBatches([0.5, 0.6, 0.7, 0.8, 0.9, 1]);
  const events: PipelineEvent[] = [];
  const records: RunRecord[] = [];
  const uploaded: string[] = [];
  const startedRuns = new Set<string>();
  const answers: Answer[] = [];
  const expected = new Map<string, readonly number[]>();
  const passed: string[] = [];
  let runtime: LocalRuntime;
  let polling = true;
  let poller: Promise<void> | undefined;
  let countFrom = Infinity;
  let scenarioStart = 0;

  // The approver: approves unless a scenario says otherwise for a run (or holds it until released).
  const decisions = new Map<string, Promise<ApprovalDecision>>();
  let byDefault = true;
  const approver: Approver = {
    decide: (request: ApprovalRequest) =>
      decisions.get(request.runId) ?? Promise.resolve({ approved: byDefault, by: 'the fault matrix' }),
  };
  const held = (runId: string): ((approved: boolean) => void) => {
    let release!: (approved: boolean) => void;
    decisions.set(
      runId,
      new Promise((resolve) => {
        release = (approved) => resolve({ approved, by: 'the fault matrix (held)' });
      }),
    );
    return release;
  };

  /** Resolves with the first event (past or future) that matches; bounded. */
  const waitFor = async (match: (e: PipelineEvent) => boolean, ms = 60_000): Promise<PipelineEvent> => {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(10)) {
      const found = events.find(match);
      if (found) return found;
    }
    throw new Error('timed out waiting for a pipeline event');
  };
  const finish = async (execution: PipelineExecution): Promise<RunRecord> => {
    const record = await execution.done;
    records.push(record);
    return record;
  };
  const upload = async (name: string, body: string): Promise<PipelineExecution> => {
    const key = `ratings/${name}`;
    uploaded.push(key);
    return runtime.upload(key, body);
  };
  const keys = async (prefix: string): Promise<string[]> => {
    const listed = await runtime.s3.send(
      new ListObjectsV2Command({ Bucket: runtime.bucket, Prefix: prefix }),
    );
    return (listed.Contents ?? []).map((o) => o.Key!);
  };
  const s3Bytes = async (key: string): Promise<Uint8Array> => {
    const response = await runtime.s3.send(new GetObjectCommand({ Bucket: runtime.bucket, Key: key }));
    return response.Body!.transformToByteArray();
  };
  const s3Json = async <T>(key: string): Promise<T> =>
    JSON.parse(new TextDecoder().decode(await s3Bytes(key))) as T;
  const trained = async (runId: string): Promise<string[]> =>
    (await s3Json<RunLineage>(`runs/${runId}/lineage.json`)).trained.map((b) => b.key);

  /** What `version` answers for USER, from its own bundle and k-NN index (as e2e run 2 checks). */
  const answerOf = async (version: string): Promise<readonly number[]> => {
    const known = expected.get(version);
    if (known) return known;
    const names = (await s3Json<{ names: { model: string } }>(`runs/${version}/evaluation/summary.json`))
      .names;
    const model = runtime.sagemaker.model(names.model);
    const key = (host: string) =>
      model
        .Containers!.find((c) => c.ContainerHostname === host)!
        .ModelDataUrl!.replace(`s3://${runtime.bucket}/`, '');
    const bundle = await readServingBundle(await s3Bytes(key('pre')));
    const { index } = await readKnnModelTarGz(await s3Bytes(key('knn')));
    const [served] = serveUsers(bundle, index, [USER]);
    expect(served.modelVersion).toBe(version);
    expected.set(version, served.movies);
    return served.movies;
  };

  /** The checks every scenario ends with. */
  const invariants = async (name: string, production: string | null): Promise<void> => {
    const during = answers.slice(scenarioStart);
    scenarioStart = answers.length;
    // the API answered only 200 (counted from the first deployment on)
    expect(during.filter((a) => a.at >= countFrom && a.status !== 200)).toEqual([]);
    // every answer is its own version's answer for the user
    for (const a of during.filter((x) => x.status === 200)) {
      expect({ version: a.version, movies: a.movies }).toEqual({
        version: a.version,
        movies: await answerOf(a.version!),
      });
    }
    expect(runtime.servingVersion()).toBe(production);
    // no upload lost
    const stored = new Set([
      ...(await keys('ratings/')),
      ...(await keys('quarantine/')),
      ...(await keys('withdrawn/')),
    ]);
    for (const key of uploaded) {
      const path = key.slice('ratings/'.length);
      expect({
        key,
        kept: ['ratings/', 'quarantine/', 'withdrawn/'].some((p) => stored.has(p + path)),
      }).toEqual({
        key,
        kept: true,
      });
    }
    // the history is complete
    const history = await readRuns(join(home, 'runs.jsonl'));
    for (const runId of startedRuns) {
      const lines = history.filter((r) => r.runId === runId);
      expect({ runId, statuses: lines.length > 0 && lines.every((r) => FINAL.includes(r.status)) }).toEqual({
        runId,
        statuses: true,
      });
    }
    passed.push(name);
  };

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      home,
      config: await loadDeployConfig({ overrides: OVERRIDES }),
      approver,
      msPerSecond: MS_PER_SECOND,
    });
    runtime.onPipelineEvent((event) => {
      events.push(event);
      if (event.type === 'run-started') startedRuns.add(event.runId);
    });
    poller = (async () => {
      for (let i = 0; i < MAX_POLLS && polling; i++) {
        const at = Date.now();
        try {
          const response = await fetch(`${runtime.recommendUrl}?user_id=${USER}`);
          const body = (await response.json()) as Partial<RecommendResponse>;
          answers.push({ at, status: response.status, version: body.modelVersion, movies: body.movies });
        } catch {
          answers.push({ at, status: 0 });
        }
        await sleep(POLL_MS);
      }
    })();
  }, 60_000);

  afterAll(async () => {
    polling = false;
    await poller;
    await runtime?.stop();
    const counted = answers.filter((a) => a.at >= countFrom);
    const versions = new Set(answers.filter((a) => a.status === 200).map((a) => a.version));
    console.log(
      `fault matrix figures: scenarios passed ${passed.length}/12, requests served ${answers.length}, ` +
        `non-200 ${counted.filter((a) => a.status !== 200).length} (after the first deployment; ` +
        `${answers.length - counted.length} before it), distinct versions served ${versions.size}`,
    );
  });

  let v1 = '';
  let current = '';

  it('1. the first good upload is deployed (version 1)', async () => {
    const record = await finish(await upload('2026-01-01-g0.csv', data.batches[0]));
    expect(record).toMatchObject({ status: 'Succeeded', stage: 'Deploy', servingVersion: record.runId });
    v1 = current = record.runId;
    // The API answers 503 before the first deployment: count from the first answer of version 1.
    for (let i = 0; i < 200 && !answers.some((a) => a.version === v1); i++) await sleep(10);
    countFrom = answers.find((a) => a.version === v1)!.at;
    await invariants('first deploy', v1);
  }, 60_000);

  it('2. a bad upload (>1 % bad rows) is rejected and quarantined; the good upload after it deploys', async () => {
    const bad = await finish(await upload('2026-01-02-bad.csv', mixedBatch(180, 20)));
    expect(bad).toMatchObject({ status: 'Failed', failedState: 'Prepare', servingVersion: v1 });
    expect(bad.reason).toMatch(/^data rejected at validation: rejected: .*2026-01-02-bad\.csv/);
    expect(await keys('quarantine/')).toContain('quarantine/2026-01-02-bad.csv');
    expect(await keys('ratings/')).not.toContain('ratings/2026-01-02-bad.csv');

    const good = await finish(await upload('2026-01-03-g1.csv', data.batches[1]));
    expect(good).toMatchObject({ status: 'Succeeded', servingVersion: good.runId });
    expect(await trained(good.runId)).toEqual(['ratings/2026-01-01-g0.csv', 'ratings/2026-01-03-g1.csv']);
    current = good.runId;
    await invariants('bad then good', current);
  }, 60_000);

  it('3. a 100 %-bad batch of 3 rows among the good data is rejected and quarantined', async () => {
    const record = await finish(await upload('2026-01-04-tiny-bad.csv', mixedBatch(0, 3)));
    expect(record).toMatchObject({ status: 'Failed', failedState: 'Prepare', servingVersion: current });
    expect(record.reason).toMatch(/2026-01-04-tiny-bad\.csv/);
    expect(await keys('quarantine/')).toContain('quarantine/2026-01-04-tiny-bad.csv');
    await invariants('tiny bad batch', current);
  }, 60_000);

  it('4. a 2 %-bad batch is rejected (above the default 1 %)', async () => {
    const record = await finish(await upload('2026-01-05-two-percent.csv', mixedBatch(196, 4)));
    expect(record).toMatchObject({ status: 'Failed', failedState: 'Prepare', servingVersion: current });
    expect(record.reason).toMatch(/2026-01-05-two-percent\.csv/);
    expect(await keys('quarantine/')).toContain('quarantine/2026-01-05-two-percent.csv');
    await invariants('2 % bad', current);
  }, 60_000);

  it('5. two uploads seconds apart: the older waiting run ends Superseded, the newest trains on both, one deployment', async () => {
    // GIVEN a run holding the Approve stage (held at the approval, rejected later)
    const occupier = runtime.startRun();
    const release = held(occupier.runId);
    await waitFor((e) => e.type === 'approval-requested' && e.runId === occupier.runId);
    // WHEN two batches arrive one after the other
    const older = await upload('2026-01-06-g2.csv', data.batches[2]);
    await sleep(1000);
    const newer = await upload('2026-01-07-g3.csv', data.batches[3]);
    await waitFor(
      (e) => e.type === 'stage-ended' && e.runId === older.runId && e.outcome === 'superseded',
      90_000,
    );
    release(false);
    const [o, a, b] = await Promise.all([finish(occupier), finish(older), finish(newer)]);
    // THEN
    expect(o).toMatchObject({ status: 'Rejected', failedState: 'Approve' });
    expect(a).toMatchObject({ status: 'Superseded', stage: 'Approve' });
    expect(b).toMatchObject({ status: 'Succeeded', servingVersion: b.runId });
    expect(await trained(b.runId)).toEqual(
      expect.arrayContaining(['ratings/2026-01-06-g2.csv', 'ratings/2026-01-07-g3.csv']),
    );
    expect([o, a, b].filter((r) => r.status === 'Succeeded')).toHaveLength(1);
    current = b.runId;
    await invariants('superseded', current);
  }, 120_000);

  it('6. a candidate forced to be worse is rejected by the gate; production unchanged', async () => {
    const good = runtime.config;
    runtime.updateConfig(await loadDeployConfig({ overrides: deepMerge(OVERRIDES, WORSE) }));
    try {
      const record = await finish(runtime.startRun());
      expect(record).toMatchObject({ status: 'Rejected', failedState: 'Gate', servingVersion: current });
      expect(record.reason).toMatch(/^the gate rejected the candidate: /);
    } finally {
      runtime.updateConfig(good);
    }
    await invariants('worse candidate', current);
  }, 60_000);

  it('7. an alarm tripped during the bake rolls back; the previous version keeps serving', async () => {
    const alarm = rollbackAlarmNames(runtime.config.endpoint.name)[1];
    let runId = '';
    let tripped = false;
    runtime.onDeploymentEvent((event) => {
      if (!tripped && runId && event.phase === 'bake' && event.configName.includes(runId)) {
        tripped = true;
        runtime.alarms.setAlarmState(alarm, 'ALARM', 'tripped by the fault matrix during the bake');
      }
    });
    const run = runtime.startRun();
    runId = run.runId;
    const record = await finish(run);
    expect(tripped).toBe(true);
    expect(record).toMatchObject({ status: 'RolledBack', stage: 'Deploy', servingVersion: current });
    expect(record.reason).toContain(alarm);
    runtime.alarms.setAlarmState(alarm, 'OK', 'reset by the fault matrix');
    await invariants('rollback', current);
  }, 60_000);

  it('8. withdrawing a batch starts a run without it', async () => {
    byDefault = false; // no deployment waits: the run is rejected at approval after training
    const target = localTarget({ values: { home }, positionals: [] });
    const done = await withdrawBatch(target, 'ratings/2026-01-03-g1.csv', 'suspicious source');
    expect(done.runId).toEqual(expect.any(String));
    const runId = done.runId!;
    await waitFor((e) => e.type === 'run-started' && e.runId === runId);
    const record = await finish(runtime.pipeline.execution(runId)!);
    expect(record).toMatchObject({ status: 'Rejected', failedState: 'Approve', servingVersion: current });
    expect(await trained(runId)).not.toContain('ratings/2026-01-03-g1.csv');
    expect(await keys('withdrawn/')).toContain('withdrawn/2026-01-03-g1.csv');
    await invariants('withdraw', current);
  }, 60_000);

  it('9. restoring it starts a run with it again', async () => {
    const mark = events.length;
    const target = localTarget({ values: { home }, positionals: [] });
    await restoreBatch(target, '2026-01-03-g1.csv');
    const started = await waitFor(
      (e) =>
        events.indexOf(e) >= mark &&
        e.type === 'run-started' &&
        e.trigger.key === 'ratings/2026-01-03-g1.csv',
    );
    if (started.type !== 'run-started') throw new Error('unreachable');
    const record = await finish(runtime.pipeline.execution(started.runId)!);
    byDefault = true;
    expect(record).toMatchObject({ status: 'Rejected', failedState: 'Approve', servingVersion: current });
    expect(await trained(record.runId)).toContain('ratings/2026-01-03-g1.csv');
    expect(await keys('withdrawn/')).toEqual([]);
    await invariants('restore', current);
  }, 60_000);

  it('10. stale baseline: two candidates evaluated against the same production; one deploys, the other ends StaleBaseline', async () => {
    // GIVEN run X held at the approval, evaluated against `current`
    const x = runtime.startRun();
    const release = held(x.runId);
    await waitFor((e) => e.type === 'approval-requested' && e.runId === x.runId);
    // AND run Y, started by an upload, evaluated against the same production while X waits
    const y = await upload('2026-01-08-g4.csv', data.batches[4]);
    await waitFor((e) => e.type === 'stage-ended' && e.runId === y.runId && e.stage === 'Retrain', 90_000);
    // WHEN X is approved and deploys, then Y reaches Deploy
    release(true);
    const [rx, ry] = await Promise.all([finish(x), finish(y)]);
    // THEN X serves and Y is refused before it touches the endpoint
    expect(rx).toMatchObject({ status: 'Succeeded', servingVersion: x.runId });
    expect(ry.status).not.toBe('Succeeded');
    expect(ry.stage).toBe('Deploy');
    expect(ry.servingVersion).toBe(x.runId);
    const deployment = await s3Json<{ outcome: string; reason: string }>(`runs/${y.runId}/deployment.json`);
    expect(deployment.outcome).toBe('stale-baseline');
    expect(deployment.reason).toContain(`compared with production ${current}, but ${x.runId} is serving now`);
    current = x.runId;
    await invariants('stale baseline', current);
  }, 120_000);

  it('11. disk full during prepare (reelflow prepare, --out on /dev/full): a clear reason; production serves; the upload is kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reelflow-faults-enospc-'));
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    for (const key of await keys('ratings/')) {
      writeFileSync(join(dataDir, key.slice('ratings/'.length)), await s3Bytes(key));
    }
    const out = join(dir, 'out');
    const devFull = existsSync('/dev/full');
    if (devFull) {
      mkdirSync(join(out, 'train'), { recursive: true });
      symlinkSync('/dev/full', join(out, 'train', 'part-00000.recordio'));
    }
    const fullDisk = (): WriteStream =>
      new Writable({
        write: (_chunk, _encoding, callback) =>
          setTimeout(
            () =>
              callback(
                Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
              ),
            5,
          ),
      }) as unknown as WriteStream;
    const errors: string[] = [];
    const code = await prepareCommand(
      { values: { data: dataDir, out }, positionals: [] },
      {
        stdout: () => undefined,
        stderr: (t) => errors.push(t),
        ...(devFull ? {} : { openWriteStream: fullDisk }),
      },
    );
    expect(code).toBe(1);
    expect(errors.join('')).toMatch(/cannot write: no space left on device \(ENOSPC\)/);
    expect(errors.join('')).not.toMatch(/\n\s+at /);
    await invariants('disk full', current);
  }, 60_000);

  it('12. a failed stage is retried with fresh names and deployed', async () => {
    let inject = true;
    runtime.onPipelineEvent((e) => {
      if (!inject || e.type !== 'state' || e.event.type !== 'entered' || e.event.state !== R.createModel)
        return;
      inject = false;
      void runtime.s3.send(
        new DeleteObjectCommand({ Bucket: runtime.bucket, Key: `runs/${e.runId}/prepared/split/test.csv` }),
      );
    });
    const first = await upload('2026-01-09-g5.csv', data.batches[5]);
    const failed = await finish(first);
    expect(failed).toMatchObject({
      status: 'Failed',
      stage: 'Retrain',
      failedState: R.evaluate,
      servingVersion: current,
    });
    const firstAttempt = (await s3Json<{ attempt: string }>(`runs/${first.runId}/run.json`)).attempt;

    const retried = await runtime.pipeline.retry(first.runId);
    const record = await finish(retried);
    expect(record).toMatchObject({ status: 'Succeeded', stage: 'Deploy', servingVersion: first.runId });
    const attempt = (await s3Json<{ attempt: string }>(`runs/${first.runId}/run.json`)).attempt;
    expect(attempt).not.toBe(firstAttempt);
    const names = (await s3Json<{ names: { model: string } }>(`runs/${first.runId}/evaluation/summary.json`))
      .names;
    expect(names.model).toBe(`reelflow-model-${first.runId}-${attempt}`);
    current = first.runId;
    await invariants('retry', current);
    expect(
      new Set(answers.filter((a) => a.status === 200).map((a) => a.version)).size,
    ).toBeGreaterThanOrEqual(5);
    expect(answers.filter((a) => a.at >= countFrom && a.status !== 200)).toHaveLength(0);
  }, 60_000);
});
