import { domainTelemetry, telemetry } from '../shared/telemetry.js';
import { config } from './container/config.js';
import { ddb } from './container/dynamodb.js';
import { sqs } from './container/sqs.js';
import { createConnectionDeps } from './deps.js';

export { config };
/** The SDK clients of connect and disconnect: DynamoDB and SQS, the same instances `runtime.ts` exposes. */
export const clients = { ddb, sqs };
/** The domain dependencies of connect and disconnect (presence store and fanout queue only), built once per container. */
export const deps = createConnectionDeps(config, clients, domainTelemetry(telemetry));
