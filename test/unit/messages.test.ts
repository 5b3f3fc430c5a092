import { describe, expect, it } from 'vitest';
import { createDirectConversation, createGroupConversation } from '../../lambdas/domain/conversations.js';
import { history, sendMessage } from '../../lambdas/domain/messages.js';
import { sync } from '../../lambdas/domain/sync.js';
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

  it('retries on seq conflicts and lands on the next free seq', async () => {
    const { deps, conversation, messages } = await setup();
    messages.conflictsBeforeStore = 3;
    const ack = await sendMessage(deps, alice, { conversationId: conversation.conversationId, clientMessageId: 'x', body: 'x' });
    expect(ack.seq).toBe(4);
    expect(messages.messages.get(conversation.conversationId)!.map((message) => message.seq)).toEqual([1, 2, 3, 4]);
    // Three lost races, then the one message stored (the conflicting items were other senders').
    expect(deps.metrics).toMatchObject({ values: { seqConflictRetries: [1, 1, 1], messagesStored: [1] } });
  });

  it('gives up with unavailable when the conversation stays contended', async () => {
    const { deps, conversation, messages } = await setup();
    messages.conflictsBeforeStore = 1000;
    await expect(
      sendMessage(deps, alice, { conversationId: conversation.conversationId, clientMessageId: 'x', body: 'x' }),
    ).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('rejects non-members and unknown conversations', async () => {
    const { deps, conversation } = await setup();
    await expect(
      sendMessage(deps, mallory, { conversationId: conversation.conversationId, clientMessageId: 'x', body: 'x' }),
    ).rejects.toMatchObject({ code: 'forbidden' });
    await expect(
      sendMessage(deps, alice, { conversationId: 'grp_nope', clientMessageId: 'x', body: 'x' }),
    ).rejects.toMatchObject({ code: 'not_found' });
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
