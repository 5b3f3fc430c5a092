import { describe, expect, it } from 'vitest';
import { createRouter } from '../../lambdas/app/router.js';
import { translateAwsErrors } from '../../lambdas/adapters/aws-errors.js';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';

const alice = { userId: 'alice', connectionId: 'alice-1' };

function router() {
  const env = memoryDeps();
  const route = createRouter(env.deps);
  return {
    ...env,
    send: (body: unknown, isBase64Encoded = false) => route({ body: typeof body === 'string' ? body : JSON.stringify(body), isBase64Encoded }, alice),
  };
}

describe('router', () => {
  it.each([
    ['not json', '{', 'invalid_json', undefined],
    ['an array', '[1,2]', 'invalid_json', undefined],
    ['a string', '"hi"', 'invalid_json', undefined],
    ['no requestId', { action: 'heartbeat' }, 'bad_request', undefined],
    ['an unknown action', { action: 'explode', requestId: 'r1' }, 'unknown_action', 'r1'],
    ['a missing action', { requestId: 'r1' }, 'unknown_action', 'r1'],
    ['a wrong-typed field', { action: 'send', requestId: 'r2', conversationId: 'dm_x', clientMessageId: 'c', body: 5 }, 'bad_request', 'r2'],
    ['a missing field', { action: 'history', requestId: 'r3' }, 'bad_request', 'r3'],
    ['an out-of-range limit', { action: 'history', requestId: 'r4', conversationId: 'dm_x', limit: 1000 }, 'bad_request', 'r4'],
    ['a lone surrogate', { action: 'send', requestId: 'r5', conversationId: 'dm_x', clientMessageId: 'c', body: 'a\uD800b' }, 'bad_request', 'r5'],
    ['an unknown conversation', { action: 'history', requestId: 'r6', conversationId: 'dm_x' }, 'not_found', 'r6'],
  ])('answers %s with %s', async (_name, body, code, requestId) => {
    const reply = await router().send(body);
    expect(reply).toMatchObject({ type: 'error', code, message: expect.any(String) });
    expect(reply.requestId).toBe(requestId);
  });

  it('rejects binary frames and oversize frames', async () => {
    const { send } = router();
    expect(await send('AAEC', true)).toMatchObject({ type: 'error', code: 'invalid_json' });
    const big = await send({ action: 'send', requestId: 'big', conversationId: 'dm_x', clientMessageId: 'c', body: 'x'.repeat(20_000) });
    expect(big).toMatchObject({ type: 'error', code: 'payload_too_large', requestId: 'big' });
  });

  it('names the offending field', async () => {
    const reply = await router().send({ action: 'createConversation', requestId: 'r', kind: 'group', title: 't', members: [42] });
    expect(reply).toMatchObject({ code: 'bad_request', message: expect.stringContaining('members.0') });
  });

  it('takes identity from the caller, never from the payload', async () => {
    const { send } = router();
    const created = await send({ action: 'createConversation', requestId: 'c', kind: 'direct', userId: 'bob' });
    const conversationId = (created.conversation as { conversationId: string }).conversationId;
    const ack = await send({ action: 'send', requestId: 's', conversationId, clientMessageId: 'm', body: 'hi', senderId: 'bob', userId: 'bob' });
    expect(ack).toMatchObject({ type: 'ack', requestId: 's', seq: 1 });
    const page = await send({ action: 'history', requestId: 'h', conversationId });
    expect(page.messages).toEqual([expect.objectContaining({ senderId: 'alice' })]);
  });

  it('hides internal error details from the client', async () => {
    const env = memoryDeps();
    env.deps.conversations.listMemberships = async () => {
      throw new Error('secret table name exploded at line 42');
    };
    const reply = await createRouter(env.deps)({ body: JSON.stringify({ action: 'listConversations', requestId: 'x' }) }, alice);
    expect(reply).toEqual({ type: 'error', requestId: 'x', code: 'internal', message: 'internal error' });
  });

  it('maps exhausted SDK throttling to unavailable', async () => {
    const env = memoryDeps();
    env.deps.conversations.listMemberships = async () => {
      throw Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' });
    };
    // As the wiring does for the DynamoDB adapters.
    env.deps.conversations = translateAwsErrors(env.deps.conversations);
    const reply = await createRouter(env.deps)({ body: JSON.stringify({ action: 'listConversations', requestId: 'x' }) }, alice);
    expect(reply).toMatchObject({ code: 'unavailable', requestId: 'x' });
  });
});
