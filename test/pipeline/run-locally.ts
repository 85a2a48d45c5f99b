/**
 * Runs a rendered definition with aws-local-stepfunctions (the engine of the local runtime), every Task
 * answered by a test handler, Wait states and retry intervals at zero. Returns the path taken.
 */
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import type { AslDefinition } from '../../pipeline/render';

export type TaskHandler = (input: never) => unknown;

export interface LocalRun {
  /** Names of the states entered, in order (Parallel branch states included). */
  readonly path: string[];
  readonly output?: unknown;
  /** The execution's error and cause when it failed. */
  readonly error?: { readonly name: string; readonly cause: string };
  /** The input each Task received (after Parameters), by state name, last call wins. */
  readonly inputs: Record<string, unknown>;
}

/** An error as a Task would throw it: `name` is what Retry and Catch match. */
export function taskError(name: string, message = name): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

export async function runLocally(
  definition: AslDefinition,
  input: unknown,
  handlers: Record<string, TaskHandler>,
): Promise<LocalRun> {
  const states = collectStates(definition);
  const inputs: Record<string, unknown> = {};
  const taskResourceLocalHandlers = Object.fromEntries(
    Object.entries(handlers).map(([name, handler]) => [
      name,
      async (taskInput: unknown) => {
        inputs[name] = taskInput;
        return (await handler(taskInput as never)) as never;
      },
    ]),
  );
  const zero = (type: string) =>
    Object.fromEntries(
      Object.entries(states)
        .filter(([, s]) => s.Type === type)
        .map(([name]) => [name, 0]),
    );
  // The engine annotates the definition it is given; keep the caller's copy intact.
  const machine = new StateMachine(JSON.parse(JSON.stringify(definition)) as never, {
    validationOptions: { checkArn: false },
  });
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers,
      waitTimeOverrides: zero('Wait'),
      retryIntervalOverrides: { ...zero('Task'), ...zero('Parallel') },
    },
  });
  const path: string[] = [];
  const collect = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') path.push(event.state.name);
    }
  })();
  try {
    const output = await execution.result;
    await collect;
    return { path, output, inputs };
  } catch (error) {
    await collect;
    if (!(error instanceof ExecutionError)) throw error;
    const cause = error.cause as { name?: string; message?: string } | undefined;
    return {
      path,
      inputs,
      error: { name: cause?.name ?? error.name, cause: cause?.message ?? error.message },
    };
  }
}

function collectStates(definition: {
  States: Record<string, Record<string, unknown>>;
}): Record<string, { Type: string }> {
  const all: Record<string, { Type: string }> = {};
  for (const [name, state] of Object.entries(definition.States)) {
    all[name] = state as { Type: string };
    for (const branch of (state.Branches as
      { States: Record<string, Record<string, unknown>> }[] | undefined) ?? []) {
      Object.assign(all, collectStates(branch));
    }
  }
  return all;
}

/** Every state of a definition with its name, Parallel branches included, with the enclosing Parallel. */
export function allStates(
  definition: { States: Record<string, Record<string, unknown>> },
  parallel?: string,
): { name: string; state: Record<string, unknown>; parallel?: string }[] {
  return Object.entries(definition.States).flatMap(([name, state]) => [
    { name, state, parallel },
    ...((state.Branches as { States: Record<string, Record<string, unknown>> }[] | undefined) ?? []).flatMap(
      (b) => allStates(b, name),
    ),
  ]);
}
