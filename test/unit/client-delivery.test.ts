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
    // The server pushes asynchronously, as the real one does: let it, so every push is held.
    await t.clock.advance(0);
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

  it('counts a skipped seq as seen without showing it, and delivers what follows', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { gapFillDelayMs: 250 });
    await connectNow(t);
    server.post('bob', dm.conversationId, 'one');
    expect(server.skipSeq(dm.conversationId)).toBe(2);
    server.post('bob', dm.conversationId, 'three');
    await t.clock.advance(1000);
    expect(seqsOf(t.events.message)).toEqual([1, 3]);
    expect(t.events.timelineEvent).toEqual([]);
    expect(server.requestsOf('history')).toHaveLength(1);
    expect(t.client.cursor(dm.conversationId)).toBe(3);
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
    expect(server.requestsOf('history')).toEqual([expect.objectContaining({ conversationId: dm.conversationId, beforeSeq: 4, limit: 2 })]);
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
    server.live
      .find((c) => c.userId === 'alice')!
      .deliver({
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
    expect(server.requestsOf('sync')[1]!.cursors).toEqual({
      [dm.conversationId]: { seq: 3, epoch: dm.epoch },
      [grp.conversationId]: { seq: 0, epoch: null },
    });
    expect(seqsOf(t.events.message, dm.conversationId)).toEqual(range(1, 6));
    expect(seqsOf(t.events.message, grp.conversationId)).toEqual([1]);
    expect(t.events.synced).toHaveLength(2);
    t.client.close();
  });

  it('walks the pages with nextFrom, sending each page only the cursors it covers, and revisits a cut conversation', async () => {
    const server = new FakeParleyServer();
    // 150 conversations: two pages of memberships; the first one has 40 messages of 8,000 characters, far more
    // than one 128 KB reply holds, so it is cut and continued.
    const ids = Array.from({ length: 150 }, (_, i) => server.seedConversation('direct', ['alice', `p${String(i).padStart(3, '0')}`]).conversationId);
    const first = [...ids].sort()[0]!;
    for (let i = 0; i < 40; i++) server.postSilently('x', first, `${i}:`.padEnd(8000, 'a'));
    for (const id of ids) if (id !== first) server.postSilently('y', id, 'hi');
    const t = createTestClient(server, 'alice', { syncLimit: 100 });
    await connectNow(t);
    expect(seqsOf(t.events.message, first)).toEqual(range(1, 40));
    for (const id of ids) if (id !== first) expect(seqsOf(t.events.message, id)).toEqual([1]);
    expect(t.events.limited).toEqual([]);
    const syncs = server.requestsOf('sync').map((r) => ({ from: r.from, cursors: Object.keys(r.cursors as object).length }));
    // The cut conversation is asked for again with its advanced cursor until it is complete; pages only move forward.
    expect(syncs[0]).toEqual({ from: undefined, cursors: 0 });
    const froms = syncs.map((sync) => sync.from ?? '');
    expect(froms).toEqual([...froms].sort());
    expect(syncs.filter((sync) => sync.from === first && sync.cursors === 1).length).toBeGreaterThanOrEqual(2);
    expect(syncs.at(-1)!.from! > first).toBe(true);
    t.client.close();
  });

  it('shows only the newest messages of a conversation that missed more than syncLimit, and says what it skipped', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    for (let i = 1; i <= 250; i++) server.postSilently('bob', dm.conversationId, `m${i}`);
    const t = createTestClient(server, 'alice', { syncLimit: 20 });
    await connectNow(t);
    expect(seqsOf(t.events.message)).toEqual(range(231, 250));
    expect(t.events.limited).toEqual([{ conversationId: dm.conversationId, fromSeq: 1, toSeq: 230 }]);
    expect(t.client.cursor(dm.conversationId)).toBe(250);
    // Live delivery continues from the newest; the skipped range is read with history, not emitted.
    server.post('bob', dm.conversationId, 'live');
    await t.clock.advance(0);
    expect(seqsOf(t.events.message).at(-1)).toBe(251);
    const older = await t.client.history(dm.conversationId, { beforeSeq: 231, limit: 10 });
    expect(older.messages.map((m) => m.seq)).toEqual(range(221, 230));
    expect(seqsOf(t.events.message)).toHaveLength(21);
    t.client.close();
  });

  it('resets a conversation recreated in another epoch and delivers its new messages instead of dropping them', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    for (let i = 1; i <= 5; i++) server.postSilently('bob', dm.conversationId, `old ${i}`);
    const cursorStore = new MemoryCursorStore();
    const t = createTestClient(server, 'alice', { cursorStore });
    await connectNow(t);
    expect(t.client.cursor(dm.conversationId)).toBe(5);
    t.client.close();
    await t.clock.advance(0);

    server.recreateConversation(dm.conversationId);
    for (let i = 1; i <= 2; i++) server.postSilently('bob', dm.conversationId, `new ${i}`);
    const again = createTestClient(server, 'alice', { cursorStore });
    await connectNow(again);
    expect(again.events.reset).toEqual([{ conversationId: dm.conversationId }]);
    expect(again.events.message.map((m) => m.body)).toEqual(['new 1', 'new 2']);
    expect(cursorStore.load()[dm.conversationId]).toEqual({ seq: 2, epoch: expect.any(String) });
    again.client.close();
  });

  it('does not loop forever on a server whose pages make no progress', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice');
    server.interceptReply = (_c, r, reply) => (r.action === 'sync' ? { ...reply, conversations: [], nextFrom: dm.conversationId } : undefined);
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
      r.action === 'sync' && failures-- > 0 ? { type: 'error', requestId: r.requestId, code: 'internal', message: 'boom' } : undefined;
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
    expect(JSON.parse(storage.get('cursors:alice')!)).toEqual({ [dm.conversationId]: { seq: 5, epoch: dm.epoch } });

    server.postSilently('bob', dm.conversationId, 'm6');
    const second = createTestClient(server, 'alice', { cursorStore: new StorageCursorStore(localStorageLike, 'cursors:alice') });
    await connectNow(second);
    expect(server.requestsOf('sync').at(-1)!.cursors).toEqual({ [dm.conversationId]: { seq: 5, epoch: dm.epoch } });
    expect(seqsOf(second.events.message)).toEqual([6]);
    second.client.close();
  });

  it('treats a corrupt stored cursor entry as empty rather than failing', async () => {
    const store = new StorageCursorStore({ getItem: () => '{not json', setItem: () => undefined }, 'k');
    await expect(store.load()).resolves.toEqual({});
    const stored = '{"a":3,"b":-1,"c":"x","d":{"seq":4,"epoch":"e1"},"e":{"seq":1,"epoch":7}}';
    const store2 = new StorageCursorStore({ getItem: async () => stored, setItem: async () => undefined }, 'k');
    // A bare number is a cursor stored by an older SDK: kept, with an unknown epoch.
    await expect(store2.load()).resolves.toEqual({ a: { seq: 3, epoch: null }, d: { seq: 4, epoch: 'e1' } });
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
