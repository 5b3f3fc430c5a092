import { describe, expect, it } from 'vitest';
import { ParleyClient } from '../../client/client.js';
import type { SendAck } from '../../client/protocol.js';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient, recordEvents, seededRandom } from '../../client/testing/harness.js';
import { ManualClock } from '../../client/testing/manual-clock.js';

describe('ParleyClient outbox', () => {
  it('sends, resolves the ack and delivers your own message once, in order', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    server.post('bob', dm.conversationId, 'hi alice');
    await t.clock.advance(0);
    const out = t.client.send(dm.conversationId, 'hi bob', { clientMessageId: 'm-1' });
    expect(out).toMatchObject({ conversationId: dm.conversationId, clientMessageId: 'm-1', body: 'hi bob' });
    await expect(out.acked).resolves.toMatchObject({ seq: 2, duplicate: false, clientMessageId: 'm-1' });
    await t.clock.advance(0);
    expect(t.events.message.map((m) => [m.seq, m.senderId, m.body])).toEqual([
      [1, 'bob', 'hi alice'],
      [2, 'alice', 'hi bob'],
    ]);
    expect(t.client.cursor(dm.conversationId)).toBe(2);
    expect(t.client.pendingMessages()).toEqual([]);
    t.client.close();
  });

  it('queues sends while offline and sends them on connect, in order', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice');
    const acks = ['a', 'b', 'c'].map((body) => t.client.send(dm.conversationId, body).acked);
    expect(t.client.pendingMessages(dm.conversationId).map((m) => m.body)).toEqual(['a', 'b', 'c']);
    await t.clock.advance(1_000);
    expect(server.requestsOf('send')).toEqual([]);
    await connectNow(t);
    expect((await Promise.all(acks)).map((a) => a.seq)).toEqual([1, 2, 3]);
    expect(server.messagesOf(dm.conversationId).map((m) => m.body)).toEqual(['a', 'b', 'c']);
    t.client.close();
  });

  it('keeps one send in flight per conversation so queued order is stored order', async () => {
    const server = new FakeParleyServer();
    const a = server.seedConversation('direct', ['alice', 'bob']);
    const b = server.seedConversation('direct', ['alice', 'carol']);
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    const inFlight: string[] = [];
    const held: Array<() => void> = [];
    server.interceptReply = (connection, request, reply) => {
      if (request.action !== 'send') return;
      held.push(() => connection.deliver(reply));
      return 'drop';
    };
    server.interceptRequest = (_c, r) => void (r.action === 'send' && inFlight.push(String(r.body)));
    t.client.send(a.conversationId, 'a1');
    t.client.send(a.conversationId, 'a2');
    t.client.send(b.conversationId, 'b1');
    await t.clock.advance(0);
    expect(inFlight).toEqual(['a1', 'b1']);
    held.shift()!();
    await t.clock.advance(0);
    expect(inFlight).toEqual(['a1', 'b1', 'a2']);
    t.client.close();
  });

  it('resends with the same clientMessageId when the ack is lost, and the server stores it once', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { requestTimeoutMs: 2_000 });
    await connectNow(t);
    let lose = 2;
    server.interceptReply = (_c, r) => (r.action === 'send' && lose-- > 0 ? 'drop' : undefined);
    const out = t.client.send(dm.conversationId, 'important');
    await t.clock.advance(30_000);
    const ack = await out.acked;
    const sends = server.requestsOf('send');
    expect(sends).toHaveLength(3);
    expect(new Set(sends.map((s) => s.clientMessageId))).toEqual(new Set([out.clientMessageId]));
    expect(new Set(sends.map((s) => s.requestId)).size).toBe(3);
    expect(ack).toMatchObject({ seq: 1, duplicate: true });
    expect(server.messagesOf(dm.conversationId)).toHaveLength(1);
    expect(t.events.message.map((m) => m.seq)).toEqual([1]);
    t.client.close();
  });

  it('resends after a reconnect when the connection dropped before the ack', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    server.interceptReply = (connection, r) => {
      if (r.action !== 'send') return;
      connection.kill(); // stored, but the connection dies before the ack
      return 'drop';
    };
    const out = t.client.send(dm.conversationId, 'while flaky');
    await t.clock.advance(0);
    server.interceptReply = undefined;
    await t.clock.advance(5_000);
    await expect(out.acked).resolves.toMatchObject({ seq: 1 });
    expect(server.connections.length).toBe(2);
    expect(server.messagesOf(dm.conversationId)).toHaveLength(1);
    // Delivered once: by sync (stored before the drop) and again by the duplicate ack, deduped.
    expect(t.events.message.map((m) => m.seq)).toEqual([1]);
    t.client.close();
  });

  it('uses a late ack that arrives after the timeout', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { requestTimeoutMs: 1_000, backoff: { baseMs: 60_000, maxMs: 60_000 }, random: () => 0.5 });
    await connectNow(t);
    let late: (() => void) | undefined;
    server.interceptReply = (connection, r, reply) => {
      if (r.action !== 'send') return;
      late = () => connection.deliver(reply);
      return 'drop';
    };
    const out = t.client.send(dm.conversationId, 'slow');
    await t.clock.advance(1_000); // timed out; next attempt waits 30 s
    late!();
    await t.clock.advance(0);
    await expect(out.acked).resolves.toMatchObject({ seq: 1 });
    await t.clock.advance(60_000);
    expect(server.requestsOf('send')).toHaveLength(1);
    t.client.close();
  });

  it('waits retryAfterMs when rate limited', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    let limited = 1;
    server.interceptRequest = (connection, r) => {
      if (r.action === 'send' && limited-- > 0) {
        connection.deliver({ type: 'error', requestId: r.requestId, code: 'rate_limited', message: 'slow down', retryAfterMs: 7_000 });
        return 'drop';
      }
    };
    const out = t.client.send(dm.conversationId, 'x');
    await t.clock.advance(6_999);
    expect(server.requestsOf('send')).toHaveLength(1);
    await t.clock.advance(1);
    expect(server.requestsOf('send')).toHaveLength(2);
    await expect(out.acked).resolves.toMatchObject({ seq: 1 });
    t.client.close();
  });

  it('gives up on a permanent error, reports it and moves on to the next message', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const theirs = server.seedConversation('direct', ['bob', 'carol']);
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    const refused = t.client.send(theirs.conversationId, 'let me in');
    const fine = t.client.send(dm.conversationId, 'ok');
    await expect(refused.acked).rejects.toMatchObject({ name: 'ParleyError', code: 'forbidden', action: 'send' });
    await expect(fine.acked).resolves.toMatchObject({ seq: 1 });
    expect(t.events.sendFailed).toEqual([expect.objectContaining({ clientMessageId: refused.clientMessageId, body: 'let me in' })]);
    expect(server.requestsOf('send').filter((s) => s.conversationId === theirs.conversationId)).toHaveLength(1);
    t.client.close();
  });

  it('validates the body and clientMessageId before queueing', () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice');
    expect(() => t.client.send('c', '')).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => t.client.send('c', 'x'.repeat(8001))).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => t.client.send('c', 'x', { clientMessageId: 'y'.repeat(65) })).toThrow(/clientMessageId/);
    expect(t.client.pendingMessages()).toEqual([]);
  });

  it('rejects unacked sends on close()', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice');
    const out = t.client.send('dm_x', 'never sent');
    t.client.close();
    await expect(out.acked).rejects.toMatchObject({ code: 'client_closed' });
  });

  it('without a known user id, fetches its own acked message instead of guessing', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const clock = new ManualClock();
    const client = new ParleyClient({
      url: 'wss://x',
      token: () => 'alice',
      WebSocket: server.WebSocket,
      clock,
      random: seededRandom(5),
      gapFillDelayMs: 100,
    });
    const events = recordEvents(client);
    const ready = client.connect();
    await clock.advance(10);
    await ready;
    const ack: SendAck = await client.send(dm.conversationId, 'mine').acked;
    await clock.advance(100);
    expect(events.message).toEqual([expect.objectContaining({ seq: ack.seq, senderId: 'alice', body: 'mine' })]);
    expect(server.requestsOf('history')).toHaveLength(1);
    client.close();
  });

  it('across many random connection kills, every queued message is stored exactly once and in order', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { requestTimeoutMs: 3_000, backoff: { baseMs: 100, maxMs: 2_000 } });
    await connectNow(t);
    const random = seededRandom(99);
    server.interceptReply = (connection, r) => {
      if (random() < 0.2) connection.kill();
      if (r.action === 'send' && random() < 0.2) return 'drop';
    };
    const acks = Array.from({ length: 40 }, (_, i) => t.client.send(dm.conversationId, `m${i}`).acked);
    for (let i = 0; i < 200 && t.client.pendingMessages().length > 0; i++) await t.clock.advance(500);
    server.interceptReply = undefined;
    await t.clock.advance(10_000);
    const stored = server.messagesOf(dm.conversationId);
    expect(stored.map((m) => m.body)).toEqual(Array.from({ length: 40 }, (_, i) => `m${i}`));
    expect((await Promise.all(acks)).map((a) => a.seq)).toEqual(stored.map((m) => m.seq));
    expect(t.events.message.map((m) => m.seq)).toEqual(stored.map((m) => m.seq));
    expect(server.connections.length).toBeGreaterThan(3);
    t.client.close();
  });
});
