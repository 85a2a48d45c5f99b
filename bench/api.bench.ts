/**
 * The local API under load: `GET /recommendEndpoint?user_id=N` through the local API Gateway, the
 * recommend handler, InvokeEndpoint on the local SageMaker runtime and the endpoint's pre -> k-NN -> post,
 * for a model the local pipeline trained and deployed from the bundled sample. The load generator
 * (autocannon, 50 connections, users drawn round-robin from the sample's ids) runs in a CHILD process,
 * so it does not share the API's event loop.
 *
 *   reference   a bare node:http server in ANOTHER child process answering the API's own response body
 *               for one user (same Content-Type and length): the floor of HTTP on loopback here. It is
 *               loaded the same way (same child, connections, duration and request setup), interleaved
 *               with the API, in the same run.
 *
 * Figures: the API's throughput against the reference (target >= 0.1, issue 11), and the API's p99
 * latency at 50 connections: the one absolute target the issue sets (<= 50 ms), so its reference is null.
 * Then, for context (INFO), the ceiling of the first figure: the recommend handler's own AWS SDK client
 * calling InvokeEndpoint on the reference server, 50 calls at a time, in its own process and nothing
 * else. Every API request makes that call on the API's one handler thread (and serves HTTP, runs the
 * runtime and the endpoint besides), so where that call alone runs below 0.1 of the reference, so does
 * the API. Spreading the handler over threads would not lift it on 2 cores: the call's CPU (printed)
 * times the 0.1 target's rate already takes well over one core before any HTTP or endpoint work.
 *
 * Verified: every response of every round (API and reference) is a 200 with no errors or timeouts, and a
 * sample of the API's bodies (every 10th response) equals, movie for movie, what the deployed version's
 * own pipeline (its serving bundle and k-NN artifact, read back from S3 and run in-process with
 * core/serving/pipeline.ts) answers for that user, with that version's modelVersion.
 *
 * Run: node local/bin/run-ts.js bench/api.bench.ts [--large] [--seconds 4] [--rounds 2]
 *   (--large: 10 s rounds, 3 of each)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import autocannon from 'autocannon';
import { SERVING_CONTENT_TYPES, type RecommendResponse } from '../functions/contracts';
import { readKnnModelTarGz } from '../functions/core/knn';
import { readServingBundle } from '../functions/core/serving/bundle';
import { serveUsers } from '../functions/core/serving/pipeline';
import { fixedApprover } from '../local/approval';
import { LocalRuntime } from '../local/runtime';
import { readConfigFromCdkJson } from '../pipeline/config';
import { emit, figure, progress, report, type BenchFigure } from './harness';

const ROOT = join(__dirname, '..');
const CONNECTIONS = 50;
/** Every SAMPLE_EVERY-th response body of a round is sent back to the parent and checked. */
const SAMPLE_EVERY = 10;
const P99_TARGET_MS = 50;
const RATIO_TARGET = 0.1;
/** Warm-up: 2 s API rounds until two in a row differ by at most this share, at most WARM_ROUNDS. */
const WARM_TOLERANCE = 0.1;
const WARM_ROUNDS = 8;

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    large: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
  },
  strict: false,
});

/** What the load child measures in one round. */
interface Round {
  readonly requests: number;
  readonly requestsPerSec: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Sampled answers: the user asked for, the status and the body. */
  readonly samples: readonly { userId: number; status: number; body: string }[];
}

interface LoadCommand {
  readonly url: string;
  readonly users: readonly number[];
  readonly seconds: number;
}

// ---------------------------------------------------------------------------------------------------
// Child roles

/** The load child: one autocannon round per message, answered with its Round. */
function loadChild(): void {
  process.once('disconnect', () => process.exit(0));
  process.on('message', (command: LoadCommand) => {
    void runRound(command).then((round) => process.send?.(round));
  });
  process.send?.({ ready: true });
}

async function runRound({ url, users, seconds }: LoadCommand): Promise<Round> {
  let next = 0;
  let responses = 0;
  const samples: { userId: number; status: number; body: string }[] = [];
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        setupRequest: (request, context) => {
          const userId = users[next++ % users.length];
          (context as { userId?: number }).userId = userId;
          return { ...request, path: `/recommendEndpoint?user_id=${userId}` };
        },
        onResponse: (status, body, context) => {
          const userId = (context as { userId: number }).userId;
          if (responses++ % SAMPLE_EVERY === 0) samples.push({ userId, status, body });
        },
      },
    ],
  });
  const wallSeconds = (new Date(result.finish).getTime() - new Date(result.start).getTime()) / 1000;
  return {
    requests: result.requests.total,
    // Total over the round's wall time: autocannon's per-second average counts whole seconds only.
    requestsPerSec: result.requests.total / wallSeconds,
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    samples,
  };
}

/** What the SDK child measures: the recommend handler's InvokeEndpoint call alone, 50 at a time. */
interface SdkRound {
  readonly calls: number;
  readonly callsPerSec: number;
  /** CPU of the SDK child's process (all its threads) per call. */
  readonly cpuMsPerCall: number;
  readonly failures: number;
  /** Calls whose body was not the bare server's. */
  readonly wrongBodies: number;
}

/**
 * The SDK child: the recommend handler's SageMakerRuntimeClient (its own config, RUNTIME_CLIENT_CONFIG)
 * calling InvokeEndpoint on the bare server, CONNECTIONS calls at a time, and nothing else: no API, no
 * handler, no endpoint. Each API request makes this call, so its rate is a ceiling for the API's.
 */
function sdkChild(): void {
  process.once('disconnect', () => process.exit(0));
  process.once('message', ({ url, seconds, body }: { url: string; seconds: number; body: string }) => {
    // Loaded here, in the child: the module builds its client at load time from the environment.
    const sdk =
      require('@aws-sdk/client-sagemaker-runtime') as typeof import('@aws-sdk/client-sagemaker-runtime');
    const { RUNTIME_CLIENT_CONFIG } =
      require('../functions/api/recommend') as typeof import('../functions/api/recommend');
    const client = new sdk.SageMakerRuntimeClient({
      ...RUNTIME_CLIENT_CONFIG,
      endpoint: url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
    });
    const decoder = new TextDecoder();
    let failures = 0;
    let wrongBodies = 0;
    const call = async (): Promise<void> => {
      try {
        const answer = await client.send(
          new sdk.InvokeEndpointCommand({
            EndpointName: 'reelflow-recommender',
            ContentType: SERVING_CONTENT_TYPES.request,
            Accept: SERVING_CONTENT_TYPES.accept,
            Body: JSON.stringify({ user_id: 1 }),
          }),
        );
        if (decoder.decode(answer.Body) !== body) wrongBodies++;
      } catch {
        failures++;
      }
    };
    const runFor = async (ms: number): Promise<number> => {
      let calls = 0;
      const end = performance.now() + ms;
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (performance.now() < end) {
            await call();
            calls++;
          }
        }),
      );
      return calls;
    };
    void (async () => {
      await runFor(2000); // warm-up: JIT, connections
      failures = 0;
      wrongBodies = 0;
      const cpu = process.cpuUsage();
      const started = performance.now();
      const calls = await runFor(seconds * 1000);
      const wall = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      process.send?.({
        calls,
        callsPerSec: calls / wall,
        cpuMsPerCall: (used.user + used.system) / 1000 / calls,
        failures,
        wrongBodies,
      } satisfies SdkRound);
    })();
  });
  process.send?.({ ready: true });
}

/** The reference child: a bare node:http server answering `body` to every request. */
function bareChild(): void {
  process.once('disconnect', () => process.exit(0));
  process.once('message', ({ body }: { body: string }) => {
    const bytes = Buffer.from(body, 'utf8');
    const server = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length });
      res.end(bytes);
    });
    server.keepAliveTimeout = 5000;
    server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  });
  process.send?.({ ready: true });
}

// ---------------------------------------------------------------------------------------------------
// The parent

/** Starts this script in `role` as a child process (through the same TypeScript loader). */
async function child(role: string): Promise<ChildProcess> {
  const proc = fork(join(ROOT, 'local', 'bin', 'run-ts.js'), [__filename, '--role', role], {
    execArgv: [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await nextMessage(proc);
  return proc;
}

function nextMessage<T>(proc: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`a bench child exited (${code})`));
    proc.once('exit', onExit);
    proc.once('message', (message: T) => {
      proc.off('exit', onExit);
      resolve(message);
    });
  });
}

async function round(loader: ChildProcess, command: LoadCommand): Promise<Round> {
  const answer = nextMessage<Round>(loader);
  loader.send(command);
  return answer;
}

/** Sample users' ids in first-seen order. */
function sampleUsers(csv: string): number[] {
  const ids = csv
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => Number(line.split(',')[0]));
  return Array.from(new Set(ids));
}

/** The deployed version's own answers for `users`: its bundle and k-NN index, run in-process. */
async function ownAnswers(
  runtime: LocalRuntime,
  endpointName: string,
  users: readonly number[],
): Promise<{ version: string; movies: Map<number, string> }> {
  const [fleet] = runtime.sagemaker.hosting.fleets(endpointName);
  const model = runtime.sagemaker.model(fleet.modelName);
  const read = async (host: string): Promise<Uint8Array> => {
    const uri = model.Containers?.find((c) => c.ContainerHostname === host)?.ModelDataUrl ?? '';
    const response = await runtime.s3.send(
      new GetObjectCommand({ Bucket: runtime.bucket, Key: uri.replace(`s3://${runtime.bucket}/`, '') }),
    );
    if (!response.Body) throw new Error(`no model data at ${uri}`);
    return response.Body.transformToByteArray();
  };
  const bundle = await readServingBundle(await read('pre'));
  const { index } = await readKnnModelTarGz(await read('knn'));
  const served = serveUsers(bundle, index, users);
  return {
    version: bundle.manifest.modelVersion,
    movies: new Map(served.map((s) => [s.user_id, JSON.stringify(s.movies)])),
  };
}

/** Problems with a set of rounds: non-200s, errors, timeouts, and sampled bodies that are not `expected`. */
function problemsOf(
  rounds: readonly Round[],
  expected: (sample: Round['samples'][number]) => string | undefined,
): string[] {
  const problems: string[] = [];
  for (const r of rounds) {
    if (r.non2xx || r.errors || r.timeouts) {
      problems.push(`${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
    }
    for (const sample of r.samples) {
      const problem = sample.status === 200 ? expected(sample) : `status ${sample.status}`;
      if (problem) problems.push(`user ${sample.userId}: ${problem}`);
    }
  }
  return problems;
}

function total(rounds: readonly Round[]): { requests: number; requestsPerSec: number; samples: number } {
  const requests = rounds.reduce((sum, r) => sum + r.requests, 0);
  const seconds = rounds.reduce((sum, r) => sum + r.requests / r.requestsPerSec, 0);
  return {
    requests,
    requestsPerSec: requests / seconds,
    samples: rounds.reduce((s, r) => s + r.samples.length, 0),
  };
}

async function main(): Promise<void> {
  const seconds = Number(values.seconds ?? (values.large ? 10 : 4));
  const rounds = Number(values.rounds ?? (values.large ? 3 : 2));
  const home = mkdtempSync(join(tmpdir(), 'reelflow-api-bench-'));
  const sample = readFileSync(join(ROOT, 'local', 'sample', 'ratings.csv'));
  const users = sampleUsers(sample.toString('utf8'));
  const config = readConfigFromCdkJson(join(ROOT, 'cdk.json'));
  const children: ChildProcess[] = [];
  progress('starting the load and reference children, and the local runtime');
  const [loader, bare, runtime] = await Promise.all([
    child('load'),
    child('bare'),
    LocalRuntime.start({ home, config, approver: fixedApprover(true, 'bench') }),
  ]);
  children.push(loader, bare);
  try {
    progress('training and deploying the bundled sample through the local pipeline');
    const record = await (await runtime.upload('ratings/bench-sample.csv', sample)).done;
    if (record.status !== 'Succeeded')
      throw new Error(`the sample run ended ${record.status}: ${record.reason}`);
    const api = new URL(runtime.recommendUrl);
    const apiUrl = `${api.protocol}//${api.host}`;
    const own = await ownAnswers(runtime, config.endpoint.name, users);

    const body = await (await fetch(`${runtime.recommendUrl}?user_id=${users[0]}`)).text();
    const listening = nextMessage<{ port: number }>(bare);
    bare.send({ body });
    const bareUrl = `http://127.0.0.1:${(await listening).port}`;

    // Warm-up (JIT, keep-alive connections, and any thread the API starts on demand: a cold start
    // costs a second or more of CPU): the reference for 2 s, the API in 2 s
    // rounds until two in a row are within WARM_TOLERANCE of each other (at most WARM_ROUNDS). Each
    // measured round then cycles through the sample's users again and again, so what it measures is
    // the API's steady state.
    progress(`warming up, then ${rounds} x (reference ${seconds} s, API ${seconds} s)`);
    await round(loader, { url: bareUrl, users, seconds: 2 });
    let previous = 0;
    for (let i = 1; i <= WARM_ROUNDS; i++) {
      const { requestsPerSec } = await round(loader, { url: apiUrl, users, seconds: 2 });
      progress(`warm-up ${i}: API ${Math.round(requestsPerSec)} req/s`);
      if (requestsPerSec > 0 && Math.abs(requestsPerSec - previous) <= WARM_TOLERANCE * requestsPerSec) break;
      previous = requestsPerSec;
    }
    const reference: Round[] = [];
    const measured: Round[] = [];
    /** CPU time of this process (the API, the handler's and the endpoint's threads) per API request. */
    const cpuMsPerRequest: number[] = [];
    for (let i = 0; i < rounds; i++) {
      reference.push(await round(loader, { url: bareUrl, users, seconds }));
      const cpu = process.cpuUsage();
      measured.push(await round(loader, { url: apiUrl, users, seconds }));
      const used = process.cpuUsage(cpu);
      cpuMsPerRequest.push((used.user + used.system) / 1000 / measured[i].requests);
      progress(
        `round ${i + 1}: reference ${Math.round(reference[i].requestsPerSec)} req/s, API ` +
          `${Math.round(measured[i].requestsPerSec)} req/s, p99 ${measured[i].p99ms} ms, ` +
          `${cpuMsPerRequest[i].toFixed(2)} ms of CPU per API request`,
      );
    }

    // The ceiling: the handler's InvokeEndpoint call alone against the bare server, in its own process
    // (started now, so it does not share the machine with the rounds above).
    progress(`the AWS SDK's InvokeEndpoint alone against the reference, ${seconds} s`);
    const sdkProc = await child('sdk');
    children.push(sdkProc);
    const sdkAnswer = nextMessage<SdkRound>(sdkProc);
    sdkProc.send({ url: bareUrl, seconds, body });
    const sdk = await sdkAnswer;
    sdkProc.kill();
    progress(
      `SDK alone ${Math.round(sdk.callsPerSec)} calls/s, ${sdk.cpuMsPerCall.toFixed(2)} ms of CPU per call`,
    );

    const problems = [
      ...problemsOf(reference, (s) => (s.body === body ? undefined : 'the reference answered another body')),
      ...problemsOf(measured, (s) => {
        const answer = JSON.parse(s.body) as RecommendResponse;
        if (answer.modelVersion !== own.version)
          return `modelVersion ${answer.modelVersion}, not ${own.version}`;
        return JSON.stringify(answer.movies) === own.movies.get(s.userId)
          ? undefined
          : `movies ${JSON.stringify(answer.movies)}, the version answers ${own.movies.get(s.userId)}`;
      }),
    ];
    const apiTotal = total(measured);
    const refTotal = total(reference);
    const p99 = Math.max(...measured.map((r) => r.p99ms));
    const verified =
      problems.length === 0
        ? `every response 200, no errors or timeouts (${apiTotal.requests} API, ${refTotal.requests} ` +
          `reference requests); ${apiTotal.samples} sampled API bodies equal version ${own.version}'s own ` +
          `answer for their user`
        : `FAILED: ${problems.length} problems, e.g. ${problems.slice(0, 3).join('; ')}`;
    const ok = (f: BenchFigure): BenchFigure => (problems.length === 0 ? f : { ...f, pass: false });
    const detail = {
      connections: CONNECTIONS,
      seconds,
      rounds,
      api: measured.map(({ samples: _, ...r }, i) => ({ ...r, cpuMsPerRequest: cpuMsPerRequest[i] })),
      reference: reference.map(({ samples: _, ...r }) => r),
    };
    const figures: BenchFigure[] = [
      ok(
        figure({
          case: `local API, ${CONNECTIONS} connections`,
          figure:
            'req/s vs a bare node:http server with the same body (both in their own process, same load)',
          value: Math.round(apiTotal.requestsPerSec),
          unit: 'req/s',
          reference: Math.round(refTotal.requestsPerSec),
          target: { op: '>=', value: RATIO_TARGET },
          verified,
          detail,
        }),
      ),
      ok(
        figure({
          case: `local API, ${CONNECTIONS} connections`,
          figure:
            `p99 latency, worst round (absolute: the one absolute target issue 11 sets; ` +
            `the reference's p99 is ${Math.max(...reference.map((r) => r.p99ms))} ms)`,
          value: p99,
          unit: 'ms',
          reference: null,
          target: { op: '<=', value: P99_TARGET_MS },
          verified,
        }),
      ),
    ];
    const sdkProblems = sdk.failures + sdk.wrongBodies;
    figures.push(
      figure({
        case: `local API, ${CONNECTIONS} connections`,
        figure:
          "the ceiling: the recommend handler's AWS SDK InvokeEndpoint call alone (its own client config, " +
          'in its own process) against the bare server, vs the bare server; the local API makes this ' +
          'call for every request on its one handler thread, so the API figure above stays below this one',
        value: Math.round(sdk.callsPerSec),
        unit: 'req/s',
        reference: Math.round(refTotal.requestsPerSec),
        target: null,
        verified:
          sdkProblems === 0
            ? `${sdk.calls} calls, each answered 200 with the bare server's body; ` +
              `${sdk.cpuMsPerCall.toFixed(2)} ms of the SDK process's CPU per call`
            : `FAILED: ${sdk.failures} calls failed, ${sdk.wrongBodies} answered another body`,
        detail: { ...sdk },
      }),
    );
    figures.forEach(report);
    emit(figures);
  } finally {
    for (const proc of children) proc.kill();
    await runtime.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

if (values.role === 'load') loadChild();
else if (values.role === 'bare') bareChild();
else if (values.role === 'sdk') sdkChild();
else {
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}
