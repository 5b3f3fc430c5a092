import type { EventAck } from '../../protocol/frames.js';
import type { Deps } from './deps.js';
import { BadRequestError, ForbiddenError, LimitExceededError } from './errors.js';
import type { StoredMessage } from './ports.js';
import { rightsIn } from './principal.js';
import { commitEvent, eventItem } from './timeline.js';
import type { Caller, Conversation, ReactionCount } from './types.js';
import { isExpired, retentionDaysOf } from './retention.js';

/** Edits kept per message: each edit's body is scrubbed in the delete transaction, which holds at most 100 items. */
export const maxEditsPerMessage = 20;
/** Distinct emoji per message, so the aggregate stays a few hundred bytes. */
export const maxReactionKinds = 20;

/** The idempotency key of a lifecycle request: the same namespace as `send` (sender, conversation, clientMessageId). */
const keyOf = (conversationId: string, senderId: string, clientMessageId: string) => JSON.stringify([conversationId, senderId, clientMessageId]);

/** The chat message at `seq`, readable and not deleted, in a conversation the caller belongs to. */
async function target(deps: Deps, conversation: Conversation, caller: Caller, seq: number): Promise<StoredMessage> {
  if (!rightsIn(conversation, caller)) throw new ForbiddenError();
  if (seq > conversation.lastSeq) throw new BadRequestError(`seq: the conversation's last seq is ${conversation.lastSeq}`);
  const message = await deps.messages.get(conversation.conversationId, seq);
  // Missing at or below lastSeq: deleted by TTL (a seq still being stored is known to no client yet).
  if (!message) throw new BadRequestError('seq: the message expired');
  if ((message.kind ?? 'message') !== 'message') throw new BadRequestError('seq: is not a chat message');
  if (message.deleted) throw new BadRequestError('seq: the message was deleted');
  if (isExpired(message, deps.now(), retentionDaysOf(deps, conversation))) throw new BadRequestError('seq: the message expired');
  return message;
}

type LifecycleInput = { conversationId: string; seq: number; clientMessageId: string };

/** Runs a lifecycle event as a timeline commit and maps the outcome to the reply. */
async function run(deps: Deps, caller: Caller, input: LifecycleInput, plan: Parameters<typeof commitEvent>[3]): Promise<EventAck> {
  // A retry after success must not be re-checked against the changed state (a deleted message, say).
  const prior = await deps.messages.idempotent(keyOf(input.conversationId, caller.userId, input.clientMessageId));
  if (prior) return { conversationId: input.conversationId, clientMessageId: input.clientMessageId, ...prior, duplicate: true };
  const committed = await commitEvent(deps, caller, input.conversationId, plan);
  const base = { conversationId: input.conversationId, clientMessageId: input.clientMessageId };
  if (committed.duplicate) return { ...base, ...committed.duplicate, duplicate: true };
  const [item] = committed.items;
  if (!item) return { ...base, seq: null, createdAt: deps.now().toISOString(), duplicate: false, unchanged: true };
  return { ...base, seq: item.seq, createdAt: item.createdAt, duplicate: false };
}

/** Edits the caller's own message: an `edit` event, and the message item shows the new body with `editedAt`. */
export async function editMessage(deps: Deps, caller: Caller, input: LifecycleInput & { body: string }): Promise<EventAck> {
  const idempotencyKey = keyOf(input.conversationId, caller.userId, input.clientMessageId);
  return run(deps, caller, input, async (conversation) => {
    const message = await target(deps, conversation, caller, input.seq);
    if (message.senderId !== caller.userId) throw new ForbiddenError('only the sender can edit a message');
    const editSeqs = message.editSeqs ?? [];
    if (editSeqs.length >= maxEditsPerMessage) throw new LimitExceededError(`a message can be edited at most ${maxEditsPerMessage} times`);
    const item = eventItem(deps, caller, conversation.conversationId, {
      kind: 'edit',
      targetSeq: input.seq,
      body: input.body,
      clientMessageId: input.clientMessageId,
    });
    return {
      items: [item],
      idempotencyKey,
      writesAt: (seq, createdAt) => [
        {
          type: 'message',
          conversationId: conversation.conversationId,
          seq: input.seq,
          set: { body: input.body, editedAt: createdAt, editSeqs: [...editSeqs, seq], stateSeq: seq },
          expectStateSeq: message.stateSeq ?? null,
        },
      ],
    };
  });
}

/**
 * Deletes a message (its sender, or an owner or admin of the group): a `delete` event; the body is removed from the
 * message item and from every edit event of it, and the message stays as a tombstone with `deleted: true`.
 */
export async function deleteMessage(deps: Deps, caller: Caller, input: LifecycleInput): Promise<EventAck> {
  const idempotencyKey = keyOf(input.conversationId, caller.userId, input.clientMessageId);
  return run(deps, caller, input, async (conversation) => {
    const message = await target(deps, conversation, caller, input.seq);
    const role = rightsIn(conversation, caller);
    if (message.senderId !== caller.userId && role !== 'owner' && role !== 'admin') {
      throw new ForbiddenError('only the sender, an owner or an admin can delete a message');
    }
    return {
      items: [eventItem(deps, caller, conversation.conversationId, { kind: 'delete', targetSeq: input.seq, clientMessageId: input.clientMessageId })],
      idempotencyKey,
      writesAt: (seq) => [
        {
          type: 'message',
          conversationId: conversation.conversationId,
          seq: input.seq,
          set: { deleted: true, reactions: [], stateSeq: seq },
          remove: ['body', 'editSeqs'],
          expectStateSeq: message.stateSeq ?? null,
        },
        ...(message.editSeqs ?? []).map((seq) => ({ type: 'message' as const, conversationId: conversation.conversationId, seq, set: { body: '' } })),
      ],
    };
  });
}

/** Adds (`add`) or removes (`remove`) the caller's reaction with one emoji; a repeat changes nothing. */
export async function react(deps: Deps, caller: Caller, input: LifecycleInput & { emoji: string }, op: 'add' | 'remove'): Promise<EventAck> {
  const idempotencyKey = keyOf(input.conversationId, caller.userId, input.clientMessageId);
  const marker = `reaction#${input.conversationId}#${input.seq}#${input.emoji}`;
  return run(deps, caller, input, async (conversation) => {
    const message = await target(deps, conversation, caller, input.seq);
    const reacted = await deps.users.hasItem(caller.userId, marker);
    if (reacted === (op === 'add')) return null;
    const reactions: ReactionCount[] = (message.reactions ?? []).map((reaction) => ({ ...reaction }));
    const existing = reactions.find((reaction) => reaction.emoji === input.emoji);
    if (op === 'add') {
      if (existing) existing.count += 1;
      else if (reactions.length >= maxReactionKinds) throw new LimitExceededError(`a message has at most ${maxReactionKinds} different reactions`);
      else reactions.push({ emoji: input.emoji, count: 1 });
    } else if (existing) {
      existing.count -= 1;
    }
    return {
      items: [
        eventItem(deps, caller, conversation.conversationId, {
          kind: 'reaction',
          targetSeq: input.seq,
          emoji: input.emoji,
          op,
          clientMessageId: input.clientMessageId,
        }),
      ],
      idempotencyKey,
      writesAt: (seq) => [
        {
          type: 'message',
          conversationId: conversation.conversationId,
          seq: input.seq,
          set: { reactions: reactions.filter((reaction) => reaction.count > 0), stateSeq: seq },
          expectStateSeq: message.stateSeq ?? null,
        },
        op === 'add'
          ? { type: 'userItem', userId: caller.userId, item: marker, put: { conversationId: input.conversationId, seq: input.seq, emoji: input.emoji } }
          : { type: 'userItem', userId: caller.userId, item: marker, delete: true },
      ],
    };
  });
}
