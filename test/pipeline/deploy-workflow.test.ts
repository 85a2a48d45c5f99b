import { aslErrors } from './asl';
import type { RunSummary } from '../../functions/contracts';
import { recordDeployment, type RecordDeploymentInput } from '../../functions/workflow/record-deployment';
import { smokeTest, type SmokeTestInput } from '../../functions/workflow/smoke-test';
import { parseDeployConfig } from '../../infra/config';
import { DEPLOY_STATES, deploymentConfig } from '../../pipeline/deploy-workflow';
import { RENDER_PLACEHOLDERS, renderWorkflowDefinitions } from '../../pipeline/render';
import { allStates, runLocally, taskError, type TaskHandler } from './run-locally';

const config = parseDeployConfig({});
const definition = renderWorkflowDefinitions(config).deploy;
const S = DEPLOY_STATES;
const RUN = 'run-0002';
const NEW_CONFIG = `reelflow-config-${RUN}`;
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
    candidateTransformJob: `reelflow-eval-${RUN}`,
    productionTransformJob: `reelflow-evalprod-${RUN}`,
    endpointConfig: NEW_CONFIG,
  },
  gate: { passed, reasons: [] },
  approvalText: 'ndcg@10 0.11 vs 0.10',
  candidateMetrics: { 'ndcg@10': 0.11 },
  productionMetrics: { 'ndcg@10': 0.1 },
  productionRunId: 'run-0001',
  reportUri: `s3://reelflow-data/runs/${RUN}/evaluation/report.html`,
  evaluationUri: `s3://reelflow-data/runs/${RUN}/evaluation/evaluation.json`,
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
  const stores = {
    putRunJson: async () => undefined,
    putProductionRecord: async (value: string) => {
      production.push(value);
    },
  };
  const settings = { endpointName: 'reelflow-recommender', now: () => new Date('2026-11-25T10:00:00Z') };
  const record: TaskHandler = async (input: RecordDeploymentInput) => {
    records.push(input);
    return recordDeployment(input, stores, settings);
  };
  const served = { movies: [1, 2], itemList: [{ itemId: '1' }, { itemId: '2' }], modelVersion: RUN };
  const map: Record<string, TaskHandler> = {
    [S.loadCandidate]: () => ({ Body: JSON.stringify(summary()), ContentType: 'application/json' }),
    [S.createEndpointConfig]: () => ({ EndpointConfigArn: 'arn:...' }),
    [S.findEndpoint]: () => endpoint('InService', OLD_CONFIG),
    [S.updateEndpoint]: () => ({ EndpointArn: 'arn:...' }),
    [S.createEndpoint]: () => ({ EndpointArn: 'arn:...' }),
    [S.describeEndpoint]: () => statuses.shift() ?? endpoint('Updating', NEW_CONFIG),
    [S.readRollbackAlarms]: () => ({
      MetricAlarms: [{ AlarmName: ALARMS[0], StateValue: 'ALARM' }],
      CompositeAlarms: [],
    }),
    // DescribeAlarms with nothing in ALARM: the SDK may leave the empty list out.
    [S.readFailureAlarms]: () => ({}),
    [S.recordDeployed]: record,
    [S.recordRollback]: record,
    [S.recordFailure]: record,
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
    ...overrides,
  };
  return { map, records, production };
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
      S.endpointExists,
    ]);
    const tasks = allStates(definition).filter(({ state }) => state.Type === 'Task');
    expect(tasks).toHaveLength(15);
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
        'EndpointConfigName.$': '$.candidate.names.endpointConfig',
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
        'EndpointConfigName.$': '$.candidate.names.endpointConfig',
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
          StringEqualsPath: '$.candidate.names.endpointConfig',
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
      EndpointConfigName: NEW_CONFIG,
    });
    expect(h.records.map((r) => r.outcome)).toEqual(['deployed']);
    expect(JSON.parse(h.production[0])).toMatchObject({ runId: RUN, modelName: `reelflow-model-${RUN}` });
    expect(run.output).toMatchObject({ record: { outcome: 'deployed', servingConfigName: NEW_CONFIG } });
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
      EndpointConfigName: NEW_CONFIG,
      DeploymentConfig: { AutoRollbackConfiguration: { Alarms: ALARMS.map((AlarmName) => ({ AlarmName })) } },
    });
    expect(run.inputs[S.notifyDeployed]).toMatchObject({
      Message: `reelflow run ${RUN} is live on endpoint reelflow-recommender (${NEW_CONFIG}); the smoke test passed.`,
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
      cause: `auto-rollback: the endpoint serves ${OLD_CONFIG} instead of ${NEW_CONFIG}; alarms in ALARM: ${ALARMS[0]}`,
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
