import type { SendAck } from '../../protocol/frames.js';
import { cannotContact, conversationOfMember } from './conversations.js';
import type { Deps } from './deps.js';
import { ForbiddenError, NotFoundError, RateLimitedError, UnavailableError } from './errors.js';
import { hasBlocked } from './consent.js';
import { readableConversation } from './timeline.js';
import { fromServer, isSystem } from './principal.js';
import { publish } from './fanout.js';
import { jsonBytes, ReplyBudget } from './reply-budget.js';
import { limitUserRead } from './user-limits.js';
import { expiryOf, isExpired, retentionDaysOf, visibleBefore, wireItem } from './retention.js';
import type { Caller, Conversation, Message } from './types.js';
import type { AllocationGuard, SendClaim } from './ports.js';
import { holeGraceMs, sameSend, settleBefore, type HoleContext } from './seq-holes.js';
import { fullJitter } from '../shared/jitter.js';

/** How many times the accepting first reply of a direct conversation (a timeline transaction) retries a lost race. */
const maxAcceptAttempts = 12;

/** How many seqs one send allocates at most: another only when a reader filled its seq before the item came. */
const maxAllocations = 4;

/**
 * Items a duplicate's first lookup of its stored message reads at most (it sits just after the claim's `afterSeq`);
 * only before taking over a dead attempt's claim does the lookup read on, up to the attempt's end.
 */
const findSentMaxItems = 500;

/** How long a retry waits for an attempt still storing the same message before answering `unavailable`. */
const pendingWaitMs = [50, 100, 200, 400];

/**
 * Stores a message with the next seq, then pushes it to every member's connections. The ack is returned only after
 * the store succeeded; a retry with the same clientMessageId returns the first ack. Three single-item writes: claim
 * the idempotency key, take the seq from the head's counter, put the message at it (docs/DESIGN.md, Send path).
 */
export async function sendMessage(deps: Deps, caller: Caller, input: { conversationId: string; clientMessageId: string; body: string }): Promise<SendAck> {
  // The per-connection limit guards against end users; the server API is throttled by API Gateway instead.
  const waitMs = fromServer(caller) ? 0 : deps.rateLimiter.take(`send:${caller.connectionId}`, deps.limits.sendRatePerSecond, deps.limits.sendBurst);
  if (waitMs > 0) throw new RateLimitedError(waitMs);
  // A consistent snapshot: the member set belongs to the membershipSeq the allocation conditions on (see `get`).
  const conversation = await conversationOfMember(deps, caller, input.conversationId, true);
  // The server principal has no peer: blocks and DM acceptance are between the two members.
  const peer = conversation.kind === 'direct' && !isSystem(caller) ? conversation.members.find((userId) => userId !== caller.userId) : undefined;
  if (peer && (await hasBlocked(deps, peer, caller.userId))) throw new ForbiddenError(cannotContact);
  // The first message of a DM's recipient accepts it: from then on the opener sees the recipient's presence.
  if (peer !== undefined && conversation.pending?.includes(caller.userId)) return sendAccepting(deps, caller, input, conversation, peer);
  const key = JSON.stringify([input.conversationId, caller.userId, input.clientMessageId]);
  let claim: SendClaim = { claimedAt: deps.now().getTime(), afterSeq: conversation.lastSeq, owner: deps.newId() };
  let held: SendClaim | undefined;
  for (let round = 0; ; round++) {
    if (held === undefined) {
      const claimed = await deps.messages.claim(key, claim, deps.limits.idempotencyTtlSeconds);
      // Our own claim, met by the SDK's retry of a claim whose response was lost.
      if (claimed.status === 'claimed' || claimed.claim.owner === claim.owner) break;
      held = claimed.claim;
    }
    const found = await storedFor(deps, caller, input, held);
    if (found) return resend(deps, caller, conversation, input, found);
    // The attempt holding the claim may still be storing: wait a little for it, then let the client retry.
    if (deps.now().getTime() - held.claimedAt <= holeGraceMs) {
      if (round >= pendingWaitMs.length) throw new UnavailableError('an earlier attempt of this message is still being stored, retry');
      await deps.sleep(pendingWaitMs[round]!);
      // Read, not claim again: a failed conditional write costs a write unit. Gone (released): claim it.
      held = await deps.messages.claimOf(key);
      continue;
    }
    // Its function ended (no attempt outlives the grace): unless its message is further up, take the claim over.
    const stored = await storedFor(deps, caller, input, held, true);
    if (stored) return resend(deps, caller, conversation, input, stored);
    const next = { claimedAt: deps.now().getTime(), afterSeq: conversation.lastSeq, owner: deps.newId() };
    if (await deps.messages.takeOver(key, held, next)) {
      deps.metrics.add('sendClaimTakeovers');
      claim = next;
      break;
    }
    held = await deps.messages.claimOf(key);
  }
  try {
    return await storeClaimed(deps, caller, input, conversation);
  } catch (error) {
    // Nothing of this attempt can still be stored (refused, or its seq settled without it): free the key for a retry.
    if (error instanceof ForbiddenError || error instanceof NotFoundError || error instanceof NothingStoredError) {
      await deps.messages.release(key, claim);
    }
    throw error instanceof NothingStoredError ? error.reason : error;
  }
}

/** A send failed in a way that leaves nothing of it to be stored later; `reason` is what the client is told. */
class NothingStoredError extends Error {
  constructor(readonly reason: unknown) {
    super('nothing stored');
  }
}

/** The message a held claim stands for, if it was stored: recorded on the claim, or found just after its `afterSeq`. */
async function storedFor(
  deps: Deps,
  caller: Caller,
  input: { conversationId: string; clientMessageId: string },
  held: SendClaim,
  exhaustive = false,
): Promise<Message | undefined> {
  if (held.seq !== undefined) {
    const item = await deps.messages.get(input.conversationId, held.seq);
    return item && wireItem(item);
  }
  // Before a takeover the search must be complete: every item up to the first created after the attempt's end.
  const bound = exhaustive
    ? { maxItems: Number.MAX_SAFE_INTEGER, createdBefore: new Date(held.claimedAt + holeGraceMs).toISOString() }
    : { maxItems: findSentMaxItems };
  const item = await deps.messages.findSent(input.conversationId, caller.userId, input.clientMessageId, held.afterSeq, bound);
  return item && wireItem(item);
}

/** What an allocation is conditioned on: the snapshot the caller checked its membership and retention against. */
export const allocationGuard = (deps: Deps, conversation: Conversation): AllocationGuard => ({
  epoch: conversation.epoch ?? newEpoch(deps),
  membershipSeq: conversation.membershipSeq ?? 0,
  retentionDays: conversation.retentionDays,
});

/**
 * Takes the next seq from the head's counter, conditioned on the snapshot the membership check used, and puts the
 * message at it. A changed head sends the sender back to re-check (removed, or a new retention); a seq a reader
 * filled meanwhile (this attempt was too slow) is given up for a new one.
 */
async function storeClaimed(
  deps: Deps,
  caller: Caller,
  input: { conversationId: string; clientMessageId: string; body: string },
  snapshot: Conversation,
): Promise<SendAck> {
  let conversation = snapshot;
  for (let attempt = 0; attempt < maxAllocations; attempt++) {
    const at = deps.now().toISOString();
    const expiresAt = expiryOf(deps, conversation, at);
    const allocation = await deps.messages
      .allocate(input.conversationId, allocationGuard(deps, conversation), at, expiresAt)
      // Failed (throttled, say): whatever seq it may have taken has no item coming, and readers fill it after the grace.
      .catch((error: unknown) => {
        throw new NothingStoredError(error);
      });
    if (allocation.status === 'stale') {
      deps.metrics.add('seqConflictRetries');
      conversation = await conversationOfMember(deps, caller, input.conversationId, true);
      continue;
    }
    // Stamped after the allocation: a reader judging the age of an earlier, missing seq relies on it.
    const createdAt = deps.now().toISOString();
    const message: Message = {
      ...input,
      seq: allocation.seq,
      senderId: caller.userId,
      createdAt,
      epoch: allocation.epoch,
      kind: 'message',
    };
    const put = await deps.messages.putAt({ ...message, ...(expiresAt === undefined ? {} : { expiresAt }) }).catch(async (error: unknown) => {
      // Unknown whether it landed: settle our own seq now, so the client's retry need not wait out the grace.
      const there = await deps.messages.fillHole({ ...message, kind: 'skipped', senderId: '', clientMessageId: '', body: '' }).catch(() => {
        throw error;
      });
      if (sameSend(there as unknown as Record<string, unknown>, message)) return 'stored' as const;
      throw new NothingStoredError(error);
    });
    if (put === 'taken') {
      deps.logger.warn('seq filled before the message was stored; taking another', { conversationId: input.conversationId, seq: allocation.seq });
      continue;
    }
    deps.metrics.add('messagesStored');
    await publishMessage(deps, conversation, message, caller, true);
    return { ...ack(input, message.seq, createdAt), epoch: allocation.epoch, duplicate: false };
  }
  throw new UnavailableError('the conversation is too busy, retry');
}

/**
 * A duplicate of a stored message returns the first ack. The first attempt pushed it unless it died in between, so
 * the message is queued again only for members whose delivered cursor is behind it, never pushed to everyone.
 */
async function resend(
  deps: Deps,
  caller: Caller,
  conversation: Conversation,
  input: { conversationId: string; clientMessageId: string },
  stored: Message,
): Promise<SendAck> {
  const states = await deps.conversations.listMemberStates(input.conversationId);
  const behind = new Set(states.filter((state) => state.lastDeliveredSeq < stored.seq).map((state) => state.userId));
  const recipients = conversation.members.filter((userId) => userId !== caller.userId && behind.has(userId));
  if (recipients.length > 0) {
    deps.metrics.add('resendsPushed');
    await publishMessage(deps, conversation, stored, caller, false, recipients);
  }
  return { ...ack(input, stored.seq, stored.createdAt), epoch: stored.epoch ?? conversation.epoch ?? '', duplicate: true };
}

/** The recipient's first reply in a direct conversation: the message and the acceptance in one timeline transaction. */
async function sendAccepting(
  deps: Deps,
  caller: Caller,
  input: { conversationId: string; clientMessageId: string; body: string },
  snapshot: Conversation,
  peer: string,
): Promise<SendAck> {
  let conversation = snapshot;
  for (let attempt = 0; attempt < maxAcceptAttempts; attempt++) {
    const createdAt = deps.now().toISOString();
    const epoch = conversation.epoch ?? newEpoch(deps);
    const expiresAt = expiryOf(deps, conversation, createdAt);
    const result = await deps.messages.appendTimeline({
      conversationId: input.conversationId,
      items: [{ ...input, senderId: caller.userId, createdAt, epoch, kind: 'message' }],
      expectedLastSeq: conversation.lastSeq,
      epoch,
      idempotencyKey: JSON.stringify([input.conversationId, caller.userId, input.clientMessageId]),
      idempotencyTtlSeconds: deps.limits.idempotencyTtlSeconds,
      expiresAt,
      writes: [
        { type: 'conversation', conversationId: input.conversationId, accepted: caller.userId },
        { type: 'member', conversationId: input.conversationId, userId: peer, peerAccepted: true },
      ],
    });
    if (result.status === 'stored') {
      deps.metrics.add('messagesStored');
      await publishMessage(deps, conversation, result.message, caller, true);
      return { ...ack(input, result.message.seq, createdAt), epoch: result.message.epoch, duplicate: false };
    }
    if (result.status === 'duplicate') {
      const found = await deps.messages.get(input.conversationId, result.seq);
      if (found) return resend(deps, caller, conversation, input, wireItem(found));
      return { ...ack(input, result.seq, result.createdAt), epoch, duplicate: true };
    }
    deps.metrics.add('seqConflictRetries');
    await deps.sleep(fullJitter(attempt, 1, 32));
    conversation = await conversationOfMember(deps, caller, input.conversationId, true);
    // Accepted meanwhile (by this message's other attempt, or a reply sent elsewhere): a plain send now.
    if (!conversation.pending?.includes(caller.userId)) return sendMessage(deps, caller, input);
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
async function publishMessage(deps: Deps, conversation: Conversation, message: Message, caller: Caller, inline: boolean, recipients = conversation.members) {
  const publishVia = (viaInline: boolean) =>
    publish(deps, { type: 'message', message }, recipients, {
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
  const requested = Math.min(input.beforeSeq ?? Number.MAX_SAFE_INTEGER, visibleUpTo + 1);
  const found = await deps.messages.before(input.conversationId, requested, input.limit);
  const retentionDays = retentionDaysOf(deps, conversation);
  // Only a contiguous run: nothing above a seq still being written (see seq-holes.ts).
  const { items, beforeSeq, limit } = await settleBefore(deps, holeContext(deps, conversation, retentionDays), found, requested, input.limit);
  const visible = visibleBefore(items, beforeSeq, limit, deps.now(), retentionDays);
  const budget = new ReplyBudget();
  const messages: Message[] = [];
  for (const message of visible.messages) {
    const bytes = jsonBytes(message) + 1;
    if (!budget.fits(bytes) && messages.length > 0) break;
    budget.spend(bytes);
    messages.push(message);
  }
  const oldest = messages.at(-1);
  // Everything from the request's top down to a seq still being written: the client gets the rest by push.
  if (messages.length === 0 && beforeSeq < requested && beforeSeq > 1 && visible.expiredBefore === undefined) {
    return { messages, nextBeforeSeq: beforeSeq };
  }
  // The horizon ends paging: there is nothing below it to ask for.
  if (visible.expiredBefore !== undefined && messages.length === visible.messages.length) {
    return { messages, nextBeforeSeq: null, expiredBefore: visible.expiredBefore };
  }
  return { messages, nextBeforeSeq: oldest && oldest.seq > 1 ? oldest.seq : null };
}

/** What a read of a conversation's timeline needs to judge missing seqs (see seq-holes.ts). */
export function holeContext(
  deps: Deps,
  conversation: Pick<Conversation, 'conversationId' | 'epoch' | 'lastMessageAt'>,
  retentionDays: number | null,
): HoleContext {
  const now = deps.now();
  return {
    conversationId: conversation.conversationId,
    epoch: conversation.epoch,
    lastMessageAt: conversation.lastMessageAt,
    retains: retentionDays !== null,
    isExpired: (item) => isExpired(item, now, retentionDays),
  };
}
