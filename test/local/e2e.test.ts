/**
 * The local runtime end to end, offline, on a small generated data set (the scenario):
 *
 * 0. a run on the empty bucket ends NothingToDo (no job, no notice);
 * 1. run 1 on batch 1 fails at Evaluate, is retried (same run id, new execution names): fresh SageMaker
 *    names, no "already exists"; no production model -> deployed (CreateEndpoint), the API serves it;
 * 2. batch 2 uploaded -> run 2 evaluated against run 1, approved, switched blue/green (canary, bake)
 *    while a bounded request loop hits the API: every answer 200 and consistent with exactly one version;
 * 3. a bad batch -> run 3 fails at validation, version 2 still serves, the upload moves to quarantine/;
 * 4. a candidate forced to be worse (a degenerate FM config) -> the gate rejects it;
 * 5. an alarm tripped during the bake -> the update rolls back to version 2, recorded with the reason;
 * 6. the endpoint is Failed -> the next deploy deletes it, creates it anew and serves the new version.
 *
 * The runtime runs the same definitions `cdk synth` renders, the project's handlers, and the local
 * stand-ins; the deploy config's waits run at 5 ms per configured second.
 */
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecommendResponse } from '../../functions/contracts';
import { readKnnModelTarGz } from '../../functions/core/knn';
import { readServingBundle } from '../../functions/core/serving/bundle';
import { serveUsers } from '../../functions/core/serving/pipeline';
import { SyntheticWorld } from '../../local/sample/synthetic';
import { rollbackAlarmNames } from '../../pipeline/names';
import { DEPLOY_STATES } from '../../pipeline/deploy-workflow';
import { RETRAIN_STATES } from '../../pipeline/retrain-workflow';
import { fixedApprover } from '../../local/approval';
import { deepMerge, loadDeployConfig } from '../../local/config';
import type { PipelineEvent } from '../../local/pipeline-runner';
import { readRuns, type RunRecord } from '../../local/run-history';
import { LocalRuntime } from '../../local/runtime';

const R = RETRAIN_STATES;
const D = DEPLOY_STATES;
const MS_PER_SECOND = 5;
const REQUESTS = 2000;
const CONCURRENCY = 4;

/** Small and fast, still a real FM that beats most-popular (k >= 25 tag rows + topN). */
const OVERRIDES = {
  ml: {
    fm: { num_factors: 16, epochs: 8, factors_lr: 0.01, factors_wd: 0.0001 },
    knn: { k: 40 },
    evaluation: { bootstrapSamples: 100 },
  },
};
/** A degenerate model: one epoch at learning rates that leave the random initialization in place. */
const WORSE = { ml: { fm: { epochs: 1, factors_lr: 1e-6, linear_lr: 1e-6, bias_lr: 1e-6 } } };

/** Each user's ratings in time order: the first 75 % are batch 1, the rest arrive later as batch 2. */
function batches(): { first: string; second: string; users: number[] } {
  const world = new SyntheticWorld({ users: 250, movies: 300, meanRatingsPerUser: 40, seed: 7 });
  const header = 'userId,movieId,rating,timestamp';
  const first = [header];
  const second = [header];
  const users: number[] = [];
  for (const user of world.users()) {
    users.push(user.userId);
    const cut = Math.ceil(user.movies.length * 0.75);
    user.movies.forEach((movie, i) => {
      const line = `${user.userId},${world.movieIds[movie]},${user.ratings[i].toFixed(1)},${Math.round(user.timestamps[i])}`;
      (i < cut ? first : second).push(line);
    });
  }
  return { first: `${first.join('\n')}\n`, second: `${second.join('\n')}\n`, users };
}

/** The poll loop's repeats collapsed, so a path reads as the happy path however many polls it took. */
function collapsePolls(path: readonly string[]): string[] {
  const out: string[] = [];
  for (const state of path) {
    if ([D.countPoll, D.pollBudgetLeft].includes(state as never)) continue;
    if (
      (state === D.waitForEndpoint || state === D.describeEndpoint || state === D.endpointStatus) &&
      out.includes(state)
    ) {
      continue;
    }
    out.push(state);
  }
  return out;
}

describe('npm start, end to end on a generated data set', () => {
  const home = mkdtempSync(join(tmpdir(), 'reelflow-e2e-'));
  const data = batches();
  const events: PipelineEvent[] = [];
  const runs: RunRecord[] = [];
  let runtime: LocalRuntime;

  const paths = (runId: string, workflow: 'retrain' | 'deploy', from = 0): string[] =>
    events
      .slice(from)
      .flatMap((e) =>
        e.type === 'state' && e.runId === runId && e.workflow === workflow && e.event.type === 'entered'
          ? [e.event.state]
          : [],
      );
  const recommend = async (userId: number): Promise<{ status: number; body: RecommendResponse }> => {
    const response = await fetch(`${runtime.recommendUrl}?user_id=${userId}`);
    return { status: response.status, body: (await response.json()) as RecommendResponse };
  };
  const bucketKeys = async (prefix: string): Promise<string[]> => {
    const listed = await runtime.s3.send(
      new ListObjectsV2Command({ Bucket: runtime.bucket, Prefix: prefix }),
    );
    return (listed.Contents ?? []).map((o) => o.Key!);
  };
  const s3Text = async (key: string): Promise<string> => {
    const response = await runtime.s3.send(new GetObjectCommand({ Bucket: runtime.bucket, Key: key }));
    return response.Body!.transformToString();
  };

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      home,
      config: await loadDeployConfig({ overrides: OVERRIDES }),
      approver: fixedApprover(true, 'the e2e test'),
      msPerSecond: MS_PER_SECOND,
    });
    runtime.onPipelineEvent((event) => events.push(event));
  }, 60_000);

  afterAll(async () => {
    await runtime?.stop();
  });

  it('runs on Node.js 22 or later (npm runs the bundled node@22), with the definitions the CDK app renders', () => {
    // aws-local-stepfunctions 3 needs Node.js >= 22 (it calls Promise.withResolvers); npm test runs jest
    // on node_modules/.bin/node, the `node` devDependency, whatever node is on PATH.
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(22);
    expect(Object.keys(runtime.workflowDefinitions.retrain.States)).toContain(R.trainFm);
  });

  it('run 0: a run on the empty bucket ends NothingToDo, with no job and no failure notice', async () => {
    const run = runtime.startRun();
    const record = await run.done;
    runs.push(record);

    expect(record).toMatchObject({ status: 'NothingToDo', stage: 'Retrain', servingVersion: null });
    expect(paths(run.runId, 'retrain')).toEqual([
      R.loadConfig,
      R.planRun,
      'PrepareWhere?',
      R.prepare,
      R.hasData,
      R.nothingToDo,
    ]);
    expect(paths(run.runId, 'deploy')).toEqual([]);
    expect(runtime.notifications.sent).toEqual([]);
  }, 60_000);

  it('run 1: the first batch fails at Evaluate, is retried with fresh names, then trained, evaluated, approved and deployed', async () => {
    // GIVEN the first attempt loses its held-out split while the transform runs (Evaluate then fails)
    let inject = true;
    runtime.onPipelineEvent((e) => {
      if (!inject || e.type !== 'state' || e.event.type !== 'entered') return;
      if (e.event.state !== R.transformCandidateOnly) return;
      inject = false;
      void runtime.s3.send(
        new DeleteObjectCommand({ Bucket: runtime.bucket, Key: `runs/${e.runId}/prepared/split/test.csv` }),
      );
    });
    const first = await runtime.upload('ratings/2026-01-01-batch1.csv', data.first);
    const failed = await first.done;
    runs.push(failed);
    expect(failed).toMatchObject({ status: 'Failed', stage: 'Retrain', failedState: R.evaluate });
    const firstAttempt = JSON.parse(await s3Text(`runs/${first.runId}/run.json`)).attempt as string;
    expect(runtime.sagemaker.model(`reelflow-model-${first.runId}-${firstAttempt}`)).toBeDefined();

    // WHEN the Retrain stage is retried (same run id, a new workflow execution)
    const mark = events.length;
    const run = await runtime.pipeline.retry(first.runId);
    const record = await run.done;
    runs.push(record);

    // THEN the retry names everything afresh instead of failing on "already exists"
    expect(run.runId).toBe(first.runId);
    const summary = JSON.parse(await s3Text(`runs/${run.runId}/evaluation/summary.json`));
    const attempt = JSON.parse(await s3Text(`runs/${run.runId}/run.json`)).attempt as string;
    expect(attempt).not.toBe(firstAttempt);
    expect(summary.names.fmJob).toBe(`reelflow-fm-${run.runId}-${attempt}`);
    expect(summary.names.model).toBe(`reelflow-model-${run.runId}-${attempt}`);

    expect(record).toMatchObject({ status: 'Succeeded', stage: 'Deploy', servingVersion: run.runId });
    expect(paths(run.runId, 'retrain', mark)).toEqual([
      R.loadConfig,
      R.planRun,
      'PrepareWhere?',
      R.prepare,
      R.hasData,
      R.trainFm,
      'BuildVectorsWhere?',
      R.buildVectors,
      R.trainKnn,
      R.createModel,
      R.createTransformModel,
      R.readProduction,
      R.noProduction,
      R.hasProduction,
      R.transformCandidateOnly,
      'EvaluateWhere?',
      R.evaluate,
      R.gate,
      R.candidateReady,
    ]);
    expect(collapsePolls(paths(run.runId, 'deploy', mark))).toEqual([
      D.loadCandidate,
      D.gatePassed,
      D.readProduction,
      D.noProduction,
      D.sameProduction,
      D.nameEndpointConfig,
      D.createEndpointConfig,
      D.findEndpoint,
      D.endpointExists,
      D.createEndpoint,
      D.startPolling,
      D.waitForEndpoint,
      D.describeEndpoint,
      D.endpointStatus,
      D.newConfigServing,
      D.recordDeployed,
      D.smokeTest,
      D.notifyDeployed,
      D.deployed,
    ]);
    const approval = events.find((e) => e.type === 'approval-requested' && e.runId === run.runId);
    expect(approval?.type === 'approval-requested' && approval.request.approvalText).toMatch(/ndcg@10/);

    // The evaluation: a local copy with the top-level shape, and the HTML report.
    const evaluation = JSON.parse(readFileSync(record.evaluationPath!, 'utf8'));
    expect(evaluation).toMatchObject({ production: null, gate: { passed: true } });
    for (const model of [
      evaluation.candidate,
      evaluation.baselines.popularity,
      evaluation.baselines.random,
    ]) {
      expect(model).toEqual(
        expect.objectContaining({ 'precision@10': expect.any(Number), 'ndcg@10': expect.any(Number) }),
      );
    }
    expect(evaluation.candidate['ndcg@10']).toBeGreaterThan(evaluation.baselines.popularity['ndcg@10']);
    expect(readFileSync(record.reportPath!, 'utf8')).toMatch(/^<!DOCTYPE html>/);
    expect(record.timings.stages).toEqual(
      expect.objectContaining({ Retrain: expect.any(Number), Deploy: expect.any(Number) }),
    );

    const answer = await recommend(3);
    expect(answer.status).toBe(200);
    expect(answer.body.modelVersion).toBe(run.runId);
    expect(answer.body.itemList.map((i) => Number(i.itemId))).toEqual(answer.body.movies);
  }, 120_000);

  it('run 2: batch 2 is evaluated against run 1, approved and switched blue/green while the API serves', async () => {
    const v1 = runs[2].runId;
    const users = [...data.users, 900_001, 900_002];
    const answers: { userId: number; status: number; body: RecommendResponse }[] = [];
    let loop: Promise<void> | undefined;
    let deploying = false;
    const shifts: number[] = [];
    runtime.onDeploymentEvent((event) => {
      if (deploying && event.phase === 'shift') shifts.push(event.newTrafficShare ?? -1);
    });
    runtime.onPipelineEvent((event) => {
      if (event.type !== 'stage-started' || event.stage !== 'Deploy' || loop) return;
      deploying = true;
      // GIVEN a bounded request loop running for about the planned canary + wait + bake
      const pace = ((300 + 300 + 600) * MS_PER_SECOND * CONCURRENCY) / REQUESTS;
      let next = 0;
      loop = Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < REQUESTS) {
            const userId = users[next++ % users.length];
            answers.push({ userId, ...(await recommend(userId)) });
            await new Promise((resolve) => setTimeout(resolve, pace));
          }
        }),
      ).then(() => undefined);
    });

    // WHEN batch 2 arrives
    const run = await runtime.upload('ratings/2026-02-01-batch2.csv', data.second);
    const record = await run.done;
    await loop;
    runs.push(record);
    const v2 = run.runId;

    // THEN the run compared against production and deployed blue/green with a canary
    expect(record).toMatchObject({ status: 'Succeeded', servingVersion: v2 });
    expect(paths(v2, 'retrain')).toEqual(
      expect.arrayContaining([
        R.readProduction,
        R.describeProductionModel,
        R.createProductionTransformModel,
        R.transformBoth,
        R.transformProduction,
      ]),
    );
    expect(paths(v2, 'deploy')).toContain(D.updateEndpoint);
    expect(shifts).toEqual([0.5, 1]);
    const evaluation = JSON.parse(readFileSync(record.evaluationPath!, 'utf8'));
    expect(evaluation.production).toEqual(expect.objectContaining({ 'ndcg@10': expect.any(Number) }));
    expect(evaluation.meta.productionVersion).toBe(v1);

    // AND every answer during the switch was a 200 from exactly one version: its version's pipeline
    // (that version's bundle and k-NN index) gives exactly those movies for that user.
    expect(answers).toHaveLength(REQUESTS);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    const expected = new Map<string, Map<number, number[]>>();
    for (const version of [v1, v2]) {
      const names = JSON.parse(await s3Text(`runs/${version}/evaluation/summary.json`)).names;
      const model = runtime.sagemaker.model(names.model);
      const url = (host: string) =>
        model.Containers!.find((c) => c.ContainerHostname === host)!.ModelDataUrl!;
      const key = (uri: string) => uri.replace(`s3://${runtime.bucket}/`, '');
      const readBytes = async (uri: string) => {
        const response = await runtime.s3.send(
          new GetObjectCommand({ Bucket: runtime.bucket, Key: key(uri) }),
        );
        return response.Body!.transformToByteArray();
      };
      const bundle = await readServingBundle(await readBytes(url('pre')));
      const { index } = await readKnnModelTarGz(await readBytes(url('knn')));
      expect(bundle.manifest.modelVersion).toBe(version);
      expect(bundle.manifest.k).toBe(40);
      expect(index.count).toBeGreaterThan(24);
      const served = serveUsers(bundle, index, users);
      expect(served.every((s) => s.modelVersion === version)).toBe(true);
      expected.set(version, new Map(served.map((s) => [s.user_id, s.movies])));
    }
    const byVersion = new Map<string, number>();
    for (const answer of answers) {
      const movies = expected.get(answer.body.modelVersion)?.get(answer.userId);
      expect({ user: answer.userId, version: answer.body.modelVersion, movies: answer.body.movies }).toEqual({
        user: answer.userId,
        version: answer.body.modelVersion,
        movies,
      });
      byVersion.set(answer.body.modelVersion, (byVersion.get(answer.body.modelVersion) ?? 0) + 1);
    }
    expect([...byVersion.keys()].sort()).toEqual([v1, v2].sort());
    // The two versions disagree for most users, so "consistent with one version" is a real check.
    const differ = data.users.filter(
      (u) => JSON.stringify(expected.get(v1)!.get(u)) !== JSON.stringify(expected.get(v2)!.get(u)),
    );
    expect(differ.length).toBeGreaterThan(data.users.length / 2);
    expect((await recommend(3)).body.modelVersion).toBe(v2);
  }, 120_000);

  it('run 3: a bad batch fails at validation with its report; version 2 keeps serving; the upload is quarantined', async () => {
    const v2 = runs[3].runId;
    const bad = `userId,movieId,rating,timestamp\n${'x,1,4.0,1300000000\n'.repeat(600)}`;
    const run = await runtime.upload('ratings/2026-03-01-bad.csv', bad);
    const record = await run.done;
    runs.push(record);

    expect(record).toMatchObject({
      status: 'Failed',
      stage: 'Retrain',
      failedState: 'Prepare',
      servingVersion: v2,
    });
    expect(record.reason).toMatch(/^data rejected at validation: rejected: .*bad/);
    expect(paths(run.runId, 'retrain')).toEqual([
      R.loadConfig,
      R.planRun,
      'PrepareWhere?',
      R.prepare,
      R.notifyFailure,
      R.retrainFailed,
    ]);
    const finished = events.find((e) => e.type === 'run-finished' && e.record.runId === run.runId);
    expect(finished?.type === 'run-finished' && finished.validation).toMatchObject({
      accepted: false,
      reasons: { non_integer_id: 600 },
    });
    expect(existsSync(join(home, 'runs', run.runId, 'validation.json'))).toBe(true);
    expect(runtime.notifications.sent.at(-1)?.subject).toBe('reelflow: retrain run failed');
    // The batch left the training set by itself (nothing to delete by hand: the next run proceeds).
    expect(await bucketKeys('ratings/')).not.toContain('ratings/2026-03-01-bad.csv');
    expect(await bucketKeys('quarantine/')).toContain('quarantine/2026-03-01-bad.csv');
    expect((await recommend(3)).body.modelVersion).toBe(v2);
  }, 60_000);

  it('run 4: a candidate forced to be worse is rejected by the gate on its real evaluation', async () => {
    const v2 = runs[3].runId;
    const good = runtime.config;
    runtime.updateConfig(await loadDeployConfig({ overrides: deepMerge(OVERRIDES, WORSE) }));
    try {
      const run = runtime.startRun();
      const record = await run.done;
      runs.push(record);
      expect(record).toMatchObject({
        status: 'Rejected',
        stage: 'Retrain',
        failedState: 'Gate',
        servingVersion: v2,
      });
      expect(paths(run.runId, 'retrain').slice(-3)).toEqual([R.gate, R.notifyRejected, R.candidateRejected]);
      const evaluation = JSON.parse(readFileSync(record.evaluationPath!, 'utf8'));
      expect(evaluation.gate.passed).toBe(false);
      expect(evaluation.gate.failures.join('\n')).toMatch(/most-popular|regress/);
      expect(evaluation.candidate['ndcg@10']).toBeLessThan(evaluation.baselines.popularity['ndcg@10']);
      expect(record.reason).toMatch(/^the gate rejected the candidate: /);
      expect(JSON.parse(await s3Text(`runs/${run.runId}/evaluation/summary.json`)).gate.passed).toBe(false);
      expect((await recommend(3)).body.modelVersion).toBe(v2);
    } finally {
      runtime.updateConfig(good);
    }
  }, 60_000);

  it('run 5: an alarm tripped during the bake rolls the update back to version 2, recorded with the reason', async () => {
    const v2 = runs[3].runId;
    const latencyAlarm = rollbackAlarmNames(runtime.config.endpoint.name)[1];
    let run5 = '';
    runtime.onDeploymentEvent((event) => {
      // GIVEN the update is baking with all traffic on the new fleet, WHEN the latency alarm trips
      if (event.phase === 'bake' && run5 && event.configName.includes(run5)) {
        runtime.alarms.setAlarmState(latencyAlarm, 'ALARM', 'tripped by the e2e test during the bake');
      }
    });
    const run = runtime.startRun();
    run5 = run.runId;
    const record = await run.done;
    runs.push(record);

    // THEN the endpoint is back on version 2's config, InService with no FailureReason (as on AWS)
    expect(record).toMatchObject({ status: 'RolledBack', stage: 'Deploy', servingVersion: v2 });
    expect(record.reason).toContain(latencyAlarm);
    const endpoint = runtime.sagemaker.describeEndpoint({ EndpointName: runtime.config.endpoint.name });
    const v2Config = expect.stringMatching(new RegExp(`^reelflow-config-${v2}-[0-9a-f]{8}$`));
    expect(endpoint).toMatchObject({ EndpointStatus: 'InService', EndpointConfigName: v2Config });
    expect(endpoint.FailureReason).toBeUndefined();
    expect(paths(run.runId, 'deploy').slice(-4)).toEqual([
      D.readRollbackAlarms,
      D.recordRollback,
      D.notifyRollback,
      D.rolledBack,
    ]);
    const deployment = JSON.parse(await s3Text(`runs/${run.runId}/deployment.json`));
    expect(deployment).toMatchObject({
      outcome: 'rolled-back',
      servingConfigName: v2Config,
      alarms: [latencyAlarm],
    });
    expect(runtime.servingVersion()).toBe(v2);
    expect((await recommend(3)).body.modelVersion).toBe(v2);
  }, 60_000);

  it('run 6: a Failed endpoint is deleted and created anew, and the new version serves', async () => {
    // GIVEN the endpoint is Failed (it serves nothing; UpdateEndpoint would refuse it)
    const name = runtime.config.endpoint.name;
    runtime.sagemaker.hosting.failEndpoint(name, 'instance health check failed (e2e test)');
    expect(runtime.sagemaker.describeEndpoint({ EndpointName: name }).EndpointStatus).toBe('Failed');

    // WHEN the next run deploys
    const run = runtime.startRun();
    const record = await run.done;
    runs.push(record);

    // THEN the deploy deleted the Failed endpoint, waited until it was gone, created it and serves the run
    expect(record).toMatchObject({ status: 'Succeeded', stage: 'Deploy', servingVersion: run.runId });
    const path = collapsePolls(paths(run.runId, 'deploy'));
    expect(path).not.toContain(D.updateEndpoint);
    expect(path.slice(path.indexOf(D.endpointExists), path.indexOf(D.createEndpoint) + 1)).toEqual(
      expect.arrayContaining([D.deleteFailedEndpoint, D.checkDeleted, D.endpointGone, D.createEndpoint]),
    );
    expect(runtime.sagemaker.describeEndpoint({ EndpointName: name })).toMatchObject({
      EndpointStatus: 'InService',
      EndpointConfigName: expect.stringMatching(new RegExp(`^reelflow-config-${run.runId}-[0-9a-f]{8}$`)),
    });
    expect((await recommend(3)).body.modelVersion).toBe(run.runId);

    // AND the history holds one line per run (run 1 twice: failed, then retried)
    const history = await readRuns(join(home, 'runs.jsonl'));
    expect(history.map((r) => r.status)).toEqual([
      'NothingToDo',
      'Failed',
      'Succeeded',
      'Succeeded',
      'Failed',
      'Rejected',
      'RolledBack',
      'Succeeded',
    ]);
  }, 60_000);
});
