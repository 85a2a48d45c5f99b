import * as path from 'node:path';
import { ConfigError } from '../../functions/core/config';
import {
  INSTANCE_FAMILIES,
  instanceFamily,
  parseDeployConfig,
  readConfigFromCdkJson,
} from '../../pipeline/config';
import { productionParameterName, VARIANT_NAME } from '../../pipeline/names';
import {
  processingQuotaNeeds,
  sageMakerQuotaNeeds,
  totalDeploymentWaitSeconds,
  trafficShiftCount,
} from '../../pipeline/config-rules';

const CDK_JSON = path.join(__dirname, '..', '..', 'cdk.json');

describe('parseDeployConfig', () => {
  it('fills documented defaults: canary on two instances, inner-product k-NN, no spot', () => {
    const config = parseDeployConfig({});
    expect(config.resourcePrefix).toBe('reelflow');
    expect(config.endpoint).toEqual({
      name: 'reelflow-recommender',
      instanceType: 'ml.m5.large',
      instanceCount: 2,
    });
    expect(config.deployment).toMatchObject({
      trafficRouting: 'CANARY',
      canarySize: { type: 'INSTANCE_COUNT', value: 1 },
      waitIntervalSeconds: 300,
      terminationWaitSeconds: 600,
      maxExecutionTimeoutSeconds: 3600,
    });
    expect(config.training.useSpot).toBe(false);
    expect(config.ml.knn).toMatchObject({ index_metric: 'INNER_PRODUCT', k: 100 });
    expect(config.account).toBeUndefined();
  });

  it('reserves 50 concurrent recommend functions and keeps noncurrent data versions 365 days, by default', () => {
    const config = parseDeployConfig({});
    expect(config.api.reservedConcurrency).toBe(50);
    expect(config.dataRetention).toEqual({ noncurrentVersionDays: 365 });
  });

  it.each([
    [{ api: { reservedConcurrency: 0 } }, 'reelflow.api.reservedConcurrency'],
    [{ api: { reservedConcurrency: 1001 } }, 'reelflow.api.reservedConcurrency'],
    [{ api: { reservedConcurrency: 2.5 } }, 'reelflow.api.reservedConcurrency'],
    [{ dataRetention: { noncurrentVersionDays: 0 } }, 'reelflow.dataRetention.noncurrentVersionDays'],
    [{ dataRetention: { noncurrentDays: 30 } }, 'reelflow.dataRetention'],
  ])('rejects %j naming %s', (raw, key) => {
    expect(() => parseDeployConfig(raw)).toThrow(new RegExp(`invalid config ${key.replace(/\./g, '\\.')}`));
  });

  it('accepts the block in cdk.json, which the local runtime reads too', () => {
    // cdk.json spells out every default, except the FM settings tuned for the implicit objective
    // (the schema's defaults are the built-in's own, which the workshop used).
    const tuned = { epochs: 20, factors_lr: 0.01, factors_wd: 0.0001 };
    const defaults = parseDeployConfig({});
    expect(readConfigFromCdkJson(CDK_JSON)).toEqual({
      ...defaults,
      ml: { ...defaults.ml, fm: { ...defaults.ml.fm, ...tuned } },
    });
  });

  it('keeps the variant name a constant, not a setting', () => {
    expect(VARIANT_NAME).toBe('AllTraffic');
    expect(() => parseDeployConfig({ endpoint: { variantName: 'Blue' } })).toThrow(
      /invalid config reelflow\.endpoint(\.variantName)?: Unrecognized key: "variantName"/,
    );
  });

  it.each([
    [{ endpoint: { instanceCount: 0 } }, 'reelflow.endpoint.instanceCount'],
    [{ endpoint: { instanceType: 'm5.large' } }, 'reelflow.endpoint.instanceType'],
    [{ endpoint: { name: 'Reelflow_Endpoint' } }, 'reelflow.endpoint.name'],
    [{ training: { fmInstanceCount: 1.5 } }, 'reelflow.training.fmInstanceCount'],
    [{ deployment: { waitIntervalSeconds: 3601 } }, 'reelflow.deployment.waitIntervalSeconds'],
    [{ deployment: { terminationWaitSeconds: -1 } }, 'reelflow.deployment.terminationWaitSeconds'],
    [{ deployment: { maxExecutionTimeoutSeconds: 599 } }, 'reelflow.deployment.maxExecutionTimeoutSeconds'],
    [{ deployment: { maxExecutionTimeoutSeconds: 28801 } }, 'reelflow.deployment.maxExecutionTimeoutSeconds'],
    [{ deployment: { trafficRouting: 'BLUE_GREEN' } }, 'reelflow.deployment.trafficRouting'],
    [{ alarms: { apiErrorRateThreshold: 1.5 } }, 'reelflow.alarms.apiErrorRateThreshold'],
    [{ approval: { email: 'not-an-email' } }, 'reelflow.approval.email'],
    [{ approval: { timeoutMinutes: 86401 } }, 'reelflow.approval.timeoutMinutes'],
    [{ api: { throttleBurstLimit: 0 } }, 'reelflow.api.throttleBurstLimit'],
    [{ logRetentionDays: 2 }, 'reelflow.logRetentionDays'],
    [{ resourcePrefix: 'Reelflow' }, 'reelflow.resourcePrefix'],
    [{ resourcePrefix: 'a-very-long-prefix-name' }, 'reelflow.resourcePrefix'],
    [{ region: 'moon-1' }, 'reelflow.region'],
    [{ ml: { split: { testShare: 2 } } }, 'reelflow.ml.split.testShare'],
    [{ transform: { maxPayloadMb: 101 } }, 'reelflow.transform.maxPayloadMb'],
  ])('throws a ConfigError naming the key for %j', (raw, key) => {
    expect(() => parseDeployConfig(raw)).toThrow(ConfigError);
    expect(() => parseDeployConfig(raw)).toThrow(`invalid config ${key}:`);
  });

  describe('instance types', () => {
    it.each([
      ['training', { training: { fmInstanceType: 'ml.m5d.xlarge' } }, 'reelflow.training.fmInstanceType'],
      ['training', { training: { knnInstanceType: 'ml.c6g.xlarge' } }, 'reelflow.training.knnInstanceType'],
      ['training', { training: { fmInstanceType: 'ml.g4dn.xlarge' } }, 'reelflow.training.fmInstanceType'],
      ['training', { training: { fmInstanceType: 'ml.p3dn.24xlarge' } }, 'reelflow.training.fmInstanceType'],
      ['transform', { transform: { instanceType: 'ml.c5d.xlarge' } }, 'reelflow.transform.instanceType'],
      ['transform', { transform: { instanceType: 'ml.m7g.large' } }, 'reelflow.transform.instanceType'],
      ['endpoint', { endpoint: { instanceType: 'ml.r5d.large' } }, 'reelflow.endpoint.instanceType'],
      ['endpoint', { endpoint: { instanceType: 'ml.m6g.large' } }, 'reelflow.endpoint.instanceType'],
    ] as const)('refuses NVMe and Graviton families for %s: %j', (use, raw, key) => {
      const families = INSTANCE_FAMILIES[use].map((f) => `ml.${f}`).join(', ');
      expect(() => parseDeployConfig(raw)).toThrow(`invalid config ${key}: expected an instance family`);
      expect(() => parseDeployConfig(raw)).toThrow(families);
    });

    it('accepts the EBS-only x86 families of each use', () => {
      const config = parseDeployConfig({
        training: { fmInstanceType: 'ml.c5.2xlarge', knnInstanceType: 'ml.p3.2xlarge' },
        transform: { instanceType: 'ml.m4.xlarge' },
        endpoint: { instanceType: 'ml.r5.large' },
      });
      expect(config.training.knnInstanceType).toBe('ml.p3.2xlarge');
      expect(config.endpoint.instanceType).toBe('ml.r5.large');
      expect(instanceFamily('ml.p3dn.24xlarge')).toBe('p3dn');
    });
  });

  describe('Lambda memory', () => {
    it('defaults to the 3008 MB a new account allows', () => {
      const config = parseDeployConfig({});
      expect(config.workflowMemoryMb).toBe(3008);
      expect(config.lambdaMemoryQuotaMb).toBe(3008);
    });

    it('refuses more memory than the account quota and says how to raise it', () => {
      expect(() => parseDeployConfig({ workflowMemoryMb: 10240 })).toThrow(
        /reelflow\.workflowMemoryMb: 10240 MB exceeds the account's Lambda memory quota \(lambdaMemoryQuotaMb 3008 MB.*Lower workflowMemoryMb to at most 3008, or ask AWS to raise .*Service Quotas.*then set lambdaMemoryQuotaMb/,
      );
    });

    it('allows up to 10240 MB once the quota is raised', () => {
      expect(
        parseDeployConfig({ workflowMemoryMb: 10240, lambdaMemoryQuotaMb: 10240 }).workflowMemoryMb,
      ).toBe(10240);
      expect(() => parseDeployConfig({ workflowMemoryMb: 10241, lambdaMemoryQuotaMb: 10240 })).toThrow(
        'invalid config reelflow.workflowMemoryMb',
      );
      expect(() => parseDeployConfig({ lambdaMemoryQuotaMb: 20000 })).toThrow(
        'invalid config reelflow.lambdaMemoryQuotaMb',
      );
    });
  });

  describe('deployment guardrails', () => {
    it('refuses canary and linear shifts on a single instance', () => {
      expect(() => parseDeployConfig({ endpoint: { instanceCount: 1 } })).toThrow(
        /reelflow\.endpoint\.instanceCount: CANARY traffic routing needs at least 2 instances/,
      );
      expect(() =>
        parseDeployConfig({ endpoint: { instanceCount: 1 }, deployment: { trafficRouting: 'LINEAR' } }),
      ).toThrow(/reelflow\.endpoint\.instanceCount: LINEAR/);
    });

    it('allows all-at-once on a single instance', () => {
      const config = parseDeployConfig({
        endpoint: { instanceCount: 1 },
        deployment: { trafficRouting: 'ALL_AT_ONCE' },
      });
      expect(config.deployment.trafficRouting).toBe('ALL_AT_ONCE');
    });

    it.each([
      [{ type: 'CAPACITY_PERCENT', value: 51 }, 4],
      [{ type: 'INSTANCE_COUNT', value: 2 }, 3],
    ])('refuses a canary above 50 %% of the fleet: %j on %i instances', (canarySize, instanceCount) => {
      expect(() => parseDeployConfig({ endpoint: { instanceCount }, deployment: { canarySize } })).toThrow(
        /reelflow\.deployment\.canarySize\.value: the canary must be at most 50 %/,
      );
    });

    it.each([
      [{ type: 'CAPACITY_PERCENT', value: 5 }, 4],
      [{ type: 'CAPACITY_PERCENT', value: 60 }, 4],
      [{ type: 'INSTANCE_COUNT', value: 3 }, 4],
    ])('refuses a linear step outside 10-50 %%: %j on %i instances', (linearStepSize, instanceCount) => {
      expect(() =>
        parseDeployConfig({
          endpoint: { instanceCount },
          deployment: { trafficRouting: 'LINEAR', linearStepSize },
        }),
      ).toThrow(/reelflow\.deployment\.linearStepSize\.value: a linear step must be 10-50 %/);
    });

    it('refuses an execution timeout that does not exceed the planned waits', () => {
      expect(() =>
        parseDeployConfig({
          deployment: {
            waitIntervalSeconds: 600,
            terminationWaitSeconds: 600,
            maxExecutionTimeoutSeconds: 1800,
          },
        }),
      ).toThrow(
        /reelflow\.deployment\.maxExecutionTimeoutSeconds: must exceed the update's planned waits \(1800 s/,
      );
    });

    it('refuses a poll budget shorter than the execution timeout', () => {
      expect(() => parseDeployConfig({ deployment: { maxPolls: 10, pollIntervalSeconds: 60 } })).toThrow(
        /reelflow\.deployment\.maxPolls: maxPolls x pollIntervalSeconds \(600 s\) must cover/,
      );
    });

    it('counts the waits of each traffic routing', () => {
      const { deployment } = parseDeployConfig({});
      expect(trafficShiftCount(deployment, 2)).toBe(2);
      expect(trafficShiftCount({ ...deployment, trafficRouting: 'ALL_AT_ONCE' }, 2)).toBe(1);
      expect(
        trafficShiftCount(
          { ...deployment, trafficRouting: 'LINEAR', linearStepSize: { type: 'INSTANCE_COUNT', value: 1 } },
          4,
        ),
      ).toBe(4);
      expect(totalDeploymentWaitSeconds(deployment, 2)).toBe(2 * 300 + 600);
    });
  });

  describe('training', () => {
    it('requires a max wait with spot training', () => {
      expect(() => parseDeployConfig({ training: { useSpot: true } })).toThrow(
        /reelflow\.training\.maxWaitSeconds: is required when training\.useSpot is true/,
      );
    });

    it('requires the max wait to cover the max runtime', () => {
      expect(() =>
        parseDeployConfig({ training: { useSpot: true, maxRuntimeSeconds: 3600, maxWaitSeconds: 600 } }),
      ).toThrow(/reelflow\.training\.maxWaitSeconds: must be at least training\.maxRuntimeSeconds \(3600\)/);
    });

    it('accepts spot training with a max wait', () => {
      const config = parseDeployConfig({ training: { useSpot: true, maxWaitSeconds: 20000 } });
      expect(config.training).toMatchObject({ useSpot: true, maxWaitSeconds: 20000 });
    });
  });

  describe('k-NN', () => {
    it('requires the inner-product metric and says why', () => {
      expect(() => parseDeployConfig({ ml: { knn: { index_metric: 'L2' } } })).toThrow(
        /reelflow\.ml\.knn\.index_metric: must be INNER_PRODUCT: the user and movie vectors are built so that/,
      );
    });

    it('requires k to leave room for the user tags and says why', () => {
      expect(() => parseDeployConfig({ ml: { knn: { k: 24 }, evaluation: { topN: 10 } } })).toThrow(
        /reelflow\.ml\.knn\.k: must be at least 25: each request carries a user tag query/,
      );
      expect(parseDeployConfig({ ml: { knn: { k: 25 } } }).ml.knn.k).toBe(25);
    });

    it('requires k to cover the number of movies the API returns', () => {
      expect(() => parseDeployConfig({ ml: { knn: { k: 30 }, evaluation: { topN: 50 } } })).toThrow(
        /reelflow\.ml\.knn\.k: must be at least ml\.evaluation\.topN \(50\)/,
      );
    });
  });

  it('names every bad key in one error', () => {
    expect(() =>
      parseDeployConfig({ endpoint: { instanceCount: 0 }, api: { stageName: 'bad stage' } }),
    ).toThrow(/reelflow\.endpoint\.instanceCount[\s\S]*reelflow\.api\.stageName/);
  });
});

describe('sageMakerQuotaNeeds', () => {
  it('counts both blue/green fleets, both parallel transforms and the larger training job', () => {
    const config = parseDeployConfig({
      training: { fmInstanceCount: 2, knnInstanceCount: 1 },
      transform: { instanceType: 'ml.c5.xlarge', instanceCount: 1 },
      endpoint: { instanceType: 'ml.m5.large', instanceCount: 2 },
    });
    expect(sageMakerQuotaNeeds(config).map((n) => [n.quotaName, n.instances])).toEqual([
      ['ml.m5.xlarge for training job usage', 2],
      ['ml.c5.xlarge for transform job usage', 2],
      ['ml.m5.large for endpoint usage', 4],
    ]);
  });

  it('names the spot quota when training uses spot, one per training instance type', () => {
    const config = parseDeployConfig({
      training: { useSpot: true, maxWaitSeconds: 20_000, knnInstanceType: 'ml.c5.2xlarge' },
    });
    expect(sageMakerQuotaNeeds(config).slice(0, 2)).toEqual([
      expect.objectContaining({ quotaName: 'ml.m5.xlarge for spot training job usage', instances: 1 }),
      expect.objectContaining({ quotaName: 'ml.c5.2xlarge for spot training job usage', instances: 1 }),
    ]);
  });
});

describe('productionParameterName', () => {
  it('lives under the resource prefix', () => {
    expect(productionParameterName({ resourcePrefix: 'movies' })).toBe('/movies/production-model');
  });
});

describe('api security config', () => {
  const client = { name: 'movie-app', rateLimit: 10, burstLimit: 20, quotaPerDay: 10_000 };
  const errorOf = (api: Record<string, unknown>): string => {
    try {
      parseDeployConfig({ api });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('defaults to an anonymous API without clients or web ACL (the workshop behaviour)', () => {
    expect(parseDeployConfig({}).api).toMatchObject({
      auth: 'none',
      clients: [],
      waf: { enabled: false, rateLimitPer5Min: 1000 },
    });
    expect(readConfigFromCdkJson(CDK_JSON).api).toMatchObject({ auth: 'none', waf: { enabled: false } });
  });

  it('accepts apiKey with clients, and iam with a web ACL', () => {
    expect(parseDeployConfig({ api: { auth: 'apiKey', clients: [client] } }).api.clients).toEqual([client]);
    expect(
      parseDeployConfig({ api: { auth: 'iam', waf: { enabled: true, rateLimitPer5Min: 10 } } }).api.waf,
    ).toEqual({ enabled: true, rateLimitPer5Min: 10 });
  });

  it('needs at least one client with auth apiKey, and clients only with auth apiKey', () => {
    expect(errorOf({ auth: 'apiKey' })).toMatch(
      /^invalid config reelflow\.api\.clients: auth apiKey needs at least one client/,
    );
    expect(errorOf({ auth: 'iam', clients: [client] })).toMatch(
      /^invalid config reelflow\.api\.clients: clients get API keys only with auth apiKey; got auth iam/,
    );
  });

  it('refuses duplicate client names and the smoke test reserved one', () => {
    expect(errorOf({ auth: 'apiKey', clients: [client, client] })).toBe(
      'invalid config reelflow.api.clients.1.name: duplicate client name movie-app',
    );
    expect(errorOf({ auth: 'apiKey', clients: [{ ...client, name: 'smoke-test' }] })).toMatch(
      /^invalid config reelflow\.api\.clients\.0\.name: smoke-test is reserved/,
    );
    expect(errorOf({ auth: 'apiKey', clients: [{ ...client, name: 'Movie App' }] })).toMatch(
      /^invalid config reelflow\.api\.clients\.0\.name: expected lower-case letters/,
    );
  });

  it('refuses an unknown auth mode and a WAF rate limit outside 10..2e9', () => {
    expect(errorOf({ auth: 'cognito' })).toMatch(/^invalid config reelflow\.api\.auth: /);
    expect(errorOf({ waf: { enabled: true, rateLimitPer5Min: 9 } })).toMatch(
      /^invalid config reelflow\.api\.waf\.rateLimitPer5Min: Too small/,
    );
    expect(errorOf({ waf: { enabled: true, rateLimitPer5Min: 2_000_000_001 } })).toMatch(
      /^invalid config reelflow\.api\.waf\.rateLimitPer5Min: Too big/,
    );
  });
});

describe('the processing block (where the data steps run)', () => {
  it('defaults to auto above 100 MiB on one ml.m5.4xlarge with 50 GiB for at most 4 hours', () => {
    expect(parseDeployConfig({}).processing).toEqual({
      mode: 'auto',
      autoThresholdBytes: 100 * 1024 * 1024,
      instanceType: 'ml.m5.4xlarge',
      volumeSizeGb: 50,
      maxRuntimeSeconds: 14400,
    });
  });

  it('refuses an unknown mode, and instance types outside the training families', () => {
    expect(() => parseDeployConfig({ processing: { mode: 'batch' } })).toThrow(
      'invalid config reelflow.processing.mode',
    );
    expect(() => parseDeployConfig({ processing: { instanceType: 'ml.m6g.4xlarge' } })).toThrow(
      'invalid config reelflow.processing.instanceType: expected an instance family',
    );
    expect(() => parseDeployConfig({ processing: { maxRuntimeSeconds: 777_601 } })).toThrow(
      'invalid config reelflow.processing.maxRuntimeSeconds',
    );
  });

  it('needs the processing instance quota unless the steps always run on Lambda', () => {
    expect(processingQuotaNeeds(parseDeployConfig({}))).toEqual([
      expect.objectContaining({ quotaName: 'ml.m5.4xlarge for processing job usage', instances: 1 }),
    ]);
    expect(processingQuotaNeeds(parseDeployConfig({ processing: { mode: 'lambda' } }))).toEqual([]);
  });
});
