import type { SendAck } from '../../protocol/frames.js';
import { cannotContact, conversationOfMember } from './conversations.js';
import type { Deps } from './deps.js';
import { ForbiddenError, RateLimitedError, UnavailableError } from './errors.js';
import { hasBlocked } from './consent.js';
import { readableConversation } from './timeline.js';
import { fromServer, isSystem } from './principal.js';
import { publish } from './fanout.js';
import { jsonBytes, ReplyBudget } from './reply-budget.js';
import { limitUserRead } from './user-limits.js';
import { expiryOf, retentionDaysOf, visibleBefore, wireItem } from './retention.js';
import type { Caller, Conversation, Message } from './types.js';
import { fullJitter } from '../shared/jitter.js';

/**
 * How long, and how many times, a send races other senders of the same conversation before giving up with
 * `unavailable`. Each round has one winner, so with n concurrent senders a send waits about n rounds; the
 * budget stays well inside the actions function's timeout.
 */
const appendBudgetMs = 8000;
const maxAppendAttempts = 400;

/**
 * Stores a message with the next seq, then pushes it to every member's connections. The ack is returned
 * only after the store succeeded; a retry with the same clientMessageId returns the first ack.
 */
export async function sendMessage(
  deps: Deps,
  caller: Caller,
  input: { conversationId: string; clientMessageId: string; body: string },
): Promise<SendAck> {
  // The per-connection limit guards against end users; the server API is throttled by API Gateway instead.
  const waitMs = fromServer(caller) ? 0 : deps.rateLimiter.take(`send:${caller.connectionId}`, deps.limits.sendRatePerSecond, deps.limits.sendBurst);
  if (waitMs > 0) throw new RateLimitedError(waitMs);
  // A consistent snapshot: the member set belongs to the lastSeq the append conditions on (see `get`).
  let conversation = await conversationOfMember(deps, caller, input.conversationId, true);
  // The server principal has no peer: blocks and DM acceptance are between the two members.
  const peer = conversation.kind === 'direct' && !isSystem(caller) ? conversation.members.find((userId) => userId !== caller.userId) : undefined;
  if (peer && (await hasBlocked(deps, peer, caller.userId))) throw new ForbiddenError(cannotContact);
  let expectedLastSeq = conversation.lastSeq;
  let epoch = conversation.epoch ?? newEpoch(deps);
  const deadline = deps.now().getTime() + appendBudgetMs;
  for (let attempt = 0; attempt < maxAppendAttempts && deps.now().getTime() < deadline; attempt++) {
    const createdAt = deps.now().toISOString();
    const message = { ...input, senderId: caller.userId, createdAt, epoch, expiresAt: expiryOf(deps, conversation, createdAt) };
    // The first message of a DM's recipient accepts it: from then on the opener sees the recipient's presence.
    const accepting = peer !== undefined && conversation.pending?.includes(caller.userId);
    const result = accepting
      ? await deps.messages.appendTimeline({
          conversationId: input.conversationId,
          items: [{ ...message, kind: 'message' }],
          expectedLastSeq,
          epoch,
          idempotencyKey: JSON.stringify([input.conversationId, caller.userId, input.clientMessageId]),
          idempotencyTtlSeconds: deps.limits.idempotencyTtlSeconds,
          expiresAt: message.expiresAt,
          writes: [
            { type: 'conversation', conversationId: input.conversationId, accepted: caller.userId },
            { type: 'member', conversationId: input.conversationId, userId: peer, peerAccepted: true },
          ],
        })
      : await deps.messages.append(message, expectedLastSeq, deps.limits.idempotencyTtlSeconds);
    switch (result.status) {
      case 'stored':
        deps.metrics.add('messagesStored');
        await publishMessage(deps, conversation, result.message, caller, true);
        return { ...ack(input, result.message.seq, createdAt), epoch: result.message.epoch, duplicate: false };
      case 'duplicate': {
        // The first attempt may have died between storing and pushing: push again through the queue;
        // clients drop the duplicate by (conversationId, seq).
        const [found] = await deps.messages.after(input.conversationId, result.seq - 1, 1);
        const stored = found && wireItem(found);
        if (stored) await publishMessage(deps, conversation, stored, caller, false);
        return { ...ack(input, result.seq, result.createdAt), epoch: stored?.epoch ?? epoch, duplicate: true };
      }
      case 'conflict':
        deps.metrics.add('seqConflictRetries');
        expectedLastSeq = result.lastSeq;
        epoch = result.epoch ?? epoch;
        // A retention change may have taken the seq: the next expiry follows the head's current state.
        if (result.retention) conversation = { ...conversation, retentionDays: result.retention.retentionDays, lastExpiresAt: result.retention.lastExpiresAt };
        // A membership event took the seq: the member set is stale, so re-read it (the sender may be gone).
        if ((result.membershipSeq ?? 0) !== (conversation.membershipSeq ?? 0)) {
          conversation = await conversationOfMember(deps, caller, input.conversationId, true);
          expectedLastSeq = conversation.lastSeq;
        }
        // Small full jitter: senders stop colliding in lockstep, yet a long-waiting sender is not pushed behind
        // newcomers the way a growing backoff would push it.
        await deps.sleep(fullJitter(attempt, 1, 32));
    }
  }
  throw new UnavailableError('the conversation is too busy, retry');
}

/** A new conversation epoch: 12 random characters. */
export const newEpoch = (deps: Deps) => deps.newId().replace(/-/g, '').slice(0, 12);

const ack = (input: { conversationId: string; clientMessageId: string }, seq: number, createdAt: string) => ({
  conversationId: input.conversationId,
  clientMessageId: input.clientMessageId,
  seq,
  createdAt,
});

/**
 * Pushes a stored message. The message is durable whatever happens here, so a failed inline push falls back to
 * the queue, and a failed enqueue is logged, not thrown: the sender still gets its ack and members catch up by sync.
 */
async function publishMessage(deps: Deps, conversation: Conversation, message: Message, caller: Caller, inline: boolean) {
  const publishVia = (viaInline: boolean) =>
    publish(deps, { type: 'message', message }, conversation.members, {
      excludeConnectionId: caller.connectionId,
      inline: viaInline,
      scope: { conversationId: conversation.conversationId, membershipSeq: conversation.membershipSeq ?? 0, seq: message.seq },
    });
  try {
    await publishVia(inline);
  } catch (error) {
    deps.logger.warn('push failed, queueing the fanout', { conversationId: message.conversationId, seq: message.seq, error: error as Error });
    try {
      await publishVia(false);
    } catch (queueError) {
      deps.logger.error('fanout could not be queued; members will catch up by sync', {
        conversationId: message.conversationId,
        seq: message.seq,
        error: queueError as Error,
      });
    }
  }
}

/** A page of history, newest first, bounded by count and by bytes so it fits one API Gateway message. */
export async function history(
  deps: Deps,
  caller: Caller,
  input: { conversationId: string; beforeSeq?: number; limit: number },
): Promise<{ messages: Message[]; nextBeforeSeq: number | null; expiredBefore?: number }> {
  await limitUserRead(deps, caller, 'history');
  // A removed member reads up to and including their removal event, nothing after it.
  const { conversation, visibleUpTo } = await readableConversation(deps, caller, input.conversationId);
  const beforeSeq = Math.min(input.beforeSeq ?? Number.MAX_SAFE_INTEGER, visibleUpTo + 1);
  const found = await deps.messages.before(input.conversationId, beforeSeq, input.limit);
  const visible = visibleBefore(found, beforeSeq, input.limit, deps.now(), retentionDaysOf(deps, conversation));
  const budget = new ReplyBudget();
  const messages: Message[] = [];
  for (const message of visible.messages) {
    const bytes = jsonBytes(message) + 1;
    if (!budget.fits(bytes) && messages.length > 0) break;
    budget.spend(bytes);
    messages.push(message);
  }
  const oldest = messages.at(-1);
  // The horizon ends paging: there is nothing below it to ask for.
  if (visible.expiredBefore !== undefined && messages.length === visible.messages.length) {
    return { messages, nextBeforeSeq: null, expiredBefore: visible.expiredBefore };
  }
  return { messages, nextBeforeSeq: oldest && oldest.seq > 1 ? oldest.seq : null };
}
