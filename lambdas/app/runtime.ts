import { createAwsClients } from '../shared/aws-clients.js';
import { loadConfig } from '../shared/config.js';
import { domainTelemetry, telemetry } from '../shared/telemetry.js';
import { createDeps } from './deps.js';

/** Configuration, traced SDK clients and domain dependencies, built once per Lambda container at module load. */
export const config = loadConfig();
export const clients = createAwsClients(config, telemetry.tracer);
export const deps = createDeps(config, clients, domainTelemetry(telemetry));
