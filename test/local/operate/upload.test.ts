/**
 * `reelflow upload`: a key no other upload holds (a random part when the second's key is taken, a new
 * one when the conditional write loses a race), then the run the upload starts found by its triggerKey
 * and followed to its end, with the exit code of its outcome.
 */
import {
  CodePipelineClient,
  GetPipelineExecutionCommand,
  GetPipelineStateCommand,
  ListActionExecutionsCommand,
  ListPipelineExecutionsCommand,
} from '@aws-sdk/client-codepipeline';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../../local/cli-args';
import { runUpload, withRandomPart } from '../../../local/operate/upload';
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
  fakeClock,
  history,
  newestFirst,
  pipelineExecution,
  stage,
} from './operate-fixtures';

const codePipeline = mockClient(CodePipelineClient);
const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);
const sageMaker = mockClient(SageMakerClient);
const s3 = mockClient(S3Client);

const OLD = '0a0a0a0a-1111-4222-8333-444444444444';
const RUN = 'c4d5e6f7-1111-4222-8333-555555555555';
const KEY = 'ratings/20261202T140000Z-week49.csv';
const SUFFIXED = 'ratings/20261202T140000Z-abc123-week49.csv';
const RETRAIN = executionArn('retrain', `retrain-${RUN}`);
const DEPLOY = executionArn('deploy', `deploy-${RUN}`);

let target: OperatorTarget;
let dir: string;
let file: string;

beforeEach(() => {
  for (const mock of [codePipeline, sfn, ssm, sageMaker, s3]) mock.reset();
  target = awsTarget();
  dir = mkdtempSync(join(tmpdir(), 'reelflow-upload-'));
  file = join(dir, 'week49.csv');
  writeFileSync(file, 'userId,movieId,rating,timestamp\n1,10,4,1733140800\n');
  s3.on(PutObjectCommand).resolves({ ETag: '"9b2cf535f27731c974343645a3985328"', VersionId: 'v1' });
  ssm
    .on(GetParameterCommand)
    .rejects(new ParameterNotFound({ message: '', $metadata: { httpStatusCode: 400 } }));
  sageMaker
    .on(DescribeEndpointCommand)
    .rejects(awsError('ValidationException', 'Could not find endpoint "x".'));
});
afterEach(() => {
  target.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** The run of the upload: not listed at first, then in Retrain, then succeeded (deployed). */
function runOfTheUpload(triggerKey: string): void {
  const start = at('2026-12-02T14:00:03Z');
  codePipeline
    .on(ListPipelineExecutionsCommand)
    .resolvesOnce({
      pipelineExecutionSummaries: [executionSummary(OLD, 'Succeeded', at('2026-12-02T13:58:00Z'))],
    })
    .resolves({
      pipelineExecutionSummaries: [
        executionSummary(RUN, 'InProgress', start),
        executionSummary(OLD, 'Succeeded', at('2026-12-02T13:58:00Z')),
      ],
    });
  codePipeline
    .on(GetPipelineExecutionCommand, { pipelineExecutionId: OLD })
    .resolves(pipelineExecution(OLD, 'Succeeded', 'ratings/20261202T135800Z-week48.csv'));
  codePipeline
    .on(GetPipelineExecutionCommand, { pipelineExecutionId: RUN })
    .resolvesOnce(pipelineExecution(RUN, 'InProgress', triggerKey))
    .resolvesOnce(pipelineExecution(RUN, 'InProgress', triggerKey))
    .resolves(pipelineExecution(RUN, 'Succeeded', triggerKey));
  const done = [
    stage('Source', RUN, 'Succeeded'),
    stage('Checks', RUN, 'Succeeded'),
    stage('Retrain', RUN, 'Succeeded'),
    stage('Approve', RUN, 'Succeeded'),
    stage('Deploy', RUN, 'Succeeded'),
  ];
  codePipeline
    .on(GetPipelineStateCommand)
    .resolvesOnce({
      stageStates: [
        ...done.slice(0, 2),
        stage('Retrain', RUN, 'InProgress', [
          { name: 'Retrain', status: 'InProgress', externalExecutionId: RETRAIN },
        ]),
        stage('Approve', OLD, 'Succeeded'),
        stage('Deploy', OLD, 'Succeeded'),
      ],
    })
    .resolves({ stageStates: done });
  codePipeline
    .on(ListActionExecutionsCommand)
    .resolvesOnce({
      actionExecutionDetails: [
        action(RUN, 'Retrain', 'Retrain', 'InProgress', start, { externalExecutionId: RETRAIN }),
        action(RUN, 'Checks', 'Checks', 'Succeeded', start),
        action(RUN, 'Source', 'Source', 'Succeeded', start),
      ],
    })
    .resolves({
      actionExecutionDetails: [
        action(RUN, 'Deploy', 'Deploy', 'Succeeded', start, { externalExecutionId: DEPLOY }),
        action(RUN, 'Approve', 'Approve', 'Succeeded', start, { summary: 'approved' }),
        action(RUN, 'Retrain', 'Retrain', 'Succeeded', start, { externalExecutionId: RETRAIN }),
        action(RUN, 'Checks', 'Checks', 'Succeeded', start),
        action(RUN, 'Source', 'Source', 'Succeeded', start),
      ],
    });
  const started = history(start, [
    { type: 'ExecutionStarted', after: 0 },
    { type: 'TaskStateEntered', name: 'Prepare', after: 1 },
  ]);
  sfn
    .on(GetExecutionHistoryCommand, { executionArn: RETRAIN })
    .resolvesOnce(newestFirst(started))
    .resolves(
      newestFirst([
        ...started,
        ...history(start, [
          { type: 'TaskStateExited', name: 'Prepare', after: 20 },
          { type: 'ExecutionSucceeded', after: 21 },
        ]),
      ]),
    );
  sfn
    .on(GetExecutionHistoryCommand, { executionArn: DEPLOY })
    .resolves(newestFirst(history(start, [{ type: 'ExecutionSucceeded', after: 40 }])));
}

describe('reelflow upload', () => {
  it('adds a random part when the key is taken, then follows the run of the upload to success', async () => {
    // GIVEN the second's key is taken by another upload, the suffixed one is free
    s3.on(HeadObjectCommand, { Key: KEY }).resolves({ ContentLength: 10, ETag: '"x"', VersionId: 'other' });
    s3.on(HeadObjectCommand, { Key: SUFFIXED }).rejects(awsError('NotFound', 'NotFound', 404));
    runOfTheUpload(SUFFIXED);
    const clock = fakeClock(at('2026-12-02T14:00:00Z'));
    const out = collect();

    // WHEN
    const code = await runUpload(target, file, {
      io: out.io,
      now: clock.now,
      sleep: clock.sleep,
      randomPart: () => 'abc123',
    });

    // THEN the batch went under the free key, conditionally
    expect(code).toBe(EXIT.ok);
    const puts = s3.commandCalls(PutObjectCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0].args[0].input).toMatchObject({ Bucket: BUCKET, Key: SUFFIXED, IfNoneMatch: '*' });
    expect(out.lines[0]).toBe(`uploaded ${file} as s3://${BUCKET}/${SUFFIXED} (0.0 MiB)`);
    // AND the run was found by its triggerKey (the old execution was not it), and followed to its end
    expect(out.lines).toContain(`run ${RUN} started for ${SUFFIXED}`);
    expect(out.lines).toContain(`2026-12-02 14:00:05  ${RUN}  Retrain  Prepare (Task) for 1s`);
    expect(codePipeline.commandCalls(GetPipelineExecutionCommand, { pipelineExecutionId: OLD })).toHaveLength(
      1,
    );
    expect(out.lines.at(-1)).toBe(`run ${RUN} ended Succeeded`);
  });

  it('takes a new key when the conditional write loses a race (412 PreconditionFailed)', async () => {
    // GIVEN HeadObject saw the key free, but another upload wrote it first
    s3.on(HeadObjectCommand).rejects(awsError('NotFound', 'NotFound', 404));
    s3.on(PutObjectCommand, { Key: KEY }).rejects(
      awsError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412),
    );
    const out = collect();

    // WHEN
    const code = await runUpload(target, file, {
      io: out.io,
      follow: false,
      now: () => at('2026-12-02T14:00:00Z'),
      randomPart: () => 'abc123',
    });

    // THEN
    expect(code).toBe(EXIT.ok);
    expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key)).toEqual([KEY, SUFFIXED]);
    expect(out.lines).toEqual([
      `uploaded ${file} as s3://${BUCKET}/${SUFFIXED} (0.0 MiB)`,
      'a run starts for it: reelflow status --watch follows it',
    ]);
    expect(codePipeline.commandCalls(ListPipelineExecutionsCommand)).toHaveLength(0);
  });

  it('fails with one line when no run appears for the upload', async () => {
    // GIVEN a trigger that never starts a run
    s3.on(HeadObjectCommand).rejects(awsError('NotFound', 'NotFound', 404));
    codePipeline.on(ListPipelineExecutionsCommand).resolves({ pipelineExecutionSummaries: [] });
    const clock = fakeClock(at('2026-12-02T14:00:00Z'));

    // WHEN / THEN
    await expect(
      runUpload(target, file, {
        io: collect().io,
        now: clock.now,
        sleep: clock.sleep,
        findTimeoutMs: 60_000,
      }),
    ).rejects.toThrow(`no run started for ${KEY} within 1 min`);
  });

  it('keeps the arrival order when it adds the random part', () => {
    expect(withRandomPart(KEY, 'abc123')).toBe(SUFFIXED);
    expect(withRandomPart('ratings/20261202T140000Z-001-a.csv', 'ff00ee')).toBe(
      'ratings/20261202T140000Z-ff00ee-001-a.csv',
    );
  });
});
