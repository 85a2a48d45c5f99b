/**
 * The operator CLI against the local twin, end to end (issue 10): the real `reelflow` command (a child
 * process, local/bin/reelflow.js, as an operator runs it) acts on a LocalRuntime this test starts on a
 * fresh home, through the AWS APIs the twin serves on loopback. Nothing is mocked:
 *
 *   doctor -> upload (no follow) -> status (waits at Approve) -> approve -> the run deploys (A)
 *   -> upload + approve (B serves) -> upload + reject -> runs / show -> rollback (A serves again, blue/green)
 *   -> status shows the rollback; show A lists it; a second rollback to what serves is refused.
 *
 * The child processes are started asynchronously: the runtime runs in this process's event loop, and the
 * CLI's calls must be answered while it waits.
 */
import '../../functions/quiet-powertools';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetPipelineStateCommand, CodePipelineClient } from '@aws-sdk/client-codepipeline';
import { awaitApiApprover } from '../../../local/approval';
import { loadDeployConfig } from '../../../local/config';
import { PROJECT_ROOT } from '../../../local/home';
import { LocalRuntime } from '../../../local/runtime';
import { SyntheticWorld } from '../../../local/sample/synthetic';

const CLI = join(PROJECT_ROOT, 'local', 'bin', 'reelflow.js');
/** The Node.js 22 the npm scripts run on (node_modules/.bin/node of the node@22 devDependency). */
const NODE = join(PROJECT_ROOT, 'node_modules', '.bin', 'node');

/**
 * Small and fast: model quality is not what this test is about, so the gate passes whatever the small
 * data set gives (no most-popular check, any regression) and every run reaches the approval.
 */
const OVERRIDES = {
  ml: {
    fm: { num_factors: 8, epochs: 2 },
    knn: { k: 30 },
    evaluation: { bootstrapSamples: 20 },
    gate: { maxRegression: 1, mustBeatPopularity: false },
  },
};

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `reelflow <args> --home <home>` and resolves with its exit code and output (never rejects). */
function reelflow(home: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      NODE,
      [CLI, ...args, '--home', home],
      { cwd: PROJECT_ROOT, env: { ...process.env, CI: '', FORCE_COLOR: '0' }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Batch `part` (0, 1, 2) of one small world: each user's ratings in time order, cut at 60 % and 80 %. */
function ratingsFile(dir: string, name: string, part: number): string {
  const world = new SyntheticWorld({ users: 120, movies: 150, meanRatingsPerUser: 30, seed: 5 });
  const lines = ['userId,movieId,rating,timestamp'];
  for (const user of world.users()) {
    const cuts = [0, Math.ceil(user.movies.length * 0.6), Math.ceil(user.movies.length * 0.8), Infinity];
    user.movies.forEach((movie, i) => {
      if (i < cuts[part] || i >= cuts[part + 1]) return;
      lines.push(
        `${user.userId},${world.movieIds[movie]},${user.ratings[i].toFixed(1)},${Math.round(user.timestamps[i])}`,
      );
    });
  }
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

describe('reelflow operator commands against the running local twin', () => {
  const home = mkdtempSync(join(tmpdir(), 'reelflow-twin-cli-'));
  const data = mkdtempSync(join(tmpdir(), 'reelflow-twin-cli-data-'));
  let runtime: LocalRuntime;
  let codePipeline: CodePipelineClient;
  const runIds: string[] = [];

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      home,
      config: await loadDeployConfig({ overrides: OVERRIDES }),
      approver: awaitApiApprover(() => undefined),
      msPerSecond: 1,
    });
    codePipeline = new CodePipelineClient({
      endpoint: runtime.awsJsonEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  }, 60_000);

  afterAll(async () => {
    codePipeline?.destroy();
    await runtime?.stop();
  });

  /** The run waiting at Approve (GetPipelineState), once one does. */
  async function waitingRun(): Promise<string> {
    const end = Date.now() + 90_000;
    for (;;) {
      const { stageStates } = await codePipeline.send(
        new GetPipelineStateCommand({ name: `${runtime.config.resourcePrefix}-release` }),
      );
      const stage = stageStates?.find((s) => s.stageName === 'Approve');
      const approval = stage?.actionStates?.find((a) => a.actionName === 'Approve');
      const runId = stage?.latestExecution?.pipelineExecutionId;
      if (approval?.latestExecution?.status === 'InProgress' && runId && !runIds.includes(runId)) {
        return runId;
      }
      if (Date.now() > end) throw new Error('no run came to wait at Approve');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Uploads a batch without following, waits for its run at Approve; returns the run id. */
  async function uploadAndWait(name: string, part: number): Promise<string> {
    const upload = await reelflow(home, 'upload', ratingsFile(data, name, part), '--no-follow');
    expect(upload).toMatchObject({ code: 0 });
    expect(upload.stdout).toContain(`ratings/`);
    const runId = await waitingRun();
    runIds.push(runId);
    return runId;
  }

  it('doctor checks the twin account: bootstrap, Lambda, SageMaker quotas', async () => {
    const result = await reelflow(home, 'doctor');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/OK\s+cdk bootstrap/);
    expect(result.stdout).toMatch(/OK\s+lambda concurrency/);
    expect(result.stdout).toMatch(/OK\s+sagemaker quota\s+ml\.\S+ for endpoint usage/);
  }, 120_000);

  it('upload, status at Approve, approve: the run deploys and serves', async () => {
    const runA = await uploadAndWait('batch-a.csv', 0);

    const status = await reelflow(home, 'status');
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(runA);
    expect(status.stdout).toMatch(/Approve\s+InProgress\s+waiting: reelflow approve/);
    expect(status.stdout).toMatch(/Retrain\s+Succeeded/);

    const approve = await reelflow(home, 'approve', runA, '--comment', 'looks good');
    expect(approve.stderr).toBe('');
    expect(approve.code).toBe(0);
    expect(approve.stdout).toContain(`approved run ${runA}`);
    expect(approve.stdout).toMatch(/ndcg@10/i);
    expect(approve.stdout).toContain(join(home, 'runs', runA, 'report.html'));

    const record = await runtime.pipeline.execution(runA)!.done;
    expect(record.status).toBe('Succeeded');
    expect(record.servingVersion).toBe(runA);

    const again = await reelflow(home, 'approve', runA);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`run ${runA} is not waiting for approval`);
  }, 240_000);

  it('a second run serves; a third is rejected with its reason; runs and show tell their story', async () => {
    const runB = await uploadAndWait('batch-b.csv', 1);
    expect((await reelflow(home, 'approve', runB)).code).toBe(0);
    expect((await runtime.pipeline.execution(runB)!.done).servingVersion).toBe(runB);

    const runC = await uploadAndWait('batch-c.csv', 2);
    const noReason = await reelflow(home, 'reject', runC);
    expect(noReason.code).toBe(64);
    const reject = await reelflow(home, 'reject', runC, '--reason', 'not this week');
    expect(reject.code).toBe(0);
    const recordC = await runtime.pipeline.execution(runC)!.done;
    expect(recordC.status).toBe('Rejected');
    expect(recordC.servingVersion).toBe(runB);

    const runs = await reelflow(home, 'runs');
    expect(runs.code).toBe(0);
    for (const runId of runIds) expect(runs.stdout).toContain(runId);

    const show = await reelflow(home, 'show', runIds[0]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(runIds[0]);
    expect(show.stdout).toContain('ratings/');
    expect(show.stdout).toMatch(/report/);
  }, 300_000);

  it('rollback puts the previous version back through the deploy workflow, recorded; what serves cannot be rolled back to', async () => {
    const [runA, runB] = runIds;
    const rollback = await reelflow(home, 'rollback', '--yes', '--reason', 'B misbehaves');
    expect(rollback.stderr).toBe('');
    expect(rollback.code).toBe(0);
    expect(rollback.stdout).toContain(`from`);
    expect(rollback.stdout).toContain(runB);
    expect(rollback.stdout).toMatch(/UpdateEndpoint/);
    expect(rollback.stdout).toContain(`${runA} serves again`);

    const answer = (await (await fetch(`${runtime.recommendUrl}?user_id=3`)).json()) as {
      modelVersion: string;
    };
    expect(answer.modelVersion).toBe(runA);

    const status = await reelflow(home, 'status');
    expect(status.stdout).toMatch(new RegExp(`serving\\s+${runA}.*by rollback rollback-[0-9a-f]{8}`));

    const show = await reelflow(home, 'show', runA);
    expect(show.stdout).toMatch(/rollback-[0-9a-f]{8}/);

    const refused = await reelflow(home, 'rollback', '--yes', '--to', runA);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(runA);
  }, 240_000);
});
