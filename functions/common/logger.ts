/**
 * The one configured Powertools logger of the reelflow Lambda handlers (house style 11). Structured:
 * pass keys (`logger.info('run started', { runId })`), never concatenated strings.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: 'reelflow' });
