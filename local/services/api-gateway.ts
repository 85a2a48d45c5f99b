/**
 * The local API Gateway (REST API, Lambda proxy integration): HTTP requests on loopback become
 * APIGatewayProxyEvents for the project's recommend handler, and its result becomes the HTTP answer.
 *
 * What the stack's API does before the function runs is done here too: the resource answers at
 * `/recommendEndpoint` (and at `/<stage>/recommendEndpoint`, the deployed stage's path), a request
 * without the required `user_id` query string gets API Gateway's own 400, an unknown path gets its 403
 * "Missing Authentication Token", and a handler that throws becomes a 502. Stage throttling is not
 * emulated. Every answer is reported (status, ms), feeding the API's 5XX-rate alarm.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { listenOnLoopback, readBody, type LoopbackServer } from './http';
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

export function startLocalApi(options: LocalApiOptions): Promise<LoopbackServer> {
  return listenOnLoopback((req, res) => {
    const started = performance.now();
    handle(req, res, options)
      .catch((error: Error) => {
        options.onHandlerError?.(error);
        return send(res, { statusCode: 502, body: JSON.stringify({ message: 'Internal server error' }) });
      })
      .then((status) =>
        options.onRequest?.({ path: req.url ?? '/', status, ms: performance.now() - started }),
      )
      .catch(() => undefined);
  }, options.port ?? 0);
}

async function handle(req: IncomingMessage, res: ServerResponse, options: LocalApiOptions): Promise<number> {
  const body = await readBody(req);
  const url = new URL(req.url ?? '/', 'http://localhost');
  const stagePrefix = `/${options.stage}`;
  const path = url.pathname.startsWith(`${stagePrefix}/`)
    ? url.pathname.slice(stagePrefix.length)
    : url.pathname;
  const route = options.routes.find((r) => r.path === path && r.method === req.method);
  if (!route)
    return send(res, { statusCode: 403, body: JSON.stringify({ message: 'Missing Authentication Token' }) });
  const missing = (route.requiredQuery ?? []).filter((name) => !url.searchParams.has(name));
  if (missing.length > 0) {
    return send(res, {
      statusCode: 400,
      body: JSON.stringify({ message: `Missing required request parameters: [${missing.join(', ')}]` }),
    });
  }
  const result = await route.handler()(
    proxyEvent(req, url, body, route.path, options.stage),
    lambdaContext(),
  );
  return send(res, result);
}

function proxyEvent(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  resource: string,
  stage: string,
): APIGatewayProxyEvent {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    single[name] = value;
    (multi[name] ??= []).push(value);
  }
  const headers: Record<string, string> = {};
  const multiHeaders: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    headers[name] = values[values.length - 1];
    multiHeaders[name] = values;
  }
  const hasQuery = [...url.searchParams.keys()].length > 0;
  return {
    resource,
    path: url.pathname,
    httpMethod: req.method ?? 'GET',
    headers,
    multiValueHeaders: multiHeaders,
    queryStringParameters: hasQuery ? single : null,
    multiValueQueryStringParameters: hasQuery ? multi : null,
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
        userAgent: req.headers['user-agent'] ?? null,
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

function send(res: ServerResponse, result: APIGatewayProxyResult): number {
  const body = result.isBase64Encoded
    ? Buffer.from(result.body, 'base64')
    : Buffer.from(result.body ?? '', 'utf8');
  const headers: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
    headers['Content-Type'] = 'application/json';
  }
  res.writeHead(result.statusCode, { ...headers, 'content-length': body.length });
  res.end(body);
  return result.statusCode;
}
