import { BenchClient, setCurrentPhase, startPhase } from '../bench-client.js';
import type { ScenarioClientResult } from '../worker-protocol.js';
import {
  chunk,
  compareWithNaive,
  comparisonTimings,
  connectUsers,
  expectReply,
  fetchTokens,
  mapLimit,
  quiesce,
  userIds,
  type ScenarioContext,
} from './common.js';

/** Creates a group of `members` (the first one creates it): 50 at creation, the rest by addMembers of at most 50. */
export async function createGroup(ctx: ScenarioContext, members: readonly BenchClient[], title: string): Promise<string> {
  const [creator, ...others] = members;
  const ids = others.map((client) => client.userId);
  const created = expectReply(
    await creator!.request({ action: 'createConversation', kind: 'group', title, members: ids.slice(0, 49) }),
    'conversation',
    'createConversation',
  );
  const conversationId = String(created.conversation.conversationId);
  for (const [i, batch] of chunk(ids.slice(49), 50).entries()) {
    expectReply(await creator!.request({ action: 'addMembers', conversationId, members: batch }), 'conversation', 'addMembers');
    ctx.progress(`creating ${title}`, `addMembers ${i + 1}`);
  }
  return conversationId;
}

/** Groups of 130 members, each user in one group, every group sending; then the naive design; then a presence probe. */
export async function runGroups(ctx: ScenarioContext): Promise<ScenarioClientResult> {
  const setupStarted = performance.now();
  const groupSize = 130;
  const groupCount = ctx.quick ? 1 : 8;
  // One message every 2 s per group, each pushed to 129 connections: about 500 pushes/s (quick: every second, 1 group).
  const intervalMs = ctx.quick ? 1000 : 2000;
  const { durationSeconds, naiveSeconds, rounds } = comparisonTimings(ctx.quick);
  const clients = await connectUsers(ctx, userIds('g130', groupSize * groupCount));
  const groups = await mapLimit(chunk(clients, groupSize), 4, async (members, i) => ({
    members,
    conversationId: await createGroup(ctx, members, `group ${i}`),
  }));
  await quiesce(ctx, 'setup');
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  const slots = groups.map((group) => () => ({
    client: group.members[Math.floor(Math.random() * group.members.length)]!,
    conversationId: group.conversationId,
    recipients: group.members.length - 1,
  }));

  const { parley, naive } = await compareWithNaive(ctx, slots, { label: 'groups-130', intervalMs });
  const presenceProbe = await probePresence(ctx, groups[0]!.members.slice(1, 6));
  await ctx.control({ kind: 'drop-connections' });
  return {
    name: 'groups-130',
    title: 'Groups of 130 members',
    description: `${groupCount} groups of ${groupSize} connected members (each user in one group); each group gets a message from a random member every ${intervalMs / 1000} s.`,
    parameters: {
      users: groupSize * groupCount,
      groups: groupCount,
      groupSize,
      intervalMsPerGroup: intervalMs,
      offeredMessagesPerSecond: groupCount * (1000 / intervalMs),
      durationSeconds,
      naiveSeconds,
      rounds,
    },
    phases: { parley, naive },
    extra: { presenceProbe },
    setupSeconds: Math.round(setupSeconds * 10) / 10,
  };
}

/**
 * Disconnects and reconnects a few group members and counts the presence pushes it causes: every online/offline
 * transition is announced to every contact, so in a group the cost of a flap grows with the group.
 */
async function probePresence(ctx: ScenarioContext, flappers: readonly BenchClient[]) {
  ctx.progress('presence probe');
  const tokens = await fetchTokens(
    ctx,
    flappers.map((client) => client.userId),
  );
  const recorder = startPhase('presence-probe');
  setCurrentPhase(recorder);
  await ctx.control({ kind: 'mark', name: 'presence-probe:start' });
  await Promise.all(flappers.map((client) => client.close()));
  await ctx.control({ kind: 'settle', quietMs: 1500, timeoutMs: 30_000 });
  await Promise.all(flappers.map((client) => BenchClient.connect(ctx.wsUrl, client.userId, tokens.get(client.userId)!)));
  await ctx.control({ kind: 'settle', quietMs: 1500, timeoutMs: 30_000 });
  await ctx.control({ kind: 'mark', name: 'presence-probe:end' });
  setCurrentPhase(undefined);
  return { users: flappers.length, transitions: flappers.length * 2, presencePushesReceived: recorder.otherPushes.presence ?? 0 };
}
