import type { Deps } from './deps.js';
import { ForbiddenError, NotFoundError, UnavailableError } from './errors.js';
import { publish } from './fanout.js';
import type { AppendResult, NewTimelineItem, StateWrite } from './ports.js';
import { skippedItem } from './seq-holes.js';
import type { Caller, Conversation, MemberState, Message, Role } from './types.js';
import { allocationGuard, newEpoch } from './messages.js';
import { isSystem } from './principal.js';
import { expiryOf, retentionDaysOf } from './retention.js';

/** A group member's role; groups created before roles existed: the creator owns it. */
export function roleOf(conversation: Conversation, userId: string): Role | undefined {
  if (conversation.kind !== 'group' || !conversation.members.includes(userId)) return undefined;
  return conversation.roles?.[userId] ?? (userId === conversation.createdBy ? 'owner' : 'member');
}

/** Every member's role (the map stored on the conversation item). */
export function rolesOf(conversation: Conversation): Record<string, Role> {
  return Object.fromEntries(conversation.members.map((userId) => [userId, roleOf(conversation, userId)!]));
}

/** The highest seq a member may read: everything while a member, up to their removal event once removed. */
export function visibleUpTo(conversation: Conversation, member: MemberState | undefined): number {
  if (member?.removedAtSeq !== undefined && !conversation.members.includes(member.userId)) {
    return Math.min(conversation.lastSeq, member.removedAtSeq);
  }
  return conversation.lastSeq;
}

/**
 * A conversation the caller may read: a current member reads everything, a removed member (or one who left) up to
 * the event that removed them. Membership is always checked on the conversation item, never on a member item alone.
 */
export async function readableConversation(deps: Deps, caller: Caller, conversationId: string): Promise<{ conversation: Conversation; visibleUpTo: number }> {
  const conversation = await deps.conversations.get(conversationId);
  if (!conversation) throw new NotFoundError();
  // The server principal reads every timeline in full.
  if (isSystem(caller) || conversation.members.includes(caller.userId)) return { conversation, visibleUpTo: conversation.lastSeq };
  const member = await deps.conversations.getMember(conversationId, caller.userId);
  if (member?.removedAtSeq === undefined) throw new ForbiddenError();
  return { conversation, visibleUpTo: visibleUpTo(conversation, member) };
}

/** What an event commit stores: the items, the state they record, and who hears of them besides the members. */
export interface EventPlan {
  items: NewTimelineItem[];
  writes?: StateWrite[];
  membershipChange?: boolean;
  idempotencyKey?: string;
  /** Pushed the items too (removed members get their removal event). */
  alsoNotify?: string[];
  /** A new group retention (days, or null for the deployment's default), kept on the head. */
  retentionDays?: number | null;
  /**
   * Instead of `writes`, for an event on one message (edit, delete, reaction): the writes once its one item has a seq
   * and `createdAt`. Its seq comes from the head's counter like a send's, so it never races the conversation's
   * senders; the message write's `expectStateSeq` keeps two events on one message from both applying.
   */
  writesAt?: (seq: number, createdAt: string) => StateWrite[];
}

/** The result of a committed event: the conversation after it and the stored items. */
export interface Committed {
  conversation: Conversation;
  items: Message[];
  duplicate?: { seq: number; createdAt: string };
}

/** How often an event re-reads and retries after another timeline item took its seq. */
const maxEventAttempts = 12;

/**
 * Appends timeline events with the same gap-free seq machinery as `send`: read a consistent snapshot, let `plan`
 * check permissions and decide what to store (null: nothing to change), append conditioned on the snapshot's
 * lastSeq, and on a conflict re-read and re-plan. The stored items are pushed to the members (old and new).
 * `after` derives the conversation as it is after the change.
 */
export async function commitEvent(
  deps: Deps,
  caller: Caller,
  conversationId: string,
  plan: (conversation: Conversation) => Promise<EventPlan | null> | EventPlan | null,
  after: (conversation: Conversation, items: Message[]) => Conversation = (conversation) => conversation,
): Promise<Committed> {
  for (let attempt = 0; attempt < maxEventAttempts; attempt++) {
    const conversation = await deps.conversations.get(conversationId, true);
    if (!conversation) throw new NotFoundError();
    const decided = await plan(conversation);
    if (!decided) return { conversation, items: [] };
    if (decided.writesAt) {
      const committed = await commitAllocated(deps, caller, conversation, decided, decided.writesAt);
      if (committed) return committed;
      deps.metrics.add('seqConflictRetries');
      continue;
    }
    // Items of a retention change already expire under the new retention.
    const retentionDays =
      decided.retentionDays === undefined ? retentionDaysOf(deps, conversation) : (decided.retentionDays ?? deps.limits.messageRetentionDays);
    const result: AppendResult = await deps.messages.appendTimeline({
      conversationId,
      items: decided.items,
      expectedLastSeq: conversation.lastSeq,
      epoch: conversation.epoch ?? newEpoch(deps),
      idempotencyKey: decided.idempotencyKey,
      idempotencyTtlSeconds: deps.limits.idempotencyTtlSeconds,
      membershipChange: decided.membershipChange,
      writes: decided.writes,
      expiresAt: expiryOf(deps, conversation, decided.items[0]!.createdAt, retentionDays),
      ...(decided.retentionDays === undefined ? {} : { retentionDays: decided.retentionDays }),
    });
    if (result.status === 'duplicate') return { conversation, items: [], duplicate: { seq: result.seq, createdAt: result.createdAt } };
    if (result.status === 'stored') {
      const items = result.items ?? [result.message];
      const last = items.at(-1)!;
      const updated = after(
        { ...conversation, lastSeq: last.seq, lastMessageAt: last.createdAt, ...(decided.membershipChange ? { membershipSeq: last.seq } : {}) },
        items,
      );
      const recipients = [...new Set([...conversation.members, ...updated.members, ...(decided.alsoNotify ?? [])])];
      await publishItems(deps, updated, items, recipients, caller);
      return { conversation: updated, items };
    }
    deps.metrics.add('seqConflictRetries');
    // Full jitter, so concurrent writers stop colliding in lockstep.
    await deps.sleep(Math.random() * Math.min(40, 2 ** Math.min(attempt, 5)));
  }
  throw new UnavailableError('the conversation is too busy, retry');
}

/**
 * One attempt of an event on a message: allocate its seq, then store the item with its writes in one transaction.
 * Undefined when the head or the message moved since the snapshot (re-read and re-plan); a seq this attempt took
 * and could not use is filled at once, so readers do not wait out the grace for it.
 */
async function commitAllocated(
  deps: Deps,
  caller: Caller,
  conversation: Conversation,
  decided: EventPlan,
  writesAt: (seq: number, createdAt: string) => StateWrite[],
): Promise<Committed | undefined> {
  const { conversationId } = conversation;
  const at = deps.now().toISOString();
  const expiresAt = expiryOf(deps, conversation, at);
  const allocation = await deps.messages.allocate(conversationId, allocationGuard(deps, conversation), at, expiresAt);
  if (allocation.status === 'stale') return undefined;
  // The seq taken and not used gets its placeholder; failing that, readers fill it after the grace.
  const fillUnused = () =>
    deps.messages.fillHole(skippedItem(deps, { conversationId, epoch: allocation.epoch }, allocation.seq, expiresAt)).catch(() => undefined);
  // Stamped after the allocation, as a send's: a reader judging the age of an earlier, missing seq relies on it.
  const item = { ...decided.items[0]!, createdAt: deps.now().toISOString() };
  const result = await deps.messages
    .appendTimeline({
      conversationId,
      items: [item],
      expectedLastSeq: allocation.seq - 1,
      epoch: allocation.epoch,
      idempotencyKey: decided.idempotencyKey,
      idempotencyTtlSeconds: deps.limits.idempotencyTtlSeconds,
      writes: writesAt(allocation.seq, item.createdAt),
      expiresAt,
      allocated: true,
    })
    .catch(async (error: unknown) => {
      await fillUnused();
      throw error;
    });
  if (result.status !== 'stored') {
    await fillUnused();
    return result.status === 'duplicate' ? { conversation, items: [], duplicate: { seq: result.seq, createdAt: result.createdAt } } : undefined;
  }
  const items = result.items ?? [result.message];
  const updated = { ...conversation, lastSeq: Math.max(conversation.lastSeq, allocation.seq), lastMessageAt: item.createdAt };
  await publishItems(deps, updated, items, [...new Set([...conversation.members, ...(decided.alsoNotify ?? [])])], caller);
  return { conversation: updated, items };
}

/**
 * Pushes stored timeline items; like a message, an event is durable whatever happens here, so a failed push
 * falls back to the queue and a failed enqueue is logged (members catch up by sync).
 */
export async function publishItems(deps: Deps, conversation: Conversation, items: Message[], recipients: string[], caller: Caller) {
  for (const message of items) {
    const scope = { conversationId: conversation.conversationId, membershipSeq: conversation.membershipSeq ?? 0, seq: message.seq };
    const via = (inline: boolean) => publish(deps, { type: 'message', message }, recipients, { excludeConnectionId: caller.connectionId, inline, scope });
    try {
      await via(true);
    } catch (error) {
      deps.logger.warn('push failed, queueing the fanout', { conversationId: message.conversationId, seq: message.seq, error: error as Error });
      try {
        await via(false);
      } catch (queueError) {
        deps.logger.error('fanout could not be queued; members will catch up by sync', {
          conversationId: message.conversationId,
          seq: message.seq,
          error: queueError as Error,
        });
      }
    }
  }
}

/** A new timeline event by `caller` (events other than chat messages carry empty body and clientMessageId). */
export const eventItem = (
  deps: Deps,
  caller: Caller,
  conversationId: string,
  fields: Omit<NewTimelineItem, 'conversationId' | 'senderId' | 'createdAt' | 'body' | 'clientMessageId'> & { body?: string; clientMessageId?: string },
): NewTimelineItem => ({
  conversationId,
  senderId: caller.userId,
  clientMessageId: '',
  body: '',
  createdAt: deps.now().toISOString(),
  ...fields,
});
