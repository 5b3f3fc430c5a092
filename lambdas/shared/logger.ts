import { telemetry } from './telemetry.js';

/** The structured logger every handler shares (level from POWERTOOLS_LOG_LEVEL / LOG_LEVEL); the domain gets it through its deps. */
export const logger = telemetry.logger;
