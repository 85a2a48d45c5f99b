/**
 * Issue 9, stale baseline, on the local engine: two uploads whose runs were both evaluated against
 * production version run-0001. The first deploys (run-0002 becomes production); the second, deployed
 * afterwards, was compared with a version that no longer serves and is rejected before it touches the
 * endpoint. The local pipeline is SUPERSEDED (two runs never reach Deploy with the same baseline there),
 * so this drives the rendered deploy definition directly: the local parameter store holds the production
 * record, the real record-deployment handler writes it, and a small endpoint stand-in answers SageMaker.
 */
import type { RunSummary } from '../../functions/contracts';
import { recordDeployment, type RecordDeploymentInput } from '../../functions/workflow/record-deployment';
import { ParameterStoreError, LocalParameterStore } from '../../local/services/parameters';
import { parseDeployConfig } from '../../pipeline/config';
import { DEPLOY_STATES as S } from '../../pipeline/deploy-workflow';
import { productionParameterName } from '../../pipeline/names';
import { renderWorkflowDefinitions } from '../../pipeline/render';
import { useExecutionName } from '../pipeline/execution-context';
import { runLocally, taskError, type TaskHandler } from '../pipeline/run-locally';

useExecutionName();

const config = parseDeployConfig({});
const definition = renderWorkflowDefinitions(config).deploy;
const PARAMETER = productionParameterName(config);

/** A passed summary of `runId`, evaluated against `productionRunId`. */
function summary(runId: string, productionRunId: string | null): RunSummary {
  return {
    runId,
    trigger: { key: `ratings/${runId}.csv`, versionId: 'v1' },
    names: {
      fmJob: `reelflow-fm-${runId}`,
      knnJob: `reelflow-knn-${runId}`,
      model: `reelflow-model-${runId}`,
      transformModel: `reelflow-tmodel-${runId}`,
      productionTransformModel: `reelflow-tmodelp-${runId}`,
      candidateTransformJob: `reelflow-eval-${runId}`,
      productionTransformJob: `reelflow-evalprod-${runId}`,
      endpointConfigPrefix: `reelflow-config-${runId}`,
    },
    gate: { passed: true, reasons: [] },
    approvalText: 'better than production',
    candidateMetrics: { 'ndcg@10': 0.2 },
    productionMetrics: productionRunId ? { 'ndcg@10': 0.1 } : null,
    productionRunId,
    reportUri: `s3://reelflow-data/runs/${runId}/evaluation/report.html`,
    evaluationUri: `s3://reelflow-data/runs/${runId}/evaluation/evaluation.json`,
  };
}

/** The world both deploys share: the parameter store, the run records, the endpoint and the summaries. */
function world(summaries: RunSummary[], serving: string | null) {
  const parameters = new LocalParameterStore();
  const runJson = new Map<string, unknown>();
  const sageMakerCalls: string[] = [];
  const endpoint = { configName: serving, pending: '' };
  const stores = {
    putRunJson: async (key: string, value: unknown) => {
      runJson.set(key, value);
    },
    putProductionRecord: async (value: string) => {
      parameters.putParameter({ Name: PARAMETER, Value: value, Type: 'SecureString', Overwrite: true });
    },
  };
  const settings = { endpointName: config.endpoint.name, now: () => new Date('2026-11-25T10:00:00Z') };
  const record: TaskHandler = (input: RecordDeploymentInput) => recordDeployment(input, stores, settings);
  const sageMaker =
    (name: string, answer: (input: never) => unknown): TaskHandler =>
    (input: never) => {
      sageMakerCalls.push(name);
      return answer(input);
    };
  const describe = () => {
    if (endpoint.configName === null)
      throw taskError('SageMaker.SageMakerException', `Could not find endpoint "${config.endpoint.name}".`);
    return describeServing(endpoint.configName);
  };
  const describeServing = (configName: string) => ({
    EndpointName: config.endpoint.name,
    EndpointConfigName: configName,
    EndpointStatus: 'InService',
  });
  const handlers: Record<string, TaskHandler> = {
    [S.loadCandidate]: (input: { Key: string }) => ({
      Body: JSON.stringify(summaries.find((s) => input.Key === `runs/${s.runId}/evaluation/summary.json`)),
    }),
    [S.readProduction]: (input: { Name: string }) => {
      try {
        return parameters.getParameter(input);
      } catch (error) {
        // As the local binding names it (local/task-bindings.ts): `Ssm.<code>Exception`.
        if (error instanceof ParameterStoreError)
          throw taskError(`Ssm.${error.code}Exception`, error.message);
        throw error;
      }
    },
    [S.createEndpointConfig]: sageMaker(S.createEndpointConfig, (input: { EndpointConfigName: string }) => {
      endpoint.pending = input.EndpointConfigName;
      return { EndpointConfigArn: 'arn:...' };
    }),
    [S.findEndpoint]: sageMaker(S.findEndpoint, describe),
    [S.updateEndpoint]: sageMaker(S.updateEndpoint, () => {
      endpoint.configName = endpoint.pending;
      return { EndpointArn: 'arn:...' };
    }),
    [S.createEndpoint]: sageMaker(S.createEndpoint, () => {
      endpoint.configName = endpoint.pending;
      return { EndpointArn: 'arn:...' };
    }),
    [S.describeEndpoint]: sageMaker(S.describeEndpoint, describe),
    [S.recordDeployed]: record,
    [S.recordStaleBaseline]: record,
    [S.recordFailure]: record,
    [S.readFailureAlarms]: () => ({}),
    [S.smokeTest]: () => ({ ok: true }),
    [S.notifyDeployed]: () => ({ MessageId: '1' }),
    [S.notifyStaleBaseline]: () => ({ MessageId: '2' }),
    [S.notifyFailure]: () => ({ MessageId: '3' }),
  };
  const production = () => JSON.parse(parameters.value(PARAMETER) ?? 'null') as { runId: string } | null;
  return { parameters, runJson, sageMakerCalls, endpoint, stores, handlers, production };
}

describe('stale baseline: two runs evaluated against the same production version', () => {
  it('deploys the first, then rejects the second, whose baseline no longer serves', async () => {
    // GIVEN run-0001 serves, and runs 0002 and 0003 were both evaluated against it
    const serving = 'reelflow-config-run-0001-00000000';
    const w = world([summary('run-0002', 'run-0001'), summary('run-0003', 'run-0001')], serving);
    await w.stores.putProductionRecord(
      JSON.stringify({
        runId: 'run-0001',
        modelName: 'reelflow-model-run-0001',
        endpointConfigName: serving,
        deployedAt: '2026-11-24T10:00:00Z',
        metrics: { 'ndcg@10': 0.1 },
      }),
    );

    // WHEN run-0002 is deployed, then run-0003
    const first = await runLocally(definition, { runId: 'run-0002' }, w.handlers);
    const callsOfFirst = w.sageMakerCalls.splice(0);
    const servingAfterFirst = w.endpoint.configName;
    const second = await runLocally(definition, { runId: 'run-0003' }, w.handlers);

    // THEN the first deploys and becomes production
    expect(first.error).toBeUndefined();
    expect(first.path.at(-1)).toBe(S.deployed);
    expect(callsOfFirst).toContain(S.updateEndpoint);
    expect(servingAfterFirst).toMatch(/^reelflow-config-run-0002-[0-9a-f]{8}$/);

    // AND the second ends StaleBaseline without any SageMaker call; run-0002 keeps serving
    const reason =
      'compared with production run-0001, but run-0002 is serving now; upload again or start a run by hand to re-evaluate';
    expect(second.path.slice(-4)).toEqual([
      S.sameProduction,
      S.recordStaleBaseline,
      S.notifyStaleBaseline,
      S.staleBaseline,
    ]);
    expect(second.error).toEqual({ name: 'StaleBaseline', cause: reason });
    expect(w.sageMakerCalls).toEqual([]);
    expect(w.endpoint.configName).toBe(servingAfterFirst);
    expect(w.production()?.runId).toBe('run-0002');
    expect(w.runJson.get('runs/run-0002/deployment.json')).toMatchObject({ outcome: 'deployed' });
    expect(w.runJson.get('runs/run-0003/deployment.json')).toMatchObject({
      outcome: 'stale-baseline',
      servingConfigName: servingAfterFirst,
      reason,
    });
  });

  it('deploys a first-ever candidate (compared with no production) while the parameter does not exist', async () => {
    const w = world([summary('run-0001', null)], null);

    const run = await runLocally(definition, { runId: 'run-0001' }, w.handlers);

    expect(run.error).toBeUndefined();
    expect(run.path).toContain(S.noProduction);
    expect(w.sageMakerCalls).toContain(S.createEndpoint);
    expect(run.path.at(-1)).toBe(S.deployed);
    expect(w.production()?.runId).toBe('run-0001');
  });
});
