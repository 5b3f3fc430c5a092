import { describe, expect, it } from 'vitest';
import { authenticate, extractToken, UnauthorizedError } from '../../lambdas/domain/auth.js';
import { MemoryRateLimiter } from '../../lambdas/domain/rate-limiter.js';
import { loadLimits } from '../../lambdas/shared/config.js';

describe('token extraction', () => {
  it('reads the query parameter first, then the parley subprotocol pair', () => {
    expect(extractToken({ token: 'q' }, { 'Sec-WebSocket-Protocol': 'parley, p' })).toBe('q');
    expect(extractToken({}, { 'sec-websocket-protocol': 'parley, p' })).toBe('p');
    expect(extractToken(null, { 'Sec-WebSocket-Protocol': 'other, p' })).toBeUndefined();
    expect(extractToken(undefined, undefined)).toBeUndefined();
  });

  it('refuses missing tokens, failed verification and unusable subjects', async () => {
    const ok = async () => ({ sub: 'alice' });
    const valid = (value: string) => /^[a-z]+$/.test(value);
    await expect(authenticate(undefined, ok, 'sub', valid)).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(authenticate('t', async () => Promise.reject(new Error('bad signature')), 'sub', valid)).rejects.toThrow(/bad signature/);
    await expect(authenticate('t', async () => ({ sub: 'Not Valid!' }), 'sub', valid)).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(authenticate('t', ok, 'sub', valid)).resolves.toBe('alice');
  });
});

describe('limits', () => {
  it('reads overrides from CONSTANT_CASE variables and rejects nonsense', () => {
    expect(loadLimits({ MAX_GROUP_MEMBERS: '500' }).maxGroupMembers).toBe(500);
    expect(() => loadLimits({ SEND_BURST: '-1' })).toThrow(/SEND_BURST/);
    expect(() => loadLimits({ SEND_BURST: 'lots' })).toThrow(/SEND_BURST/);
  });

  it('refills token buckets over time', () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(() => now);
    expect(limiter.take('k', 2, 2)).toBe(0);
    expect(limiter.take('k', 2, 2)).toBe(0);
    expect(limiter.take('k', 2, 2)).toBe(500);
    now += 500;
    expect(limiter.take('k', 2, 2)).toBe(0);
  });
});
