/**
 * Fixtures of the operator command tests: AWS responses in the shapes the services send (CodePipeline
 * executions, stage states and action executions, Step Functions history events, S3 objects), a target
 * over mocked clients, and a fake clock whose sleep moves time on.
 */
import type {
  ActionExecutionDetail,
  PipelineExecutionSummary,
  StageState,
} from '@aws-sdk/client-codepipeline';
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import type { DescribeStacksCommandOutput } from '@aws-sdk/client-cloudformation';
import { targetFromClients, type OperatorTarget } from '../../../local/operate/target';

export const REGION = 'eu-west-1';
export const ACCOUNT = '123456789012';
export const PIPELINE = 'reelflow-release';
export const BUCKET = 'reelflowdatastack-databucket-1a2b3c4d5e6f';
export const ENDPOINT = 'reelflow-endpoint';
export const PARAMETER = '/reelflow/production-model';
export const RETRAIN_SM = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:reelflow-retrain`;
export const DEPLOY_SM = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:reelflow-deploy`;

/** An AWS target over the (mocked) default clients. */
export function awsTarget(): OperatorTarget {
  return targetFromClients({
    kind: 'aws',
    region: REGION,
    names: {
      stackName: 'ReelflowStack',
      pipelineName: PIPELINE,
      retrainStateMachineArn: RETRAIN_SM,
      deployStateMachineArn: DEPLOY_SM,
      bucket: BUCKET,
      endpointName: ENDPOINT,
      productionParameterName: PARAMETER,
    },
  });
}

/** The lines a command printed. */
export function collect(): { lines: string[]; io: { out(line: string): void }; text(): string } {
  const lines: string[] = [];
  return { lines, io: { out: (line) => lines.push(line) }, text: () => lines.join('\n') };
}

/** A clock at `start` whose sleep moves it on. */
export function fakeClock(start: Date): { now: () => Date; sleep: (ms: number) => Promise<void> } {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    sleep: async (ms) => {
      t += ms;
    },
  };
}

export function at(iso: string): Date {
  return new Date(iso);
}

export function executionArn(machine: 'retrain' | 'deploy', name: string): string {
  return `arn:aws:states:${REGION}:${ACCOUNT}:execution:reelflow-${machine}:${name}`;
}

/** A ListPipelineExecutions summary as CodePipeline V2 (SUPERSEDED) sends it. */
export function executionSummary(
  runId: string,
  status: PipelineExecutionSummary['status'],
  startTime: Date,
  lastUpdateTime = startTime,
): PipelineExecutionSummary {
  return {
    pipelineExecutionId: runId,
    status,
    startTime,
    lastUpdateTime,
    sourceRevisions: [
      { actionName: 'Source', revisionId: 'Wq9e1hV3bXb1r8gZz5u6T0p0aY4nH2c1', revisionUrl: undefined },
    ],
    trigger: {
      triggerType: 'StartPipelineExecution',
      triggerDetail: `arn:aws:sts::${ACCOUNT}:assumed-role/ReelflowStack-StartRunRole/ReelflowStack-StartRun`,
    },
    executionMode: 'SUPERSEDED',
    executionType: 'STANDARD',
  };
}

/** GetPipelineExecution's execution with the trigger variables (triggerKey as start-run encodes it). */
export function pipelineExecution(runId: string, status: string, triggerKey: string) {
  return {
    pipelineExecution: {
      pipelineName: PIPELINE,
      pipelineVersion: 3,
      pipelineExecutionId: runId,
      status: status as 'InProgress',
      artifactRevisions: [],
      variables: [
        { name: 'triggerKey', resolvedValue: triggerKey },
        { name: 'triggerVersionId', resolvedValue: '3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY' },
      ],
      trigger: { triggerType: 'StartPipelineExecution' as const, triggerDetail: 'start-run' },
      executionMode: 'SUPERSEDED' as const,
      executionType: 'STANDARD' as const,
    },
  };
}

/** One action execution of a run (ListActionExecutions). */
export function action(
  runId: string,
  stageName: string,
  actionName: string,
  status: ActionExecutionDetail['status'],
  startTime: Date,
  extra: { externalExecutionId?: string; summary?: string; error?: string } = {},
): ActionExecutionDetail {
  const provider: Record<string, string> = {
    Source: 'S3',
    Checks: 'CodeBuild',
    Retrain: 'StepFunctions',
    Deploy: 'StepFunctions',
    Summarize: 'Lambda',
    Approve: 'Manual',
  };
  return {
    pipelineExecutionId: runId,
    actionExecutionId: `${runId}-${actionName}-0001`,
    pipelineVersion: 3,
    stageName,
    actionName,
    startTime,
    lastUpdateTime: startTime,
    status,
    input: {
      actionTypeId: {
        category: stageName === 'Approve' && actionName === 'Approve' ? 'Approval' : 'Invoke',
        owner: 'AWS',
        provider: provider[actionName] ?? provider[stageName] ?? 'StepFunctions',
        version: '1',
      },
      configuration: {},
      resolvedConfiguration: {},
      region: REGION,
      inputArtifacts: [],
    },
    output: {
      outputArtifacts: [],
      executionResult: {
        externalExecutionId: extra.externalExecutionId,
        externalExecutionSummary: extra.summary,
        externalExecutionUrl: undefined,
        errorDetails: extra.error ? { code: 'JobFailed', message: extra.error } : undefined,
      },
      outputVariables: {},
    },
  };
}

/** A stage of GetPipelineState whose latest execution is `runId`. */
export function stage(
  stageName: string,
  runId: string,
  status: NonNullable<StageState['latestExecution']>['status'],
  actions: {
    name: string;
    status: 'InProgress' | 'Succeeded' | 'Failed';
    externalExecutionId?: string;
  }[] = [],
): StageState {
  return {
    stageName,
    inboundTransitionState: { enabled: true },
    actionStates: actions.map((a) => ({
      actionName: a.name,
      latestExecution: {
        actionExecutionId: `${runId}-${a.name}-0001`,
        status: a.status,
        lastStatusChange: new Date('2026-12-02T13:00:00Z'),
        externalExecutionId: a.externalExecutionId,
      },
    })),
    latestExecution: { pipelineExecutionId: runId, status },
  };
}

/** Step Functions history events, oldest first; give them to reverseOrder() for the API's newest first. */
export function history(
  start: Date,
  steps: { type: string; name?: string; after: number; error?: string; cause?: string }[],
): HistoryEvent[] {
  return steps.map((s, i) => ({
    id: i + 1,
    previousEventId: i,
    timestamp: new Date(start.getTime() + s.after * 1000),
    type: s.type as HistoryEvent['type'],
    ...(s.type.endsWith('StateEntered')
      ? { stateEnteredEventDetails: { name: s.name ?? '', input: '{}' } }
      : {}),
    ...(s.type.endsWith('StateExited')
      ? { stateExitedEventDetails: { name: s.name ?? '', output: '{}' } }
      : {}),
    ...(s.type === 'ExecutionFailed'
      ? { executionFailedEventDetails: { error: s.error, cause: s.cause } }
      : {}),
    ...(s.type === 'ExecutionStarted'
      ? { executionStartedEventDetails: { input: '{}', roleArn: `arn:aws:iam::${ACCOUNT}:role/sfn` } }
      : {}),
  }));
}

export function newestFirst(events: HistoryEvent[]): { events: HistoryEvent[] } {
  return { events: [...events].reverse() };
}

/** An error as the SDK builds it from a service's answer. */
export function awsError(name: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: 'client',
    $metadata: {
      httpStatusCode,
      requestId: 'c0ffee00-1111-2222-3333-444455556666',
      attempts: 1,
      totalRetryDelay: 0,
    },
  });
}

/** DescribeStacks of the deployed ReelflowStack, with the outputs the operator commands read. */
export function stackOutputs(
  outputs: Record<string, string> = STACK_OUTPUT_VALUES,
): Partial<DescribeStacksCommandOutput> {
  return {
    Stacks: [
      {
        StackName: 'ReelflowStack',
        StackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/ReelflowStack/5b0f7d10-0000-11ef-9a8b-0a1b2c3d4e5f`,
        CreationTime: new Date('2026-11-20T09:00:00Z'),
        StackStatus: 'UPDATE_COMPLETE',
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  };
}

export const STACK_OUTPUT_VALUES: Record<string, string> = {
  DataBucketName: BUCKET,
  RecommendUrl: `https://abc123.execute-api.${REGION}.amazonaws.com/prod/recommendEndpoint`,
  EndpointName: ENDPOINT,
  PipelineConsoleUrl: `https://${REGION}.console.aws.amazon.com/codesuite/codepipeline/pipelines/${PIPELINE}/view`,
  PipelineName: PIPELINE,
  RetrainStateMachineArn: RETRAIN_SM,
  DeployStateMachineArn: DEPLOY_SM,
  ProductionParameterName: PARAMETER,
};
