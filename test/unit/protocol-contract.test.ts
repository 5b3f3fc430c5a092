/**
 * The server against the protocol module: every action's real reply (router over the in-memory stores) parses with
 * its strict reply schema, every frame pushed meanwhile with its event schema, and `hello` reports the configured
 * limits. A field the server sends that the schemas (and so the SDK's types and PROTOCOL.md) lack fails here.
 */
import { describe, expect, it } from 'vitest';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';
import { createRouter } from '../../lambdas/app/router.js';
import { actions, replyTypes, type ActionName } from '../../protocol/actions.js';
import { defaultClientLimits, protocolVersion } from '../../protocol/limits.js';
import { errorFrameSchema, eventSchemas, replySchemas, type EventType } from '../../protocol/index.js';

const alice = { userId: 'alice', connectionId: 'alice-1' };
const bob = { userId: 'bob', connectionId: 'bob-1' };
const erin = { userId: 'erin', connectionId: 'erin-1' };

function setup(overrides: Parameters<typeof memoryDeps>[0] = {}) {
  const env = memoryDeps(overrides);
  const route = createRouter(env.deps);
  let n = 0;
  const call = async (caller: typeof alice, action: ActionName, payload: Record<string, unknown> = {}) =>
    route({ body: JSON.stringify({ action, requestId: `r${++n}`, ...payload }) }, caller);
  return { ...env, call };
}

describe('protocol contract', () => {
  it('every action replies with a frame its reply schema accepts, and every push is a valid event', async () => {
    const { call, deps, pusher } = setup();
    for (const caller of [alice, bob]) await deps.presence.addConnection(caller, deps.now(), 600);
    const replies = new Map<ActionName, unknown>();
    const run = async (action: ActionName, payload: Record<string, unknown> = {}, caller = alice) => {
      const reply = await call(caller, action, payload);
      expect(reply.type, `${action}: ${JSON.stringify(reply)}`).toBe(replyTypes[action]);
      replies.set(action, reply);
      return reply as Record<string, any>;
    };

    await run('hello');
    const group = (await run('createConversation', { kind: 'group', title: 'Launch', members: ['bob'] })).conversation.conversationId;
    const direct = (await call(alice, 'createConversation', { kind: 'direct', userId: 'bob' })).conversation as { conversationId: string };
    await run('addMembers', { conversationId: group, members: ['carol'] });
    const { seq } = await run('send', { conversationId: group, clientMessageId: 'm1', body: 'hello' });
    await call(alice, 'send', { conversationId: direct.conversationId, clientMessageId: 'd1', body: 'hi bob' });
    await run('edit', { conversationId: group, seq, clientMessageId: 'e1', body: 'hello!' });
    await run('react', { conversationId: group, seq, clientMessageId: 'x1', emoji: '👍' });
    await run('unreact', { conversationId: group, seq, clientMessageId: 'x2', emoji: '👍' });
    await run('history', { conversationId: group });
    await run('sync', { cursors: {} });
    await run('listConversations', {});
    await run('heartbeat');
    await run('ack', { conversationId: group, kind: 'read', seq: 3 }, bob);
    await run('typing', { conversationId: group, state: 'start' });
    await run('presence', { userIds: ['bob', 'mallory'] });
    await run('setRole', { conversationId: group, userId: 'bob', role: 'admin' });
    await run('updateConversation', { conversationId: group, title: 'Launch v2' });
    await run('removeMembers', { conversationId: group, members: ['carol'] });
    await run('deleteMessage', { conversationId: group, seq, clientMessageId: 'd-1' });
    await run('updateSettings', { groupAdd: 'contacts' }, erin);
    await run('getSettings');
    await run('block', { userId: 'mallory' });
    await run('unblock', { userId: 'mallory' });
    const invite = await call(alice, 'createConversation', { kind: 'group', title: 'Invite', members: ['dave', 'erin'] });
    expect(invite).toMatchObject({ invited: ['erin'] });
    await run('listInvitations', {}, erin);
    await run('acceptInvitation', { conversationId: (invite.conversation as { conversationId: string }).conversationId }, erin);
    await run('declineInvitation', { conversationId: group }, erin);
    await run('leave', { conversationId: group }, bob);

    expect([...replies.keys()].sort()).toEqual([...actions].sort());
    for (const [action, reply] of replies) {
      const parsed = replySchemas[action].safeParse(reply);
      expect(parsed.success, `${action}: ${JSON.stringify(reply)}\n${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }
    const seen = new Set<string>();
    for (const { frame } of pusher.posts) {
      const type = frame.type as EventType;
      seen.add(type);
      const parsed = eventSchemas[type]?.safeParse(frame);
      expect(parsed?.success, `push ${JSON.stringify(frame)}\n${JSON.stringify(parsed?.error?.issues)}`).toBe(true);
    }
    // Typing and receipts reach bob; messages, conversation updates and presence need no more than that here.
    expect([...seen].sort()).toEqual(expect.arrayContaining(['conversation', 'message', 'receipt', 'typing']));
  });

  it('hello reports the protocol version and the configured limits', async () => {
    const defaults = await setup().call(alice, 'hello');
    expect(defaults).toEqual({ type: 'hello', requestId: 'r1', protocolVersion, limits: defaultClientLimits });
    const tuned = await setup({ maxBodyChars: 2000, receiptPushMaxMembers: 8 }).call(alice, 'hello');
    expect(tuned.limits).toEqual({ ...defaultClientLimits, maxBodyChars: 2000, receiptPushMaxMembers: 8 });
  });

  it('error frames match the error schema', async () => {
    const { call } = setup();
    const reply = await call(alice, 'send', { conversationId: 'dm_nope', clientMessageId: 'm', body: '' });
    expect(reply).toMatchObject({ type: 'error', code: 'bad_request', message: expect.stringMatching(/^body: /) });
    expect(errorFrameSchema.safeParse(reply).success).toBe(true);
  });
});
