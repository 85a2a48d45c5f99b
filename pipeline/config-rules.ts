/**
 * The deploy config's rules that span keys (checked by `deployConfigSchema`, each issue attached to the
 * key the operator has to change), and the figures derived from a config: traffic shifts, planned
 * waits, Lambda memory limits and the SageMaker instance quotas a run needs.
 */
import type { z } from 'zod';
import { TAG_BITS } from '../functions/core/serving/user-tags';
import type { CapacitySize, DeployConfig, DeploymentConfig } from './config';

/** Lambda's memory ceiling; new accounts get a lower quota (see lambdaMemoryQuotaMb). */
export const LAMBDA_MAX_MEMORY_MB = 10_240;
/** The function memory quota of a new account, which AWS raises with usage or on request. */
export const NEW_ACCOUNT_LAMBDA_MEMORY_MB = 3008;

/**
 * Upper bound of the wait intervals of a blue/green update: one per traffic shift (a canary is two
 * shifts: the canary, then the rest; a linear update one per step; all-at-once one).
 */
export function trafficShiftCount(deployment: DeploymentConfig, instanceCount: number): number {
  if (deployment.trafficRouting === 'CANARY') return 2;
  if (deployment.trafficRouting === 'ALL_AT_ONCE') return 1;
  const step = deployment.linearStepSize;
  const stepShare = step.type === 'CAPACITY_PERCENT' ? step.value / 100 : step.value / instanceCount;
  return Math.ceil(1 / stepShare);
}

/** The longest a blue/green update waits by design: every shift's wait plus the bake (termination wait). */
export function totalDeploymentWaitSeconds(deployment: DeploymentConfig, instanceCount: number): number {
  return (
    trafficShiftCount(deployment, instanceCount) * deployment.waitIntervalSeconds +
    deployment.terminationWaitSeconds
  );
}

/** One SageMaker instance quota a deployment needs, by its name in Service Quotas. */
export interface SageMakerQuotaNeed {
  /** The quota's name in Service Quotas, e.g. `ml.m5.large for endpoint usage`. */
  readonly quotaName: string;
  /** Instances a run needs at the same time. */
  readonly instances: number;
  /** Why that many. */
  readonly reason: string;
}

/**
 * The SageMaker instance quotas a run needs with this config (new accounts often start at 0 or 1 for some
 * types; a job or endpoint above its quota fails with ResourceLimitExceeded). Training jobs run one after
 * the other; the candidate and production transforms run in parallel; a blue/green update runs the new
 * fleet beside the old one.
 */
export function sageMakerQuotaNeeds(
  config: Pick<DeployConfig, 'training' | 'transform' | 'endpoint'>,
): SageMakerQuotaNeed[] {
  const { training, transform, endpoint } = config;
  const trainingUsage = training.useSpot ? 'spot training job usage' : 'training job usage';
  const trainingNeeds = new Map<string, number>();
  for (const [type, count] of [
    [training.fmInstanceType, training.fmInstanceCount],
    [training.knnInstanceType, training.knnInstanceCount],
  ] as const) {
    trainingNeeds.set(type, Math.max(trainingNeeds.get(type) ?? 0, count));
  }
  return [
    ...[...trainingNeeds].map(([type, instances]) => ({
      quotaName: `${type} for ${trainingUsage}`,
      instances,
      reason: 'FM and k-NN training jobs run one after the other',
    })),
    {
      quotaName: `${transform.instanceType} for transform job usage`,
      instances: 2 * transform.instanceCount,
      reason: 'the candidate and production batch transforms run in parallel',
    },
    {
      quotaName: `${endpoint.instanceType} for endpoint usage`,
      instances: 2 * endpoint.instanceCount,
      reason: 'a blue/green update runs the new fleet beside the old one',
    },
  ];
}

/**
 * The Processing instance quota the data steps need when they may run as Processing jobs (mode `auto` or
 * `processing`): one instance, the steps run one after the other. None with mode `lambda`.
 */
export function processingQuotaNeeds(config: Pick<DeployConfig, 'processing'>): SageMakerQuotaNeed[] {
  const { processing } = config;
  if (processing.mode === 'lambda') return [];
  return [
    {
      quotaName: `${processing.instanceType} for processing job usage`,
      instances: 1,
      reason: `the data steps run as one-instance Processing jobs (processing.mode ${processing.mode}), one after the other`,
    },
  ];
}

/** Rules that span keys; each issue is attached to the key the operator has to change. */
export function checkCrossFieldRules(config: DeployConfig, ctx: z.RefinementCtx): void {
  checkLambdaMemory(config, ctx);
  checkTrafficShifts(config, ctx);
  checkDeploymentTimes(config, ctx);
  checkSpotWait(config, ctx);
  checkKnn(config, ctx);
  checkTrainer(config, ctx);
  checkApiClients(config, ctx);
  checkWorkflowLogs(config, ctx);
}

/**
 * The deploy workflow's execution logs never carry execution data: its state holds the production record
 * read from the SSM SecureString with WithDecryption, and the smoke test's API key with auth apiKey.
 */
function checkWorkflowLogs(config: Pick<DeployConfig, 'workflowLogs'>, ctx: z.RefinementCtx): void {
  if (config.workflowLogs.deploy.includeExecutionData) {
    ctx.addIssue({
      code: 'custom',
      path: ['workflowLogs', 'deploy', 'includeExecutionData'],
      message:
        'the deploy workflow state holds the production record decrypted from its SSM SecureString (and ' +
        'the smoke test API key with auth apiKey): its execution logs must not include execution data. ' +
        'Set it to false (errors are still logged at workflowLogs.deploy.level)',
    });
  }
}

/** The name of the API key and usage plan the deploy workflow's smoke test uses (auth `apiKey`). */
export const SMOKE_TEST_CLIENT = 'smoke-test';

/** API-key clients: at least one with auth apiKey, none otherwise; unique names, none the smoke test's. */
function checkApiClients(config: Pick<DeployConfig, 'api'>, ctx: z.RefinementCtx): void {
  const { auth, clients } = config.api;
  if (auth === 'apiKey' && clients.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['api', 'clients'],
      message:
        'auth apiKey needs at least one client ({ name, rateLimit, burstLimit, quotaPerDay }): each gets ' +
        'its own API key and usage plan, and without one nobody but the smoke test could call the API',
    });
  }
  if (auth !== 'apiKey' && clients.length > 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['api', 'clients'],
      message: `clients get API keys only with auth apiKey; got auth ${auth}. Set api.auth to apiKey or remove api.clients`,
    });
  }
  const seen = new Set<string>();
  clients.forEach((client, index) => {
    if (client.name === SMOKE_TEST_CLIENT || seen.has(client.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['api', 'clients', index, 'name'],
        message:
          client.name === SMOKE_TEST_CLIENT
            ? `${SMOKE_TEST_CLIENT} is reserved for the deploy workflow's own API key`
            : `duplicate client name ${client.name}`,
      });
    }
    seen.add(client.name);
  });
}

/** The workflow functions fit in the account's Lambda memory quota. */
function checkLambdaMemory(
  config: Pick<DeployConfig, 'workflowMemoryMb' | 'lambdaMemoryQuotaMb'>,
  ctx: z.RefinementCtx,
): void {
  if (config.workflowMemoryMb > config.lambdaMemoryQuotaMb) {
    ctx.addIssue({
      code: 'custom',
      path: ['workflowMemoryMb'],
      message:
        `${config.workflowMemoryMb} MB exceeds the account's Lambda memory quota (lambdaMemoryQuotaMb ` +
        `${config.lambdaMemoryQuotaMb} MB; new accounts are limited to ${NEW_ACCOUNT_LAMBDA_MEMORY_MB} MB). ` +
        `Lower workflowMemoryMb to at most ${config.lambdaMemoryQuotaMb}, or ask AWS to raise the account's ` +
        `Lambda memory quota (Service Quotas console -> AWS Lambda -> request a quota increase, or an AWS ` +
        `Support case "Service limit increase: Lambda") and then set lambdaMemoryQuotaMb to the new limit`,
    });
  }
}

/** Canary and linear shifts need a fleet to shift, and a share of it within the limits. */
function checkTrafficShifts(
  config: Pick<DeployConfig, 'deployment' | 'endpoint'>,
  ctx: z.RefinementCtx,
): void {
  const { deployment } = config;
  const count = config.endpoint.instanceCount;

  if (deployment.trafficRouting !== 'ALL_AT_ONCE' && count < 2) {
    ctx.addIssue({
      code: 'custom',
      path: ['endpoint', 'instanceCount'],
      message:
        `${deployment.trafficRouting} traffic routing needs at least 2 instances (a shift is at most 50 % of ` +
        `the fleet); got ${count}. Use more instances or deployment.trafficRouting ALL_AT_ONCE`,
    });
  } else if (deployment.trafficRouting === 'CANARY') {
    const share = shareOf(deployment.canarySize, count);
    if (share > 0.5) {
      ctx.addIssue({
        code: 'custom',
        path: ['deployment', 'canarySize', 'value'],
        message: `the canary must be at most 50 % of the ${count} endpoint instances; got ${describe(deployment.canarySize)}`,
      });
    }
  } else if (deployment.trafficRouting === 'LINEAR') {
    const share = shareOf(deployment.linearStepSize, count);
    if (share < 0.1 || share > 0.5) {
      ctx.addIssue({
        code: 'custom',
        path: ['deployment', 'linearStepSize', 'value'],
        message: `a linear step must be 10-50 % of the ${count} endpoint instances; got ${describe(deployment.linearStepSize)}`,
      });
    }
  }
}

/** The update timeout covers its planned waits, and the poll budget covers the update timeout. */
function checkDeploymentTimes(
  config: Pick<DeployConfig, 'deployment' | 'endpoint'>,
  ctx: z.RefinementCtx,
): void {
  const { deployment } = config;
  const count = config.endpoint.instanceCount;
  const waits = totalDeploymentWaitSeconds(deployment, count);
  if (deployment.maxExecutionTimeoutSeconds <= waits) {
    ctx.addIssue({
      code: 'custom',
      path: ['deployment', 'maxExecutionTimeoutSeconds'],
      message:
        `must exceed the update's planned waits (${waits} s: every traffic shift's wait interval plus ` +
        `the termination wait); got ${deployment.maxExecutionTimeoutSeconds}`,
    });
  }
  const pollBudget = deployment.maxPolls * deployment.pollIntervalSeconds;
  if (pollBudget < deployment.maxExecutionTimeoutSeconds) {
    ctx.addIssue({
      code: 'custom',
      path: ['deployment', 'maxPolls'],
      message:
        `maxPolls x pollIntervalSeconds (${pollBudget} s) must cover maxExecutionTimeoutSeconds ` +
        `(${deployment.maxExecutionTimeoutSeconds} s), or the workflow stops watching a running update`,
    });
  }
}

/** Spot training has a wait limit, and no wait limit is shorter than the runtime limit. */
function checkSpotWait(config: Pick<DeployConfig, 'training'>, ctx: z.RefinementCtx): void {
  const { training } = config;
  if (training.useSpot && training.maxWaitSeconds === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['training', 'maxWaitSeconds'],
      message: 'is required when training.useSpot is true (how long to wait for spot capacity plus training)',
    });
  } else if (training.maxWaitSeconds !== undefined && training.maxWaitSeconds < training.maxRuntimeSeconds) {
    ctx.addIssue({
      code: 'custom',
      path: ['training', 'maxWaitSeconds'],
      message: `must be at least training.maxRuntimeSeconds (${training.maxRuntimeSeconds}); got ${training.maxWaitSeconds}`,
    });
  }
}

/** k-NN ranks by inner product with room for the user tags and the returned movies. */
function checkKnn(config: Pick<DeployConfig, 'ml'>, ctx: z.RefinementCtx): void {
  const { ml } = config;
  if (ml.knn.index_metric !== 'INNER_PRODUCT') {
    ctx.addIssue({
      code: 'custom',
      path: ['ml', 'knn', 'index_metric'],
      message:
        `must be INNER_PRODUCT: the user and movie vectors are built so that their inner product ranks ` +
        `movies exactly as the FM score does, and the user tags decode from inner products; got ${ml.knn.index_metric}`,
    });
  }
  const minK = TAG_BITS + 1;
  if (ml.knn.k < minK) {
    ctx.addIssue({
      code: 'custom',
      path: ['ml', 'knn', 'k'],
      message:
        `must be at least ${minK}: each request carries a user tag query whose answer must hold all ` +
        `${TAG_BITS} tag rows, and the movie query needs neighbours beyond them; got ${ml.knn.k}`,
    });
  }
  if (ml.knn.k < ml.evaluation.topN) {
    ctx.addIssue({
      code: 'custom',
      path: ['ml', 'knn', 'k'],
      message: `must be at least ml.evaluation.topN (${ml.evaluation.topN}), the number of movies the API returns; got ${ml.knn.k}`,
    });
  }
}

/**
 * `ml.trainer` 'ials' trains one iALS job on one instance: the tuning search (FM trials, FM's
 * hyperparameters) does not apply, and a second instance would train nothing.
 */
function checkTrainer(config: Pick<DeployConfig, 'ml' | 'tuning' | 'training'>, ctx: z.RefinementCtx): void {
  if (config.ml.trainer !== 'ials') return;
  if (config.tuning.enabled) {
    ctx.addIssue({
      code: 'custom',
      path: ['tuning', 'enabled'],
      message:
        "the tuning search trains FM trials and tunes FM's settings; with ml.trainer 'ials' it does not " +
        'apply: set tuning.enabled to false (or ml.trainer to fm)',
    });
  }
  if (config.training.fmInstanceCount > 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['training', 'fmInstanceCount'],
      message:
        `the iALS training job runs on one instance (the trainer does not distribute); set it to 1 with ` +
        `ml.trainer 'ials', got ${config.training.fmInstanceCount}`,
    });
  }
}

function shareOf(size: CapacitySize, instanceCount: number): number {
  return size.type === 'CAPACITY_PERCENT' ? size.value / 100 : size.value / instanceCount;
}

function describe(size: CapacitySize): string {
  return size.type === 'CAPACITY_PERCENT' ? `${size.value} %` : `${size.value} instance(s)`;
}
