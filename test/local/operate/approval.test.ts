import {
  ApprovalAlreadyCompletedException,
  CodePipelineClient,
  GetPipelineExecutionCommand,
  GetPipelineStateCommand,
  InvalidApprovalTokenException,
  ListActionExecutionsCommand,
  PipelineExecutionNotFoundException,
  PutApprovalResultCommand,
  type GetPipelineStateOutput,
  type StageState,
} from '@aws-sdk/client-codepipeline';
import { mockClient } from 'aws-sdk-client-mock';
import { UsageError } from '../../../local/cli-args';
import { approveCommand, decideApproval, rejectCommand } from '../../../local/operate/approval-commands';
import { OperatorError } from '../../../local/operate/errors';
import { targetFromClients, type OperatorTarget } from '../../../local/operate/target';

const PIPELINE = 'reelflow-release';
const RUN = '3f2b8c1e-0000-4000-8000-000000000001';
const PREVIOUS = '0a1b2c3d-0000-4000-8000-000000000000';
const TOKEN = '6f7e1c2a-9d1b-4c55-8a77-0d3a2b1c4e5f';
const APPROVAL_TEXT =
  'PASSED run 3f2b8c1e: ndcg@10 0.2528 vs production 0.2410 (+4.9 %)\nBatches: 3 trained, 0 excluded.';
const REPORT_URL =
  'https://console.aws.amazon.com/s3/object/reelflow-data?region=eu-west-1&prefix=runs%2F3f2b8c1e%2Fevaluation%2Freport.html';

const codePipeline = mockClient(CodePipelineClient);
let target: OperatorTarget;
let lines: string[];
const io = { out: (line: string) => lines.push(line) };

function stage(
  stageName: string,
  runId: string,
  status: string,
  actions: StageState['actionStates'] = [],
): StageState {
  return {
    stageName,
    inboundTransitionState: { enabled: true },
    actionStates: actions,
    latestExecution: { pipelineExecutionId: runId, status: status as 'InProgress' },
  };
}

/** GetPipelineState while RUN waits at Approve (the previous run's Deploy is the latest Deploy). */
function waitingState(): GetPipelineStateOutput {
  const at = new Date('2026-12-02T10:00:00Z');
  return {
    pipelineName: PIPELINE,
    pipelineVersion: 3,
    stageStates: [
      stage('Source', RUN, 'Succeeded'),
      stage('Checks', RUN, 'Succeeded'),
      stage('Retrain', RUN, 'Succeeded'),
      stage('Approve', RUN, 'InProgress', [
        {
          actionName: 'Summarize',
          latestExecution: { actionExecutionId: 'a-1', status: 'Succeeded', lastStatusChange: at },
        },
        {
          actionName: 'Approve',
          latestExecution: {
            actionExecutionId: 'a-2',
            status: 'InProgress',
            token: TOKEN,
            lastStatusChange: at,
          },
        },
      ]),
      stage('Deploy', PREVIOUS, 'Succeeded'),
    ],
    created: at,
    updated: at,
  };
}

function summarizeExecution() {
  return {
    actionExecutionDetails: [
      {
        pipelineExecutionId: RUN,
        actionExecutionId: 'a-2',
        pipelineVersion: 3,
        stageName: 'Approve',
        actionName: 'Approve',
        status: 'InProgress' as const,
      },
      {
        pipelineExecutionId: RUN,
        actionExecutionId: 'a-1',
        pipelineVersion: 3,
        stageName: 'Approve',
        actionName: 'Summarize',
        status: 'Succeeded' as const,
        input: {
          actionTypeId: {
            category: 'Invoke' as const,
            owner: 'AWS' as const,
            provider: 'Lambda',
            version: '1',
          },
          configuration: { FunctionName: 'reelflow-summarize', UserParameters: `{"runId":"${RUN}"}` },
          namespace: 'Summary',
        },
        output: {
          outputArtifacts: [],
          executionResult: { externalExecutionId: 'job-1' },
          outputVariables: { approvalText: APPROVAL_TEXT, reportUrl: REPORT_URL, gate: 'passed' },
        },
      },
    ],
  };
}

beforeEach(() => {
  codePipeline.reset();
  lines = [];
  target = targetFromClients({
    kind: 'aws',
    region: 'eu-west-1',
    names: {
      pipelineName: PIPELINE,
      retrainStateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:reelflow-retrain',
      deployStateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:reelflow-deploy',
      bucket: 'reelflow-data',
      endpointName: 'reelflow-recommender',
      productionParameterName: '/reelflow/production-model',
    },
  });
});

afterEach(() => target.destroy());

describe('decideApproval', () => {
  it('prints the approval text and report link, then approves with the open approval token', async () => {
    codePipeline.on(GetPipelineStateCommand).resolves(waitingState());
    codePipeline.on(ListActionExecutionsCommand).resolves(summarizeExecution());
    codePipeline.on(PutApprovalResultCommand).resolves({ approvedAt: new Date() });

    const code = await decideApproval(target, { runId: RUN, status: 'Approved', summary: 'looks good' }, io);

    expect(code).toBe(0);
    expect(codePipeline.commandCalls(ListActionExecutionsCommand)[0].args[0].input).toEqual({
      pipelineName: PIPELINE,
      filter: { pipelineExecutionId: RUN },
      nextToken: undefined,
    });
    expect(codePipeline.commandCalls(PutApprovalResultCommand)[0].args[0].input).toEqual({
      pipelineName: PIPELINE,
      stageName: 'Approve',
      actionName: 'Approve',
      result: { status: 'Approved', summary: 'looks good' },
      token: TOKEN,
    });
    expect(lines).toEqual([
      `run ${RUN} waits for approval in ${PIPELINE}`,
      '  PASSED run 3f2b8c1e: ndcg@10 0.2528 vs production 0.2410 (+4.9 %)',
      '  Batches: 3 trained, 0 excluded.',
      `report    ${REPORT_URL}`,
      expect.stringContaining(`/codepipeline/pipelines/${PIPELINE}/executions/${RUN}/`),
      `approved run ${RUN}: the Deploy stage starts`,
    ]);
  });

  it('follows ListActionExecutions pages until it finds the Summarize action', async () => {
    codePipeline.on(GetPipelineStateCommand).resolves(waitingState());
    codePipeline
      .on(ListActionExecutionsCommand, { nextToken: undefined })
      .resolves({ actionExecutionDetails: [], nextToken: 'page-2' })
      .on(ListActionExecutionsCommand, { nextToken: 'page-2' })
      .resolves(summarizeExecution());
    codePipeline.on(PutApprovalResultCommand).resolves({});

    await decideApproval(target, { runId: RUN, status: 'Rejected', summary: 'recall dropped' }, io);

    expect(lines).toContain(`report    ${REPORT_URL}`);
    expect(lines[lines.length - 1]).toBe(`rejected run ${RUN}: recall dropped`);
    expect(codePipeline.commandCalls(PutApprovalResultCommand)[0].args[0].input.result).toEqual({
      status: 'Rejected',
      summary: 'recall dropped',
    });
  });

  it('refuses a run that is not waiting, saying which stage holds it, and decides nothing', async () => {
    const state = waitingState();
    state.stageStates = [
      stage('Source', RUN, 'Succeeded'),
      stage('Checks', RUN, 'Succeeded'),
      stage('Retrain', RUN, 'InProgress'),
      stage('Approve', PREVIOUS, 'Succeeded'),
      stage('Deploy', PREVIOUS, 'Succeeded'),
    ];
    codePipeline.on(GetPipelineStateCommand).resolves(state);

    const decided = decideApproval(target, { runId: RUN, status: 'Approved', summary: 'ok' }, io);

    await expect(decided).rejects.toThrow(
      new OperatorError(`run ${RUN} is not waiting for approval: it is in Retrain (InProgress)`),
    );
    expect(codePipeline.commandCalls(PutApprovalResultCommand)).toHaveLength(0);
  });

  it('says what became of a run no stage holds any more', async () => {
    const state = waitingState();
    state.stageStates = state.stageStates!.map((s) => ({
      ...s,
      latestExecution: { pipelineExecutionId: 'newer-run', status: 'InProgress' as const },
    }));
    codePipeline.on(GetPipelineStateCommand).resolves(state);
    codePipeline.on(GetPipelineExecutionCommand).resolves({
      pipelineExecution: { pipelineExecutionId: RUN, pipelineName: PIPELINE, status: 'Superseded' },
    });

    await expect(
      decideApproval(target, { runId: RUN, status: 'Approved', summary: 'ok' }, io),
    ).rejects.toThrow(`run ${RUN} is not waiting for approval: the run is Superseded`);
  });

  it('refuses an unknown run', async () => {
    codePipeline.on(GetPipelineStateCommand).resolves(waitingState());
    codePipeline
      .on(GetPipelineExecutionCommand)
      .rejects(
        new PipelineExecutionNotFoundException({ $metadata: {}, message: `Pipeline execution not found` }),
      );

    await expect(
      decideApproval(target, { runId: 'nope', status: 'Approved', summary: 'ok' }, io),
    ).rejects.toThrow(`run nope is not waiting for approval: pipeline ${PIPELINE} has no such run`);
  });

  it.each([
    [
      new InvalidApprovalTokenException({ $metadata: {}, message: 'The token is invalid' }),
      `the approval of run ${RUN} changed while deciding`,
    ],
    [
      new ApprovalAlreadyCompletedException({
        $metadata: {},
        message: 'The approval has already been completed',
      }),
      `the approval of run ${RUN} is already decided`,
    ],
  ])('turns %p into one line', async (error, line) => {
    codePipeline.on(GetPipelineStateCommand).resolves(waitingState());
    codePipeline.on(ListActionExecutionsCommand).resolves(summarizeExecution());
    codePipeline.on(PutApprovalResultCommand).rejects(error);

    const decided = decideApproval(target, { runId: RUN, status: 'Approved', summary: 'ok' }, io);

    await expect(decided).rejects.toThrow(OperatorError);
    await expect(decided).rejects.toThrow(line);
  });
});

describe('approve and reject commands', () => {
  it('reject requires --reason', async () => {
    await expect(rejectCommand({ values: {}, positionals: [RUN] }, io)).rejects.toThrow(
      new UsageError('reject needs --reason <text>: say why the candidate is rejected'),
    );
    await expect(rejectCommand({ values: { reason: '  ' }, positionals: [RUN] }, io)).rejects.toThrow(
      UsageError,
    );
  });

  it('take exactly one run id', async () => {
    await expect(approveCommand({ values: {}, positionals: [] }, io)).rejects.toThrow(UsageError);
    await expect(approveCommand({ values: {}, positionals: [RUN, 'extra'] }, io)).rejects.toThrow(UsageError);
  });
});
