import { describe, expect, it } from 'vitest';
import { ParleyError } from '../../client/errors.js';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient } from '../../client/testing/harness.js';

describe('ParleyClient requests', () => {
  it('correlates replies by requestId even when they arrive out of order', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    const held: Array<() => void> = [];
    server.interceptReply = (connection, _request, reply) => {
      held.push(() => connection.deliver(reply));
      return 'drop';
    };
    const presence = t.client.fetchPresence(['bob']);
    const history = t.client.history(dm.conversationId);
    const list = t.client.listConversations();
    await t.clock.advance(0);
    expect(held).toHaveLength(3);
    for (const deliver of held.reverse()) deliver();
    await expect(presence).resolves.toEqual([{ userId: 'bob', status: 'offline', lastSeenAt: null }]);
    await expect(history).resolves.toEqual({ messages: [], nextBeforeSeq: null });
    await expect(list).resolves.toMatchObject({ conversations: [{ conversationId: dm.conversationId }] });
    const ids = server.requests.slice(-3).map((r) => r.frame.requestId);
    expect(new Set(ids).size).toBe(3);
    t.client.close();
  });

  it('resends a history read soon when API Gateway answers with its own error frame (a throttled function)', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    server.post('bob', dm.conversationId, 'hi');
    const t = createTestClient(server, 'alice', { requestTimeoutMs: 10_000 });
    await connectNow(t);
    let refused = 0;
    server.interceptRequest = (connection, request) => {
      if (request.action !== 'history' || refused++ > 0) return undefined;
      // API Gateway's frame: no type, and a requestId of its own.
      connection.deliver({ message: 'Internal server error', connectionId: 'abc=', requestId: 'Apigw1=' });
      return 'drop';
    };
    const history = t.client.history(dm.conversationId);
    // Well within the request timeout (10 s): the backoff of the first resend is under 1 s.
    await t.clock.advance(1_000);
    await expect(history).resolves.toMatchObject({ messages: [expect.objectContaining({ body: 'hi' })] });
    expect(server.requestsOf('history')).toHaveLength(2);
    expect(new Set(server.requestsOf('history').map((r) => r.requestId)).size, 'the same requestId').toBe(1);
    expect(t.events.error).toEqual([]);
    t.client.close();
  });

  it('rejects with a ParleyError carrying the server’s code', async () => {
    const server = new FakeParleyServer();
    const grp = server.seedConversation('group', ['bob', 'carol'], 'Secret');
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    const error = await t.client.history(grp.conversationId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParleyError);
    expect(error).toMatchObject({ code: 'forbidden', action: 'history', retryable: false });
    expect((error as ParleyError).requestId).toMatch(/^c\d+$/);
    expect((error as Error).message).toContain('not a member');
    t.client.close();
  });

  it('times out a request that gets no reply, with code `timeout`', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice', { requestTimeoutMs: 4_000 });
    await connectNow(t);
    server.interceptRequest = (_c, r) => (r.action === 'presence' ? 'drop' : undefined);
    const settled: unknown[] = [];
    t.client.fetchPresence(['bob']).catch((e: unknown) => settled.push(e));
    await t.clock.advance(3_999);
    expect(settled).toEqual([]);
    await t.clock.advance(1);
    expect(settled[0]).toMatchObject({ code: 'timeout', action: 'presence', retryable: true });
    t.client.close();
  });

  it('honours a per-request timeout', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice', { requestTimeoutMs: 60_000 });
    await connectNow(t);
    server.interceptRequest = () => 'drop';
    const p = t.client.request('presence', { userIds: ['bob'] }, { timeoutMs: 100 });
    const result = p.catch((e: unknown) => e);
    await t.clock.advance(100);
    expect(await result).toMatchObject({ code: 'timeout' });
    t.client.close();
  });

  it('ignores a late reply after its timeout', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice', { requestTimeoutMs: 1_000 });
    await connectNow(t);
    let late: (() => void) | undefined;
    server.interceptReply = (connection, _r, reply) => {
      late = () => connection.deliver(reply);
      return 'drop';
    };
    const p = t.client.fetchPresence(['bob']).catch((e: unknown) => e);
    await t.clock.advance(1_000);
    expect(await p).toMatchObject({ code: 'timeout' });
    late!();
    await t.clock.advance(0);
    expect(t.events.error).toEqual([]);
    t.client.close();
  });

  it('rejects in-flight requests with `connection_lost` when the connection drops', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    server.interceptReply = () => 'drop';
    const p = t.client.fetchPresence(['bob']).catch((e: unknown) => e);
    await t.clock.advance(0);
    server.killAll();
    expect(await p).toMatchObject({ code: 'connection_lost', retryable: true });
    t.client.close();
  });

  it('holds requests made while offline and sends them once connected', async () => {
    const server = new FakeParleyServer();
    server.seedConversation('direct', ['alice', 'bob']);
    const t = createTestClient(server, 'alice', { requestTimeoutMs: 30_000 });
    const list = t.client.listConversations();
    await t.clock.advance(1_000);
    expect(server.requests).toEqual([]);
    await connectNow(t);
    await expect(list).resolves.toMatchObject({ conversations: [{ kind: 'direct' }] });
    t.client.close();
  });

  it('reports a reply of the wrong type as a protocol error', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    server.interceptReply = (_c, request) => ({ type: 'pong', requestId: request.requestId });
    await expect(t.client.fetchPresence(['bob'])).rejects.toMatchObject({ code: 'protocol' });
    t.client.close();
  });

  it('survives unreadable frames and reports them', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    server.live[0]!.socket.onmessage?.({ data: 'not json' } as never);
    server.live[0]!.socket.onmessage?.({ data: '[1,2]' } as never);
    expect(t.events.error.map((e) => (e as ParleyError).code)).toEqual(['protocol', 'protocol']);
    await expect(t.client.fetchPresence(['bob'])).resolves.toEqual([expect.objectContaining({ userId: 'bob', status: 'unknown' })]);
    t.client.close();
  });
});
