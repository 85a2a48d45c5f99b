/**
 * summarize: the CodePipeline Lambda invoke action of the Approve stage. It reads the run's
 * `runs/<runId>/evaluation/summary.json` (RunSummary, written by Evaluate) and returns the output
 * variables the manual approval action shows:
 *
 * - `approvalText`: the candidate's metrics against production (<= 500 characters, CustomData's limit);
 * - `reportUrl`: an S3 console link to the HTML evaluation report, so reading it stays behind IAM;
 * - `gate`: `passed` (a run whose gate failed stops here with a job failure), or `nothing-to-do` for a run
 *   that found no rating file (Prepare's summary): the approval then says there is nothing to approve,
 *   links the run's run.json, and the Deploy stage changes nothing whatever the decision.
 *
 * The run id comes in through UserParameters `{"runId":"#{codepipeline.PipelineExecutionId}"}`.
 * Every path ends in PutJobSuccessResult or PutJobFailureResult, otherwise the action would hang
 * until CodePipeline's timeout.
 */
import {
  CodePipelineClient,
  PutJobFailureResultCommand,
  PutJobSuccessResultCommand,
} from '@aws-sdk/client-codepipeline';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { CodePipelineEvent } from 'aws-lambda';
import { z } from 'zod';
import type { NothingToDoSummary, RunSummary } from '../contracts';
import { requireEnv } from '../common/env';
import { s3ClientConfig } from '../common/s3-io';
import { toError } from '../common/errors';
import { logger } from '../common/logger';
import { metrics, MetricUnit } from '../common/metrics';
import { observed } from '../common/observability';
import { parseS3Uri, runKey } from '../common/s3-uri';
import { tracer } from '../common/tracer';
import { BATCHES_LINE_PREFIX } from '../core/batches';

/** CodePipeline's limit on a manual approval's CustomData. */
export const APPROVAL_TEXT_MAX = 500;
/** CodePipeline's limit on a job failure message. */
const FAILURE_MESSAGE_MAX = 5000;

/** Thrown when the summary is missing, malformed, or its gate did not pass. */
export class SummaryError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SummaryError';
  }
}

const userParametersSchema = z.object({ runId: z.string().min(1) });

const runSummarySchema = z.union([
  z.object({
    runId: z.string().min(1),
    nothingToDo: z.literal(true),
    approvalText: z.string(),
    reportUri: z.string().startsWith('s3://'),
  }),
  z.object({
    runId: z.string().min(1),
    gate: z.object({ passed: z.boolean(), reasons: z.array(z.string()) }),
    approvalText: z.string(),
    reportUri: z.string().startsWith('s3://'),
  }),
]);

/** The output variables of the action (CodePipeline variables are strings). */
export interface ApprovalVariables {
  readonly approvalText: string;
  readonly reportUrl: string;
  readonly gate: 'passed' | 'nothing-to-do';
}

/** Reads a run artifact's text (the AWS adapter wraps GetObject). */
export interface RunReader {
  readText(key: string): Promise<string>;
}

/** Reports the job's outcome to CodePipeline. */
export interface JobReporter {
  succeed(jobId: string, variables: ApprovalVariables): Promise<void>;
  fail(jobId: string, message: string): Promise<void>;
}

/** Builds the approval variables of a run from its summary. Pure apart from the reader. */
export async function summarizeRun(
  runId: string,
  reader: RunReader,
  region: string,
): Promise<ApprovalVariables> {
  const key = runKey(runId, 'evaluation/summary.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await reader.readText(key));
  } catch (error) {
    throw new SummaryError(`cannot read ${key}: ${toError(error).message}`, { cause: error });
  }
  const parsed = runSummarySchema.safeParse(raw);
  if (!parsed.success) {
    throw new SummaryError(`${key} is not a run summary: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  const summary:
    | Pick<RunSummary, 'runId' | 'gate' | 'approvalText' | 'reportUri'>
    | Pick<NothingToDoSummary, 'runId' | 'nothingToDo' | 'approvalText' | 'reportUri'> = parsed.data;
  if (summary.runId !== runId) {
    throw new SummaryError(`${key} belongs to run ${summary.runId}, not ${runId}`);
  }
  if ('nothingToDo' in summary) {
    return {
      approvalText: clip(summary.approvalText, APPROVAL_TEXT_MAX),
      reportUrl: s3ConsoleUrl(summary.reportUri, region),
      gate: 'nothing-to-do',
    };
  }
  if (!summary.gate.passed) {
    throw new SummaryError(`run ${runId} did not pass the gate: ${summary.gate.reasons.join('; ')}`);
  }
  return {
    approvalText: clip(summary.approvalText, APPROVAL_TEXT_MAX),
    reportUrl: s3ConsoleUrl(summary.reportUri, region),
    gate: 'passed',
  };
}

/**
 * The S3 console page of an object: opening it needs a console session with read access, so the
 * report stays behind IAM (no presigned URL that anyone with the e-mail could open).
 */
export function s3ConsoleUrl(uri: string, region: string): string {
  const { bucket, key } = parseS3Uri(uri);
  const host = region.startsWith('cn-')
    ? 'console.amazonaws.cn'
    : region.startsWith('us-gov-')
      ? 'console.amazonaws-us-gov.com'
      : 'console.aws.amazon.com';
  const query = new URLSearchParams({ region, prefix: key });
  return `https://${host}/s3/object/${bucket}?${query.toString()}`;
}

/** Runs the action for one CodePipeline job: every outcome is reported to CodePipeline. */
export async function handleJob(
  event: CodePipelineEvent,
  deps: { readonly reader: RunReader; readonly reporter: JobReporter; readonly region: string },
): Promise<void> {
  const job = event['CodePipeline.job'];
  let variables: ApprovalVariables;
  try {
    const parameters = userParametersSchema.safeParse(
      JSON.parse(job.data.actionConfiguration.configuration.UserParameters),
    );
    if (!parameters.success)
      throw new SummaryError('UserParameters must be {"runId": "<pipeline execution id>"}');
    variables = await summarizeRun(parameters.data.runId, deps.reader, deps.region);
  } catch (error) {
    const message = toError(error).message;
    logger.error('approval summary failed', { jobId: job.id, error: toError(error) });
    metrics.addMetric('ApprovalSummaryFailures', MetricUnit.Count, 1);
    await deps.reporter.fail(job.id, clip(message, FAILURE_MESSAGE_MAX));
    return;
  }
  await deps.reporter.succeed(job.id, variables);
  logger.info('approval summary ready', {
    jobId: job.id,
    reportUrl: variables.reportUrl,
    gate: variables.gate,
  });
  if (variables.gate === 'passed') metrics.addMetric('ApprovalsRequested', MetricUnit.Count, 1);
}

/** Cuts to `max` characters; the batch counts line Evaluate appends (`\nBatches: ...`) is kept whole. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const at = text.lastIndexOf(`\n${BATCHES_LINE_PREFIX}`);
  const tail = at >= 0 && text.length - at < max / 2 ? text.slice(at) : '';
  const body = tail ? text.slice(0, at) : text;
  return `${body.slice(0, max - 1 - tail.length)}\u2026${tail}`;
}

/** The S3 adapter of RunReader. */
export function s3RunReader(client: S3Client, bucket: string): RunReader {
  return {
    async readText(key) {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!response.Body) throw new SummaryError(`s3://${bucket}/${key} has no body`);
      return response.Body.transformToString('utf-8');
    },
  };
}

/** FailureDetails.message as the API takes it: 1 to 5,000 characters. */
export function failureMessage(message: string): string {
  const text = message.trim() || 'the Summarize action failed';
  return text.length <= MAX_FAILURE_MESSAGE ? text : `${text.slice(0, MAX_FAILURE_MESSAGE - 3)}...`;
}
const MAX_FAILURE_MESSAGE = 5000;

/** The CodePipeline adapter of JobReporter. */
export function codePipelineReporter(client: CodePipelineClient): JobReporter {
  return {
    async succeed(jobId, variables) {
      await client.send(new PutJobSuccessResultCommand({ jobId, outputVariables: { ...variables } }));
    },
    async fail(jobId, message) {
      await client.send(
        new PutJobFailureResultCommand({
          jobId,
          failureDetails: { type: 'JobFailed', message: failureMessage(message) },
        }),
      );
    },
  };
}

const s3 = tracer.captureAWSv3Client(new S3Client(s3ClientConfig()));
const codePipeline = tracer.captureAWSv3Client(new CodePipelineClient({}));

export const handler = observed(async (event: CodePipelineEvent): Promise<void> => {
  const reporter = codePipelineReporter(codePipeline);
  let reader: RunReader;
  let region: string;
  try {
    reader = s3RunReader(s3, requireEnv('DATA_BUCKET'));
    region = requireEnv('AWS_REGION');
  } catch (error) {
    // A broken binding must still fail the job, or the approval stage would wait for its timeout.
    logger.error('summarize is misconfigured', { error: toError(error) });
    await reporter.fail(event['CodePipeline.job'].id, toError(error).message);
    return;
  }
  await handleJob(event, { reader, reporter, region });
});
