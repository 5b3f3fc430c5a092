import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { translateAwsErrors } from '../adapters/aws-errors.js';
import { DynamoConversationStore } from '../adapters/dynamo-conversation-store.js';
import { DynamoMessageStore } from '../adapters/dynamo-message-store.js';
import { DynamoPresenceStore } from '../adapters/dynamo-presence-store.js';
import { DynamoUndeliveredLog } from '../adapters/dynamo-undelivered-log.js';
import { DynamoUserStore } from '../adapters/dynamo-user-store.js';
import { DynamoUserRateLimiter } from '../adapters/dynamo-user-rate-limiter.js';
import { ManagementApiPusher } from '../adapters/management-api-pusher.js';
import { SqsFanoutQueue } from '../adapters/sqs-fanout-queue.js';
import type { Deps } from '../domain/deps.js';
import type { Log, Metrics } from '../domain/ports.js';
import { MemoryRateLimiter } from '../domain/rate-limiter.js';
import type { AwsClients } from '../shared/aws-clients.js';
import type { Config } from '../shared/config.js';

/** The logger and metrics the deps take from the container's telemetry. */
type DepsTelemetry = { logger: Log; metrics: Metrics };

/** The required stores, queue and pusher of `Deps`: what a function may or may not be built with (`undelivered` is optional). */
export const depsPorts = ['conversations', 'messages', 'presence', 'users', 'queue', 'pusher', 'userRateLimiter'] as const;
/** One of {@link depsPorts}. */
export type DepsPort = (typeof depsPorts)[number];

/** A call on a port the function was not built with (its role grants no access behind it either). */
export class PortNotGrantedError extends Error {
  constructor(functionName: string, port: DepsPort, method: string) {
    super(`${port}.${method} is not available to ${functionName}: its definition (lib/definitions.ts) grants nothing behind ${port}`);
  }
}

const notGranted = (functionName: string, port: DepsPort): object =>
  new Proxy(
    {},
    {
      // Not a thenable: a promise resolved with it must not call it.
      get: (_, method) => (method === 'then' ? undefined : () => Promise.reject(new PortNotGrantedError(functionName, port, String(method)))),
    },
  );

/**
 * The deps of a function built with only some ports (`granted`); every other port fails each call with
 * PortNotGrantedError. Only the granted ports' adapters (and SDK clients) end up in that function's bundle.
 */
export function withGrantedPorts<P extends DepsPort>(functionName: string, granted: Omit<Deps, DepsPort> & Pick<Deps, P>): Deps {
  // A refusing stand-in for every port; the granted ones replace theirs.
  const denied = Object.fromEntries(depsPorts.map((port) => [port, notGranted(functionName, port)])) as Pick<Deps, DepsPort>;
  return { ...denied, ...granted };
}

const rateLimiterSlot = Symbol.for('parley.rateLimiter');

/**
 * The token buckets of this process. A Lambda execution environment is one process, so on AWS this is per container
 * exactly; the local stack runs several containers in one process, and there they share the buckets, as when a
 * connection's frames all reach one container.
 */
function processRateLimiter(): MemoryRateLimiter {
  const slot = globalThis as { [rateLimiterSlot]?: MemoryRateLimiter };
  slot[rateLimiterSlot] ??= new MemoryRateLimiter();
  return slot[rateLimiterSlot];
}
/** What every function's deps have besides the ports: limits, in-memory rate limiter, telemetry, clock, ids. */
function commonDeps(config: Config, telemetry: DepsTelemetry) {
  return {
    limits: config.limits,
    rateLimiter: processRateLimiter(),
    logger: telemetry.logger,
    metrics: telemetry.metrics,
    now: () => new Date(),
    newId: randomUUID,
    sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  };
}

/** Wires all AWS adapters, the logger and the metrics into the domain's dependencies (actions, fanout, serverApi, scripts). */
export function createDeps(config: Config, clients: AwsClients, telemetry: DepsTelemetry): Deps {
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
    presence: translateAwsErrors(new DynamoPresenceStore(clients.ddb, tables.presence, tables.groupConnections)),
    queue: translateAwsErrors(new SqsFanoutQueue(clients.sqs, config.fanoutQueueUrl)),
    pusher: new ManagementApiPusher(clients.management),
    undelivered: translateAwsErrors(new DynamoUndeliveredLog(clients.ddb, tables.undelivered)),
    userRateLimiter: translateAwsErrors(new DynamoUserRateLimiter(clients.ddb, tables.rateLimits)),
    ...commonDeps(config, telemetry),
  };
}

/**
 * The deps of connect and disconnect: the presence and group connection tables, the user's memberships (to index the
 * connection in their groups) and the fanout queue, which is all their definitions grant (contacts are resolved by
 * the fanout worker); no Management API client.
 */
export function createConnectionDeps(config: Config, clients: { ddb: DynamoDBDocumentClient; sqs: SQSClient }, telemetry: DepsTelemetry): Deps {
  const { tables } = config;
  return withGrantedPorts<'presence' | 'queue' | 'conversations'>('connect/disconnect', {
    presence: translateAwsErrors(new DynamoPresenceStore(clients.ddb, tables.presence, tables.groupConnections)),
    conversations: translateAwsErrors(new DynamoConversationStore(clients.ddb, tables.conversations, tables.members, tables.messages)),
    queue: translateAwsErrors(new SqsFanoutQueue(clients.sqs, config.fanoutQueueUrl)),
    ...commonDeps(config, telemetry),
  });
}
