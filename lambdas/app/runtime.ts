import type { AwsClients } from '../shared/aws-clients.js';
import { domainTelemetry, telemetry } from '../shared/telemetry.js';
import { config } from './container/config.js';
import { ddb } from './container/dynamodb.js';
import { management } from './container/management.js';
import { sqs } from './container/sqs.js';
import { createDeps } from './deps.js';

/**
 * Configuration, traced SDK clients and domain dependencies of actions, fanout and serverApi, built once per Lambda
 * container at module load. connect and disconnect take the smaller `connection-runtime.ts`; each client is its own
 * module (container/), so both share the instances and a bundle holds only the clients its handler imports.
 */
export { config };
/** All three SDK clients of the container (the local stack and the bench instrument these). */
export const clients: AwsClients = { ddb, sqs, management };
export const deps = createDeps(config, clients, domainTelemetry(telemetry));
