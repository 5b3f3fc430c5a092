/**
 * Session lifetime against the local stack: a connection is told `token_expired` and closed when its token's session
 * ends (exp plus the clock skew), by the queued expire job or by the next request; the SDK renews its token and
 * resumes with nothing lost or duplicated; `disconnectUser` (and `npm run disconnect-user`) closes every device.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { ParleyClient, type ParleyClientOptions } from '../../client/index.js';
import type { Message } from '../../client/protocol.js';
import { disconnect } from '../../scripts/disconnect-user.js';
import { testClockSkewSeconds } from '../setup/local-stack.js';
import { controlApi, sleep, until } from '../support/faults.js';
import { localStackEnv } from '../support/local-env.js';
import { connectAs, devToken, uniqueUser, type Frame } from '../support/ws-client.js';

const info = inject('parley');
const control = controlApi(info);
const clients: ParleyClient[] = [];
const target = {
  presenceTable: info.tableNames.presence,
  callbackUrl: info.callbackUrl,
  fanoutQueueUrl: info.queueUrls.fanout,
  sdkEnv: localStackEnv(info),
};

afterAll(() => {
  for (const client of clients) client.close();
});

/** An SDK client whose every token lives `ttlSeconds`. */
function sdkClient(user: string, ttlSeconds: number, options: Partial<ParleyClientOptions> = {}) {
  const delivered: Message[] = [];
  const reasons: string[] = [];
  const client = new ParleyClient({
    url: info.wsUrl,
    userId: user,
    token: () => devToken(info, user, ttlSeconds),
    WebSocket: WebSocket as unknown as ParleyClientOptions['WebSocket'],
    backoff: { baseMs: 100, maxMs: 1_000 },
    requestTimeoutMs: 5_000,
    ...options,
  });
  client.on('message', (message) => delivered.push(message));
  client.on('status', (status) => {
    if (status.state === 'waiting' && status.reason) reasons.push(status.reason);
  });
  clients.push(client);
  return { client, delivered, reasons };
}

describe.concurrent('a connection ends with its token', () => {
  it('is told token_expired and closed (1000) once exp plus the skew has passed, with nothing from the server after that', async () => {
    const user = uniqueUser('short');
    const token = await devToken(info, user, 2);
    const socket = await connectAs(info, user, { token });
    const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number };
    const closed = await socket.closed;
    expect(closed.code).toBe(1000);
    // Not before the session ended (exp + skew, whole seconds).
    expect(Date.now()).toBeGreaterThanOrEqual((exp + testClockSkewSeconds) * 1000);
    const last = socket.frames.at(-1);
    expect(last).toMatchObject({ type: 'error', code: 'token_expired' });
    expect(last).not.toHaveProperty('requestId');
    await until('the connection to leave the emulator', async () => !(await control.connections()).some((c) => c.principalId === user));
  });

  it('answers a request on an expired session with token_expired (its requestId) and closes the connection', async () => {
    const user = uniqueUser('late');
    const socket = await connectAs(info, user);
    const connectionId = await control.connectionIdOf(user);
    Object.assign(process.env, localStackEnv(info));
    const { handler } = await import('../../lambdas/handlers/actions.js');
    // The event API Gateway sends for a frame on a connection whose token expired a minute ago.
    const result = await handler({
      requestContext: {
        connectionId,
        routeKey: 'heartbeat',
        authorizer: { userId: user, principalId: user, tokenExpiresAt: Math.floor(Date.now() / 1000) - 60 },
      },
      body: JSON.stringify({ action: 'heartbeat', requestId: 'r-late' }),
    });
    expect(result).toEqual({ statusCode: 200 });
    expect((await socket.closed).code).toBe(1000);
    expect(socket.frames).toEqual([expect.objectContaining({ type: 'error', requestId: 'r-late', code: 'token_expired' })]);
  });
});

describe('the SDK across token expiries', () => {
  let conversationId: string;
  let alice: string;
  let bob: string;
  beforeAll(async () => {
    alice = uniqueUser('alice');
    bob = uniqueUser('bob');
    const socket = await connectAs(info, alice);
    conversationId = (await socket.request({ action: 'createConversation', kind: 'direct', userId: bob })).conversation.conversationId;
    await socket.close();
  });

  /** Both send `count` messages each while alice's sessions keep ending; checks every message surfaced once, in order. */
  async function exchange(aliceOptions: { ttlSeconds: number; tokenRefreshLeadMs?: number }, count: number, tag: string) {
    const a = sdkClient(
      alice,
      aliceOptions.ttlSeconds,
      aliceOptions.tokenRefreshLeadMs === undefined ? {} : { tokenRefreshLeadMs: aliceOptions.tokenRefreshLeadMs },
    );
    const b = sdkClient(bob, 3600);
    await Promise.all([a.client.connect(), b.client.connect()]);
    const start = Math.max(a.client.cursor(conversationId), b.client.cursor(conversationId));
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      acks.push(a.client.send(conversationId, `${tag} alice ${i}`).acked, b.client.send(conversationId, `${tag} bob ${i}`).acked);
      await sleep(400);
    }
    await Promise.all(acks);
    const total = start + 2 * count;
    for (const probe of [a, b]) {
      await until(`${probe === a ? 'alice' : 'bob'} to see seq ${total}`, () => probe.client.cursor(conversationId) >= total, 30_000);
      const mine = probe.delivered.filter((m) => m.conversationId === conversationId && m.body.startsWith(tag));
      expect(
        mine.map((m) => m.seq),
        'each seq once, in order',
      ).toEqual(Array.from({ length: 2 * count }, (_, i) => start + i + 1));
      expect(mine.filter((m) => m.body.includes('alice')).map((m) => m.body)).toEqual(Array.from({ length: count }, (_, i) => `${tag} alice ${i}`));
      expect(mine.filter((m) => m.body.includes('bob')).map((m) => m.body)).toEqual(Array.from({ length: count }, (_, i) => `${tag} bob ${i}`));
    }
    a.client.close();
    b.client.close();
    return a.reasons;
  }

  it('resumes at once after the server ends its session, losing and duplicating nothing', async () => {
    const reasons = await exchange({ ttlSeconds: 2, tokenRefreshLeadMs: 0 }, 12, 'expiry');
    expect(reasons.filter((reason) => reason === 'token expired').length).toBeGreaterThanOrEqual(1);
  });

  it('renews its token before it expires, so the server never has to end the session', async () => {
    // Six-second tokens: a handshake slowed by a loaded machine still opens well before exp, so the half-way renewal
    // comes first (a token already expired on arrival is left to the server, so a skewed device clock cannot loop).
    const reasons = await exchange({ ttlSeconds: 6 }, 12, 'renewal');
    expect(reasons.filter((reason) => reason === 'token refresh').length).toBeGreaterThanOrEqual(1);
    expect(reasons).not.toContain('token expired');
  });
});

describe.concurrent('disconnecting a user', () => {
  it("closes every device of the user and no one else's", async () => {
    const user = uniqueUser('revoked');
    const other = uniqueUser('bystander');
    const devices = await Promise.all([connectAs(info, user), connectAs(info, user), connectAs(info, user)]);
    const bystander = await connectAs(info, other);
    const result = await disconnect(user, target);
    expect(result.closed).toHaveLength(3);
    expect(result.failed).toEqual([]);
    expect((await Promise.all(devices.map((device) => device.closed))).map((closed) => closed.code)).toEqual([1000, 1000, 1000]);
    expect(await bystander.request({ action: 'heartbeat' })).toMatchObject({ type: 'pong' });
    await until('the user to go offline', async () => (await bystander.request({ action: 'presence', userIds: [user] })).type === 'presence');
    await bystander.close();
  });

  it('works from the command line: npm run disconnect-user -- <userId>', async () => {
    const user = uniqueUser('cli');
    const devices = await Promise.all([connectAs(info, user), connectAs(info, user)]);
    const { stdout } = await promisify(execFile)(
      'node_modules/.bin/tsx',
      ['scripts/disconnect-user.ts', user, '--table', target.presenceTable, '--callback-url', target.callbackUrl, '--queue-url', target.fanoutQueueUrl],
      { env: { ...process.env, ...target.sdkEnv }, timeout: 60_000 },
    );
    expect(JSON.parse(stdout) as Frame).toMatchObject({ userId: user, failed: [], gone: [] });
    expect((JSON.parse(stdout) as Frame).closed).toHaveLength(2);
    expect((await Promise.all(devices.map((device) => device.closed))).map((closed) => closed.code)).toEqual([1000, 1000]);
  });
});
