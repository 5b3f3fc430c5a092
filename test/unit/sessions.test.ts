import { describe, expect, it } from 'vitest';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';
import { runJob } from '../../lambdas/domain/fanout.js';
import { connected } from '../../lambdas/domain/presence.js';
import { disconnectUser, runSessionExpiry, scheduleSessionEnd, sessionExpired } from '../../lambdas/domain/sessions.js';
import type { Caller, FanoutJob } from '../../lambdas/domain/types.js';

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
type ExpireJob = Extract<FanoutJob, { kind: 'expire' }>;
const expireJobs = (jobs: { job: FanoutJob; delaySeconds?: number }[]) =>
  jobs.filter((entry): entry is { job: ExpireJob; delaySeconds?: number } => entry.job.kind === 'expire');

describe('session lifetime', () => {
  it('counts a session as over once its token exp plus the clock skew has passed', () => {
    const { deps, advance } = memoryDeps({ clockSkewSeconds: 60 });
    const caller: Caller = { userId: 'alice', connectionId: 'a1', tokenExpiresAt: seconds(deps.now()) + 10 };
    expect(sessionExpired(deps, caller)).toBe(false);
    advance(69_000);
    expect(sessionExpired(deps, caller)).toBe(false);
    advance(1_000);
    expect(sessionExpired(deps, caller)).toBe(true);
    // Connections authorized without an expiry in their context are left to API Gateway's 2-hour limit.
    expect(sessionExpired(deps, { userId: 'alice', connectionId: 'a2' } as Caller)).toBe(false);
  });

  it('queues the close for the session end, in hops of at most 15 minutes, and only when it comes before the 2-hour cap', async () => {
    const { deps, queue } = memoryDeps({ clockSkewSeconds: 60 });
    const now = seconds(deps.now());
    await scheduleSessionEnd(deps, { userId: 'alice', connectionId: 'short', tokenExpiresAt: now + 30 });
    await scheduleSessionEnd(deps, { userId: 'alice', connectionId: 'hour', tokenExpiresAt: now + 3600 });
    await scheduleSessionEnd(deps, { userId: 'alice', connectionId: 'day', tokenExpiresAt: now + 86_000 });
    await scheduleSessionEnd(deps, { userId: 'alice', connectionId: 'unknown' });
    expect(expireJobs(queue.jobs).map(({ job, delaySeconds }) => [job.connectionId, job.endsAt - now, delaySeconds])).toEqual([
      ['short', 90, 90],
      ['hour', 3660, 900],
    ]);
  });

  it('re-queues an expire job until the session ends, then posts token_expired and closes the connection', async () => {
    const { deps, presence, pusher, queue, advance } = memoryDeps({ clockSkewSeconds: 60 });
    const caller: Caller = { userId: 'alice', connectionId: 'a1', tokenExpiresAt: seconds(deps.now()) + 1800 };
    await connected(deps, caller);
    await scheduleSessionEnd(deps, caller);
    for (let hop = 0; hop < 10 && pusher.closed.length === 0; hop++) {
      const entry = expireJobs(queue.jobs).at(-1)!;
      advance(entry.delaySeconds! * 1000);
      await runJob(deps, entry.job);
      // The connection keeps its presence alive meanwhile.
      await presence.refresh(caller, deps.now(), deps.limits.presenceTtlSeconds);
    }
    expect(expireJobs(queue.jobs).map((entry) => entry.delaySeconds)).toEqual([900, 900, 60]);
    expect(pusher.closed).toEqual(['a1']);
    expect(pusher.framesFor('a1')).toEqual([expect.objectContaining({ type: 'error', code: 'token_expired' })]);
    expect(pusher.framesFor('a1')[0]).not.toHaveProperty('requestId');
  });

  it('does nothing for a connection that closed before its session ended', async () => {
    const { deps, pusher, queue, presence, advance } = memoryDeps();
    const caller: Caller = { userId: 'alice', connectionId: 'a1', tokenExpiresAt: seconds(deps.now()) + 100 };
    await connected(deps, caller);
    await scheduleSessionEnd(deps, caller);
    await presence.removeConnection(caller, deps.now());
    const before = queue.jobs.length;
    advance(200_000);
    await runSessionExpiry(deps, expireJobs(queue.jobs)[0]!.job);
    expect(pusher.closed).toEqual([]);
    expect(queue.jobs.length).toBe(before);
  });

  it('retries a close that finds the connection not established yet, then forgets it; fails the job when the close fails', async () => {
    const { deps, pusher, queue, presence, advance } = memoryDeps();
    const caller: Caller = { userId: 'alice', connectionId: 'a1', tokenExpiresAt: seconds(deps.now()) - 60 };
    await connected(deps, caller);
    pusher.closeScript = () => 'gone';
    let job: ExpireJob = { kind: 'expire', userId: 'alice', connectionId: 'a1', endsAt: seconds(deps.now()), attempt: 0 };
    for (let attempt = 0; attempt < 3; attempt++) {
      await runSessionExpiry(deps, job);
      const next = expireJobs(queue.jobs).at(-1)!;
      expect(next).toMatchObject({ delaySeconds: 5, job: { attempt: attempt + 1 } });
      job = next.job;
    }
    advance(60_000);
    const queued = queue.jobs.length;
    await runSessionExpiry(deps, job);
    expect(queue.jobs.length).toBeGreaterThanOrEqual(queued);
    expect(expireJobs(queue.jobs).length).toBe(3);
    expect(await presence.registeredConnections('alice')).toEqual([]);

    await connected(deps, { ...caller, connectionId: 'a2' });
    pusher.closeScript = () => 'failed';
    await expect(runSessionExpiry(deps, { ...job, connectionId: 'a2', attempt: 0 })).rejects.toThrow(/could not close/);
  });

  it('disconnectUser closes every connection of the user, forgets gone ones and reports failures', async () => {
    const { deps, pusher, presence, advance } = memoryDeps();
    for (const connectionId of ['phone', 'laptop', 'tablet', 'stale']) await connected(deps, { userId: 'alice', connectionId });
    await connected(deps, { userId: 'bob', connectionId: 'bob-1' });
    // A connection past its presence expiry may still be open (it sent frames but no heartbeat): it is closed too.
    advance((deps.limits.presenceTtlSeconds + 60) * 1000);
    await connected(deps, { userId: 'alice', connectionId: 'new' });
    pusher.closeScript = (id) => (id === 'stale' ? 'gone' : id === 'tablet' ? 'failed' : 'ok');
    const result = await disconnectUser(deps, 'alice');
    expect(result).toEqual({ closed: ['phone', 'laptop', 'new'], gone: ['stale'], failed: ['tablet'] });
    expect(pusher.closed).toEqual(['phone', 'laptop', 'new']);
    expect(await presence.registeredConnections('alice')).not.toContain('stale');
    expect(await presence.registeredConnections('bob')).toEqual(['bob-1']);
    expect(await disconnectUser(deps, 'nobody')).toEqual({ closed: [], gone: [], failed: [] });
  });
});
