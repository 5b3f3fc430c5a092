import { describe, expect, it } from 'vitest';
import { deliverOrRequeue, publish, PushFailedError, runJob } from '../../lambdas/domain/fanout.js';
import { createGroupConversation } from '../../lambdas/domain/conversations.js';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';

const event = { type: 'typing' as const, conversationId: 'grp_x', userId: 'alice', state: 'start' as const };

describe('fanout', () => {
  it('deletes a gone connection, keeps the others and announces the user offline when it was the last one', async () => {
    const { deps, presence, pusher, queue, metrics } = memoryDeps();
    const aMinuteAgo = new Date(deps.now().getTime() - 60_000);
    await presence.addConnection({ userId: 'bob', connectionId: 'stale' }, aMinuteAgo, deps.limits.presenceTtlSeconds);
    await presence.addConnection({ userId: 'carol', connectionId: 'carol-1' }, deps.now(), 60);
    pusher.script = (id) => (id === 'stale' ? 'gone' : 'ok');
    await publish(deps, event, ['bob', 'carol']);
    expect(pusher.posts.map((post) => post.connectionId)).toEqual(['carol-1']);
    expect(await presence.connectionsOf(['bob'], deps.now())).toEqual([]);
    expect(queue.jobs.map(({ job }) => job)).toEqual([{ kind: 'presence', userId: 'bob', status: 'offline', lastSeenAt: expect.any(String) }]);
    expect(metrics.values).toEqual({ pushesDelivered: [1], connectionsGone: [1] });
  });

  it('keeps a connection registered moments ago on 410: $connect registers it before API Gateway establishes it', async () => {
    const { deps, presence, pusher, queue } = memoryDeps();
    await presence.addConnection({ userId: 'bob', connectionId: 'connecting' }, deps.now(), deps.limits.presenceTtlSeconds);
    pusher.script = () => 'gone';
    await publish(deps, event, ['bob']);
    expect(await presence.connectionsOf(['bob'], deps.now())).toEqual([{ userId: 'bob', connectionId: 'connecting' }]);
    expect(queue.jobs).toEqual([]);
  });

  it('requeues only the failed connections with a growing delay, then fails the job', async () => {
    const { deps, presence, pusher, queue, metrics } = memoryDeps({ maxPushAttempts: 3 });
    await presence.addConnection({ userId: 'bob', connectionId: 'bob-1' }, deps.now(), 60);
    await presence.addConnection({ userId: 'carol', connectionId: 'carol-1' }, deps.now(), 60);
    pusher.script = (id) => (id === 'bob-1' ? 'failed' : 'ok');
    await deliverOrRequeue(deps, { kind: 'deliver', event, recipients: ['bob', 'carol'], attempt: 0 });
    expect(queue.jobs).toEqual([{ job: expect.objectContaining({ targets: [{ userId: 'bob', connectionId: 'bob-1' }], attempt: 1 }), delaySeconds: 1 }]);
    const retry = queue.jobs[0]!.job;
    if (retry.kind !== 'deliver') throw new Error('expected a deliver job');
    await deliverOrRequeue(deps, retry);
    expect(queue.jobs[1]).toMatchObject({ job: { attempt: 2 }, delaySeconds: 2 });
    const last = queue.jobs[1]!.job;
    if (last.kind !== 'deliver') throw new Error('expected a deliver job');
    await expect(deliverOrRequeue(deps, last)).rejects.toBeInstanceOf(PushFailedError);
    expect(pusher.posts.filter((post) => post.connectionId === 'carol-1')).toHaveLength(1);
    // Two requeues of bob's one connection; the third failure is the worker's to report.
    expect(metrics.values.pushRetries).toEqual([1, 1]);
  });

  it('announces presence to contacts with the current status, not the queued one', async () => {
    const { deps, presence, pusher } = memoryDeps();
    await createGroupConversation(deps, { userId: 'alice', connectionId: 'a' }, { title: 't', members: ['bob'] });
    await presence.addConnection({ userId: 'bob', connectionId: 'bob-1' }, deps.now(), 60);
    await presence.addConnection({ userId: 'alice', connectionId: 'alice-1' }, deps.now(), 60);
    pusher.posts.length = 0;
    // alice flapped offline -> online; the stale offline job runs last.
    await runJob(deps, { kind: 'presence', userId: 'alice', status: 'offline', lastSeenAt: deps.now().toISOString() });
    expect(pusher.framesFor('bob-1')).toEqual([{ type: 'presence', users: [{ userId: 'alice', status: 'online', lastSeenAt: null }] }]);
    expect(pusher.framesFor('alice-1')).toEqual([]);
  });

  it('announces presence only in conversations up to presencePushMaxMembers', async () => {
    const { deps, presence, pusher } = memoryDeps({ presencePushMaxMembers: 2 });
    const alice = { userId: 'alice', connectionId: 'a' };
    await createGroupConversation(deps, alice, { title: 'pair', members: ['bob'] });
    await createGroupConversation(deps, alice, { title: 'crowd', members: ['carol', 'dave'] });
    for (const user of ['alice', 'bob', 'carol', 'dave']) await presence.addConnection({ userId: user, connectionId: `${user}-1` }, deps.now(), 60);
    pusher.posts.length = 0;
    await runJob(deps, { kind: 'presence', userId: 'alice', status: 'online', lastSeenAt: null });
    expect(pusher.posts.map((post) => post.connectionId)).toEqual(['bob-1']);
  });

  it('skips expired connections without posting to them', async () => {
    const { deps, presence, pusher, advance } = memoryDeps();
    await presence.addConnection({ userId: 'bob', connectionId: 'bob-1' }, deps.now(), 30);
    advance(31_000);
    await publish(deps, event, ['bob']);
    expect(pusher.posts).toEqual([]);
  });
});
