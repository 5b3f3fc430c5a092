import { describe, expect, it, vi } from 'vitest';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';
import { createGroupConversation, createDirectConversation } from '../../lambdas/domain/conversations.js';
import { addMembers } from '../../lambdas/domain/membership.js';
import { sendMessage } from '../../lambdas/domain/messages.js';
import { connected, disconnected } from '../../lambdas/domain/presence.js';

const ref = (userId: string, n = 1) => ({ userId, connectionId: `${userId}-${n}` });
const send = (deps: ReturnType<typeof memoryDeps>['deps'], userId: string, conversationId: string, body: string) =>
  sendMessage(deps, ref(userId), { conversationId, clientMessageId: body, body });

describe('group connection index', () => {
  it('pushes group messages from the index alone, one range read per chunk, and direct messages from presence', async () => {
    const { deps, presence, pusher } = memoryDeps({ fanoutChunkSize: 2 });
    const members = ['bob', 'carol', 'dave', 'erin'];
    for (const userId of ['alice', ...members]) await connected(deps, ref(userId));
    const group = await createGroupConversation(deps, ref('alice'), { title: 't', members });
    const direct = await createDirectConversation(deps, ref('alice'), 'bob');
    const byPresence = vi.spyOn(presence, 'connectionsOf');
    const byIndex = vi.spyOn(presence, 'groupConnections');
    pusher.posts.length = 0;
    await send(deps, 'alice', group.conversationId, 'to the group');
    // Sorted recipients in chunks of 2: [alice, bob], [carol, dave], [erin]; each chunk reads its own id range.
    expect(byIndex.mock.calls.map(([, from, to]) => [from, to]).sort()).toEqual([
      ['alice', 'bob'],
      ['carol', 'dave'],
      ['erin', 'erin'],
    ]);
    expect(byPresence).not.toHaveBeenCalled();
    expect(pusher.posts.map((post) => post.connectionId).sort()).toEqual(members.map((userId) => `${userId}-1`));
    await send(deps, 'alice', direct.conversationId, 'to bob');
    expect(byPresence).toHaveBeenCalledTimes(1);
  });

  it('indexes a connection that opens after the join, and a member added while online before the add commits', async () => {
    const { deps, pusher } = memoryDeps();
    await connected(deps, ref('alice'));
    const group = await createGroupConversation(deps, ref('alice'), { title: 't', members: ['bob'] });
    await connected(deps, ref('bob'));
    await connected(deps, ref('carol'));
    await addMembers(deps, ref('alice'), { conversationId: group.conversationId, members: ['carol'] });
    pusher.posts.length = 0;
    await send(deps, 'alice', group.conversationId, 'hello');
    expect(pusher.posts.map((post) => post.connectionId).sort()).toEqual(['bob-1', 'carol-1']);
  });

  it('finds a join that the membership index does not show yet through the note on the presence item', async () => {
    const { deps, pusher } = memoryDeps();
    await connected(deps, ref('alice'));
    const group = await createGroupConversation(deps, ref('alice'), { title: 't', members: ['bob'] });
    // Bob connects while the byUser index still lags behind the join (it is eventually consistent).
    const lagging = vi.spyOn(deps.conversations, 'listMemberships').mockResolvedValue({ items: [], next: null });
    await connected(deps, ref('bob'));
    lagging.mockRestore();
    pusher.posts.length = 0;
    await send(deps, 'alice', group.conversationId, 'hello');
    expect(pusher.posts.map((post) => post.connectionId)).toEqual(['bob-1']);
  });

  it('takes a connection out of its groups on $disconnect and on a 410, but keeps a just-registered one', async () => {
    const { deps, presence, pusher } = memoryDeps();
    const group = await createGroupConversation(deps, ref('alice'), { title: 't', members: ['bob', 'carol'] });
    const indexed = async () => (await presence.groupConnections(group.conversationId, 'a', 'z', deps.now())).map((r) => r.connectionId);
    for (const connection of [ref('alice'), ref('bob'), ref('carol')]) await connected(deps, connection);
    await disconnected(deps, ref('carol'));
    expect(await indexed()).toEqual(['alice-1', 'bob-1']);

    // Bob's connection died without a $disconnect: the first push to it gets 410, once it is past the connect grace.
    pusher.script = (connectionId) => (connectionId === 'bob-1' ? 'gone' : 'ok');
    await send(deps, 'alice', group.conversationId, 'while connecting');
    expect(await indexed()).toEqual(['alice-1', 'bob-1']);
    const later = new Date(deps.now().getTime() + 60_000);
    vi.spyOn(deps, 'now').mockReturnValue(later);
    await send(deps, 'alice', group.conversationId, 'after the grace');
    expect(await indexed()).toEqual(['alice-1']);
  });
});
