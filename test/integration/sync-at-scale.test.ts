/**
 * Catch-up at the shapes real users reach: a user in 1,000 conversations (direct and groups, some of 256 members,
 * user ids of 64+ characters), 50 of them with 110 unread messages of 8,000 characters, reconnects with the real SDK.
 * Every message the app is shown arrives exactly once and in order, every frame in both directions stays within
 * API Gateway's limits, and a later sync with 10 changed conversations reads only what changed.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MemoryCursorStore, ParleyClient, type Cursors, type Message, type ParleyClientOptions } from '../../client/index.js';
import { mapLimit } from '../../lambdas/domain/concurrency.js';
import { createDirectConversation, createGroupConversation } from '../../lambdas/domain/conversations.js';
import { sendMessage } from '../../lambdas/domain/messages.js';
import { sync, type SyncCursor } from '../../lambdas/domain/sync.js';
import { diffCounts, type CallCounts } from '../../bench/sdk-calls.js';
import { webSocketLimits } from '../../lib/definitions.js';
import { dynamoDeps } from '../support/dynamo-deps.js';
import { expectNoOversizeFrames, resetFrameStats } from '../support/frame-limits.js';
import { connectAs, devToken } from '../support/ws-client.js';

const info = inject('parley');
const { deps, counters } = dynamoDeps(info);
const run = randomUUID().slice(0, 8);
/** User ids of 64+ characters, as some identity providers issue them. */
const longId = (name: string, i: number | string) => `${name}-${'x'.repeat(56)}-${i}-${run}`;
const me = longId('me', 0);
const seeder = (userId: string) => ({ userId, connectionId: `seed-${userId}` });

const bodyOf = (conversation: number, seq: number) =>
  // Two-byte characters in half of them: 16 KB of UTF-8 per body.
  `${conversation}:${seq}:`.padEnd(8000, seq % 2 === 0 ? 'ä' : 'a');

interface Seeded {
  conversationId: string;
  epoch: string;
  /** Whether the returning client holds a cursor for it (the rest were joined while offline). */
  known: boolean;
  unread: number;
}

/** Frames the SDK's socket carried, by direction, in UTF-8 bytes. */
const frames = { sent: [] as number[], received: [] as number[] };
class MeasuredWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols);
    this.on('message', (data: Buffer) => frames.received.push(data.byteLength));
  }
  override send(data: string): void {
    frames.sent.push(Buffer.byteLength(data));
    super.send(data);
  }
}

const clientOf = (cursorStore: MemoryCursorStore, extra: Partial<ParleyClientOptions> = {}) =>
  new ParleyClient({
    url: info.wsUrl,
    userId: me,
    token: () => devToken(info, me),
    WebSocket: MeasuredWebSocket as unknown as ParleyClientOptions['WebSocket'],
    cursorStore,
    syncTimeoutMs: 60_000,
    ...extra,
  });

const conversations: Seeded[] = [];
let cursorsBefore: Cursors = {};

beforeAll(async () => {
  const shapes = [
    ...Array.from({ length: 700 }, (_, i) => ({ kind: 'direct' as const, peers: [longId('peer', i)] })),
    ...Array.from({ length: 280 }, (_, i) => ({ kind: 'group' as const, peers: Array.from({ length: 2 + (i % 5) }, (_, j) => longId(`g${i}`, j)) })),
    ...Array.from({ length: 20 }, (_, i) => ({ kind: 'group' as const, peers: Array.from({ length: 255 }, (_, j) => longId(`big${i}`, j)) })),
  ];
  // Every conversation has one message from the other side before the user goes offline.
  const created = await mapLimit(shapes, 16, async (shape, index) => {
    const owner = seeder(shape.peers[0]!);
    const conversation =
      shape.kind === 'direct'
        ? await createDirectConversation(deps, owner, me)
        : await createGroupConversation(deps, owner, { title: `g${index}`, members: [me, ...shape.peers.slice(1)] });
    const ack = await sendMessage(deps, owner, { conversationId: conversation.conversationId, clientMessageId: 'first', body: `hello ${index}` });
    return { conversationId: conversation.conversationId, epoch: ack.epoch!, owner: owner.userId };
  });
  // 20 conversations (spread over the id space) the client never heard of; the rest it had read up to seq 1.
  for (const [index, c] of created.entries()) conversations.push({ conversationId: c.conversationId, epoch: c.epoch, known: index % 50 !== 7, unread: 0 });
  cursorsBefore = Object.fromEntries(conversations.filter((c) => c.known).map((c) => [c.conversationId, { seq: 1, epoch: c.epoch }]));
  // 50 conversations (five of them groups of 256) get 110 messages of 8,000 characters while the user is away.
  const busy = created.filter((_, i) => (i < 46 || (i >= 980 && i < 985)) && conversations[i]!.known);
  // Stored as the send path stores them, 55 per transaction (the items of one append), not 110 round trips each.
  await mapLimit(busy, 10, async (c) => {
    const index = created.indexOf(c);
    for (let first = 2; first <= 111; first += 55) {
      const seqs = Array.from({ length: 55 }, (_, i) => first + i);
      const start = Date.now();
      const result = await deps.messages.appendTimeline({
        conversationId: c.conversationId,
        items: seqs.map((seq) => ({
          conversationId: c.conversationId,
          kind: 'message' as const,
          senderId: c.owner,
          clientMessageId: `busy-${seq}`,
          body: bodyOf(index, seq),
          createdAt: new Date(start + seq).toISOString(),
        })),
        expectedLastSeq: first - 1,
        epoch: c.epoch,
        idempotencyTtlSeconds: 3600,
      });
      expect(result.status).toBe('stored');
    }
    conversations[index]!.unread = 110;
  });
  // And 10 conversations get three short ones.
  await mapLimit(created.slice(100, 110), 10, async (c) => {
    for (let i = 1; i <= 3; i++)
      await sendMessage(deps, seeder(c.owner), { conversationId: c.conversationId, clientMessageId: `small-${i}`, body: `small ${i}` });
    conversations[created.indexOf(c)]!.unread = 3;
  });
}, 600_000);

afterAll(() => undefined);

describe('sync for a user in 1,000 conversations', () => {
  let client: ParleyClient;
  const shown = new Map<string, Message[]>();
  const limited = new Map<string, { fromSeq: number; toSeq: number }>();

  it('reconnects: every message shown arrives exactly once, in order, and every frame is within the limits', async () => {
    expect(me.length).toBeGreaterThanOrEqual(64);
    await resetFrameStats([me]);
    const store = new MemoryCursorStore(cursorsBefore);
    client = clientOf(store);
    client.on('message', (message) => shown.set(message.conversationId, [...(shown.get(message.conversationId) ?? []), message]));
    client.on('limited', (event) => limited.set(event.conversationId, event));
    let synced: { messages: number; conversations: number } | undefined;
    client.on('synced', (event) => (synced ??= event));
    await client.connect();

    for (const c of conversations) {
      const seqs = (shown.get(c.conversationId) ?? []).map((message) => message.seq);
      const lastSeq = 1 + c.unread;
      if (!c.known) {
        expect(seqs, c.conversationId).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
      } else if (c.unread > 50) {
        // Limited: the newest page at once, exactly up to the last seq; the skipped range is reported.
        const skipped = limited.get(c.conversationId)!;
        expect(skipped, c.conversationId).toMatchObject({ fromSeq: 2 });
        expect(seqs).toEqual(Array.from({ length: lastSeq - skipped.toSeq }, (_, i) => skipped.toSeq + 1 + i));
        expect(seqs.length).toBeGreaterThan(0);
      } else {
        expect(seqs, c.conversationId).toEqual(Array.from({ length: c.unread }, (_, i) => i + 2));
      }
      expect(client.cursor(c.conversationId)).toBe(lastSeq);
    }
    // What was shown is what was stored, byte for byte.
    const sample = conversations.findIndex((c) => c.unread === 110);
    for (const message of shown.get(conversations[sample]!.conversationId)!) expect(message.body).toBe(bodyOf(sample, message.seq));
    expect(synced).toMatchObject({ conversations: expect.any(Number) });

    expect(Math.max(...frames.received)).toBeLessThanOrEqual(webSocketLimits.maxMessageBytes);
    expect(Math.max(...frames.sent)).toBeLessThanOrEqual(16 * 1024);
    // Large replies really happened: the limits were exercised, not avoided.
    expect(Math.max(...frames.received)).toBeGreaterThan(64 * 1024);
    // And the emulator, which sees every path (route responses and @connections posts), agrees.
    const stats = await expectNoOversizeFrames([me]);
    expect(stats.serverToClient.largestMessageBytes).toBeGreaterThan(64 * 1024);
  }, 300_000);

  it('pages the skipped range back with history, and keeps delivering live messages', async () => {
    const busy = conversations.find((c) => c.unread === 110 && c.conversationId.startsWith('dm_'))!;
    const skipped = limited.get(busy.conversationId)!;
    let beforeSeq: number | null = skipped.toSeq + 1;
    const older: number[] = [];
    while (beforeSeq !== null && beforeSeq > 1) {
      const page = await client.history(busy.conversationId, { beforeSeq, limit: 100 });
      older.unshift(...page.messages.map((message) => message.seq));
      beforeSeq = page.nextBeforeSeq;
    }
    expect(older).toEqual(Array.from({ length: skipped.toSeq }, (_, i) => i + 1));
    expect(Math.max(...frames.received)).toBeLessThanOrEqual(webSocketLimits.maxMessageBytes);
    await expectNoOversizeFrames([me]);

    const peer = await connectAs(info, (await deps.conversations.get(busy.conversationId))!.members.find((m) => m !== me)!);
    const ack = await peer.request({ action: 'send', conversationId: busy.conversationId, clientMessageId: `live-${run}`, body: 'live' });
    expect(ack).toMatchObject({ type: 'ack', seq: 112 });
    await expect.poll(() => shown.get(busy.conversationId)?.at(-1)?.seq, { timeout: 15_000 }).toBe(112);
    await peer.close();
    client.close();
  }, 120_000);

  it('with 10 changed conversations, reads only what changed', async () => {
    // The returning user holds cursors at the last seq of every conversation; ten of them change.
    const cursors: Record<string, SyncCursor> = {};
    for (const c of conversations) {
      const head = (await deps.conversations.heads([c.conversationId])).get(c.conversationId)!;
      cursors[c.conversationId] = { seq: head.lastSeq, epoch: head.epoch };
    }
    const changed = conversations.slice(200, 210);
    for (const c of changed) {
      const owner = (await deps.conversations.get(c.conversationId))!.members.find((m) => m !== me)!;
      await sendMessage(deps, seeder(owner), { conversationId: c.conversationId, clientMessageId: `changed-${run}`, body: 'changed' });
    }
    const before = Object.fromEntries(Object.entries(counters).map(([name, counter]) => [name, counter.snapshot()]));
    const walk = await walkSync(cursors);
    const used = Object.fromEntries(Object.entries(counters).map(([name, counter]) => [name, totals(diffCounts(counter.snapshot(), before[name]!))]));

    expect(walk.entries.map((entry) => entry.conversationId).sort()).toEqual(changed.map((c) => c.conversationId).sort());
    expect(walk.pages).toBe(10);
    // Messages: one query per changed conversation, nothing for the 990 others.
    expect(used.messages!['DynamoDB.Query']?.calls).toBe(10);
    // Conversations: per page one membership query (plus one to find the next page) and one BatchGetItem of 100
    // heads; for the changed ones their items and heads, and the member receipts of the small ones.
    const batch = used.conversations!['DynamoDB.BatchGetItem']!;
    expect(batch.items).toBeLessThanOrEqual(1000 + 2 * changed.length);
    expect(used.conversations!['DynamoDB.Query']!.calls).toBeLessThanOrEqual(2 * walk.pages + changed.length);
    const calls = Object.values(used)
      .flatMap((byOperation) => Object.values(byOperation))
      .reduce((n, stats) => n + stats.calls, 0);
    expect(calls).toBeLessThanOrEqual(6 * walk.pages + 4 * changed.length);
    expect(Math.max(...walk.replyBytes)).toBeLessThanOrEqual(webSocketLimits.maxMessageBytes);
  }, 120_000);
});

/** Walks every sync page as the SDK does (cursors from `from` on, at most 100), straight on the domain. */
async function walkSync(cursors: Record<string, SyncCursor>) {
  const ids = Object.keys(cursors).sort();
  const entries: Awaited<ReturnType<typeof sync>>['conversations'] = [];
  const replyBytes: number[] = [];
  let from: string | undefined;
  let pages = 0;
  for (;;) {
    const page = ids.filter((id) => from === undefined || id >= from).slice(0, 100);
    const input = {
      from,
      through: page.length === 100 ? page.at(-1) : undefined,
      cursors: Object.fromEntries(page.map((id) => [id, cursors[id]!])),
      limit: 50,
    };
    const reply = await sync(deps, seeder(me), input);
    pages++;
    replyBytes.push(Buffer.byteLength(JSON.stringify({ type: 'sync', requestId: 'r'.repeat(128), ...reply })));
    entries.push(...reply.conversations);
    if (reply.nextFrom === null) return { entries, pages, replyBytes };
    from = reply.nextFrom;
  }
}

function totals(counts: CallCounts) {
  const byOperation: Record<string, { calls: number; items: number }> = {};
  for (const path of Object.values(counts)) {
    for (const [operation, stats] of Object.entries(path)) {
      const total = (byOperation[operation] ??= { calls: 0, items: 0 });
      total.calls += stats.calls;
      total.items += stats.items;
    }
  }
  return byOperation;
}
