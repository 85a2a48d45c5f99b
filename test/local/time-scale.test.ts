/**
 * The local clock's waits on one execution's signal (issue 9): the deploy machine's endpoint poll loop
 * (Wait -> DescribeEndpoint -> Choice, over and over) once added an abort listener per Task to the
 * execution's signal and never removed it, so every blue/green poll printed MaxListenersExceededWarning.
 */
import { getEventListeners } from 'node:events';
import { StateMachineRunner, type Definition } from '../../local/state-machine-runner';
import { TimeScale } from '../../local/time-scale';

const POLL = 'arn:aws:states:::aws-sdk:sagemaker:describeEndpoint';
const ROUNDS = 40;

/** StartPolling -> Wait -> Poll -> Done? the way the deploy machine polls an endpoint. */
const pollLoop: Definition = {
  StartAt: 'WaitForEndpoint',
  States: {
    WaitForEndpoint: { Type: 'Wait', Seconds: 1, Next: 'Poll' },
    Poll: { Type: 'Task', Resource: POLL, ResultPath: '$.n', Next: 'Done?' },
    'Done?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.n', NumericGreaterThanEquals: ROUNDS, Next: 'Done' }],
      Default: 'WaitForEndpoint',
    },
    Done: { Type: 'Succeed' },
  },
};

describe('waits on one execution signal', () => {
  it('keeps the abort listeners bounded over many polls and emits no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const counts: number[] = [];
      const runner = new StateMachineRunner(
        pollLoop,
        {
          [POLL]: async (input, call) => {
            counts.push(getEventListeners(call.signal, 'abort').length);
            await new Promise((resolve) => setTimeout(resolve, 0));
            return ((input as { n?: number }).n ?? 0) + 1;
          },
        },
        new TimeScale(0),
      );
      const outer = new AbortController();
      const result = await runner.run({}, { executionName: 'poll', signal: outer.signal });
      await new Promise((resolve) => setImmediate(resolve));

      expect(result.status).toBe('SUCCEEDED');
      expect(counts).toHaveLength(ROUNDS);
      // the runner's own listener plus the one of the Task in flight, however many Tasks ran before
      expect(Math.max(...counts)).toBeLessThanOrEqual(2);
      expect(counts[counts.length - 1]).toBe(counts[0]);
      // and the caller's signal keeps nothing once the execution ended
      expect(getEventListeners(outer.signal, 'abort')).toHaveLength(0);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('still stops a Task that ignores the signal when the execution is aborted', async () => {
    const outer = new AbortController();
    const runner = new StateMachineRunner(
      pollLoop,
      {
        [POLL]: (_input, call) => {
          expect(getEventListeners(call.signal, 'abort').length).toBeLessThanOrEqual(2);
          setTimeout(() => outer.abort(new Error('stop')), 5);
          return new Promise(() => undefined); // never settles
        },
      },
      new TimeScale(0),
    );
    const result = await runner.run({}, { executionName: 'stopped', signal: outer.signal });
    expect(result.status).toBe('ABORTED');
  });
});
