/**
 * The cross-cutting concerns of every reelflow handler, in one place (house style 8): `observed(fn)`
 * wraps a handler's logic with Powertools' own middlewares, applied in the order middy would apply
 * `.use(logMetrics(metrics)).use(injectLambdaContext(logger, { clearState: true }))
 * .use(captureLambdaHandler(tracer, { captureResponse: false }))`:
 *
 * - the Lambda context is added to every log line, and keys appended during the invocation are cleared
 *   after it, whether it returned or threw;
 * - the stored metrics are flushed (one EMF record) after every invocation, whether it returned or threw;
 * - with X-Ray on, the invocation is a `## <handler>` subsegment annotated with ColdStart and Service, and
 *   an error is recorded on it (the response is not: it may carry user data).
 *
 * A small runner instead of `@middy/core`: middy 7 is ESM-only, and the handlers also load through
 * CommonJS (ts-jest, and the local runtime's tsx loader).
 * @see https://docs.powertools.aws.dev/lambda/typescript/latest/core/logger/#capturing-lambda-context-info
 * @see https://docs.powertools.aws.dev/lambda/typescript/latest/core/metrics/#middy-middleware
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { Context } from 'aws-lambda';
import { toError } from './errors';
import { logger } from './logger';
import { metrics } from './metrics';
import { tracer } from './tracer';

/** A handler as Lambda (and the local runtime) calls it; a caller without a Lambda context may omit it. */
export type ObservedHandler<TEvent, TResult> = (event: TEvent, context?: Context) => Promise<TResult>;

type Middleware = ReturnType<typeof logMetrics>;
type MiddlewareRequest = Parameters<NonNullable<Middleware['before']>>[0];

/** In `.use()` order: `before` hooks run first to last, `after` and `onError` hooks last to first. */
const MIDDLEWARES: readonly Middleware[] = [
  logMetrics(metrics),
  injectLambdaContext(logger, { clearState: true }),
  captureLambdaHandler(tracer, { captureResponse: false }),
];
const REVERSED = [...MIDDLEWARES].reverse();

/**
 * `handler` wrapped with the logger context, the metrics flush and the X-Ray subsegment. Errors are
 * rethrown as they are, after the hooks ran.
 */
export function observed<TEvent, TResult>(
  handler: (event: TEvent) => Promise<TResult>,
): ObservedHandler<TEvent, TResult> {
  return async (event, context) => {
    const request: MiddlewareRequest = {
      event,
      // As middy does: no context (a local or test call) is an empty one, so nothing stale is logged.
      context: context ?? ({} as Context),
      response: undefined,
      error: undefined,
      internal: {},
    };
    try {
      for (const middleware of MIDDLEWARES) await middleware.before?.(request);
      request.response = await handler(event);
    } catch (error) {
      request.error = toError(error);
      for (const middleware of REVERSED) await middleware.onError?.(request);
      throw error;
    }
    for (const middleware of REVERSED) await middleware.after?.(request);
    return request.response as TResult;
  };
}
