/**
 * The local Step Functions API (services/stepfunctions.ts) through a real SFNClient on the loopback
 * JSON server: executions recorded from runner events, listed, described and their history paged as
 * AWS does, and StartExecution on the deploy state machine with AWS's errors.
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { startAwsJsonServer } from '../../../local/services/aws-json-server';
import type { LoopbackServer } from '../../../local/services/http';
import {
  LocalStepFunctionsApi,
  stateMachineNames,
  type ExecutionRecorder,
} from '../../../local/services/stepfunctions';

const started: { name: string; input: unknown; recorder: ExecutionRecorder }[] = [];
const api = new LocalStepFunctionsApi(stateMachineNames('reelflow'), (name, input, recorder) =>
  started.push({ name, input, recorder }),
);
let server: LoopbackServer;
let sfn: SFNClient;

beforeAll(async () => {
  server = await startAwsJsonServer([api.service()]);
  sfn = new SFNClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});
afterAll(async () => {
  sfn.destroy();
  await server.close();
});

/** A succeeded retrain execution: Prepare (Task), Gate (Choice), Done (Succeed). */
function succeeded(name: string): string {
  const recorder = api.begin('retrain', name, { runId: name });
  recorder.event({ type: 'entered', state: 'Prepare', stateType: 'Task', input: { runId: name } });
  recorder.event({ type: 'exited', state: 'Prepare', stateType: 'Task', ms: 1, output: { rows: 3 } });
  recorder.event({ type: 'entered', state: 'Gate', stateType: 'Choice' });
  recorder.event({ type: 'exited', state: 'Gate', stateType: 'Choice', ms: 0, output: {} });
  recorder.event({ type: 'entered', state: 'Done', stateType: 'Succeed' });
  recorder.event({ type: 'exited', state: 'Done', stateType: 'Succeed', ms: 0, output: {} });
  recorder.end({ status: 'SUCCEEDED', output: { ok: true }, path: [], stateMs: {}, ms: 1 });
  return recorder.executionArn;
}

describe('LocalStepFunctionsApi', () => {
  it('records an execution and its history with AWS event types, ids and details', async () => {
    const arn = succeeded('retrain-r0001-20260101-000000-1');
    expect(arn).toBe(
      'arn:aws:states:us-east-1:123456789012:execution:reelflow-retrain:retrain-r0001-20260101-000000-1',
    );
    const { events } = await sfn.send(new GetExecutionHistoryCommand({ executionArn: arn }));
    expect(events?.map((e) => [e.id, e.previousEventId, e.type])).toEqual([
      [1, 0, 'ExecutionStarted'],
      [2, 1, 'TaskStateEntered'],
      [3, 2, 'TaskStateExited'],
      [4, 3, 'ChoiceStateEntered'],
      [5, 4, 'ChoiceStateExited'],
      [6, 5, 'SucceedStateEntered'],
      [7, 6, 'SucceedStateExited'],
      [8, 7, 'ExecutionSucceeded'],
    ]);
    expect(events?.[1].stateEnteredEventDetails).toEqual({
      name: 'Prepare',
      input: '{"runId":"retrain-r0001-20260101-000000-1"}',
      inputDetails: { truncated: false },
    });
    expect(events?.[2].stateExitedEventDetails).toMatchObject({ name: 'Prepare', output: '{"rows":3}' });
    expect(events?.[7].executionSucceededEventDetails?.output).toBe('{"ok":true}');
    const without = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn: arn, includeExecutionData: false, maxResults: 2 }),
    );
    expect(without.events?.[1].stateEnteredEventDetails).toEqual({
      name: 'Prepare',
      inputDetails: { truncated: false },
    });
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
    expect(described).toMatchObject({
      status: 'SUCCEEDED',
      name: 'retrain-r0001-20260101-000000-1',
      input: '{"runId":"retrain-r0001-20260101-000000-1"}',
      output: '{"ok":true}',
    });
    expect(described.startDate).toBeInstanceOf(Date);
  });

  it('records a failed execution: the Fail state has no Exited event, ExecutionFailed carries error and cause', async () => {
    const recorder = api.begin('deploy', 'deploy-r0002-20260101-000000-1', { runId: 'r0002' });
    recorder.event({ type: 'entered', state: 'UpdateEndpoint', stateType: 'Task' });
    recorder.event({
      type: 'errored',
      state: 'UpdateEndpoint',
      stateType: 'Task',
      error: 'SageMaker.SageMakerException',
      cause: 'Could not find endpoint',
    });
    recorder.event({ type: 'caught', state: 'UpdateEndpoint', next: 'DeployFailed' });
    recorder.event({ type: 'entered', state: 'DeployFailed', stateType: 'Fail' });
    recorder.event({ type: 'exited', state: 'DeployFailed', stateType: 'Fail', ms: 0, output: {} });
    recorder.end({
      status: 'FAILED',
      error: { Error: 'RolledBack', Cause: 'alarm' },
      path: [],
      stateMs: {},
      ms: 1,
    });
    const { events } = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn: recorder.executionArn, reverseOrder: true }),
    );
    expect(events?.map((e) => e.type)).toEqual([
      'ExecutionFailed',
      'FailStateEntered',
      'TaskFailed',
      'TaskStateEntered',
      'ExecutionStarted',
    ]);
    expect(events?.[0].executionFailedEventDetails).toEqual({ error: 'RolledBack', cause: 'alarm' });
    expect(events?.[2].taskFailedEventDetails).toMatchObject({ error: 'SageMaker.SageMakerException' });
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: recorder.executionArn }));
    expect(described).toMatchObject({ status: 'FAILED', error: 'RolledBack', cause: 'alarm' });
  });

  it('lists newest first, filters by status and pages with nextToken', async () => {
    const machine = api.arns.retrain;
    for (const n of [2, 3, 4]) {
      succeeded(`retrain-r000${n}-20260101-000000-1`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    api.begin('retrain', 'retrain-r0009-20260101-000000-1', {});
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(
        new ListExecutionsCommand({ stateMachineArn: machine, maxResults: 2, nextToken }),
      );
      expect((page.executions ?? []).length).toBeLessThanOrEqual(2);
      names.push(...(page.executions ?? []).map((e) => e.name!));
      nextToken = page.nextToken;
    } while (nextToken);
    expect(names).toEqual([
      'retrain-r0009-20260101-000000-1',
      'retrain-r0004-20260101-000000-1',
      'retrain-r0003-20260101-000000-1',
      'retrain-r0002-20260101-000000-1',
      'retrain-r0001-20260101-000000-1',
    ]);
    const running = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: machine, statusFilter: 'RUNNING' }),
    );
    expect(running.executions?.map((e) => [e.name, e.stopDate])).toEqual([
      ['retrain-r0009-20260101-000000-1', undefined],
    ]);
    await expect(
      sfn.send(new ListExecutionsCommand({ stateMachineArn: machine, nextToken: 'bm90IG91cnM=' })),
    ).rejects.toMatchObject({ name: 'InvalidToken' });
    await expect(
      sfn.send(new ListExecutionsCommand({ stateMachineArn: machine, statusFilter: 'DONE' as never })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('StartExecution runs the deploy state machine; a reused name is refused as AWS refuses it', async () => {
    const deploy = api.arns.deploy;
    const input = JSON.stringify({ runId: 'r0001', rollback: { id: 'rollback-1a2b3c4d' } });
    const first = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: deploy, name: 'rollback-1a2b3c4d', input }),
    );
    expect(started.at(-1)).toMatchObject({ name: 'rollback-1a2b3c4d', input: JSON.parse(input) });
    // the same name and input while it runs: the same execution (idempotent)
    const again = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: deploy, name: 'rollback-1a2b3c4d', input }),
    );
    expect(again.executionArn).toBe(first.executionArn);
    expect(started.filter((s) => s.name === 'rollback-1a2b3c4d')).toHaveLength(1);
    await expect(
      sfn.send(
        new StartExecutionCommand({ stateMachineArn: deploy, name: 'rollback-1a2b3c4d', input: '{}' }),
      ),
    ).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    started.at(-1)!.recorder.end({ status: 'SUCCEEDED', output: {}, path: [], stateMs: {}, ms: 1 });
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: deploy, name: 'rollback-1a2b3c4d', input })),
    ).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });

    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: deploy, name: 'a b', input })),
    ).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: deploy, input: '{not json' })),
    ).rejects.toMatchObject({ name: 'InvalidExecutionInput' });
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: api.arns.retrain, input })),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(
      sfn.send(
        new StartExecutionCommand({
          stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:x',
        }),
      ),
    ).rejects.toMatchObject({ name: 'StateMachineDoesNotExist' });
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: 'nope' }))).rejects.toMatchObject({
      name: 'InvalidArn',
    });
    const unnamed = await sfn.send(new StartExecutionCommand({ stateMachineArn: deploy }));
    expect(unnamed.executionArn).toMatch(/:execution:reelflow-deploy:[0-9a-f-]{36}$/);
  });
});
