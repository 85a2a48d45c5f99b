/**
 * The local SageMaker Runtime: InvokeEndpoint on loopback (`POST /endpoints/{EndpointName}/invocations`,
 * the REST-JSON shape of the real API), so the recommend handler's SageMakerRuntimeClient reaches the
 * local fleets through `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` and its request and error handling run
 * unchanged:
 *
 * - 200 with the last container's body, Content-Type and `x-Amzn-Invoked-Production-Variant`;
 * - a container's non-200 answer is a `ModelError` (424) carrying the original status and message;
 * - an unknown endpoint, or one with no fleet yet, is a `ValidationError` (400);
 * - a request that breaks the InvokeEndpoint model (local/aws-models/sagemaker-runtime.json: the
 *   endpoint name's pattern and length, the 6 MB body, the headers' lengths and patterns) is refused
 *   before any container sees it, as a `ValidationError` (400) in AWS's wording (api-model.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenOnLoopback, readBody, type LoopbackServer } from './http';
import { ApiValidationError, loadServiceModel, validateRequest } from './api-model';
import type { LocalSageMaker } from './sagemaker';
import { SageMakerApiError } from './sagemaker-errors';

const INVOCATIONS = /^\/endpoints\/([^/]+)\/invocations$/;

export function startSageMakerRuntime(sagemaker: LocalSageMaker, port = 0): Promise<LoopbackServer> {
  return listenOnLoopback((req, res) => {
    handle(req, res, sagemaker).catch((error: Error) => {
      sendError(res, 500, 'InternalFailure', error.message);
    });
  }, port);
}

async function handle(req: IncomingMessage, res: ServerResponse, sagemaker: LocalSageMaker): Promise<void> {
  const body = await readBody(req);
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const match = INVOCATIONS.exec(query === -1 ? url : url.slice(0, query));
  if (req.method !== 'POST' || !match) {
    sendError(res, 404, 'UnknownOperationException', `no InvokeEndpoint route for ${req.method} ${req.url}`);
    return;
  }
  const endpointName = decodeURIComponent(match[1]);
  try {
    validateRequest('sagemaker-runtime', 'InvokeEndpoint', invokeEndpointInput(req, endpointName, body));
  } catch (error) {
    if (!(error instanceof ApiValidationError)) throw error;
    sendError(res, error.status, error.code, error.message);
    return;
  }
  let result;
  try {
    result = await sagemaker.invokeEndpoint(endpointName, {
      body: body.toString('utf8'),
      contentType: String(req.headers['content-type'] ?? 'application/json'),
      accept: req.headers.accept,
    });
  } catch (error) {
    if (error instanceof SageMakerApiError) {
      sendError(res, 400, 'ValidationError', error.message);
      return;
    }
    throw error;
  }
  if (result.status !== 200) {
    const kind = result.status >= 500 ? 'server' : 'client';
    res.writeHead(424, { 'content-type': 'application/json', 'x-amzn-errortype': 'ModelError' });
    res.end(
      JSON.stringify({
        message: `Received ${kind} error (${result.status}) from ${result.container ?? 'primary'} with message "${result.body}".`,
        OriginalStatusCode: result.status,
        OriginalMessage: result.body,
      }),
    );
    return;
  }
  const bytes = Buffer.from(result.body, 'utf8');
  res.writeHead(200, {
    'content-type': result.contentType,
    'content-length': bytes.length,
    'x-amzn-invoked-production-variant': result.variantName,
  });
  res.end(bytes);
}

/** The members InvokeEndpoint's input shape puts in headers: member name -> lower-case header name. */
const HEADER_MEMBERS: ReadonlyArray<readonly [string, string]> = (() => {
  const model = loadServiceModel('sagemaker-runtime');
  const input = model.shapes[model.operations.InvokeEndpoint.input!.shape];
  return Object.entries(input.members ?? {}).flatMap(([member, ref]) =>
    ref.location === 'header' && ref.locationName ? [[member, ref.locationName.toLowerCase()] as const] : [],
  );
})();

/** The request as InvokeEndpoint's input shape: the URI's endpoint name, the body and the headers sent. */
function invokeEndpointInput(
  req: IncomingMessage,
  endpointName: string,
  body: Buffer,
): Record<string, unknown> {
  const input: Record<string, unknown> = { EndpointName: endpointName, Body: body };
  for (const [member, header] of HEADER_MEMBERS) {
    const value = req.headers[header];
    if (value !== undefined) input[member] = Array.isArray(value) ? value.join(', ') : value;
  }
  return input;
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': code });
  res.end(JSON.stringify({ message }));
}
