/**
 * The CodePipeline API of the local pipeline (CodePipeline_20150709, awsJson1_1, served by
 * aws-json-server.ts):
 *
 * - `StartPipelineExecution` (start-run, on an upload): starts a run of the local pipeline with the
 *   pipeline variables; the client request token makes a redelivered event map to the same run;
 * - `PutJobSuccessResult` / `PutJobFailureResult` (summarize, the Approve stage's Lambda action): the
 *   outcome and output variables of a job the local pipeline created;
 * - what the console and the operator CLI read (execution-log.ts keeps it; pipeline-runner.ts reports
 *   into it): `GetPipelineState`, `ListPipelineExecutions` (this session's executions, then the older
 *   ones of runs.jsonl), `GetPipelineExecution`, `ListActionExecutions`;
 * - `PutApprovalResult`: decides the manual approval a run waits in (the token GetPipelineState shows).
 *
 * The execution id is the run id (`r0001-20261125-101500`); AWS's are UUIDs, so the model's pattern
 * check on `pipelineExecutionId` accepts the local run ids (`tolerate` below) and nothing else.
 */
import { randomUUID } from 'node:crypto';
import type { RunRecord } from '../run-history';
import type { Violation } from './api-model';
import { AwsServiceError, type AwsJsonService } from './aws-json-server';
import { ExecutionLog, type ApprovalOutcome } from './execution-log';

/** A StartPipelineExecution request, as start-run sends it. */
export interface StartRequest {
  readonly pipelineName: string;
  readonly variables: Readonly<Record<string, string>>;
  readonly clientRequestToken?: string;
}

/** What a Lambda action job reported. */
export type JobResult =
  | { readonly status: 'Succeeded'; readonly outputVariables: Readonly<Record<string, string>> }
  | { readonly status: 'Failed'; readonly message: string };

export class LocalCodePipelineApi {
  private readonly tokens = new Map<string, string>();
  private readonly jobs = new Map<string, JobResult | null>();

  /** What the pipeline ran: stages, actions, approvals (GetPipelineState, List*Executions). */
  readonly log: ExecutionLog;

  /**
   * @param pipelineName the one pipeline this API knows
   * @param start starts a run with the variables; returns its execution id
   * @param options.history the run history (runs.jsonl) for executions of earlier sessions
   */
  constructor(
    readonly pipelineName: string,
    private readonly start: (variables: Readonly<Record<string, string>>) => string,
    options: { history?: () => Promise<readonly RunRecord[]> } = {},
  ) {
    this.log = new ExecutionLog(pipelineName, options.history);
  }

  /** The JSON API service (target prefix `CodePipeline_20150709`). */
  service(): AwsJsonService {
    const log = this.log;
    return {
      targetPrefix: 'CodePipeline_20150709',
      version: '1.1',
      tolerate: localExecutionIds,
      operations: {
        GetPipelineState: (input) => log.pipelineState(this.pipeline(input.name)),
        ListPipelineExecutions: (input) => log.listExecutions(this.pipeline(input.pipelineName), input),
        GetPipelineExecution: (input) =>
          log.getExecution(this.pipeline(input.pipelineName), String(input.pipelineExecutionId)),
        ListActionExecutions: (input) => log.listActions(this.pipeline(input.pipelineName), input),
        PutApprovalResult: (input) => {
          this.pipeline(input.pipelineName);
          const result = input.result as { status: ApprovalOutcome['status']; summary: string };
          return log.putApprovalResult({
            stageName: String(input.stageName),
            actionName: String(input.actionName),
            token: String(input.token),
            result,
          });
        },
        StartPipelineExecution: (input) =>
          this.startExecution({
            pipelineName: String(input.name ?? ''),
            variables: Object.fromEntries(
              ((input.variables as { name: string; value: string }[] | undefined) ?? []).map((v) => [
                v.name,
                v.value,
              ]),
            ),
            clientRequestToken: input.clientRequestToken as string | undefined,
          }),
        PutJobSuccessResult: (input) => {
          this.report(String(input.jobId), {
            status: 'Succeeded',
            outputVariables: (input.outputVariables as Record<string, string> | undefined) ?? {},
          });
          return {};
        },
        PutJobFailureResult: (input) => {
          const details = input.failureDetails as { message?: string } | undefined;
          this.report(String(input.jobId), { status: 'Failed', message: details?.message ?? 'no message' });
          return {};
        },
      },
    };
  }

  startExecution(request: StartRequest): { pipelineExecutionId: string } {
    this.pipeline(request.pipelineName);
    const token = request.clientRequestToken;
    const known = token ? this.tokens.get(token) : undefined;
    if (known) return { pipelineExecutionId: known };
    const id = this.start(request.variables);
    if (token) this.tokens.set(token, id);
    return { pipelineExecutionId: id };
  }

  /** A new job id for a Lambda action; its result arrives through Put*Result. */
  createJob(): string {
    const id = randomUUID();
    this.jobs.set(id, null);
    return id;
  }

  /** The result a job reported, or null while it has not. */
  result(jobId: string): JobResult | null {
    return this.jobs.get(jobId) ?? null;
  }

  /** The pipeline's name when `name` is it. @throws PipelineNotFoundException */
  private pipeline(name: unknown): string {
    if (name !== this.pipelineName) {
      throw new AwsServiceError(
        'PipelineNotFoundException',
        `The account does not have a pipeline with name '${String(name)}'.`,
      );
    }
    return this.pipelineName;
  }

  private report(jobId: string, result: JobResult): void {
    if (!this.jobs.has(jobId))
      throw new AwsServiceError('JobNotFoundException', `The job ${jobId} was not found.`);
    if (this.jobs.get(jobId))
      throw new AwsServiceError('InvalidJobStateException', `The job ${jobId} already has a result.`);
    this.jobs.set(jobId, result);
  }
}

/** The local run ids (`r0001-20261125-101500`) the model's UUID pattern of execution ids would refuse. */
export const LOCAL_EXECUTION_ID = /^r\d{4,}-\d{8}-\d{6}$/;

/** Accepts a pattern violation of `pipelineExecutionId` (anywhere in the request) by a local run id. */
function localExecutionIds(violation: Violation, value: unknown): boolean {
  return (
    violation.kind === 'pattern' &&
    /(^|\.)pipelineExecutionId$/.test(violation.path) &&
    typeof value === 'string' &&
    LOCAL_EXECUTION_ID.test(value)
  );
}
