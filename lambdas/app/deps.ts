import { randomUUID } from 'node:crypto';
import { translateAwsErrors } from '../adapters/aws-errors.js';
import { DynamoConversationStore } from '../adapters/dynamo-conversation-store.js';
import { DynamoMessageStore } from '../adapters/dynamo-message-store.js';
import { DynamoPresenceStore } from '../adapters/dynamo-presence-store.js';
import { DynamoUserStore } from '../adapters/dynamo-user-store.js';
import { DynamoUserRateLimiter } from '../adapters/dynamo-user-rate-limiter.js';
import { ManagementApiPusher } from '../adapters/management-api-pusher.js';
import { SqsFanoutQueue } from '../adapters/sqs-fanout-queue.js';
import type { Deps } from '../domain/deps.js';
import type { Log, Metrics } from '../domain/ports.js';
import { MemoryRateLimiter } from '../domain/rate-limiter.js';
import type { AwsClients } from '../shared/aws-clients.js';
import type { Config } from '../shared/config.js';

/** Wires the AWS adapters, the logger and the metrics into the domain's dependencies. */
export function createDeps(config: Config, clients: AwsClients, telemetry: { logger: Log; metrics: Metrics }): Deps {
  const { tables } = config;
  return {
    conversations: translateAwsErrors(new DynamoConversationStore(clients.ddb, tables.conversations, tables.members, tables.messages)),
    messages: translateAwsErrors(
      new DynamoMessageStore(clients.ddb, tables.messages, tables.idempotency, {
        conversations: tables.conversations,
        members: tables.members,
        users: tables.users,
      }),
    ),
    users: translateAwsErrors(new DynamoUserStore(clients.ddb, tables.users)),
    presence: translateAwsErrors(new DynamoPresenceStore(clients.ddb, tables.presence)),
    queue: translateAwsErrors(new SqsFanoutQueue(clients.sqs, config.fanoutQueueUrl)),
    pusher: new ManagementApiPusher(clients.management),
    limits: config.limits,
    rateLimiter: new MemoryRateLimiter(),
    userRateLimiter: translateAwsErrors(new DynamoUserRateLimiter(clients.ddb, tables.rateLimits)),
    logger: telemetry.logger,
    metrics: telemetry.metrics,
    now: () => new Date(),
    newId: randomUUID,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
