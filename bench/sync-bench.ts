import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { fixedLimits } from '../protocol/limits.js';
import { webSocketLimits } from '../lib/definitions.js';
import { DynamoConversationStore } from '../lambdas/adapters/dynamo-conversation-store.js';
import { DynamoUserStore } from '../lambdas/adapters/dynamo-user-store.js';
import { DynamoMessageStore } from '../lambdas/adapters/dynamo-message-store.js';
import { DynamoPresenceStore } from '../lambdas/adapters/dynamo-presence-store.js';
import { DynamoUserRateLimiter } from '../lambdas/adapters/dynamo-user-rate-limiter.js';
import { MemoryLog, MemoryMetrics, MemoryPusher, MemoryQueue } from '../lambdas/adapters/memory-stores.js';
import { mapLimit } from '../lambdas/domain/concurrency.js';
import { createDirectConversation, createGroupConversation } from '../lambdas/domain/conversations.js';
import type { Deps } from '../lambdas/domain/deps.js';
import { sendMessage } from '../lambdas/domain/messages.js';
import { MemoryRateLimiter } from '../lambdas/domain/rate-limiter.js';
import { sync, type SyncCursor } from '../lambdas/domain/sync.js';
import { loadLimits } from '../lambdas/shared/config.js';
import { createTables, localCredentials, localRegion, startDynamoDb } from '../local/dynamodb.js';
import { synthesizeStack, tableSettings } from '../local/template.js';
import { legacySync } from './legacy-sync.js';
import { diffCounts, SdkCallCounter } from './sdk-calls.js';
import { byteStats, sumByOperation, type SyncCost } from './sync-cost.js';

/** One measured catch-up shape: how many conversations changed, with what messages. */
export interface SyncVariant {
  name: string;
  changed: number;
  messagesEach: number;
  bodyChars: number;
  after: SyncCost;
  before: SyncCost;
}

export interface SyncBenchResult {
  name: 'sync';
  generatedAt: string;
  shape: { conversations: number; direct: number; smallGroups: number; bigGroups: number; bigGroupMembers: number; userIdChars: number };
  limit: number;
  seedMs: number;
  variants: SyncVariant[];
}

const limit = 50;
/** A sync request id as long as the protocol allows, so frame sizes are the worst case. */
const requestId = 'r'.repeat(128);

/**
 * Sync cost for a user in 1,000 conversations (700 direct, 280 groups of 3 to 7, 20 groups of 256; user ids of 64+
 * characters), on DynamoDB Local, the domain in-process over the real adapters: the current paged `sync` ("after")
 * and the algorithm of ae33cd7 ("before", `legacy-sync.ts`) on the same data, with 10 and with 1,000 changed
 * conversations. AWS calls and read/write units come from the SDK middleware counters.
 */
export async function runSyncBench(log: (line: string) => void): Promise<SyncBenchResult> {
  const dynamo = await startDynamoDb();
  try {
    const tableNames = await createTables(dynamo.client, 'bench-sync-', tableSettings(synthesizeStack('local')));
    const documentClient = () =>
      DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: dynamo.endpoint, region: localRegion, credentials: localCredentials, maxAttempts: 6 }), {
        marshallOptions: { removeUndefinedValues: true },
      });
    const clients = [documentClient(), documentClient(), documentClient()] as const;
    const counters = clients.map((client) => {
      const counter = new SdkCallCounter();
      counter.attach(client);
      return counter;
    });
    const deps: Deps = {
      conversations: new DynamoConversationStore(clients[0], tableNames.conversations, tableNames.members, tableNames.messages),
      messages: new DynamoMessageStore(clients[1], tableNames.messages, tableNames.idempotency, {
        conversations: tableNames.conversations,
        members: tableNames.members,
        users: tableNames.users,
      }),
      users: new DynamoUserStore(clients[2], tableNames.users),
      presence: new DynamoPresenceStore(clients[2], tableNames.presence, tableNames.groupConnections),
      queue: new MemoryQueue(),
      pusher: new MemoryPusher(),
      limits: { ...loadLimits({}), sendRatePerSecond: 1e9, sendBurst: 1e9, syncPerWindow: 1e9 },
      rateLimiter: new MemoryRateLimiter(),
      userRateLimiter: new DynamoUserRateLimiter(clients[2], tableNames.rateLimits),
      logger: new MemoryLog(),
      metrics: new MemoryMetrics(),
      now: () => new Date(),
      newId: randomUUID,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    };

    const longId = (name: string, i: number | string) => `${name}-${'x'.repeat(60)}-${i}`;
    const me = longId('me', 0);
    const caller = { userId: me, connectionId: 'bench-sync' };
    const shapes = [
      ...Array.from({ length: 700 }, (_, i) => ({ kind: 'direct' as const, peers: [longId('peer', i)] })),
      ...Array.from({ length: 280 }, (_, i) => ({ kind: 'group' as const, peers: Array.from({ length: 2 + (i % 5) }, (_, j) => longId(`g${i}`, j)) })),
      ...Array.from({ length: 20 }, (_, i) => ({ kind: 'group' as const, peers: Array.from({ length: 255 }, (_, j) => longId(`big${i}`, j)) })),
    ];
    const seedStarted = performance.now();
    log(`  seeding ${shapes.length} conversations`);
    const created = await mapLimit(shapes, 16, async (shape, index) => {
      const owner = { userId: shape.peers[0]!, connectionId: `seed-${index}` };
      const conversation =
        shape.kind === 'direct'
          ? await createDirectConversation(deps, owner, me)
          : await createGroupConversation(deps, owner, { title: `g${index}`, members: [me, ...shape.peers.slice(1)] });
      await sendMessage(deps, owner, { conversationId: conversation.conversationId, clientMessageId: 'first', body: `hello ${index}` });
      return { conversationId: conversation.conversationId, owner: owner.userId };
    });
    const seedMs = performance.now() - seedStarted;
    log(`  seeded in ${Math.round(seedMs / 1000)} s`);

    const snapshot = () => counters.map((counter) => counter.snapshot());
    const costSince = (before: ReturnType<typeof snapshot>) => sumByOperation(counters.map((counter, i) => diffCounts(counter.snapshot(), before[i]!)));

    const measure = async (walk: () => Promise<{ requests: string[]; replies: string[]; conversations: number; messages: number }>): Promise<SyncCost> => {
      const before = snapshot();
      const started = performance.now();
      const result = await walk();
      const wallMs = performance.now() - started;
      const used = costSince(before);
      const requests = byteStats(result.requests);
      const replies = byteStats(result.replies);
      const stats = Object.values(used);
      return {
        requests: result.requests.length,
        requestBytes: requests.total,
        largestRequestBytes: requests.largest,
        replyBytes: replies.total,
        largestReplyBytes: replies.largest,
        calls: Object.fromEntries(Object.entries(used).map(([operation, s]) => [operation, s.calls])),
        totalCalls: stats.reduce((n, s) => n + s.calls, 0),
        batchKeys: used['DynamoDB.BatchGetItem']?.items ?? 0,
        readUnits: stats.reduce((n, s) => n + s.readUnits, 0),
        writeUnits: stats.reduce((n, s) => n + s.writeUnits, 0),
        conversations: result.conversations,
        messages: result.messages,
        wallMs: Math.round(wallMs),
      };
    };

    /** The current design, paged as the SDK does: cursors from `from` on, at most 100 per request. */
    const walkAfter = (initial: Record<string, SyncCursor>) => async () => {
      // The SDK advances a cursor with every message it gets, so a conversation continued on the next page resumes there.
      const cursors = { ...initial };
      const ids = Object.keys(cursors).sort();
      const requests: string[] = [];
      const replies: string[] = [];
      let conversations = 0;
      let messages = 0;
      let from: string | undefined;
      for (;;) {
        const page = ids.filter((id) => from === undefined || id >= from).slice(0, fixedLimits.maxSyncCursors);
        const input = {
          from,
          through: page.length === fixedLimits.maxSyncCursors ? page.at(-1) : undefined,
          cursors: Object.fromEntries(page.map((id) => [id, cursors[id]!])),
          limit,
        };
        requests.push(JSON.stringify({ action: 'sync', requestId, ...input }));
        const reply = await sync(deps, caller, input);
        replies.push(JSON.stringify({ type: 'sync', requestId, ...reply }));
        conversations += reply.conversations.length;
        messages += reply.conversations.reduce((n, c) => n + c.messages.length, 0);
        for (const entry of reply.conversations) {
          const last = entry.messages.at(-1);
          if (last && !entry.limited) cursors[entry.conversationId] = { seq: last.seq, epoch: entry.epoch };
        }
        if (reply.nextFrom === null) return { requests, replies, conversations, messages };
        from = reply.nextFrom;
      }
    };
    /** The old design: every cursor (as a number) in every request, `page` for the next 100 memberships. */
    const walkBefore = (cursors: Record<string, SyncCursor>) => async () => {
      const numbers = Object.fromEntries(Object.entries(cursors).map(([id, cursor]) => [id, cursor.seq]));
      const requests: string[] = [];
      const replies: string[] = [];
      let conversations = 0;
      let messages = 0;
      let page: string | undefined;
      for (;;) {
        const input = { cursors: numbers, limit, ...(page === undefined ? {} : { page }) };
        requests.push(JSON.stringify({ action: 'sync', requestId, ...input }));
        const reply = await legacySync(deps, caller, input);
        replies.push(JSON.stringify({ type: 'sync', requestId, ...reply }));
        conversations += reply.conversations.length;
        messages += reply.conversations.reduce((n, c) => n + c.messages.length, 0);
        if (reply.nextPage === null) return { requests, replies, conversations, messages };
        page = reply.nextPage;
      }
    };

    const variants: SyncVariant[] = [];
    const plans = [
      { name: '10 changed, 3 short messages each', targets: created.filter((_, i) => i % 100 === 13), messagesEach: 3, bodyChars: 20 },
      { name: '10 changed, 3 messages of 8,000 characters each', targets: created.filter((_, i) => i % 100 === 57), messagesEach: 3, bodyChars: 8000 },
      { name: '1,000 changed, 3 short messages each', targets: created, messagesEach: 3, bodyChars: 20 },
    ];
    for (const plan of plans) {
      // The returning client holds a cursor at the head of every conversation; then the targets change.
      const heads = await deps.conversations.heads(created.map((c) => c.conversationId));
      const cursors = Object.fromEntries([...heads].map(([id, head]) => [id, { seq: head.lastSeq, epoch: head.epoch }]));
      log(`  ${plan.name}: writing ${plan.targets.length * plan.messagesEach} messages`);
      await mapLimit(plan.targets, 16, async (c) => {
        const head = heads.get(c.conversationId)!;
        for (let k = 1; k <= plan.messagesEach; k++) {
          const seq = head.lastSeq + k;
          const body = `${seq}:`.padEnd(plan.bodyChars, k % 2 === 0 ? 'ä' : 'a');
          const stored = await deps.messages.append(
            {
              conversationId: c.conversationId,
              senderId: c.owner,
              clientMessageId: `${plan.bodyChars}-${seq}`,
              body,
              createdAt: new Date().toISOString(),
              epoch: head.epoch!,
            },
            seq - 1,
            3600,
          );
          if (stored.status !== 'stored') throw new Error(`seeding ${c.conversationId}: ${stored.status}`);
        }
      });
      // Both designs read the same data, one after the other (reads only: neither changes what the other sees).
      const after = await measure(walkAfter(cursors));
      const before = await measure(walkBefore(cursors));
      const expected = plan.targets.length * plan.messagesEach;
      if (after.messages !== expected) throw new Error(`${plan.name}: the current sync returned ${after.messages} messages, not ${expected}`);
      if (before.messages !== expected) throw new Error(`${plan.name}: the old sync returned ${before.messages} messages, not ${expected}`);
      if (after.largestReplyBytes > webSocketLimits.maxMessageBytes) throw new Error(`${plan.name}: a reply of ${after.largestReplyBytes} bytes`);
      log(
        `  ${plan.name}: after ${after.totalCalls} calls ${after.readUnits} RRU ${after.wallMs} ms; before ${before.totalCalls} calls ${before.readUnits} RRU ${before.wallMs} ms`,
      );
      variants.push({ name: plan.name, changed: plan.targets.length, messagesEach: plan.messagesEach, bodyChars: plan.bodyChars, after, before });
    }
    for (const client of clients) client.destroy();
    return {
      name: 'sync',
      generatedAt: new Date().toISOString(),
      shape: { conversations: shapes.length, direct: 700, smallGroups: 280, bigGroups: 20, bigGroupMembers: 256, userIdChars: me.length },
      limit,
      seedMs: Math.round(seedMs),
      variants,
    };
  } finally {
    await dynamo.stop();
  }
}
