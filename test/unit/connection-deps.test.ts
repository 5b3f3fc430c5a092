/**
 * connect and disconnect are built with the presence store, the conversation store (for the user's memberships) and
 * the fanout queue only (lambdas/app/connection-runtime.ts), so that their bundles carry no other adapter and no
 * Management API client. Their domain paths must stay within those ports, and so must their grants in lib/definitions.ts.
 */
import { describe, expect, it } from 'vitest';
import { functions } from '../../lib/definitions.js';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';
import { PortNotGrantedError, withGrantedPorts } from '../../lambdas/app/deps.js';
import { createGroupConversation } from '../../lambdas/domain/conversations.js';
import { connected, disconnected } from '../../lambdas/domain/presence.js';
import { scheduleSessionEnd } from '../../lambdas/domain/sessions.js';

/** The memory deps with only the ports connect and disconnect are built with. */
function connectionDeps() {
  const memory = memoryDeps();
  const { messages, users, pusher, undelivered, userRateLimiter, ...granted } = memory.deps;
  return { memory, deps: withGrantedPorts<'presence' | 'queue' | 'conversations'>('connect/disconnect', granted) };
}

describe('connect and disconnect deps', () => {
  it('run connect (with its session-end job) and disconnect on their ports alone, indexing the connection in the groups', async () => {
    const { memory, deps } = connectionDeps();
    const group = await createGroupConversation(memory.deps, { userId: 'bob', connectionId: 'bob-1' }, { title: 't', members: ['alice'] });
    const nowSeconds = deps.now().getTime() / 1000;
    const caller = { userId: 'alice', connectionId: 'alice-1', tokenExpiresAt: nowSeconds + 600 };
    await connected(deps, caller);
    await scheduleSessionEnd(deps, caller);
    const indexed = () => memory.presence.groupConnections(group.conversationId, 'a', 'z', deps.now());
    expect(await indexed()).toEqual([{ userId: 'alice', connectionId: 'alice-1' }]);
    await disconnected(deps, caller);
    expect(await indexed()).toEqual([]);
    expect(memory.queue.jobs.map(({ job }) => job.kind)).toEqual(['presence', 'expire', 'presence']);
  });

  it('fail a call on any other port with an error naming the port and the method', async () => {
    const { deps } = connectionDeps();
    await expect(deps.users.settingsOf('alice')).rejects.toThrow(PortNotGrantedError);
    await expect(deps.pusher.post('c-1', '{}')).rejects.toThrow('pusher.post is not available to connect/disconnect');
    expect(deps.undelivered).toBeUndefined();
  });

  it('match the definitions: presence, memberships by user, group connections, the fanout queue, no @connections', () => {
    for (const name of ['connect', 'disconnect'] as const) {
      expect(functions[name].tables).toEqual({
        presence: { table: ['UpdateItem'] },
        members: { indexes: { byUser: ['Query'] } },
        groupConnections: { table: ['BatchWriteItem'] },
      });
      expect(functions[name].sendsTo).toEqual(['fanout']);
      expect(functions[name].postsToConnections).toBe(false);
    }
  });
});
