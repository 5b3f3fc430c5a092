import { describe, expect, it } from 'vitest';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient } from '../../client/testing/harness.js';
import { ManualClock } from '../../client/testing/manual-clock.js';
import { tokenExpiry } from '../../client/token.js';

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** An unsigned JWT-shaped token (the fake server maps it to its `sub`; the SDK only reads `exp`). */
const jwt = (sub: string, expMs: number, n: number) => `${base64url({ alg: 'ES256' })}.${base64url({ sub, exp: Math.floor(expMs / 1000), n })}.sig`;
const subOf = (token: string) => {
  try {
    return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { sub?: string }).sub ?? null;
  } catch {
    return null;
  }
};

describe('tokenExpiry', () => {
  it('reads exp of a JWT in ms, and nothing from anything else', () => {
    expect(tokenExpiry(jwt('alice', 1_700_000_060_000, 1))).toBe(1_700_000_060_000);
    expect(tokenExpiry(`${base64url({})}.${Buffer.from('{"exp":12,"name":"Zoë ✓"}').toString('base64url')}.x`)).toBe(12_000);
    for (const token of ['alice', 'a.b.c', `x.${base64url({ exp: '12' })}.y`, `x.${base64url(null)}.y`, 'x.!!!.y', '']) {
      expect(tokenExpiry(token), token).toBeUndefined();
    }
  });
});

describe('ParleyClient token lifetime', () => {
  const setup = (options: { lifetimeMs: number; tokenRefreshLeadMs?: number; sameToken?: boolean }) => {
    const server = new FakeParleyServer({ authenticate: subOf });
    const clock = new ManualClock();
    const tokens: string[] = [];
    let first: string | undefined;
    const t = createTestClient(server, 'alice', {
      clock,
      token: () => {
        const token = options.sameToken && first ? first : jwt('alice', clock.now() + options.lifetimeMs, tokens.length);
        first ??= token;
        tokens.push(token);
        return { token, userId: 'alice' };
      },
      ...(options.tokenRefreshLeadMs === undefined ? {} : { tokenRefreshLeadMs: options.tokenRefreshLeadMs }),
    });
    return { ...t, tokens };
  };

  it('reconnects at once with a fresh token on token_expired, resending the unacked message with the same clientMessageId', async () => {
    const t = setup({ lifetimeMs: 3_600_000, tokenRefreshLeadMs: 0 });
    const conversation = t.server.seedConversation('direct', ['alice', 'bob']);
    await connectNow(t);
    const [connection] = t.server.live;
    // The server answers the send with token_expired (as an expired session does) and closes the connection.
    t.server.interceptReply = (c, request) => {
      if (request.action !== 'send' || c !== connection) return undefined;
      // After the reply frame, as API Gateway closes after the posted frame.
      queueMicrotask(() => queueMicrotask(() => c.kill(1000, 'Closed by server')));
      return { type: 'error', requestId: request.requestId, code: 'token_expired', message: 'the token of this connection expired' };
    };
    const sent = t.client.send(conversation.conversationId, 'hello');
    await t.clock.advance(10);
    expect(t.events.status.filter((s) => s.state === 'waiting').map((s) => [s.reason, s.retryInMs])).toEqual([['token expired', 0]]);
    expect(t.tokens).toHaveLength(2);
    expect(t.client.status.state).toBe('online');
    await sent.acked;
    expect(t.events.sendFailed).toEqual([]);
    expect(t.server.messagesOf(conversation.conversationId).map((m) => m.body)).toEqual(['hello']);
    const sends = t.server.requestsOf('send');
    expect(sends.map((request) => request.clientMessageId)).toEqual([sent.clientMessageId, sent.clientMessageId]);
    expect(t.events.message.map((m) => m.seq)).toEqual([1]);
    t.client.close();
  });

  it('also treats a token_expired push (the expiry job) as the cue, and backs off when the fresh token is expired too', async () => {
    const t = setup({ lifetimeMs: 3_600_000, tokenRefreshLeadMs: 0 });
    await connectNow(t);
    // From the second connection on, sync is answered with token_expired: the fresh token is no better.
    t.server.interceptRequest = (c, request) => {
      if (request.action !== 'sync') return undefined;
      queueMicrotask(() => c.deliver({ type: 'error', code: 'token_expired', message: 'expired' }));
      return 'drop';
    };
    t.server.live[0]!.deliver({ type: 'error', code: 'token_expired', message: 'expired' });
    await t.clock.advance(1);
    const waits = () => t.events.status.filter((s) => s.state === 'waiting').map((s) => s.retryInMs);
    expect(waits()[0]).toBe(0);
    expect(waits().length).toBe(2);
    // No tight loop: the connection that never caught up is followed by the usual backoff.
    expect(waits()[1]).toBeGreaterThan(0);
    t.client.close();
  });

  it('reconnects shortly before the token expires, and delivers what was sent meanwhile exactly once', async () => {
    const t = setup({ lifetimeMs: 10 * 60_000 });
    const conversation = t.server.seedConversation('direct', ['alice', 'bob']);
    await connectNow(t);
    expect(t.server.connections).toHaveLength(1);
    await t.clock.advance(8 * 60_000);
    t.server.post('bob', conversation.conversationId, 'before');
    expect(t.server.connections).toHaveLength(1);
    // Default lead: 60 s before exp, i.e. at 9 min.
    await t.clock.advance(60_000 + 10);
    expect(t.server.connections).toHaveLength(2);
    expect(t.server.connections[0]!.open).toBe(false);
    expect(t.tokens[1]).not.toBe(t.tokens[0]);
    expect(t.client.status.state).toBe('online');
    t.server.post('bob', conversation.conversationId, 'after');
    await t.clock.advance(10);
    expect(t.events.message.map((m) => [m.seq, m.body])).toEqual([
      [1, 'before'],
      [2, 'after'],
    ]);
    expect(t.events.status.filter((s) => s.state === 'waiting').map((s) => [s.reason, s.retryInMs])).toEqual([['token refresh', 0]]);
    t.client.close();
  });

  it('renews a short-lived token half-way, and does not renew again onto the same token', async () => {
    const t = setup({ lifetimeMs: 20_000, sameToken: true });
    await connectNow(t);
    await t.clock.advance(10_000);
    expect(t.server.connections).toHaveLength(2);
    // The provider had nothing newer: the same token is kept until the server ends the session.
    await t.clock.advance(60_000);
    expect(t.server.connections).toHaveLength(2);
    expect(new Set(t.tokens).size).toBe(1);
    t.client.close();
  });

  it('does not renew proactively when turned off or when the token is not a JWT', async () => {
    const off = setup({ lifetimeMs: 120_000, tokenRefreshLeadMs: 0 });
    await connectNow(off);
    await off.clock.advance(119_000);
    expect(off.server.connections).toHaveLength(1);
    off.client.close();

    const opaque = createTestClient(new FakeParleyServer(), 'alice');
    await connectNow(opaque);
    await opaque.clock.advance(3_600_000);
    expect(opaque.server.connections).toHaveLength(1);
    opaque.client.close();
  });
});
