/**
 * A loopback server speaking the AWS JSON protocols (awsJson1_0 / awsJson1_1: `POST /` with an
 * `X-Amz-Target: <Service>.<Operation>` header and a JSON body), for the few services the handlers call
 * through their own SDK clients:
 *
 * - SSM `PutParameter` (record-deployment writes the production record) and `GetParameter`;
 * - CodePipeline `StartPipelineExecution` (start-run), `PutJobSuccessResult` / `PutJobFailureResult`
 *   (summarize);
 * - CloudWatch `SetAlarmState` / `DescribeAlarms` (the `reelflow alarm` command).
 *
 * The handlers reach it through `AWS_ENDPOINT_URL_<SERVICE>`, so their SDK calls, serializers and error
 * handling run unchanged. Every request is first checked against AWS's API model of the service
 * (`api-model.ts`) and refused as AWS would refuse it (`ValidationException`, `SerializationException`,
 * ...), so a handler cannot rely on something the real service rejects. The local runtime also points the catch-all `AWS_ENDPOINT_URL` here: a client
 * of any other service gets an `UnknownOperationException` naming the call, never a request to AWS.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { findViolations, loadServiceModel, serviceForTargetPrefix, validationError } from './api-model';
import { listenOnLoopback, readBody, type LoopbackServer } from './http';

/** One operation: the request's JSON in, the response's JSON out (or an AwsServiceError). */
export type AwsJsonOperation = (input: Record<string, unknown>) => unknown;

export interface AwsJsonService {
  /** The target prefix, e.g. `AmazonSSM`, `CodePipeline_20150709`, `GraniteServiceVersion20100801`. */
  readonly targetPrefix: string;
  /** `1.0` or `1.1` (the response content type). */
  readonly version: '1.0' | '1.1';
  readonly operations: Readonly<Record<string, AwsJsonOperation>>;
  /**
   * The service's API model in `local/aws-models/` (botocore name, e.g. `ssm`) that requests are
   * validated against; by default the model with this target prefix; `false` turns validation off.
   */
  readonly model?: string | false;
}

/** A service error as the protocol sends it: `x-amzn-ErrorType` and `{"__type", "message"}`. */
export class AwsServiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'AwsServiceError';
  }
}

/** Starts the server; `onUnknown` hears about calls no local service answers. */
export function startAwsJsonServer(
  services: readonly AwsJsonService[],
  options: { port?: number; onUnknown?: (call: string) => void } = {},
): Promise<LoopbackServer> {
  const byPrefix = new Map(services.map((s) => [s.targetPrefix, s]));
  return listenOnLoopback((req, res) => {
    handle(req, res, byPrefix, options.onUnknown).catch((error: Error) => {
      send(res, '1.1', 500, { __type: 'InternalFailure', message: error.message }, 'InternalFailure');
    });
  }, options.port ?? 0);
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  services: ReadonlyMap<string, AwsJsonService>,
  onUnknown?: (call: string) => void,
): Promise<void> {
  const body = await readBody(req);
  const target = String(req.headers['x-amz-target'] ?? '');
  const dot = target.lastIndexOf('.');
  const service = dot > 0 ? services.get(target.slice(0, dot)) : undefined;
  const operation = service?.operations[target.slice(dot + 1)];
  if (!service || !operation) {
    const call =
      target || `${req.method} ${req.url} (${String(req.headers['user-agent'] ?? 'unknown client')})`;
    onUnknown?.(call);
    const message = `the reelflow local runtime does not provide ${call}; nothing is sent to AWS`;
    send(
      res,
      service?.version ?? '1.1',
      400,
      { __type: 'UnknownOperationException', message },
      'UnknownOperationException',
    );
    return;
  }
  let input: Record<string, unknown>;
  try {
    input = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
  } catch {
    send(
      res,
      service.version,
      400,
      { __type: 'SerializationException', message: 'the body is not JSON' },
      'SerializationException',
    );
    return;
  }
  const refusal = validate(service, target.slice(dot + 1), input);
  if (refusal) {
    send(
      res,
      service.version,
      refusal.status,
      { __type: refusal.code, message: refusal.message },
      refusal.code,
    );
    return;
  }
  try {
    const output = await operation(input);
    send(res, service.version, 200, output ?? {});
  } catch (error) {
    if (error instanceof AwsServiceError) {
      send(res, service.version, error.status, { __type: error.code, message: error.message }, error.code);
    } else {
      const message = (error as Error).message;
      send(res, service.version, 500, { __type: 'InternalServerError', message }, 'InternalServerError');
    }
  }
}

/** The error AWS would answer `input` with, or undefined when the model accepts it. */
function validate(
  service: AwsJsonService,
  operation: string,
  input: Record<string, unknown>,
): AwsServiceError | undefined {
  const name = service.model === undefined ? serviceForTargetPrefix(service.targetPrefix) : service.model;
  if (!name) return undefined;
  if (!loadServiceModel(name).operations[operation]) {
    // A local operation the trimmed model lacks: local/aws-models/update.ts must list it.
    return new AwsServiceError(
      'InternalFailure',
      `${operation} is not in local/aws-models/${name}.json; add it to update.ts and regenerate`,
      500,
    );
  }
  const violations = findViolations(loadServiceModel(name), operation, input);
  if (!violations.length) return undefined;
  const error = validationError(name, operation, violations);
  return new AwsServiceError(error.code, error.message, error.status);
}

function send(
  res: ServerResponse,
  version: '1.0' | '1.1',
  status: number,
  body: unknown,
  errorType?: string,
): void {
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, {
    'content-type': `application/x-amz-json-${version}`,
    'content-length': bytes.length,
    'x-amzn-requestid': `local-${Date.now().toString(36)}`,
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(bytes);
}
