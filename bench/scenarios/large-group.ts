import type { ScenarioClientResult } from '../worker-protocol.js';
import { connectUsers, measurePhase, quiesce, runOpenLoop, userIds, warmUp, type ScenarioContext } from './common.js';
import { createGroup } from './groups.js';

/** One group of 1,000 connected members: above the inline limit, so every message goes through the SQS fanout. */
export async function runLargeGroup(ctx: ScenarioContext): Promise<ScenarioClientResult> {
  const setupStarted = performance.now();
  const members = ctx.quick ? 200 : 1000;
  // A message every 1.5 s from a random member, each pushed to 999 connections: about 670 pushes/s.
  const intervalMs = ctx.quick ? 500 : 1500;
  const durationSeconds = ctx.quick ? 4 : 30;
  // Members connect before the group exists: presence is announced to contacts, and there are none yet (see the
  // report's presence finding for what the other order costs).
  const clients = await connectUsers(ctx, userIds('g1k', members));
  const conversationId = await createGroup(ctx, clients, 'group of 1000');
  await quiesce(ctx, 'setup');
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  const slot = () => ({ client: clients[Math.floor(Math.random() * clients.length)]!, conversationId, recipients: members - 1 });

  await warmUp(ctx, 'parley', (recorder) =>
    runOpenLoop(ctx, recorder, [slot], { intervalMs, durationSeconds: ctx.quick ? 2 : 3, label: 'group-1000 warm-up' }),
  );
  const parley = await measurePhase(ctx, 'parley', (recorder) =>
    runOpenLoop(ctx, recorder, [slot], { intervalMs, durationSeconds, label: 'group-1000 parley' }),
  );
  await ctx.control({ kind: 'drop-connections' });
  return {
    name: 'group-1000',
    title: 'One group of 1,000 members',
    description: `One group of ${members} connected members; a random member sends every ${intervalMs} ms. Needs MAX_GROUP_MEMBERS=1000 (default 256).`,
    parameters: { users: members, groupSize: members, intervalMs, offeredMessagesPerSecond: 1000 / intervalMs, durationSeconds },
    phases: { parley },
    extra: {},
    setupSeconds: Math.round(setupSeconds * 10) / 10,
  };
}
