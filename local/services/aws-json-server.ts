/**
 * A loopback server speaking the AWS JSON protocols (awsJson1_0 / awsJson1_1: `POST /` with an
 * `X-Amz-Target: <Service>.<Operation>` header and a JSON body), for the few services the handlers call
 * through their own SDK clients:
 *
 * - SSM `PutParameter` (record-deployment writes the production record) and `GetParameter`;
 * - CodePipeline `StartPipelineExecution` (start-run), `PutJobSuccessResult` / `PutJobFailureResult`
 *   (summarize);
 * - CloudWatch `SetAlarmState` / `DescribeAlarms` (the `reelflow alarm` command);
 * - what the operator CLI reads and decides (codepipeline.ts, stepfunctions.ts, sagemaker-api.ts,
 *   account-apis.ts), and one restJson1 route: Lambda `GET /2016-08-19/account-settings/`.
 *
 * The handlers reach it through `AWS_ENDPOINT_URL_<SERVICE>`, so their SDK calls, serializers and error
 * handling run unchanged. Every request is first checked against AWS's API model of the service
 * (`api-model.ts`) and refused as AWS would refuse it (`ValidationException`, `SerializationException`,
 * ...), so a handler cannot rely on something the real service rejects. The local runtime also points the catch-all `AWS_ENDPOINT_URL` here: a client
 * of any other service gets an `UnknownOperationException` naming the call, never a request to AWS.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  findViolations,
  loadServiceModel,
  serviceForTargetPrefix,
  validationError,
  type Violation,
} from './api-model';
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
  /**
   * Violations the twin's own identifiers cause and the service accepts (CodePipeline: run ids are the
   * execution ids, and they are not UUIDs); `value` is the refused member's value. @default - none
   */
  readonly tolerate?: (violation: Violation, value: unknown) => boolean;
}

/**
 * A route outside the JSON protocols (restJson1: a method and a path, e.g. Lambda's
 * `GET /2016-08-19/account-settings/`), answered with JSON.
 */
export interface AwsRestRoute {
  readonly method: string;
  /** The path, without the query string; a trailing slash is optional. */
  readonly path: string;
  /** The model (`local/aws-models/<model>.json`) and operation the request is checked against. */
  readonly model: string;
  readonly operation: string;
  readonly handle: () => unknown;
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
  options: { port?: number; onUnknown?: (call: string) => void; routes?: readonly AwsRestRoute[] } = {},
): Promise<LoopbackServer> {
  const byPrefix = new Map(services.map((s) => [s.targetPrefix, s]));
  return listenOnLoopback((req, res) => {
    const route = restRoute(req, options.routes ?? []);
    const work = route ? handleRest(req, res, route) : handle(req, res, byPrefix, options.onUnknown);
    work.catch((error: Error) => {
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

function restRoute(req: IncomingMessage, routes: readonly AwsRestRoute[]): AwsRestRoute | undefined {
  if (req.headers['x-amz-target']) return undefined;
  const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
  return routes.find((r) => r.method === req.method && r.path.replace(/\/+$/, '') === path);
}

/** A restJson1 route: no input members (the operations routed so far take none), a JSON answer. */
async function handleRest(req: IncomingMessage, res: ServerResponse, route: AwsRestRoute): Promise<void> {
  await readBody(req);
  const query = new URL(req.url ?? '/', 'http://local').searchParams;
  const violations = findViolations(
    loadServiceModel(route.model),
    route.operation,
    Object.fromEntries(query),
  );
  const reply = (status: number, body: unknown, errorType?: string): void => {
    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': bytes.length,
      'x-amzn-requestid': `local-${Date.now().toString(36)}`,
      ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
    });
    res.end(bytes);
  };
  if (violations.length) {
    const error = validationError(route.model, route.operation, violations);
    reply(error.status, { message: error.message }, error.code);
    return;
  }
  try {
    reply(200, await route.handle());
  } catch (error) {
    if (error instanceof AwsServiceError) reply(error.status, { message: error.message }, error.code);
    else reply(500, { message: (error as Error).message }, 'ServiceException');
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
  const violations = findViolations(loadServiceModel(name), operation, input).filter(
    (v) => !service.tolerate?.(v, valueAt(input, v.memberPath)),
  );
  if (!violations.length) return undefined;
  const error = validationError(name, operation, violations);
  return new AwsServiceError(error.code, error.message, error.status);
}

/** The value at a violation's member path (`Filter.PipelineExecutionId`, as the request names it). */
function valueAt(input: unknown, memberPath: string): unknown {
  let value = input;
  for (const part of memberPath.split('.').filter(Boolean)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
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
