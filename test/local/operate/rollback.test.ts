import { CodePipelineClient, GetPipelineStateCommand } from '@aws-sdk/client-codepipeline';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { DescribeModelCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { SageMakerServiceException } from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { userInfo } from 'node:os';
import { EXIT, UsageError } from '../../../local/cli-args';
import { OperatorError } from '../../../local/operate/errors';
import {
  defaultTarget,
  endpointProgress,
  requester,
  rollbackCommand,
  runRollback,
  servingStack,
  type DeployedEvent,
  type RollbackDeps,
  type RollbackRequest,
} from '../../../local/operate/rollback';
import { targetFromClients, type OperatorTarget } from '../../../local/operate/target';

const BUCKET = 'reelflow-data-123456789012-eu-west-1';
const DEPLOY_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:reelflow-deploy';
const EXECUTION_ARN = 'arn:aws:states:eu-west-1:123456789012:execution:reelflow-deploy:rollback-0123abcd';
const [A, B, C, D] = ['run-a', 'run-b', 'run-c', 'run-d'];

const ssm = mockClient(SSMClient);
const s3 = mockClient(S3Client);
const sageMaker = mockClient(SageMakerClient);
const sfn = mockClient(SFNClient);
const codePipeline = mockClient(CodePipelineClient);

let target: OperatorTarget;
let lines: string[];
let sleeps: number[];
let deps: RollbackDeps;
const request: RollbackRequest = {
  yes: true,
  follow: false,
  requestedBy: 'alice',
  reason: 'latency regression',
};

const deployed = (runId: string, recordedAt: string, rollback = false): DeployedEvent => ({
  runId,
  recordedAt,
  rollback,
});

function record(runId: string, outcome: string, recordedAt: string) {
  return {
    runId,
    outcome,
    endpointName: 'reelflow-recommender',
    endpointConfigName: `reelflow-config-${runId}-1a2b3c4d`,
    servingConfigName: `reelflow-config-${runId}-1a2b3c4d`,
    reason: null,
    alarms: [],
    recordedAt,
  };
}

function summary(runId: string, passed = true) {
  return {
    runId,
    trigger: { key: 'ratings/u.data', versionId: 'v1' },
    names: { model: `reelflow-model-${runId}-abc123`, endpointConfigPrefix: `reelflow-config-${runId}` },
    gate: { passed, reasons: passed ? [] : ['ndcg@10 0.20 is below production 0.25'] },
    approvalText: 'PASSED',
    candidateMetrics: { 'ndcg@10': 0.25 },
    productionMetrics: null,
    productionRunId: null,
    reportUri: `s3://${BUCKET}/runs/${runId}/evaluation/report.html`,
    evaluationUri: `s3://${BUCKET}/runs/${runId}/evaluation/evaluation.json`,
  };
}

function bucket(objects: Record<string, unknown>): void {
  s3.on(ListObjectsV2Command).resolves({
    IsTruncated: false,
    KeyCount: Object.keys(objects).length,
    Contents: Object.keys(objects)
      .sort()
      .map((Key) => ({ Key, Size: 100, ETag: '"e"', LastModified: new Date('2026-12-01T00:00:00Z') })),
  });
  for (const [Key, value] of Object.entries(objects)) {
    const text = JSON.stringify(value);
    s3.on(GetObjectCommand, { Key }).resolves({
      Body: { transformToByteArray: async () => Buffer.from(text) } as never,
    });
  }
}

/** A, B and C deployed in turn; D's deployment (between B and C) rolled back; summaries of A to D. */
const HISTORY: Record<string, unknown> = {
  [`runs/${A}/deployment.json`]: record(A, 'deployed', '2026-11-01T10:00:00Z'),
  [`runs/${A}/evaluation/summary.json`]: summary(A),
  [`runs/${B}/deployment.json`]: record(B, 'deployed', '2026-11-08T10:00:00Z'),
  [`runs/${B}/evaluation/summary.json`]: summary(B),
  [`runs/${B}/prepared/train/shard-0.rec`]: 'not json',
  [`runs/${C}/deployment.json`]: record(C, 'deployed', '2026-11-15T10:00:00Z'),
  [`runs/${C}/evaluation/summary.json`]: summary(C),
  [`runs/${D}/deployment.json`]: record(D, 'rolled-back', '2026-11-10T10:00:00Z'),
  [`runs/${D}/evaluation/summary.json`]: summary(D),
};

function production(runId: string): void {
  ssm.on(GetParameterCommand).resolves({
    Parameter: {
      Name: '/reelflow/production-model',
      Type: 'SecureString',
      Value: JSON.stringify({
        runId,
        modelName: `reelflow-model-${runId}-abc123`,
        endpointConfigName: `reelflow-config-${runId}-1a2b3c4d`,
        deployedAt: '2026-11-15T10:00:00Z',
        metrics: { 'ndcg@10': 0.25 },
      }),
      Version: 3,
      ARN: 'arn:aws:ssm:eu-west-1:123456789012:parameter/reelflow/production-model',
    },
  });
}

function pipelineDeploy(status: 'Succeeded' | 'InProgress'): void {
  codePipeline.on(GetPipelineStateCommand).resolves({
    pipelineName: 'reelflow-release',
    stageStates: [{ stageName: 'Deploy', latestExecution: { pipelineExecutionId: D, status } }],
  });
}

beforeEach(() => {
  for (const mock of [ssm, s3, sageMaker, sfn, codePipeline]) mock.reset();
  lines = [];
  sleeps = [];
  deps = {
    io: { out: (line) => lines.push(line) },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    pollMs: 5000,
    newId: () => '0123abcd',
  };
  target = targetFromClients({
    region: 'eu-west-1',
    names: {
      pipelineName: 'reelflow-release',
      retrainStateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:reelflow-retrain',
      deployStateMachineArn: DEPLOY_SM,
      bucket: BUCKET,
      endpointName: 'reelflow-recommender',
      productionParameterName: '/reelflow/production-model',
    },
  });
  production(C);
  bucket(HISTORY);
  sageMaker.on(DescribeModelCommand).resolves({ ModelName: `reelflow-model-${B}-abc123` });
  sfn.on(ListExecutionsCommand).resolves({ executions: [] });
  pipelineDeploy('Succeeded');
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date() });
});

afterEach(() => target.destroy());

describe('the default target', () => {
  it('is the version that served before the current one', () => {
    const events = [
      deployed(A, '2026-11-01T00:00:00Z'),
      deployed(B, '2026-11-02T00:00:00Z'),
      deployed(C, '2026-11-03T00:00:00Z'),
    ];
    expect(defaultTarget(events, C)).toBe(B);
  });

  it('goes further back after a rollback instead of returning to the version rolled away from', () => {
    const events = [
      deployed(A, '2026-11-01T00:00:00Z'),
      deployed(B, '2026-11-02T00:00:00Z'),
      deployed(C, '2026-11-03T00:00:00Z'),
      deployed(B, '2026-11-04T00:00:00Z', true),
    ];
    expect(servingStack(events, B)).toEqual([A, B]);
    expect(defaultTarget(events, B)).toBe(A);
  });

  it('counts a pipeline deployment after a rollback as new history', () => {
    const events = [
      deployed(A, '2026-11-01T00:00:00Z'),
      deployed(B, '2026-11-02T00:00:00Z'),
      deployed(C, '2026-11-03T00:00:00Z'),
      deployed(B, '2026-11-04T00:00:00Z', true),
      deployed(D, '2026-11-05T00:00:00Z'),
    ];
    expect(servingStack(events, D)).toEqual([A, B, D]);
  });

  it('believes the production record over the records when they disagree', () => {
    const events = [
      deployed(A, '2026-11-01T00:00:00Z'),
      deployed(B, '2026-11-02T00:00:00Z'),
      deployed(C, '2026-11-03T00:00:00Z'),
    ];
    expect(defaultTarget(events, B)).toBe(A);
  });

  it('fails when nothing earlier is left', () => {
    const events = [
      deployed(A, '2026-11-01T00:00:00Z'),
      deployed(B, '2026-11-02T00:00:00Z'),
      deployed(A, '2026-11-03T00:00:00Z', true),
    ];
    expect(() => defaultTarget(events, A)).toThrow(
      /no earlier version to roll back to: run-a .* --to <runId>/,
    );
  });
});

describe('runRollback', () => {
  it('picks the previous deployed version from S3 and starts the deploy state machine with the contract input', async () => {
    const code = await runRollback(target, request, deps);

    expect(code).toBe(EXIT.ok);
    expect(sfn.commandCalls(StartExecutionCommand)[0].args[0].input).toEqual({
      stateMachineArn: DEPLOY_SM,
      name: 'rollback-0123abcd',
      input: JSON.stringify({
        runId: B,
        rollback: { id: 'rollback-0123abcd', from: C, reason: 'latency regression', requestedBy: 'alice' },
      }),
    });
    expect(sfn.commandCalls(ListExecutionsCommand)[0].args[0].input).toEqual({
      stateMachineArn: DEPLOY_SM,
      statusFilter: 'RUNNING',
    });
    expect(sageMaker.commandCalls(DescribeModelCommand)[0].args[0].input).toEqual({
      ModelName: `reelflow-model-${B}-abc123`,
    });
    expect(ssm.commandCalls(GetParameterCommand)[0].args[0].input).toEqual({
      Name: '/reelflow/production-model',
      WithDecryption: true,
    });
    expect(lines.slice(0, 3)).toEqual([
      'rollback rollback-0123abcd',
      `  from      ${C} (model reelflow-model-${C}-abc123, since 2026-11-15T10:00:00Z)`,
      `  to        ${B} (model reelflow-model-${B}-abc123)`,
    ]);
    expect(lines[lines.length - 1]).toContain(EXECUTION_ARN);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });

  it('reads the rollback records: after a rollback from C to B it goes on to A', async () => {
    production(B);
    bucket({
      ...HISTORY,
      [`runs/${B}/rollbacks/rollback-77aa88bb.json`]: {
        ...record(B, 'deployed', '2026-11-20T10:00:00Z'),
        rollback: { id: 'rollback-77aa88bb', from: C, to: B, reason: 'latency', requestedBy: 'bob' },
      },
    });

    await runRollback(target, request, deps);

    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!)).toMatchObject({
      runId: A,
      rollback: { from: B },
    });
  });

  it('takes --to', async () => {
    await runRollback(target, { ...request, to: A }, deps);
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!)).toMatchObject({
      runId: A,
    });
  });

  it('asks on a terminal without --yes, and starts nothing when the answer is no', async () => {
    const questions: string[] = [];
    const code = await runRollback(
      target,
      { ...request, yes: false },
      {
        ...deps,
        confirm: async (question) => {
          questions.push(question);
          return false;
        },
      },
    );
    expect(code).toBe(EXIT.failed);
    expect(questions).toEqual([`roll back from ${C} to ${B}? [y/N] `]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  describe('refuses to start', () => {
    const refusals: [string, () => void, Partial<RollbackRequest>, RegExp][] = [
      [
        'when nothing is deployed',
        () => ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ $metadata: {}, message: '' })),
        {},
        /^nothing is deployed: nothing to roll back$/,
      ],
      ['when --to is what serves', () => undefined, { to: C }, /^run-c serves already/],
      [
        'when the target has no evaluation summary',
        () =>
          s3
            .on(GetObjectCommand, { Key: `runs/${A}/evaluation/summary.json` })
            .rejects(new NoSuchKey({ $metadata: {}, message: 'The specified key does not exist.' })),
        { to: A },
        /run-a has no evaluation summary \(runs\/run-a\/evaluation\/summary.json\)/,
      ],
      [
        "when the target's gate did not pass",
        () => bucket({ ...HISTORY, [`runs/${B}/evaluation/summary.json`]: summary(B, false) }),
        {},
        /run-b did not pass the gate \(ndcg@10 0.20 is below production 0.25\)/,
      ],
      [
        "when the target's model no longer exists",
        () =>
          sageMaker.on(DescribeModelCommand).rejects(
            new SageMakerServiceException({
              name: 'ValidationException',
              $fault: 'client',
              $metadata: {},
              message: `Could not find model "arn:aws:sagemaker:eu-west-1:123456789012:model/reelflow-model-${B}-abc123".`,
            }),
          ),
        {},
        /the model reelflow-model-run-b-abc123 of run run-b no longer exists/,
      ],
      [
        'when a deployment is running',
        () =>
          sfn.on(ListExecutionsCommand).resolves({
            executions: [
              {
                executionArn: `${DEPLOY_SM.replace(':stateMachine:', ':execution:')}:deploy-9`,
                stateMachineArn: DEPLOY_SM,
                name: 'deploy-9',
                status: 'RUNNING',
                startDate: new Date('2026-12-02T09:00:00Z'),
              },
            ],
          }),
        {},
        /a deployment is running \(deploy-9, started 2026-12-02T09:00:00.000Z\)/,
      ],
      [
        "when the pipeline's Deploy stage is in progress",
        () => pipelineDeploy('InProgress'),
        {},
        /the pipeline's Deploy stage is deploying run run-d/,
      ],
      [
        'without a terminal or --yes',
        () => undefined,
        { yes: false },
        /no terminal to confirm on: add --yes/,
      ],
    ];

    it.each(refusals)('%s', async (_title, arrange, change, message) => {
      arrange();
      const started = runRollback(target, { ...request, ...change }, deps);
      await expect(started).rejects.toThrow(OperatorError);
      await expect(started).rejects.toThrow(message);
      expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    });
  });
});

describe('following a rollback', () => {
  const t0 = Date.parse('2026-12-02T12:00:00Z');
  let nextId = 0;
  const event = (seconds: number, type: string, details: Partial<HistoryEvent> = {}): HistoryEvent => {
    nextId += 1;
    return {
      id: nextId,
      previousEventId: nextId - 1,
      timestamp: new Date(t0 + seconds * 1000),
      type: type as 'PassStateEntered',
      ...details,
    };
  };
  const entered = (seconds: number, type: string, name: string) =>
    event(seconds, type, { stateEnteredEventDetails: { name, input: '{}' } });
  const described = (seconds: number, status: string, stage?: string) =>
    event(seconds, 'TaskStateExited', {
      stateExitedEventDetails: {
        name: 'DescribeEndpoint',
        output: JSON.stringify({
          runId: B,
          endpoint: {
            EndpointName: 'reelflow-recommender',
            EndpointStatus: status,
            ...(stage
              ? {
                  PendingDeploymentSummary: {
                    ProductionVariants: [{ VariantName: 'AllTraffic', VariantStatus: [{ Status: stage }] }],
                  },
                }
              : {}),
          },
        }),
      },
    });

  function history(end: HistoryEvent[]): { first: HistoryEvent[]; all: HistoryEvent[] } {
    nextId = 0;
    const first = [
      event(0, 'ExecutionStarted', {
        executionStartedEventDetails: { input: '{}', roleArn: 'arn:aws:iam::123456789012:role/deploy' },
      }),
      entered(0, 'TaskStateEntered', 'LoadCandidate'),
      entered(1, 'ChoiceStateEntered', 'IsRollback?'),
      entered(2, 'TaskStateEntered', 'UpdateEndpoint'),
      entered(3, 'WaitStateEntered', 'WaitForEndpoint'),
      entered(63, 'TaskStateEntered', 'DescribeEndpoint'),
      described(64, 'Updating', 'ActivatingTraffic'),
    ];
    const rest = [
      entered(64, 'PassStateEntered', 'CountPoll'),
      entered(64, 'WaitStateEntered', 'WaitForEndpoint'),
      entered(124, 'TaskStateEntered', 'DescribeEndpoint'),
      described(125, 'Updating', 'Baking'),
      entered(125, 'WaitStateEntered', 'WaitForEndpoint'),
      entered(185, 'TaskStateEntered', 'DescribeEndpoint'),
      described(186, 'InService'),
      ...end.map((e) => ({ ...e, id: (nextId += 1), previousEventId: nextId - 1 })),
    ];
    return { first, all: [...first, ...rest] };
  }

  function execution(end: HistoryEvent[], status: string, error?: string, cause?: string): void {
    const { first, all } = history(end);
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({
        executionArn: EXECUTION_ARN,
        stateMachineArn: DEPLOY_SM,
        status: 'RUNNING',
        startDate: new Date(t0),
      })
      .resolves({
        executionArn: EXECUTION_ARN,
        stateMachineArn: DEPLOY_SM,
        status: status as 'FAILED',
        startDate: new Date(t0),
        stopDate: new Date(t0 + 200_000),
        ...(error ? { error, cause } : {}),
      });
    sfn.on(GetExecutionHistoryCommand).resolvesOnce({ events: first }).resolves({ events: all });
  }

  it('prints each state once and the endpoint progress, and exits 0 when the target serves again', async () => {
    execution([entered(190, 'TaskStateEntered', 'SmokeTest'), event(192, 'ExecutionSucceeded')], 'SUCCEEDED');

    const code = await runRollback(target, { ...request, follow: true }, deps);

    expect(code).toBe(EXIT.ok);
    expect(sleeps).toEqual([5000]);
    expect(
      lines.slice(lines.indexOf('following (Ctrl-C stops following; the rollback goes on)') + 1),
    ).toEqual([
      '  +0:00  LoadCandidate',
      '  +0:01  IsRollback?',
      '  +0:02  UpdateEndpoint',
      '  +0:03  WaitForEndpoint',
      '  +1:03  DescribeEndpoint',
      '  +1:04    endpoint Updating (ActivatingTraffic)',
      '  +1:04  CountPoll',
      '  +2:05    endpoint Updating (Baking)',
      '  +3:06    endpoint InService',
      '  +3:10  SmokeTest',
      `${B} serves again (rollback rollback-0123abcd)`,
    ]);
    expect(sfn.commandCalls(DescribeExecutionCommand)[0].args[0].input).toEqual({
      executionArn: EXECUTION_ARN,
    });
  });

  it('exits 4 when the guardrails rolled the rollback back', async () => {
    const cause =
      'auto-rollback: the endpoint serves reelflow-config-run-c-1a2b3c4d; alarms in ALARM: reelflow-latency';
    execution(
      [event(190, 'ExecutionFailed', { executionFailedEventDetails: { error: 'RolledBack', cause } })],
      'FAILED',
      'RolledBack',
      cause,
    );

    expect(await runRollback(target, { ...request, follow: true }, deps)).toBe(EXIT.rolledBack);
    expect(lines[lines.length - 1]).toBe(
      `the guardrails rolled rollback-0123abcd back: ${C} still serves (${cause})`,
    );
  });

  it('exits 3 when another version was deployed meanwhile', async () => {
    const cause = `compared with production ${C}, but ${D} is serving now`;
    execution([], 'FAILED', 'StaleBaseline', cause);

    expect(await runRollback(target, { ...request, follow: true }, deps)).toBe(EXIT.rejected);
    expect(lines[lines.length - 1]).toBe(`rollback-0123abcd refused: ${C} no longer serves (${cause})`);
  });

  it('exits 1 with the cause on any other failure', async () => {
    execution([], 'FAILED', 'EndpointFailed', 'The endpoint is Failed after the update');

    expect(await runRollback(target, { ...request, follow: true }, deps)).toBe(EXIT.failed);
    expect(lines[lines.length - 1]).toBe(
      'rollback-0123abcd FAILED: EndpointFailed: The endpoint is Failed after the update',
    );
  });
});

describe('rollbackCommand', () => {
  it('takes no positional arguments', async () => {
    await expect(rollbackCommand({ values: {}, positionals: [B] })).rejects.toThrow(
      new UsageError('rollback takes no arguments (the target is --to <runId>)'),
    );
  });

  it('records the OS user as the requester, with the profile against AWS', () => {
    const user = userInfo().username;
    expect(requester({ values: {}, positionals: [] }, {})).toBe(user);
    expect(requester({ values: { aws: true, profile: 'prod' }, positionals: [] }, {})).toBe(
      `${user} (profile prod)`,
    );
    expect(requester({ values: { aws: true }, positionals: [] }, { AWS_PROFILE: 'ops' })).toBe(
      `${user} (profile ops)`,
    );
  });
});

describe('endpointProgress', () => {
  it('is empty for output without an endpoint', () => {
    expect(endpointProgress('{"runId":"x"}')).toBe('');
    expect(endpointProgress(undefined)).toBe('');
  });
});
