/**
 * The one configured Powertools tracer of the reelflow Lambda handlers (house style 11). The functions
 * run with X-Ray active tracing; every AWS SDK v3 client a handler builds is wrapped once, at module
 * scope, with `tracer.captureAWSv3Client(new XClient(...))`, so each call shows as a subsegment.
 *
 * Tracing is off outside Lambda (no AWS_EXECUTION_ENV) and wherever POWERTOOLS_TRACE_ENABLED=false (the
 * local runtime sets it): the tracer then leaves the clients as they are and records nothing.
 * @see https://docs.powertools.aws.dev/lambda/typescript/latest/core/tracer/
 */
import { Tracer } from '@aws-lambda-powertools/tracer';

export const tracer = new Tracer({ serviceName: 'reelflow' });
