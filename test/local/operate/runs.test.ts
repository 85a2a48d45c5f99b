/**
 * `reelflow runs` and `reelflow show <run>` over a history of five runs, as the services and the bucket
 * hold it: a run deployed and, later, put back by an operator's rollback (serving again); a candidate
 * the gate rejected; a deployment the guardrails rolled back; a deployed run; a run whose data was
 * rejected at Prepare. Missing objects (NoSuchKey) are steps a run did not reach.
 */
import {
  CodePipelineClient,
  GetPipelineExecutionCommand,
  GetPipelineStateCommand,
  ListActionExecutionsCommand,
  ListPipelineExecutionsCommand,
  type ActionExecutionDetail,
} from '@aws-sdk/client-codepipeline';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeploymentRecord, ProductionRecord, RunSummary } from '../../../functions/contracts';
import type { RunLineage } from '../../../functions/workflow/prepare';
import { EXIT } from '../../../local/cli-args';
import { OperatorError } from '../../../local/operate/errors';
import { readRuns, runsCommand, showRun, formatRunReports } from '../../../local/operate/runs';
import type { OperatorTarget } from '../../../local/operate/target';
import {
  action,
  at,
  awsError,
  awsTarget,
  BUCKET,
  collect,
  executionArn,
  executionSummary,
  history,
  newestFirst,
  pipelineExecution,
  REGION,
  stackOutputs,
  stage,
} from './operate-fixtures';

const codePipeline = mockClient(CodePipelineClient);
const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);
const sageMaker = mockClient(SageMakerClient);
const s3 = mockClient(S3Client);
const cloudFormation = mockClient(CloudFormationClient);

const R1 = '11111111-aaaa-4bbb-8ccc-000000000001';
const R2 = '22222222-aaaa-4bbb-8ccc-000000000002';
const R3 = '33333333-aaaa-4bbb-8ccc-000000000003';
const R4 = '44444444-aaaa-4bbb-8ccc-000000000004';
const R5 = '55555555-aaaa-4bbb-8ccc-000000000005';
const ROLLBACK = 'rollback-0a1b2c3d';

/** How far each run got: the stage it ended in, and the state machine error if it failed there. */
const RUNS: Record<
  string,
  { status: 'Succeeded' | 'Failed'; until: string; error?: string; cause?: string; day: number }
> = {
  [R1]: { status: 'Succeeded', until: 'Deploy', day: 1 },
  [R2]: {
    status: 'Failed',
    until: 'Retrain',
    error: 'CandidateRejected',
    cause: 'The candidate did not pass the gate; production is unchanged (see the evaluation report).',
    day: 2,
  },
  [R3]: {
    status: 'Failed',
    until: 'Deploy',
    error: 'RolledBack',
    cause: 'alarm reelflow-endpoint-rollback-5xx',
    day: 3,
  },
  [R4]: { status: 'Succeeded', until: 'Deploy', day: 4 },
  [R5]: {
    status: 'Failed',
    until: 'Retrain',
    error: 'DataRejectedError',
    cause: 'data rejected: ratings/20261205T090000Z-bad.csv: 12% of rows have a rating outside 1..5',
    day: 5,
  },
};
const ORDER = ['Source', 'Checks', 'Retrain', 'Approve', 'Deploy'];

function startOf(runId: string): Date {
  return at(`2026-12-0${RUNS[runId].day}T10:00:00Z`);
}

function triggerOf(runId: string): string {
  return `ratings/2026120${RUNS[runId].day}T095959Z-week${RUNS[runId].day}.csv`;
}

function machineArn(runId: string, stageName: string): string {
  return executionArn(stageName === 'Retrain' ? 'retrain' : 'deploy', `${stageName.toLowerCase()}-${runId}`);
}

function actionsOf(runId: string): ActionExecutionDetail[] {
  const run = RUNS[runId];
  const last = ORDER.indexOf(run.until);
  const details: ActionExecutionDetail[] = [];
  ORDER.slice(0, last + 1).forEach((stageName, i) => {
    const status = i === last && run.status === 'Failed' ? 'Failed' : 'Succeeded';
    const startTime = new Date(startOf(runId).getTime() + i * 600_000);
    const arn = stageName === 'Retrain' || stageName === 'Deploy' ? machineArn(runId, stageName) : undefined;
    const error = status === 'Failed' ? `Execution ${arn} failed: ${run.error}` : undefined;
    if (stageName === 'Approve') {
      details.push(action(runId, 'Approve', 'Summarize', 'Succeeded', startTime));
      details.push(
        action(runId, 'Approve', 'Approve', 'Succeeded', startTime, { summary: 'approved: better ndcg@10' }),
      );
    } else {
      details.push(
        action(runId, stageName, stageName, status, startTime, { externalExecutionId: arn, error }),
      );
    }
  });
  return details.reverse();
}

function summaryOf(
  runId: string,
  passed: boolean,
  candidate: number,
  production: number | null,
  productionRunId: string | null,
): RunSummary {
  return {
    runId,
    trigger: { key: triggerOf(runId), versionId: `v-${runId.slice(0, 8)}` },
    names: {
      fmJob: `reelflow-fm-${runId.slice(0, 8)}-a1b2c3`,
      knnJob: `reelflow-knn-${runId.slice(0, 8)}-a1b2c3`,
      model: `reelflow-model-${runId.slice(0, 8)}-a1b2c3`,
    } as RunSummary['names'],
    gate: {
      passed,
      reasons: passed
        ? [`ndcg@10 ${candidate} >= production ${production ?? '-'} - 0.005`]
        : [`ndcg@10 ${candidate} < production ${production} - 0.005 (worse than production)`],
    },
    approvalText: passed ? 'PASSED' : 'FAILED',
    candidateMetrics: { 'precision@10': candidate - 0.05, 'ndcg@10': candidate },
    productionMetrics:
      production === null ? null : { 'precision@10': production - 0.05, 'ndcg@10': production },
    productionRunId,
    reportUri: `s3://${BUCKET}/runs/${runId}/evaluation/report.html`,
    evaluationUri: `s3://${BUCKET}/runs/${runId}/evaluation/evaluation.json`,
  };
}

function lineageOf(runId: string, trained: number, excluded: RunLineage['excluded'] = []): RunLineage {
  return {
    runId,
    trigger: { key: triggerOf(runId), versionId: 'v' },
    startedAt: startOf(runId).toISOString(),
    rule: 'every batch under ratings/ is validated on its own every run',
    trained: Array.from({ length: trained }, (_, i) => ({
      key: `ratings/2026120${i + 1}T095959Z-week${i + 1}.csv`,
      versionId: `ver${i + 1}`,
      size: 100_000 + i,
      eTag: `"etag${i}"`,
      sha256: null,
    })),
    excluded,
  };
}

function deployment(
  runId: string,
  outcome: DeploymentRecord['outcome'],
  extra: Partial<DeploymentRecord> = {},
): DeploymentRecord {
  return {
    runId,
    outcome,
    endpointName: 'reelflow-endpoint',
    endpointConfigName: `reelflow-config-${runId.slice(0, 8)}-0f1e2d3c`,
    servingConfigName: `reelflow-config-${runId.slice(0, 8)}-0f1e2d3c`,
    reason: null,
    alarms: [],
    recordedAt: new Date(startOf(runId).getTime() + 45 * 60_000).toISOString(),
    ...extra,
  };
}

/** The bucket: key -> JSON object. */
const objects: Record<string, unknown> = {
  [`runs/${R1}/evaluation/summary.json`]: summaryOf(R1, true, 0.2528, null, null),
  [`runs/${R1}/evaluation/evaluation.json`]: {
    baselines: {
      popularity: { 'precision@10': 0.122, 'ndcg@10': 0.1577 },
      random: { 'precision@10': 0.0116, 'ndcg@10': 0.0135 },
    },
  },
  [`runs/${R1}/lineage.json`]: lineageOf(R1, 1),
  [`runs/${R1}/deployment.json`]: deployment(R1, 'deployed'),
  [`runs/${R1}/rollbacks/${ROLLBACK}.json`]: deployment(R1, 'deployed', {
    recordedAt: '2026-12-04T16:00:00.000Z',
    endpointConfigName: `reelflow-config-${R1.slice(0, 8)}-9e8d7c6b`,
    servingConfigName: `reelflow-config-${R1.slice(0, 8)}-9e8d7c6b`,
    rollback: {
      id: ROLLBACK,
      from: R4,
      to: R1,
      reason: 'complaints about week 4 recommendations',
      requestedBy: 'alice',
    },
  }),
  [`runs/${R2}/evaluation/summary.json`]: summaryOf(R2, false, 0.231, 0.2528, R1),
  [`runs/${R2}/lineage.json`]: lineageOf(R2, 2),
  [`runs/${R3}/evaluation/summary.json`]: summaryOf(R3, true, 0.2611, 0.2528, R1),
  [`runs/${R3}/lineage.json`]: lineageOf(R3, 3),
  [`runs/${R3}/deployment.json`]: deployment(R3, 'rolled-back', {
    servingConfigName: `reelflow-config-${R1.slice(0, 8)}-0f1e2d3c`,
    reason: 'SageMaker rolled the update back: alarm reelflow-endpoint-rollback-5xx',
    alarms: ['reelflow-endpoint-rollback-5xx'],
  }),
  [`runs/${R4}/evaluation/summary.json`]: summaryOf(R4, true, 0.2702, 0.2528, R1),
  [`runs/${R4}/lineage.json`]: lineageOf(R4, 4),
  [`runs/${R4}/deployment.json`]: deployment(R4, 'deployed'),
  [`runs/${R5}/lineage.json`]: lineageOf(R5, 0, [
    {
      key: 'ratings/20261205T090000Z-bad.csv',
      status: 'quarantined',
      reason: '12% of rows have a rating outside 1..5',
      movedTo: 'quarantine/20261205T090000Z-bad.csv',
      versionId: 'verbad',
      size: 2048,
      byThisRun: true,
    },
  ]),
};

const production: ProductionRecord = {
  runId: R1,
  modelName: `reelflow-model-${R1.slice(0, 8)}-a1b2c3`,
  endpointConfigName: `reelflow-config-${R1.slice(0, 8)}-9e8d7c6b`,
  deployedAt: '2026-12-04T16:00:00.000Z',
  metrics: { 'ndcg@10': 0.2528 },
  rollbackId: ROLLBACK,
};

let target: OperatorTarget;

beforeEach(() => {
  for (const mock of [codePipeline, sfn, ssm, sageMaker, s3, cloudFormation]) mock.reset();
  target = awsTarget();
  const ids = [R5, R4, R3, R2, R1];
  codePipeline.on(ListPipelineExecutionsCommand).resolves({
    pipelineExecutionSummaries: ids.map((id) =>
      executionSummary(id, RUNS[id].status, startOf(id), new Date(startOf(id).getTime() + 50 * 60_000)),
    ),
  });
  codePipeline.on(GetPipelineStateCommand).resolves({
    pipelineName: 'reelflow-release',
    stageStates: [
      stage('Source', R5, 'Succeeded'),
      stage('Checks', R5, 'Succeeded'),
      stage('Retrain', R5, 'Failed'),
      stage('Approve', R4, 'Succeeded'),
      stage('Deploy', R4, 'Succeeded'),
    ],
  });
  for (const id of ids) {
    codePipeline
      .on(GetPipelineExecutionCommand, { pipelineExecutionId: id })
      .resolves(pipelineExecution(id, RUNS[id].status, triggerOf(id)));
    codePipeline.on(ListActionExecutionsCommand, { filter: { pipelineExecutionId: id } }).resolves({
      actionExecutionDetails: actionsOf(id),
    });
    for (const stageName of ['Retrain', 'Deploy']) {
      const run = RUNS[id];
      const failedHere = run.status === 'Failed' && run.until === stageName;
      sfn
        .on(GetExecutionHistoryCommand, { executionArn: machineArn(id, stageName) })
        .resolves(
          newestFirst(
            history(startOf(id), [
              { type: 'ExecutionStarted', after: 0 },
              failedHere
                ? { type: 'ExecutionFailed', after: 30, error: run.error, cause: run.cause }
                : { type: 'ExecutionSucceeded', after: 30 },
            ]),
          ),
        );
    }
  }
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    if (!(input.Key in objects))
      throw new NoSuchKey({
        message: 'The specified key does not exist.',
        $metadata: { httpStatusCode: 404 },
      });
    const text = JSON.stringify(objects[input.Key]);
    return { Body: { transformToString: async () => text } };
  });
  s3.on(ListObjectsV2Command).callsFake((input: { Prefix: string }) => {
    const keys = Object.keys(objects).filter((k) => k.startsWith(input.Prefix));
    return { KeyCount: keys.length, IsTruncated: false, Contents: keys.map((Key) => ({ Key, Size: 100 })) };
  });
  ssm.on(GetParameterCommand).resolves({
    Parameter: {
      Name: '/reelflow/production-model',
      Type: 'String',
      Value: JSON.stringify(production),
      Version: 7,
    },
  });
  sageMaker.on(DescribeEndpointCommand).resolves({
    EndpointName: 'reelflow-endpoint',
    EndpointArn: `arn:aws:sagemaker:${REGION}:123456789012:endpoint/reelflow-endpoint`,
    EndpointConfigName: production.endpointConfigName,
    EndpointStatus: 'InService',
    CreationTime: at('2026-12-01T10:00:00Z'),
    LastModifiedTime: at('2026-12-04T16:00:00Z'),
  });
});
afterEach(() => target.destroy());

describe('reelflow runs', () => {
  it('lists every run with metrics, gate, batches, deployment and which one serves', async () => {
    // WHEN
    const reports = await readRuns(target, 20);
    const lines = formatRunReports(reports);

    // THEN one aligned row per run, newest first
    expect(lines[0]).toMatch(/^run {35}started {14}status {5}ended in {2}trigger/);
    const row = (id: string): string => lines.find((l) => l.startsWith(id)) ?? '';
    expect(row(R1)).toMatch(
      /Succeeded\s+Deploy\s+ratings\/20261201T095959Z-week1\.csv\s+ndcg@10\s+0\.2528\s+-\s+passed\s+1\/0\s+deployed \(\+1 rollback to it\)\s+serving$/,
    );
    expect(row(R2)).toMatch(/Failed\s+Retrain\s+\S+\s+ndcg@10\s+0\.2310\s+0\.2528\s+failed\s+2\/0\s+-$/);
    expect(row(R3)).toMatch(
      /Failed\s+Deploy\s+\S+\s+ndcg@10\s+0\.2611\s+0\.2528\s+passed\s+3\/0\s+rolled-back$/,
    );
    expect(row(R4)).toMatch(
      /Succeeded\s+Deploy\s+\S+\s+ndcg@10\s+0\.2702\s+0\.2528\s+passed\s+4\/0\s+deployed$/,
    );
    expect(row(R5)).toMatch(/Failed\s+Retrain\s+\S+\s+-\s+-\s+-\s+-\s+0\/1\s+-$/);
    const statusColumn = lines[0].indexOf('status');
    for (const line of lines.slice(1)) expect(line.slice(statusColumn)).toMatch(/^(Succeeded|Failed)/);
    expect(reports.find((r) => r.runId === R1)?.links.report).toBe(
      `https://s3.console.aws.amazon.com/s3/object/${BUCKET}?region=${REGION}&prefix=runs%2F${R1}%2Fevaluation%2Freport.html`,
    );
    expect(reports.find((r) => r.runId === R5)?.links.report).toBeUndefined();
  });

  it('--aws --json --limit 2 prints one object per run of the stack read from CloudFormation', async () => {
    // GIVEN the stack's outputs
    cloudFormation.on(DescribeStacksCommand, { StackName: 'ReelflowStack' }).resolves(stackOutputs());
    const out = collect();

    // WHEN
    const code = await runsCommand(
      { values: { aws: true, region: REGION, json: true, limit: '2' }, positionals: [] },
      out.io,
    );

    // THEN
    expect(code).toBe(EXIT.ok);
    expect(codePipeline.commandCalls(ListPipelineExecutionsCommand)[0].args[0].input).toMatchObject({
      pipelineName: 'reelflow-release',
      maxResults: 2,
    });
    const parsed = out.lines.map(
      (l) => JSON.parse(l) as { runId: string; summary?: unknown; deployment?: unknown; serving: boolean },
    );
    expect(parsed.map((p) => p.runId)).toEqual([R5, R4]);
    expect(parsed[0].summary).toBeUndefined();
    expect(parsed[1]).toMatchObject({ deployment: { outcome: 'deployed' }, serving: false });
  });

  it('falls back to the local history file when no twin runs and --aws is not given', async () => {
    // GIVEN a home with a history line and no state.json
    const home = mkdtempSync(join(tmpdir(), 'reelflow-runs-'));
    try {
      writeFileSync(
        join(home, 'runs.jsonl'),
        `${JSON.stringify({
          runId: 'r0001-20261125-070341',
          trigger: { key: 'ratings/sample.csv', versionId: 'unknown' },
          startedAt: '2026-11-25T07:03:41.000Z',
          endedAt: '2026-11-25T07:03:46.000Z',
          status: 'Succeeded',
          stage: 'Deploy',
          servingVersion: 'r0001-20261125-070341',
          timings: { totalMs: 5000, stages: {}, states: {} },
        })}\n`,
      );
      const written: string[] = [];
      const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        written.push(String(chunk));
        return true;
      });

      // WHEN
      const code = await runsCommand({ values: { home }, positionals: [] }).finally(() =>
        write.mockRestore(),
      );

      // THEN the local table, no AWS call
      expect(code).toBe(EXIT.ok);
      expect(written.join('')).toContain('r0001-20261125-070341');
      expect(codePipeline.commandCalls(ListPipelineExecutionsCommand)).toHaveLength(0);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('reelflow show', () => {
  it('shows a deployed run that serves again through a rollback: stages, metrics vs production and baselines, batches, records', async () => {
    const lines = await showRun(target, R1);
    const text = lines.join('\n');

    expect(lines[0]).toBe(`run       ${R1}  Succeeded`);
    expect(text).toContain(
      'trigger   ratings/20261201T095959Z-week1.csv  (version 3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY)',
    );
    expect(text).toContain('  Deploy   Succeeded  state machine SUCCEEDED');
    expect(text).toContain('  Approve  Succeeded  approved: better ndcg@10');
    expect(lines).toContain('metric        candidate  production  most-popular  random');
    expect(lines).toContain('ndcg@10          0.2528           -        0.1577  0.0135');
    expect(lines).toContain('against   no production model yet');
    expect(lines).toContain('gate      passed');
    expect(lines).toContain('batches   1 trained, 0 excluded');
    expect(text).toMatch(/ {2}trained {2}ratings\/20261201T095959Z-week1\.csv {2}100000 B {2}ver1/);
    expect(text).toContain(
      `deployment deployed at 2026-12-01 10:45:00  config reelflow-config-11111111-0f1e2d3c`,
    );
    expect(text).toContain(
      `rollback  ${ROLLBACK} at 2026-12-04 16:00:00: deployed, from ${R4} to ${R1}, reason: complaints about week 4 recommendations, by alice`,
    );
    expect(lines.at(-1)).toBe(`serving   this run, since 2026-12-04 16:00:00 (by rollback ${ROLLBACK})`);
  });

  it('shows a rejected run: the gate reasons, no deployment', async () => {
    const lines = await showRun(target, R2);
    const text = lines.join('\n');

    expect(text).toContain(
      '  Retrain  Failed     state machine FAILED: CandidateRejected (The candidate did not pass the gate; production is unchanged (see the evaluation report).)',
    );
    expect(lines).toContain('  Approve  -');
    expect(lines).toContain(`against   production run ${R1}`);
    expect(lines).toContain('gate      failed');
    expect(lines).toContain('  - ndcg@10 0.231 < production 0.2528 - 0.005 (worse than production)');
    expect(lines).toContain('ndcg@10          0.2310      0.2528             -       -');
    expect(text).toContain('deployment - (the run did not reach Deploy, or Deploy recorded nothing)');
    expect(lines.at(-1)).toBe(`serving   run ${R1}, not this one`);
  });

  it('shows a run whose data was rejected at Prepare: the quarantined batch, no metrics', async () => {
    const lines = await showRun(target, R5);
    const text = lines.join('\n');

    expect(text).toContain(
      'state machine FAILED: DataRejectedError (data rejected: ratings/20261205T090000Z-bad.csv',
    );
    expect(text).toContain('report    - (the run did not reach Evaluate)');
    expect(lines).toContain('metrics   - (the run did not reach Evaluate)');
    expect(lines).toContain('batches   0 trained, 1 excluded');
    expect(text).toMatch(
      /excluded {2}ratings\/20261205T090000Z-bad\.csv {2}2048 B {2}verbad {3}quarantined \(quarantine\/20261205T090000Z-bad\.csv\): 12% of rows/,
    );
  });

  it('shows the guardrails rollback of a deployment with its alarm', async () => {
    const text = (await showRun(target, R3)).join('\n');

    expect(text).toContain('state machine FAILED: RolledBack (alarm reelflow-endpoint-rollback-5xx)');
    expect(text).toMatch(
      /deployment rolled-back at .* reason: SageMaker rolled the update back: .* alarms: reelflow-endpoint-rollback-5xx/,
    );
  });

  it('fails with one line when the pipeline has no such run', async () => {
    codePipeline
      .on(GetPipelineExecutionCommand, { pipelineExecutionId: 'nope' })
      .rejects(awsError('PipelineExecutionNotFoundException', 'Pipeline execution with id nope not found'));

    const shown = showRun(target, 'nope');
    await expect(shown).rejects.toBeInstanceOf(OperatorError);
    await expect(shown).rejects.toThrow('no run nope in pipeline reelflow-release');
  });
});
