/** The per-user limiter's contract, run on the in-memory fake and on the DynamoDB adapter alike, so they cannot drift. */
import { describe, expect, inject, it } from 'vitest';
import { DynamoUserRateLimiter } from '../../lambdas/adapters/dynamo-user-rate-limiter.js';
import { MemoryUserRateLimiter } from '../../lambdas/adapters/memory-stores.js';
import type { UserRateLimiter } from '../../lambdas/domain/ports.js';
import { dynamoDeps } from '../support/dynamo-deps.js';
import { uniqueUser } from '../support/ws-client.js';

const info = inject('parley');
const implementations: [string, () => UserRateLimiter][] = [
  ['memory', () => new MemoryUserRateLimiter()],
  ['DynamoDB', () => new DynamoUserRateLimiter(dynamoDeps(info).clients.other, info.tableNames.rateLimits)],
];

describe.each(implementations)('UserRateLimiter (%s)', (_name, create) => {
  it('allows `limit` hits per window, then says how long until the window ends', async () => {
    const limiter = create();
    const key = uniqueUser('sync');
    const start = new Date(Math.ceil(Date.now() / 10_000) * 10_000 + 2_500);
    for (let i = 0; i < 3; i++) expect(await limiter.hit(key, 3, 10, start)).toBe(0);
    expect(await limiter.hit(key, 3, 10, start)).toBe(7_500);
    expect(await limiter.hit(key, 3, 10, new Date(start.getTime() + 7_000))).toBe(500);
    // Refused hits are not counted: the next window starts fresh.
    expect(await limiter.hit(key, 3, 10, new Date(start.getTime() + 7_500))).toBe(0);
    expect(await limiter.hit(uniqueUser('other'), 3, 10, start)).toBe(0);
  });

  it('counts concurrent hits exactly', async () => {
    const limiter = create();
    const key = uniqueUser('burst');
    const now = new Date();
    const results = await Promise.all(Array.from({ length: 20 }, () => limiter.hit(key, 5, 60, now)));
    expect(results.filter((wait) => wait === 0)).toHaveLength(5);
  });
});
