/**
 * The local API Gateway stand-in against hostile clients (issue 9): whatever a client sends, it answers
 * with a 4xx at worst, never hangs and keeps serving. A stub proxy handler stands in for the recommend
 * function, so only the stand-in is under test; every request goes to 127.0.0.1.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { MAX_REQUEST_BYTES, startLocalApi } from '../../../local/services/api-gateway';
import type { LoopbackServer } from '../../../local/services/http';

interface Answer {
  readonly status: number;
  readonly body: string;
}

let api: LoopbackServer;
const handlerErrors: Error[] = [];
let lastEvent: APIGatewayProxyEvent | undefined;

beforeAll(async () => {
  api = await startLocalApi({
    stage: 'prod',
    routes: [
      {
        method: 'GET',
        path: '/recommendEndpoint',
        requiredQuery: ['user_id'],
        // like the recommend handler: reads the query and answers JSON
        handler: () => async (event) => {
          lastEvent = event;
          const userId = event.queryStringParameters?.user_id;
          return {
            statusCode: /^\d+$/.test(userId ?? '') ? 200 : 400,
            body: JSON.stringify({
              userId,
              query: event.queryStringParameters,
              multi: event.multiValueQueryStringParameters,
              headers: Object.keys(event.headers).length,
            }),
          };
        },
      },
    ],
    onHandlerError: (error) => handlerErrors.push(error),
  });
});

afterAll(() => api.close());

/** One request with a raw target; rejects after `ms` (a hang). */
function send(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer | string; ms?: number } = {},
): Promise<Answer> {
  const headers = { ...options.headers };
  // node's client sends no Content-Length of its own for a GET body
  if (options.body !== undefined && !headers['transfer-encoding'])
    headers['content-length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: api.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.setTimeout(options.ms ?? 3000, () => req.destroy(new Error(`${method} ${path}: no answer (hang)`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A raw request line, for targets node's client refuses to send; resolves to the status code. */
function sendRaw(head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(api.port, '127.0.0.1', () => socket.end(head));
    let data = '';
    socket.setTimeout(3000, () => socket.destroy(new Error(`${JSON.stringify(head)}: hang`)));
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}

describe('local API Gateway stand-in', () => {
  it('takes __proto__, constructor and toString as ordinary query names', async () => {
    const answer = await send('GET', '/recommendEndpoint?__proto__=1&constructor=2&toString=3&user_id=7');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({
      userId: '7',
      query: { __proto__: '1', constructor: '2', toString: '3', user_id: '7' },
    });
    expect(lastEvent?.multiValueQueryStringParameters?.constructor).toEqual(['2']);
  });

  it('fills multiValueQueryStringParameters with duplicates, the last one in queryStringParameters', async () => {
    const answer = await send('GET', '/prod/recommendEndpoint?user_id=1&user_id=2&__proto__=a&__proto__=b');
    expect(answer.status).toBe(200);
    expect(lastEvent?.queryStringParameters?.user_id).toBe('2');
    expect(lastEvent?.multiValueQueryStringParameters?.user_id).toEqual(['1', '2']);
    expect(lastEvent?.multiValueQueryStringParameters?.['__proto__']).toEqual(['a', 'b']);
    expect(lastEvent?.path).toBe('/prod/recommendEndpoint');
  });

  it('answers 403 Missing Authentication Token for unknown paths and methods the resource lacks', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/recommendEndpoint?user_id=1'],
      ['DELETE', '/prod/recommendEndpoint'],
      ['OPTIONS', '/'],
    ]) {
      const answer = await send(method, path);
      expect({ method, path, status: answer.status, body: answer.body }).toEqual({
        method,
        path,
        status: 403,
        body: '{"message":"Missing Authentication Token"}',
      });
    }
  });

  it('answers 400 for request targets that do not decode or are not paths', async () => {
    expect((await send('GET', '/recommend%E0%A4endpoint?user_id=1')).status).toBe(400);
    expect((await send('GET', '/%')).status).toBe(400);
    expect(await sendRaw('GET * HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(400);
    expect(
      await sendRaw('GET http://evil.example/recommendEndpoint?user_id=1 HTTP/1.1\r\nHost: x\r\n\r\n'),
    ).toBe(400);
    expect(await sendRaw('GARBAGE\r\n\r\n')).toBe(400);
  });

  it('answers 413 beyond 10 MB, declared or streamed, and keeps serving', async () => {
    const declared = await send('GET', '/recommendEndpoint?user_id=1', {
      headers: { 'content-length': String(MAX_REQUEST_BYTES + 1) },
    }).catch((error: Error) => error);
    // the answer comes before the (never sent) body; the connection is closed afterwards
    expect(declared).toMatchObject({ status: 413 });
    const streamed = await send('GET', '/recommendEndpoint?user_id=1', {
      headers: { 'transfer-encoding': 'chunked' },
      body: Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x61),
      ms: 8000,
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toEqual({
      message: `HTTP content length exceeded ${MAX_REQUEST_BYTES} bytes.`,
    });
    const atLimit = await send('GET', '/recommendEndpoint?user_id=1', { body: Buffer.alloc(1024, 0x61) });
    expect(atLimit.status).toBe(200);
  });

  it('never answers 5xx, never hangs and keeps serving under random requests (fuzz)', async () => {
    const tokenChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCXYZ0123456789-_.~!$*+^`|#'.split(''));
    const hostile = fc.constantFrom(
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'valueOf',
      'user_id',
      'prototype',
    );
    const pctGarbage = fc.constantFrom(
      '%',
      '%%',
      '%zz',
      '%E0%A4%A',
      '%00',
      '%C0%AF',
      '%ff%fe',
      '%25',
      '+',
      '&&',
      '==',
    );
    const textChar = fc.oneof(
      tokenChar,
      fc.constantFrom(
        '%',
        '=',
        '&',
        '/',
        '?',
        ';',
        ',',
        "'",
        '"',
        '<',
        '>',
        '{',
        '}',
        '[',
        ']',
        '\\',
        'é',
        '中',
      ),
    );
    const text = fc.oneof(
      fc.string({ unit: textChar, maxLength: 30 }),
      hostile,
      pctGarbage,
      fc.integer({ min: 1, max: 6000 }).map((n) => 'x'.repeat(n)),
    );
    const queryPart = fc
      .tuple(fc.oneof(hostile, text), fc.option(text))
      .map(([k, v]) => (v === null ? k : `${k}=${v}`));
    const pathArb = fc.oneof(
      fc.constantFrom(
        '/recommendEndpoint',
        '/prod/recommendEndpoint',
        '/',
        '/prod',
        '/prod/',
        '//recommendEndpoint',
      ),
      fc.array(fc.oneof(text, hostile, pctGarbage), { maxLength: 4 }).map((parts) => `/${parts.join('/')}`),
    );
    const headerValue = fc.string({
      unit: fc.constantFrom(...' abcXYZ019-_=;,:/"()%{}\t'.split('')),
      maxLength: 40,
    });
    const headersArb = fc
      .array(
        fc.tuple(fc.oneof(hostile, fc.string({ unit: tokenChar, minLength: 1, maxLength: 20 })), headerValue),
        {
          maxLength: 6,
        },
      )
      .map((pairs) => {
        const headers = Object.create(null) as Record<string, string>;
        for (const [name, value] of pairs) headers[`x-${name}`] = value.trim();
        return headers;
      });
    const bodyArb = fc.option(fc.oneof(fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 2000 })));
    const methodArb = fc.constantFrom(
      'GET',
      'GET',
      'GET',
      'POST',
      'PUT',
      'DELETE',
      'PATCH',
      'OPTIONS',
      'HEAD',
    );

    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(
        methodArb,
        pathArb,
        fc.array(queryPart, { maxLength: 6 }),
        headersArb,
        bodyArb,
        async (method, path, query, headers, body) => {
          const target = query.length > 0 ? `${path}?${query.join('&')}` : path;
          const answer = await send(
            method,
            target.replace(/[^\u0021-\u00ff]/g, (c) => encodeURIComponent(c)),
            {
              headers,
              body: body === null || method === 'HEAD' ? undefined : Buffer.from(body),
            },
          );
          if (answer.status >= 500 || answer.status < 200) {
            throw new Error(`${method} ${target} -> ${answer.status} ${answer.body}`);
          }
        },
      ),
      { seed: 20260109, numRuns: 300, endOnFailure: true },
    );
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(handlerErrors).toEqual([]);
    expect((await send('GET', '/recommendEndpoint?user_id=3')).status).toBe(200);
  }, 20_000);
});
