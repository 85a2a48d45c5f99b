/**
 * `reelflow status`: a run mid-Retrain (stage, state machine state and time in it), nothing running,
 * and `--watch` following a run stage by stage until it ends, with the exit code of its outcome. The
 * AWS APIs are mocked with their response shapes; the clock is fake.
 */
import {
  CodePipelineClient,
  GetPipelineExecutionCommand,
  GetPipelineStateCommand,
  ListActionExecutionsCommand,
  ListPipelineExecutionsCommand,
  type ActionExecutionDetail,
  type StageState,
} from '@aws-sdk/client-codepipeline';
import { DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { GetExecutionHistoryCommand, SFNClient, type HistoryEvent } from '@aws-sdk/client-sfn';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { ProductionRecord } from '../../../functions/contracts';
import { EXIT } from '../../../local/cli-args';
import { exitCodeOf } from '../../../local/operate/pipeline-read';
import { runStatus } from '../../../local/operate/status';
import type { OperatorTarget } from '../../../local/operate/target';
import {
  action,
  at,
  awsError,
  awsTarget,
  collect,
  executionArn,
  executionSummary,
  fakeClock,
  history,
  newestFirst,
  pipelineExecution,
  REGION,
  stage,
} from './operate-fixtures';

const codePipeline = mockClient(CodePipelineClient);
const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);
const sageMaker = mockClient(SageMakerClient);

const CURRENT = 'b5c8f0a2-3d4e-4f61-8a7b-9c0d1e2f3a4b';
const LAST = '6e1d2c3b-4a59-4687-9e0f-a1b2c3d4e5f6';
const RETRAIN_NOW = executionArn('retrain', `retrain-${CURRENT}`);
const DEPLOY_NOW = executionArn('deploy', `deploy-${CURRENT}`);
const RETRAIN_LAST = executionArn('retrain', `retrain-${LAST}`);
const DEPLOY_LAST = executionArn('deploy', `deploy-${LAST}`);
const START = at('2026-12-02T14:00:00Z');
const LAST_START = at('2026-12-02T12:00:00Z');

const serving: ProductionRecord = {
  runId: LAST,
  modelName: `reelflow-model-${LAST.slice(0, 8)}-a1b2c3`,
  endpointConfigName: `reelflow-config-${LAST.slice(0, 8)}-0f1e2d3c`,
  deployedAt: '2026-12-02T12:41:07.000Z',
  metrics: { 'precision@10': 0.1994, 'ndcg@10': 0.2528 },
};

let target: OperatorTarget;

beforeEach(() => {
  for (const mock of [codePipeline, sfn, ssm, sageMaker]) mock.reset();
  target = awsTarget();
});
afterEach(() => target.destroy());

/** The last run: every stage succeeded, its executions ended. */
function lastRunSucceeded(): void {
  codePipeline
    .on(GetPipelineExecutionCommand, { pipelineExecutionId: LAST })
    .resolves(pipelineExecution(LAST, 'Succeeded', 'ratings/20261202T115958Z-week48.csv'));
  codePipeline.on(ListActionExecutionsCommand, { filter: { pipelineExecutionId: LAST } }).resolves({
    actionExecutionDetails: [
      action(LAST, 'Deploy', 'Deploy', 'Succeeded', at('2026-12-02T12:35:00Z'), {
        externalExecutionId: DEPLOY_LAST,
      }),
      action(LAST, 'Approve', 'Approve', 'Succeeded', at('2026-12-02T12:30:00Z'), {
        summary: 'ok, better ndcg',
      }),
      action(LAST, 'Approve', 'Summarize', 'Succeeded', at('2026-12-02T12:29:00Z')),
      action(LAST, 'Retrain', 'Retrain', 'Succeeded', at('2026-12-02T12:02:00Z'), {
        externalExecutionId: RETRAIN_LAST,
      }),
      action(LAST, 'Checks', 'Checks', 'Succeeded', at('2026-12-02T12:00:30Z')),
      action(LAST, 'Source', 'Source', 'Succeeded', LAST_START),
    ],
  });
  for (const arn of [RETRAIN_LAST, DEPLOY_LAST]) {
    sfn.on(GetExecutionHistoryCommand, { executionArn: arn }).resolves(
      newestFirst(
        history(LAST_START, [
          { type: 'ExecutionStarted', after: 0 },
          { type: 'TaskStateEntered', name: 'LoadConfig', after: 0 },
          { type: 'TaskStateExited', name: 'LoadConfig', after: 1 },
          { type: 'SucceedStateEntered', name: 'Done', after: 1 },
          { type: 'SucceedStateExited', name: 'Done', after: 1 },
          { type: 'ExecutionSucceeded', after: 1 },
        ]),
      ),
    );
  }
}

function servingNow(): void {
  ssm.on(GetParameterCommand).resolves({
    Parameter: {
      Name: '/reelflow/production-model',
      Type: 'String',
      Value: JSON.stringify(serving),
      Version: 4,
      ARN: `arn:aws:ssm:${REGION}:123456789012:parameter/reelflow/production-model`,
      DataType: 'text',
    },
  });
  sageMaker.on(DescribeEndpointCommand).resolves({
    EndpointName: 'reelflow-endpoint',
    EndpointArn: `arn:aws:sagemaker:${REGION}:123456789012:endpoint/reelflow-endpoint`,
    EndpointConfigName: serving.endpointConfigName,
    EndpointStatus: 'InService',
    CreationTime: at('2026-11-20T10:00:00Z'),
    LastModifiedTime: at('2026-12-02T12:40:00Z'),
  });
}

/** The retrain execution, TrainFM entered 61 s after it started. */
const RETRAIN_START = at('2026-12-02T14:05:00Z');
const retrainInTrainFm = history(RETRAIN_START, [
  { type: 'ExecutionStarted', after: 0 },
  { type: 'TaskStateEntered', name: 'LoadConfig', after: 0 },
  { type: 'TaskStateExited', name: 'LoadConfig', after: 1 },
  { type: 'TaskStateEntered', name: 'Prepare', after: 1 },
  { type: 'TaskStateExited', name: 'Prepare', after: 60 },
  { type: 'ChoiceStateEntered', name: 'HasData?', after: 60 },
  { type: 'ChoiceStateExited', name: 'HasData?', after: 60 },
  { type: 'TaskStateEntered', name: 'TrainFM', after: 61 },
]);

/**
 * The current run as it is at `now`: in Retrain (TrainFM) before 14:12, waiting at Approve before 14:14,
 * in Deploy (WaitForEndpoint) before 14:16, then ended (`deployEnd`).
 */
function currentRun(now: () => Date, deployEnd: 'Succeeded' | 'RolledBack' = 'Succeeded'): void {
  const phase = (): number => {
    const minutes = (now().getTime() - START.getTime()) / 60_000;
    return minutes < 12 ? 0 : minutes < 14 ? 1 : minutes < 16 ? 2 : 3;
  };
  const ended = (): 'Succeeded' | 'Failed' => (deployEnd === 'Succeeded' ? 'Succeeded' : 'Failed');
  const runStatus = (): string => (phase() < 3 ? 'InProgress' : ended());
  codePipeline.on(ListPipelineExecutionsCommand).callsFake(() => ({
    pipelineExecutionSummaries: [
      executionSummary(CURRENT, runStatus() as 'InProgress', START, now()),
      executionSummary(LAST, 'Succeeded', LAST_START, at('2026-12-02T12:41:30Z')),
    ],
  }));
  codePipeline
    .on(GetPipelineExecutionCommand, { pipelineExecutionId: CURRENT })
    .callsFake(() => pipelineExecution(CURRENT, runStatus(), 'ratings/20261202T135959Z-week49.csv'));
  codePipeline.on(GetPipelineStateCommand).callsFake((): { stageStates: StageState[] } => {
    const p = phase();
    const stages: StageState[] = [
      stage('Source', CURRENT, 'Succeeded', [{ name: 'Source', status: 'Succeeded' }]),
      stage('Checks', CURRENT, 'Succeeded', [{ name: 'Checks', status: 'Succeeded' }]),
      stage('Retrain', CURRENT, p === 0 ? 'InProgress' : 'Succeeded', [
        { name: 'Retrain', status: p === 0 ? 'InProgress' : 'Succeeded', externalExecutionId: RETRAIN_NOW },
      ]),
      p >= 1
        ? stage('Approve', CURRENT, p === 1 ? 'InProgress' : 'Succeeded')
        : stage('Approve', LAST, 'Succeeded'),
      p >= 2
        ? stage('Deploy', CURRENT, p === 2 ? 'InProgress' : ended(), [
            { name: 'Deploy', status: p === 2 ? 'InProgress' : ended(), externalExecutionId: DEPLOY_NOW },
          ])
        : stage('Deploy', LAST, 'Succeeded'),
    ];
    return { stageStates: stages };
  });
  codePipeline.on(ListActionExecutionsCommand, { filter: { pipelineExecutionId: CURRENT } }).callsFake(() => {
    const p = phase();
    const details: ActionExecutionDetail[] = [];
    if (p >= 2)
      details.push(
        action(CURRENT, 'Deploy', 'Deploy', p === 2 ? 'InProgress' : ended(), at('2026-12-02T14:14:00Z'), {
          externalExecutionId: DEPLOY_NOW,
        }),
      );
    if (p >= 1) {
      details.push(
        action(
          CURRENT,
          'Approve',
          'Approve',
          p === 1 ? 'InProgress' : 'Succeeded',
          at('2026-12-02T14:12:00Z'),
        ),
        action(CURRENT, 'Approve', 'Summarize', 'Succeeded', at('2026-12-02T14:12:00Z')),
      );
    }
    details.push(
      action(CURRENT, 'Retrain', 'Retrain', p === 0 ? 'InProgress' : 'Succeeded', RETRAIN_START, {
        externalExecutionId: RETRAIN_NOW,
      }),
      action(CURRENT, 'Checks', 'Checks', 'Succeeded', at('2026-12-02T14:00:30Z')),
      action(CURRENT, 'Source', 'Source', 'Succeeded', START),
    );
    return { actionExecutionDetails: details };
  });
  sfn.on(GetExecutionHistoryCommand, { executionArn: RETRAIN_NOW }).callsFake(() => {
    const events: HistoryEvent[] =
      phase() === 0
        ? retrainInTrainFm
        : [
            ...retrainInTrainFm,
            ...history(RETRAIN_START, [
              { type: 'TaskStateExited', name: 'TrainFM', after: 400 },
              { type: 'SucceedStateEntered', name: 'CandidateReady', after: 420 },
              { type: 'SucceedStateExited', name: 'CandidateReady', after: 420 },
              { type: 'ExecutionSucceeded', after: 420 },
            ]),
          ];
    return newestFirst(events);
  });
  const deployStart = at('2026-12-02T14:14:00Z');
  sfn.on(GetExecutionHistoryCommand, { executionArn: DEPLOY_NOW }).callsFake(() => {
    const running = history(deployStart, [
      { type: 'ExecutionStarted', after: 0 },
      { type: 'TaskStateEntered', name: 'UpdateEndpoint', after: 0 },
      { type: 'TaskStateExited', name: 'UpdateEndpoint', after: 0 },
      { type: 'WaitStateEntered', name: 'WaitForEndpoint', after: 0 },
    ]);
    if (phase() < 3) return newestFirst(running);
    const end =
      deployEnd === 'Succeeded'
        ? [{ type: 'ExecutionSucceeded', after: 110 }]
        : [
            {
              type: 'ExecutionFailed',
              after: 110,
              error: 'RolledBack',
              cause: 'alarm reelflow-endpoint-rollback-5xx',
            },
          ];
    return newestFirst([
      ...running,
      ...history(deployStart, [{ type: 'WaitStateExited', name: 'WaitForEndpoint', after: 100 }, ...end]),
    ]);
  });
}

describe('reelflow status', () => {
  it('shows the stage and the state machine state with the time in it when a run is in Retrain', async () => {
    // GIVEN a run in Retrain's TrainFM since 14:06:01, and a last run that deployed
    const clock = fakeClock(at('2026-12-02T14:10:00Z'));
    currentRun(clock.now);
    lastRunSucceeded();
    servingNow();
    const out = collect();

    // WHEN
    const code = await runStatus(target, { io: out.io, now: clock.now, sleep: clock.sleep });

    // THEN the run, its stages, the state machine's state and elapsed time, and what serves
    expect(code).toBe(EXIT.ok);
    const text = out.text();
    expect(text).toContain(
      `current ${CURRENT}  InProgress in Retrain  started 2026-12-02 14:00:00 (10m 00s ago)`,
    );
    expect(text).toContain('trigger ratings/20261202T135959Z-week49.csv');
    expect(out.lines).toContain('  Retrain  InProgress  TrainFM (Task) for 3m 59s');
    expect(out.lines).toContain('  Approve  -');
    expect(text).toContain(`last ${LAST}  Succeeded`);
    expect(text).toContain('  Approve  Succeeded  ok, better ndcg');
    expect(text).toContain(
      `  console  https://${REGION}.console.aws.amazon.com/codesuite/codepipeline/pipelines/reelflow-release/executions/${CURRENT}/visualization?region=${REGION}`,
    );
    expect(out.lines.at(-1)).toBe(
      `serving  ${LAST}  since 2026-12-02 12:41:07  ndcg@10 0.2528  (endpoint reelflow-endpoint InService)`,
    );
    // the history is read newest first
    const historyCall = sfn.commandCalls(GetExecutionHistoryCommand, { executionArn: RETRAIN_NOW })[0];
    expect(historyCall.args[0].input).toMatchObject({ reverseOrder: true });
  });

  it('says no run is in progress and nothing is deployed when the pipeline is idle and empty', async () => {
    // GIVEN only the execution CodePipeline starts on creation (every stage after Source skipped)
    codePipeline.on(ListPipelineExecutionsCommand).resolves({
      pipelineExecutionSummaries: [executionSummary(LAST, 'Succeeded', LAST_START)],
    });
    codePipeline.on(GetPipelineStateCommand).resolves({
      pipelineName: 'reelflow-release',
      stageStates: [
        stage('Source', LAST, 'Succeeded'),
        stage('Checks', LAST, 'Skipped'),
        stage('Retrain', LAST, 'Skipped'),
        stage('Approve', LAST, 'Skipped'),
        stage('Deploy', LAST, 'Skipped'),
      ],
    });
    codePipeline.on(GetPipelineExecutionCommand).resolves(pipelineExecution(LAST, 'Succeeded', 'manual'));
    codePipeline.on(ListActionExecutionsCommand).resolves({
      actionExecutionDetails: [action(LAST, 'Source', 'Source', 'Succeeded', LAST_START)],
    });
    ssm
      .on(GetParameterCommand)
      .rejects(new ParameterNotFound({ message: '', $metadata: { httpStatusCode: 400 } }));
    sageMaker
      .on(DescribeEndpointCommand)
      .rejects(awsError('ValidationException', 'Could not find endpoint "reelflow-endpoint".'));
    const out = collect();

    // WHEN
    const code = await runStatus(target, { io: out.io, watch: true, now: () => at('2026-12-02T14:00:00Z') });

    // THEN (--watch has nothing to follow and returns at once)
    expect(code).toBe(EXIT.ok);
    expect(out.lines).toContain('no run in progress');
    expect(out.lines).toContain('  Retrain  Skipped');
    expect(out.lines.at(-1)).toBe(
      'serving  nothing deployed yet  (endpoint reelflow-endpoint does not exist)',
    );
    expect(sfn.commandCalls(GetExecutionHistoryCommand)).toHaveLength(0);
  });

  it('shows a newer run waiting to enter a stage an older run is in (SUPERSEDED mode)', async () => {
    // GIVEN the newer run finished Retrain while the older one waits for approval
    codePipeline.on(ListPipelineExecutionsCommand).resolves({
      pipelineExecutionSummaries: [
        executionSummary(CURRENT, 'InProgress', START),
        executionSummary(LAST, 'InProgress', LAST_START),
      ],
    });
    codePipeline.on(GetPipelineStateCommand).resolves({
      stageStates: [
        stage('Source', CURRENT, 'Succeeded'),
        stage('Checks', CURRENT, 'Succeeded'),
        stage('Retrain', CURRENT, 'Succeeded'),
        stage('Approve', LAST, 'InProgress', [{ name: 'Approve', status: 'InProgress' }]),
        stage('Deploy', LAST, 'Succeeded'),
      ],
    });
    codePipeline
      .on(GetPipelineExecutionCommand, { pipelineExecutionId: CURRENT })
      .resolves(pipelineExecution(CURRENT, 'InProgress', 'ratings/20261202T135959Z-week49.csv'));
    codePipeline
      .on(GetPipelineExecutionCommand, { pipelineExecutionId: LAST })
      .resolves(pipelineExecution(LAST, 'InProgress', 'ratings/20261202T115958Z-week48.csv'));
    codePipeline.on(ListActionExecutionsCommand, { filter: { pipelineExecutionId: CURRENT } }).resolves({
      actionExecutionDetails: [
        action(CURRENT, 'Retrain', 'Retrain', 'Succeeded', RETRAIN_START, {
          externalExecutionId: RETRAIN_NOW,
        }),
        action(CURRENT, 'Checks', 'Checks', 'Succeeded', START),
        action(CURRENT, 'Source', 'Source', 'Succeeded', START),
      ],
    });
    codePipeline.on(ListActionExecutionsCommand, { filter: { pipelineExecutionId: LAST } }).resolves({
      actionExecutionDetails: [action(LAST, 'Approve', 'Approve', 'InProgress', LAST_START)],
    });
    sfn
      .on(GetExecutionHistoryCommand)
      .resolves(newestFirst(history(RETRAIN_START, [{ type: 'ExecutionSucceeded', after: 400 }])));
    servingNow();
    const out = collect();

    // WHEN
    await runStatus(target, { io: out.io, now: () => at('2026-12-02T14:20:00Z') });

    // THEN
    expect(out.text()).toContain(`current ${CURRENT}  InProgress, waiting to enter Approve  started`);
    expect(out.lines).toContain(`  Approve  -          waiting to enter: run ${LAST} is in it`);
    expect(out.text()).toContain(`current ${LAST}  InProgress in Approve`);
  });

  it('--watch prints a line per stage and state until the run ends, then exits 0 on a deployment', async () => {
    // GIVEN a run in Retrain that then waits at Approve, deploys and succeeds
    const clock = fakeClock(at('2026-12-02T14:10:00Z'));
    currentRun(clock.now);
    lastRunSucceeded();
    servingNow();
    const out = collect();

    // WHEN
    const code = await runStatus(target, {
      io: out.io,
      watch: true,
      intervalMs: 30_000,
      now: clock.now,
      sleep: clock.sleep,
    });

    // THEN one line per change (a heartbeat after a minute in the same state), then the whole run
    expect(code).toBe(EXIT.ok);
    const progress = out.lines.filter((l) => l.startsWith('2026-12-02 '));
    expect(progress).toEqual([
      `2026-12-02 14:10:00  ${CURRENT}  Retrain  TrainFM (Task) for 3m 59s`,
      `2026-12-02 14:11:00  ${CURRENT}  Retrain  TrainFM (Task) for 4m 59s`,
      `2026-12-02 14:12:00  ${CURRENT}  Approve  waiting: reelflow approve ${CURRENT} | reelflow reject ${CURRENT} --reason <text>`,
      `2026-12-02 14:13:00  ${CURRENT}  Approve  waiting: reelflow approve ${CURRENT} | reelflow reject ${CURRENT} --reason <text>`,
      `2026-12-02 14:14:00  ${CURRENT}  Deploy  WaitForEndpoint (Wait) for 0s`,
      `2026-12-02 14:15:00  ${CURRENT}  Deploy  WaitForEndpoint (Wait) for 1m 00s`,
    ]);
    expect(out.lines).toContain('  Deploy   Succeeded  state machine SUCCEEDED');
    expect(out.lines.at(-1)).toBe(`run ${CURRENT} ended Succeeded`);
  });

  it('--watch exits 4 when the deployment was rolled back', async () => {
    // GIVEN the same run, whose deployment the guardrails roll back
    const clock = fakeClock(at('2026-12-02T14:13:00Z'));
    currentRun(clock.now, 'RolledBack');
    lastRunSucceeded();
    servingNow();
    const out = collect();

    // WHEN
    const code = await runStatus(target, { io: out.io, watch: true, now: clock.now, sleep: clock.sleep });

    // THEN
    expect(code).toBe(EXIT.rolledBack);
    expect(out.lines).toContain(
      '  Deploy   Failed     state machine FAILED: RolledBack (alarm reelflow-endpoint-rollback-5xx)',
    );
    expect(out.lines.at(-1)).toBe(`run ${CURRENT} ended Failed: deployment rolled back`);
  });
});

describe('exitCodeOf', () => {
  const stages = (failed: string) =>
    ['Source', 'Checks', 'Retrain', 'Approve', 'Deploy'].map((name) => ({
      name,
      status: name === failed ? 'Failed' : 'Succeeded',
      actions: [],
    }));

  it.each([
    ['Succeeded', '', undefined, EXIT.ok],
    ['Failed', 'Approve', undefined, EXIT.rejected],
    ['Failed', 'Retrain', 'CandidateRejected', EXIT.rejected],
    ['Failed', 'Retrain', 'DataRejectedError', EXIT.dataRejected],
    ['Failed', 'Deploy', 'RolledBack', EXIT.rolledBack],
    ['Failed', 'Deploy', 'StaleBaseline', EXIT.failed],
    ['Superseded', '', undefined, EXIT.failed],
  ])('maps a %s run failed in %p with %p to %p', (status, failed, error, code) => {
    const errors = new Map(error ? [[failed, error]] : []);
    expect(exitCodeOf(status, stages(failed), errors)).toBe(code);
  });
});
