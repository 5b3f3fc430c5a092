import { describe, expect, it } from 'vitest';
import { authenticate, checkTokenTimes, extractToken, UnauthorizedError } from '../../lambdas/domain/auth.js';
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
    const nowSeconds = 1_800_000_000;
    const times = { maxTokenLifetimeSeconds: 3600, clockSkewSeconds: 60, nowSeconds };
    const ok = async () => ({ sub: 'alice', iat: nowSeconds, exp: nowSeconds + 600 });
    const valid = (value: string) => /^[a-z]+$/.test(value);
    await expect(authenticate(undefined, ok, 'sub', valid, times)).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(authenticate('t', async () => Promise.reject(new Error('bad signature')), 'sub', valid, times)).rejects.toThrow(/bad signature/);
    await expect(authenticate('t', async () => ({ ...(await ok()), sub: 'Not Valid!' }), 'sub', valid, times)).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(authenticate('t', ok, 'sub', valid, times)).resolves.toEqual({ userId: 'alice', tokenExpiresAt: nowSeconds + 600 });
  });
});

describe('token times', () => {
  const now = 1_800_000_000;
  const policy = { maxTokenLifetimeSeconds: 24 * 3600, clockSkewSeconds: 60 };
  const check = (claims: Record<string, unknown>) => () => checkTokenTimes(claims, now, policy);

  it('accepts a token inside its lifetime, and iat, nbf or exp off by up to the clock skew', () => {
    expect(check({ iat: now - 10, exp: now + 3600 })()).toBe(now + 3600);
    expect(check({ iat: now + 60, nbf: now + 60, exp: now + 3600 })()).toBe(now + 3600);
    expect(check({ iat: now - 3600, exp: now - 59 })()).toBe(now - 59);
    expect(check({ iat: now, exp: now + 24 * 3600 })()).toBe(now + 24 * 3600);
  });

  it.each([
    ['no exp', { iat: now }, /no exp/],
    ['no iat (the lifetime could not be checked)', { exp: now + 600 }, /no iat/],
    ['exp that is not a number', { iat: now, exp: String(now + 600) }, /exp is not a number/],
    ['iat in the future beyond the skew', { iat: now + 61, exp: now + 600 }, /issued in the future/],
    ['nbf in the future beyond the skew', { iat: now, nbf: now + 61, exp: now + 600 }, /not valid yet/],
    ['exp in the past beyond the skew', { iat: now - 600, exp: now - 60 }, /expired/],
    ['exp 100 years ahead', { iat: now, exp: now + 100 * 365 * 24 * 3600 }, /lifetime exceeds/],
    ['a lifetime one second over the maximum', { iat: now - 100, exp: now - 100 + 24 * 3600 + 1 }, /lifetime exceeds/],
    ['exp further ahead than the maximum, with a backdated-to-fit iat in the future', { iat: now + 60, exp: now + 24 * 3600 + 30 }, /from now/],
  ])('refuses %s', (_name, claims, message) => {
    expect(check(claims)).toThrow(UnauthorizedError);
    expect(check(claims)).toThrow(message);
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
