import { describe, expect, it } from 'vitest';
import { MemoryCursorStore, StorageCursorStore } from '../../client/cursor-store.js';
import type { Message } from '../../client/protocol.js';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient, seededRandom } from '../../client/testing/harness.js';

const seqsOf = (messages: Message[], conversationId?: string) =>
  messages.filter((m) => !conversationId || m.conversationId === conversationId).map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('ParleyClient ordered delivery', () => {
  it('delivers pushes in seq order even when they arrive shuffled and duplicated', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { gapFillDelayMs: 10_000 });
    await connectNow(t);
    const held: Array<() => void> = [];
    server.interceptPush = (connection, frame) => {
      held.push(() => connection.deliver(frame));
      return 'drop';
    };
    for (let i = 1; i <= 30; i++) server.post('bob', dm.conversationId, `m${i}`);
    server.interceptPush = undefined;
    const random = seededRandom(11);
    const order = [...held, ...held.slice(0, 10)].sort(() => random() - 0.5);
    for (const deliver of order) {
      deliver();
      await t.clock.advance(1);
    }
    expect(seqsOf(t.events.message)).toEqual(range(1, 30));
    expect(t.events.message.map((m) => m.body)).toEqual(range(1, 30).map((i) => `m${i}`));
    expect(server.requestsOf('history')).toEqual([]); // everything arrived within the grace period
    t.client.close();
  });

  it('fetches a gap with history when a push is lost', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { gapFillDelayMs: 250 });
    await connectNow(t);
    server.post('bob', dm.conversationId, 'one');
    server.postSilently('bob', dm.conversationId, 'two (push lost)');
    server.postSilently('bob', dm.conversationId, 'three (push lost)');
    server.post('bob', dm.conversationId, 'four');
    await t.clock.advance(0);
    expect(seqsOf(t.events.message)).toEqual([1]);
    await t.clock.advance(250);
    expect(seqsOf(t.events.message)).toEqual([1, 2, 3, 4]);
    expect(server.requestsOf('history')).toEqual([
      expect.objectContaining({ conversationId: dm.conversationId, beforeSeq: 4, limit: 2 }),
    ]);
    t.client.close();
  });

  it('fills a gap larger than one history page, oldest page first', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { gapFillDelayMs: 50 });
    await connectNow(t);
    for (let i = 1; i <= 250; i++) server.postSilently('bob', dm.conversationId, `m${i}`);
    server.post('bob', dm.conversationId, 'm251');
    await t.clock.advance(1_000);
    expect(seqsOf(t.events.message)).toEqual(range(1, 251));
    expect(server.requestsOf('history').map((r) => [r.beforeSeq, r.limit])).toEqual([
      [101, 100],
      [201, 100],
      [251, 50],
    ]);
    t.client.close();
  });

  it('notices a lost last message from a member’s receipt and fetches it', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { gapFillDelayMs: 100 });
    await connectNow(t);
    server.post('bob', dm.conversationId, 'one');
    server.postSilently('bob', dm.conversationId, 'two');
    await t.clock.advance(500);
    expect(seqsOf(t.events.message)).toEqual([1]);
    // Bob's other device reports it received #2: #2 exists, so Alice must have it too.
    server.live.find((c) => c.userId === 'alice')!.deliver({
      type: 'receipt',
      conversationId: dm.conversationId,
      userId: 'bob',
      lastDeliveredSeq: 2,
      lastReadSeq: 2,
    });
    await t.clock.advance(100);
    expect(seqsOf(t.events.message)).toEqual([1, 2]);
    t.client.close();
  });

  it('backs off when gap fetches keep failing, and recovers', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { gapFillDelayMs: 100, random: () => 0.999 });
    await connectNow(t);
    server.interceptReply = (_c, r) =>
      r.action === 'history' ? { type: 'error', requestId: r.requestId, code: 'unavailable', message: 'throttled' } : undefined;
    server.postSilently('bob', dm.conversationId, 'one');
    server.post('bob', dm.conversationId, 'two');
    await t.clock.advance(10_000);
    const attempts = server.requestsOf('history').length;
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(attempts).toBeLessThan(10); // 100 ms fixed retries would have made ~100
    server.interceptReply = undefined;
    await t.clock.advance(60_000);
    expect(seqsOf(t.events.message)).toEqual([1, 2]);
    t.client.close();
  });

  it('resumes from its cursors after a reconnect and delivers the missed messages once', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const grp = server.seedConversation('group', ['carol', 'alice'], 'G');
    const t = createTestClient(server, 'alice');
    for (let i = 1; i <= 3; i++) server.postSilently('bob', dm.conversationId, `d${i}`);
    await connectNow(t);
    expect(seqsOf(t.events.message, dm.conversationId)).toEqual([1, 2, 3]);
    expect(server.requestsOf('sync')[0]!.cursors).toEqual({});

    server.killAll();
    for (let i = 4; i <= 6; i++) server.postSilently('bob', dm.conversationId, `d${i}`);
    server.postSilently('carol', grp.conversationId, 'g1');
    await t.clock.advance(60_000);
    expect(t.client.status.state).toBe('online');
    expect(server.requestsOf('sync')[1]!.cursors).toEqual({ [dm.conversationId]: 3, [grp.conversationId]: 0 });
    expect(seqsOf(t.events.message, dm.conversationId)).toEqual(range(1, 6));
    expect(seqsOf(t.events.message, grp.conversationId)).toEqual([1]);
    expect(t.events.synced).toHaveLength(2);
    t.client.close();
  });

  it('follows hasMore with advanced cursors and nextPage with the same cursors', async () => {
    const server = new FakeParleyServer({ syncPageSize: 2 });
    const ids: string[] = [];
    for (const peer of ['b', 'c', 'd', 'e', 'f']) ids.push(server.seedConversation('direct', ['alice', peer]).conversationId);
    for (let i = 0; i < 250; i++) server.postSilently('b', ids[0]!, `x${i}`);
    for (const id of ids.slice(1)) server.postSilently('c', id, 'hi');
    const t = createTestClient(server, 'alice', { syncLimit: 100 });
    await connectNow(t);
    expect(seqsOf(t.events.message, ids[0])).toEqual(range(1, 250));
    for (const id of ids.slice(1)) expect(seqsOf(t.events.message, id)).toEqual([1]);
    const syncs = server.requestsOf('sync').map((r) => ({ cursors: r.cursors, page: r.page }));
    // Pass 1: three pages with the same (empty) cursors; then hasMore passes for the long conversation.
    expect(syncs.slice(0, 3)).toEqual([
      { cursors: {}, page: undefined },
      { cursors: {}, page: '2' },
      { cursors: {}, page: '4' },
    ]);
    expect(syncs[3]!.cursors).toMatchObject({ [ids[0]!]: 100 });
    expect(syncs[4]!.cursors).toMatchObject({ [ids[0]!]: 200 });
    expect(syncs).toHaveLength(5);
    t.client.close();
  });

  it('does not loop forever on a server that says hasMore without progress', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice');
    server.interceptReply = (_c, r, reply) =>
      r.action === 'sync'
        ? { ...reply, conversations: [{ conversation: { ...dm, lastSeq: 5 }, messages: [], hasMore: true }] }
        : undefined;
    void t.client.connect();
    await t.clock.advance(5_000);
    expect(t.events.error.some((e) => /no progress/.test(e.message))).toBe(true);
    expect(t.client.status.state).not.toBe('online');
    t.client.close();
  });

  it('retries the whole catch-up on a new connection when sync fails', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    server.postSilently('bob', dm.conversationId, 'hi');
    const t = createTestClient(server, 'alice');
    let failures = 1;
    server.interceptReply = (_c, r) =>
      r.action === 'sync' && failures-- > 0
        ? { type: 'error', requestId: r.requestId, code: 'internal', message: 'boom' }
        : undefined;
    await connectNow(t);
    expect(server.connections).toHaveLength(2);
    expect(seqsOf(t.events.message)).toEqual([1]);
    t.client.close();
  });

  it('persists cursors so a new client instance (page reload) resumes instead of re-delivering', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const storage = new Map<string, string>();
    const localStorageLike = { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => void storage.set(k, v) };
    for (let i = 1; i <= 5; i++) server.postSilently('bob', dm.conversationId, `m${i}`);

    const first = createTestClient(server, 'alice', { cursorStore: new StorageCursorStore(localStorageLike, 'cursors:alice') });
    await connectNow(first);
    expect(seqsOf(first.events.message)).toEqual(range(1, 5));
    first.client.close();
    await first.clock.advance(0);
    expect(JSON.parse(storage.get('cursors:alice')!)).toEqual({ [dm.conversationId]: 5 });

    server.postSilently('bob', dm.conversationId, 'm6');
    const second = createTestClient(server, 'alice', { cursorStore: new StorageCursorStore(localStorageLike, 'cursors:alice') });
    await connectNow(second);
    expect(server.requestsOf('sync').at(-1)!.cursors).toEqual({ [dm.conversationId]: 5 });
    expect(seqsOf(second.events.message)).toEqual([6]);
    second.client.close();
  });

  it('treats a corrupt stored cursor entry as empty rather than failing', async () => {
    const store = new StorageCursorStore({ getItem: () => '{not json', setItem: () => undefined }, 'k');
    await expect(store.load()).resolves.toEqual({});
    const store2 = new StorageCursorStore({ getItem: async () => '{"a":3,"b":-1,"c":"x"}', setItem: async () => undefined }, 'k');
    await expect(store2.load()).resolves.toEqual({ a: 3 });
  });

  it('drops pushes of messages already delivered by sync (at-least-once push)', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { cursorStore: new MemoryCursorStore() });
    await connectNow(t);
    const message = server.post('bob', dm.conversationId, 'once');
    await t.clock.advance(0);
    const connection = server.live[0]!;
    connection.deliver({ type: 'message', message });
    connection.deliver({ type: 'message', message });
    await t.clock.advance(1_000);
    expect(t.events.message).toHaveLength(1);
    t.client.close();
  });
});
