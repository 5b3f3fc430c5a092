import { conversationOfMember } from './conversations.js';
import type { Deps } from './deps.js';
import { RateLimitedError } from './errors.js';
import { publish } from './fanout.js';
import type { Caller } from './types.js';

/** Relays a typing indicator to the other members; never stored, rate limited per connection. */
export async function typing(deps: Deps, caller: Caller, input: { conversationId: string; state: 'start' | 'stop' }): Promise<void> {
  const waitMs = deps.rateLimiter.take(`typing:${caller.connectionId}`, deps.limits.typingRatePerSecond, deps.limits.typingBurst);
  if (waitMs > 0) throw new RateLimitedError(waitMs);
  const conversation = await conversationOfMember(deps, caller, input.conversationId);
  const others = conversation.members.filter((userId) => userId !== caller.userId);
  // Users who blocked the caller get no typing from them (one batched read of block items).
  const blockers = await deps.users.whoBlocked(others, caller.userId);
  await publish(
    deps,
    { type: 'typing', conversationId: input.conversationId, userId: caller.userId, state: input.state },
    others.filter((userId) => !blockers.has(userId)),
    { scope: { conversationId: conversation.conversationId, membershipSeq: conversation.membershipSeq ?? 0 } },
  );
}
