/** Every abuse limit is configurable, honoured with the documented error, and documented with its real default. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createRouter } from '../../lambdas/app/router.js';
import { createGroupConversation } from '../../lambdas/domain/conversations.js';
import { loadLimits, type Limits } from '../../lambdas/shared/config.js';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';

const constantCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
const defaults = loadLimits({});
const alice = { userId: 'alice', connectionId: 'alice-1' };

describe('limits configuration', () => {
  it('reads every limit from its CONSTANT_CASE environment variable', () => {
    const keys = Object.keys(defaults) as (keyof Limits)[];
    const env = Object.fromEntries(keys.map((key, index) => [constantCase(key), String(1000 + index)]));
    const overridden = loadLimits(env);
    for (const [index, key] of keys.entries()) expect(overridden[key], constantCase(key)).toBe(1000 + index);
    expect(() => loadLimits({ MAX_GROUP_MEMBERS: '0' })).toThrow(/MAX_GROUP_MEMBERS must be a positive integer/);
    expect(() => loadLimits({ TYPING_BURST: '2.5' })).toThrow(/TYPING_BURST/);
  });

  it('documents each client-facing limit in PROTOCOL.md with its variable and its actual default', () => {
    const protocol = readFileSync(new URL('../../PROTOCOL.md', import.meta.url), 'utf8');
    const table = protocol.slice(protocol.indexOf('## Limits'));
    const documented: (keyof Limits)[][] = [
      ['maxFrameBytes'],
      ['maxBodyChars'],
      ['maxGroupMembers'],
      ['maxMembersPerRequest'],
      ['sendRatePerSecond', 'sendBurst'],
      ['typingRatePerSecond', 'typingBurst'],
      ['receiptPushMaxMembers'],
      ['presencePushMaxMembers'],
      ['presenceTtlSeconds'],
      ['idempotencyTtlSeconds'],
    ];
    for (const keys of documented) {
      const variables = keys.map((key) => `\`${constantCase(key)}\``).join(' / ');
      const values = keys.map((key) => defaults[key]).join(' / ');
      expect(table, `${variables} = ${values}`).toContain(`| ${variables} | ${values} |`);
    }
    expect(protocol).toContain(`At most ${defaults.maxMembersPerRequest} users per request`);
    expect(protocol).toContain(`at most ${defaults.maxGroupMembers} members including the caller`);
  });

  it('honours overridden limits with the documented error codes', async () => {
    const env = memoryDeps({
      maxFrameBytes: 400,
      maxBodyChars: 10,
      maxGroupMembers: 4,
      maxMembersPerRequest: 2,
      sendRatePerSecond: 1,
      sendBurst: 2,
      typingRatePerSecond: 1,
      typingBurst: 1,
    });
    const route = createRouter(env.deps);
    const call = (frame: Record<string, unknown>) => route({ body: JSON.stringify({ requestId: 'r', ...frame }) }, alice);
    const group = await createGroupConversation(env.deps, alice, { title: 't', members: ['bob'] });
    const conversationId = group.conversationId;

    expect(await call({ action: 'send', conversationId, clientMessageId: 'big', body: 'x'.repeat(500) })).toMatchObject({ code: 'payload_too_large' });
    expect(await call({ action: 'send', conversationId, clientMessageId: 'long', body: 'x'.repeat(11) })).toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(/^body/),
    });
    expect(await call({ action: 'createConversation', kind: 'group', title: 't', members: ['b', 'c', 'd', 'e'] })).toMatchObject({ code: 'limit_exceeded' });
    expect(await call({ action: 'createConversation', kind: 'group', title: 't', members: ['b', 'c', 'd', 'e', 'f'] })).toMatchObject({ code: 'bad_request' });
    expect(await call({ action: 'addMembers', conversationId, members: ['c', 'd', 'e'] })).toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(/^members/),
    });
    expect(await call({ action: 'addMembers', conversationId, members: ['c', 'd'] })).toMatchObject({ type: 'conversation' });
    expect(await call({ action: 'addMembers', conversationId, members: ['e'] })).toMatchObject({ code: 'limit_exceeded' });

    expect(await call({ action: 'send', conversationId, clientMessageId: '1', body: 'a' })).toMatchObject({ type: 'ack' });
    expect(await call({ action: 'send', conversationId, clientMessageId: '2', body: 'b' })).toMatchObject({ type: 'ack' });
    expect(await call({ action: 'send', conversationId, clientMessageId: '3', body: 'c' })).toMatchObject({ code: 'rate_limited', retryAfterMs: 1000 });
    env.advance(1000);
    // Seq 1 is the member_added event of the addMembers above.
    expect(await call({ action: 'send', conversationId, clientMessageId: '3', body: 'c' })).toMatchObject({ type: 'ack', seq: 4 });

    expect(await call({ action: 'typing', conversationId, state: 'start' })).toMatchObject({ type: 'ok' });
    expect(await call({ action: 'typing', conversationId, state: 'stop' })).toMatchObject({ code: 'rate_limited', retryAfterMs: 1000 });
    // Rate limits are per connection.
    const other = await route(
      { body: JSON.stringify({ action: 'typing', requestId: 'o', conversationId, state: 'stop' }) },
      { userId: 'alice', connectionId: 'alice-2' },
    );
    expect(other).toMatchObject({ type: 'ok' });
  });
});
