/**
 * A hosting fleet on its instance threads (endpoint-instances.ts): each instance loads its own copy of
 * the model from the model data, answers exactly what the model answers in-process, and a blue/green
 * update under a steady stream of concurrent requests never mixes two model versions in one answer.
 */
import { SERVING_CONTENT_TYPES } from '../../../functions/contracts';
import { writeKnnModelTarGz } from '../../../functions/core/knn';
import { writeServingBundle } from '../../../functions/core/serving/bundle';
import { LocalAlarms } from '../../../local/services/alarms';
import { EndpointInstances, threadsFor } from '../../../local/services/endpoint-instances';
import { LocalHosting, type EndpointConfigSpec } from '../../../local/services/hosting';
import { loadModel, type LoadedModel, type ModelSpec } from '../../../local/services/model-containers';
import { smallVersion } from '../../core/serving/fixtures';

const KNN_IMAGE = '382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1';
const ENDPOINT = 'reelflow-recommender';
const ALARMS = {
  endpoint5xxThreshold: 5,
  modelLatencyP99Ms: 5000,
  apiErrorRateThreshold: 0.05,
  evaluationPeriods: 2,
};

/** A model version `version` of the small fixture: pre -> k-NN -> post, loaded from its model data. */
async function versionModel(version: string): Promise<LoadedModel> {
  const { bundle, index } = smallVersion(3);
  const objects: Record<string, Uint8Array> = {
    [`${version}/bundle`]: await writeServingBundle({
      ...bundle,
      manifest: { ...bundle.manifest, modelVersion: version },
    }),
    [`${version}/knn`]: await writeKnnModelTarGz(index, { k: 100, predictor_type: 'classifier' }),
  };
  const serving = (role: string) => ({
    ContainerHostname: role,
    Image: 'serving',
    ModelDataUrl: `s3://bucket-1/${version}/bundle`,
    Environment: { REELFLOW_ROLE: role },
  });
  const spec: ModelSpec = {
    ModelName: version,
    Containers: [
      serving('pre'),
      {
        ContainerHostname: 'knn',
        Image: KNN_IMAGE,
        ModelDataUrl: `s3://bucket-1/${version}/knn`,
        Environment: { SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: SERVING_CONTENT_TYPES.accept },
      },
      serving('post'),
    ],
  };
  return loadModel(spec, async (_bucket, key) => objects[key]);
}

const request = (userId: number) => ({
  body: JSON.stringify({ user_id: userId }),
  contentType: SERVING_CONTENT_TYPES.request,
  accept: SERVING_CONTENT_TYPES.accept,
});

const config = (name: string, modelName: string): EndpointConfigSpec => ({
  EndpointConfigName: name,
  ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: modelName, InitialInstanceCount: 2 }],
});

describe('endpoint instances', () => {
  it('answer exactly what the model answers in-process, on their own threads', async () => {
    const model = await versionModel('run-7');
    expect(model.source?.data.size).toBe(2);
    const instances = await EndpointInstances.start(model.source!, threadsFor(2));
    try {
      for (const userId of [3, 7, 42, 99]) {
        expect(await instances.invoke(request(userId))).toEqual(model.invoke(request(userId)));
      }
      const bad = await instances.invoke({ body: 'nope', contentType: 'application/json' });
      expect(bad).toEqual(model.invoke({ body: 'nope', contentType: 'application/json' }));
      expect(bad.status).toBe(400);
    } finally {
      await instances.stop();
    }
  });

  it('fail to start when the model data is not what the containers read', async () => {
    const model = await versionModel('run-7');
    const broken = { ...model.source!, data: new Map([...model.source!.data].slice(0, 1)) };
    await expect(EndpointInstances.start(broken, 1)).rejects.toThrow(/no model data at s3:\/\/bucket-1/);
  });

  it('serve one model version per answer while a blue/green update shifts and retires fleets', async () => {
    const models: Record<string, LoadedModel> = {
      'run-7': await versionModel('run-7'),
      'run-8': await versionModel('run-8'),
    };
    const host = new LocalHosting({
      alarms: LocalAlarms.rollbackAlarms(ENDPOINT, ALARMS, 60),
      msPerSecond: 1,
      alarmPollMs: 1,
      loadModel: async (name) => models[name],
    });
    host.createEndpoint(ENDPOINT, config('config-7', 'run-7'));
    await host.settled(ENDPOINT);
    host.updateEndpoint(ENDPOINT, config('config-7', 'run-7'), config('config-8', 'run-8'), {
      BlueGreenUpdatePolicy: {
        TrafficRoutingConfiguration: {
          Type: 'CANARY',
          WaitIntervalInSeconds: 150,
          CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 },
        },
        TerminationWaitInSeconds: 150,
      },
    });
    const answers: Promise<{ modelName: string; body: string }>[] = [];
    const stream = setInterval(() => {
      for (let i = 0; i < 10; i++) answers.push(host.invoke(ENDPOINT, request(7)));
    }, 2);
    await host.settled(ENDPOINT);
    for (let i = 0; i < 10; i++) answers.push(host.invoke(ENDPOINT, request(7)));
    clearInterval(stream);
    const served = await Promise.all(answers);
    const versions = new Set<string>();
    for (const answer of served) {
      // the body's version is the version of the fleet that took the request
      expect(JSON.parse(answer.body)).toMatchObject({ modelVersion: answer.modelName, user_id: 7 });
      versions.add(answer.modelName);
    }
    expect([...versions].sort()).toEqual(['run-7', 'run-8']);
    expect(served.at(-1)?.modelName).toBe('run-8');
    await host.stop();
  });
});
