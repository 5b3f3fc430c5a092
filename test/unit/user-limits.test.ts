import { describe, expect, it, vi } from 'vitest';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';
import { createRouter } from '../../lambdas/app/router.js';
import { logger } from '../../lambdas/shared/logger.js';

const alice = (connectionId: string) => ({ userId: 'alice', connectionId });

describe('per-user limits on expensive reads', () => {
  it.each([
    ['sync', { action: 'sync' }, 'syncPerWindow'],
    ['history', { action: 'history', conversationId: 'dm_x' }, 'historyPerWindow'],
    ['listConversations', { action: 'listConversations' }, 'listConversationsPerWindow'],
    ['presence', { action: 'presence', userIds: ['bob'] }, 'presencePerWindow'],
  ] as const)('%s: counted across all of the user’s connections, rate_limited with retryAfterMs, then allowed again', async (_name, frame, limit) => {
    const env = memoryDeps({ [limit]: 3, userRateWindowSeconds: 10 });
    const route = createRouter(env.deps);
    const ask = (connectionId: string) => route({ body: JSON.stringify({ ...frame, requestId: 'r' }) }, alice(connectionId));
    for (const connectionId of ['c1', 'c2', 'c3']) expect((await ask(connectionId)).code).not.toBe('rate_limited');
    const limited = await ask('c4');
    expect(limited).toMatchObject({ type: 'error', code: 'rate_limited', requestId: 'r', retryAfterMs: expect.any(Number) });
    expect(limited.retryAfterMs as number).toBeGreaterThan(0);
    expect(limited.retryAfterMs as number).toBeLessThanOrEqual(10_000);
    // Another user is not affected.
    expect((await route({ body: JSON.stringify({ ...frame, requestId: 'r' }) }, { userId: 'bob', connectionId: 'b1' })).code).not.toBe('rate_limited');
    env.advance(limited.retryAfterMs as number);
    expect((await ask('c1')).code).not.toBe('rate_limited');
  });

  it('answers garbage cursors with bad_request and logs nothing at ERROR', async () => {
    const error = vi.spyOn(logger, 'error');
    const { deps, log } = memoryDeps();
    const route = createRouter(deps);
    for (const frame of [
      { action: 'listConversations', cursor: 'garbage' },
      { action: 'listConversations', cursor: Buffer.from('c1.grp_').toString('base64url') },
      { action: 'sync', from: 'nope' },
      { action: 'sync', cursors: { dm_a: { seq: 'x', epoch: null } } },
    ]) {
      const reply = await route({ body: JSON.stringify({ ...frame, requestId: 'r' }) }, alice('c1'));
      expect(reply, JSON.stringify(frame)).toMatchObject({ type: 'error', code: 'bad_request' });
    }
    expect(error).not.toHaveBeenCalled();
    expect(log.entries.filter((entry) => entry.level === 'error')).toEqual([]);
  });
});
