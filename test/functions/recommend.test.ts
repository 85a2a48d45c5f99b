import './quiet-powertools';
import {
  InvokeEndpointCommand,
  ModelError,
  ModelNotReadyException,
  SageMakerRuntimeClient,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import {
  handler,
  MalformedEndpointResponseError,
  MISSING_USER_MESSAGE,
  NO_MODEL_MESSAGE,
  parseServed,
  recommend,
  UNAVAILABLE_MESSAGE,
} from '../../functions/api/recommend';

const request = (query: Record<string, string> | null): APIGatewayProxyEvent =>
  ({ queryStringParameters: query }) as unknown as APIGatewayProxyEvent;
const lines = (...values: unknown[]) =>
  new TextEncoder().encode(values.map((v) => JSON.stringify(v)).join('\n') + '\n');
const served = { user_id: 3, movies: [50, 181, 1], modelVersion: 'run-0002' };

describe('recommend', () => {
  it('answers 200 with movies, itemList and the model version', async () => {
    const calls: number[] = [];
    const response = await recommend(request({ user_id: '3' }), async (userId) => {
      calls.push(userId);
      return lines(served);
    });

    expect(calls).toEqual([3]);
    expect(response.statusCode).toBe(200);
    expect(response.headers).toMatchObject({
      'Content-Type': 'application/json',
      'Access-Control-Allow-Origin': '*',
    });
    expect(JSON.parse(response.body)).toEqual({
      movies: [50, 181, 1],
      itemList: [{ itemId: '50' }, { itemId: '181' }, { itemId: '1' }],
      modelVersion: 'run-0002',
    });
  });

  it('passes the popular fallback through', async () => {
    const response = await recommend(request({ user_id: '999999' }), async () =>
      lines({ ...served, user_id: 999999, fallback: 'popular' }),
    );
    expect(JSON.parse(response.body)).toMatchObject({ fallback: 'popular', modelVersion: 'run-0002' });
  });

  it.each([
    ['no query string', null],
    ['no user_id', { other: '1' }],
    ['an empty user_id', { user_id: '  ' }],
  ])('answers 400 for %s', async (_name, query) => {
    const invoke = jest.fn();
    const response = await recommend(request(query), invoke);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({ message: MISSING_USER_MESSAGE });
    expect(invoke).not.toHaveBeenCalled();
  });

  it.each(['abc', '0', '-4', '1.5', '007', '1e3', '99999999999', '3 '])(
    'answers 400 naming the bad user_id %s',
    async (bad) => {
      const invoke = jest.fn();
      const response = await recommend(request({ user_id: bad }), invoke);
      expect(response.statusCode).toBe(400);
      expect(JSON.parse(response.body)).toEqual({
        message: `Invalid user_id '${bad}': expected a positive integer`,
      });
      expect(invoke).not.toHaveBeenCalled();
    },
  );

  it('answers 400 for a user id above what the serving path can tag', async () => {
    const invoke = jest.fn();
    const response = await recommend(request({ user_id: '16777215' }), invoke);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      message: "Invalid user_id '16777215': the largest user id is 16777214",
    });
    expect(invoke).not.toHaveBeenCalled();
  });

  it('shortens a very long bad user_id in the message', async () => {
    const response = await recommend(request({ user_id: 'x'.repeat(500) }), jest.fn());
    expect(JSON.parse(response.body).message).toBe(
      `Invalid user_id '${'x'.repeat(40)}...': expected a positive integer`,
    );
  });

  it.each([
    [
      'the endpoint does not exist',
      new ValidationError({ message: 'Endpoint reelflow of account x not found.', $metadata: {} }),
    ],
    ['the model is not ready', new ModelNotReadyException({ message: 'not ready', $metadata: {} })],
  ])('answers 503 "no model" when %s', async (_name, error) => {
    const response = await recommend(request({ user_id: '3' }), async () => {
      throw error;
    });
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body)).toEqual({ message: NO_MODEL_MESSAGE });
  });

  it.each([
    ['the model fails', async () => Promise.reject(new ModelError({ message: 'boom', $metadata: {} }))],
    [
      'the call times out',
      async () => Promise.reject(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' })),
    ],
    ['the answer is empty', async () => new Uint8Array()],
    ['the answer is not JSON', async () => new TextEncoder().encode('<html>')],
    ['the answer has no modelVersion', async () => lines({ user_id: 3, movies: [1] })],
  ])('answers 503 with a generic message when %s', async (_name, invoke) => {
    const response = await recommend(request({ user_id: '3' }), invoke as never);
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body)).toEqual({ message: UNAVAILABLE_MESSAGE });
  });
});

describe('parseServed', () => {
  it('reads the first non-empty JSON line', () => {
    expect(parseServed(new TextEncoder().encode(`\n${JSON.stringify(served)}\n{"user_id":4}\n`))).toEqual(
      served,
    );
  });

  it('throws MalformedEndpointResponseError for an answer without a line', () => {
    expect(() => parseServed(new TextEncoder().encode('\n\n'))).toThrow(MalformedEndpointResponseError);
  });
});

describe('handler', () => {
  const runtime = mockClient(SageMakerRuntimeClient);
  const env = { ...process.env };

  beforeEach(() => {
    runtime.reset();
    process.env = { ...env, ENDPOINT_NAME: 'reelflow-recommender' };
  });
  afterAll(() => {
    process.env = env;
  });

  it('invokes the endpoint with the user as JSON and asks for verbose JSON', async () => {
    runtime.on(InvokeEndpointCommand).resolves({ Body: lines(served) as never });

    const response = await handler(request({ user_id: '3' }));

    expect(response.statusCode).toBe(200);
    const [call] = runtime.commandCalls(InvokeEndpointCommand);
    expect(call.args[0].input).toEqual({
      EndpointName: 'reelflow-recommender',
      ContentType: 'application/json',
      Accept: 'application/json; verbose=true',
      Body: '{"user_id":3}',
    });
  });

  it('answers 503 "no model" when the runtime says the endpoint is missing', async () => {
    runtime
      .on(InvokeEndpointCommand)
      .rejects(new ValidationError({ message: 'Endpoint not found.', $metadata: {} }));
    const response = await handler(request({ user_id: '3' }));
    expect(response).toMatchObject({ statusCode: 503, body: JSON.stringify({ message: NO_MODEL_MESSAGE }) });
  });

  it('answers 503 when the endpoint returns no body', async () => {
    runtime.on(InvokeEndpointCommand).resolves({});
    await expect(handler(request({ user_id: '3' }))).resolves.toMatchObject({ statusCode: 503 });
  });

  it('answers 503 instead of throwing when ENDPOINT_NAME is missing', async () => {
    delete process.env.ENDPOINT_NAME;
    const response = await handler(request({ user_id: '3' }));
    expect(response).toMatchObject({
      statusCode: 503,
      body: JSON.stringify({ message: UNAVAILABLE_MESSAGE }),
    });
    expect(runtime.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
  });
});
