import './loud-powertools';
import type { Context } from 'aws-lambda';
import { logger } from '../../functions/common/logger';
import { metrics, MetricUnit } from '../../functions/common/metrics';
import { observed } from '../../functions/common/observability';
import { tracer } from '../../functions/common/tracer';

/** A fixed fake Lambda context. */
const context: Context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'reelflow-test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:reelflow-test',
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/reelflow-test',
  logStreamName: '2026/11/25/[$LATEST]abcdef',
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

class RunFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunFailedError';
  }
}

describe('observed', () => {
  let lines: Record<string, unknown>[];

  beforeEach(() => {
    lines = [];
    // The logger prints one JSON line per entry on stdout.
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      return true;
    });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    metrics.clearMetrics();
  });

  it('adds the Lambda context to log lines and flushes metrics when the handler returns', async () => {
    // Prepare
    const publish = jest.spyOn(metrics, 'publishStoredMetrics');
    const handler = observed(async (event: { runId: string }) => {
      logger.appendKeys({ runId: event.runId });
      logger.info('working');
      metrics.addMetric('RunsStarted', MetricUnit.Count, 1);
      return { ok: true };
    });

    // Act
    const result = await handler({ runId: 'run-1' }, context);
    logger.info('between invocations');

    // Assess
    expect(result).toEqual({ ok: true });
    expect(lines[0]).toMatchObject({
      message: 'working',
      runId: 'run-1',
      function_name: 'reelflow-test',
      function_request_id: context.awsRequestId,
    });
    expect(lines[1]).toMatchObject({ message: 'between invocations' });
    expect(lines[1]).not.toHaveProperty('runId');
    expect(publish).toHaveBeenCalledTimes(1);
    expect(metrics.hasStoredMetrics()).toBe(false);
  });

  it('flushes metrics and clears logger keys when the handler throws, then rethrows the same error', async () => {
    // Prepare
    const publish = jest.spyOn(metrics, 'publishStoredMetrics');
    const failure = new RunFailedError('no rating file');
    const handler = observed(async (event: { runId: string }) => {
      logger.appendKeys({ runId: event.runId });
      metrics.addMetric('RunStartFailures', MetricUnit.Count, 1);
      throw failure;
    });

    // Act
    const outcome = handler({ runId: 'run-2' }, context);

    // Assess
    await expect(outcome).rejects.toBe(failure);
    expect(publish).toHaveBeenCalledTimes(1);
    expect(metrics.hasStoredMetrics()).toBe(false);
    logger.info('next invocation');
    expect(lines.at(-1)).toMatchObject({ message: 'next invocation' });
    expect(lines.at(-1)).not.toHaveProperty('runId');
  });

  it('runs without a Lambda context, as the local runtime and the tests call handlers', async () => {
    // Prepare
    const handler = observed(async (event: { runId: string }) => {
      logger.info('working', { runId: event.runId });
      metrics.addMetric('RunsStarted', MetricUnit.Count, 1);
      return event.runId;
    });
    await handler({ runId: 'run-3' }, context);

    // Act
    const result = await handler({ runId: 'run-4' });

    // Assess: no context from the previous invocation leaks into this one's logs.
    expect(result).toBe('run-4');
    expect(lines.at(-1)).toMatchObject({ message: 'working', runId: 'run-4' });
    expect(lines.at(-1)).not.toHaveProperty('function_request_id');
  });

  it('leaves tracing off and the SDK clients as they are outside Lambda', () => {
    // Prepare
    const client = { send: async () => ({}), middlewareStack: { add: jest.fn(), use: jest.fn() } };

    // Act
    const captured = tracer.captureAWSv3Client(client);

    // Assess
    expect(tracer.isTracingEnabled()).toBe(false);
    expect(captured).toBe(client);
    expect(client.middlewareStack.add).not.toHaveBeenCalled();
  });
});
