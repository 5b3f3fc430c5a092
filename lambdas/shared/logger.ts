import { Logger } from '@aws-lambda-powertools/logger';

/** The structured logger every handler shares (level from POWERTOOLS_LOG_LEVEL / LOG_LEVEL). */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'parley' });
