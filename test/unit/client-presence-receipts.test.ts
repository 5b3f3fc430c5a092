import { describe, expect, it } from 'vitest';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient } from '../../client/testing/harness.js';
import { ManualClock } from '../../client/testing/manual-clock.js';

describe('ParleyClient receipts, presence and typing', () => {
  it('acks delivery automatically, coalesced to the highest delivered seq', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    for (let i = 0; i < 5; i++) server.postSilently('bob', dm.conversationId, `m${i}`);
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    expect(server.requestsOf('ack')).toEqual([expect.objectContaining({ conversationId: dm.conversationId, kind: 'delivered', seq: 5 })]);
    expect(server.receiptOf(dm.conversationId, 'alice')).toEqual({ lastDeliveredSeq: 5, lastReadSeq: 0 });
    t.client.close();
  });

  it('does not ack delivery of only your own messages, and can be switched off', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { autoDeliveredReceipts: false });
    await connectNow(t);
    server.post('bob', dm.conversationId, 'x');
    await t.client.send(dm.conversationId, 'y').acked;
    await t.clock.advance(100);
    expect(server.requestsOf('ack')).toEqual([]);
    t.client.close();
  });

  it('does not ack delivery automatically in groups larger than autoDeliveredMaxMembers', async () => {
    const server = new FakeParleyServer();
    const big = server.seedConversation('group', ['alice', 'bob', 'carol', 'dave']);
    const small = server.seedConversation('group', ['alice', 'bob', 'carol']);
    for (const conversation of [big, small]) server.postSilently('bob', conversation.conversationId, 'hi');
    const t = createTestClient(server, 'alice', { autoDeliveredMaxMembers: 3 });
    await connectNow(t);
    expect(server.requestsOf('ack')).toEqual([expect.objectContaining({ conversationId: small.conversationId, kind: 'delivered' })]);
    t.client.close();
  });

  it('marks read and shows the sender a read receipt', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const clock = new ManualClock();
    const alice = createTestClient(server, 'alice', { clock });
    const bob = createTestClient(server, 'bob', { clock });
    await connectNow(alice);
    await connectNow(bob);
    const { seq } = await alice.client.send(dm.conversationId, 'did you read this?').acked;
    await clock.advance(10);
    expect(bob.events.message.map((m) => m.body)).toEqual(['did you read this?']);
    // Bob's client acked delivery on its own:
    expect(alice.client.receiptsOf(dm.conversationId)).toContainEqual(expect.objectContaining({ userId: 'bob', lastDeliveredSeq: seq, lastReadSeq: 0 }));
    await bob.client.markRead(dm.conversationId, seq);
    await clock.advance(10);
    expect(alice.events.receipt.at(-1)).toEqual({ conversationId: dm.conversationId, userId: 'bob', lastDeliveredSeq: seq, lastReadSeq: seq });
    // Already read: no second request.
    await bob.client.markRead(dm.conversationId, seq);
    expect(server.requestsOf('ack').filter((a) => a.kind === 'read')).toHaveLength(1);
    alice.client.close();
    bob.client.close();
  });

  it('never moves a receipt backwards when pushes arrive out of order', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    for (let i = 0; i < 5; i++) server.postSilently('alice', dm.conversationId, `m${i}`);
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    const connection = server.live[0]!;
    const receipt = (d: number, r: number) => ({ type: 'receipt', conversationId: dm.conversationId, userId: 'bob', lastDeliveredSeq: d, lastReadSeq: r });
    connection.deliver(receipt(5, 4));
    connection.deliver(receipt(3, 2));
    connection.deliver(receipt(5, 4));
    await t.clock.advance(0);
    expect(t.client.receiptsOf(dm.conversationId)).toContainEqual({ conversationId: dm.conversationId, userId: 'bob', lastDeliveredSeq: 5, lastReadSeq: 4 });
    expect(t.events.receipt.filter((r) => r.userId === 'bob')).toHaveLength(1);
    t.client.close();
  });

  it('learns receipts from sync', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const clock = new ManualClock();
    const bob = createTestClient(server, 'bob', { clock });
    await connectNow(bob);
    await bob.client.send(dm.conversationId, 'one').acked;
    const alice = createTestClient(server, 'alice', { clock });
    await connectNow(alice);
    await alice.client.markRead(dm.conversationId, 1);
    bob.client.close();
    const bob2 = createTestClient(server, 'bob', { clock });
    await connectNow(bob2);
    expect(bob2.client.receiptsOf(dm.conversationId)).toContainEqual(expect.objectContaining({ userId: 'alice', lastReadSeq: 1 }));
    alice.client.close();
    bob2.client.close();
  });

  it('tracks presence from sync, pushes and explicit lookups', async () => {
    const server = new FakeParleyServer();
    server.seedConversation('direct', ['alice', 'bob']);
    const clock = new ManualClock();
    const alice = createTestClient(server, 'alice', { clock });
    await connectNow(alice);
    expect(alice.client.presenceOf('bob')).toEqual({ userId: 'bob', status: 'offline', lastSeenAt: null });

    const bob = createTestClient(server, 'bob', { clock });
    await connectNow(bob);
    expect(alice.client.presenceOf('bob')?.status).toBe('online');
    expect(alice.events.presence.at(-1)).toMatchObject({ userId: 'bob', status: 'online' });
    bob.client.close();
    await clock.advance(10);
    expect(alice.client.presenceOf('bob')).toMatchObject({ status: 'offline', lastSeenAt: expect.any(String) });

    await expect(alice.client.fetchPresence(['bob', 'stranger'])).resolves.toEqual([
      expect.objectContaining({ userId: 'bob', status: 'offline' }),
      { userId: 'stranger', status: 'unknown', lastSeenAt: null },
    ]);
    alice.client.close();
  });

  it('sends typing start throttled and stop once', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { typingThrottleMs: 3_000 });
    await connectNow(t);
    for (let i = 0; i < 10; i++) {
      t.client.setTyping(dm.conversationId, true);
      await t.clock.advance(500);
    }
    t.client.setTyping(dm.conversationId, false);
    t.client.setTyping(dm.conversationId, false);
    await t.clock.advance(0);
    expect(server.requestsOf('typing').map((r) => r.state)).toEqual(['start', 'start', 'stop']);
    t.client.close();
  });

  it('shows remote typing and clears it after the timeout when the stop is lost', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const clock = new ManualClock();
    const alice = createTestClient(server, 'alice', { clock, typingTimeoutMs: 8_000 });
    const bob = createTestClient(server, 'bob', { clock });
    await connectNow(alice);
    await connectNow(bob);
    bob.client.setTyping(dm.conversationId, true);
    await clock.advance(10);
    expect(alice.client.typingIn(dm.conversationId)).toEqual(['bob']);
    expect(alice.events.typing).toEqual([{ conversationId: dm.conversationId, userId: 'bob', state: 'start' }]);
    bob.client.setTyping(dm.conversationId, false);
    await clock.advance(10);
    expect(alice.client.typingIn(dm.conversationId)).toEqual([]);

    server.interceptPush = (_c, f) => (f.type === 'typing' && f.state === 'stop' ? 'drop' : undefined);
    bob.client.setTyping(dm.conversationId, true);
    await clock.advance(10);
    bob.client.setTyping(dm.conversationId, false);
    await clock.advance(7_000);
    expect(alice.client.typingIn(dm.conversationId)).toEqual(['bob']);
    await clock.advance(1_000);
    expect(alice.client.typingIn(dm.conversationId)).toEqual([]);
    expect(alice.events.typing.at(-1)).toMatchObject({ userId: 'bob', state: 'stop' });
    alice.client.close();
    bob.client.close();
  });

  it('learns conversations from pushes and create calls', async () => {
    const server = new FakeParleyServer();
    const clock = new ManualClock();
    const alice = createTestClient(server, 'alice', { clock });
    const bob = createTestClient(server, 'bob', { clock });
    await connectNow(alice);
    await connectNow(bob);
    const group = await alice.client.createGroup('Launch', ['bob']);
    await clock.advance(10);
    expect(bob.events.conversation).toEqual([expect.objectContaining({ conversationId: group.conversationId, title: 'Launch' })]);
    await alice.client.addMembers(group.conversationId, ['carol']);
    await clock.advance(10);
    expect(bob.client.conversation(group.conversationId)?.members).toEqual(['alice', 'bob', 'carol']);
    expect(bob.events.conversation).toHaveLength(2);
    const dm = await bob.client.createDirect('alice');
    expect(dm.kind).toBe('direct');
    expect(
      bob.client
        .knownConversations()
        .map((c) => c.conversationId)
        .sort(),
    ).toEqual([dm.conversationId, group.conversationId].sort());
    alice.client.close();
    bob.client.close();
  });
});
