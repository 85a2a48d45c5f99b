/**
 * The one configured Powertools metrics instance of the reelflow Lambda handlers (house style 11): every
 * business outcome (run started, upload ignored, recommendation served, deployment recorded) is a count
 * in the `Reelflow` namespace, emitted as CloudWatch embedded metric format. Its own warnings (such as
 * "No application metrics to publish" after an invocation that failed before counting anything) go
 * through the structured logger, at its level.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logger } from './logger';
import { METRICS_NAMESPACE } from './namespace';

export const metrics = new Metrics({ serviceName: 'reelflow', namespace: METRICS_NAMESPACE, logger });

export { MetricUnit } from '@aws-lambda-powertools/metrics';
