/**
 * A handler module for the Lambda instance tests (lambda-instances.test.ts): it answers what it got,
 * the context it saw and its thread, waits when asked, and throws when asked.
 */
import { threadId } from 'node:worker_threads';
import type { Context } from 'aws-lambda';

interface FixtureEvent {
  readonly waitMs?: number;
  readonly fail?: string;
  readonly value?: unknown;
}

export async function handler(event: FixtureEvent, context?: Context): Promise<unknown> {
  if (event.waitMs) await new Promise((resolve) => setTimeout(resolve, event.waitMs));
  if (event.fail) {
    const error = new Error(event.fail);
    error.name = 'FixtureError';
    throw error;
  }
  return {
    value: event.value,
    threadId,
    requestId: context?.awsRequestId,
    functionName: context?.functionName,
    remainingMs: context?.getRemainingTimeInMillis(),
  };
}
