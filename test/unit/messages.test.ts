import { describe, expect, it } from 'vitest';
import { createDirectConversation, createGroupConversation } from '../../lambdas/domain/conversations.js';
import { history, sendMessage } from '../../lambdas/domain/messages.js';
import { sync } from '../../lambdas/domain/sync.js';
import { holeGraceMs } from '../../lambdas/domain/seq-holes.js';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';

const alice = { userId: 'alice', connectionId: 'alice-1' };
const bob = { userId: 'bob', connectionId: 'bob-1' };
const mallory = { userId: 'mallory', connectionId: 'mallory-1' };

async function setup() {
  const env = memoryDeps();
  await env.presence.addConnection(alice, env.deps.now(), 60);
  await env.presence.addConnection({ userId: 'alice', connectionId: 'alice-2' }, env.deps.now(), 60);
  await env.presence.addConnection(bob, env.deps.now(), 60);
  const conversation = await createDirectConversation(env.deps, alice, 'bob');
  env.pusher.posts.length = 0;
  return { ...env, conversation };
}

describe('sendMessage', () => {
  it('assigns seq 1, 2, 3 and pushes to every member connection except the sending one', async () => {
    const { deps, conversation, pusher } = await setup();
    const acks = [];
    for (const body of ['a', 'b', 'c']) {
      acks.push(await sendMessage(deps, alice, { conversationId: conversation.conversationId, clientMessageId: body, body }));
    }
    expect(acks.map((ack) => ack.seq)).toEqual([1, 2, 3]);
    expect(acks.every((ack) => !ack.duplicate)).toBe(true);
    expect(pusher.framesFor('bob-1').map((frame) => (frame.message as { seq: number }).seq)).toEqual([1, 2, 3]);
    expect(pusher.framesFor('alice-2')).toHaveLength(3);
    expect(pusher.framesFor('alice-1')).toHaveLength(0);
  });

  it('returns the same seq for a retried clientMessageId and stores one message', async () => {
    const { deps, conversation, messages } = await setup();
    const input = { conversationId: conversation.conversationId, clientMessageId: 'retry-me', body: 'hi' };
    const first = await sendMessage(deps, alice, input);
    const second = await sendMessage(deps, alice, input);
    expect(second).toMatchObject({ seq: first.seq, createdAt: first.createdAt, duplicate: true });
    expect(messages.messages.get(conversation.conversationId)).toHaveLength(1);
  });

  it('takes seqs from the counter: concurrent senders of one group never retry', async () => {
    const env = memoryDeps();
    const members = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    const group = await createGroupConversation(env.deps, alice, { title: 'busy', members });
    // The first item gives the timeline its epoch (concurrent first senders would each propose one).
    await sendMessage(env.deps, alice, { conversationId: group.conversationId, clientMessageId: 'first', body: 'first' });
    const acks = await Promise.all(
      members.map((userId) =>
        sendMessage(env.deps, { userId, connectionId: `${userId}-1` }, { conversationId: group.conversationId, clientMessageId: 'm', body: userId }),
      ),
    );
    expect(acks.map((ack) => ack.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    expect(env.metrics.values.seqConflictRetries).toBeUndefined();
    expect(env.messages.messages.get(group.conversationId)!.map((item) => item.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
  });

  it('re-checks membership when the head moved between the check and the allocation, and frees the key', async () => {
    const env = memoryDeps();
    const group = await createGroupConversation(env.deps, alice, { title: 'g', members: ['bob'] });
    const allocate = env.messages.allocate.bind(env.messages);
    env.messages.allocate = async (...args) => {
      // Bob is removed after his check: the allocation's membershipSeq condition fails.
      const conversation = env.conversations.conversations.get(group.conversationId)!;
      conversation.members = conversation.members.filter((userId) => userId !== 'bob');
      conversation.membershipSeq = (conversation.membershipSeq ?? 0) + 5;
      env.messages.allocate = allocate;
      return allocate(...args);
    };
    await expect(sendMessage(env.deps, bob, { conversationId: group.conversationId, clientMessageId: 'x', body: 'x' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    expect(await env.messages.claimOf(JSON.stringify([group.conversationId, 'bob', 'x']))).toBeUndefined();
    expect(env.conversations.conversations.get(group.conversationId)!.lastSeq).toBe(0);
  });

  it('takes another seq when a reader filled its seq before the message was stored', async () => {
    const { deps, conversation, messages } = await setup();
    const putAt = messages.putAt.bind(messages);
    messages.putAt = async (item) => {
      messages.putAt = putAt;
      await messages.fillHole({ ...item, kind: 'skipped', senderId: '', clientMessageId: '', body: '' });
      return putAt(item);
    };
    const ack = await sendMessage(deps, alice, { conversationId: conversation.conversationId, clientMessageId: 'late', body: 'late' });
    expect(ack.seq).toBe(2);
    expect(messages.messages.get(conversation.conversationId)!.map((item) => [item.seq, item.kind])).toEqual([
      [1, 'skipped'],
      [2, 'message'],
    ]);
  });

  it('answers unavailable while an earlier attempt holds the claim, and takes a dead attempt’s claim over', async () => {
    const env = await setup();
    const input = { conversationId: env.conversation.conversationId, clientMessageId: 'crashed', body: 'b' };
    const key = JSON.stringify([input.conversationId, 'alice', input.clientMessageId]);
    // The first attempt claimed the key and died before taking a seq.
    await env.messages.claim(key, { claimedAt: env.deps.now().getTime(), afterSeq: 0 }, 60);
    await expect(sendMessage(env.deps, alice, input)).rejects.toMatchObject({ code: 'unavailable' });
    env.advance(holeGraceMs + 1);
    const ack = await sendMessage(env.deps, alice, input);
    expect(ack).toMatchObject({ seq: 1, duplicate: false });
    expect(env.metrics.values.sendClaimTakeovers).toEqual([1]);
    expect(await sendMessage(env.deps, alice, input)).toMatchObject({ seq: 1, duplicate: true });
  });

  it('resends push only to members whose delivered cursor is behind, and nothing when all got it', async () => {
    const env = memoryDeps();
    const group = await createGroupConversation(env.deps, alice, { title: 'g', members: ['bob', 'carol'] });
    for (const userId of ['bob', 'carol']) await env.presence.addConnection({ userId, connectionId: `${userId}-1` }, env.deps.now(), 60);
    const input = { conversationId: group.conversationId, clientMessageId: 'again', body: 'b' };
    const first = await sendMessage(env.deps, alice, input);
    await env.conversations.advanceReceipt(group.conversationId, 'bob', 'delivered', first.seq);
    env.pusher.posts.length = 0;
    env.queue.jobs.length = 0;
    expect(await sendMessage(env.deps, alice, input)).toMatchObject({ seq: first.seq, duplicate: true });
    const recipients = env.queue.jobs.flatMap(({ job }) => (job.kind === 'deliver' ? (job.recipients ?? []) : []));
    expect(recipients).toEqual(['carol']);
    expect(env.pusher.posts).toHaveLength(0);
    await env.conversations.advanceReceipt(group.conversationId, 'carol', 'delivered', first.seq);
    env.queue.jobs.length = 0;
    await sendMessage(env.deps, alice, input);
    expect(env.queue.jobs).toHaveLength(0);
  });

  it('rejects non-members and unknown conversations', async () => {
    const { deps, conversation } = await setup();
    await expect(sendMessage(deps, mallory, { conversationId: conversation.conversationId, clientMessageId: 'x', body: 'x' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(sendMessage(deps, alice, { conversationId: 'grp_nope', clientMessageId: 'x', body: 'x' })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('rate limits sends per connection', async () => {
    const { deps, conversation } = await setup();
    deps.limits.sendBurst = 2;
    const send = (id: string) => sendMessage(deps, alice, { conversationId: conversation.conversationId, clientMessageId: id, body: id });
    await send('1');
    await send('2');
    await expect(send('3')).rejects.toMatchObject({ code: 'rate_limited', details: { retryAfterMs: expect.any(Number) } });
  });

  it('queues the fanout of large groups in chunks instead of pushing inline', async () => {
    const env = memoryDeps({ inlineFanoutMaxRecipients: 10, fanoutChunkSize: 4 });
    const members = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    const group = await createGroupConversation(env.deps, alice, { title: 'big', members });
    env.queue.jobs.length = 0;
    await sendMessage(env.deps, alice, { conversationId: group.conversationId, clientMessageId: 'm', body: 'hi' });
    const recipients = env.queue.jobs.map(({ job }) => (job.kind === 'deliver' ? job.recipients : []));
    expect(recipients.map((chunk) => chunk?.length)).toEqual([4, 4, 4, 1]);
    expect(new Set(recipients.flat())).toEqual(new Set([...members, 'alice']));
  });
});

describe('history and sync', () => {
  it('pages history newest first and syncs everything after a cursor', async () => {
    const { deps, conversation } = await setup();
    for (let i = 1; i <= 7; i++) {
      await sendMessage(deps, alice, { conversationId: conversation.conversationId, clientMessageId: `m${i}`, body: `m${i}` });
    }
    const page1 = await history(deps, bob, { conversationId: conversation.conversationId, limit: 3 });
    expect(page1.messages.map((message) => message.seq)).toEqual([7, 6, 5]);
    const page2 = await history(deps, bob, { conversationId: conversation.conversationId, beforeSeq: page1.nextBeforeSeq!, limit: 3 });
    expect(page2.messages.map((message) => message.seq)).toEqual([4, 3, 2]);
    const page3 = await history(deps, bob, { conversationId: conversation.conversationId, beforeSeq: page2.nextBeforeSeq!, limit: 3 });
    expect(page3).toEqual({ messages: [expect.objectContaining({ seq: 1 })], nextBeforeSeq: null });

    const epoch = (await deps.conversations.heads([conversation.conversationId])).get(conversation.conversationId)!.epoch;
    const synced = await sync(deps, bob, { cursors: { [conversation.conversationId]: { seq: 4, epoch } }, limit: 3 });
    expect(synced.conversations).toHaveLength(1);
    expect(synced.conversations[0]!.messages.map((message) => message.seq)).toEqual([5, 6, 7]);
    expect(synced.conversations[0]).toMatchObject({ hasMore: false, limited: false, reset: false, lastSeq: 7, epoch });
    expect(synced.presence).toEqual([{ userId: 'alice', status: 'online', lastSeenAt: null }]);
    const upToDate = await sync(deps, bob, { cursors: { [conversation.conversationId]: { seq: 7, epoch } }, limit: 2 });
    expect(upToDate.conversations).toEqual([]);
  });

  it('includes conversations the client does not know yet, even without messages', async () => {
    const { deps } = await setup();
    const group = await createGroupConversation(deps, alice, { title: 'new', members: ['bob'] });
    const synced = await sync(deps, bob, { cursors: {}, limit: 10 });
    expect(synced.conversations.map((entry) => entry.conversation?.conversationId)).toContain(group.conversationId);
  });

  it('never returns a seq above one still being written, and fills a seq whose writer died after the grace', async () => {
    const env = await setup();
    const id = env.conversation.conversationId;
    await sendMessage(env.deps, alice, { conversationId: id, clientMessageId: 'm1', body: 'm1' });
    // A sender took seq 2 and has not stored it (yet, or ever).
    await env.messages.allocate(id, { epoch: env.conversations.conversations.get(id)!.epoch!, membershipSeq: 0 }, env.deps.now().toISOString());
    await sendMessage(env.deps, alice, { conversationId: id, clientMessageId: 'm3', body: 'm3' });
    const epoch = env.conversations.conversations.get(id)!.epoch;
    expect((await history(env.deps, bob, { conversationId: id, limit: 10 })).messages.map((m) => m.seq)).toEqual([1]);
    const young = await sync(env.deps, bob, { cursors: { [id]: { seq: 1, epoch } }, limit: 10 });
    expect(young.conversations[0]).toMatchObject({ messages: [], lastSeq: 3 });
    expect(young.conversations[0]!.expiredBefore).toBeUndefined();
    env.advance(holeGraceMs + 1);
    const old = await sync(env.deps, bob, { cursors: { [id]: { seq: 1, epoch } }, limit: 10 });
    expect(old.conversations[0]!.messages.map((m) => [m.seq, m.kind])).toEqual([
      [2, 'skipped'],
      [3, 'message'],
    ]);
    expect(env.metrics.values.seqHolesFilled).toEqual([1]);
    expect((await history(env.deps, bob, { conversationId: id, limit: 10 })).messages.map((m) => m.seq)).toEqual([3, 2, 1]);
  });

  it('refuses history to non-members', async () => {
    const { deps, conversation } = await setup();
    await expect(history(deps, mallory, { conversationId: conversation.conversationId, limit: 10 })).rejects.toMatchObject({
      code: 'forbidden',
    });
  });
});

describe('sendMessage when pushing fails', () => {
  it('still acks a stored message, queueing the fanout when the inline push throws', async () => {
    const { deps, conversation, queue, presence } = await setup();
    presence.connectionsOf = async () => {
      throw new Error('DynamoDB hiccup');
    };
    const ack = await sendMessage(deps, alice, { conversationId: conversation.conversationId, clientMessageId: 'q', body: 'q' });
    expect(ack).toMatchObject({ seq: 1, duplicate: false });
    expect(queue.jobs.map(({ job }) => job.kind === 'deliver' && job.event.type)).toEqual(['message']);
  });

  it('still acks when the queue is down too', async () => {
    const { deps, conversation, queue, presence } = await setup();
    presence.connectionsOf = async () => {
      throw new Error('DynamoDB hiccup');
    };
    queue.enqueue = async () => {
      throw new Error('SQS down');
    };
    const ack = await sendMessage(deps, alice, { conversationId: conversation.conversationId, clientMessageId: 'q', body: 'q' });
    expect(ack.seq).toBe(1);
  });
});
