import { describe, expect, it } from 'vitest';
import { createDirectConversation, createGroupConversation } from '../../lambdas/domain/conversations.js';
import { sendMessage } from '../../lambdas/domain/messages.js';
import { connected, disconnected, heartbeat, presenceOf } from '../../lambdas/domain/presence.js';
import { acknowledge } from '../../lambdas/domain/receipts.js';
import { typing } from '../../lambdas/domain/typing.js';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';

const alice = { userId: 'alice', connectionId: 'alice-1' };
const alice2 = { userId: 'alice', connectionId: 'alice-2' };
const bob = { userId: 'bob', connectionId: 'bob-1' };

describe('presence', () => {
  it('announces only real transitions, counting devices', async () => {
    const { deps, queue } = memoryDeps();
    await connected(deps, alice);
    await connected(deps, alice2);
    await heartbeat(deps, alice);
    await disconnected(deps, alice);
    await disconnected(deps, alice2);
    expect(queue.jobs.map(({ job }) => job.kind === 'presence' && job.status)).toEqual(['online', 'offline']);
  });

  it('treats a silent connection past its TTL as offline', async () => {
    const { deps, advance } = memoryDeps({ presenceTtlSeconds: 30 });
    // Alice opened it, so she accepted it: bob may see her presence.
    await createDirectConversation(deps, alice, 'bob');
    await connected(deps, alice);
    expect(await presenceOf(deps, bob, ['alice'])).toEqual([{ userId: 'alice', status: 'online', lastSeenAt: null }]);
    advance(31_000);
    expect(await presenceOf(deps, bob, ['alice'])).toMatchObject([{ userId: 'alice', status: 'offline' }]);
  });

  it('re-registers a live connection on heartbeat after it was dropped', async () => {
    const { deps, presence } = memoryDeps();
    await heartbeat(deps, alice);
    expect(await presence.connectionsOf(['alice'], deps.now())).toEqual([alice]);
  });

  it('reports strangers as unknown', async () => {
    const { deps } = memoryDeps();
    await connected(deps, { userId: 'stranger', connectionId: 's' });
    expect(await presenceOf(deps, alice, ['stranger'])).toEqual([{ userId: 'stranger', status: 'unknown', lastSeenAt: null }]);
  });
});

describe('receipts and typing', () => {
  it('moves cursors forward only and pushes a receipt to the other members', async () => {
    const { deps, pusher, presence } = memoryDeps();
    const conversation = await createDirectConversation(deps, alice, 'bob');
    await presence.addConnection(alice, deps.now(), 60);
    for (const id of ['1', '2', '3']) await sendMessage(deps, alice, { conversationId: conversation.conversationId, clientMessageId: id, body: id });
    pusher.posts.length = 0;
    const read = await acknowledge(deps, bob, { conversationId: conversation.conversationId, kind: 'read', seq: 2 });
    expect(read).toMatchObject({ lastReadSeq: 2, lastDeliveredSeq: 2 });
    const stale = await acknowledge(deps, bob, { conversationId: conversation.conversationId, kind: 'delivered', seq: 1 });
    expect(stale).toMatchObject({ lastReadSeq: 2, lastDeliveredSeq: 2 });
    expect(pusher.framesFor('alice-1')).toEqual([
      { type: 'receipt', conversationId: conversation.conversationId, userId: 'bob', lastDeliveredSeq: 2, lastReadSeq: 2 },
    ]);
    await expect(acknowledge(deps, bob, { conversationId: conversation.conversationId, kind: 'read', seq: 9 })).rejects.toMatchObject({
      code: 'bad_request',
    });
  });

  it('relays typing to the others only and rate limits it', async () => {
    const { deps, pusher } = memoryDeps({ typingBurst: 2 });
    const group = await createGroupConversation(deps, alice, { title: 't', members: ['bob'] });
    // After the group exists: $connect puts the connections into its connection index.
    await connected(deps, alice2);
    await connected(deps, bob);
    pusher.posts.length = 0;
    await typing(deps, alice, { conversationId: group.conversationId, state: 'start' });
    await typing(deps, alice, { conversationId: group.conversationId, state: 'stop' });
    await expect(typing(deps, alice, { conversationId: group.conversationId, state: 'start' })).rejects.toMatchObject({ code: 'rate_limited' });
    expect(pusher.framesFor('bob-1').map((frame) => frame.state)).toEqual(['start', 'stop']);
    expect(pusher.framesFor('alice-2')).toEqual([]);
  });
});
