import type { ScenarioClientResult } from '../worker-protocol.js';
import { compareWithNaive, comparisonTimings, connectUsers, expectReply, mapLimit, quiesce, userIds, type ScenarioContext } from './common.js';

/** 1:1 chat: 1,000 connected users in 500 pairs, every pair sending, through Parley and then the naive design. */
export async function runDirect(ctx: ScenarioContext): Promise<ScenarioClientResult> {
  const setupStarted = performance.now();
  const userCount = ctx.quick ? 100 : 1000;
  // Each pair sends one message every 10 s, alternating direction: 50 messages/s at 1,000 users, about a third of what
  // DynamoDB Local sustains for this transaction on two shared cores (quick: every 2.5 s, 20 messages/s).
  const intervalMs = ctx.quick ? 2500 : 10_000;
  const { durationSeconds, naiveSeconds, rounds } = comparisonTimings(ctx.quick);
  const clients = await connectUsers(ctx, userIds('dm', userCount));
  const pairs = await mapLimit(
    Array.from({ length: userCount / 2 }, (_, i) => i),
    16,
    async (i) => {
      const [a, b] = [clients[2 * i]!, clients[2 * i + 1]!];
      const reply = expectReply(await a.request({ action: 'createConversation', kind: 'direct', userId: b.userId }), 'conversation', 'createConversation');
      ctx.progress('creating conversations', `${i + 1}/${userCount / 2}`);
      return { a, b, conversationId: String(reply.conversation.conversationId), turn: 0 };
    },
  );
  await quiesce(ctx, 'setup');
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  const slots = pairs.map((pair) => () => {
    const from = pair.turn++ % 2 === 0 ? pair.a : pair.b;
    return { client: from, conversationId: pair.conversationId, recipients: 1 };
  });

  const { parley, naive } = await compareWithNaive(ctx, slots, { label: 'direct-1000', intervalMs });
  await ctx.control({ kind: 'drop-connections' });
  return {
    name: 'direct-1000',
    title: '1:1 at 1,000 connected users',
    description: `${userCount} connected users in ${userCount / 2} direct conversations; every pair sends a message every ${intervalMs / 1000} s, alternating direction.`,
    parameters: {
      users: userCount,
      pairs: userCount / 2,
      intervalMsPerPair: intervalMs,
      offeredMessagesPerSecond: (userCount / 2) * (1000 / intervalMs),
      durationSeconds,
      naiveSeconds,
      rounds,
    },
    phases: { parley, naive },
    extra: {},
    setupSeconds: Math.round(setupSeconds * 10) / 10,
  };
}
