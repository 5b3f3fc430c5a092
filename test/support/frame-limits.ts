/**
 * API Gateway's frame and message limits, checked on what actually crossed the local stack's WebSocket emulator:
 * it counts every frame and message both ways and records every violation (a client frame over 32 KB or message
 * over 128 KB, a route response or `@connections` POST over 128 KB), per user. A test that must show "every frame
 * fits" resets the accounting of its own users, does its work, then calls `expectNoOversizeFrames`:
 *
 * ```ts
 * await resetFrameStats([alice, bob]);
 * // ... sync, history, sends ...
 * const stats = await expectNoOversizeFrames([alice, bob]);
 * expect(stats.serverToClient.largestMessageBytes).toBeGreaterThan(100_000); // the test really came close
 * ```
 *
 * Every function takes the users it covers, because test files run in parallel against one shared stack and some
 * of them (bad-input, limits) break the limits on purpose. Users are the ids the authorizer resolved (the
 * connection's principalId), or anything with a `userId`, such as a `TestClient`.
 */
import { expect, inject } from 'vitest';
import { webSocketLimits } from '../../lib/definitions.js';
import type { FrameStats } from '../../local/apigw-websocket.js';
import type { ParleyInfo } from '../setup/local-stack.js';

export type { DirectionStats, FrameStats, FrameViolation } from '../../local/apigw-websocket.js';

/** The users a check covers: user ids, or objects with a `userId` such as a `TestClient`. */
export type FrameScope = readonly (string | { readonly userId: string })[];

/** Where the emulator's control API is; defaults to the shared stack's (`inject('parley')`). */
export type FrameLimitsTarget = Pick<ParleyInfo, 'callbackUrl'>;

async function call(method: 'GET' | 'DELETE', users: FrameScope, target: FrameLimitsTarget): Promise<unknown> {
  const ids = users.map((user) => (typeof user === 'string' ? user : user.userId));
  if (ids.length === 0) throw new Error('frame-limits: name the users of your test (the stack is shared with tests that break limits on purpose)');
  const query = new URLSearchParams(ids.map((id) => ['principalId', id]));
  const url = `${new URL(target.callbackUrl).origin}/_emulator/frames?${query}`;
  const response = await fetch(url, { method });
  const body = await response.text();
  if (!response.ok) throw new Error(`${method} /_emulator/frames: ${response.status} ${body}`);
  return JSON.parse(body);
}

/** Forgets what the emulator recorded for these users, so the next check covers only what follows. */
export async function resetFrameStats(users: FrameScope, target: FrameLimitsTarget = inject('parley')): Promise<void> {
  await call('DELETE', users, target);
}

/**
 * What the emulator recorded for these users since their last reset: per direction the frame and message counts and
 * the largest frame and message (server messages go out in frames of at most 32 KB), and every violation.
 */
export async function frameStats(users: FrameScope, target: FrameLimitsTarget = inject('parley')): Promise<FrameStats> {
  return (await call('GET', users, target)) as FrameStats;
}

/**
 * Fails, listing each violation (direction, path, route, bytes, what API Gateway did), if any frame or message of
 * these users broke API Gateway's limits since their last reset; otherwise returns their stats.
 */
export async function expectNoOversizeFrames(users: FrameScope, target: FrameLimitsTarget = inject('parley')): Promise<FrameStats> {
  const stats = await frameStats(users, target);
  expect(stats.violations, 'frames or messages over API Gateway limits (docs/LIMITS.md)').toEqual([]);
  expect(stats.clientToServer.largestFrameBytes, 'largest client frame').toBeLessThanOrEqual(webSocketLimits.maxFrameBytes);
  expect(stats.serverToClient.largestMessageBytes, 'largest server message').toBeLessThanOrEqual(webSocketLimits.maxMessageBytes);
  return stats;
}
