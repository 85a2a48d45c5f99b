import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { aslErrors } from './asl';
import type { RunSummary } from '../../functions/contracts';
import { recordDeployment, type RecordDeploymentInput } from '../../functions/workflow/record-deployment';
import { smokeTest, type SmokeTestInput } from '../../functions/workflow/smoke-test';
import { parseDeployConfig } from '../../pipeline/config';
import { DEPLOY_STATES, DeployWorkflow, deploymentConfig } from '../../pipeline/deploy-workflow';
import { RENDER_PLACEHOLDERS, renderWorkflowDefinitions } from '../../pipeline/render';
import { setExecutionName, useExecutionName } from './execution-context';
import { allStates, runLocally, taskError, type TaskHandler } from './run-locally';

useExecutionName();

const config = parseDeployConfig({});
const definition = renderWorkflowDefinitions(config).deploy;
const S = DEPLOY_STATES;
const RUN = 'run-0002';
/** Stands for the name this attempt's NameEndpointConfig made (the handlers swap it in). */
const NEW_CONFIG = '<new config>';
const CONFIG_PREFIX = `reelflow-config-${RUN}`;
const OLD_CONFIG = 'reelflow-config-run-0001';
const ALARMS = [
  'reelflow-recommender-rollback-5xx',
  'reelflow-recommender-rollback-model-latency-p99',
  'reelflow-recommender-rollback-api-5xx-rate',
];

const summary = (passed = true): RunSummary => ({
  runId: RUN,
  trigger: { key: 'ratings/u.data', versionId: 'v1' },
  names: {
    fmJob: `reelflow-fm-${RUN}`,
    knnJob: `reelflow-knn-${RUN}`,
    model: `reelflow-model-${RUN}`,
    transformModel: `reelflow-tmodel-${RUN}`,
    productionTransformModel: `reelflow-ptmodel-${RUN}`,
    candidateTransformJob: `reelflow-eval-${RUN}`,
    productionTransformJob: `reelflow-evalprod-${RUN}`,
    endpointConfigPrefix: CONFIG_PREFIX,
  },
  gate: { passed, reasons: [] },
  approvalText: 'ndcg@10 0.11 vs 0.10',
  candidateMetrics: { 'ndcg@10': 0.11 },
  productionMetrics: { 'ndcg@10': 0.1 },
  productionRunId: 'run-0001',
  reportUri: `s3://reelflow-data/runs/${RUN}/evaluation/report.html`,
  evaluationUri: `s3://reelflow-data/runs/${RUN}/evaluation/evaluation.json`,
});
/** The production record as ReadProduction returns it (GetParameter, decrypted). */
const productionParameter = (runId: string) => ({
  Parameter: {
    Name: '/reelflow/production-model',
    Type: 'SecureString',
    Value: JSON.stringify({
      runId,
      modelName: `reelflow-model-${runId}`,
      endpointConfigName: `reelflow-config-${runId}-0a1b2c3d`,
      deployedAt: '2026-11-24T10:00:00Z',
      metrics: { 'ndcg@10': 0.1 },
    }),
    Version: 3,
  },
});
const endpoint = (status: string, configName: string, extra: Record<string, unknown> = {}) => ({
  EndpointName: 'reelflow-recommender',
  EndpointArn: 'arn:aws:sagemaker:us-east-1:123456789012:endpoint/reelflow-recommender',
  EndpointConfigName: configName,
  EndpointStatus: status,
  ...extra,
});

/**
 * Handlers for a deployment: DescribeEndpoint answers `statuses` in turn, and the record and smoke-test
 * states run the real handlers (in-memory stores, a fake HTTP GET) so the payloads are checked end to end.
 */
function handlers(statuses: ReturnType<typeof endpoint>[], overrides: Record<string, TaskHandler> = {}) {
  const records: RecordDeploymentInput[] = [];
  const production: string[] = [];
  const keys: string[] = [];
  const stores = {
    putRunJson: async (key: string) => {
      keys.push(key);
    },
    putProductionRecord: async (value: string) => {
      production.push(value);
    },
  };
  const settings = { endpointName: 'reelflow-recommender', now: () => new Date('2026-11-25T10:00:00Z') };
  const record: TaskHandler = async (input: RecordDeploymentInput) => {
    records.push(input);
    return recordDeployment(input, stores, settings);
  };
  let created = '';
  const named = (e: ReturnType<typeof endpoint>) =>
    e.EndpointConfigName === NEW_CONFIG ? { ...e, EndpointConfigName: created } : e;
  const served = { movies: [1, 2], itemList: [{ itemId: '1' }, { itemId: '2' }], modelVersion: RUN };
  const map: Record<string, TaskHandler> = {
    [S.loadCandidate]: () => ({ Body: JSON.stringify(summary()), ContentType: 'application/json' }),
    // The version the candidate was evaluated against (summary().productionRunId) still serves.
    [S.readProduction]: () => productionParameter('run-0001'),
    [S.createEndpointConfig]: (input: { EndpointConfigName: string }) => {
      created = input.EndpointConfigName;
      return { EndpointConfigArn: 'arn:...' };
    },
    [S.findEndpoint]: () => endpoint('InService', OLD_CONFIG),
    [S.updateEndpoint]: () => ({ EndpointArn: 'arn:...' }),
    [S.createEndpoint]: () => ({ EndpointArn: 'arn:...' }),
    [S.describeEndpoint]: () => named(statuses.shift() ?? endpoint('Updating', NEW_CONFIG)),
    [S.readRollbackAlarms]: () => ({
      MetricAlarms: [{ AlarmName: ALARMS[0], StateValue: 'ALARM' }],
      CompositeAlarms: [],
    }),
    // DescribeAlarms with nothing in ALARM: the SDK may leave the empty list out.
    [S.readFailureAlarms]: () => ({}),
    [S.recordDeployed]: record,
    [S.recordRollback]: record,
    [S.recordFailure]: record,
    [S.recordStaleBaseline]: record,
    [S.smokeTest]: (input: SmokeTestInput) =>
      smokeTest(
        input,
        { apiUrl: 'https://api.example/prod/recommendEndpoint', userId: 1, attempts: 1, delayMs: 0 },
        async () => ({ status: 200, body: JSON.stringify(served) }),
        async () => undefined,
      ),
    [S.notifyDeployed]: () => ({ MessageId: '1' }),
    [S.notifyRollback]: () => ({ MessageId: '2' }),
    [S.notifyFailure]: () => ({ MessageId: '3' }),
    [S.notifyStaleBaseline]: () => ({ MessageId: '4' }),
    ...overrides,
  };
  return { map, records, production, keys, config: () => created };
}

describe('deploy definition', () => {
  it('is valid ASL', () => {
    expect(aslErrors(definition)).toBe('');
  });

  it('catches every Task into the failure path', () => {
    const failurePath = new Set<string>([
      S.readFailureAlarms,
      S.recordFailure,
      S.notifyFailure,
      S.deployFailed,
      S.rolledBack,
      S.staleBaseline,
      S.endpointExists,
    ]);
    const tasks = allStates(definition).filter(({ state }) => state.Type === 'Task');
    expect(tasks).toHaveLength(20);
    for (const { name, state } of tasks) {
      const catchAll = (state.Catch as { ErrorEquals: string[]; Next: string }[] | undefined)?.find((c) =>
        c.ErrorEquals.includes('States.ALL'),
      );
      expect({ name, caught: catchAll !== undefined && failurePath.has(catchAll.Next) }).toEqual({
        name,
        caught: true,
      });
      expect({ name, retried: ((state.Retry as unknown[]) ?? []).length > 0 }).toEqual({
        name,
        retried: true,
      });
    }
  });

  it('creates the endpoint config with the constant variant name, the candidate model and the key', () => {
    expect(definition.States[S.createEndpointConfig]).toMatchObject({
      Resource: 'arn:aws:states:::sagemaker:createEndpointConfig',
      Parameters: {
        'EndpointConfigName.$': '$.endpointConfig.name',
        KmsKeyId: RENDER_PLACEHOLDERS.key,
        ProductionVariants: [
          {
            VariantName: 'AllTraffic',
            'ModelName.$': '$.candidate.names.model',
            InstanceType: 'ml.m5.large',
            InitialInstanceCount: 2,
          },
        ],
      },
    });
  });

  it('updates the endpoint with an SDK call carrying blue/green canary, bake, timeout and the rollback alarms', () => {
    expect(definition.States[S.updateEndpoint]).toMatchObject({
      Resource: 'arn:aws:states:::aws-sdk:sagemaker:updateEndpoint',
      Parameters: {
        EndpointName: 'reelflow-recommender',
        'EndpointConfigName.$': '$.endpointConfig.name',
        DeploymentConfig: {
          BlueGreenUpdatePolicy: {
            TrafficRoutingConfiguration: {
              Type: 'CANARY',
              CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 },
              WaitIntervalInSeconds: 300,
            },
            TerminationWaitInSeconds: 600,
            MaximumExecutionTimeoutInSeconds: 3600,
          },
          AutoRollbackConfiguration: { Alarms: ALARMS.map((AlarmName) => ({ AlarmName })) },
        },
      },
    });
  });

  it('polls DescribeEndpoint every pollIntervalSeconds', () => {
    expect(definition.States[S.waitForEndpoint]).toMatchObject({ Type: 'Wait', Seconds: 60 });
    expect(definition.States[S.pollBudgetLeft]).toMatchObject({
      Choices: [{ Variable: '$.polls.count', NumericLessThan: 90, Next: S.waitForEndpoint }],
      Default: S.pollTimedOut,
    });
  });

  it('accepts the new config only when it is the one serving', () => {
    expect(definition.States[S.newConfigServing]).toMatchObject({
      Choices: [
        {
          Variable: '$.endpoint.EndpointConfigName',
          StringEqualsPath: '$.endpointConfig.name',
          Next: S.recordDeployed,
        },
      ],
      Default: S.readRollbackAlarms,
    });
  });
});

describe('deploymentConfig', () => {
  it('renders LINEAR steps', () => {
    const linear = parseDeployConfig({
      endpoint: { instanceCount: 4 },
      deployment: {
        trafficRouting: 'LINEAR',
        linearStepSize: { type: 'CAPACITY_PERCENT', value: 25 },
        maxExecutionTimeoutSeconds: 3000,
      },
    });
    expect(deploymentConfig(linear, ['a'])).toEqual({
      BlueGreenUpdatePolicy: {
        TrafficRoutingConfiguration: {
          Type: 'LINEAR',
          WaitIntervalInSeconds: 300,
          LinearStepSize: { Type: 'CAPACITY_PERCENT', Value: 25 },
        },
        TerminationWaitInSeconds: 600,
        MaximumExecutionTimeoutInSeconds: 3000,
      },
      AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'a' }] },
    });
  });

  it('renders ALL_AT_ONCE with its wait interval (required even then) and no step size', () => {
    const once = parseDeployConfig({
      endpoint: { instanceCount: 1 },
      deployment: { trafficRouting: 'ALL_AT_ONCE' },
    });
    const policy = deploymentConfig(once, ['a']).BlueGreenUpdatePolicy as Record<
      string,
      Record<string, unknown>
    >;
    expect(policy.TrafficRoutingConfiguration).toEqual({ Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 300 });
  });
});

describe('deploy execution (aws-local-stepfunctions)', () => {
  it('creates the endpoint on the first approved run, then records, smoke-tests and notifies', async () => {
    const h = handlers([endpoint('Creating', NEW_CONFIG), endpoint('InService', NEW_CONFIG)], {
      [S.findEndpoint]: () => {
        throw taskError('SageMaker.SageMakerException', 'Could not find endpoint "reelflow-recommender".');
      },
    });
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.error).toBeUndefined();
    expect(run.path).toEqual([
      S.loadCandidate,
      S.gatePassed,
      S.readProduction,
      S.sameProduction,
      S.nameEndpointConfig,
      S.createEndpointConfig,
      S.findEndpoint,
      S.endpointExists,
      S.createEndpoint,
      S.startPolling,
      S.waitForEndpoint,
      S.describeEndpoint,
      S.endpointStatus,
      S.countPoll,
      S.pollBudgetLeft,
      S.waitForEndpoint,
      S.describeEndpoint,
      S.endpointStatus,
      S.newConfigServing,
      S.recordDeployed,
      S.smokeTest,
      S.notifyDeployed,
      S.deployed,
    ]);
    expect(run.inputs[S.createEndpoint]).toEqual({
      EndpointName: 'reelflow-recommender',
      EndpointConfigName: h.config(),
    });
    expect(h.config()).toMatch(new RegExp(`^${CONFIG_PREFIX}-[0-9a-f]{8}$`));
    expect(h.records.map((r) => r.outcome)).toEqual(['deployed']);
    expect(JSON.parse(h.production[0])).toMatchObject({ runId: RUN, modelName: `reelflow-model-${RUN}` });
    expect(run.output).toMatchObject({ record: { outcome: 'deployed', servingConfigName: h.config() } });
  });

  it('updates an existing endpoint with the guardrails', async () => {
    const h = handlers([endpoint('Updating', NEW_CONFIG), endpoint('InService', NEW_CONFIG)]);
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.error).toBeUndefined();
    expect(run.path).toContain(S.updateEndpoint);
    expect(run.path).not.toContain(S.createEndpoint);
    expect(run.inputs[S.loadCandidate]).toEqual({
      Bucket: 'reelflow-data-123456789012-us-east-1',
      Key: `runs/${RUN}/evaluation/summary.json`,
    });
    expect(run.inputs[S.updateEndpoint]).toMatchObject({
      EndpointName: 'reelflow-recommender',
      EndpointConfigName: h.config(),
      DeploymentConfig: { AutoRollbackConfiguration: { Alarms: ALARMS.map((AlarmName) => ({ AlarmName })) } },
    });
    expect(run.inputs[S.notifyDeployed]).toMatchObject({
      Message: `reelflow run ${RUN} is live on endpoint reelflow-recommender (${h.config()}); the smoke test passed.`,
    });
  });

  it('records an auto-rollback (InService on the old config) with the alarms, and leaves production alone', async () => {
    const h = handlers([endpoint('RollingBack', OLD_CONFIG), endpoint('InService', OLD_CONFIG)]);
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.path.slice(-5)).toEqual([
      S.newConfigServing,
      S.readRollbackAlarms,
      S.recordRollback,
      S.notifyRollback,
      S.rolledBack,
    ]);
    expect(run.inputs[S.readRollbackAlarms]).toEqual({ AlarmNames: ALARMS, StateValue: 'ALARM' });
    expect(h.production).toEqual([]);
    expect(h.records).toHaveLength(1);
    expect(h.records[0]).toMatchObject({
      outcome: 'rolled-back',
      state: { alarms: { MetricAlarms: [{ AlarmName: ALARMS[0] }] } },
    });
    expect(run.error).toEqual({
      name: 'RolledBack',
      cause: `auto-rollback: the endpoint serves ${OLD_CONFIG} instead of ${h.config()}; alarms in ALARM: ${ALARMS[0]}`,
    });
  });

  it('records a failed endpoint and fails', async () => {
    const h = handlers([endpoint('Failed', NEW_CONFIG, { FailureReason: 'image pull failed' })]);
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.path.slice(-6)).toEqual([
      S.endpointStatus,
      S.endpointFailed,
      S.readFailureAlarms,
      S.recordFailure,
      S.notifyFailure,
      S.deployFailed,
    ]);
    expect(run.error).toEqual({ name: 'EndpointFailed', cause: 'The endpoint is Failed after the update' });
    expect(h.records[0]).toMatchObject({ outcome: 'failed' });
    expect(h.production).toEqual([]);
  });

  it('stops polling after maxPolls and fails', async () => {
    const quick = parseDeployConfig({ deployment: { pollIntervalSeconds: 600, maxPolls: 6 } });
    const h = handlers([]);
    const run = await runLocally(renderWorkflowDefinitions(quick).deploy, { runId: RUN }, h.map);

    expect(run.path.filter((s) => s === S.describeEndpoint)).toHaveLength(6);
    expect(run.path.slice(-5)).toEqual([
      S.pollTimedOut,
      S.readFailureAlarms,
      S.recordFailure,
      S.notifyFailure,
      S.deployFailed,
    ]);
    expect(run.error).toEqual({
      name: 'EndpointPollTimeout',
      cause: 'The endpoint is still Updating after 6 polls',
    });
  });

  it('refuses a candidate whose gate did not pass, before touching SageMaker', async () => {
    const h = handlers([], { [S.loadCandidate]: () => ({ Body: JSON.stringify(summary(false)) }) });
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.path).toEqual([S.loadCandidate, S.gatePassed, S.candidateRefused]);
    expect(run.error?.name).toBe('GateNotPassed');
  });

  it('treats a DescribeEndpoint failure other than "not found" as a failure, not as a first run', async () => {
    const h = handlers([], {
      [S.findEndpoint]: () => {
        throw taskError(
          'SageMaker.SageMakerException',
          'User is not authorized to perform sagemaker:DescribeEndpoint',
        );
      },
    });
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.path).toContain(S.findEndpointFailed);
    expect(run.path).not.toContain(S.createEndpoint);
    expect(run.error?.name).toBe('SageMaker.SageMakerException');
  });

  it('records the failure when the smoke test fails after the deployment', async () => {
    const h = handlers([endpoint('InService', NEW_CONFIG)], {
      [S.smokeTest]: () => {
        throw taskError('SmokeTestError', 'served model version run-0001, expected run-0002');
      },
    });
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.path.slice(-5)).toEqual([
      S.smokeTest,
      S.readFailureAlarms,
      S.recordFailure,
      S.notifyFailure,
      S.deployFailed,
    ]);
    expect(h.records.map((r) => r.outcome)).toEqual(['deployed', 'failed']);
    expect(run.error).toEqual({
      name: 'SmokeTestError',
      cause: 'served model version run-0001, expected run-0002',
    });
  });

  it('fails cleanly when the summary is missing', async () => {
    const h = handlers([], {
      [S.loadCandidate]: () => {
        throw taskError('S3.NoSuchKeyException', 'The specified key does not exist.');
      },
    });
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.path).toEqual([
      S.loadCandidate,
      S.readFailureAlarms,
      S.recordFailure,
      S.notifyFailure,
      S.deployFailed,
    ]);
    expect(h.records[0]).toMatchObject({ outcome: 'failed', state: { runId: RUN } });
  });
});

describe('deploy execution: retries, Failed endpoints, nothing to do', () => {
  it('names a new endpoint config on every attempt, so a retried Deploy stage never meets "already exists"', async () => {
    // GIVEN two attempts of the same run (a CodePipeline stage Retry keeps the run id)
    const first = handlers([endpoint('InService', NEW_CONFIG)]);
    const second = handlers([endpoint('InService', NEW_CONFIG)]);

    // WHEN both run
    const runs = [
      await runLocally(definition, { runId: RUN }, first.map),
      await runLocally(definition, { runId: RUN }, second.map),
    ];

    // THEN both deploy, each on its own config name, within SageMaker's 63 characters
    expect(runs.map((r) => r.error)).toEqual([undefined, undefined]);
    expect(first.config()).not.toBe(second.config());
    for (const name of [first.config(), second.config()]) {
      expect(name).toMatch(new RegExp(`^${CONFIG_PREFIX}-[0-9a-f]{8}$`));
      expect(name.length).toBeLessThanOrEqual(63);
    }
  });

  it('deletes a Failed endpoint, waits until it is gone, then creates it with the candidate', async () => {
    // GIVEN the endpoint exists but is Failed; DescribeEndpoint sees it Deleting once, then not at all
    const deleting = [endpoint('Deleting', OLD_CONFIG)];
    const deleted: unknown[] = [];
    const h = handlers([endpoint('Creating', NEW_CONFIG), endpoint('InService', NEW_CONFIG)], {
      [S.findEndpoint]: () => endpoint('Failed', OLD_CONFIG, { FailureReason: 'instance unhealthy' }),
      [S.deleteFailedEndpoint]: (input: unknown) => {
        deleted.push(input);
        return {};
      },
      [S.checkDeleted]: () => {
        const next = deleting.shift();
        if (next) return next;
        throw taskError('SageMaker.SageMakerException', 'Could not find endpoint "reelflow-recommender".');
      },
    });

    // WHEN the deploy runs
    const run = await runLocally(definition, { runId: RUN }, h.map);

    // THEN it never tries UpdateEndpoint on the Failed endpoint: delete, poll until gone, create, serve
    expect(run.error).toBeUndefined();
    expect(run.path).not.toContain(S.updateEndpoint);
    expect(
      run.path.slice(run.path.indexOf(S.endpointExists), run.path.indexOf(S.createEndpoint) + 1),
    ).toEqual([
      S.endpointExists,
      S.deleteFailedEndpoint,
      S.startDeletionPolling,
      S.waitForDeletion,
      S.checkDeleted,
      S.countDeletionPoll,
      S.deletionBudgetLeft,
      S.waitForDeletion,
      S.checkDeleted,
      S.endpointGone,
      S.createEndpoint,
    ]);
    expect(deleted).toEqual([{ EndpointName: 'reelflow-recommender' }]);
    expect(run.inputs[S.createEndpoint]).toEqual({
      EndpointName: 'reelflow-recommender',
      EndpointConfigName: h.config(),
    });
    expect(run.path.slice(-2)).toEqual([S.notifyDeployed, S.deployed]);
    expect(h.records.map((r) => r.outcome)).toEqual(['deployed']);
  });

  it('fails through the failure path when a Failed endpoint is never gone within the poll budget', async () => {
    const quick = parseDeployConfig({ deployment: { pollIntervalSeconds: 600, maxPolls: 6 } });
    const h = handlers([], {
      [S.findEndpoint]: () => endpoint('Failed', OLD_CONFIG),
      [S.deleteFailedEndpoint]: () => ({}),
      [S.checkDeleted]: () => endpoint('Deleting', OLD_CONFIG),
    });
    const run = await runLocally(renderWorkflowDefinitions(quick).deploy, { runId: RUN }, h.map);

    expect(run.path.filter((s) => s === S.checkDeleted)).toHaveLength(6);
    expect(run.path).not.toContain(S.createEndpoint);
    expect(run.path.slice(-4)).toEqual([
      S.readFailureAlarms,
      S.recordFailure,
      S.notifyFailure,
      S.deployFailed,
    ]);
    expect(run.error).toEqual({
      name: 'EndpointDeletionTimeout',
      cause: 'The Failed endpoint is still Deleting after 6 polls',
    });
  });

  it('ends NothingToDeploy, without touching SageMaker or notifying, for a run that found no rating file', async () => {
    const nothing = {
      runId: RUN,
      trigger: { key: 'manual', versionId: 'unknown' },
      nothingToDo: true,
      reason: 'no rating file under ratings/ yet: nothing to train',
      approvalText: 'Nothing to approve',
      reportUri: `s3://reelflow-data/runs/${RUN}/run.json`,
    };
    const h = handlers([], { [S.loadCandidate]: () => ({ Body: JSON.stringify(nothing) }) });
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.error).toBeUndefined();
    expect(run.path).toEqual([S.loadCandidate, S.gatePassed, S.nothingToDeploy]);
    expect(h.records).toEqual([]);
  });
});

describe('deploy execution: stale baseline (issue 9)', () => {
  const SAGEMAKER_STATES = [S.nameEndpointConfig, S.createEndpointConfig, S.findEndpoint, S.updateEndpoint];
  const withSummary = (productionRunId: string | null) => ({
    [S.loadCandidate]: () => ({ Body: JSON.stringify({ ...summary(), productionRunId }) }),
  });
  const notFound = () => {
    throw taskError('Ssm.ParameterNotFoundException', 'Parameter /reelflow/production-model not found.');
  };

  it('reads the production record before it creates an endpoint config', () => {
    expect(definition.States[S.gatePassed]).toMatchObject({
      Choices: [expect.anything(), expect.anything(), expect.anything(), { Next: S.readProduction }],
    });
    expect(definition.States[S.readProduction]).toMatchObject({
      Resource: 'arn:aws:states:::aws-sdk:ssm:getParameter',
      Parameters: { Name: '/reelflow/production-model', WithDecryption: true },
      Catch: [
        { ErrorEquals: ['Ssm.ParameterNotFoundException'], Next: S.noProduction },
        { ErrorEquals: ['States.ALL'], Next: S.readFailureAlarms },
      ],
      Next: S.sameProduction,
    });
    const next = (
      definition.States[S.sameProduction] as { Choices: { Next: string }[]; Default: string }
    ).Choices.map((c) => c.Next);
    expect(new Set(next)).toEqual(new Set([S.nameEndpointConfig, S.recordStaleBaseline]));
    expect(definition.States[S.staleBaseline]).toEqual({
      Type: 'Fail',
      Error: 'StaleBaseline',
      CausePath: '$.recorded.record.reason',
    });
  });

  it('rejects a candidate evaluated against a version that no longer serves, before touching SageMaker', async () => {
    // GIVEN the candidate was compared with run-0001, but run-0003 was deployed since
    const h = handlers([], { [S.readProduction]: () => productionParameter('run-0003') });

    // WHEN the deploy runs
    const run = await runLocally(definition, { runId: RUN }, h.map);

    // THEN it records and announces the stale baseline, and fails with the reason; nothing else changes
    const reason =
      'compared with production run-0001, but run-0003 is serving now; upload again or start a run by hand to re-evaluate';
    expect(run.path).toEqual([
      S.loadCandidate,
      S.gatePassed,
      S.readProduction,
      S.sameProduction,
      S.recordStaleBaseline,
      S.notifyStaleBaseline,
      S.staleBaseline,
    ]);
    for (const state of SAGEMAKER_STATES) expect(run.inputs[state]).toBeUndefined();
    expect(run.inputs[S.readProduction]).toEqual({
      Name: '/reelflow/production-model',
      WithDecryption: true,
    });
    expect(run.error).toEqual({ name: 'StaleBaseline', cause: reason });
    expect(h.production).toEqual([]);
    expect(h.records.map((r) => r.outcome)).toEqual(['stale-baseline']);
    expect(run.inputs[S.notifyStaleBaseline]).toMatchObject({
      Message: `reelflow deploy run ${RUN} was rejected before touching the endpoint; see runs/${RUN}/deployment.json. ${reason}`,
      MessageAttributes: { event: { StringValue: 'deploy-failed' } },
    });
  });

  it('rejects a candidate evaluated with no production when a version serves now, and the reverse', async () => {
    const firstEver = handlers([], {
      ...withSummary(null),
      [S.readProduction]: () => productionParameter('run-0001'),
    });
    const gone = handlers([], { [S.readProduction]: notFound });

    const runs = [
      await runLocally(definition, { runId: RUN }, firstEver.map),
      await runLocally(definition, { runId: RUN }, gone.map),
    ];

    expect(runs.map((r) => r.path.at(-1))).toEqual([S.staleBaseline, S.staleBaseline]);
    expect(runs.map((r) => r.error?.cause)).toEqual([
      'compared with production none, but run-0001 is serving now; upload again or start a run by hand to re-evaluate',
      'compared with production run-0001, but none is serving now; upload again or start a run by hand to re-evaluate',
    ]);
    for (const run of runs) expect(run.inputs[S.createEndpointConfig]).toBeUndefined();
  });

  it('deploys a first candidate evaluated with no production while none serves (ParameterNotFound)', async () => {
    const h = handlers([endpoint('Creating', NEW_CONFIG), endpoint('InService', NEW_CONFIG)], {
      ...withSummary(null),
      [S.readProduction]: notFound,
      [S.findEndpoint]: () => {
        throw taskError('SageMaker.SageMakerException', 'Could not find endpoint "reelflow-recommender".');
      },
    });
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.error).toBeUndefined();
    expect(run.path.slice(0, 6)).toEqual([
      S.loadCandidate,
      S.gatePassed,
      S.readProduction,
      S.noProduction,
      S.sameProduction,
      S.nameEndpointConfig,
    ]);
    expect(run.path.at(-1)).toBe(S.deployed);
    expect(h.records.map((r) => r.outcome)).toEqual(['deployed']);
  });

  it('takes the failure path when the production record cannot be read', async () => {
    const h = handlers([], {
      [S.readProduction]: () => {
        throw taskError('Ssm.AccessDeniedException', 'not authorized to perform ssm:GetParameter');
      },
    });
    const run = await runLocally(definition, { runId: RUN }, h.map);

    expect(run.path.slice(-4)).toEqual([
      S.readFailureAlarms,
      S.recordFailure,
      S.notifyFailure,
      S.deployFailed,
    ]);
    expect(run.inputs[S.createEndpointConfig]).toBeUndefined();
    expect(run.error?.name).toBe('Ssm.AccessDeniedException');
  });
});

describe('deploy execution: rollback (issue 10)', () => {
  // `reelflow rollback --to run-0002` while run-0003 serves; run-0002 was first evaluated against run-0001.
  const ROLLBACK_ID = 'rollback-1a2b3c4d';
  const request = (from: string) => ({
    runId: RUN,
    rollback: { id: ROLLBACK_ID, from, reason: 'latency regression', requestedBy: 'ops@example.com' },
  });
  const rollbackKey = `runs/${RUN}/rollbacks/${ROLLBACK_ID}.json`;
  const SAGEMAKER_STATES = [S.nameEndpointConfig, S.createEndpointConfig, S.findEndpoint, S.updateEndpoint];
  const previous = 'reelflow-config-run-0003-0a1b2c3d';
  beforeEach(() => setExecutionName(ROLLBACK_ID));
  afterEach(() => setExecutionName('deploy-00000000-0000-4000-8000-000000000001'));

  it('routes a rollback request after the gate through two Pass states to ReadProduction', () => {
    expect(definition.States[S.loadCandidate]).toMatchObject({
      ResultSelector: { 'request.$': '$$.Execution.Input', 'runId.$': '$$.Execution.Input.runId' },
    });
    const gate = definition.States[S.gatePassed] as { Choices: { Next: string }[]; Default: string };
    expect(gate.Choices.map((c) => c.Next)).toEqual([
      S.nothingToDeploy,
      S.takeRollbackRequest,
      S.invalidRollback,
      S.readProduction,
    ]);
    expect(gate.Default).toBe(S.candidateRefused);
    expect(JSON.stringify(gate.Choices[1])).toContain('$.request.rollback.from');
    expect(definition.States[S.takeRollbackRequest]).toMatchObject({
      Type: 'Pass',
      InputPath: '$.request.rollback',
      ResultPath: '$.rollback',
      Next: S.compareWithRollbackSource,
    });
    expect(definition.States[S.compareWithRollbackSource]).toMatchObject({
      Type: 'Pass',
      InputPath: '$.rollback.from',
      ResultPath: '$.candidate.productionRunId',
      Next: S.readProduction,
    });
    expect(definition.States[S.invalidRollback]).toMatchObject({
      Type: 'Fail',
      Error: 'InvalidRollbackRequest',
    });
  });

  it('rolls back blue/green to the target model when the version it rolls back from still serves', async () => {
    // GIVEN run-0003 serves (not run-0001, which run-0002's summary was evaluated against)
    const h = handlers([endpoint('Updating', NEW_CONFIG), endpoint('InService', NEW_CONFIG)], {
      [S.readProduction]: () => productionParameter('run-0003'),
      [S.findEndpoint]: () => endpoint('InService', previous),
    });

    // WHEN the rollback from run-0003 runs
    const run = await runLocally(definition, request('run-0003'), h.map);

    // THEN it compares with run-0003, then deploys run-0002's hosting model with the guardrails
    expect(run.error).toBeUndefined();
    expect(run.path.slice(0, 7)).toEqual([
      S.loadCandidate,
      S.gatePassed,
      S.takeRollbackRequest,
      S.compareWithRollbackSource,
      S.readProduction,
      S.sameProduction,
      S.nameEndpointConfig,
    ]);
    expect(run.path.at(-1)).toBe(S.deployed);
    expect(run.inputs[S.createEndpointConfig]).toMatchObject({
      EndpointConfigName: h.config(),
      ProductionVariants: [expect.objectContaining({ ModelName: `reelflow-model-${RUN}` })],
    });
    expect(h.config()).toMatch(new RegExp(`^${CONFIG_PREFIX}-[0-9a-f]{8}$`));
    expect(run.inputs[S.updateEndpoint]).toMatchObject({
      EndpointConfigName: h.config(),
      DeploymentConfig: { AutoRollbackConfiguration: { Alarms: ALARMS.map((AlarmName) => ({ AlarmName })) } },
    });
    // AND it is recorded as the rollback, apart from run-0002's deployment.json
    expect(h.keys).toEqual([rollbackKey]);
    expect(h.records[0].state).toMatchObject({
      rollback: { id: ROLLBACK_ID, from: 'run-0003' },
      candidate: { productionRunId: 'run-0003' },
    });
    expect(JSON.parse(h.production[0])).toMatchObject({ runId: RUN, rollbackId: ROLLBACK_ID });
    expect(run.output).toMatchObject({
      key: rollbackKey,
      record: {
        outcome: 'deployed',
        rollback: { id: ROLLBACK_ID, from: 'run-0003', to: RUN, requestedBy: 'ops@example.com' },
      },
    });
    expect(run.inputs[S.notifyDeployed]).toMatchObject({
      Message: `reelflow rollback ${ROLLBACK_ID} to run ${RUN} (from run-0003) is live on endpoint reelflow-recommender (${h.config()}); the smoke test passed.`,
    });
  });

  it('ends StaleBaseline, before touching SageMaker, when another version serves than the one it rolls back from', async () => {
    // GIVEN someone deployed run-0004 after the operator saw run-0003 serving (the target's summary
    // naming run-0004 as its baseline does not matter for a rollback)
    const h = handlers([], {
      [S.loadCandidate]: () => ({ Body: JSON.stringify({ ...summary(), productionRunId: 'run-0004' }) }),
      [S.readProduction]: () => productionParameter('run-0004'),
    });

    const run = await runLocally(definition, request('run-0003'), h.map);

    const reason = `rollback ${ROLLBACK_ID} was from run-0003 to ${RUN}, but run-0004 is serving now; check what serves and ask for the rollback again`;
    expect(run.path.slice(-4)).toEqual([
      S.sameProduction,
      S.recordStaleBaseline,
      S.notifyStaleBaseline,
      S.staleBaseline,
    ]);
    expect(run.error).toEqual({ name: 'StaleBaseline', cause: reason });
    for (const state of SAGEMAKER_STATES) expect(run.inputs[state]).toBeUndefined();
    expect(h.production).toEqual([]);
    expect(h.keys).toEqual([rollbackKey]);
    expect(run.inputs[S.notifyStaleBaseline]).toMatchObject({
      Message: `reelflow deploy rollback ${ROLLBACK_ID} to run ${RUN} (from run-0003) was rejected before touching the endpoint; see ${rollbackKey}. ${reason}`,
    });
  });

  it('records and announces a guardrail rollback of a rollback as such', async () => {
    const h = handlers([endpoint('RollingBack', previous), endpoint('InService', previous)], {
      [S.readProduction]: () => productionParameter('run-0003'),
      [S.findEndpoint]: () => endpoint('InService', previous),
    });

    const run = await runLocally(definition, request('run-0003'), h.map);

    expect(run.error?.name).toBe('RolledBack');
    expect(h.production).toEqual([]);
    expect(h.keys).toEqual([rollbackKey]);
    expect(run.inputs[S.notifyRollback]).toMatchObject({
      Message: expect.stringMatching(
        new RegExp(`^reelflow rollback ${ROLLBACK_ID} to run ${RUN} \\(from run-0003\\) was rolled back; `),
      ),
    });
  });

  it('names the rollback execution in the failure notice and records the failure under rollbacks/', async () => {
    const h = handlers([], {
      [S.readProduction]: () => productionParameter('run-0003'),
      [S.updateEndpoint]: () => {
        throw taskError('SageMaker.ValidationException', 'Cannot update in-progress endpoint');
      },
    });

    const run = await runLocally(definition, request('run-0003'), h.map);

    expect(run.error?.name).toBe('SageMaker.ValidationException');
    expect(h.keys).toEqual([rollbackKey]);
    expect(run.inputs[S.notifyFailure]).toMatchObject({
      Message: expect.stringMatching(
        new RegExp(
          `^reelflow deploy ${ROLLBACK_ID} of run ${RUN} failed; see its record under runs/${RUN}/\\. `,
        ),
      ),
    });
  });

  it('refuses a rollback request without the version it rolls back from, before reading anything', async () => {
    const h = handlers([]);

    const run = await runLocally(definition, { runId: RUN, rollback: { id: ROLLBACK_ID } }, h.map);

    expect(run.path).toEqual([S.loadCandidate, S.gatePassed, S.invalidRollback]);
    expect(run.error?.name).toBe('InvalidRollbackRequest');
    expect(h.records).toEqual([]);
  });

  it('refuses a rollback to a run whose gate did not pass', async () => {
    const h = handlers([], {
      [S.loadCandidate]: () => ({ Body: JSON.stringify(summary(false)) }),
    });

    const run = await runLocally(definition, request('run-0003'), h.map);

    expect(run.path).toEqual([S.loadCandidate, S.gatePassed, S.candidateRefused]);
    expect(run.error?.name).toBe('GateNotPassed');
  });
});

describe('deploy workflow IAM', () => {
  type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };
  const deployStatements = (): Statement[] => {
    const stack = new Stack(new App(), 'Deploy', { env: { account: '123456789012', region: 'us-east-1' } });
    const fn = (id: string) =>
      lambda.Function.fromFunctionArn(stack, id, `arn:aws:lambda:us-east-1:123456789012:function:${id}`);
    new DeployWorkflow(stack, 'Deploy', {
      config,
      dataBucket: s3.Bucket.fromBucketName(stack, 'Data', 'reelflow-data'),
      key: kms.Key.fromKeyArn(stack, 'Key', RENDER_PLACEHOLDERS.key),
      recordDeployment: fn('record'),
      smokeTest: fn('smoke'),
      alerts: sns.Topic.fromTopicArn(stack, 'Alerts', RENDER_PLACEHOLDERS.alerts),
      rollbackAlarmNames: ALARMS,
    });
    return Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Statement[],
    );
  };

  it('allows DeleteEndpoint on the endpoint only, nowhere else', () => {
    const statements = deployStatements();
    const deletes = statements.filter((st) =>
      [st.Action]
        .flat()
        .some((a) => a.toLowerCase() === 'sagemaker:deleteendpoint' || a === '*' || a === 'sagemaker:*'),
    );
    expect(deletes).toHaveLength(1);
    expect([deletes[0].Action].flat()).toEqual(['sagemaker:deleteEndpoint']);
    expect(JSON.stringify(deletes[0].Resource)).toMatch(/:endpoint\/reelflow-recommender"/);
    expect([deletes[0].Resource].flat()).toHaveLength(1);
  });

  it('reads the production parameter only, and decrypts it through SSM with the project key', () => {
    const statements = deployStatements();
    const reads = statements.filter((st) =>
      [st.Action].flat().some((a) => a.toLowerCase().startsWith('ssm:')),
    );
    expect(reads).toHaveLength(1);
    expect([reads[0].Action].flat()).toEqual(['ssm:getParameter']);
    expect(JSON.stringify(reads[0].Resource)).toMatch(/:parameter\/reelflow\/production-model"/);
    expect([reads[0].Resource].flat()).toHaveLength(1);
    const decrypt = statements.filter(
      (st) =>
        [st.Action].flat().includes('kms:Decrypt') && JSON.stringify(st.Condition ?? {}).includes('ssm.'),
    );
    expect(decrypt).toHaveLength(1);
  });
});
