/**
 * Lambda instances (lambda-instances.ts): a handler module run on worker threads, one invocation at a
 * time per instance, with the Lambda context rebuilt on the thread, the handler's errors passed back by
 * name, and at most `maxInstances` threads: further invocations wait for a free instance.
 */
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import { LambdaInstances } from '../../../local/services/lambda-instances';

const FIXTURE = join(__dirname, 'lambda-instance-fixture.ts');

interface Answer {
  readonly value: unknown;
  readonly threadId: number;
  readonly requestId?: string;
  readonly functionName?: string;
  readonly remainingMs?: number;
}

const context = (requestId: string): Context => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'reelflow-recommend',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:reelflow-recommend',
  memoryLimitInMB: '1024',
  awsRequestId: requestId,
  logGroupName: '/aws/lambda/reelflow-recommend',
  logStreamName: 'local',
  getRemainingTimeInMillis: () => 10_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});

describe('Lambda instances', () => {
  it('run the handler on another thread with the context, and pass its errors back by name', async () => {
    const instances = new LambdaInstances({ modulePath: FIXTURE, exportName: 'handler' });
    try {
      const answer = (await instances.invoke({ value: { a: [1, 2] } }, context('req-1'))) as Answer;
      expect(answer).toMatchObject({
        value: { a: [1, 2] },
        requestId: 'req-1',
        functionName: 'reelflow-recommend',
      });
      expect(answer.threadId).not.toBe(threadId);
      // counted down from the invocation (a cold instance's module load takes part of it on a busy machine)
      expect(answer.remainingMs).toBeGreaterThan(0);
      expect(answer.remainingMs).toBeLessThanOrEqual(10_000);
      const noContext = (await instances.invoke({ value: 2 })) as Answer;
      expect(noContext).toMatchObject({ value: 2, requestId: undefined });
      await expect(instances.invoke({ fail: 'broken' })).rejects.toMatchObject({
        name: 'FixtureError',
        message: 'broken',
      });
    } finally {
      await instances.stop();
    }
  });

  it('start at most maxInstances threads; the other invocations wait for a free one', async () => {
    const instances = new LambdaInstances({ modulePath: FIXTURE, exportName: 'handler', maxInstances: 2 });
    try {
      const answers = (await Promise.all(
        Array.from({ length: 6 }, (_, i) => instances.invoke({ value: i, waitMs: 50 })),
      )) as Answer[];
      expect(answers.map((a) => a.value)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(new Set(answers.map((a) => a.threadId)).size).toBe(2);
    } finally {
      await instances.stop();
    }
  });

  it('fail the invocations still waiting when stopped', async () => {
    const instances = new LambdaInstances({ modulePath: FIXTURE, exportName: 'handler', maxInstances: 1 });
    const outcomes = Promise.allSettled([
      instances.invoke({ waitMs: 5_000 }),
      instances.invoke({ value: 1 }),
    ]);
    await instances.stop();
    const [running, waiting] = await outcomes;
    expect(running).toMatchObject({ status: 'rejected', reason: { name: 'Runtime.ExitError' } });
    expect(waiting).toMatchObject({
      status: 'rejected',
      reason: { name: 'Runtime.ExitError', message: 'the local runtime stopped' },
    });
    await expect(instances.invoke({ value: 2 })).rejects.toThrow('the local runtime stopped');
  });
});
