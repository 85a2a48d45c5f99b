/**
 * The reelflow pre/post serving container: one image, two roles chosen by `REELFLOW_ROLE` (pre | post),
 * speaking SageMaker's container contract: `GET /ping` (200 once the model data is loaded) and
 * `POST /invocations`, on `SAGEMAKER_BIND_TO_PORT` (set by SageMaker in inference pipelines) or 8080.
 * The model data (the run's serving bundle) is extracted by SageMaker into /opt/ml/model.
 *
 * The request handling is a pure function over the bundle (`createServingHandler`), so the local
 * runtime runs exactly this code in-process and the tests run it over loopback HTTP.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readServingBundleDir, type ServingBundle } from '../core/serving/bundle';
import { postprocess, preprocess, ServingRequestError } from '../core/serving/prepost';

export type ServingRole = 'pre' | 'post';

/** One invocation: what SageMaker passes to a container and what it gets back. */
export interface ServingRequest {
  readonly body: string;
  readonly contentType: string;
  readonly accept?: string;
}

export interface ServingResponse {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

/** Largest request body accepted (SageMaker's real-time payload limit is 6 MB; transforms use MaxPayloadInMB). */
export const MAX_BODY_BYTES = 100 * 1024 * 1024;

/** The invocation handler of one role over one bundle: errors become 400 (bad request) or 500. */
export function createServingHandler(
  role: ServingRole,
  bundle: ServingBundle,
): (r: ServingRequest) => ServingResponse {
  const step = role === 'pre' ? preprocess : postprocess;
  return (request) => {
    try {
      const out = step(bundle, request.body, request.contentType || 'application/json');
      return { status: 200, body: out.body, contentType: out.contentType };
    } catch (error) {
      if (error instanceof ServingRequestError) return jsonError(400, error.message);
      return jsonError(500, `${role} failed: ${(error as Error).message}`);
    }
  };
}

export interface StartedServer {
  readonly url: string;
  readonly server: Server;
  /** Resolves when the model data is loaded (or failed to load: /ping then keeps answering 503). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the HTTP server for `role` and resolves once it listens; `loadBundle` runs in the background
 * and /ping answers 503 until it has resolved, so SageMaker waits for the model data.
 */
export async function startServingServer(options: {
  readonly role: ServingRole;
  readonly loadBundle: () => Promise<ServingBundle>;
  readonly port?: number;
  readonly host?: string;
  readonly log?: (line: string) => void;
}): Promise<StartedServer> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  let handler: ((r: ServingRequest) => ServingResponse) | undefined;
  let loadError: Error | undefined;
  const loading = options.loadBundle().then(
    (bundle) => {
      handler = createServingHandler(options.role, bundle);
      log(`reelflow ${options.role}: serving model version ${bundle.manifest.modelVersion}`);
    },
    (error: Error) => {
      loadError = error;
      log(`reelflow ${options.role}: cannot load the model data: ${error.message}`);
    },
  );

  const server = createServer((req, res) => {
    route(
      req,
      res,
      () => handler,
      () => loadError,
    ).catch((error: Error) => {
      send(res, jsonError(500, error.message));
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 8080, options.host ?? '0.0.0.0', resolve),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    ready: loading,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  handler: () => ((r: ServingRequest) => ServingResponse) | undefined,
  loadError: () => Error | undefined,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/ping' && (req.method === 'GET' || req.method === 'HEAD')) {
    const error = loadError();
    if (handler()) send(res, { status: 200, body: '', contentType: 'text/plain' });
    else
      send(res, jsonError(503, error ? `model data failed to load: ${error.message}` : 'loading model data'));
    return;
  }
  if (path === '/invocations' && req.method === 'POST') {
    const current = handler();
    if (!current) {
      send(res, jsonError(503, 'the model data is not loaded'));
      return;
    }
    const body = await readBody(req);
    if (body === null) {
      send(res, jsonError(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
      return;
    }
    send(
      res,
      current({
        body,
        contentType: header(req, 'content-type') ?? 'application/json',
        accept: header(req, 'accept'),
      }),
    );
    return;
  }
  send(res, jsonError(404, `no route for ${req.method} ${path}: use GET /ping or POST /invocations`));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, response: ServingResponse): void {
  const body = Buffer.from(response.body, 'utf8');
  res.writeHead(response.status, { 'content-type': response.contentType, 'content-length': body.length });
  res.end(body);
}

function jsonError(status: number, message: string): ServingResponse {
  return { status, body: JSON.stringify({ message }), contentType: 'application/json' };
}

/** Container entry point: `docker run <image> serve` (SageMaker passes `serve`; it is ignored). */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<StartedServer> {
  const role = env.REELFLOW_ROLE;
  if (role !== 'pre' && role !== 'post') {
    throw new Error(`REELFLOW_ROLE must be 'pre' or 'post', got '${role ?? ''}'`);
  }
  const modelDir = env.SM_MODEL_DIR ?? '/opt/ml/model';
  const port = Number(env.SAGEMAKER_BIND_TO_PORT ?? 8080);
  return startServingServer({ role, port, loadBundle: () => readServingBundleDir(modelDir) });
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`reelflow serving: ${error.message}\n`);
    process.exit(1);
  });
}
