/**
 * Identity and authorization: tokens refused at `$connect` (HTTP 401 on the handshake), each JWT check of the real
 * authorizer handler on its own, a stranger denied every conversation action, and payload user ids that never
 * override the authorizer's identity.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { base64url, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WebSocket } from 'ws';
import { testClockSkewSeconds } from '../setup/local-stack.js';
import { localStackEnv } from '../support/local-env.js';
import { connectAs, devToken, uniqueUser, type Frame, type TestClient } from '../support/ws-client.js';

const info = inject('parley');
const ddb = DynamoDBDocumentClient.from(
  new DynamoDBClient({ endpoint: info.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
);
const issuer = 'parley-local';
const audience = 'parley';
const now = () => Math.floor(Date.now() / 1000);

/** The HTTP status of the WebSocket handshake (101 when it opened). */
function handshake(query: string, protocols?: string[]): Promise<{ status: number; protocol?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${info.wsUrl}${query}`, protocols);
    socket.once('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode ?? 0 });
      socket.terminate();
    });
    socket.once('open', () => {
      resolve({ status: 101, protocol: socket.protocol });
      socket.close();
    });
    socket.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

/** An unsigned token (`alg: none`) with the given header extras and claims. */
const unsigned = (header: Record<string, unknown>, claims: JWTPayload) =>
  `${base64url.encode(JSON.stringify({ ...header, alg: 'none' }))}.${base64url.encode(JSON.stringify(claims))}.`;

/** Another party's ES256 key, to sign tokens the local identity provider never issued. */
const foreignKey = await generateKeyPair('ES256');

describe('tokens are refused at $connect with HTTP 401', () => {
  let devKid: string;
  beforeAll(async () => {
    const jwks = (await (await fetch(`${info.httpUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    devKid = jwks.keys[0]!.kid;
  });

  const claims = (user: string, extra: JWTPayload = {}): JWTPayload => ({ sub: user, iss: issuer, aud: audience, iat: now(), exp: now() + 3600, ...extra });
  const foreign = (payload: JWTPayload, kid = devKid) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid }).sign(foreignKey.privateKey);

  it.concurrent('accepts a valid dev token (control), in the query string and in the subprotocol header', async () => {
    const token = await devToken(info, uniqueUser('valid'));
    expect(await handshake(`?token=${token}`)).toMatchObject({ status: 101 });
    expect(await handshake('', ['parley', token])).toEqual({ status: 101, protocol: 'parley' });
  });

  it.concurrent('refuses a missing or empty token', async () => {
    expect((await handshake('')).status).toBe(401);
    expect((await handshake('?token=')).status).toBe(401);
    expect((await handshake('', ['parley'])).status).toBe(401);
    expect((await handshake('?token=not.a.jwt')).status).toBe(401);
  });

  it.concurrent('refuses an expired token (once past the clock skew)', async () => {
    const token = await devToken(info, uniqueUser('expired'), 1);
    const { exp } = decodeJwt(token);
    while (Date.now() < (exp! + testClockSkewSeconds) * 1000 + 50) await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await handshake(`?token=${token}`)).status).toBe(401);
    expect((await handshake('', ['parley', token])).status).toBe(401);
  });

  it.concurrent('refuses wrongly signed tokens: another key under the dev key id, and a dev token with a changed subject', async () => {
    expect((await handshake(`?token=${await foreign(claims(uniqueUser('forged')))}`)).status).toBe(401);
    expect((await handshake(`?token=${await foreign(claims(uniqueUser('forged')), 'unknown-kid')}`)).status).toBe(401);
    const genuine = await devToken(info, uniqueUser('mallory'));
    const [header, , signature] = genuine.split('.');
    const swapped = base64url.encode(JSON.stringify({ ...decodeJwt(genuine), sub: uniqueUser('alice') }));
    expect(decodeProtectedHeader(genuine).kid).toBe(devKid);
    expect((await handshake(`?token=${header}.${swapped}.${signature}`)).status).toBe(401);
  });

  it.concurrent('refuses wrong-audience and wrong-issuer tokens', async () => {
    expect((await handshake(`?token=${await foreign(claims(uniqueUser('aud'), { aud: 'another-app' }))}`)).status).toBe(401);
    expect((await handshake(`?token=${await foreign(claims(uniqueUser('iss'), { iss: 'https://evil.example' }))}`)).status).toBe(401);
  });

  it.concurrent('refuses alg: none, with and without a signature part', async () => {
    const token = unsigned({ kid: devKid, typ: 'JWT' }, claims(uniqueUser('none')));
    expect((await handshake(`?token=${token}`)).status).toBe(401);
    expect((await handshake(`?token=${token.slice(0, -1)}`)).status).toBe(401);
    expect((await handshake('', ['parley', token])).status).toBe(401);
  });
});

describe('the authorizer handler checks every claim (real handler, a JWKS this test controls)', () => {
  let server: Server;
  let authorizeContext: (token: string, headers?: Record<string, string>) => Promise<Record<string, unknown> | null | undefined>;
  let authorize: (token: string, headers?: Record<string, string>) => Promise<string>;
  const key = foreignKey;
  const kid = 'test-key';
  const saved = { ...process.env };

  beforeAll(async () => {
    const jwk = { ...(await exportJWK(key.publicKey)), kid, alg: 'ES256', use: 'sig' };
    server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    // The handler reads the users table (bans) of the local stack, like the deployed authorizer reads its own.
    Object.assign(process.env, {
      ...localStackEnv(info),
      JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
      JWT_ISSUER: issuer,
      JWT_AUDIENCE: audience,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      // The defaults, whatever the local stack of this run uses.
      MAX_TOKEN_LIFETIME_SECONDS: String(24 * 3600),
      CLOCK_SKEW_SECONDS: '60',
    });
    const { handler } = await import('../../lambdas/handlers/authorizer.js');
    authorizeContext = async (token, headers = {}) => {
      const result = await handler({
        type: 'REQUEST',
        methodArn: 'arn:aws:execute-api:us-east-1:000000000000:api/local/$connect',
        queryStringParameters: token ? { token } : {},
        headers,
      } as never);
      return result.context;
    };
    authorize = async (token, headers) => String((await authorizeContext(token, headers))?.userId);
  });
  afterAll(async () => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
    await new Promise((resolve) => server.close(resolve));
  });

  const sign = (payload: JWTPayload, options: { kid?: string; alg?: string; key?: CryptoKey | Uint8Array } = {}) =>
    new SignJWT(payload).setProtectedHeader({ alg: options.alg ?? 'ES256', kid: options.kid ?? kid }).sign(options.key ?? key.privateKey);
  const good = (extra: JWTPayload = {}): JWTPayload => ({ sub: 'alice', iss: issuer, aud: audience, iat: now(), exp: now() + 600, ...extra });

  it('allows a valid token and pins the user id from `sub`, from the query or the parley subprotocol', async () => {
    await expect(authorize(await sign(good()))).resolves.toBe('alice');
    await expect(authorize('', { 'Sec-WebSocket-Protocol': `parley, ${await sign(good({ sub: 'bob' }))}` })).resolves.toBe('bob');
  });

  it('passes the token exp on in the context, and accepts iat, nbf and exp off by less than the clock skew', async () => {
    const exp = now() + 600;
    await expect(authorizeContext(await sign(good({ exp })))).resolves.toEqual({ userId: 'alice', tokenExpiresAt: exp });
    await expect(authorize(await sign(good({ iat: now() + 50, nbf: now() + 50 })))).resolves.toBe('alice');
    await expect(authorize(await sign(good({ iat: now() - 600, exp: now() - 50 })))).resolves.toBe('alice');
    await expect(authorize(await sign(good({ iat: now(), exp: now() + 24 * 3600 - 5 })))).resolves.toBe('alice');
  });

  it.each([
    ['an expired token (beyond the skew)', async () => sign(good({ exp: now() - 120, iat: now() - 180 }))],
    ['a token not valid yet', async () => sign(good({ nbf: now() + 600 }))],
    ['a token issued in the future (iat beyond the skew)', async () => sign(good({ iat: now() + 600 }))],
    ['a token with exp 100 years ahead', async () => sign(good({ exp: now() + 100 * 365 * 24 * 3600 }))],
    ['a lifetime (exp - iat) over the 24 h maximum', async () => sign(good({ iat: now() - 3600, exp: now() - 3600 + 24 * 3600 + 60 }))],
    ['an exp further than the maximum lifetime from now', async () => sign(good({ iat: now() + 55, exp: now() + 24 * 3600 + 50 }))],
    ['a token without iat (its lifetime is unknown)', async () => sign({ sub: 'alice', iss: issuer, aud: audience, exp: now() + 600 })],
    ['a token without exp (it would never expire)', async () => sign({ sub: 'alice', iss: issuer, aud: audience, iat: now() })],
    ['a wrong audience', async () => sign(good({ aud: 'another-app' }))],
    ['no audience', async () => sign({ sub: 'alice', iss: issuer, iat: now(), exp: now() + 600 })],
    ['a wrong issuer', async () => sign(good({ iss: 'https://evil.example' }))],
    ['another key under the trusted key id', async () => sign(good(), { key: (await generateKeyPair('ES256')).privateKey })],
    ['an unknown key id', async () => sign(good(), { kid: 'not-in-jwks' })],
    ['alg: none', async () => unsigned({ kid }, good())],
    [
      'HS256 keyed with the public key (algorithm confusion)',
      async () => sign(good(), { alg: 'HS256', key: new TextEncoder().encode(JSON.stringify(await exportJWK(key.publicKey))) }),
    ],
    [
      'a changed payload',
      async () => {
        const [header, , signature] = (await sign(good())).split('.');
        return `${header}.${base64url.encode(JSON.stringify(good({ sub: 'mallory' })))}.${signature}`;
      },
    ],
    ['no subject', async () => sign({ iss: issuer, aud: audience, iat: now(), exp: now() + 600 })],
    ['a subject that is not a valid user id', async () => sign(good({ sub: '../alice bob' }))],
    ['a subject that is not a string', async () => sign({ ...good(), sub: 42 as unknown as string })],
    ['garbage', async () => 'eyJhbGciOiJFUzI1NiJ9.garbage.garbage'],
    ['no token at all', async () => ''],
  ])('refuses %s with "Unauthorized" (API Gateway answers 401)', async (_name, token) => {
    await expect(authorize(await token())).rejects.toThrow(/^Unauthorized$/);
  });
});

describe('a stranger is denied every conversation action', () => {
  let alice: TestClient;
  let bob: TestClient;
  let mallory: TestClient;
  let group: string;
  let direct: string;

  beforeAll(async () => {
    [alice, bob, mallory] = await Promise.all([
      connectAs(info, uniqueUser('alice')),
      connectAs(info, uniqueUser('bob')),
      connectAs(info, uniqueUser('mallory')),
    ]);
    group = (await alice.request({ action: 'createConversation', kind: 'group', title: 'private', members: [bob.userId] })).conversation.conversationId;
    direct = (await alice.request({ action: 'createConversation', kind: 'direct', userId: bob.userId })).conversation.conversationId;
    for (const conversationId of [group, direct]) {
      await alice.request({ action: 'send', conversationId, clientMessageId: 'secret-1', body: 'for members only' });
      await bob.request({ action: 'ack', conversationId, kind: 'read', seq: 1 });
    }
  });
  afterAll(() => Promise.all([alice, bob, mallory].map((client) => client.close())));

  /** What a refused request must leave untouched: messages, member items with their cursors, the conversation. */
  const stored = async (conversationId: string) => {
    const query = (table: string) =>
      ddb.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'conversationId = :c', ExpressionAttributeValues: { ':c': conversationId } }));
    const [messages, members, conversation] = await Promise.all([
      query(info.tableNames.messages),
      query(info.tableNames.members),
      ddb.send(new GetCommand({ TableName: info.tableNames.conversations, Key: { conversationId }, ConsistentRead: true })),
    ]);
    return { messages: messages.Items, members: members.Items, conversation: conversation.Item };
  };

  const conversationActions = (conversationId: string) => [
    { action: 'send', conversationId, clientMessageId: 'intrude', body: 'let me in', senderId: 'alice', userId: 'alice' },
    { action: 'history', conversationId },
    { action: 'history', conversationId, beforeSeq: 2, limit: 1 },
    { action: 'ack', conversationId, kind: 'read', seq: 1 },
    { action: 'ack', conversationId, kind: 'delivered', seq: 1, userId: 'alice' },
    { action: 'typing', conversationId, state: 'start' },
    { action: 'addMembers', conversationId, members: ['mallory-friend'] },
  ];

  it.each(['group', 'direct'] as const)('refuses every action on a %s conversation with forbidden, and changes nothing', async (kind) => {
    const conversationId = kind === 'group' ? group : direct;
    const before = await stored(conversationId);
    for (const frame of conversationActions(conversationId)) {
      const reply = await mallory.request(frame);
      expect(reply, `${frame.action}: ${JSON.stringify(reply)}`).toMatchObject({ type: 'error', code: 'forbidden', requestId: expect.any(String) });
      expect(JSON.stringify(reply)).not.toContain('for members only');
    }
    // sync with a cursor for the conversation: it is simply not the caller's; nothing of it is returned.
    const synced = await mallory.request({ action: 'sync', cursors: { [conversationId]: { seq: 0, epoch: null } }, limit: 100 });
    expect(synced.type).toBe('sync');
    expect(JSON.stringify(synced)).not.toContain(conversationId);
    expect(synced.presence.map((user: Frame) => user.userId)).not.toContain(alice.userId);
    const listed = await mallory.request({ action: 'listConversations' });
    expect(JSON.stringify(listed)).not.toContain(conversationId);
    expect(await stored(conversationId)).toEqual(before);
  });

  it("reports the presence of strangers as unknown, and pushes nothing of other people's conversations", async () => {
    const reply = await mallory.request({ action: 'presence', userIds: [alice.userId, bob.userId] });
    expect(reply.users).toEqual([
      { userId: alice.userId, status: 'unknown', lastSeenAt: null },
      { userId: bob.userId, status: 'unknown', lastSeenAt: null },
    ]);
    await alice.request({ action: 'typing', conversationId: group, state: 'start' });
    await alice.request({ action: 'send', conversationId: group, clientMessageId: 'secret-2', body: 'for members only' });
    await bob.waitFor((frame) => frame.type === 'message' && frame.message.clientMessageId === 'secret-2');
    const leaked = mallory.frames.filter((frame) => JSON.stringify(frame).includes(group) || JSON.stringify(frame).includes(direct));
    expect(leaked.filter((frame) => frame.type !== 'error')).toEqual([]);
  });

  it('answers not_found for conversations that do not exist', async () => {
    for (const conversationId of [`grp_${randomUUID()}`, `dm_${randomUUID().replace(/-/g, '')}`]) {
      for (const frame of conversationActions(conversationId)) {
        expect(await mallory.request(frame), frame.action).toMatchObject({ type: 'error', code: 'not_found' });
      }
    }
  });
});

describe("user ids in payloads never override the authorizer's identity", () => {
  it('ignores senderId, userId and createdBy in send, ack, typing, heartbeat, createConversation, listConversations and sync', async () => {
    const [alice, bob] = await Promise.all([connectAs(info, uniqueUser('alice')), connectAs(info, uniqueUser('bob'))]);
    const carol = uniqueUser('carol');
    const created = await alice.request({
      action: 'createConversation',
      kind: 'group',
      title: 'who',
      members: [bob.userId, carol],
      createdBy: bob.userId,
      userId: bob.userId,
    });
    expect(created.conversation).toMatchObject({ createdBy: alice.userId, members: expect.arrayContaining([alice.userId, bob.userId, carol]) });
    const conversationId = created.conversation.conversationId;

    const ack = await alice.request({ action: 'send', conversationId, clientMessageId: 'forged', body: 'hi', senderId: bob.userId, userId: bob.userId });
    expect(ack).toMatchObject({ type: 'ack', seq: 1 });
    const pushed = await bob.waitFor((frame) => frame.type === 'message' && frame.message.conversationId === conversationId);
    expect(pushed.message.senderId).toBe(alice.userId);
    const { Item } = await ddb.send(new GetCommand({ TableName: info.tableNames.messages, Key: { conversationId, seq: 1 } }));
    expect(Item?.senderId).toBe(alice.userId);
    // The same clientMessageId "as bob" is still alice's idempotency key: a duplicate, not a new message.
    expect(await alice.request({ action: 'send', conversationId, clientMessageId: 'forged', body: 'hi', senderId: carol })).toMatchObject({
      seq: 1,
      duplicate: true,
    });

    const receipt = await alice.request({ action: 'ack', conversationId, kind: 'read', seq: 1, userId: bob.userId });
    expect(receipt).toMatchObject({ type: 'receipt', userId: alice.userId, lastReadSeq: 1 });
    const bobMember = await ddb.send(new GetCommand({ TableName: info.tableNames.members, Key: { conversationId, userId: bob.userId } }));
    expect(bobMember.Item).toMatchObject({ lastReadSeq: 0, lastDeliveredSeq: 0 });

    await alice.request({ action: 'typing', conversationId, state: 'start', userId: carol });
    const typing = await bob.waitFor((frame) => frame.type === 'typing' && frame.conversationId === conversationId);
    expect(typing.userId).toBe(alice.userId);

    expect(await alice.request({ action: 'heartbeat', userId: carol })).toMatchObject({ type: 'pong' });
    const carolPresence = await bob.request({ action: 'presence', userIds: [carol] });
    expect(carolPresence.users).toEqual([{ userId: carol, status: 'offline', lastSeenAt: null }]);

    const listed = await bob.request({ action: 'listConversations', userId: carol });
    expect(listed.conversations.map((conversation: Frame) => conversation.conversationId)).toContain(conversationId);
    const mine = await alice.request({ action: 'sync', cursors: {}, userId: uniqueUser('nobody') });
    expect(mine.conversations.map((entry: Frame) => entry.conversationId)).toContain(conversationId);
    await Promise.all([alice.close(), bob.close()]);
  });

  it('takes the identity from the token even when the query string names another user', async () => {
    const alice = uniqueUser('alice');
    const bob = await connectAs(info, uniqueUser('bob'));
    const token = await devToken(info, alice);
    const socket = new WebSocket(`${info.wsUrl}?userId=${bob.userId}&user=${bob.userId}&token=${token}&sub=${bob.userId}`);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const reply = new Promise<Frame>((resolve) => socket.once('message', (data) => resolve(JSON.parse(data.toString()) as Frame)));
    socket.send(JSON.stringify({ action: 'createConversation', requestId: 'q', kind: 'direct', userId: bob.userId }));
    expect((await reply).conversation).toMatchObject({ createdBy: alice, members: [alice, bob.userId].sort() });
    socket.close();
    await bob.close();
  });
});
