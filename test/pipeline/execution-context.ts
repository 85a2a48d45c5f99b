/**
 * Step Functions always gives an execution its name (`$$.Execution.Name`); aws-local-stepfunctions only
 * when the caller passes a context, which run-locally.ts does not. `useExecutionName` gives every
 * execution started in the calling test file that context, with the name the test sets.
 */
import { StateMachine } from 'aws-local-stepfunctions';

let executionName = 'retrain-00000000-0000-4000-8000-000000000001';

/** The name the next executions get. */
export function setExecutionName(name: string): void {
  executionName = name;
}

/** Installs the context for the calling test file (call at module scope). */
export function useExecutionName(): void {
  const run = StateMachine.prototype.run;
  let spy: jest.SpyInstance | undefined;
  beforeEach(() => {
    spy = jest.spyOn(StateMachine.prototype, 'run').mockImplementation(function (
      this: StateMachine,
      input: Parameters<StateMachine['run']>[0],
      options?: Parameters<StateMachine['run']>[1],
    ) {
      const context = { Execution: { Name: executionName } };
      return run.call(this, input, { ...options, context: { ...context, ...options?.context } as never });
    });
  });
  afterEach(() => spy?.mockRestore());
}
