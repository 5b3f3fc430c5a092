/**
 * Conversation lifecycle against the local stack: roles and the authorization matrix of every lifecycle action,
 * removal that is real (push, sync, history, typing, receipts, presence, queued fanout jobs), races, blocking,
 * the group-add setting with invitations, edits, deletes, reactions and unread counts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadFanoutHandler, sqsEvent } from '../support/fanout-handler.js';
import { until } from '../support/faults.js';
import { connectAs, uniqueUser, type Frame, type TestClient } from '../support/ws-client.js';

const info = inject('parley');
const ddb = DynamoDBDocumentClient.from(
  new DynamoDBClient({ endpoint: info.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let ids = 0;
const nextId = () => `id-${++ids}`;

async function send(client: TestClient, conversationId: string, body: string): Promise<number> {
  const ack = await client.request({ action: 'send', conversationId, clientMessageId: nextId(), body });
  expect(ack, JSON.stringify(ack)).toMatchObject({ type: 'ack' });
  return ack.seq;
}

/** Every stored timeline item of a conversation (seq 0, the head, left out), read from the table in seq order. */
async function storedItems(conversationId: string): Promise<Record<string, unknown>[]> {
  const { Items } = await ddb.send(
    new QueryCommand({
      TableName: info.tableNames.messages,
      KeyConditionExpression: 'conversationId = :c AND seq > :zero',
      ExpressionAttributeValues: { ':c': conversationId, ':zero': 0 },
      ConsistentRead: true,
    }),
  );
  return Items ?? [];
}

/** Frames of one conversation pushed to `client` (no requestId), from index `from` on. */
const pushedIn = (client: TestClient, conversationId: string, from = 0) =>
  client.frames.slice(from).filter((frame) => !frame.requestId && JSON.stringify(frame).includes(conversationId));

/**
 * A group with every role: owner, admin, member, a member the owner blocked, a removed member and a stranger,
 * plus plain members `extras` to act on. `messages` maps each member to a message they sent (the removed one
 * before the removal).
 */
async function roleGroup(extras = 4) {
  const [owner, admin, member, blocked, removed, stranger] = await Promise.all(
    ['owner', 'admin', 'member', 'blocked', 'removed', 'stranger'].map((name) => connectAs(info, uniqueUser(name))),
  );
  const others = Array.from({ length: extras }, (_, i) => uniqueUser(`x${i}`));
  const created = await owner!.request({
    action: 'createConversation',
    kind: 'group',
    title: 'roles',
    members: [admin!.userId, member!.userId, blocked!.userId, removed!.userId, ...others],
  });
  const conversationId: string = created.conversation.conversationId;
  expect(await owner!.request({ action: 'setRole', conversationId, userId: admin!.userId, role: 'admin' })).toMatchObject({ type: 'conversation' });
  const messages: Record<string, number> = {};
  for (const client of [owner!, admin!, member!, blocked!, removed!]) messages[client.userId] = await send(client, conversationId, `by ${client.userId}`);
  expect(await owner!.request({ action: 'block', userId: blocked!.userId })).toMatchObject({ type: 'settings' });
  expect(await owner!.request({ action: 'removeMembers', conversationId, members: [removed!.userId] })).toMatchObject({ type: 'conversation' });
  const actors = { owner: owner!, admin: admin!, member: member!, removed: removed!, stranger: stranger!, blocked: blocked! };
  return { conversationId, actors, others, messages, close: () => Promise.all(Object.values(actors).map((client) => client.close())) };
}

type Actor = 'owner' | 'admin' | 'member' | 'removed' | 'stranger' | 'blocked';
const actorOrder: Actor[] = ['stranger', 'removed', 'member', 'blocked', 'admin', 'owner'];
const codeOf = (reply: Frame) => (reply.type === 'error' ? reply.code : 'ok');

// Tests that share no users run concurrently (they mostly wait on the stack); the consent tests share theirs.
describe.concurrent('authorization matrix of the lifecycle actions', () => {
  // The expected outcome per action and actor ("ok" = the action succeeded). The blocked user is a member of the
  // group whom the owner blocked: group permissions follow their role; blocking is about DMs, adds, typing, presence.
  const matrix: Record<string, Record<Actor, string>> = {
    addMembers: { owner: 'ok', admin: 'ok', member: 'forbidden', blocked: 'forbidden', removed: 'forbidden', stranger: 'forbidden' },
    removeMembers: { owner: 'ok', admin: 'ok', member: 'forbidden', blocked: 'forbidden', removed: 'forbidden', stranger: 'forbidden' },
    setRole: { owner: 'ok', admin: 'forbidden', member: 'forbidden', blocked: 'forbidden', removed: 'forbidden', stranger: 'forbidden' },
    updateConversation: { owner: 'ok', admin: 'ok', member: 'forbidden', blocked: 'forbidden', removed: 'forbidden', stranger: 'forbidden' },
    editOwn: { owner: 'ok', admin: 'ok', member: 'ok', blocked: 'ok', removed: 'forbidden', stranger: 'forbidden' },
    editOthers: { owner: 'forbidden', admin: 'forbidden', member: 'forbidden', blocked: 'forbidden', removed: 'forbidden', stranger: 'forbidden' },
    deleteOthers: { owner: 'ok', admin: 'ok', member: 'forbidden', blocked: 'forbidden', removed: 'forbidden', stranger: 'forbidden' },
    deleteOwn: { owner: 'ok', admin: 'ok', member: 'ok', blocked: 'ok', removed: 'forbidden', stranger: 'forbidden' },
    react: { owner: 'ok', admin: 'ok', member: 'ok', blocked: 'ok', removed: 'forbidden', stranger: 'forbidden' },
    unreact: { owner: 'ok', admin: 'ok', member: 'ok', blocked: 'ok', removed: 'forbidden', stranger: 'forbidden' },
    leave: { owner: 'ok', admin: 'ok', member: 'ok', blocked: 'ok', removed: 'forbidden', stranger: 'forbidden' },
  };

  it.each(Object.keys(matrix))('%s: the expected code for owner, admin, member, blocked, removed member and stranger', async (action) => {
    const group = await roleGroup(6);
    const { conversationId, actors, others, messages } = group;
    const othersMessage = messages[actors.member.userId]!;
    let extra = 0;
    const frameFor = (actor: Actor): Record<string, unknown> => {
      const self = actors[actor].userId;
      const own = messages[self] ?? othersMessage;
      const base = { conversationId, clientMessageId: nextId() };
      switch (action) {
        case 'addMembers':
          return { action, conversationId, members: [uniqueUser('new')] };
        case 'removeMembers':
          return { action, conversationId, members: [others[extra++]!] };
        case 'setRole':
          return { action, conversationId, userId: others[0]!, role: actor === 'owner' ? 'admin' : 'owner' };
        case 'updateConversation':
          return { action, conversationId, title: `renamed by ${actor}` };
        case 'editOwn':
          return { action: 'edit', ...base, seq: own, body: 'edited' };
        case 'editOthers':
          return { action: 'edit', ...base, seq: actor === 'member' ? messages[actors.admin.userId] : othersMessage, body: 'edited' };
        case 'deleteOthers':
          return { action: 'deleteMessage', ...base, seq: messages[actors.blocked.userId] };
        case 'deleteOwn':
          return { action: 'deleteMessage', ...base, seq: own };
        case 'react':
        case 'unreact':
          return { action, ...base, seq: othersMessage, emoji: '👍' };
        default:
          return { action, conversationId };
      }
    };
    if (action === 'unreact') {
      for (const actor of ['owner', 'admin', 'member', 'blocked'] as const) {
        expect(await actors[actor].request({ ...frameFor(actor), action: 'react' })).toMatchObject({ type: 'ack' });
      }
    }
    // deleteOthers: the blocked user's message is the target, so the blocked user's own cell is "their own message".
    const order = action === 'deleteOthers' ? actorOrder.filter((actor) => actor !== 'blocked') : actorOrder;
    const results: Partial<Record<Actor, string>> = {};
    for (const actor of order) {
      // An owner cannot delete what an admin already deleted: the second deleter gets a fresh target.
      const frame = frameFor(actor);
      if (action === 'deleteOthers' && actor === 'owner') frame.seq = messages[actors.member.userId];
      const reply = await actors[actor].request(frame);
      results[actor] = codeOf(reply);
      if (reply.type === 'error') expect(reply.message, JSON.stringify(reply)).not.toContain('undefined');
    }
    const expected = Object.fromEntries(order.map((actor) => [actor, matrix[action]![actor]]));
    expect(results).toEqual(expected);
    await group.close();
  });

  it('admins cannot remove owners or admins, and the last owner leaving promotes the longest-standing admin', async () => {
    const group = await roleGroup(1);
    const { conversationId, actors } = group;
    expect(await actors.admin.request({ action: 'removeMembers', conversationId, members: [actors.owner.userId] })).toMatchObject({ code: 'forbidden' });
    expect(await actors.owner.request({ action: 'setRole', conversationId, userId: actors.owner.userId, role: 'member' })).toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(/^role: /),
    });
    const left = await actors.owner.request({ action: 'leave', conversationId });
    expect(left.conversation.members).not.toContain(actors.owner.userId);
    const history = await actors.member.request({ action: 'history', conversationId, limit: 2 });
    expect(history.messages.map((m: Frame) => [m.kind, m.userIds, m.role ?? null])).toEqual([
      ['role_changed', [actors.admin.userId], 'owner'],
      ['member_left', [actors.owner.userId], null],
    ]);
    expect(await actors.admin.request({ action: 'setRole', conversationId, userId: actors.member.userId, role: 'admin' })).toMatchObject({
      type: 'conversation',
      conversation: { roles: expect.objectContaining({ [actors.admin.userId]: 'owner', [actors.member.userId]: 'admin' }) },
    });
    await group.close();
  });

  it('refuses group-only actions in a direct conversation with bad_request naming the field', async () => {
    const [a, b] = await Promise.all([connectAs(info, uniqueUser('a')), connectAs(info, uniqueUser('b'))]);
    const { conversation } = await a.request({ action: 'createConversation', kind: 'direct', userId: b.userId });
    const conversationId = conversation.conversationId;
    for (const frame of [
      { action: 'addMembers', conversationId, members: [uniqueUser('c')] },
      { action: 'removeMembers', conversationId, members: [b.userId] },
      { action: 'leave', conversationId },
      { action: 'setRole', conversationId, userId: b.userId, role: 'admin' },
      { action: 'updateConversation', conversationId, title: 'no' },
    ]) {
      expect(await a.request(frame), frame.action).toMatchObject({ type: 'error', code: 'bad_request', message: expect.stringMatching(/^conversationId: /) });
    }
    await Promise.all([a.close(), b.close()]);
  });
});

describe.concurrent('removal is real', () => {
  it('gives a removed member nothing past the removal seq: push, sync, history, typing, receipts, presence', async () => {
    const [owner, member, removed] = await Promise.all(['owner', 'member', 'removed'].map((name) => connectAs(info, uniqueUser(name))));
    const { conversation } = await owner!.request({ action: 'createConversation', kind: 'group', title: 'r', members: [member!.userId, removed!.userId] });
    const conversationId = conversation.conversationId;
    await send(owner!, conversationId, 'before');
    const reply = await owner!.request({ action: 'removeMembers', conversationId, members: [removed!.userId] });
    const removalSeq = reply.conversation.lastSeq;
    // The removed member is pushed their removal event, so their screen can show it.
    const event = await removed!.waitFor((frame) => frame.type === 'message' && frame.message.kind === 'member_removed');
    expect(event.message).toMatchObject({ seq: removalSeq, senderId: owner!.userId, userIds: [removed!.userId] });
    const mark = removed!.frames.length;

    await send(owner!, conversationId, 'after 1');
    await member!.request({ action: 'typing', conversationId, state: 'start' });
    const lastSeq = await send(member!, conversationId, 'after 2');
    await member!.request({ action: 'ack', conversationId, kind: 'read', seq: lastSeq });
    await member!.close();
    const memberAgain = await connectAs(info, member!.userId);
    await owner!.waitFor((frame) => frame.type === 'message' && frame.message.seq === lastSeq);
    await pause(1500);
    expect(pushedIn(removed!, conversationId, mark)).toEqual([]);
    expect(removed!.frames.slice(mark).filter((frame) => frame.type === 'presence' && !frame.requestId)).toEqual([]);

    const synced = await removed!.request({ action: 'sync', cursors: {} });
    const entry = synced.conversations.find((c: Frame) => c.conversationId === conversationId);
    expect(entry.lastSeq).toBe(removalSeq);
    expect(Math.max(...entry.messages.map((m: Frame) => m.seq))).toBe(removalSeq);
    expect(JSON.stringify(entry)).not.toContain('after 1');
    const history = await removed!.request({ action: 'history', conversationId });
    expect(history.messages.map((m: Frame) => m.seq)).toEqual([removalSeq, removalSeq - 1]);
    expect((await removed!.request({ action: 'presence', userIds: [member!.userId] })).users[0].status).toBe('unknown');
    for (const frame of [
      { action: 'send', conversationId, clientMessageId: nextId(), body: 'let me back' },
      { action: 'typing', conversationId, state: 'start' },
      { action: 'ack', conversationId, kind: 'read', seq: removalSeq },
    ]) {
      expect(await removed!.request(frame), frame.action).toMatchObject({ code: 'forbidden' });
    }
    // Re-adding clears the removal: everything is readable again.
    await owner!.request({ action: 'addMembers', conversationId, members: [removed!.userId] });
    const again = await removed!.request({ action: 'history', conversationId, limit: 100 });
    expect(again.messages.map((m: Frame) => m.body)).toContain('after 1');
    await Promise.all([owner!.close(), memberAgain.close(), removed!.close()]);
  });

  it('keeps fanout jobs queued before a removal from reaching the removed member of a large (SQS) group', async () => {
    const [owner, member, removed] = await Promise.all(['owner', 'member', 'removed'].map((name) => connectAs(info, uniqueUser(name))));
    const offline = Array.from({ length: 160 }, (_, i) => uniqueUser(`big${i}`));
    const { conversation } = await owner!.request({
      action: 'createConversation',
      kind: 'group',
      title: 'big',
      members: [member!.userId, removed!.userId, ...offline],
    });
    const conversationId = conversation.conversationId;
    expect(conversation.members.length).toBeGreaterThan(150);
    const first = await send(owner!, conversationId, 'queued to everyone');
    await removed!.waitFor((frame) => frame.type === 'message' && frame.message.seq === first, { timeoutMs: 20_000 });
    const stored = (await owner!.request({ action: 'history', conversationId, limit: 1 })).messages[0];

    // Jobs as the send handler queued them before the removal: computed at membershipSeq 0, for every member.
    const recipients = [member!.userId, removed!.userId];
    const before = { conversationId, membershipSeq: 0 };
    const removal = await owner!.request({ action: 'removeMembers', conversationId, members: [removed!.userId] });
    const removalSeq = removal.conversation.lastSeq;
    await removed!.waitFor((frame) => frame.type === 'message' && frame.message.seq === removalSeq, { timeoutMs: 20_000 });
    const mark = removed!.frames.length;
    const later = await send(owner!, conversationId, 'after the removal');
    const laterMessage = (await owner!.request({ action: 'history', conversationId, limit: 1 })).messages[0];
    expect(laterMessage.seq).toBe(later);
    const fanout = await loadFanoutHandler();
    const jobs = [
      { kind: 'deliver', event: { type: 'typing', conversationId, userId: owner!.userId, state: 'start' }, recipients, scope: before, attempt: 0 },
      { kind: 'deliver', event: { type: 'message', message: laterMessage }, recipients, scope: { ...before, seq: later }, attempt: 0 },
      // A retry of exact connections is checked too.
      {
        kind: 'deliver',
        event: { type: 'message', message: laterMessage },
        targets: [{ userId: removed!.userId, connectionId: 'x' }],
        scope: { ...before, seq: later },
        attempt: 1,
      },
      // Up to the removal seq the removed member may still be pushed (it is theirs to read).
      { kind: 'deliver', event: { type: 'message', message: stored }, recipients, scope: { ...before, seq: stored.seq }, attempt: 0 },
    ];
    expect(await fanout(sqsEvent(jobs), {} as never)).toEqual({ batchItemFailures: [] });
    await member!.waitFor((frame) => frame.type === 'typing' && frame.conversationId === conversationId);
    await member!.waitFor((frame) => frame.type === 'message' && frame.message.seq === later, { timeoutMs: 20_000 });
    await removed!.waitFor((frame) => frame.type === 'message' && frame.message.seq === stored.seq && removed!.frames.indexOf(frame) >= mark);
    await pause(1500);
    const leaked = pushedIn(removed!, conversationId, mark).filter((frame) => !(frame.type === 'message' && frame.message.seq <= removalSeq));
    expect(leaked).toEqual([]);
    await Promise.all([owner!.close(), member!.close(), removed!.close()]);
  });
});

describe.concurrent('races', () => {
  it('never leaves a hidden reader: concurrent creates with one clientRequestId and different members', async () => {
    for (let round = 0; round < 4; round++) {
      const owner = await connectAs(info, uniqueUser('owner'));
      const [bob, eve] = [uniqueUser('bob'), uniqueUser('eve')];
      const create = (members: string[]) => owner.request({ action: 'createConversation', kind: 'group', title: 'same', members, clientRequestId: 'dup' });
      const [a, b] = await Promise.all([create([bob]), create([eve])]);
      expect(a.conversation.conversationId).toBe(b.conversation.conversationId);
      expect(a.conversation.members).toEqual(b.conversation.members);
      const conversationId = a.conversation.conversationId;
      await send(owner, conversationId, 'for the winner only');
      const loser = a.conversation.members.includes(bob) ? eve : bob;
      const { Item } = await ddb.send(new GetCommand({ TableName: info.tableNames.members, Key: { conversationId, userId: loser }, ConsistentRead: true }));
      expect(Item).toBeUndefined();
      const client = await connectAs(info, loser);
      expect(JSON.stringify(await client.request({ action: 'sync', cursors: {} }))).not.toContain(conversationId);
      expect(JSON.stringify(await client.request({ action: 'listConversations' }))).not.toContain(conversationId);
      expect(await client.request({ action: 'history', conversationId })).toMatchObject({ code: 'forbidden' });
      await Promise.all([owner.close(), client.close()]);
    }
  });

  it('never stores a send of a removed member after the removal event, under concurrent removeMembers and send', async () => {
    for (let round = 0; round < 3; round++) {
      const [owner, target] = await Promise.all([connectAs(info, uniqueUser('owner')), connectAs(info, uniqueUser('target'))]);
      const { conversation } = await owner.request({ action: 'createConversation', kind: 'group', title: 'race', members: [target.userId] });
      const conversationId = conversation.conversationId;
      const sends = Array.from({ length: 8 }, (_, i) => target.request({ action: 'send', conversationId, clientMessageId: `r${i}`, body: `m${i}` }));
      const removal = owner.request({ action: 'removeMembers', conversationId, members: [target.userId] });
      const [replies, removed] = await Promise.all([Promise.all(sends), removal]);
      const items = await storedItems(conversationId);
      const removalSeq = items.find((item) => item.kind === 'member_removed')!.seq as number;
      expect(removed.conversation.lastSeq).toBeGreaterThanOrEqual(removalSeq);
      const bySender = items.filter((item) => item.senderId === target.userId).map((item) => item.seq as number);
      expect(bySender.every((seq) => seq < removalSeq)).toBe(true);
      for (const reply of replies) expect(reply.type === 'ack' ? reply.seq < removalSeq : reply.code === 'forbidden', JSON.stringify(reply)).toBe(true);
      expect(items.map((item) => item.seq)).toEqual(items.map((_, i) => i + 1));
      await Promise.all([owner.close(), target.close()]);
    }
  });

  it('serializes concurrent edits of one message: each one an event in order, the last one wins, retries are idempotent, no seq is lost', async () => {
    const [alice, bob] = await Promise.all([connectAs(info, uniqueUser('alice')), connectAs(info, uniqueUser('bob'))]);
    const { conversation } = await alice.request({ action: 'createConversation', kind: 'direct', userId: bob.userId });
    const conversationId = conversation.conversationId;
    const seq = await send(alice, conversationId, 'draft');
    const edits = await Promise.all(
      Array.from({ length: 5 }, (_, i) => alice.request({ action: 'edit', conversationId, seq, clientMessageId: `e${i}`, body: `version ${i}` })),
    );
    for (const edit of edits) expect(edit, JSON.stringify(edit)).toMatchObject({ type: 'ack', duplicate: false });
    // Each edit takes its seq from the counter; one that lost the race for the message's state leaves a `skipped`
    // placeholder at the seq it took and commits at a later one.
    const seqs = edits.map((edit) => edit.seq).sort((a, b) => a - b);
    expect(new Set(seqs).size).toBe(5);
    expect(seqs[0]).toBeGreaterThan(seq);
    const last = seqs.at(-1)!;
    const winner = edits.find((edit) => edit.seq === last)!;
    const retried = await alice.request({ action: 'edit', conversationId, seq, clientMessageId: winner.clientMessageId, body: 'ignored' });
    expect(retried).toMatchObject({ type: 'ack', seq: winner.seq, duplicate: true });
    const history = await bob.request({ action: 'history', conversationId });
    expect(history.messages[0]).toMatchObject({ seq: last, kind: 'edit', targetSeq: seq });
    const after = history.messages.filter((m: Frame) => m.seq > seq).sort((a: Frame, b: Frame) => a.seq - b.seq);
    expect(
      after.map((m: Frame) => m.seq),
      'gap-free',
    ).toEqual(Array.from({ length: last - seq }, (_, i) => seq + 1 + i));
    expect(after.filter((m: Frame) => m.kind === 'edit').map((m: Frame) => m.seq)).toEqual(seqs);
    expect(after.every((m: Frame) => m.kind === 'edit' || m.kind === 'skipped')).toBe(true);
    const original = history.messages.find((m: Frame) => m.seq === seq);
    expect(original).toMatchObject({ kind: 'message', body: `version ${Number(winner.clientMessageId.slice(1))}`, editedAt: expect.any(String) });
    expect(await bob.request({ action: 'edit', conversationId, seq, clientMessageId: 'bob-edit', body: 'mine now' })).toMatchObject({ code: 'forbidden' });
    await Promise.all([alice.close(), bob.close()]);
  });
});

describe('events in a busy group', () => {
  it('takes reactions and edits while members send in a closed loop: none is refused as too busy, the state is exact and the timeline gap-free', async () => {
    const users = Array.from({ length: 11 }, (_, i) => uniqueUser(`busy${i}`));
    const sockets = await Promise.all(users.map((user) => connectAs(info, user)));
    const [reactor, ...senders] = sockets as [(typeof sockets)[0], ...typeof sockets];
    const { conversation } = await reactor.request({ action: 'createConversation', kind: 'group', title: 'busy', members: users.slice(1) });
    const conversationId = conversation.conversationId;
    const seq = await send(reactor, conversationId, 'react to me');
    let sending = true;
    let sent = 0;
    const loops = senders.map(async (socket, k) => {
      for (let i = 0; sending; i++) {
        const reply = await socket.request({ action: 'send', conversationId, clientMessageId: `busy-${k}-${i}`, body: 'x' });
        if (reply.type === 'ack') sent += 1;
      }
    });
    await until('the senders to be under way', async () => sent >= 20);
    const replies = [];
    for (let i = 0; i < 9; i++) {
      const action = i % 2 ? 'unreact' : 'react';
      replies.push(await reactor.request({ action, conversationId, seq, clientMessageId: `busy-r${i}`, emoji: '👍' }));
    }
    replies.push(await reactor.request({ action: 'edit', conversationId, seq, clientMessageId: 'busy-e', body: 'edited' }));
    sending = false;
    await Promise.all(loops);
    expect(
      replies.map((reply) => reply.type),
      JSON.stringify(replies.filter((reply) => reply.type !== 'ack')),
    ).toEqual(replies.map(() => 'ack'));
    const page = await reactor.request({ action: 'history', conversationId, limit: 1, beforeSeq: seq + 1 });
    expect(page.messages[0]).toMatchObject({ seq, body: 'edited', reactions: [{ emoji: '👍', count: 1 }] });
    const seqs = (await storedItems(conversationId)).map((item) => Number(item.seq));
    expect(seqs, 'gap-free').toEqual(seqs.map((_, i) => i + 1));
    await Promise.all(sockets.map((socket) => socket.close()));
  }, 60_000);
});

describe.concurrent('edit, delete and reactions', () => {
  it('deletes the body from storage (edits included), aggregates reactions, bounds them, and pushes every event in order', async () => {
    const [alice, bob] = await Promise.all([connectAs(info, uniqueUser('alice')), connectAs(info, uniqueUser('bob'))]);
    const { conversation } = await alice.request({ action: 'createConversation', kind: 'direct', userId: bob.userId });
    const conversationId = conversation.conversationId;
    const seq = await send(alice, conversationId, 'secret');
    await alice.request({ action: 'edit', conversationId, seq, clientMessageId: nextId(), body: 'still secret' });
    const react = (client: TestClient, emoji: string, action = 'react') => client.request({ action, conversationId, seq, clientMessageId: nextId(), emoji });
    expect(await react(alice, '👍')).toMatchObject({ type: 'ack', seq: expect.any(Number) });
    expect(await react(bob, '👍')).toMatchObject({ type: 'ack' });
    expect(await react(bob, '👍')).toMatchObject({ type: 'ack', seq: null, unchanged: true });
    expect(await react(bob, '🎉')).toMatchObject({ type: 'ack' });
    expect(await react(bob, '🎉', 'unreact')).toMatchObject({ type: 'ack' });
    expect(await react(bob, 'a b')).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^emoji: /) });
    expect(await react(bob, 'x'.repeat(17))).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^emoji: /) });
    let page = await bob.request({ action: 'history', conversationId, limit: 100 });
    expect(page.messages.find((m: Frame) => m.seq === seq)).toMatchObject({ body: 'still secret', reactions: [{ emoji: '👍', count: 2 }] });
    for (let i = 0; i < 19; i++) expect(await react(bob, `e${i}`)).toMatchObject({ type: 'ack' });
    expect(await react(bob, 'one-too-many')).toMatchObject({ code: 'limit_exceeded' });

    const deleted = await alice.request({ action: 'deleteMessage', conversationId, seq, clientMessageId: 'del' });
    expect(deleted).toMatchObject({ type: 'ack', duplicate: false });
    expect(await alice.request({ action: 'deleteMessage', conversationId, seq, clientMessageId: 'del' })).toMatchObject({ seq: deleted.seq, duplicate: true });
    expect(await alice.request({ action: 'edit', conversationId, seq, clientMessageId: nextId(), body: 'x' })).toMatchObject({ code: 'bad_request' });
    page = await bob.request({ action: 'history', conversationId, limit: 100 });
    expect(page.messages.find((m: Frame) => m.seq === seq)).toMatchObject({ deleted: true, body: '' });
    expect(JSON.stringify(page)).not.toContain('secret');
    const { Items } = await ddb.send(
      new QueryCommand({
        TableName: info.tableNames.messages,
        KeyConditionExpression: 'conversationId = :c',
        ExpressionAttributeValues: { ':c': conversationId },
        ConsistentRead: true,
      }),
    );
    expect(JSON.stringify(Items)).not.toContain('secret');
    // Bob was pushed every event, in seq order.
    await bob.waitFor((frame) => frame.type === 'message' && frame.message.seq === deleted.seq);
    const kinds = bob.frames.filter((frame) => frame.type === 'message' && frame.message.conversationId === conversationId).map((frame) => frame.message.seq);
    expect([...kinds].sort((a, b) => a - b)).toEqual([...new Set(kinds)].sort((a, b) => a - b));
    await Promise.all([alice.close(), bob.close()]);
  });

  it('counts as unread only the chat messages others sent after the read cursor', async () => {
    const [alice, bob] = await Promise.all([connectAs(info, uniqueUser('alice')), connectAs(info, uniqueUser('bob'))]);
    const { conversation } = await alice.request({ action: 'createConversation', kind: 'direct', userId: bob.userId });
    const conversationId = conversation.conversationId;
    for (let i = 0; i < 3; i++) await send(alice, conversationId, `mine ${i}`);
    const theirs = await send(bob, conversationId, 'theirs 1');
    await send(bob, conversationId, 'theirs 2');
    await bob.request({ action: 'react', conversationId, seq: theirs, clientMessageId: nextId(), emoji: '👀' });
    const row = (await alice.request({ action: 'listConversations' })).conversations.find((c: Frame) => c.conversationId === conversationId);
    expect(row).toMatchObject({ lastReadSeq: 0, unread: 2 });
    const bobRow = (await bob.request({ action: 'listConversations' })).conversations.find((c: Frame) => c.conversationId === conversationId);
    expect(bobRow.unread).toBe(3);
    await Promise.all([alice.close(), bob.close()]);
  });
});

describe('consent and blocking', () => {
  let alice: TestClient;
  let mallory: TestClient;
  let carol: TestClient;
  beforeAll(async () => {
    [alice, mallory, carol] = (await Promise.all(['alice', 'mallory', 'carol'].map((name) => connectAs(info, uniqueUser(name))))) as [
      TestClient,
      TestClient,
      TestClient,
    ];
  });
  afterAll(() => Promise.all([alice, mallory, carol].map((client) => client.close())));

  it('refuses a blocked user a DM (the same code as for anyone refused), adds, typing and presence', async () => {
    const { conversation: shared } = await carol.request({
      action: 'createConversation',
      kind: 'group',
      title: 'shared',
      members: [alice.userId, mallory.userId],
    });
    const { conversation: dm } = await mallory.request({ action: 'createConversation', kind: 'direct', userId: alice.userId });
    await alice.request({ action: 'send', conversationId: dm.conversationId, clientMessageId: nextId(), body: 'hi' });
    expect((await mallory.request({ action: 'presence', userIds: [alice.userId] })).users[0].status).toBe('online');

    expect(await alice.request({ action: 'block', userId: mallory.userId })).toMatchObject({ type: 'settings', settings: { blocked: [mallory.userId] } });
    const refused = await mallory.request({ action: 'createConversation', kind: 'direct', userId: alice.userId });
    expect(refused).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await mallory.request({ action: 'send', conversationId: dm.conversationId, clientMessageId: nextId(), body: 'hello?' })).toMatchObject({
      code: 'forbidden',
      message: refused.message,
    });
    // The blocked user's add looks like an invitation (as for anyone needing consent), yet nothing is stored.
    const { conversation: own } = await mallory.request({ action: 'createConversation', kind: 'group', title: 'mine', members: [carol.userId] });
    const added = await mallory.request({ action: 'addMembers', conversationId: own.conversationId, members: [alice.userId] });
    expect(added).toMatchObject({ type: 'conversation', invited: [alice.userId] });
    expect(added.conversation.members).not.toContain(alice.userId);
    expect((await alice.request({ action: 'listInvitations' })).invitations).toEqual([]);
    expect((await mallory.request({ action: 'presence', userIds: [alice.userId] })).users[0]).toEqual({
      userId: alice.userId,
      status: 'unknown',
      lastSeenAt: null,
    });
    const mark = alice.frames.length;
    await mallory.request({ action: 'typing', conversationId: shared.conversationId, state: 'start' });
    await carol.waitFor((frame) => frame.type === 'typing' && frame.userId === mallory.userId);
    await pause(300);
    expect(alice.frames.slice(mark).filter((frame) => frame.type === 'typing')).toEqual([]);

    expect(await alice.request({ action: 'unblock', userId: mallory.userId })).toMatchObject({ settings: { blocked: [] } });
    expect(await mallory.request({ action: 'createConversation', kind: 'direct', userId: alice.userId })).toMatchObject({ type: 'conversation' });
  });

  it('hides the presence of a DM recipient from a stranger who opened it until the recipient writes', async () => {
    const stranger = await connectAs(info, uniqueUser('stranger'));
    const { conversation } = await stranger.request({ action: 'createConversation', kind: 'direct', userId: carol.userId });
    expect((await stranger.request({ action: 'presence', userIds: [carol.userId] })).users[0].status).toBe('unknown');
    expect((await carol.request({ action: 'presence', userIds: [stranger.userId] })).users[0].status).toBe('online');
    await carol.request({ action: 'send', conversationId: conversation.conversationId, clientMessageId: nextId(), body: 'who are you?' });
    expect((await stranger.request({ action: 'presence', userIds: [carol.userId] })).users[0].status).toBe('online');
    await stranger.close();
  });

  it('turns adds into invitations for users who accept groups from contacts only', async () => {
    const picky = await connectAs(info, uniqueUser('picky'));
    expect(await picky.request({ action: 'updateSettings', groupAdd: 'contacts' })).toMatchObject({ settings: { groupAdd: 'contacts' } });
    expect(await picky.request({ action: 'updateSettings', groupAdd: 'nobody' })).toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(/^groupAdd: /),
    });
    const { conversation: group, invited } = await carol.request({
      action: 'createConversation',
      kind: 'group',
      title: 'party',
      members: [picky.userId, alice.userId],
    });
    expect(invited).toEqual([picky.userId]);
    expect(group.members).toEqual([alice.userId, carol.userId].sort());
    await carol.request({ action: 'send', conversationId: group.conversationId, clientMessageId: nextId(), body: 'not for invitees' });
    expect(await picky.request({ action: 'history', conversationId: group.conversationId })).toMatchObject({ code: 'forbidden' });
    expect((await picky.request({ action: 'listInvitations' })).invitations).toEqual([
      { conversationId: group.conversationId, title: 'party', invitedBy: carol.userId, createdAt: expect.any(String) },
    ]);
    const accepted = await picky.request({ action: 'acceptInvitation', conversationId: group.conversationId });
    expect(accepted.conversation.members).toContain(picky.userId);
    expect((await picky.request({ action: 'listInvitations' })).invitations).toEqual([]);
    expect(await picky.request({ action: 'acceptInvitation', conversationId: group.conversationId })).toMatchObject({ code: 'not_found' });

    // Now carol is a contact: she adds picky directly to another group; a stranger still only invites.
    const { conversation: second, invited: none } = await carol.request({
      action: 'createConversation',
      kind: 'group',
      title: 'again',
      members: [picky.userId],
    });
    expect(none).toEqual([]);
    expect(second.members).toContain(picky.userId);
    const { conversation: third } = await mallory.request({ action: 'createConversation', kind: 'group', title: 'stranger', members: [carol.userId] });
    expect(await mallory.request({ action: 'addMembers', conversationId: third.conversationId, members: [picky.userId] })).toMatchObject({
      invited: [picky.userId],
    });
    expect(await picky.request({ action: 'declineInvitation', conversationId: third.conversationId })).toMatchObject({ type: 'ok' });
    expect((await picky.request({ action: 'listInvitations' })).invitations).toEqual([]);
    await picky.close();
  });
});
