import fc from 'fast-check';
import { LocalAlarms } from '../../../local/services/alarms';
import {
  LocalHosting,
  pickFleet,
  planDeployment,
  type DeploymentConfigSpec,
  type DeploymentEvent,
  type EndpointConfigSpec,
} from '../../../local/services/hosting';
import type { LoadedModel } from '../../../local/services/model-containers';
import { SageMakerApiError } from '../../../local/services/sagemaker-errors';

const ALARMS = {
  endpoint5xxThreshold: 5,
  modelLatencyP99Ms: 500,
  apiErrorRateThreshold: 0.05,
  evaluationPeriods: 2,
};
const ENDPOINT = 'reelflow-recommender';

/** A model that answers its own name, so every answer says which fleet served it. */
const model = (name: string): LoadedModel => ({
  modelName: name,
  invoke: () => ({ status: 200, body: JSON.stringify({ model: name }), contentType: 'application/json' }),
});
const config = (
  name: string,
  modelName: string,
  instances = 2,
  variant = 'AllTraffic',
): EndpointConfigSpec => ({
  EndpointConfigName: name,
  ProductionVariants: [{ VariantName: variant, ModelName: modelName, InitialInstanceCount: instances }],
});
const canary = (wait: number, bake: number): DeploymentConfigSpec => ({
  BlueGreenUpdatePolicy: {
    TrafficRoutingConfiguration: {
      Type: 'CANARY',
      WaitIntervalInSeconds: wait,
      CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 },
    },
    TerminationWaitInSeconds: bake,
    MaximumExecutionTimeoutInSeconds: 3600,
  },
  AutoRollbackConfiguration: { Alarms: [{ AlarmName: `${ENDPOINT}-rollback-5xx` }] },
});

/** Extra listeners of the hosting made by `hosting()` (cleared before each test). */
const listeners: ((event: DeploymentEvent) => void)[] = [];
beforeEach(() => {
  listeners.length = 0;
});

function hosting(msPerSecond = 1) {
  const alarms = LocalAlarms.rollbackAlarms(ENDPOINT, ALARMS, 60 * msPerSecond);
  const events: DeploymentEvent[] = [];
  const host = new LocalHosting({
    alarms,
    msPerSecond,
    alarmPollMs: 1,
    loadModel: async (name) => model(name),
    onDeployment: (event) => {
      events.push(event);
      for (const listener of listeners) listener(event);
    },
  });
  // The requests are sent at once (each picks its fleet when it is sent), then counted by answer.
  const served = async (n: number): Promise<Record<string, number>> => {
    const requests = Array.from({ length: n }, () =>
      host.invoke(ENDPOINT, { body: '{}', contentType: 'application/json' }),
    );
    const counts: Record<string, number> = {};
    for (const answer of await Promise.all(requests)) {
      expect(JSON.parse(answer.body)).toEqual({ model: answer.modelName });
      counts[answer.modelName] = (counts[answer.modelName] ?? 0) + 1;
    }
    return counts;
  };
  return { host, alarms, events, served };
}

describe('pickFleet (smooth weighted round-robin)', () => {
  it("keeps every fleet's share within one request of its weight over any prefix", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 99 }), fc.integer({ min: 1, max: 400 }), (percent, n) => {
        const fleets = [
          { name: 'blue', weight: 1 - percent / 100, current: 0 },
          { name: 'green', weight: percent / 100, current: 0 },
        ];
        let green = 0;
        for (let i = 1; i <= n; i++) {
          if (pickFleet(fleets).name === 'green') green++;
          expect(Math.abs(green - (i * percent) / 100)).toBeLessThanOrEqual(1);
        }
      }),
    );
  });

  it('never picks a fleet without traffic', () => {
    const fleets = [
      { name: 'blue', weight: 0, current: 0 },
      { name: 'green', weight: 1, current: 0 },
    ];
    for (let i = 0; i < 10; i++) expect(pickFleet(fleets).name).toBe('green');
  });
});

describe('planDeployment', () => {
  it('plans a canary of whole instances, then the rest, with the waits', () => {
    expect(planDeployment(canary(300, 600), 2)).toEqual({
      steps: [0.5, 1],
      waitSeconds: 300,
      bakeSeconds: 600,
      timeoutSeconds: 3600,
    });
    expect(planDeployment(canary(300, 600), 4).steps).toEqual([0.25, 1]);
  });

  it('plans linear steps and all-at-once', () => {
    const linear: DeploymentConfigSpec = {
      BlueGreenUpdatePolicy: {
        TrafficRoutingConfiguration: {
          Type: 'LINEAR',
          WaitIntervalInSeconds: 60,
          LinearStepSize: { Type: 'CAPACITY_PERCENT', Value: 25 },
        },
      },
    };
    expect(planDeployment(linear, 4).steps).toEqual([0.25, 0.5, 0.75, 1]);
    expect(planDeployment(undefined, 1).steps).toEqual([1]);
  });

  it('refuses what SageMaker refuses: canary on one instance, a canary over 50 %', () => {
    expect(() => planDeployment(canary(1, 1), 1)).toThrow(/needs at least 2 instances/);
    const big = canary(1, 1);
    const routing = {
      ...big.BlueGreenUpdatePolicy!.TrafficRoutingConfiguration!,
      CanarySize: { Type: 'CAPACITY_PERCENT', Value: 60 },
    };
    expect(() =>
      planDeployment({ BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: routing } }, 4),
    ).toThrow(/at most 50%/);
  });
});

describe('LocalHosting', () => {
  it('creates an endpoint that serves one fleet, and refuses a second endpoint of the same name', async () => {
    const { host, served } = hosting();
    host.createEndpoint(ENDPOINT, config('config-1', 'model-1'));
    expect(host.describeEndpoint(ENDPOINT).EndpointStatus).toBe('Creating');
    await host.settled(ENDPOINT);
    expect(host.describeEndpoint(ENDPOINT)).toMatchObject({
      EndpointStatus: 'InService',
      EndpointConfigName: 'config-1',
    });
    expect(await served(10)).toEqual({ 'model-1': 10 });
    expect(() => host.createEndpoint(ENDPOINT, config('config-1', 'model-1'))).toThrow(
      /already existing endpoint/,
    );
  });

  it('answers a missing endpoint with "Could not find endpoint", and InvokeEndpoint with a ValidationException', () => {
    const { host } = hosting();
    expect(() => host.describeEndpoint('nope')).toThrow(/Could not find endpoint/);
    expect(() => host.invoke('nope', { body: '{}', contentType: 'application/json' })).toThrow(
      SageMakerApiError,
    );
  });

  it('shifts real traffic blue/green: the canary share, then all, then retires blue after the bake', async () => {
    // GIVEN an endpoint on config-1, WHEN it is updated to config-2 with a canary of 1 of 2 instances
    const { host, events, served } = hosting(1);
    const shares: Promise<Record<string, number>>[] = [];
    // Sampled as each phase begins (the hosting reports a phase right after it sets the weights).
    const sampling = (event: DeploymentEvent): void => {
      if (event.phase === 'shift' || event.phase === 'bake') shares.push(served(100));
    };
    host.createEndpoint(ENDPOINT, config('config-1', 'model-1'));
    await host.settled(ENDPOINT);
    events.length = 0;
    listeners.push(sampling);
    host.updateEndpoint(
      ENDPOINT,
      config('config-1', 'model-1'),
      config('config-2', 'model-2'),
      canary(40, 40),
    );
    expect(host.describeEndpoint(ENDPOINT)).toMatchObject({
      EndpointStatus: 'Updating',
      EndpointConfigName: 'config-1',
      PendingDeploymentSummary: { EndpointConfigName: 'config-2' },
    });
    await host.settled(ENDPOINT);

    // THEN the canary took half the requests, the rest shift and the bake all of them, and config-2 serves alone
    expect(await Promise.all(shares)).toEqual([
      { 'model-1': 50, 'model-2': 50 },
      { 'model-2': 100 },
      { 'model-2': 100 },
    ]);
    expect(events.map((e) => e.phase)).toEqual(['provisioned', 'shift', 'shift', 'bake', 'succeeded']);
    expect(host.describeEndpoint(ENDPOINT)).toMatchObject({
      EndpointStatus: 'InService',
      EndpointConfigName: 'config-2',
    });
    expect(host.fleets(ENDPOINT)).toEqual([{ configName: 'config-2', modelName: 'model-2', weight: 1 }]);
  });

  it('rolls back to the old config when a rollback alarm fires, ending InService with no FailureReason', async () => {
    const { host, alarms, events, served } = hosting(1);
    host.createEndpoint(ENDPOINT, config('config-1', 'model-1'));
    await host.settled(ENDPOINT);
    // WHEN the 5XX alarm goes to ALARM during the canary
    listeners.push((event) => {
      if (event.phase === 'shift' && event.newTrafficShare === 0.5) {
        alarms.setAlarmState(`${ENDPOINT}-rollback-5xx`, 'ALARM', 'test');
      }
    });
    host.updateEndpoint(
      ENDPOINT,
      config('config-1', 'model-1'),
      config('config-2', 'model-2'),
      canary(200, 200),
    );
    await host.settled(ENDPOINT);

    const described = host.describeEndpoint(ENDPOINT);
    expect(described).toMatchObject({ EndpointStatus: 'InService', EndpointConfigName: 'config-1' });
    expect(described.FailureReason).toBeUndefined();
    expect(described.PendingDeploymentSummary).toBeUndefined();
    expect(events.map((e) => e.phase).slice(-2)).toEqual(['rolling-back', 'rolled-back']);
    expect(events.at(-1)?.detail).toMatch(/rollback-5xx went to ALARM \(test\) while 50 % of traffic/);
    expect(await served(20)).toEqual({ 'model-1': 20 });
  });

  it('rolls back from the 5XX errors the fleets themselves measure', async () => {
    const events: DeploymentEvent[] = [];
    const broken = new LocalHosting({
      alarms: LocalAlarms.rollbackAlarms(ENDPOINT, ALARMS, 20),
      msPerSecond: 1,
      alarmPollMs: 1,
      loadModel: async (name) =>
        name === 'model-1'
          ? model(name)
          : { modelName: name, invoke: () => ({ status: 500, body: 'boom', contentType: 'text/plain' }) },
      onDeployment: (event) => events.push(event),
    });
    broken.createEndpoint(ENDPOINT, config('config-1', 'model-1'));
    await broken.settled(ENDPOINT);
    broken.updateEndpoint(
      ENDPOINT,
      config('config-1', 'model-1'),
      config('config-2', 'model-2'),
      canary(400, 0),
    );
    // The canary fleet answers 500 to its half of a steady stream of requests.
    const stream = setInterval(() => {
      for (let i = 0; i < 20; i++)
        void broken.invoke(ENDPOINT, { body: '{}', contentType: 'application/json' });
    }, 2);
    await broken.settled(ENDPOINT);
    clearInterval(stream);
    expect(broken.describeEndpoint(ENDPOINT).EndpointConfigName).toBe('config-1');
    expect(events.at(-1)?.detail).toMatch(/rollback-5xx went to ALARM \(Threshold Crossed/);
  });

  it('refuses updates SageMaker refuses: a renamed variant, an unknown alarm, an endpoint not InService', async () => {
    const { host } = hosting();
    host.createEndpoint(ENDPOINT, config('config-1', 'model-1'));
    await host.settled(ENDPOINT);
    const old = config('config-1', 'model-1');
    expect(() => host.updateEndpoint(ENDPOINT, old, config('c2', 'm2', 2, 'Renamed'), canary(1, 1))).toThrow(
      /variant name of a blue\/green update cannot change/,
    );
    expect(() =>
      host.updateEndpoint(ENDPOINT, old, config('c2', 'm2'), {
        AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'nope' }] },
      }),
    ).toThrow(/alarm nope does not exist/);
    host.updateEndpoint(ENDPOINT, old, config('c2', 'm2'), canary(100, 100));
    expect(() => host.updateEndpoint(ENDPOINT, old, config('c3', 'm3'), canary(1, 1))).toThrow(
      /in-progress endpoint/,
    );
    await host.stop();
  });
});
