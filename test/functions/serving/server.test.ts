import {
  createServingHandler,
  startServingServer,
  type StartedServer,
} from '../../../functions/serving/server';
import { smallVersion } from '../../core/serving/fixtures';

describe('pre/post serving container over loopback HTTP', () => {
  const { bundle, knn } = smallVersion();
  let pre: StartedServer;
  let post: StartedServer;
  let slow: StartedServer;
  let release: () => void;

  beforeAll(async () => {
    const quiet = () => undefined;
    pre = await startServingServer({
      role: 'pre',
      loadBundle: async () => bundle,
      port: 0,
      host: '127.0.0.1',
      log: quiet,
    });
    post = await startServingServer({
      role: 'post',
      loadBundle: async () => bundle,
      port: 0,
      host: '127.0.0.1',
      log: quiet,
    });
    const gate = new Promise<void>((resolve) => (release = resolve));
    // A container still loading its model data (held back by `gate`).
    slow = await startServingServer({
      role: 'pre',
      loadBundle: async () => {
        await gate;
        return bundle;
      },
      port: 0,
      host: '127.0.0.1',
      log: quiet,
    });
  });

  afterAll(async () => {
    release();
    await Promise.all([pre.close(), post.close(), slow.close()]);
  });

  it('answers /ping once the model data is loaded', async () => {
    const res = await fetch(`${pre.url}/ping`);
    expect(res.status).toBe(200);
  });

  it('runs a request through pre, the k-NN and post', async () => {
    const preRes = await fetch(`${pre.url}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json; verbose=true' },
      body: '{"user_id":3}',
    });
    expect(preRes.status).toBe(200);
    expect(preRes.headers.get('content-type')).toBe('application/json');
    const knnBody = knn(await preRes.text(), 'application/json');
    const postRes = await fetch(`${post.url}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; verbose=true' },
      body: knnBody,
    });
    expect(postRes.status).toBe(200);
    expect(JSON.parse((await postRes.text()).trim())).toEqual({
      user_id: 3,
      movies: [10, 30, 40],
      modelVersion: 'run-7',
    });
  });

  it('answers bad bodies with 400 and a message, unknown routes with 404', async () => {
    const bad = await fetch(`${pre.url}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"user_id":"abc"}',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/user_id must be an integer/);
    const notJson = await fetch(`${post.url}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/jsonlines' },
      body: 'garbage',
    });
    expect(notJson.status).toBe(400);
    const unsupported = await fetch(`${pre.url}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<user/>',
    });
    expect(unsupported.status).toBe(400);
    expect((await fetch(`${pre.url}/nope`)).status).toBe(404);
  });

  it('answers /ping and /invocations 503 while the model data is loading, 200 once loaded', async () => {
    expect((await fetch(`${slow.url}/ping`)).status).toBe(503);
    const early = await fetch(`${slow.url}/invocations`, { method: 'POST', body: '{"user_id":3}' });
    expect(early.status).toBe(503);
    release();
    await slow.ready;
    expect((await fetch(`${slow.url}/ping`)).status).toBe(200);
  });

  it('keeps /ping at 503 when the model data cannot be loaded', async () => {
    const failing = await startServingServer({
      role: 'post',
      loadBundle: async () => {
        throw new Error('no manifest.json');
      },
      port: 0,
      host: '127.0.0.1',
      log: () => undefined,
    });
    await failing.ready;
    const res = await fetch(`${failing.url}/ping`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { message: string }).message).toMatch(/no manifest.json/);
    await failing.close();
  });

  it('maps unexpected failures to 500', () => {
    const broken = createServingHandler('pre', { ...bundle, userIds: undefined as never });
    expect(broken({ body: '{"user_id":3}', contentType: 'application/json' }).status).toBe(500);
  });
});
