/** The SDK learns the server's limits from `hello`: sent first on every connection, defaults until it replies. */
import { describe, expect, it } from 'vitest';
import { defaultClientLimits } from '../../client/protocol.js';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient } from '../../client/testing/harness.js';

describe('ParleyClient hello', () => {
  it('sends hello first on every connection and then respects the server’s limits', async () => {
    const server = new FakeParleyServer({ limits: { maxBodyChars: 10, maxFrameBytes: 2048 } });
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice');
    expect(t.client.limits).toEqual(defaultClientLimits);
    await connectNow(t);
    expect(server.connections[0]?.received[0]).toMatchObject({ action: 'hello' });
    expect(t.client.limits).toMatchObject({ maxBodyChars: 10, maxFrameBytes: 2048, maxSyncCursors: 100 });
    expect(() => t.client.send(dm.conversationId, 'x'.repeat(11))).toThrow(/body must be 1–10 characters/);
    await expect(t.client.fetchPresence(Array.from({ length: 100 }, (_, i) => `user-with-a-long-name-${i}`))).rejects.toMatchObject({
      code: 'payload_too_large',
    });
    const { acked } = t.client.send(dm.conversationId, 'x'.repeat(10));
    await t.clock.advance(0);
    await expect(acked).resolves.toMatchObject({ seq: 1 });

    server.killAll();
    await connectNow(t);
    expect(server.connections.at(-1)?.received[0]).toMatchObject({ action: 'hello' });
    t.client.close();
  });

  it('keeps the defaults when the server does not know hello', async () => {
    const server = new FakeParleyServer({ limits: { maxBodyChars: 10 } });
    server.interceptReply = (_connection, request, reply) =>
      request.action === 'hello' ? { type: 'error', requestId: request.requestId, code: 'unknown_action', message: 'unknown action' } : reply;
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    expect(t.client.status.state).toBe('online');
    expect(t.client.limits).toEqual(defaultClientLimits);
    t.client.close();
  });

  it('sends automatic delivered receipts only up to the server’s receiptPushMaxMembers', async () => {
    const server = new FakeParleyServer({ limits: { receiptPushMaxMembers: 2 } });
    const small = server.seedConversation('direct', ['alice', 'bob']);
    const large = server.seedConversation('group', ['alice', 'bob', 'carol'], 'Three');
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    server.post('bob', small.conversationId, 'hi');
    server.post('bob', large.conversationId, 'hi all');
    await t.clock.advance(1000);
    const acks = server.requests.filter((r) => r.frame.action === 'ack').map((r) => r.frame.conversationId);
    expect(acks).toEqual([small.conversationId]);
    t.client.close();
  });
});
