/**
 * Abuse limits on the shared local stack (default limits, see PROTOCOL.md "Limits"): per-connection rate limits on
 * send and typing with `rate_limited` + `retryAfterMs`, the message size limit, group size and members per request,
 * and the per-request list and page limits. A refused request stores nothing; the connection stays usable.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadLimits } from '../../lambdas/shared/config.js';
import { connectAs, uniqueUser, type Frame, type TestClient } from '../support/ws-client.js';

const info = inject('parley');
const ddb = DynamoDBDocumentClient.from(
  new DynamoDBClient({ endpoint: info.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
);
// The shared stack runs with the defaults.
const limits = loadLimits({});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const opened: TestClient[] = [];
afterAll(() => Promise.all(opened.map((client) => client.close())));
const connect = async (userId: string) => {
  const client = await connectAs(info, userId);
  opened.push(client);
  return client;
};

const storedCount = async (table: 'messages' | 'members', conversationId: string) =>
  (
    await ddb.send(
      new QueryCommand({
        TableName: info.tableNames[table],
        // Messages have seq >= 1 (seq 0 may hold the conversation's head); member user ids are never empty.
        KeyConditionExpression: table === 'messages' ? 'conversationId = :c AND seq > :zero' : 'conversationId = :c',
        ExpressionAttributeValues: table === 'messages' ? { ':c': conversationId, ':zero': 0 } : { ':c': conversationId },
        Select: 'COUNT',
        ConsistentRead: true,
      }),
    )
  ).Count;

const users = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

describe.concurrent('abuse limits', () => {
  it('rate limits sends per connection with rate_limited and retryAfterMs; limited sends store nothing', async () => {
    const aliceId = uniqueUser('rate');
    const [alice, aliceOtherDevice] = [await connect(aliceId), await connect(aliceId)];
    const conversationId = (await alice.request({ action: 'createConversation', kind: 'direct', userId: uniqueUser('rate-peer') })).conversation.conversationId;
    // A burst well over SEND_BURST on one connection (to a conversation that does not exist: cheap, and it still costs tokens).
    const missing = `grp_${randomUUID()}`;
    const burst = await Promise.all(
      Array.from({ length: limits.sendBurst + 60 }, (_, i) => alice.request({ action: 'send', conversationId: missing, clientMessageId: `b${i}`, body: 'x' })),
    );
    const limited = burst.filter((reply) => reply.code === 'rate_limited');
    expect(limited.length).toBeGreaterThanOrEqual(10);
    expect(burst.filter((reply) => reply.code === 'not_found').length).toBeGreaterThanOrEqual(limits.sendBurst);
    for (const reply of limited) {
      expect(reply).toMatchObject({ type: 'error', code: 'rate_limited', requestId: expect.any(String), message: expect.any(String) });
      expect(reply.retryAfterMs).toBeGreaterThan(0);
      expect(reply.retryAfterMs).toBeLessThanOrEqual(Math.ceil(1000 / limits.sendRatePerSecond));
    }

    // The user's other connection has its own budget.
    expect(await aliceOtherDevice.request({ action: 'send', conversationId, clientMessageId: 'other-device', body: 'fine' })).toMatchObject({
      type: 'ack',
      seq: 1,
    });
    // The limited connection: a real send now is refused or acked, never half-done; after retryAfterMs it goes through.
    const attempts: Frame[] = [];
    for (let i = 0; i < 20; i++) {
      const reply = await alice.request({ action: 'send', conversationId, clientMessageId: 'after-burst', body: 'patience' });
      attempts.push(reply);
      if (reply.type === 'ack') break;
      expect(reply.code).toBe('rate_limited');
      await sleep(reply.retryAfterMs);
    }
    expect(attempts.at(-1)).toMatchObject({ type: 'ack', seq: 2, duplicate: false });
    expect(await storedCount('messages', conversationId)).toBe(2);
  });

  it('rate limits typing per connection; limited typing events are not relayed', async () => {
    const [alice, bob] = [await connect(uniqueUser('typer')), await connect(uniqueUser('reader'))];
    const conversationId = (await alice.request({ action: 'createConversation', kind: 'direct', userId: bob.userId })).conversation.conversationId;
    const replies = await Promise.all(
      Array.from({ length: limits.typingBurst + 15 }, () => alice.request({ action: 'typing', conversationId, state: 'start' })),
    );
    const ok = replies.filter((reply) => reply.type === 'ok').length;
    const limited = replies.filter((reply) => reply.code === 'rate_limited');
    expect(ok + limited.length).toBe(replies.length);
    expect(limited.length).toBeGreaterThanOrEqual(3);
    for (const reply of limited) {
      expect(reply.retryAfterMs).toBeGreaterThan(0);
      expect(reply.retryAfterMs).toBeLessThanOrEqual(Math.ceil(1000 / limits.typingRatePerSecond));
    }
    const typingSeen = () => bob.frames.filter((frame) => frame.type === 'typing' && frame.conversationId === conversationId).length;
    await bob.waitFor(() => typingSeen() >= ok);
    await sleep(300);
    expect(typingSeen()).toBe(ok);
    await sleep(Math.max(...limited.map((reply) => reply.retryAfterMs)));
    expect(await alice.request({ action: 'typing', conversationId, state: 'stop' })).toMatchObject({ type: 'ok' });
  });

  it('limits message bodies to MAX_BODY_CHARS and request frames to MAX_FRAME_BYTES', async () => {
    const alice = await connect(uniqueUser('sizer'));
    const conversationId = (await alice.request({ action: 'createConversation', kind: 'direct', userId: uniqueUser('size-peer') })).conversation.conversationId;
    const send = (clientMessageId: string, body: string) => alice.request({ action: 'send', conversationId, clientMessageId, body });

    expect(await send('max', 'x'.repeat(limits.maxBodyChars))).toMatchObject({ type: 'ack', seq: 1 });
    const tooLong = await send('too-long', 'x'.repeat(limits.maxBodyChars + 1));
    expect(tooLong).toMatchObject({ type: 'error', code: 'bad_request', requestId: expect.any(String) });
    expect(tooLong.message).toMatch(/^body: /);
    expect(await send('x'.repeat(65), 'hi')).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^clientMessageId: /) });
    // 8,000 three-byte characters are within MAX_BODY_CHARS but make a 24 KB frame: the frame limit answers first.
    const wide = await send('wide', '€'.repeat(limits.maxBodyChars));
    expect(wide).toMatchObject({ type: 'error', code: 'payload_too_large', requestId: expect.any(String) });
    expect(await send('ok', 'still here')).toMatchObject({ type: 'ack', seq: 2 });
    expect(await storedCount('messages', conversationId)).toBe(2);
  });

  it('limits groups to MAX_GROUP_MEMBERS and addMembers to MAX_MEMBERS_PER_REQUEST', async () => {
    const owner = await connect(uniqueUser('owner'));
    const prefix = uniqueUser('m');
    const create = (members: string[]) => owner.request({ action: 'createConversation', kind: 'group', title: 'big', members });

    // The caller counts: 255 others make a full group, 256 others one too many.
    const full = await create(users(`${prefix}-full`, limits.maxGroupMembers - 1));
    expect(full).toMatchObject({ type: 'conversation' });
    expect(full.conversation.members).toHaveLength(limits.maxGroupMembers);
    expect(await create(users(`${prefix}-over`, limits.maxGroupMembers))).toMatchObject({ type: 'error', code: 'limit_exceeded' });
    // A members list longer than the limit itself is a malformed request.
    expect(await create(users(`${prefix}-list`, limits.maxGroupMembers + 1))).toMatchObject({ type: 'error', code: 'bad_request' });

    const group = (await create(users(`${prefix}-g`, limits.maxGroupMembers - 1 - limits.maxMembersPerRequest - 6))).conversation.conversationId;
    const add = (members: string[]) => owner.request({ action: 'addMembers', conversationId: group, members });
    const perRequest = await add(users(`${prefix}-a`, limits.maxMembersPerRequest + 1));
    expect(perRequest).toMatchObject({ type: 'error', code: 'bad_request' });
    expect(perRequest.message).toMatch(/^members: /);
    expect(await add(users(`${prefix}-b`, limits.maxMembersPerRequest))).toMatchObject({ type: 'conversation' });
    expect(await add(users(`${prefix}-c`, 7))).toMatchObject({ type: 'error', code: 'limit_exceeded' });
    const last = await add(users(`${prefix}-d`, 6));
    expect(last.conversation.members).toHaveLength(limits.maxGroupMembers);
    expect(await add([`${prefix}-one-more`])).toMatchObject({ type: 'error', code: 'limit_exceeded' });
    expect(await storedCount('members', group)).toBe(limits.maxGroupMembers);
  });

  it('limits list sizes and pages per request', async () => {
    const alice = await connect(uniqueUser('lists'));
    const conversationId = (await alice.request({ action: 'createConversation', kind: 'direct', userId: uniqueUser('lists-peer') })).conversation
      .conversationId;
    const cases: [Record<string, unknown>, string][] = [
      [{ action: 'presence', userIds: users('p', 101) }, 'userIds'],
      [
        { action: 'sync', cursors: Object.fromEntries(users('c', 101).map((id) => [`dm_${id.replace(/[^A-Za-z0-9-]/g, '-')}`, { seq: 0, epoch: null }])) },
        'cursors',
      ],
      [{ action: 'sync', limit: 101 }, 'limit'],
      [{ action: 'history', conversationId, limit: 101 }, 'limit'],
      [{ action: 'listConversations', limit: 101 }, 'limit'],
      [{ action: 'createConversation', kind: 'group', title: 't'.repeat(101), members: ['x'] }, 'title'],
    ];
    for (const [frame, field] of cases) {
      const reply = await alice.request(frame);
      expect(reply, JSON.stringify(reply)).toMatchObject({ type: 'error', code: 'bad_request' });
      expect(reply.message.startsWith(`${field}`)).toBe(true);
    }
    expect(await alice.request({ action: 'presence', userIds: users('p', 100) })).toMatchObject({ type: 'presence' });
    expect(await alice.request({ action: 'history', conversationId, limit: 100 })).toMatchObject({ type: 'history' });
  });
});
