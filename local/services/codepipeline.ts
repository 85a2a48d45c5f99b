/**
 * The CodePipeline API calls the handlers make, answered locally (served by aws-json-server.ts):
 *
 * - `StartPipelineExecution` (start-run, on an upload): starts a run of the local pipeline with the
 *   pipeline variables; the client request token makes a redelivered event map to the same run;
 * - `PutJobSuccessResult` / `PutJobFailureResult` (summarize, the Approve stage's Lambda action): the
 *   outcome and output variables of a job the local pipeline created.
 */
import { randomUUID } from 'node:crypto';
import { AwsServiceError, type AwsJsonService } from './aws-json-server';

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

  /**
   * @param pipelineName the one pipeline this API knows
   * @param start starts a run with the variables; returns its execution id
   */
  constructor(
    readonly pipelineName: string,
    private readonly start: (variables: Readonly<Record<string, string>>) => string,
  ) {}

  /** The JSON API service (target prefix `CodePipeline_20150709`). */
  service(): AwsJsonService {
    return {
      targetPrefix: 'CodePipeline_20150709',
      version: '1.1',
      operations: {
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
    if (request.pipelineName !== this.pipelineName) {
      throw new AwsServiceError(
        'PipelineNotFoundException',
        `The account does not have a pipeline with name '${request.pipelineName}'.`,
      );
    }
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

  private report(jobId: string, result: JobResult): void {
    if (!this.jobs.has(jobId))
      throw new AwsServiceError('JobNotFoundException', `The job ${jobId} was not found.`);
    if (this.jobs.get(jobId))
      throw new AwsServiceError('InvalidJobStateException', `The job ${jobId} already has a result.`);
    this.jobs.set(jobId, result);
  }
}
