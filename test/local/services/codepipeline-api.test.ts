/**
 * The local CodePipeline read and approval APIs (services/codepipeline.ts, execution-log.ts) through a
 * real CodePipelineClient: executions of earlier sessions from the run history with their statuses
 * mapped to CodePipeline's, paging, the approval's errors, and the model check that accepts local run
 * ids as execution ids and nothing else.
 */
import {
  CodePipelineClient,
  GetPipelineExecutionCommand,
  ListActionExecutionsCommand,
  ListPipelineExecutionsCommand,
  PutApprovalResultCommand,
} from '@aws-sdk/client-codepipeline';
import type { RunRecord } from '../../../local/run-history';
import { startAwsJsonServer } from '../../../local/services/aws-json-server';
import { LocalCodePipelineApi } from '../../../local/services/codepipeline';
import type { LoopbackServer } from '../../../local/services/http';

const PIPELINE = 'reelflow-release';

function record(runId: string, status: RunRecord['status'], minute: number, stage = 'Deploy'): RunRecord {
  return {
    runId,
    trigger: { key: `ratings/${runId}.csv`, versionId: 'v1' },
    startedAt: `2026-01-01T00:${String(minute).padStart(2, '0')}:00.000Z`,
    endedAt: `2026-01-01T00:${String(minute).padStart(2, '0')}:30.000Z`,
    status,
    stage,
    ...(status === 'Succeeded' ? {} : { reason: `${status} because` }),
    servingVersion: null,
    timings: { totalMs: 1, stages: {}, states: {} },
  };
}

const history: RunRecord[] = [
  record('r0001-20260101-000100', 'Succeeded', 1),
  record('r0002-20260101-000200', 'Rejected', 2, 'Approve'),
  record('r0003-20260101-000300', 'NothingToDo', 3, 'Retrain'),
  record('r0004-20260101-000400', 'RolledBack', 4),
  record('r0005-20260101-000500', 'Interrupted', 5, 'Retrain'),
  record('r0006-20260101-000600', 'Superseded', 6, 'Approve'),
  record('r0007-20260101-000700', 'Stopped', 7, 'Retrain'),
];
const api = new LocalCodePipelineApi(PIPELINE, () => 'unused', { history: async () => history });
let server: LoopbackServer;
let client: CodePipelineClient;

beforeAll(async () => {
  server = await startAwsJsonServer([api.service()]);
  client = new CodePipelineClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});
afterAll(async () => {
  client.destroy();
  await server.close();
});

describe('the local CodePipeline API', () => {
  it('lists this session and the run history newest first, with CodePipeline statuses, page by page', async () => {
    api.log.executionStarted('r0008-20260101-000800', {
      triggerKey: 'ratings/new.csv',
      triggerVersionId: 'v2',
    });
    const seen: [string | undefined, string | undefined][] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListPipelineExecutionsCommand({ pipelineName: PIPELINE, maxResults: 3, nextToken }),
      );
      expect(page.pipelineExecutionSummaries!.length).toBeLessThanOrEqual(3);
      seen.push(
        ...page.pipelineExecutionSummaries!.map((s) => [s.pipelineExecutionId, s.status] as [string, string]),
      );
      nextToken = page.nextToken;
    } while (nextToken);
    expect(seen).toEqual([
      ['r0008-20260101-000800', 'InProgress'],
      ['r0007-20260101-000700', 'Stopped'],
      ['r0006-20260101-000600', 'Superseded'],
      ['r0005-20260101-000500', 'Failed'],
      ['r0004-20260101-000400', 'Failed'],
      ['r0003-20260101-000300', 'Succeeded'],
      ['r0002-20260101-000200', 'Failed'],
      ['r0001-20260101-000100', 'Succeeded'],
    ]);
    const inDeploy = await client.send(
      new ListPipelineExecutionsCommand({
        pipelineName: PIPELINE,
        filter: { succeededInStage: { stageName: 'Deploy' } },
      }),
    );
    expect(inDeploy.pipelineExecutionSummaries?.map((s) => s.pipelineExecutionId)).toEqual([
      'r0001-20260101-000100',
    ]);
    await expect(
      client.send(new ListPipelineExecutionsCommand({ pipelineName: PIPELINE, nextToken: 'bogus' })),
    ).rejects.toMatchObject({ name: 'InvalidNextTokenException' });
  });

  it('describes an older execution with its variables and status summary', async () => {
    const { pipelineExecution } = await client.send(
      new GetPipelineExecutionCommand({
        pipelineName: PIPELINE,
        pipelineExecutionId: 'r0002-20260101-000200',
      }),
    );
    expect(pipelineExecution).toMatchObject({
      pipelineExecutionId: 'r0002-20260101-000200',
      status: 'Failed',
      statusSummary: 'Rejected because',
      variables: [
        { name: 'triggerKey', resolvedValue: 'ratings/r0002-20260101-000200.csv' },
        { name: 'triggerVersionId', resolvedValue: 'v1' },
      ],
    });
  });

  it('checks requests against the model: local run ids pass as execution ids, other values do not', async () => {
    await expect(
      client.send(
        new ListActionExecutionsCommand({ pipelineName: PIPELINE, filter: { pipelineExecutionId: 'x' } }),
      ),
    ).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining("at 'filter.pipelineExecutionId' failed to satisfy constraint"),
    });
    await expect(
      client.send(
        new ListActionExecutionsCommand({
          pipelineName: PIPELINE,
          filter: { pipelineExecutionId: 'r0042-20260101-000000' },
        }),
      ),
    ).rejects.toMatchObject({ name: 'PipelineExecutionNotFoundException' });
    await expect(
      client.send(new ListPipelineExecutionsCommand({ pipelineName: PIPELINE, maxResults: 0 })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('shows in each stage the execution that entered it last, whatever the others did since', async () => {
    const state = new LocalCodePipelineApi(PIPELINE, () => 'unused');
    const { log } = state;
    const tick = () => new Promise((resolve) => setTimeout(resolve, 2));
    log.executionStarted('r0101-20260101-000000', {});
    log.stageChanged('r0101-20260101-000000', 'Approve', 'InProgress');
    await tick();
    log.stageChanged('r0101-20260101-000000', 'Approve', 'Succeeded');
    log.stageChanged('r0101-20260101-000000', 'Deploy', 'InProgress');
    await tick();
    log.executionStarted('r0102-20260101-000000', {});
    log.stageChanged('r0102-20260101-000000', 'Approve', 'InProgress');
    await tick();
    log.stageChanged('r0101-20260101-000000', 'Deploy', 'Succeeded');
    const { stageStates } = state.log.pipelineState(PIPELINE) as {
      stageStates: { stageName: string; latestExecution?: { pipelineExecutionId: string; status: string } }[];
    };
    const latest = Object.fromEntries(stageStates.map((s) => [s.stageName, s.latestExecution]));
    expect(latest.Approve).toMatchObject({
      pipelineExecutionId: 'r0102-20260101-000000',
      status: 'InProgress',
    });
    expect(latest.Deploy).toMatchObject({
      pipelineExecutionId: 'r0101-20260101-000000',
      status: 'Succeeded',
    });
    expect(latest.Source).toBeUndefined();
  });

  it('decides an approval once, with the errors AWS names for a wrong stage, action or token', async () => {
    const wait = api.log.awaitApproval('r0008-20260101-000800', {});
    const put = (over: Partial<{ stageName: string; actionName: string; token: string }>) =>
      client.send(
        new PutApprovalResultCommand({
          pipelineName: PIPELINE,
          stageName: 'Approve',
          actionName: 'Approve',
          result: { status: 'Rejected', summary: 'no' },
          token: wait.token,
          ...over,
        }),
      );
    await expect(put({ stageName: 'Gate' })).rejects.toMatchObject({ name: 'StageNotFoundException' });
    await expect(put({ actionName: 'Summarize' })).rejects.toMatchObject({ name: 'ActionNotFoundException' });
    await expect(put({ token: '11111111-1111-4111-8111-111111111111' })).rejects.toMatchObject({
      name: 'InvalidApprovalTokenException',
    });
    await expect(put({ token: 'not-a-token' })).rejects.toMatchObject({ name: 'ValidationException' });
    await put({});
    await expect(wait.decision).resolves.toEqual({ status: 'Rejected', summary: 'no' });
    await expect(put({})).rejects.toMatchObject({ name: 'ApprovalAlreadyCompletedException' });
    const { actionExecutionDetails } = await client.send(
      new ListActionExecutionsCommand({
        pipelineName: PIPELINE,
        filter: { pipelineExecutionId: 'r0008-20260101-000800' },
      }),
    );
    expect(actionExecutionDetails).toEqual([
      expect.objectContaining({
        actionName: 'Approve',
        status: 'Failed',
        input: expect.objectContaining({
          actionTypeId: { category: 'Approval', owner: 'AWS', provider: 'Manual', version: '1' },
        }),
      }),
    ]);
  });
});
