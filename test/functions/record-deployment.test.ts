import './quiet-powertools';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { AccessDeniedException, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DeploymentRecordError,
  handler,
  PARAMETER_MAX_CHARS,
  recordDeployment,
  staleBaselineReason,
  type RecordDeploymentInput,
  type RecordStores,
} from '../../functions/workflow/record-deployment';

const RUN = 'run-0002';
const NEW_CONFIG = `reelflow-config-${RUN}`;
const OLD_CONFIG = 'reelflow-config-run-0001';
const NOW = new Date('2026-11-25T10:00:00Z');

const candidate = {
  runId: RUN,
  names: { model: `reelflow-model-${RUN}`, endpointConfigPrefix: `reelflow-config-${RUN}` },
  gate: { passed: true, reasons: [] },
  candidateMetrics: { 'ndcg@10': 0.2, 'precision@10': 0.1 },
};

function memoryStores(): RecordStores & { runJson: Map<string, unknown>; production: string[] } {
  const runJson = new Map<string, unknown>();
  const production: string[] = [];
  return {
    runJson,
    production,
    async putRunJson(key, value) {
      runJson.set(key, value);
    },
    async putProductionRecord(value) {
      production.push(value);
    },
  };
}

const settings = { endpointName: 'reelflow-recommender', now: () => NOW };

describe('recordDeployment', () => {
  it('writes the production record and deployment.json for a deployed candidate', async () => {
    // GIVEN the endpoint serves the new config
    const stores = memoryStores();
    const input: RecordDeploymentInput = {
      outcome: 'deployed',
      state: {
        runId: RUN,
        candidate,
        endpointConfig: { name: NEW_CONFIG },
        endpoint: {
          EndpointName: 'reelflow-recommender',
          EndpointConfigName: NEW_CONFIG,
          EndpointStatus: 'InService',
        },
      },
    };

    // WHEN the outcome is recorded
    const result = await recordDeployment(input, stores, settings);

    // THEN SSM holds the production record the next evaluation reads, and the run has its record
    const production = {
      runId: RUN,
      modelName: `reelflow-model-${RUN}`,
      endpointConfigName: NEW_CONFIG,
      deployedAt: NOW.toISOString(),
      metrics: { 'ndcg@10': 0.2, 'precision@10': 0.1 },
    };
    expect(stores.production.map((v) => JSON.parse(v))).toEqual([production]);
    expect(result.production).toEqual(production);
    expect(stores.runJson.get(`runs/${RUN}/deployment.json`)).toEqual({
      runId: RUN,
      outcome: 'deployed',
      endpointName: 'reelflow-recommender',
      endpointConfigName: NEW_CONFIG,
      servingConfigName: NEW_CONFIG,
      reason: null,
      alarms: [],
      recordedAt: NOW.toISOString(),
    });
  });

  it('records a rollback with the alarms that were in ALARM and leaves production alone', async () => {
    const stores = memoryStores();
    const result = await recordDeployment(
      {
        outcome: 'rolled-back',
        state: {
          runId: RUN,
          candidate,
          endpointConfig: { name: NEW_CONFIG },
          endpoint: {
            EndpointName: 'reelflow-recommender',
            EndpointConfigName: OLD_CONFIG,
            EndpointStatus: 'InService',
          },
          alarms: { MetricAlarms: [{ AlarmName: 'reelflow-recommender-rollback-5xx', StateValue: 'ALARM' }] },
        },
      },
      stores,
      settings,
    );

    expect(stores.production).toEqual([]);
    expect(result.production).toBeNull();
    expect(result.record).toMatchObject({
      outcome: 'rolled-back',
      endpointConfigName: NEW_CONFIG,
      servingConfigName: OLD_CONFIG,
      alarms: ['reelflow-recommender-rollback-5xx'],
      reason: `auto-rollback: the endpoint serves ${OLD_CONFIG} instead of ${NEW_CONFIG}; alarms in ALARM: reelflow-recommender-rollback-5xx`,
    });
  });

  it('says so when no alarm was in ALARM after a rollback, and keeps the failure reason', async () => {
    const { record } = await recordDeployment(
      {
        outcome: 'rolled-back',
        state: {
          runId: RUN,
          candidate,
          endpointConfig: { name: NEW_CONFIG },
          endpoint: {
            EndpointConfigName: OLD_CONFIG,
            EndpointStatus: 'InService',
            FailureReason: 'canary unhealthy',
          },
          alarms: { MetricAlarms: [] },
        },
      },
      memoryStores(),
      settings,
    );
    expect(record.reason).toMatch(
      /no rollback alarm was in ALARM when checked; FailureReason: canary unhealthy$/,
    );
    expect(record.endpointName).toBe('reelflow-recommender');
  });

  it('treats a DescribeAlarms answer without MetricAlarms as no alarm in ALARM', async () => {
    const { record } = await recordDeployment(
      {
        outcome: 'rolled-back',
        state: {
          runId: RUN,
          candidate,
          endpointConfig: { name: NEW_CONFIG },
          endpoint: { EndpointConfigName: OLD_CONFIG },
          alarms: { CompositeAlarms: [] },
        },
      },
      memoryStores(),
      settings,
    );
    expect(record.alarms).toEqual([]);
  });

  it('records a failure caught early, before the candidate was even loaded', async () => {
    const stores = memoryStores();
    const { record } = await recordDeployment(
      {
        outcome: 'failed',
        state: { runId: RUN, error: { Error: 'S3.NoSuchKeyException', Cause: 'no summary' } },
      },
      stores,
      settings,
    );
    expect(record).toMatchObject({
      outcome: 'failed',
      endpointConfigName: 'unknown',
      servingConfigName: null,
      reason: 'S3.NoSuchKeyException: no summary; no rollback alarm was in ALARM when checked',
    });
    expect(stores.production).toEqual([]);
    expect([...stores.runJson.keys()]).toEqual([`runs/${RUN}/deployment.json`]);
  });

  it('records a failed endpoint with its status and failure reason', async () => {
    const { record } = await recordDeployment(
      {
        outcome: 'failed',
        state: {
          runId: RUN,
          candidate,
          endpointConfig: { name: NEW_CONFIG },
          endpoint: {
            EndpointConfigName: OLD_CONFIG,
            EndpointStatus: 'Failed',
            FailureReason: 'image pull failed',
          },
          error: { Error: 'EndpointFailed', Cause: 'The endpoint is Failed after the update' },
          alarms: { MetricAlarms: [] },
        },
      },
      memoryStores(),
      settings,
    );
    expect(record.reason).toBe(
      'EndpointFailed: The endpoint is Failed after the update; FailureReason: image pull failed; no rollback alarm was in ALARM when checked',
    );
  });

  it.each([
    ['the endpoint serves another config', { EndpointConfigName: OLD_CONFIG, EndpointStatus: 'InService' }],
    ['the endpoint is still updating', { EndpointConfigName: NEW_CONFIG, EndpointStatus: 'Updating' }],
    ['the endpoint is unknown', undefined],
  ])('refuses to record a deployment when %s', async (_name, endpoint) => {
    const stores = memoryStores();
    const input: RecordDeploymentInput = {
      outcome: 'deployed',
      state: { runId: RUN, candidate, endpointConfig: { name: NEW_CONFIG }, endpoint },
    };
    await expect(recordDeployment(input, stores, settings)).rejects.toBeInstanceOf(DeploymentRecordError);
    expect(stores.production).toEqual([]);
    expect(stores.runJson.size).toBe(0);
  });

  it('records a stale baseline with both versions, from the production record, and leaves production alone', async () => {
    // GIVEN the candidate was compared with run-0001, but the production record says run-0003 serves
    const stores = memoryStores();
    const production = {
      record: {
        runId: 'run-0003',
        modelName: 'reelflow-model-run-0003',
        endpointConfigName: 'reelflow-config-run-0003-0a1b2c3d',
        deployedAt: '2026-11-25T09:00:00Z',
        metrics: { 'ndcg@10': 0.21 },
      },
    };

    // WHEN the stale baseline is recorded (before any endpoint config exists)
    const result = await recordDeployment(
      {
        outcome: 'stale-baseline',
        state: { runId: RUN, candidate: { ...candidate, productionRunId: 'run-0001' }, production },
      },
      stores,
      settings,
    );

    // THEN deployment.json says why, and SSM is untouched
    const reason =
      'compared with production run-0001, but run-0003 is serving now; upload again or start a run by hand to re-evaluate';
    expect(result.production).toBeNull();
    expect(stores.production).toEqual([]);
    expect(stores.runJson.get(`runs/${RUN}/deployment.json`)).toEqual({
      runId: RUN,
      outcome: 'stale-baseline',
      endpointName: 'reelflow-recommender',
      endpointConfigName: 'unknown',
      servingConfigName: 'reelflow-config-run-0003-0a1b2c3d',
      reason,
      alarms: [],
      recordedAt: NOW.toISOString(),
    });
  });

  it('names "none" for a comparison with no production, or no production serving now', () => {
    expect(
      staleBaselineReason({
        candidate: { ...candidate, productionRunId: null },
        production: { record: { runId: 'run-0001' } },
      }),
    ).toBe(
      'compared with production none, but run-0001 is serving now; upload again or start a run by hand to re-evaluate',
    );
    expect(
      staleBaselineReason({
        candidate: { ...candidate, productionRunId: 'run-0001' },
        production: { record: null },
      }),
    ).toBe(
      'compared with production run-0001, but none is serving now; upload again or start a run by hand to re-evaluate',
    );
  });

  it('refuses a deployed outcome without the candidate', async () => {
    const input: RecordDeploymentInput = {
      outcome: 'deployed',
      state: { runId: RUN, endpoint: { EndpointConfigName: NEW_CONFIG, EndpointStatus: 'InService' } },
    };
    await expect(recordDeployment(input, memoryStores(), settings)).rejects.toThrow(
      /needs the candidate summary/,
    );
  });

  it('refuses a production record larger than an SSM parameter', async () => {
    const metrics = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`metric_${i}@10`, 0.123456]));
    const input: RecordDeploymentInput = {
      outcome: 'deployed',
      state: {
        runId: RUN,
        candidate: { ...candidate, candidateMetrics: metrics },
        endpointConfig: { name: NEW_CONFIG },
        endpoint: { EndpointConfigName: NEW_CONFIG, EndpointStatus: 'InService' },
      },
    };
    await expect(recordDeployment(input, memoryStores(), settings)).rejects.toThrow(
      new RegExp(`an SSM parameter holds ${PARAMETER_MAX_CHARS}`),
    );
  });

  describe('a rollback (reelflow rollback)', () => {
    const ROLLBACK = {
      id: 'rollback-1a2b3c4d',
      from: 'run-0003',
      reason: 'latency regression',
      requestedBy: 'ops@example.com',
    };
    const KEY = `runs/${RUN}/rollbacks/${ROLLBACK.id}.json`;
    const deployedState = {
      runId: RUN,
      candidate: { ...candidate, productionRunId: 'run-0003' },
      endpointConfig: { name: `${NEW_CONFIG}-9f8e7d6c` },
      endpoint: { EndpointConfigName: `${NEW_CONFIG}-9f8e7d6c`, EndpointStatus: 'InService' },
      rollback: ROLLBACK,
    };

    it('writes its own record under rollbacks/, and the production record names it', async () => {
      const stores = memoryStores();

      const result = await recordDeployment({ outcome: 'deployed', state: deployedState }, stores, settings);

      expect([...stores.runJson.keys()]).toEqual([KEY]);
      expect(stores.runJson.get(KEY)).toEqual({
        runId: RUN,
        outcome: 'deployed',
        endpointName: 'reelflow-recommender',
        endpointConfigName: `${NEW_CONFIG}-9f8e7d6c`,
        servingConfigName: `${NEW_CONFIG}-9f8e7d6c`,
        reason: null,
        alarms: [],
        recordedAt: NOW.toISOString(),
        rollback: {
          id: ROLLBACK.id,
          from: 'run-0003',
          to: RUN,
          reason: 'latency regression',
          requestedBy: 'ops@example.com',
        },
      });
      expect(JSON.parse(stores.production[0])).toMatchObject({ runId: RUN, rollbackId: ROLLBACK.id });
      expect(result).toMatchObject({
        key: KEY,
        label: `rollback ${ROLLBACK.id} to run ${RUN} (from run-0003)`,
      });
    });

    it('records a pipeline deployment without rollback fields, labelled by its run', async () => {
      const stores = memoryStores();
      const state = { ...deployedState, rollback: undefined };

      const result = await recordDeployment({ outcome: 'deployed', state }, stores, settings);

      expect(result.key).toBe(`runs/${RUN}/deployment.json`);
      expect(result.label).toBe(`run ${RUN}`);
      expect(result.record).not.toHaveProperty('rollback');
      expect(result.production).not.toHaveProperty('rollbackId');
    });

    it('records a rollback without reason or requester with nulls', async () => {
      const stores = memoryStores();
      const state = {
        runId: RUN,
        rollback: { id: ROLLBACK.id, from: 'run-0003' },
        error: { Error: 'S3.NoSuchKeyException', Cause: 'no summary' },
      };

      const { record } = await recordDeployment({ outcome: 'failed', state }, stores, settings);

      expect([...stores.runJson.keys()]).toEqual([KEY]);
      expect(record.rollback).toEqual({
        id: ROLLBACK.id,
        from: 'run-0003',
        to: RUN,
        reason: null,
        requestedBy: null,
      });
    });

    it('says, when stale, that it was a rollback from a version that no longer serves', async () => {
      const stores = memoryStores();
      const state = {
        runId: RUN,
        candidate: { ...candidate, productionRunId: 'run-0003' },
        production: {
          record: { runId: 'run-0004', endpointConfigName: 'reelflow-config-run-0004-0a1b2c3d' },
        },
        rollback: ROLLBACK,
      };

      const { record } = await recordDeployment({ outcome: 'stale-baseline', state }, stores, settings);

      expect(record.reason).toBe(
        `rollback ${ROLLBACK.id} was from run-0003 to ${RUN}, but run-0004 is serving now; check what serves and ask for the rollback again`,
      );
      expect(stores.production).toEqual([]);
      expect([...stores.runJson.keys()]).toEqual([KEY]);
    });

    it('records a rollback asked while nothing served with from null', async () => {
      const state = { ...deployedState, rollback: { id: ROLLBACK.id, from: null } };

      const result = await recordDeployment({ outcome: 'deployed', state }, memoryStores(), settings);

      expect(result.record.rollback).toMatchObject({ from: null, to: RUN });
      expect(result.label).toBe(`rollback ${ROLLBACK.id} to run ${RUN} (from none)`);
    });

    it('keeps an id with a slash in one key segment', async () => {
      const stores = memoryStores();
      const state = { runId: RUN, rollback: { ...ROLLBACK, id: '../deployment' } };

      const { key } = await recordDeployment({ outcome: 'failed', state }, stores, settings);

      expect(key).toBe(`runs/${RUN}/rollbacks/..%2Fdeployment.json`);
      expect([...stores.runJson.keys()]).toEqual([key]);
    });

    it('throws for a rollback without from', async () => {
      const stores = memoryStores();
      const input = {
        outcome: 'failed',
        state: { runId: RUN, rollback: { id: ROLLBACK.id } },
      } as RecordDeploymentInput;

      await expect(recordDeployment(input, stores, settings)).rejects.toThrow(
        /invalid input: state\.rollback\.from/,
      );
      expect(stores.runJson.size).toBe(0);
    });
  });

  it.each([
    ['an unknown outcome', { outcome: 'maybe', state: { runId: RUN } }],
    ['no run id', { outcome: 'failed', state: {} }],
    ['a run id that leaves runs/', { outcome: 'failed', state: { runId: '../x' } }],
  ])('throws for %s', async (_name, input) => {
    await expect(
      recordDeployment(input as RecordDeploymentInput, memoryStores(), settings),
    ).rejects.toThrow();
  });
});

describe('handler', () => {
  const s3 = mockClient(S3Client);
  const ssm = mockClient(SSMClient);
  const env = { ...process.env };

  beforeEach(() => {
    s3.reset();
    ssm.reset();
    process.env = {
      ...env,
      DATA_BUCKET: 'reelflow-data',
      ENDPOINT_NAME: 'reelflow-recommender',
      PRODUCTION_PARAMETER: '/reelflow/production-model',
      PARAMETER_KEY_ID: 'arn:aws:kms:eu-west-1:123456789012:key/abc',
    };
  });
  afterAll(() => {
    process.env = env;
  });

  const deployed: RecordDeploymentInput = {
    outcome: 'deployed',
    state: {
      runId: RUN,
      candidate,
      endpointConfig: { name: NEW_CONFIG },
      endpoint: { EndpointConfigName: NEW_CONFIG, EndpointStatus: 'InService' },
    },
  };

  it('writes a SecureString under the project key and the run record to S3', async () => {
    await handler(deployed);

    const [parameter] = ssm.commandCalls(PutParameterCommand);
    expect(parameter.args[0].input).toMatchObject({
      Name: '/reelflow/production-model',
      Type: 'SecureString',
      KeyId: 'arn:aws:kms:eu-west-1:123456789012:key/abc',
      Overwrite: true,
    });
    expect(JSON.parse(parameter.args[0].input.Value ?? '')).toMatchObject({
      runId: RUN,
      modelName: `reelflow-model-${RUN}`,
    });
    const [object] = s3.commandCalls(PutObjectCommand);
    expect(object.args[0].input).toMatchObject({
      Bucket: 'reelflow-data',
      Key: `runs/${RUN}/deployment.json`,
      ContentType: 'application/json',
    });
  });

  it('fails, without writing the run record, when SSM refuses the production record', async () => {
    const message = 'not authorized to perform ssm:PutParameter';
    ssm
      .on(PutParameterCommand)
      .rejects(new AccessDeniedException({ $metadata: {}, message, Message: message }));
    // The name is what the workflow's Retry and Catch match: it must come through unchanged.
    await expect(handler(deployed)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('fails when S3 refuses the run record', async () => {
    // S3 does not model SlowDown: the SDK throws its service exception with that name.
    s3.on(PutObjectCommand).rejects(
      new S3ServiceException({
        name: 'SlowDown',
        $fault: 'server',
        $metadata: { httpStatusCode: 503 },
        message: 'Please reduce your request rate.',
      }),
    );
    await expect(handler({ outcome: 'failed', state: { runId: RUN } })).rejects.toMatchObject({
      name: 'SlowDown',
    });
    expect(ssm.commandCalls(PutParameterCommand)).toHaveLength(0);
  });

  it('fails fast when its environment is incomplete', async () => {
    delete process.env.PRODUCTION_PARAMETER;
    await expect(handler(deployed)).rejects.toThrow('environment variable PRODUCTION_PARAMETER is not set');
  });
});
