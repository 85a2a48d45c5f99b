/**
 * The local API Gateway (REST API, Lambda proxy integration): HTTP requests on loopback become
 * APIGatewayProxyEvents for the project's recommend handler, and its result becomes the HTTP answer.
 *
 * What the stack's API does before the function runs is done here too: the resource answers at
 * `/recommendEndpoint` (and at `/<stage>/recommendEndpoint`, the deployed stage's path), a request
 * without the required `user_id` query string gets API Gateway's own 400, an unknown path gets its 403
 * "Missing Authentication Token" (so does a method the resource lacks), a body over API Gateway's 10 MB
 * quota a 413, a request target that does not decode a 400, and a handler that throws becomes a 502.
 * Whatever a client sends, the stand-in answers it with a 4xx at worst: query and header maps have no
 * prototype (`__proto__` is a name like any other). Stage throttling is not emulated. Every answer is reported (status, ms), feeding the API's 5XX-rate alarm.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { BodyTooLargeError, listenOnLoopback, readBody, type LoopbackServer } from './http';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './local-account';

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface LocalApiRoute {
  readonly method: 'GET' | 'POST';
  /** The resource path, e.g. `/recommendEndpoint`. */
  readonly path: string;
  /** Query string parameters API Gateway requires before it invokes the function. */
  readonly requiredQuery?: readonly string[];
  /** Resolved per request, so the server can listen before the handlers are loaded. */
  readonly handler: () => ProxyHandler;
}

export interface LocalApiOptions {
  readonly routes: readonly LocalApiRoute[];
  readonly stage: string;
  readonly port?: number;
  readonly onRequest?: (info: {
    readonly path: string;
    readonly status: number;
    readonly ms: number;
  }) => void;
  readonly onHandlerError?: (error: Error) => void;
}

/** API Gateway's payload quota for a REST API request: 10 MB. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

type Answer = APIGatewayProxyResult;

const json = (statusCode: number, message: string): Answer => ({
  statusCode,
  body: JSON.stringify({ message }),
});
/** API Gateway's answer for a resource or a method the API does not have. */
const MISSING_TOKEN = (): Answer => json(403, 'Missing Authentication Token');

export function startLocalApi(options: LocalApiOptions): Promise<LoopbackServer> {
  return listenOnLoopback((req, res) => {
    const started = performance.now();
    handle(req, res, options)
      .catch((error: Error) => {
        if (clientGone(req, res)) return undefined;
        options.onHandlerError?.(error);
        return send(res, json(502, 'Internal server error'));
      })
      .catch(() => {
        // even the 502 could not be written (the handler's answer broke half way): no hanging client
        res.destroy();
        return undefined;
      })
      .then((status) => {
        if (status !== undefined)
          options.onRequest?.({ path: req.url ?? '/', status, ms: performance.now() - started });
      })
      .catch(() => undefined);
  }, options.port ?? 0);
}

/** The status answered, or undefined when the client went away first. */
async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: LocalApiOptions,
): Promise<number | undefined> {
  const target = parseTarget(req.url ?? '');
  if (!target) return send(res, json(400, 'Invalid request URL'));
  const stagePrefix = `/${options.stage}`;
  const path = target.path.startsWith(`${stagePrefix}/`)
    ? target.path.slice(stagePrefix.length)
    : target.path;
  // A REST API answers the same 403 for an unknown resource and for a method the resource lacks.
  const route = options.routes.find((r) => r.path === path && r.method === req.method);
  if (!route) return send(res, MISSING_TOKEN());

  let body: Buffer;
  try {
    body = await readBody(req, MAX_REQUEST_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) return tooLarge(req, res, error);
    if (clientGone(req, res)) return undefined;
    return send(res, json(400, 'Invalid request body'));
  }

  const query = new URLSearchParams(target.query);
  const missing = (route.requiredQuery ?? []).filter((name) => !query.has(name));
  if (missing.length > 0) {
    return send(res, json(400, `Missing required request parameters: [${missing.join(', ')}]`));
  }
  const result = await route.handler()(
    proxyEvent(req, target.path, query, body, route.path, options.stage),
    lambdaContext(),
  );
  return send(res, result);
}

/**
 * The path (percent-decoded) and raw query string of a request target; undefined for a target API
 * Gateway would refuse: not origin-form (`/...`), or a path whose percent-encoding does not decode.
 */
function parseTarget(url: string): { path: string; query: string } | undefined {
  if (!url.startsWith('/')) return undefined;
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  try {
    return { path: decodeURIComponent(rawPath), query: q === -1 ? '' : url.slice(q + 1) };
  } catch {
    return undefined;
  }
}

/** Answers 413 and stops reading: the rest of the body is discarded, then the connection closes. */
function tooLarge(req: IncomingMessage, res: ServerResponse, error: BodyTooLargeError): number {
  res.setHeader('connection', 'close');
  const status = send(res, json(413, error.message));
  req.resume();
  res.once('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
  return status;
}

function clientGone(req: IncomingMessage, res: ServerResponse): boolean {
  return req.destroyed || res.destroyed || res.writableEnded;
}

/**
 * Name -> last value and name -> all values, as API Gateway fills `queryStringParameters` and
 * `multiValueQueryStringParameters` (and the two header maps); null without any pair. The maps have no
 * prototype, so a client's `__proto__`, `constructor` or `toString` is just another name.
 */
function valueMaps(
  pairs: Iterable<readonly [string, string]>,
): { single: Record<string, string>; multi: Record<string, string[]> } | null {
  const single = Object.create(null) as Record<string, string>;
  const multi = new Map<string, string[]>();
  for (const [name, value] of pairs) {
    single[name] = value;
    const values = multi.get(name);
    if (values) values.push(value);
    else multi.set(name, [value]);
  }
  if (multi.size === 0) return null;
  const multiObject = Object.create(null) as Record<string, string[]>;
  for (const [name, values] of multi) multiObject[name] = values;
  return { single, multi: multiObject };
}

function* headerPairs(raw: readonly string[]): Generator<readonly [string, string]> {
  for (let i = 0; i + 1 < raw.length; i += 2) yield [raw[i].toLowerCase(), raw[i + 1]];
}

function proxyEvent(
  req: IncomingMessage,
  path: string,
  query: URLSearchParams,
  body: Buffer,
  resource: string,
  stage: string,
): APIGatewayProxyEvent {
  const queryMaps = valueMaps(query);
  const headerMaps = valueMaps(headerPairs(req.rawHeaders));
  return {
    resource,
    path,
    httpMethod: req.method ?? 'GET',
    headers: headerMaps?.single ?? (Object.create(null) as Record<string, string>),
    multiValueHeaders: headerMaps?.multi ?? (Object.create(null) as Record<string, string[]>),
    queryStringParameters: queryMaps?.single ?? null,
    multiValueQueryStringParameters: queryMaps?.multi ?? null,
    pathParameters: null,
    stageVariables: null,
    body: body.length ? body.toString('utf8') : null,
    isBase64Encoded: false,
    requestContext: {
      accountId: LOCAL_ACCOUNT,
      apiId: 'local',
      authorizer: null,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: req.method ?? 'GET',
      identity: {
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headerMaps?.single['user-agent'] ?? null,
      } as APIGatewayProxyEvent['requestContext']['identity'],
      path: `/${stage}${resource}`,
      stage,
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: resource,
    },
  };
}

function lambdaContext(): Context {
  const name = 'reelflow-recommend';
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${name}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Writes `result`; a result API Gateway could not turn into an answer is the handler's 502. */
function send(res: ServerResponse, result: APIGatewayProxyResult): number {
  const status = result.statusCode;
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new Error(`the handler answered an invalid statusCode: ${String(status)}`);
  }
  const body = result.isBase64Encoded
    ? Buffer.from(result.body, 'base64')
    : Buffer.from(result.body ?? '', 'utf8');
  const headers: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
    headers['Content-Type'] = 'application/json';
  }
  res.writeHead(status, { ...headers, 'content-length': body.length });
  res.end(body);
  return status;
}
