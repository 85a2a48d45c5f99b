/**
 * The local twin serves the operator CLI's AWS APIs on loopback (issue 10): real SDK v3 clients
 * pointed at a running LocalRuntime's awsJsonEndpoint, as state.json names it. One run on a small
 * data set waits at Approve (no approver decides: the API must), is read through CodePipeline and Step
 * Functions, approved through PutApprovalResult, and deploys; then the deploy state machine is started
 * directly (a rollback's StartExecution), and SageMaker, Service Quotas, Lambda and SSM are read.
 */
import '../functions/quiet-powertools';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CodePipelineClient,
  GetPipelineExecutionCommand,
  GetPipelineStateCommand,
  ListActionExecutionsCommand,
  ListPipelineExecutionsCommand,
  PutApprovalResultCommand,
} from '@aws-sdk/client-codepipeline';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeModelCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { ListServiceQuotasCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { awaitApiApprover } from '../../local/approval';
import { loadDeployConfig } from '../../local/config';
import type { InstanceState } from '../../local/home';
import { LocalRuntime } from '../../local/runtime';
import { SyntheticWorld } from '../../local/sample/synthetic';

const OVERRIDES = {
  ml: { fm: { num_factors: 8, epochs: 2 }, knn: { k: 30 }, evaluation: { bootstrapSamples: 20 } },
};

function ratings(): string {
  const world = new SyntheticWorld({ users: 120, movies: 150, meanRatingsPerUser: 25, seed: 5 });
  const lines = ['userId,movieId,rating,timestamp'];
  for (const user of world.users()) {
    user.movies.forEach((movie, i) => {
      lines.push(
        `${user.userId},${world.movieIds[movie]},${user.ratings[i].toFixed(1)},${Math.round(user.timestamps[i])}`,
      );
    });
  }
  return `${lines.join('\n')}\n`;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the twin serves the operator APIs on loopback', () => {
  const home = mkdtempSync(join(tmpdir(), 'reelflow-twin-api-'));
  const waiting: string[] = [];
  let runtime: LocalRuntime;
  let state: InstanceState;
  let clients: {
    codePipeline: CodePipelineClient;
    sfn: SFNClient;
    sageMaker: SageMakerClient;
    quotas: ServiceQuotasClient;
    lambda: LambdaClient;
    ssm: SSMClient;
  };

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      home,
      config: await loadDeployConfig({ overrides: OVERRIDES }),
      approver: awaitApiApprover((line) => waiting.push(line)),
      msPerSecond: 1,
      quotas: { 'ml.m5.xlarge for endpoint usage': 0 },
    });
    state = JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as InstanceState;
    const config = {
      endpoint: state.awsJsonEndpoint,
      region: state.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    clients = {
      codePipeline: new CodePipelineClient(config),
      sfn: new SFNClient(config),
      sageMaker: new SageMakerClient(config),
      quotas: new ServiceQuotasClient(config),
      lambda: new LambdaClient(config),
      ssm: new SSMClient(config),
    };
  }, 60_000);

  afterAll(async () => {
    for (const client of Object.values(clients ?? {})) client.destroy();
    await runtime?.stop();
  });

  it('state.json names the state machines, the production record and the region', () => {
    expect(state).toMatchObject({
      region: 'us-east-1',
      pipelineName: 'reelflow-release',
      productionParameterName: '/reelflow/production-model',
      stateMachines: {
        retrain: 'arn:aws:states:us-east-1:123456789012:stateMachine:reelflow-retrain',
        deploy: 'arn:aws:states:us-east-1:123456789012:stateMachine:reelflow-deploy',
      },
    });
  });

  it('a run waits at Approve until PutApprovalResult decides it, then deploys', async () => {
    const { codePipeline, sfn } = clients;
    const pipelineName = state.pipelineName;
    const run = await runtime.upload('ratings/2026-01-01-a.csv', ratings());

    let endedEarly: string | undefined;
    void run.done.then((r) => (endedEarly = `${r.status} at ${r.stage}: ${r.reason ?? ''}`));

    // GetPipelineState: Approve waits with a token; Summarize succeeded
    const approve = await until('the approval', async () => {
      if (endedEarly) throw new Error(`the run ended before its approval: ${endedEarly}`);
      const { stageStates } = await codePipeline.send(new GetPipelineStateCommand({ name: pipelineName }));
      const stage = stageStates?.find((s) => s.stageName === 'Approve');
      const action = stage?.actionStates?.find((a) => a.actionName === 'Approve');
      return action?.latestExecution?.status === 'InProgress' ? { stage, action } : undefined;
    });
    expect(approve.stage?.latestExecution).toEqual({
      pipelineExecutionId: run.runId,
      status: 'InProgress',
      type: 'STANDARD',
    });
    expect(
      approve.stage?.actionStates?.find((a) => a.actionName === 'Summarize')?.latestExecution?.status,
    ).toBe('Succeeded');
    const token = approve.action?.latestExecution?.token;
    expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(waiting).toEqual([expect.stringContaining(`npx reelflow approve ${run.runId}`)]);

    // ListActionExecutions: Summarize's variables, Retrain's execution ARN
    const { actionExecutionDetails: actions } = await codePipeline.send(
      new ListActionExecutionsCommand({ pipelineName, filter: { pipelineExecutionId: run.runId } }),
    );
    const summarize = actions?.find((a) => a.actionName === 'Summarize');
    expect(summarize?.output?.outputVariables).toEqual(
      expect.objectContaining({ approvalText: expect.any(String), reportUrl: expect.any(String) }),
    );
    expect(summarize?.input?.namespace).toBe('Summary');
    const retrainArn = actions?.find((a) => a.actionName === 'Retrain')?.output?.executionResult
      ?.externalExecutionId;
    expect(retrainArn).toBe(
      `arn:aws:states:us-east-1:123456789012:execution:reelflow-retrain:retrain-${run.runId}-1`,
    );

    // GetExecutionHistory of that execution: started, the states, succeeded
    const history: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(
        new GetExecutionHistoryCommand({ executionArn: retrainArn, maxResults: 25, nextToken }),
      );
      history.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    expect(history[0]).toMatchObject({ id: 1, previousEventId: 0, type: 'ExecutionStarted' });
    expect(history.at(-1)?.type).toBe('ExecutionSucceeded');
    expect(history.map((e) => e.id)).toEqual(history.map((_, i) => i + 1));
    expect(history[1].timestamp).toBeInstanceOf(Date);
    const entered = history
      .filter((e) => e.type === 'TaskStateEntered')
      .map((e) => e.stateEnteredEventDetails?.name);
    expect(entered).toEqual(expect.arrayContaining(['Prepare', 'TrainFM']));
    expect(history.some((e) => e.type === 'TaskStateExited')).toBe(true);
    const newestFirst = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn: retrainArn, reverseOrder: true, maxResults: 1 }),
    );
    expect(newestFirst.events?.map((e) => e.type)).toEqual(['ExecutionSucceeded']);

    // a wrong token is refused; the right one decides
    await expect(
      codePipeline.send(
        new PutApprovalResultCommand({
          pipelineName,
          stageName: 'Approve',
          actionName: 'Approve',
          result: { status: 'Approved', summary: 'x' },
          token: '00000000-0000-4000-8000-000000000000',
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidApprovalTokenException' });
    const approved = await codePipeline.send(
      new PutApprovalResultCommand({
        pipelineName,
        stageName: 'Approve',
        actionName: 'Approve',
        result: { status: 'Approved', summary: 'looks good' },
        token,
      }),
    );
    expect(approved.approvedAt).toBeInstanceOf(Date);
    await expect(
      codePipeline.send(
        new PutApprovalResultCommand({
          pipelineName,
          stageName: 'Approve',
          actionName: 'Approve',
          result: { status: 'Approved', summary: 'again' },
          token,
        }),
      ),
    ).rejects.toMatchObject({ name: 'ApprovalAlreadyCompletedException' });

    const record = await run.done;
    expect(record).toMatchObject({ status: 'Succeeded', stage: 'Deploy' });
    expect(runtime.servingVersion()).toBe(run.runId);

    // the pipeline's view of the finished run
    const { pipelineExecutionSummaries } = await codePipeline.send(
      new ListPipelineExecutionsCommand({ pipelineName }),
    );
    expect(pipelineExecutionSummaries?.[0]).toMatchObject({
      pipelineExecutionId: run.runId,
      status: 'Succeeded',
      trigger: { triggerType: 'StartPipelineExecution' },
      executionMode: 'SUPERSEDED',
    });
    const { pipelineExecution } = await codePipeline.send(
      new GetPipelineExecutionCommand({ pipelineName, pipelineExecutionId: run.runId }),
    );
    expect(pipelineExecution).toMatchObject({
      status: 'Succeeded',
      artifactRevisions: [],
      variables: [
        { name: 'triggerKey', resolvedValue: 'ratings/2026-01-01-a.csv' },
        { name: 'triggerVersionId', resolvedValue: expect.any(String) },
      ],
    });
    const after = await codePipeline.send(
      new ListActionExecutionsCommand({ pipelineName, filter: { pipelineExecutionId: run.runId } }),
    );
    const approval = after.actionExecutionDetails?.find((a) => a.actionName === 'Approve');
    expect(approval).toMatchObject({
      status: 'Succeeded',
      output: { executionResult: { externalExecutionSummary: 'looks good' } },
    });
    const deployArn = after.actionExecutionDetails?.find((a) => a.actionName === 'Deploy')?.output
      ?.executionResult?.externalExecutionId;
    const deployment = await sfn.send(new DescribeExecutionCommand({ executionArn: deployArn }));
    expect(deployment).toMatchObject({
      status: 'SUCCEEDED',
      name: `deploy-${run.runId}-1`,
      stateMachineArn: state.stateMachines.deploy,
      input: JSON.stringify({ runId: run.runId }),
    });
    expect(deployment.stopDate).toBeInstanceOf(Date);
    const listed = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: state.stateMachines.deploy, statusFilter: 'SUCCEEDED' }),
    );
    expect(listed.executions?.map((e) => e.name)).toEqual([`deploy-${run.runId}-1`]);

    // the endpoint's resources, as SageMaker describes them
    const { sageMaker } = clients;
    const endpoint = await sageMaker.send(new DescribeEndpointCommand({ EndpointName: state.endpointName }));
    expect(endpoint.EndpointStatus).toBe('InService');
    expect(endpoint.CreationTime).toBeInstanceOf(Date);
    const config = await sageMaker.send(
      new DescribeEndpointConfigCommand({ EndpointConfigName: endpoint.EndpointConfigName }),
    );
    const modelName = config.ProductionVariants?.[0]?.ModelName;
    expect(config.EndpointConfigArn).toContain(':endpoint-config/');
    const model = await sageMaker.send(new DescribeModelCommand({ ModelName: modelName }));
    expect(model).toMatchObject({ ModelName: modelName, ModelArn: expect.stringContaining(':model/') });
    expect(model.CreationTime).toBeInstanceOf(Date);
    await expect(
      sageMaker.send(new DescribeModelCommand({ ModelName: 'no-such-model' })),
    ).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringMatching(/^Could not find model/),
    });

    // StartExecution on the deploy state machine: the deploy workflow runs outside the pipeline
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: state.stateMachines.deploy,
        name: 'again-1',
        input: JSON.stringify({ runId: run.runId }),
      }),
    );
    expect(started.executionArn).toBe(
      'arn:aws:states:us-east-1:123456789012:execution:reelflow-deploy:again-1',
    );
    const ended = await until('the direct deploy execution', async () => {
      const d = await sfn.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
      return d.status === 'RUNNING' ? undefined : d;
    });
    // the run serves already and its summary compared it with no production model: the deploy
    // workflow's baseline check refuses it, as it would in AWS
    expect(ended).toMatchObject({ status: 'FAILED', error: 'StaleBaseline' });
    const directHistory = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn: started.executionArn,
        reverseOrder: true,
        maxResults: 1,
      }),
    );
    expect(directHistory.events?.[0]).toMatchObject({
      type: 'ExecutionFailed',
      executionFailedEventDetails: { error: 'StaleBaseline' },
    });
    await expect(
      sfn.send(
        new StartExecutionCommand({
          stateMachineArn: state.stateMachines.deploy,
          name: 'again-1',
          input: JSON.stringify({ runId: run.runId }),
        }),
      ),
    ).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
  }, 120_000);

  it('refuses what AWS refuses: the API model, unknown resources', async () => {
    const { sfn, codePipeline } = clients;
    await expect(
      sfn.send(new ListExecutionsCommand({ stateMachineArn: state.stateMachines.retrain, maxResults: 1001 })),
    ).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining("at 'maxResults' failed to satisfy constraint"),
    });
    await expect(
      sfn.send(
        new ListExecutionsCommand({
          stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:nope',
        }),
      ),
    ).rejects.toMatchObject({ name: 'StateMachineDoesNotExist' });
    await expect(
      sfn.send(new DescribeExecutionCommand({ executionArn: state.stateMachines.deploy })),
    ).rejects.toMatchObject({ name: 'InvalidArn' });
    await expect(
      sfn.send(
        new DescribeExecutionCommand({
          executionArn: 'arn:aws:states:us-east-1:123456789012:execution:reelflow-deploy:nope',
        }),
      ),
    ).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
    await expect(
      codePipeline.send(
        new GetPipelineExecutionCommand({
          pipelineName: state.pipelineName,
          pipelineExecutionId: 'not-a-run',
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(
      codePipeline.send(
        new GetPipelineExecutionCommand({
          pipelineName: state.pipelineName,
          pipelineExecutionId: 'r9999-20260101-000000',
        }),
      ),
    ).rejects.toMatchObject({ name: 'PipelineExecutionNotFoundException' });
    await expect(codePipeline.send(new GetPipelineStateCommand({ name: 'other' }))).rejects.toMatchObject({
      name: 'PipelineNotFoundException',
    });
  });

  it('answers the account questions: quotas, Lambda settings, the CDK bootstrap version', async () => {
    const quotas = [];
    let NextToken: string | undefined;
    do {
      const page = await clients.quotas.send(
        new ListServiceQuotasCommand({ ServiceCode: 'sagemaker', MaxResults: 4, NextToken }),
      );
      quotas.push(...(page.Quotas ?? []));
      NextToken = page.NextToken;
    } while (NextToken);
    const byName = Object.fromEntries(quotas.map((q) => [q.QuotaName, q.Value]));
    expect(byName).toMatchObject({
      'ml.m5.xlarge for training job usage': 2,
      'ml.m5.xlarge for transform job usage': 2,
      'ml.m5.xlarge for endpoint usage': 0,
      'ml.m5.large for endpoint usage': 4,
    });
    expect(new Set(quotas.map((q) => q.QuotaCode)).size).toBe(quotas.length);
    await expect(
      clients.quotas.send(new ListServiceQuotasCommand({ ServiceCode: 'ec2' })),
    ).rejects.toMatchObject({ name: 'NoSuchResourceException' });

    const settings = await clients.lambda.send(new GetAccountSettingsCommand({}));
    expect(settings.AccountLimit).toMatchObject({
      ConcurrentExecutions: 1000,
      UnreservedConcurrentExecutions: 1000 - runtime.config.api.reservedConcurrency,
    });
    expect(settings.AccountUsage?.FunctionCount).toBeGreaterThan(0);

    const bootstrap = await clients.ssm.send(
      new GetParameterCommand({ Name: '/cdk-bootstrap/hnb659fds/version' }),
    );
    expect(Number(bootstrap.Parameter?.Value)).toBeGreaterThanOrEqual(6);
  });
});
