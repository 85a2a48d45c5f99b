/**
 * `reelflow verify-aws`: runs, in the user's account, the few assumptions no document settles, then
 * deletes everything it created, even on failure or Ctrl-C:
 *
 *   stack outputs -> prepare + upload (core, as Prepare) -> train FM (built-in) -> vectors from the real FM
 *   artifact (core, as BuildVectors) -> train k-NN (built-in) -> model pre/knn/post + endpoint -> invoke
 *   (k-NN's verbose answer through our post container) -> the recommend Lambda's handler on that endpoint
 *   -> one GET to the deployed API (when a production endpoint serves) -> cleanup
 *
 * The logic runs over ports (verify-aws/ports.ts); waits and clocks are injected so tests run instantly.
 */
import { parseS3Uri } from '../functions/common/s3-uri';
import { SERVING_CONTENT_TYPES } from '../functions/contracts';
import { trainingHyperparameters } from '../functions/core/prepare';
import type { DeployConfig } from '../pipeline/config';
import { checkApiResponse, checkServed, safeJson, servedSchema } from './verify-aws/answers';
import { cleanUp, type Created } from './verify-aws/cleanup';
import { VerifyAbortedError, VerifyCheckError, VerifyTimeoutError } from './verify-aws/errors';
import {
  buildVerifyVectors,
  endpointConfigRequest,
  modelRequest,
  newVerifyId,
  prepareVerifyData,
  trainingJobRequest,
  verifyNames,
  verifyUris,
  type VerifySettings,
} from './verify-aws/plan';
import type { InstanceUsage } from './verify-aws/pricing';
import type { Sleep, TrainingJobState, VerifyPorts } from './verify-aws/ports';
import { CHECKS, CheckRecorder, type VerifyReport } from './verify-aws/report';
import { readStackSettings } from './verify-aws/stack';

export interface VerifyOptions {
  readonly stackName: string;
  readonly region: string;
  /** The deploy config (cdk.json): ML settings, instance types, resource prefix, endpoint name. */
  readonly deploy: DeployConfig;
  /** @default - a new id from the clock */
  readonly id?: string;
  readonly signal?: AbortSignal;
  /** Milliseconds, monotonic. @default performance.now */
  readonly now?: () => number;
  readonly sleep?: Sleep;
  /** Describe* poll interval. @default 15 s */
  readonly pollMs?: number;
  /** Bound of each training job's wait. @default 15 min */
  readonly trainingTimeoutMs?: number;
  /** Bound of the wait for InService. @default 15 min */
  readonly endpointTimeoutMs?: number;
  /** Bound of the cleanup's wait for a stopped training job. @default 5 min */
  readonly cleanupWaitMs?: number;
  /** A check finished (for a terminal). */
  readonly onCheck?: (check: VerifyReport['checks'][number]) => void;
  /** What is being waited for. */
  readonly onProgress?: (message: string) => void;
}

/** Waits `ms`, or rejects with VerifyAbortedError when `signal` aborts first. */
export const defaultSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new VerifyAbortedError());
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new VerifyAbortedError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

export async function runVerifyAws(ports: VerifyPorts, options: VerifyOptions): Promise<VerifyReport> {
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? defaultSleep;
  const signal = options.signal ?? new AbortController().signal;
  const pollMs = options.pollMs ?? 15_000;
  const id = options.id ?? newVerifyId(new Date());
  const names = verifyNames(options.deploy.resourcePrefix, id);
  const recorder = new CheckRecorder(now, options.onCheck, signal);
  const created: Created = { trainingJobs: [], uploadedPrefix: undefined, endpointStartedAt: undefined };
  const usages: InstanceUsage[] = [];
  let settings: VerifySettings | undefined;
  let recommendUrl: string | undefined;
  let productionEndpoint = options.deploy.endpoint.name;

  const waitTraining = async (name: string): Promise<TrainingJobState> => {
    const deadline = now() + (options.trainingTimeoutMs ?? 15 * 60_000);
    for (;;) {
      const state = await ports.sagemaker.describeTrainingJob(name);
      if (!['InProgress', 'Stopping'].includes(state.status)) return state;
      if (now() > deadline)
        throw new VerifyTimeoutError(
          `${name} still ${state.status} (${state.secondaryStatus ?? '-'}) at the time limit`,
        );
      options.onProgress?.(`${name}: ${state.status} (${state.secondaryStatus ?? '-'})`);
      await sleep(pollMs, signal);
    }
  };
  const train = async (
    name: string,
    instanceType: string,
    request: Parameters<typeof trainingJobRequest>[0],
  ) => {
    created.trainingJobs.push(name);
    await ports.sagemaker.createTrainingJob(trainingJobRequest(request));
    const state = await waitTraining(name);
    usages.push({
      what: name,
      use: 'training',
      instanceType,
      instances: 1,
      seconds: state.billableSeconds ?? 0,
    });
    if (state.status !== 'Completed' || !state.artifact)
      throw new VerifyCheckError(`${name} ${state.status}: ${state.failureReason ?? 'no reason given'}`);
    return state;
  };

  try {
    await recorder.run(CHECKS.stack, async () => {
      const stack = await readStackSettings(ports.stack, options.stackName, options.region, options.deploy);
      settings = stack.settings;
      recommendUrl = stack.recommendUrl;
      productionEndpoint = stack.endpointName ?? productionEndpoint;
      return `${options.stackName} in ${options.region}: bucket ${settings.bucket}`;
    });
    const s = settings!;
    const uris = verifyUris(s.bucket, id);
    const data = await recorder.run(CHECKS.upload, async () => {
      const prepared = await prepareVerifyData(s.ml);
      created.uploadedPrefix = uris.prefix;
      for (const [path, bytes] of prepared.files)
        await ports.storage.putObject(s.bucket, `${uris.prepared}${path}`, bytes);
      const m = prepared.manifest;
      return {
        value: prepared,
        detail: `${m.ratings} ratings (${m.users} users x ${m.movies} movies), ${m.train.examples} train examples -> s3://${s.bucket}/${uris.prefix}`,
      };
    });
    const hyperparameters = trainingHyperparameters(data.config, data.manifest.featureDim);
    const fm = await recorder.run(CHECKS.trainFm, async () => {
      const state = await train(names.fmJob, s.fmInstanceType, {
        settings: s,
        name: names.fmJob,
        algorithm: 'factorization-machines',
        hyperparameters: hyperparameters.fm,
        channels: [
          { name: 'train', uri: uris.train },
          { name: 'test', uri: uris.test },
        ],
        output: uris.fmOutput,
        instanceType: s.fmInstanceType,
      });
      return {
        value: state,
        detail: `${names.fmJob} Completed, ${state.billableSeconds ?? '?'} s billed on ${s.fmInstanceType}`,
      };
    });
    await recorder.run(CHECKS.vectors, async () => {
      const { bucket, key } = parseS3Uri(fm.artifact!);
      const vectors = await buildVerifyVectors(data, await ports.storage.getObject(bucket, key), id);
      for (const [path, bytes] of vectors.files)
        await ports.storage.putObject(s.bucket, `${uris.vectors}${path}`, bytes);
      return `read ${fm.artifact} with the core: ${vectors.rows} k-NN rows of dimension ${vectors.dim}, serving bundle`;
    });
    const knn = await recorder.run(CHECKS.trainKnn, async () => {
      const state = await train(names.knnJob, s.knnInstanceType, {
        settings: s,
        name: names.knnJob,
        algorithm: 'knn',
        hyperparameters: hyperparameters.knn,
        channels: [{ name: 'train', uri: uris.knnTrain }],
        output: uris.knnOutput,
        instanceType: s.knnInstanceType,
      });
      return {
        value: state,
        detail: `${names.knnJob} Completed, ${state.billableSeconds ?? '?'} s billed on ${s.knnInstanceType}`,
      };
    });
    await recorder.run(CHECKS.endpoint, async () => {
      created.model = names.model;
      await ports.sagemaker.createModel(modelRequest(s, names.model, knn.artifact!, uris.servingBundle));
      created.endpointConfig = names.endpointConfig;
      await ports.sagemaker.createEndpointConfig(endpointConfigRequest(s, names.endpointConfig, names.model));
      created.endpoint = names.endpoint;
      created.endpointStartedAt = now();
      await ports.sagemaker.createEndpoint({
        EndpointName: names.endpoint,
        EndpointConfigName: names.endpointConfig,
      });
      const deadline = now() + (options.endpointTimeoutMs ?? 15 * 60_000);
      for (;;) {
        const state = await ports.sagemaker.describeEndpoint(names.endpoint);
        if (state?.status === 'InService')
          return `${names.endpoint} InService (1 x ${s.endpointInstanceType})`;
        if (state?.status === 'Failed')
          throw new VerifyCheckError(`${names.endpoint} Failed: ${state.failureReason ?? 'no reason given'}`);
        if (now() > deadline)
          throw new VerifyTimeoutError(
            `${names.endpoint} not InService at the time limit (status ${state?.status ?? 'none'})`,
          );
        options.onProgress?.(`${names.endpoint}: ${state?.status ?? 'not found yet'}`);
        await sleep(pollMs, signal);
      }
    });
    await recorder.run(CHECKS.invoke, async () => {
      const answer = await ports.runtime.invokeEndpoint({
        EndpointName: names.endpoint,
        ContentType: SERVING_CONTENT_TYPES.request,
        Accept: SERVING_CONTENT_TYPES.accept,
        Body: JSON.stringify({ user_id: data.user.id }),
      });
      const text = Buffer.from(answer.body).toString('utf8');
      const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
      const served = servedSchema.safeParse(safeJson(line));
      if (!served.success) throw new VerifyCheckError(`not a served recommendation: ${line.slice(0, 200)}`);
      return checkServed(served.data, data.user, id, data.config.evaluation.topN);
    });
    await recorder.run(CHECKS.recommend, async () => {
      const response = await ports.recommend.recommend(names.endpoint, data.user.id);
      return checkApiResponse(response.statusCode, response.body, id);
    });
    await recorder.run(CHECKS.api, async () => {
      if (!recommendUrl) return { skip: 'the stack has no RecommendUrl output' };
      const production = await ports.sagemaker.describeEndpoint(productionEndpoint);
      if (production?.status !== 'InService')
        return {
          skip: `no production endpoint in service (${productionEndpoint}: ${production?.status ?? 'none'})`,
        };
      const url = `${recommendUrl}?user_id=${options.deploy.deployment.smokeTestUserId}`;
      const response = await ports.http.get(url);
      return `GET ${url}: ${checkApiResponse(response.status, response.body)}`;
    });
  } catch (error) {
    // The failing check is recorded; what remains is not run. Anything else is a bug worth seeing.
    if (!recorder.failed) throw error;
  } finally {
    recorder.skipRemaining();
    await recorder
      .run(CHECKS.cleanup, async () => {
        const result = await cleanUp(ports, created, {
          bucket: settings?.bucket,
          now,
          sleep,
          pollMs,
          waitMs: options.cleanupWaitMs ?? 5 * 60_000,
          onProgress: options.onProgress,
        });
        if (created.endpointStartedAt !== undefined && settings) {
          usages.push({
            what: names.endpoint,
            use: 'hosting',
            instanceType: settings.endpointInstanceType,
            instances: 1,
            seconds: Math.max(0, (result.endpointDeletedAt ?? now()) - created.endpointStartedAt) / 1000,
          });
        }
        if (result.leftovers.length > 0)
          throw new VerifyCheckError(`left behind: ${result.leftovers.join('; ')}`);
        return result.detail;
      })
      .catch(() => undefined);
  }
  return recorder.report(id, usages);
}
