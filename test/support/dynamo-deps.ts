import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoConversationStore } from '../../lambdas/adapters/dynamo-conversation-store.js';
import { DynamoUserStore } from '../../lambdas/adapters/dynamo-user-store.js';
import { DynamoMessageStore } from '../../lambdas/adapters/dynamo-message-store.js';
import { DynamoPresenceStore } from '../../lambdas/adapters/dynamo-presence-store.js';
import { DynamoUserRateLimiter } from '../../lambdas/adapters/dynamo-user-rate-limiter.js';
import { MemoryLog, MemoryMetrics, MemoryPusher, MemoryQueue } from '../../lambdas/adapters/memory-stores.js';
import type { Deps } from '../../lambdas/domain/deps.js';
import { MemoryRateLimiter } from '../../lambdas/domain/rate-limiter.js';
import { loadLimits, type Limits } from '../../lambdas/shared/config.js';
import { SdkCallCounter } from '../../bench/sdk-calls.js';
import type { ParleyInfo } from '../setup/local-stack.js';

const documentClient = (endpoint: string) =>
  DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 6 }),
    { marshallOptions: { removeUndefinedValues: true } },
  );

/**
 * The domain over the real DynamoDB adapters on the local stack's DynamoDB Local, in the test's own process: to seed
 * realistic shapes fast (no per-connection rate limits, no pushes: the queue and pusher are in memory) and to count
 * exactly which AWS calls a domain operation makes, with the bench's SDK middleware counters (one per store).
 */
export function dynamoDeps(info: ParleyInfo, overrides: Partial<Limits> = {}) {
  const clients = {
    conversations: documentClient(info.dynamodbEndpoint),
    messages: documentClient(info.dynamodbEndpoint),
    other: documentClient(info.dynamodbEndpoint),
  };
  const counters = { conversations: new SdkCallCounter(), messages: new SdkCallCounter(), other: new SdkCallCounter() };
  for (const name of Object.keys(clients) as (keyof typeof clients)[]) counters[name].attach(clients[name]);
  const { tableNames: t } = info;
  const deps: Deps = {
    conversations: new DynamoConversationStore(clients.conversations, t.conversations, t.members, t.messages),
    messages: new DynamoMessageStore(clients.messages, t.messages, t.idempotency, { conversations: t.conversations, members: t.members, users: t.users }),
    users: new DynamoUserStore(clients.other, t.users),
    presence: new DynamoPresenceStore(clients.other, t.presence, t.groupConnections),
    queue: new MemoryQueue(),
    pusher: new MemoryPusher(),
    limits: { ...loadLimits({}), sendRatePerSecond: 1e9, sendBurst: 1e9, ...overrides },
    rateLimiter: new MemoryRateLimiter(),
    userRateLimiter: new DynamoUserRateLimiter(clients.other, t.rateLimits),
    logger: new MemoryLog(),
    metrics: new MemoryMetrics(),
    now: () => new Date(),
    newId: randomUUID,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
  return { deps, counters, clients };
}
