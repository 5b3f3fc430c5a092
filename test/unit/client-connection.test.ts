import { describe, expect, it } from 'vitest';
import { ParleyClient } from '../../client/client.js';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient, seededRandom } from '../../client/testing/harness.js';
import { ManualClock } from '../../client/testing/manual-clock.js';

describe('ParleyClient connection', () => {
  it('puts the token in the `token` query parameter by default', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice', { url: 'wss://x.test/prod?region=eu' });
    await connectNow(t);
    expect(server.sockets[0]!.url).toBe('wss://x.test/prod?region=eu&token=alice');
    expect(server.live.map((c) => c.userId)).toEqual(['alice']);
    expect(t.client.status.state).toBe('online');
  });

  it('can send the token as a subprotocol instead', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice', { tokenTransport: 'protocol' });
    await connectNow(t);
    expect(server.sockets[0]!.url).toBe('wss://parley.test/prod');
    expect(server.sockets[0]!.protocols).toEqual(['parley', 'alice']);
  });

  it('asks the token provider again on every reconnect', async () => {
    const server = new FakeParleyServer({ authenticate: (token) => (token.startsWith('jwt-') ? 'alice' : null) });
    const clock = new ManualClock();
    let n = 0;
    const client = new ParleyClient({
      url: 'wss://x.test',
      token: async () => `jwt-${++n}`,
      WebSocket: server.WebSocket,
      clock,
      random: seededRandom(1),
    });
    const ready = client.connect();
    await clock.advance(10);
    await ready;
    for (let i = 0; i < 3; i++) {
      server.killAll();
      await clock.advance(60_000);
      expect(client.status.state).toBe('online');
    }
    expect(server.connections.map((c) => c.token)).toEqual(['jwt-1', 'jwt-2', 'jwt-3', 'jwt-4']);
    client.close();
  });

  it('reconnects with capped, fully jittered exponential backoff while the server refuses', async () => {
    const server = new FakeParleyServer();
    server.refuseConnections = true;
    const t = createTestClient(server, 'alice', { backoff: { baseMs: 1000, maxMs: 8000 }, random: () => 0.999 });
    void t.client.connect();
    const delays: number[] = [];
    t.client.on('status', (s) => {
      if (s.state === 'waiting') delays.push(s.retryInMs!);
    });
    await t.clock.advance(200_000);
    // random → 0.999 shows each ceiling: 1s, 2s, 4s, then capped at 8s.
    expect(delays.slice(0, 6)).toEqual([999, 1998, 3996, 7992, 7992, 7992]);
    expect(t.tokenCalls()).toBe(server.sockets.length);

    server.refuseConnections = false;
    await t.clock.advance(8000);
    expect(t.client.status).toMatchObject({ state: 'online', attempt: 0 });
    // Healthy again: the next drop starts from the smallest window.
    server.killAll();
    await t.clock.advance(0);
    expect(t.client.status).toMatchObject({ state: 'waiting', retryInMs: 999 });
    t.client.close();
  });

  it('spreads reconnect delays over the whole window (jitter), not at the ceiling', async () => {
    const server = new FakeParleyServer();
    server.refuseConnections = true;
    const t = createTestClient(server, 'alice', { backoff: { baseMs: 1000, maxMs: 1000 }, random: seededRandom(7) });
    const delays: number[] = [];
    t.client.on('status', (s) => s.state === 'waiting' && delays.push(s.retryInMs!));
    void t.client.connect();
    await t.clock.advance(60_000);
    expect(delays.length).toBeGreaterThan(50);
    expect(Math.min(...delays)).toBeLessThan(200);
    expect(Math.max(...delays)).toBeGreaterThan(800);
    expect(new Set(delays).size).toBeGreaterThan(40);
    t.client.close();
  });

  it('sends a heartbeat every interval while connected', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice', { heartbeatIntervalMs: 60_000 });
    await connectNow(t);
    await t.clock.advance(5 * 60_000);
    expect(server.requestsOf('heartbeat')).toHaveLength(5);
    t.client.close();
  });

  it('defaults the heartbeat to under the protocol’s 5 minutes', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    await t.clock.advance(5 * 60_000);
    expect(server.requestsOf('heartbeat').length).toBeGreaterThanOrEqual(1);
    t.client.close();
  });

  it('replaces a half-open connection whose heartbeat gets no pong', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice', { heartbeatIntervalMs: 60_000, requestTimeoutMs: 5_000 });
    await connectNow(t);
    server.interceptRequest = (_c, r) => (r.action === 'heartbeat' ? 'drop' : undefined);
    await t.clock.advance(60_000 + 5_000);
    expect(server.connections[0]!.open).toBe(false);
    server.interceptRequest = undefined;
    await t.clock.advance(1_000);
    expect(server.live).toHaveLength(1);
    expect(server.live[0]).not.toBe(server.connections[0]);
    expect(t.client.status.state).toBe('online');
    t.client.close();
  });

  it('gives up on a socket that never opens and tries again', async () => {
    const server = new FakeParleyServer();
    server.autoOpen = false;
    const t = createTestClient(server, 'alice', { connectTimeoutMs: 3_000 });
    void t.client.connect();
    await t.clock.advance(2_900);
    expect(server.sockets).toHaveLength(1);
    await t.clock.advance(200);
    expect(t.client.status.state).toBe('waiting');
    server.autoOpen = true;
    await t.clock.advance(1_000);
    expect(server.sockets).toHaveLength(2);
    expect(t.client.status.state).toBe('online');
    t.client.close();
  });

  it('keeps retrying when the token provider fails, and reports the failure', async () => {
    const server = new FakeParleyServer();
    const clock = new ManualClock();
    let fail = 2;
    const client = new ParleyClient({
      url: 'wss://x.test',
      token: () => {
        if (fail-- > 0) throw new Error('auth service down');
        return 'alice';
      },
      WebSocket: server.WebSocket,
      clock,
      random: seededRandom(3),
    });
    const errors: Error[] = [];
    client.on('error', (e) => errors.push(e));
    void client.connect();
    await clock.advance(10_000);
    expect(errors.map((e) => e.message)).toEqual(['auth service down', 'auth service down']);
    expect(client.status.state).toBe('online');
    client.close();
  });

  it('close() stops everything: no reconnect, no timers, requests rejected', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice');
    await connectNow(t);
    const pending = t.client.history('nope');
    server.interceptReply = () => 'drop';
    t.client.close();
    await expect(pending).rejects.toMatchObject({ name: 'ParleyError', code: 'client_closed' });
    await t.clock.advance(600_000);
    expect(server.sockets).toHaveLength(1);
    expect(server.live).toHaveLength(0);
    expect(t.clock.pending).toBe(0);
    expect(t.client.status.state).toBe('closed');
    expect(() => t.client.send('c', 'x')).toThrow(/closed/);
  });

  it('reconnectNow() skips the backoff wait', async () => {
    const server = new FakeParleyServer();
    const t = createTestClient(server, 'alice', { backoff: { baseMs: 60_000, maxMs: 60_000 }, random: () => 0.9 });
    await connectNow(t);
    server.killAll();
    await t.clock.advance(10);
    expect(t.client.status.state).toBe('waiting');
    t.client.reconnectNow();
    await t.clock.advance(10);
    expect(t.client.status.state).toBe('online');
    t.client.close();
  });

  it('needs a WebSocket implementation', () => {
    const original = (globalThis as { WebSocket?: unknown }).WebSocket;
    (globalThis as { WebSocket?: unknown }).WebSocket = undefined;
    try {
      expect(() => new ParleyClient({ url: 'wss://x', token: () => 't' })).toThrow(/WebSocket/);
    } finally {
      (globalThis as { WebSocket?: unknown }).WebSocket = original;
    }
  });
});
