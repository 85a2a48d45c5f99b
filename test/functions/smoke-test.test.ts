import './quiet-powertools';
import {
  fetchGet,
  handler,
  type HttpGet,
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
