import type { PhaseRecorder } from '../bench-client.js';
import type { ScenarioClientResult } from '../worker-protocol.js';
import { connectUsers, mapLimit, measureInterleaved, quiesce, userIds, warmUp, type ScenarioContext } from './common.js';
import { createGroup } from './groups.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Contention on one conversation's seq: 50 members all sending into one group, against the same 50 senders each
 * sending into one of 10 groups (every group has the same 50 members, so each message is pushed to 49 connections
 * in both). Every sender runs a closed loop at the documented limit (at most 10 sends/s, the next send after the ack),
 * so the acked rate shows how much the conversation, not the machine, holds senders back.
 */
export async function runHotGroup(ctx: ScenarioContext): Promise<ScenarioClientResult> {
  const setupStarted = performance.now();
  const senders = 50;
  const groupCount = 10;
  const intervalMs = 100;
  const seconds = ctx.quick ? 4 : 20;
  const rounds = ctx.quick ? 1 : 2;
  const clients = await connectUsers(ctx, userIds('hot', senders));
  const groups = await mapLimit(
    Array.from({ length: groupCount }, (_, i) => i),
    2,
    (i) => createGroup(ctx, clients, `hot ${i}`),
  );
  await quiesce(ctx, 'setup');
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  const load = (spread: boolean) => async (recorder: PhaseRecorder, durationSeconds: number) => {
    const end = performance.now() + durationSeconds * 1000;
    await Promise.all(
      clients.map(async (client, i) => {
        const conversationId = spread ? groups[i % groupCount]! : groups[0]!;
        while (performance.now() < end) {
          const started = performance.now();
          await client.sendMessage(recorder, conversationId, senders - 1);
          ctx.progress(recorder.id, `sent ${recorder.sent} acked ${recorder.acked}`);
          const wait = started + intervalMs - performance.now();
          if (wait > 0) await sleep(wait);
        }
      }),
    );
  };
  const designs = [
    { phase: 'one-group', select: async () => undefined, seconds },
    { phase: 'ten-groups', select: async () => undefined, seconds },
  ];
  await warmUp(ctx, 'hot', (recorder) => load(false)(recorder, ctx.quick ? 1 : 3));
  const phases = await measureInterleaved(ctx, designs, rounds, (recorder, spanSeconds) => load(recorder.id === 'ten-groups')(recorder, spanSeconds));
  await ctx.control({ kind: 'drop-connections' });
  return {
    name: 'hot-group',
    title: '50 senders in one group vs over 10 groups',
    description:
      `${senders} connected users, members of ${groupCount} groups of ${senders}; each sends in a closed loop (at most ` +
      `${1000 / intervalMs}/s) into one group (one-group) or into group i mod ${groupCount} (ten-groups).`,
    parameters: { users: senders, groups: groupCount, groupSize: senders, maxSendsPerSecondPerSender: 1000 / intervalMs, durationSeconds: seconds, rounds },
    phases,
    extra: {},
    setupSeconds: Math.round(setupSeconds * 10) / 10,
  };
}
