import { describe, expect, it } from 'vitest';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient, drive } from '../../client/testing/harness.js';
import { connected } from '../../lambdas/domain/presence.js';

const day = 24 * 3600 * 1000;

describe('ParleyClient and retention', () => {
  it('stops filling a gap at the retention horizon: expired once, never asks again, later seqs in order', async () => {
    let serverTime = Date.parse('2026-12-01T10:00:00.000Z');
    const server = new FakeParleyServer({ now: () => serverTime });
    const alice = createTestClient(server, 'alice');
    const bob = createTestClient(server, 'bob', { clock: alice.clock });
    await connectNow(alice);
    await connectNow(bob);
    const group = await drive(alice.clock, alice.client.createGroup('short memory', ['bob']));
    const id = group.conversationId;
    const updated = await drive(alice.clock, alice.client.updateConversation(id, { retentionDays: 1 })); // seq 1
    expect(updated.retentionDays).toBe(1);
    await alice.clock.advance(500);

    // Bob misses seqs 2 and 3; by the time he notices, they expired.
    server.interceptPush = (connection, frame) => (connection.userId === 'bob' && frame.type === 'message' ? 'drop' : undefined);
    await drive(alice.clock, alice.client.send(id, 'gone 1').acked);
    await drive(alice.clock, alice.client.send(id, 'gone 2').acked);
    server.interceptPush = undefined;
    serverTime += 2 * day;
    // Their heartbeats keep both online on the server's new day. On AWS no connection lives 2 days: bob's group
    // connection index entry expired with the 2-hour limit, so his connection registers again as a new one would.
    await connected(server.deps, server.connections.filter((c) => c.userId === 'bob' && c.open).at(-1)!.caller);
    await alice.clock.advance(5 * 60_000);
    await drive(alice.clock, alice.client.send(id, 'after 1').acked); // seq 4: bob sees the gap 2-3
    await alice.clock.advance(2000);
    await drive(alice.clock, alice.client.send(id, 'after 2').acked); // seq 5
    await alice.clock.advance(2000);

    expect(bob.events.expired).toEqual([{ conversationId: id, expiredBefore: 4 }]);
    expect(bob.events.message.map((m) => [m.seq, m.body])).toEqual([
      [4, 'after 1'],
      [5, 'after 2'],
    ]);
    const historyRequests = () => server.requests.filter((r) => r.userId === 'bob' && r.frame.action === 'history');
    expect(historyRequests()).toHaveLength(1);

    // A reconnect resumes after the horizon: no marker again, no request for the expired seqs.
    bob.client.close();
    const carol = createTestClient(server, 'bob', { clock: alice.clock });
    await connectNow(carol);
    await alice.clock.advance(2000);
    expect(historyRequests()).toHaveLength(1);
    alice.client.close();
    carol.client.close();
  });

  it('takes the horizon from a catch-up sync: expired once, then the readable messages in order', async () => {
    let serverTime = Date.parse('2026-12-01T10:00:00.000Z');
    const server = new FakeParleyServer({ now: () => serverTime });
    const alice = createTestClient(server, 'alice');
    await connectNow(alice);
    const group = await drive(alice.clock, alice.client.createGroup('short memory', ['bob']));
    const id = group.conversationId;
    await drive(alice.clock, alice.client.updateConversation(id, { retentionDays: 1 }));
    await drive(alice.clock, alice.client.send(id, 'old').acked);
    serverTime += 2 * day;
    await drive(alice.clock, alice.client.send(id, 'new 1').acked);
    await drive(alice.clock, alice.client.send(id, 'new 2').acked);

    const bob = createTestClient(server, 'bob', { clock: alice.clock });
    await connectNow(bob);
    await alice.clock.advance(2000);
    expect(bob.events.expired).toEqual([{ conversationId: id, expiredBefore: 3 }]);
    expect(bob.events.message.map((m) => m.body)).toEqual(['new 1', 'new 2']);
    expect(server.requests.filter((r) => r.userId === 'bob' && r.frame.action === 'history')).toHaveLength(0);
    // Scrolling back reports the horizon instead of older pages.
    expect(await drive(alice.clock, bob.client.history(id, { beforeSeq: 3 }))).toEqual({ messages: [], nextBeforeSeq: null, expiredBefore: 3 });
    expect(bob.events.expired).toHaveLength(1);
    alice.client.close();
    bob.client.close();
  });
});
