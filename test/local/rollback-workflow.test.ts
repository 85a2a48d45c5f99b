/**
 * Issue 10, rollback, on the local runtime: two runs are trained, approved and deployed by the local
 * pipeline (A, then B, which serves), then the DEPLOY state machine is started directly with the input
 * `reelflow rollback` gives it (`{ runId: A, rollback: { id, from, reason, requestedBy } }`):
 *
 * 1. a rollback whose `from` is not what serves (someone deployed meanwhile) ends StaleBaseline and leaves
 *    the endpoint, the production record and A's deployment.json alone;
 * 2. a rollback whose canary trips a rollback alarm during the bake ends RolledBack: B keeps serving;
 * 3. the rollback from B succeeds: A's hosting model serves on a new endpoint config (blue/green, through
 *    UpdateEndpoint), the production record says A with the rollbackId, the rollback has its own record
 *    under runs/A/rollbacks/ and runs/A/deployment.json is the one A's own deployment wrote.
 *
 * The rendered deploy definition runs on the local engine with the runtime's own services and handlers
 * (a StateMachineRunner bound as the runtime binds its own: the runtime starts deploy executions only
 * from its pipeline). Waits run at 2 ms per configured second.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  DeploymentRecord,
  ProductionRecord,
  RecommendResponse,
  RunSummary,
} from '../../functions/contracts';
import { fixedApprover } from '../../local/approval';
import { loadDeployConfig } from '../../local/config';
import { loadProjectHandlers, type ProjectHandlers } from '../../local/handlers';
import { LocalRuntime } from '../../local/runtime';
import { SyntheticWorld } from '../../local/sample/synthetic';
import { StateMachineRunner, type ExecutionResult } from '../../local/state-machine-runner';
import { taskBindings } from '../../local/task-bindings';
import { DEPLOY_STATES as D } from '../../pipeline/deploy-workflow';
import { productionParameterName, rollbackAlarmNames } from '../../pipeline/names';

const MS_PER_SECOND = 2;
/**
 * Small and fast: model quality is not what this test is about, so the gate passes whatever the small
 * data set gives (no most-popular check, any regression).
 */
const OVERRIDES = {
  ml: {
    fm: { num_factors: 8, epochs: 4, factors_lr: 0.01, factors_wd: 0.0001 },
    knn: { k: 30 },
    evaluation: { bootstrapSamples: 20 },
    gate: { maxRegression: 1, mustBeatPopularity: false },
  },
};

/** Each user's ratings in time order: the first 75 % are batch 1, the rest batch 2. */
function batches(): [string, string] {
  const world = new SyntheticWorld({ users: 120, movies: 150, meanRatingsPerUser: 30, seed: 7 });
  const header = 'userId,movieId,rating,timestamp';
  const first = [header];
  const second = [header];
  for (const user of world.users()) {
    const cut = Math.ceil(user.movies.length * 0.75);
    user.movies.forEach((movie, i) => {
      const line = `${user.userId},${world.movieIds[movie]},${user.ratings[i].toFixed(1)},${Math.round(user.timestamps[i])}`;
      (i < cut ? first : second).push(line);
    });
  }
  return [`${first.join('\n')}\n`, `${second.join('\n')}\n`];
}

describe('reelflow rollback: the deploy state machine started with a rollback request', () => {
  const home = mkdtempSync(join(tmpdir(), 'reelflow-rollback-'));
  let runtime: LocalRuntime;
  let handlers: ProjectHandlers;
  let deploy: StateMachineRunner;
  let a = '';
  let b = '';
  /** runs/A/deployment.json as A's own deployment wrote it. */
  let aDeployment = '';
  /** The endpoint config A's own deployment put behind the endpoint (before B replaced it). */
  let aConfig = '';

  const s3Text = async (key: string): Promise<string> => {
    const response = await runtime.s3.send(new GetObjectCommand({ Bucket: runtime.bucket, Key: key }));
    return response.Body!.transformToString();
  };
  const production = (): ProductionRecord =>
    JSON.parse(runtime.parameters.value(productionParameterName(runtime.config))!) as ProductionRecord;
  const servingConfig = (): string =>
    String(
      runtime.sagemaker.describeEndpoint({ EndpointName: runtime.config.endpoint.name }).EndpointConfigName,
    );
  const rollback = (id: string, from: string): { runId: string; rollback: Record<string, string> } => ({
    runId: a,
    rollback: { id, from, reason: 'the rollback test', requestedBy: 'jest' },
  });
  const start = (input: ReturnType<typeof rollback>): Promise<ExecutionResult> =>
    deploy.run(input, { executionName: input.rollback.id });
  const rollbackId = (): string => `rollback-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      home,
      config: await loadDeployConfig({ overrides: OVERRIDES }),
      approver: fixedApprover(true, 'the rollback test'),
      msPerSecond: MS_PER_SECOND,
    });
    // The runtime's handlers are loaded (its environment applied): the same modules, bound the same way.
    handlers = loadProjectHandlers();
    deploy = new StateMachineRunner(
      runtime.workflowDefinitions.deploy,
      taskBindings({
        sagemaker: runtime.sagemaker,
        parameters: runtime.parameters,
        alarms: runtime.alarms,
        notifications: runtime.notifications,
        s3: runtime.s3,
        lambdas: handlers.lambdas,
      }),
      runtime.scale,
    );

    // GIVEN run A deployed, then run B deployed over it (B serves)
    const [first, second] = batches();
    const runA = await (await runtime.upload('ratings/2026-01-01-batch1.csv', first)).done;
    expect(runA).toMatchObject({ status: 'Succeeded', servingVersion: runA.runId });
    a = runA.runId;
    aConfig = servingConfig();
    aDeployment = await s3Text(`runs/${a}/deployment.json`);
    const runB = await (await runtime.upload('ratings/2026-02-01-batch2.csv', second)).done;
    expect(runB).toMatchObject({ status: 'Succeeded', servingVersion: runB.runId });
    b = runB.runId;
  }, 180_000);

  afterAll(async () => {
    await handlers?.stop();
    await runtime?.stop();
  });

  it('ends StaleBaseline, without touching the endpoint, when another version serves than the one it rolls back from', async () => {
    // GIVEN the operator saw A serving (B was deployed since)
    const id = rollbackId();
    const configBefore = servingConfig();
    const calls: string[] = [];
    runtime.onDeploymentEvent((event) => calls.push(`${event.phase} ${event.configName}`));

    // WHEN the rollback "from A" to A runs
    const result = await start(rollback(id, a));

    // THEN it is rejected before any SageMaker call; B keeps serving, recorded under rollbacks/
    expect(result.status).toBe('FAILED');
    expect(result.error).toEqual({
      Error: 'StaleBaseline',
      Cause: `rollback ${id} was from ${a} to ${a}, but ${b} is serving now; check what serves and ask for the rollback again`,
    });
    expect(result.path).toContain(D.compareWithRollbackSource);
    expect(result.path).not.toContain(D.createEndpointConfig);
    expect(calls).toEqual([]);
    expect(servingConfig()).toBe(configBefore);
    expect(production()).toMatchObject({ runId: b });
    expect(production().rollbackId).toBeUndefined();
    const record = JSON.parse(await s3Text(`runs/${a}/rollbacks/${id}.json`)) as DeploymentRecord;
    expect(record).toMatchObject({ outcome: 'stale-baseline', rollback: { id, from: a, to: a } });
    expect(await s3Text(`runs/${a}/deployment.json`)).toBe(aDeployment);
  }, 30_000);

  it('ends RolledBack, B still serving, when a rollback alarm trips during the bake', async () => {
    // GIVEN the latency alarm trips while the rollback's config bakes
    const id = rollbackId();
    const alarm = rollbackAlarmNames(runtime.config.endpoint.name)[1];
    const configBefore = servingConfig();
    let tripped = false;
    let running = true;
    runtime.onDeploymentEvent((event) => {
      if (running && !tripped && event.phase === 'bake' && event.configName.includes(a)) {
        tripped = true;
        runtime.alarms.setAlarmState(alarm, 'ALARM', 'tripped by the rollback test during the bake');
      }
    });

    // WHEN the rollback from B to A runs
    const result = await start(rollback(id, b)).finally(() => {
      running = false;
    });
    runtime.alarms.setAlarmState(alarm, 'OK', 'reset by the rollback test');

    // THEN the guardrails put B's config back, and the rollback is recorded as rolled back
    expect(tripped).toBe(true);
    expect(result.status).toBe('FAILED');
    expect(result.error?.Error).toBe('RolledBack');
    expect(result.path).toContain(D.updateEndpoint);
    expect(servingConfig()).toBe(configBefore);
    expect(production()).toMatchObject({ runId: b });
    const record = JSON.parse(await s3Text(`runs/${a}/rollbacks/${id}.json`)) as DeploymentRecord;
    expect(record).toMatchObject({ outcome: 'rolled-back', alarms: [alarm], rollback: { id, from: b } });
    expect(runtime.notifications.sent.at(-1)).toMatchObject({
      event: 'rolled-back',
      message: expect.stringContaining(`reelflow rollback ${id} to run ${a} (from ${b}) was rolled back`),
    });
  }, 30_000);

  it('puts A back blue/green on a new endpoint config, recorded as the rollback', async () => {
    // GIVEN B serves
    const id = rollbackId();
    const bConfig = servingConfig();
    const phases: string[] = [];
    runtime.onDeploymentEvent((event) => phases.push(event.phase));

    // WHEN the rollback from B to A runs
    const result = await start(rollback(id, b));

    // THEN it succeeds through the same blue/green update, smoke test and notice as a deploy
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.path).toEqual(
      expect.arrayContaining([
        D.takeRollbackRequest,
        D.compareWithRollbackSource,
        D.sameProduction,
        D.createEndpointConfig,
        D.updateEndpoint,
        D.newConfigServing,
        D.recordDeployed,
        D.smokeTest,
        D.notifyDeployed,
        D.deployed,
      ]),
    );
    expect(phases).toEqual(expect.arrayContaining(['shift', 'bake', 'succeeded']));
    // AND A's hosting model serves, on a config of its own (neither B's nor A's first one)
    const config = servingConfig();
    const names = (JSON.parse(await s3Text(`runs/${a}/evaluation/summary.json`)) as RunSummary).names;
    expect(config).toMatch(new RegExp(`^${names.endpointConfigPrefix}-[0-9a-f]{8}$`));
    expect([bConfig, aConfig]).not.toContain(config);
    expect(runtime.sagemaker.endpointConfig(config).ProductionVariants?.[0]).toMatchObject({
      ModelName: names.model,
    });
    const response = await fetch(`${runtime.recommendUrl}?user_id=3`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as RecommendResponse).modelVersion).toBe(a);
    // AND the production record and the rollback's own record say so; A's deployment.json is unchanged
    expect(production()).toMatchObject({ runId: a, endpointConfigName: config, rollbackId: id });
    expect(runtime.servingVersion()).toBe(a);
    const record = JSON.parse(await s3Text(`runs/${a}/rollbacks/${id}.json`)) as DeploymentRecord;
    expect(record).toMatchObject({
      runId: a,
      outcome: 'deployed',
      servingConfigName: config,
      rollback: { id, from: b, to: a, reason: 'the rollback test', requestedBy: 'jest' },
    });
    expect(await s3Text(`runs/${a}/deployment.json`)).toBe(aDeployment);
    expect(runtime.notifications.sent.at(-1)).toMatchObject({
      event: 'deployed',
      message: `reelflow rollback ${id} to run ${a} (from ${b}) is live on endpoint ${runtime.config.endpoint.name} (${config}); the smoke test passed.`,
    });
  }, 30_000);
});
