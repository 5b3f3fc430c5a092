import type { SendAck } from '../../client/protocol.js';
import { conversationOfMember } from './conversations.js';
import { mapLimit } from './concurrency.js';
import type { Deps } from './deps.js';
import { RateLimitedError, UnavailableError } from './errors.js';
import { publish } from './fanout.js';
import type { Caller, Conversation, Message, Receipt, UserPresence } from './types.js';
import { logger } from '../shared/logger.js';

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
  const waitMs = deps.rateLimiter.take(`send:${caller.connectionId}`, deps.limits.sendRatePerSecond, deps.limits.sendBurst);
  if (waitMs > 0) throw new RateLimitedError(waitMs);
  const conversation = await conversationOfMember(deps, caller, input.conversationId, true);
  let expectedLastSeq = conversation.lastSeq;
  const deadline = deps.now().getTime() + appendBudgetMs;
  for (let attempt = 0; attempt < maxAppendAttempts && deps.now().getTime() < deadline; attempt++) {
    const createdAt = deps.now().toISOString();
    const result = await deps.messages.append(
      { ...input, senderId: caller.userId, createdAt },
      expectedLastSeq,
      deps.limits.idempotencyTtlSeconds,
    );
    switch (result.status) {
      case 'stored':
        await publishMessage(deps, conversation, result.message, caller, true);
        return { ...ack(input, result.message.seq, createdAt), duplicate: false };
      case 'duplicate': {
        // The first attempt may have died between storing and pushing: push again through the queue;
        // clients drop the duplicate by (conversationId, seq).
        const [stored] = await deps.messages.after(input.conversationId, result.seq - 1, 1);
        if (stored) await publishMessage(deps, conversation, stored, caller, false);
        return { ...ack(input, result.seq, result.createdAt), duplicate: true };
      }
      case 'conflict':
        expectedLastSeq = result.lastSeq;
        // Small full jitter: senders stop colliding in lockstep, yet a long-waiting sender is not pushed behind
        // newcomers the way a growing backoff would push it.
        await deps.sleep(Math.random() * Math.min(40, 2 ** Math.min(attempt, 5)));
    }
  }
  throw new UnavailableError('the conversation is too busy, retry');
}

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
    publish(deps, { type: 'message', message }, conversation.members, { excludeConnectionId: caller.connectionId, inline: viaInline });
  try {
    await publishVia(inline);
  } catch (error) {
    logger.warn('push failed, queueing the fanout', { conversationId: message.conversationId, seq: message.seq, error: error as Error });
    try {
      await publishVia(false);
    } catch (queueError) {
      logger.error('fanout could not be queued; members will catch up by sync', {
        conversationId: message.conversationId,
        seq: message.seq,
        error: queueError as Error,
      });
    }
  }
}

/** A page of history, newest first. */
export async function history(
  deps: Deps,
  caller: Caller,
  input: { conversationId: string; beforeSeq?: number; limit: number },
): Promise<{ messages: Message[]; nextBeforeSeq: number | null }> {
  await conversationOfMember(deps, caller, input.conversationId);
  const messages = await deps.messages.before(input.conversationId, input.beforeSeq, input.limit);
  const oldest = messages.at(-1);
  return { messages, nextBeforeSeq: oldest && oldest.seq > 1 ? oldest.seq : null };
}

/** One conversation's part of a sync reply. */
export interface SyncedConversation {
  conversation: Conversation;
  messages: Message[];
  hasMore: boolean;
  receipts: Receipt[];
}

/** Conversations examined per sync page. */
const syncPageSize = 100;

/**
 * Catch-up after a reconnect: for each of the caller's conversations with messages past the client's cursor
 * (or unknown to the client), the next messages in seq order, everyone's receipt cursors, and the presence of
 * everyone the caller shares a conversation with on this page.
 */
export async function sync(
  deps: Deps,
  caller: Caller,
  input: { cursors: Record<string, number>; limit: number; page?: string },
): Promise<{ conversations: SyncedConversation[]; presence: UserPresence[]; nextPage: string | null }> {
  const memberships = await deps.conversations.listMemberships(caller.userId, syncPageSize, input.page);
  const conversations = await deps.conversations.getMany(memberships.items.map((item) => item.conversationId));
  const behind = [...conversations.values()].filter((conversation) => {
    const cursor = input.cursors[conversation.conversationId];
    return cursor === undefined || conversation.lastSeq > cursor;
  });
  const synced = await mapLimit(behind, 8, async (conversation): Promise<SyncedConversation> => {
    const cursor = input.cursors[conversation.conversationId] ?? 0;
    const [messages, states] = await Promise.all([
      deps.messages.after(conversation.conversationId, cursor, input.limit + 1),
      deps.conversations.listMemberStates(conversation.conversationId),
    ]);
    return {
      conversation,
      messages: messages.slice(0, input.limit),
      hasMore: messages.length > input.limit,
      receipts: states.map(({ conversationId, userId, lastDeliveredSeq, lastReadSeq }) => ({
        conversationId,
        userId,
        lastDeliveredSeq,
        lastReadSeq,
      })),
    };
  });
  const contacts = new Set([...conversations.values()].flatMap((conversation) => conversation.members));
  contacts.delete(caller.userId);
  const presence = contacts.size > 0 ? await deps.presence.presenceOf([...contacts], deps.now()) : [];
  return { conversations: synced, presence, nextPage: memberships.nextCursor };
}

