import './quiet-powertools';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { APIGatewayClient, GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { mockClient } from 'aws-sdk-client-mock';
import {
  apiKeyAuth,
  authFromEnv,
  fetchGet,
  handler,
  type HttpGet,
  sigV4Auth,
  smokeTest,
  SmokeTestError,
} from '../../functions/workflow/smoke-test';

const RUN = 'run-0002';
const API = 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/recommendEndpoint';
const settings = { apiUrl: API, userId: 7, attempts: 3, delayMs: 5000 };
const ok = (overrides: Record<string, unknown> = {}) => ({
  status: 200,
  body: JSON.stringify({
    movies: [50, 181],
    itemList: [{ itemId: '50' }, { itemId: '181' }],
    modelVersion: RUN,
    ...overrides,
  }),
});

/** Answers the scripted responses in turn and records the URLs and sleeps. */
function scripted(responses: ({ status: number; body: string } | Error)[]) {
  const urls: string[] = [];
  const sleeps: number[] = [];
  const get: HttpGet = async (url) => {
    urls.push(url);
    const next = responses.shift();
    if (next === undefined) throw new Error('no more responses');
    if (next instanceof Error) throw next;
    return next;
  };
  const sleep = async (ms: number) => {
    sleeps.push(ms);
  };
  return { get, sleep, urls, sleeps };
}

describe('smokeTest', () => {
  it('passes when the API serves the new run for the smoke-test user', async () => {
    const http = scripted([ok()]);
    const result = await smokeTest({ runId: RUN }, settings, http.get, http.sleep);

    expect(result).toEqual({ passed: true, attempts: 1, userId: 7, movies: 2 });
    expect(http.urls).toEqual([`${API}?user_id=7`]);
    expect(http.sleeps).toEqual([]);
  });

  it('retries until the new version answers', async () => {
    const http = scripted([
      { status: 503, body: '{"message":"No model is deployed yet"}' },
      ok({ modelVersion: 'run-0001' }),
      ok(),
    ]);
    const result = await smokeTest({ runId: RUN }, settings, http.get, http.sleep);

    expect(result.attempts).toBe(3);
    expect(http.sleeps).toEqual([5000, 5000]);
  });

  it.each([
    ['a 5XX', { status: 503, body: '{"message":"No model is deployed yet"}' }, /status 503/],
    [
      'the previous version',
      ok({ modelVersion: 'run-0001' }),
      /served model version run-0001, expected run-0002/,
    ],
    ['the popular fallback', ok({ fallback: 'popular' }), /does not know the smoke-test user/],
    ['no movies', ok({ movies: [], itemList: [] }), /unexpected body/],
    ['a body that is not JSON', { status: 200, body: '<html>' }, /not JSON/],
    ['a network error', new Error('ECONNRESET'), /request failed: ECONNRESET/],
  ])('throws SmokeTestError after every attempt answers %s', async (_name, response, message) => {
    const http = scripted([response, response, response]);
    const promise = smokeTest({ runId: RUN }, settings, http.get, http.sleep);
    await expect(promise).rejects.toBeInstanceOf(SmokeTestError);
    await expect(promise).rejects.toThrow(message);
    expect(http.urls).toHaveLength(3);
  });

  it('rejects input without a run id', async () => {
    const http = scripted([]);
    await expect(smokeTest({} as never, settings, http.get, http.sleep)).rejects.toThrow();
    expect(http.urls).toHaveLength(0);
  });
});

describe('fetchGet', () => {
  const realFetch = global.fetch;
  afterEach(() => {
    global.fetch = realFetch;
  });

  it('returns the status and the body text', async () => {
    global.fetch = jest.fn(async () => new Response('{"a":1}', { status: 201 })) as typeof fetch;
    await expect(fetchGet(1000)('https://example.invalid/x')).resolves.toEqual({
      status: 201,
      body: '{"a":1}',
    });
  });
});

describe('handler', () => {
  const env = { ...process.env };
  afterEach(() => {
    process.env = env;
  });

  it('fails fast when its environment is incomplete', async () => {
    process.env = { ...env };
    delete process.env.API_URL;
    await expect(handler({ runId: RUN })).rejects.toThrow('environment variable API_URL is not set');
  });
});

/** A loopback API: answers each GET with `answer(request)` and records the requests it got. */
async function loopbackApi(answer: (request: http.IncomingMessage) => { status: number; body: string }) {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((request, response) => {
    requests.push(request);
    const { status, body } = answer(request);
    response.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/prod/recommendEndpoint`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const KEY_ID = 'a1b2c3d4e5';
const KEY_VALUE = 'smoke-key-value-0123456789abcdefghij';
/** API Gateway's answer to a request without a valid API key or signature. */
const FORBIDDEN = { status: 403, body: '{"message":"Forbidden"}' };

describe('calling the API in each auth mode', () => {
  const env = { ...process.env };
  const apiGateway = mockClient(APIGatewayClient);
  let api: Awaited<ReturnType<typeof loopbackApi>> | undefined;

  beforeEach(() => {
    apiGateway.reset();
    process.env = { ...env };
  });
  afterEach(async () => {
    process.env = env;
    await api?.close();
    api = undefined;
  });

  it('auth none: sends neither an API key nor a signature', async () => {
    api = await loopbackApi(() => ok());
    process.env = { ...env, API_URL: api.url, SMOKE_TEST_USER_ID: '7' };
    delete process.env.API_AUTH;

    await expect(handler({ runId: RUN })).resolves.toMatchObject({ passed: true, attempts: 1 });
    expect(api.requests[0].url).toBe('/prod/recommendEndpoint?user_id=7');
    expect(api.requests[0].headers['x-api-key']).toBeUndefined();
    expect(api.requests[0].headers.authorization).toBeUndefined();
  });

  it('auth apiKey: reads the key value by id at run time and sends it as x-api-key, never returning it', async () => {
    apiGateway
      .on(GetApiKeyCommand, { apiKey: KEY_ID, includeValue: true })
      .resolves({ id: KEY_ID, value: KEY_VALUE, enabled: true });
    api = await loopbackApi((request) => (request.headers['x-api-key'] === KEY_VALUE ? ok() : FORBIDDEN));
    process.env = {
      ...env,
      API_URL: api.url,
      SMOKE_TEST_USER_ID: '7',
      API_AUTH: 'apiKey',
      API_KEY_ID: KEY_ID,
    };

    const result = await handler({ runId: RUN });

    expect(result).toEqual({ passed: true, attempts: 1, userId: 7, movies: 2 });
    expect(JSON.stringify(result)).not.toContain(KEY_VALUE);
    expect(api.requests.map((r) => r.headers['x-api-key'])).toEqual([KEY_VALUE]);
    expect(apiGateway.commandCalls(GetApiKeyCommand)).toHaveLength(1);
  });

  it('auth apiKey: reads the value once for all attempts, and a 403 never shows it', async () => {
    apiGateway.on(GetApiKeyCommand).resolves({ id: KEY_ID, value: KEY_VALUE, enabled: true });
    api = await loopbackApi(() => FORBIDDEN);
    const get = fetchGet(5000, apiKeyAuth(new APIGatewayClient({}), KEY_ID));
    const promise = smokeTest({ runId: RUN }, { ...settings, apiUrl: api.url }, get, async () => undefined);

    await expect(promise).rejects.toThrow(/status 403: \{"message":"Forbidden"\}/);
    await expect(promise).rejects.not.toThrow(KEY_VALUE);
    expect(api.requests).toHaveLength(3);
    expect(apiGateway.commandCalls(GetApiKeyCommand)).toHaveLength(1);
  });

  it('auth apiKey: a key GetApiKey cannot read fails the attempt with the AWS error, not the call', async () => {
    apiGateway
      .on(GetApiKeyCommand)
      .rejectsOnce(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }))
      .resolves({ id: KEY_ID, value: KEY_VALUE, enabled: true });
    api = await loopbackApi((request) => (request.headers['x-api-key'] === KEY_VALUE ? ok() : FORBIDDEN));
    const get = fetchGet(5000, apiKeyAuth(new APIGatewayClient({}), KEY_ID));

    const result = await smokeTest(
      { runId: RUN },
      { ...settings, apiUrl: api.url },
      get,
      async () => undefined,
    );

    expect(result.attempts).toBe(2);
    expect(api.requests).toHaveLength(1);
  });

  it('auth apiKey: needs API_KEY_ID', () => {
    expect(() => authFromEnv({ API_AUTH: 'apiKey' })).toThrow('environment variable API_KEY_ID is not set');
  });

  it('auth iam: signs the GET with SigV4 for execute-api in the function region, over host, path and query', async () => {
    const credentials = {
      accessKeyId: 'AKIDSMOKETEST',
      secretAccessKey: 'smoke-secret',
      sessionToken: 'smoke-token',
    };
    api = await loopbackApi(() => ok());
    process.env = {
      ...env,
      API_URL: api.url,
      SMOKE_TEST_USER_ID: '7',
      API_AUTH: 'iam',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_SESSION_TOKEN: credentials.sessionToken,
    };

    await expect(handler({ runId: RUN })).resolves.toMatchObject({ passed: true });

    const { headers, url } = api.requests[0];
    const authorization = String(headers.authorization);
    expect(authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDSMOKETEST\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    expect(headers['x-amz-security-token']).toBe(credentials.sessionToken);
    // The signature is the one AWS would compute for the request as it arrived.
    const amzDate = String(headers['x-amz-date']);
    const signingDate = new Date(
      amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
    );
    const received = new URL(String(url), `http://${headers.host}`);
    const expected = await new SignatureV4({
      service: 'execute-api',
      region: 'eu-west-1',
      credentials,
      sha256: Sha256,
    }).sign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: received.hostname,
        path: received.pathname,
        query: Object.fromEntries(received.searchParams),
        headers: { host: String(headers.host) },
      },
      { signingDate },
    );
    expect(authorization).toBe(expected.headers.authorization);
  });

  it('auth iam: scopes the signature to the given region and execute-api, and leaves Host to fetch', async () => {
    const credentials = { accessKeyId: 'AKIDSMOKETEST', secretAccessKey: 'smoke-secret' };
    const headers = await sigV4Auth(
      'us-east-1',
      credentials,
    )(new URL('https://abc.execute-api.us-east-1.amazonaws.com/prod/recommendEndpoint?user_id=1'));
    expect(headers.authorization).toMatch(
      /\/us-east-1\/execute-api\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, /,
    );
    expect(headers).not.toHaveProperty('host');
  });

  it('refuses an unknown API_AUTH', () => {
    expect(() => authFromEnv({ API_AUTH: 'cognito' })).toThrow(
      'API_AUTH must be none, apiKey or iam; got cognito',
    );
  });
});
