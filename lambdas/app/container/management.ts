import { createManagementClient } from '../../shared/aws-clients.js';
import { telemetry } from '../../shared/telemetry.js';
import { config } from './config.js';

/** This container's API Gateway Management API client (traced), for the stage's @connections endpoint. */
export const management = createManagementClient(config.callbackUrl, telemetry.tracer);
