/**
 * The server API on the local stack: AWS_IAM (SigV4) on every route, each route's happy path and bad input, the
 * event each timeline change puts on the local event bus (and none from the routes that change no timeline), and the
 * server SDK against it. The same handler runs in Lambda behind the API Gateway HTTP API.
 */
import { randomUUID } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, inject, it, vi } from 'vitest';
import { DirectoryArchiveStore } from '../../lambdas/adapters/archive-stores.js';
import { archivePrefix } from '../../lambdas/domain/archive.js';
import { externalGroupId } from '../../lambdas/domain/conversations.js';
import { parseEvent } from '../../lambdas/domain/events.js';
import { serverApi, type ServerOperation } from '../../lib/definitions.js';
import type { BusEvent } from '../../local/event-bus.js';
import { ParleyAccessDeniedError, ParleyServerClient, ParleyServerError } from '../../server-sdk/index.js';
import { until } from '../support/faults.js';
import { connectAs, devToken, uniqueUser, type StackUrls } from '../support/ws-client.js';

const info = inject('parley');
const urls: StackUrls = { wsUrl: info.wsUrl, httpUrl: info.httpUrl };
const client = new ParleyServerClient({ url: info.serverApiUrl, region: info.serverApiRegion, credentials: info.serverApiCredentials });

interface SignOptions {
  secretAccessKey?: string;
  region?: string;
  service?: string;
  signingDate?: Date;
  /** Sent instead of the signed body (a replay with a changed body). */
  sentBody?: string;
}

/** A request signed with `@smithy/signature-v4` as the AWS SDK signs, with one thing changed at a time. */
async function signedFetch(method: string, path: string, body: string | undefined, options: SignOptions = {}) {
  const url = new URL(path, info.serverApiUrl);
  const signer = new SignatureV4({
    credentials: { accessKeyId: info.serverApiCredentials.accessKeyId, secretAccessKey: options.secretAccessKey ?? info.serverApiCredentials.secretAccessKey },
    region: options.region ?? info.serverApiRegion,
    service: options.service ?? serverApi.signingService,
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign(
    {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { host: url.host, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body,
    },
    { signingDate: options.signingDate },
  );
  const { host: _host, ...headers } = signed.headers;
  return fetch(url, { method, headers, body: options.sentBody ?? body });
}

const newGroupBody = () => JSON.stringify({ title: 'signed', members: [uniqueUser('sig')] });

describe('AWS_IAM: SigV4 on every route', () => {
  it('accepts a valid signature (2xx)', async () => {
    const response = await signedFetch('POST', '/conversations', newGroupBody());
    expect(response.status).toBe(201);
  });

  it('refuses an unsigned request with 403', async () => {
    const response = await fetch(new URL('/conversations', info.serverApiUrl), { method: 'POST', body: newGroupBody() });
    expect(response.status).toBe(403);
    expect(response.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
  });

  it('refuses an end-user JWT as a Bearer token', async () => {
    const token = await devToken(urls, uniqueUser('bearer'));
    const response = await fetch(new URL('/users/alice/conversations', info.serverApiUrl), { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(403);
  });

  it.each([
    ['a wrong secret', { secretAccessKey: 'not-the-secret' }],
    ['a wrong region', { region: 'eu-west-1' }],
    ['a wrong service', { service: 'execute-apis' }],
    ['a signature older than five minutes', { signingDate: new Date(Date.now() - 6 * 60 * 1000) }],
    ['a body changed after signing', { sentBody: JSON.stringify({ title: 'replayed', members: ['mallory'] }) }],
  ] as [string, SignOptions][])('refuses %s with 403 InvalidSignatureException', async (_name, options) => {
    const response = await signedFetch('POST', '/conversations', newGroupBody(), options);
    expect(response.status).toBe(403);
    expect(response.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
  });

  it('answers 404 for a path that is no route', async () => {
    const response = await signedFetch('GET', '/nowhere', undefined);
    expect(response.status).toBe(404);
  });
});

/** Expects a call to fail with `status` and a JSON error whose message names `field`. */
async function expectBadInput(call: Promise<unknown>, field: string, status = 400, code = 'bad_request') {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ParleyServerError);
  const failed = error as ParleyServerError;
  expect({ status: failed.status, code: failed.code }).toEqual({ status, code });
  expect(failed.message).toMatch(new RegExp(`^${field.replace(/\./g, '\\.')}\\b`));
}

describe('routes', () => {
  it('createConversation: members, roles, title, externalId and metadata; idempotent and race-safe on externalId', async () => {
    const [owner, member] = [uniqueUser('own'), uniqueUser('mem')];
    const externalId = `ticket-${randomUUID()}`;
    const input = { externalId, title: 'Ticket 42', members: [member, owner], roles: { [owner]: 'owner' as const }, metadata: { ticket: '42' } };
    // Two creates at once: one creates, both answer with the same conversation.
    const [first, second] = await Promise.all([client.createConversation(input), client.createConversation(input)]);
    expect([first.created, second.created].sort()).toEqual([false, true]);
    expect(second.conversation.conversationId).toBe(first.conversation.conversationId);
    const { conversation } = first;
    expect(conversation).toMatchObject({ kind: 'group', title: 'Ticket 42', externalId, metadata: { ticket: '42' }, createdBy: '$system' });
    expect(conversation.members).toEqual([member, owner].sort());
    expect(conversation.roles).toEqual({ [owner]: 'owner', [member]: 'member' });
    const again = await client.createConversation({ ...input, title: 'other title' });
    expect(again).toMatchObject({ created: false, conversation: { conversationId: conversation.conversationId, title: 'Ticket 42' } });
    // Without an owner named, the first member owns it (a group always has an owner).
    const unowned = await client.createConversation({ title: 'no owner', members: [member, owner] });
    expect(unowned.conversation.roles).toEqual({ [member]: 'owner', [owner]: 'member' });
  });

  it('createConversation: bad input names the field', async () => {
    await expectBadInput(client.createConversation({ title: '', members: ['a'] }), 'title');
    await expectBadInput(client.createConversation({ title: 't', members: ['not valid!'] }), 'members.0');
    await expectBadInput(client.createConversation({ title: 't', members: ['a'], metadata: { 'bad key': 'x' } }), 'metadata');
    await expectBadInput(client.createConversation({ title: 't', members: ['a'], roles: { b: 'owner' } }), 'roles.b');
    await expectBadInput(client.createConversation({ title: 't', members: ['a'], externalId: 'x'.repeat(129) }), 'externalId');
    const notJson = await signedFetch('POST', '/conversations', '{"title":');
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ code: 'invalid_json', message: expect.stringMatching(/^body:/) });
    const noBody = await signedFetch('POST', '/conversations', undefined);
    expect(noBody.status).toBe(400);
    expect(await noBody.json()).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^body:/) });
  });

  it('addMembers, setRole, removeMember act with owner rights, as timeline events', async () => {
    const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')];
    const { conversation } = await client.createConversation({ title: 'members', members: [a] });
    const { conversationId } = conversation;
    expect((await client.addMembers({ conversationId, members: [b, c] })).conversation.members).toEqual([a, b, c].sort());
    expect((await client.setRole({ conversationId, userId: b, role: 'admin' })).conversation.roles?.[b]).toBe('admin');
    expect((await client.removeMember({ conversationId, userId: c })).conversation.members).toEqual([a, b].sort());
    const { messages } = await client.history({ conversationId });
    expect(messages.map((m) => [m.kind, m.senderId])).toEqual([
      ['member_removed', '$system'],
      ['role_changed', '$system'],
      ['member_added', '$system'],
    ]);
  });

  it('addMembers, setRole, removeMember: bad input names the field', async () => {
    const { conversation } = await client.createConversation({ title: 'bad', members: [uniqueUser('x')] });
    const { conversationId } = conversation;
    await expectBadInput(client.addMembers({ conversationId, members: [] }), 'members');
    await expectBadInput(client.addMembers({ conversationId: 'nope', members: ['a'] }), 'conversationId');
    await expectBadInput(client.setRole({ conversationId, userId: 'a', role: 'king' as 'owner' }), 'role');
    await expectBadInput(client.setRole({ conversationId, userId: 'stranger', role: 'admin' }), 'userId');
    await expectBadInput(client.removeMember({ conversationId, userId: 'bad id' }), 'userId');
    await expect(client.addMembers({ conversationId: 'grp_missing', members: ['a'] })).rejects.toMatchObject({ status: 404, code: 'not_found' });
  });

  it('postMessage as a user, a bot and the system: seqs in the timeline, idempotent, fanned out', async () => {
    const [alice, bob] = [uniqueUser('alice'), uniqueUser('bob')];
    const { conversation } = await client.createConversation({ title: 'posts', members: [alice, bob] });
    const { conversationId } = conversation;
    const socket = await connectAs(urls, bob);
    try {
      const asUser = await client.postMessage({ conversationId, clientMessageId: 'u1', body: 'from alice', senderId: alice });
      const asBot = await client.postMessage({ conversationId, clientMessageId: 'b1', body: 'beep', botId: 'welcome' });
      const asSystem = await client.postMessage({ conversationId, clientMessageId: 's1', body: 'system notice' });
      expect([asUser.ack.seq, asBot.ack.seq, asSystem.ack.seq]).toEqual([1, 2, 3]);
      const retried = await client.postMessage({ conversationId, clientMessageId: 's1', body: 'system notice' });
      expect(retried.ack).toMatchObject({ seq: 3, duplicate: true });
      const pushed = await socket.waitFor((frame) => frame.type === 'message' && frame.message.conversationId === conversationId && frame.message.seq === 3);
      expect(pushed.message).toMatchObject({ senderId: '$system', body: 'system notice' });
      const { messages } = await client.history({ conversationId, limit: 10 });
      expect(messages.map((m) => [m.seq, m.senderId])).toEqual([
        [3, '$system'],
        [2, '$bot:welcome'],
        [1, alice],
      ]);
    } finally {
      await socket.close();
    }
    // A user who is no member cannot be posted as: the same membership rule as on the WebSocket.
    await expect(client.postMessage({ conversationId, clientMessageId: 'x', body: 'hi', senderId: uniqueUser('stranger') })).rejects.toMatchObject({
      status: 403,
      code: 'forbidden',
    });
  });

  it('postMessage and history: bad input names the field', async () => {
    const { conversation } = await client.createConversation({ title: 'bad posts', members: [uniqueUser('p')] });
    const { conversationId } = conversation;
    await expectBadInput(client.postMessage({ conversationId, clientMessageId: '', body: 'x' }), 'clientMessageId');
    await expectBadInput(client.postMessage({ conversationId, clientMessageId: 'a', body: '' }), 'body');
    await expectBadInput(client.postMessage({ conversationId, clientMessageId: 'a', body: 'x', senderId: 'u', botId: 'b' }), 'botId');
    await expectBadInput(client.postMessage({ conversationId, clientMessageId: 'a', body: 'x', botId: 'Not A Bot' }), 'botId');
    await expectBadInput(client.history({ conversationId, limit: 0 }), 'limit');
    await expectBadInput(client.history({ conversationId, beforeSeq: 'x' as unknown as number }), 'beforeSeq');
  });

  it('redactMessage deletes as the system: a tombstone, idempotent', async () => {
    const alice = uniqueUser('alice');
    const { conversation } = await client.createConversation({ title: 'redact', members: [alice] });
    const { conversationId } = conversation;
    const { ack } = await client.postMessage({ conversationId, clientMessageId: 'm1', body: 'oops', senderId: alice });
    const redacted = await client.redactMessage({ conversationId, seq: ack.seq });
    expect(redacted.ack).toMatchObject({ seq: 2, duplicate: false });
    expect((await client.redactMessage({ conversationId, seq: ack.seq })).ack).toMatchObject({ seq: 2, duplicate: true });
    const { messages } = await client.history({ conversationId });
    expect(messages.find((m) => m.seq === ack.seq)).toMatchObject({ deleted: true });
    expect(messages.find((m) => m.seq === ack.seq)?.body ?? '').toBe('');
    expect(messages.find((m) => m.seq === 2)).toMatchObject({ kind: 'delete', senderId: '$system', targetSeq: ack.seq });
  });

  it('redactMessage: bad input names the field', async () => {
    const { conversation } = await client.createConversation({ title: 'redact bad', members: [uniqueUser('r')] });
    await expectBadInput(client.redactMessage({ conversationId: conversation.conversationId, seq: 0 }), 'seq');
    await expectBadInput(client.redactMessage({ conversationId: conversation.conversationId, seq: 5 }), 'seq');
  });

  it("listUserConversations: a user's conversations with unread counts, paged", async () => {
    const user = uniqueUser('lister');
    const ids: string[] = [];
    for (const title of ['one', 'two', 'three']) ids.push((await client.createConversation({ title, members: [user] })).conversation.conversationId);
    await client.postMessage({ conversationId: ids[0]!, clientMessageId: 'n', body: 'unread' });
    const first = await client.listUserConversations({ userId: user, limit: 2 });
    expect(first.conversations).toHaveLength(2);
    const rest = await client.listUserConversations({ userId: user, cursor: first.nextCursor! });
    const all = [...first.conversations, ...rest.conversations];
    expect(all.map((c) => c.conversationId).sort()).toEqual([...ids].sort());
    expect(all.find((c) => c.conversationId === ids[0])?.unread).toBe(1);
    await expectBadInput(client.listUserConversations({ userId: user, limit: 101 }), 'limit');
    await expectBadInput(client.listUserConversations({ userId: user, cursor: 'forged' }), 'cursor');
  });

  it('disconnectUser closes every session of the user', async () => {
    const user = uniqueUser('devices');
    const [phone, laptop] = [await connectAs(urls, user), await connectAs(urls, user)];
    const result = await client.disconnectUser({ userId: user });
    expect(result.closed).toHaveLength(2);
    await Promise.all([phone.closed, laptop.closed]);
    await expectBadInput(client.disconnectUser({ userId: 'no spaces' }), 'userId');
  });

  it('banUser closes the sessions and the authorizer refuses new connections until unbanUser', async () => {
    const user = uniqueUser('banned');
    const socket = await connectAs(urls, user);
    const banned = await client.banUser({ userId: user, reason: 'spam' });
    expect(banned).toMatchObject({ userId: user, ban: { reason: 'spam' }, sessions: { closed: [expect.any(String)] } });
    await socket.closed;
    await expect(connectAs(urls, user)).rejects.toThrow(/401/);
    await client.unbanUser({ userId: user });
    const again = await connectAs(urls, user);
    await again.close();
    await expectBadInput(client.banUser({ userId: user, reason: '' }), 'reason');
    await expectBadInput(client.unbanUser({ userId: '$system' }), 'userId');
  });
});

describe('routes: lookups and erasure', () => {
  it('getConversation and getConversationByExternalId read a group with its members, roles, title, externalId and metadata', async () => {
    const [owner, member] = [uniqueUser('look-o'), uniqueUser('look-m')];
    // Any characters: the externalId travels in the query string, which API Gateway decodes reliably.
    const externalId = `shop/order 42?%#${randomUUID()}`;
    const { conversation } = await client.createConversation({
      externalId,
      title: 'Order 42',
      members: [owner, member],
      roles: { [owner]: 'owner' },
      metadata: { order: '42' },
    });
    expect(conversation.conversationId).toBe(externalGroupId(externalId));
    const expected = { conversationId: conversation.conversationId, title: 'Order 42', externalId, metadata: { order: '42' }, members: [owner, member].sort() };
    const byExternalId = await client.getConversationByExternalId({ externalId });
    expect(byExternalId.conversation).toMatchObject({ ...expected, roles: { [owner]: 'owner', [member]: 'member' } });
    expect((await client.getConversation({ conversationId: conversation.conversationId })).conversation).toEqual(byExternalId.conversation);
    // A direct conversation is readable too: the server principal has owner rights in every conversation.
    const other = await connectAs(urls, uniqueUser('look-dm'));
    try {
      const direct = await other.request({ action: 'createConversation', kind: 'direct', userId: owner });
      expect((await client.getConversation({ conversationId: direct.conversation.conversationId })).conversation).toMatchObject({ kind: 'direct' });
    } finally {
      await other.close();
    }
  });

  it('getConversation and getConversationByExternalId: 404 with a JSON error, bad input names the field', async () => {
    await expect(client.getConversationByExternalId({ externalId: `never-${randomUUID()}` })).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
      message: expect.stringMatching(/^externalId\b/),
    });
    await expect(client.getConversation({ conversationId: 'grp_missing' })).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expectBadInput(client.getConversationByExternalId({ externalId: '' }), 'externalId');
    await expectBadInput(client.getConversationByExternalId({ externalId: 'x'.repeat(129) }), 'externalId');
    await expectBadInput(client.getConversationByExternalId({} as { externalId: string }), 'externalId');
    await expectBadInput(client.getConversation({ conversationId: 'not-an-id' }), 'conversationId');
  });

  it("eraseUser tombstones the user's messages and rewrites the archive; a repeat finds nothing left", async () => {
    const [alice, bob] = [uniqueUser('erase-a'), uniqueUser('erase-b')];
    const { conversation } = await client.createConversation({ title: 'erase', members: [alice, bob] });
    const { conversationId } = conversation;
    await client.postMessage({ conversationId, clientMessageId: 'a1', body: 'alice secret', senderId: alice });
    await client.postMessage({ conversationId, clientMessageId: 'b1', body: 'bob stays', senderId: bob });
    const archive = new DirectoryArchiveStore(info.archiveDir);
    const archived = async () => (await Promise.all((await archive.list(archivePrefix(conversationId))).map((key) => archive.readRows(key)))).flat();
    // The local archive consumer has written the bodies (the test stack runs it, as `-c archive=true` does in AWS).
    await vi.waitFor(async () => expect((await archived()).map((row) => row.body).sort()).toEqual(['alice secret', 'bob stays']), {
      timeout: 20_000,
      interval: 100,
    });

    const report = await client.eraseUser({ userId: alice });
    expect(report).toMatchObject({ userId: alice, conversations: 1, items: 1, erasedAt: expect.any(String) });
    expect(report.archiveObjects).toBeGreaterThanOrEqual(1);
    expect(await archived()).not.toContainEqual(expect.objectContaining({ body: 'alice secret' }));
    const { messages } = await client.history({ conversationId });
    expect(messages.map((m) => [m.senderId, m.body ?? '', m.deleted ?? false])).toEqual([
      [bob, 'bob stays', false],
      [alice, '', true],
    ]);
    expect(await client.eraseUser({ userId: alice })).toMatchObject({ userId: alice, conversations: 1, items: 0, archiveObjects: 0 });
    // A user without memberships: nothing to do, still a report.
    expect(await client.eraseUser({ userId: uniqueUser('erase-none') })).toMatchObject({ conversations: 0, items: 0, archiveObjects: 0 });
    await expectBadInput(client.eraseUser({ userId: 'bad id' }), 'userId');
    await expectBadInput(client.eraseUser({ userId: '$system' }), 'userId');
  });
});

/** Events on the local bus whose JSON contains `text`. */
async function eventsWith(text: string): Promise<BusEvent[]> {
  const response = await fetch(`${info.eventsUrl}/_events?contains=${encodeURIComponent(text)}`);
  return ((await response.json()) as { events: BusEvent[] }).events;
}

/** What a case starts from: a group of `alice` and `bob`, and `carol`, who is no member. */
interface EventContext {
  conversationId: string;
  alice: string;
  bob: string;
  carol: string;
}

/** A route that changes a timeline (or, documented so, does not): what it does, and the events it leaves. */
interface EventCase {
  operation: ServerOperation;
  /** Calls the route (after any setup it needs); returns the conversation it changed. */
  // biome-ignore lint/suspicious/noConfusingVoidType: most routes change the case's own conversation and return nothing
  run: (context: EventContext) => Promise<string | void>;
  /** The events of the conversation, in seq order, as `[detail-type, detail fields]`, before the closing message. */
  events: (context: EventContext) => [string, Record<string, unknown>][];
}

const eventCases: EventCase[] = [
  {
    operation: 'createConversation',
    // A group starts with an empty timeline: creating one is no timeline change, so it puts no event on the bus.
    run: async ({ alice, bob }) => (await client.createConversation({ title: 'ev create', members: [alice, bob] })).conversation.conversationId,
    events: () => [],
  },
  {
    operation: 'addMembers',
    run: async ({ conversationId, carol }) => void (await client.addMembers({ conversationId, members: [carol] })),
    events: ({ carol }) => [['member.added', { actorId: '$system', userIds: [carol] }]],
  },
  {
    operation: 'removeMember',
    run: async ({ conversationId, bob }) => void (await client.removeMember({ conversationId, userId: bob })),
    events: ({ bob }) => [['member.removed', { actorId: '$system', userIds: [bob] }]],
  },
  {
    operation: 'setRole',
    run: async ({ conversationId, bob }) => void (await client.setRole({ conversationId, userId: bob, role: 'admin' })),
    events: ({ bob }) => [['member.role_changed', { actorId: '$system', userIds: [bob], role: 'admin' }]],
  },
  {
    operation: 'postMessage',
    run: async ({ conversationId, alice }) => {
      await client.postMessage({ conversationId, clientMessageId: 'ev-user', body: 'as alice', senderId: alice });
      await client.postMessage({ conversationId, clientMessageId: 'ev-bot', body: 'as a bot', botId: 'events' });
    },
    events: ({ alice }) => [
      ['message.sent', { actorId: alice, clientMessageId: 'ev-user', body: 'as alice' }],
      ['message.sent', { actorId: '$bot:events', clientMessageId: 'ev-bot', body: 'as a bot' }],
    ],
  },
  {
    operation: 'redactMessage',
    run: async ({ conversationId, alice }) => {
      const { ack } = await client.postMessage({ conversationId, clientMessageId: 'ev-oops', body: 'oops', senderId: alice });
      await client.redactMessage({ conversationId, seq: ack.seq });
    },
    events: ({ alice }) => [
      ['message.sent', { actorId: alice, body: 'oops' }],
      ['message.deleted', { actorId: '$system', targetSeq: 1 }],
    ],
  },
  {
    operation: 'eraseUser',
    // Erasure rewrites items in place (stream MODIFY records, which the event source filters out): no event of its
    // own, and events already delivered keep their bodies (docs/EVENTS.md).
    run: async ({ conversationId, alice }) => {
      await client.postMessage({ conversationId, clientMessageId: 'ev-erased', body: 'to be erased', senderId: alice });
      await client.eraseUser({ userId: alice });
    },
    events: ({ alice }) => [['message.sent', { actorId: alice, body: 'to be erased' }]],
  },
];

describe.concurrent('events on the stream', () => {
  it('covers every route but the ones that change no timeline', () => {
    const noTimelineChange: ServerOperation[] = [
      'history',
      'listUserConversations',
      'disconnectUser',
      'banUser',
      'unbanUser',
      'getConversation',
      'getConversationByExternalId',
    ];
    expect(eventCases.map((c) => c.operation).sort()).toEqual(
      serverApi.routes
        .map((route) => route.operation)
        .filter((operation) => !noTimelineChange.includes(operation))
        .sort(),
    );
  });

  it.each(eventCases)('$operation puts exactly its documented events on the bus', async ({ run, events }) => {
    const [alice, bob, carol] = [uniqueUser('ev-a'), uniqueUser('ev-b'), uniqueUser('ev-c')];
    const group = (await client.createConversation({ title: 'events', members: [alice, bob] })).conversation.conversationId;
    const conversationId = (await run({ conversationId: group, alice, bob, carol })) ?? group;
    const context = { conversationId, alice, bob, carol };
    // A closing message: its event comes after any event of the route's changes (one stream shard per conversation,
    // in order), so once it is on the bus, what is not there yet will not come.
    const { ack } = await client.postMessage({ conversationId, clientMessageId: 'ev-closing', body: 'closing' });
    const timelineEvents = async () => (await eventsWith(conversationId)).filter((event) => event['detail-type'] !== 'message.undelivered');
    await until(`the closing event of ${conversationId}`, async () => (await timelineEvents()).some((event) => event.detail.seq === ack.seq), 15_000);
    // Redelivered copies share an eventId; one per change.
    const unique = new Map((await timelineEvents()).map((event) => [String(event.detail.eventId), event]));
    const seen = [...unique.values()]
      .map((event) => parseEvent(event['detail-type'], event.detail))
      .sort((a, b) => a.detail.seq - b.detail.seq)
      .map((event) => [event.detailType, event.detail]);
    const expected = [...events(context), ['message.sent', { actorId: '$system', body: 'closing' }] as [string, Record<string, unknown>]];
    expect(seen).toMatchObject(expected.map(([type, detail], index) => [type, { conversationId, seq: index + 1, ...detail }]));
    expect(seen).toHaveLength(expected.length);
  });
});

describe('server SDK', () => {
  it('signs with the standard credential chain (environment variables here)', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = info.serverApiCredentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = info.serverApiCredentials.secretAccessKey;
    try {
      const fromChain = new ParleyServerClient({ url: info.serverApiUrl, region: info.serverApiRegion });
      expect((await fromChain.createConversation({ title: 'chain', members: [uniqueUser('c')] })).created).toBe(true);
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });

  it('throws ParleyAccessDeniedError with the AWS error type when the signature is refused', async () => {
    const wrong = new ParleyServerClient({
      url: info.serverApiUrl,
      region: info.serverApiRegion,
      credentials: { ...info.serverApiCredentials, secretAccessKey: 'wrong' },
    });
    const error = await wrong.disconnectUser({ userId: 'anyone' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ParleyAccessDeniedError);
    expect(error).toMatchObject({ status: 403, code: 'access_denied', awsErrorType: 'InvalidSignatureException' });
  });
});
