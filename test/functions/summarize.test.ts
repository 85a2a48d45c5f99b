import './quiet-powertools';
import {
  CodePipelineClient,
  InvalidJobStateException,
  PutJobFailureResultCommand,
  PutJobSuccessResultCommand,
} from '@aws-sdk/client-codepipeline';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import type { CodePipelineEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { RunSummary } from '../../functions/contracts';
import {
  APPROVAL_TEXT_MAX,
  failureMessage,
  handler,
  type RunReader,
  s3ConsoleUrl,
  summarizeRun,
  SummaryError,
} from '../../functions/pipeline/summarize';

const BUCKET = 'reelflow-data-123456789012-eu-west-1';
const RUN = '3f2b8c1e-0000-4000-8000-000000000001';

function summary(overrides: Partial<RunSummary> = {}): RunSummary {
  return {
    runId: RUN,
    trigger: { key: 'ratings/u.data', versionId: 'v1' },
    names: {
      fmJob: `reelflow-fm-${RUN}`,
      knnJob: `reelflow-knn-${RUN}`,
      model: `reelflow-model-${RUN}`,
      transformModel: `reelflow-tmodel-${RUN}`,
      productionTransformModel: `reelflow-tmodelp-${RUN}`,
      candidateTransformJob: `reelflow-eval-${RUN}`,
      productionTransformJob: `reelflow-evalprod-${RUN}`,
      endpointConfigPrefix: `reelflow-config-${RUN}`,
    },
    gate: { passed: true, reasons: [] },
    approvalText: 'ndcg@10 0.1234 vs production 0.1100 (+12.2 %)',
    candidateMetrics: { 'ndcg@10': 0.1234 },
    productionMetrics: { 'ndcg@10': 0.11 },
    productionRunId: 'previous-run',
    reportUri: `s3://${BUCKET}/runs/${RUN}/evaluation/report.html`,
    evaluationUri: `s3://${BUCKET}/runs/${RUN}/evaluation/evaluation.json`,
    ...overrides,
  };
}

const readerOf = (files: Record<string, string>): RunReader => ({
  async readText(key) {
    if (!(key in files)) throw new NoSuchKey({ $metadata: {}, message: `NoSuchKey: ${key}` });
    return files[key];
  },
});

describe('summarizeRun', () => {
  const key = `runs/${RUN}/evaluation/summary.json`;

  it('returns the approval text, an S3 console link to the report and the gate', async () => {
    const variables = await summarizeRun(RUN, readerOf({ [key]: JSON.stringify(summary()) }), 'eu-west-1');

    expect(variables).toEqual({
      approvalText: 'ndcg@10 0.1234 vs production 0.1100 (+12.2 %)',
      reportUrl:
        `https://console.aws.amazon.com/s3/object/${BUCKET}?region=eu-west-1` +
        `&prefix=runs%2F${RUN}%2Fevaluation%2Freport.html`,
      gate: 'passed',
    });
  });

  it("clips the approval text to CodePipeline's 500-character limit", async () => {
    const long = summary({ approvalText: 'x'.repeat(900) });
    const { approvalText } = await summarizeRun(RUN, readerOf({ [key]: JSON.stringify(long) }), 'eu-west-1');
    expect(approvalText).toHaveLength(APPROVAL_TEXT_MAX);
    expect(approvalText.endsWith('\u2026')).toBe(true);
  });

  it('keeps the batch counts line whole when it clips', async () => {
    const line = '\nBatches: 3 trained, 1 excluded (quarantined or withdrawn).';
    const long = summary({ approvalText: `${'x'.repeat(900)}${line}` });
    const { approvalText } = await summarizeRun(RUN, readerOf({ [key]: JSON.stringify(long) }), 'eu-west-1');
    expect(approvalText).toHaveLength(APPROVAL_TEXT_MAX);
    expect(approvalText.endsWith(`\u2026${line}`)).toBe(true);
  });

  it.each([
    ['the summary is missing', {}, /cannot read runs\/.*summary\.json/],
    ['the summary is not JSON', { [key]: '{oops' }, /cannot read/],
    ['the summary has no gate', { [key]: JSON.stringify({ runId: RUN }) }, /is not a run summary/],
    [
      'the summary belongs to another run',
      { [key]: JSON.stringify(summary({ runId: 'other' })) },
      /belongs to run other/,
    ],
    [
      'the gate did not pass',
      { [key]: JSON.stringify(summary({ gate: { passed: false, reasons: ['ndcg@10 below popularity'] } })) },
      /did not pass the gate: ndcg@10 below popularity/,
    ],
  ])('throws SummaryError when %s', async (_name, files, message) => {
    const promise = summarizeRun(RUN, readerOf(files as Record<string, string>), 'eu-west-1');
    await expect(promise).rejects.toBeInstanceOf(SummaryError);
    await expect(summarizeRun(RUN, readerOf(files as Record<string, string>), 'eu-west-1')).rejects.toThrow(
      message,
    );
  });

  it('says there is nothing to approve, without failing, for a run that found no rating file', async () => {
    // GIVEN the summary Prepare writes when ratings/ holds no file
    const nothing = {
      runId: RUN,
      trigger: { key: 'manual', versionId: 'unknown' },
      nothingToDo: true,
      reason: 'no rating file under ratings/ yet: nothing to train',
      approvalText: `Nothing to approve: run ${RUN} found no rating file under ratings/ yet`,
      reportUri: `s3://${BUCKET}/runs/${RUN}/run.json`,
    };
    // WHEN the Approve stage summarizes it
    const variables = await summarizeRun(RUN, readerOf({ [key]: JSON.stringify(nothing) }), 'eu-west-1');
    // THEN the approval shows that and links run.json
    expect(variables).toEqual({
      approvalText: nothing.approvalText,
      reportUrl: `https://console.aws.amazon.com/s3/object/${BUCKET}?region=eu-west-1&prefix=runs%2F${RUN}%2Frun.json`,
      gate: 'nothing-to-do',
    });
  });

  it('refuses a run id that could leave the runs/ prefix', async () => {
    await expect(summarizeRun('../etc', readerOf({}), 'eu-west-1')).rejects.toThrow(/invalid run id/);
  });
});

describe('s3ConsoleUrl', () => {
  it.each([
    ['eu-west-1', 'https://console.aws.amazon.com/s3/object/bkt?region=eu-west-1&prefix=k%2Fr.html'],
    ['cn-north-1', 'https://console.amazonaws.cn/s3/object/bkt?region=cn-north-1&prefix=k%2Fr.html'],
    [
      'us-gov-west-1',
      'https://console.amazonaws-us-gov.com/s3/object/bkt?region=us-gov-west-1&prefix=k%2Fr.html',
    ],
  ])('links the console of the partition of %s', (region, url) => {
    expect(s3ConsoleUrl('s3://bkt/k/r.html', region)).toBe(url);
  });
});

describe('failureMessage', () => {
  it('keeps the message within the 1 to 5,000 characters PutJobFailureResult takes', () => {
    expect(failureMessage('x'.repeat(6000))).toHaveLength(5000);
    expect(failureMessage('  ')).toBe('the Summarize action failed');
    expect(failureMessage('no summary')).toBe('no summary');
  });
});

describe('handler', () => {
  const s3 = mockClient(S3Client);
  const codePipeline = mockClient(CodePipelineClient);
  const env = { ...process.env };
  const job = (userParameters: string): CodePipelineEvent =>
    ({
      'CodePipeline.job': {
        id: 'job-1',
        accountId: '123456789012',
        data: {
          actionConfiguration: {
            configuration: { FunctionName: 'summarize', UserParameters: userParameters },
          },
        },
      },
    }) as unknown as CodePipelineEvent;
  // The part of the SDK's streaming body the handler uses.
  const body = (text: string) => ({ Body: { transformToString: async () => text } as never });

  beforeEach(() => {
    s3.reset();
    codePipeline.reset();
    process.env = { ...env, DATA_BUCKET: BUCKET, AWS_REGION: 'eu-west-1' };
  });
  afterAll(() => {
    process.env = env;
  });

  it('reports success with the output variables', async () => {
    s3.on(GetObjectCommand, { Bucket: BUCKET, Key: `runs/${RUN}/evaluation/summary.json` }).resolves(
      body(JSON.stringify(summary())),
    );

    await handler(job(JSON.stringify({ runId: RUN })));

    const [success] = codePipeline.commandCalls(PutJobSuccessResultCommand);
    expect(success.args[0].input).toEqual({
      jobId: 'job-1',
      outputVariables: {
        approvalText: summary().approvalText,
        reportUrl: expect.stringContaining(`/s3/object/${BUCKET}?region=eu-west-1`),
        gate: 'passed',
      },
    });
    expect(codePipeline.commandCalls(PutJobFailureResultCommand)).toHaveLength(0);
  });

  it('reports a job failure when the summary cannot be read', async () => {
    s3.on(GetObjectCommand).rejects(
      new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }),
    );

    await handler(job(JSON.stringify({ runId: RUN })));

    const [failure] = codePipeline.commandCalls(PutJobFailureResultCommand);
    expect(failure.args[0].input).toEqual({
      jobId: 'job-1',
      failureDetails: {
        type: 'JobFailed',
        message: expect.stringContaining('The specified key does not exist.'),
      },
    });
    expect(codePipeline.commandCalls(PutJobSuccessResultCommand)).toHaveLength(0);
  });

  it('reports a job failure for UserParameters without a run id', async () => {
    await handler(job('{"run":"x"}'));
    await handler(job('not json'));

    const messages = codePipeline
      .commandCalls(PutJobFailureResultCommand)
      .map((c) => c.args[0].input.failureDetails?.message);
    expect(messages).toEqual([
      expect.stringContaining('UserParameters must be'),
      expect.stringContaining('JSON'),
    ]);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it('reports a job failure when its environment is incomplete', async () => {
    delete process.env.DATA_BUCKET;
    await handler(job(JSON.stringify({ runId: RUN })));

    const [failure] = codePipeline.commandCalls(PutJobFailureResultCommand);
    expect(failure.args[0].input.failureDetails?.message).toBe('environment variable DATA_BUCKET is not set');
  });

  it('throws when CodePipeline cannot be told, so the failure is at least logged by Lambda', async () => {
    s3.on(GetObjectCommand).resolves(body(JSON.stringify(summary())));
    codePipeline
      .on(PutJobSuccessResultCommand)
      .rejects(new InvalidJobStateException({ $metadata: {}, message: 'The job is not in progress.' }));

    await expect(handler(job(JSON.stringify({ runId: RUN })))).rejects.toMatchObject({
      name: 'InvalidJobStateException',
      message: 'The job is not in progress.',
    });
  });
});
