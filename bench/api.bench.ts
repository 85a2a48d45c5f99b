/**
 * The local API under a bounded loopback load: the recommend Lambda handler behind the local API
 * Gateway, calling the local endpoint (pre -> k-NN -> post) of a model the local pipeline deployed from
 * the bundled sample. autocannon sends a fixed number of requests over 10 connections, users drawn
 * from the sample's ids.
 *
 *   reference        a bare node:http server in this process answering a recommendation-sized JSON:
 *                    the floor of HTTP on loopback here; the figure is the API's throughput against it
 *   handler alone    the recommend handler's own work (validation, response mapping) with the endpoint
 *                    call replaced by a canned answer: its overhead, apart from serving
 *   serving alone    one request through the version's pre/k-NN/post steps in-process
 *
 * Run: node local/bin/run-ts.js bench/api.bench.ts [--requests 5000]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import autocannon from 'autocannon';
import { readConfigFromCdkJson } from '../pipeline/config';
import { fixedApprover } from '../local/approval';
import { LocalRuntime } from '../local/runtime';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '5000' } } });
const REQUESTS = Number(values.requests);
const ROOT = join(__dirname, '..');

interface Load {
  readonly requestsPerSec: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly non2xx: number;
  readonly errors: number;
}

async function load(baseUrl: string, users: readonly number[]): Promise<Load> {
  let next = 0;
  const result = await autocannon({
    url: baseUrl,
    connections: 10,
    amount: REQUESTS,
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => ({
          ...request,
          path: `/recommendEndpoint?user_id=${users[next++ % users.length]}`,
        }),
      },
    ],
  });
  return {
    // Total over the run's wall time: autocannon's per-second average and `duration` are whole seconds.
    requestsPerSec: Math.round(
      result.requests.total / ((new Date(result.finish).getTime() - new Date(result.start).getTime()) / 1000),
    ),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Mean microseconds per call of `fn` over `n` calls (after a warm-up). */
async function perCall(n: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await fn();
  const started = performance.now();
  for (let i = 0; i < n; i++) await fn();
  return Number((((performance.now() - started) * 1000) / n).toFixed(1));
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'reelflow-api-bench-'));
  const sample = readFileSync(join(ROOT, 'local', 'sample', 'ratings.csv'));
  const users = Array.from(
    new Set(
      sample
        .toString('utf8')
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((line) => Number(line.split(',')[0])),
    ),
  );
  const runtime = await LocalRuntime.start({
    home,
    config: readConfigFromCdkJson(join(ROOT, 'cdk.json')),
    approver: fixedApprover(true, 'bench'),
  });
  try {
    const execution = await runtime.upload('ratings/bench-sample.csv', sample);
    const record = await execution.done;
    if (record.status !== 'Succeeded')
      throw new Error(`the sample run ended ${record.status}: ${record.reason}`);
    const api = new URL(runtime.recommendUrl);
    const apiBase = `${api.protocol}//${api.host}`;

    // The reference: the same response size from a bare HTTP server in this process.
    const body = await (await fetch(`${runtime.recommendUrl}?user_id=${users[0]}`)).text();
    const bare = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    const reference = await load(`http://127.0.0.1:${(bare.address() as AddressInfo).port}`, users);
    bare.close();

    const measured = await load(apiBase, users);

    // Imported once the runtime has set the handlers' environment (metrics off, as for its own handlers).
    const { recommend } =
      require('../functions/api/recommend') as typeof import('../functions/api/recommend');
    const canned = Buffer.from(
      `${JSON.stringify({ user_id: 1, movies: JSON.parse(body).movies, modelVersion: 'x' })}\n`,
    );
    const event = (userId: number) =>
      ({ queryStringParameters: { user_id: String(userId) } }) as unknown as APIGatewayProxyEvent;
    let i = 0;
    const handlerMicros = await perCall(20_000, () =>
      recommend(event(users[i++ % users.length]), async () => canned),
    );
    const servingMicros = await perCall(2_000, async () => {
      await fetch(`${runtime.recommendUrl}?user_id=${users[i++ % users.length]}`);
    });

    const result = {
      requests: REQUESTS,
      api: measured,
      reference,
      ratioToReference: Number((measured.requestsPerSec / reference.requestsPerSec).toFixed(3)),
      handlerOwnMicrosPerCall: handlerMicros,
      sequentialRequestMicros: servingMicros,
    };
    process.stderr.write(
      `local API: ${measured.requestsPerSec} req/s, p50 ${measured.p50ms} ms, p99 ${measured.p99ms} ms ` +
        `(${measured.non2xx} non-2xx); bare HTTP reference ${reference.requestsPerSec} req/s; ratio ` +
        `${result.ratioToReference}; handler alone ${handlerMicros} µs/call; one request end to end ` +
        `${servingMicros} µs\n`,
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await runtime.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
