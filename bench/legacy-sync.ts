import { mapLimit } from '../lambdas/domain/concurrency.js';
import type { Deps } from '../lambdas/domain/deps.js';
import type { Caller, Conversation, Message, Receipt, UserPresence } from '../lambdas/domain/types.js';

/**
 * The catch-up of commit ae33cd7 (before the paged redesign), reimplemented for the sync benchmark only, over the same
 * adapters: one request carries every cursor as a number; each page lists 100 memberships, reads every one of their
 * conversations (item + head, `getMany`), and for every conversation behind its cursor reads all member states and
 * the messages after the cursor; then the presence of every contact of the page's conversations.
 */
export interface LegacySyncedConversation {
  conversation: Conversation;
  messages: Message[];
  hasMore: boolean;
  receipts: Receipt[];
}

export async function legacySync(
  deps: Deps,
  caller: Caller,
  input: { cursors: Record<string, number>; limit: number; page?: string },
): Promise<{ conversations: LegacySyncedConversation[]; presence: UserPresence[]; nextPage: string | null }> {
  // The old port took (userId, limit, cursor); the current one takes the same page as { limit, from }.
  const memberships = await deps.conversations.listMemberships(caller.userId, { limit: 100, from: input.page });
  const conversations = await deps.conversations.getMany(memberships.items.map((item) => item.conversationId));
  const behind = [...conversations.values()].filter((conversation) => {
    const cursor = input.cursors[conversation.conversationId];
    return cursor === undefined || conversation.lastSeq > cursor;
  });
  const synced = await mapLimit(behind, 8, async (conversation): Promise<LegacySyncedConversation> => {
    const cursor = input.cursors[conversation.conversationId] ?? 0;
    const [messages, states] = await Promise.all([
      deps.messages.after(conversation.conversationId, cursor, input.limit + 1),
      deps.conversations.listMemberStates(conversation.conversationId),
    ]);
    return {
      conversation,
      messages: messages.slice(0, input.limit),
      hasMore: messages.length > input.limit,
      receipts: states.map(({ conversationId, userId, lastDeliveredSeq, lastReadSeq }) => ({ conversationId, userId, lastDeliveredSeq, lastReadSeq })),
    };
  });
  const contacts = new Set([...conversations.values()].flatMap((conversation) => conversation.members));
  contacts.delete(caller.userId);
  const presence = contacts.size > 0 ? await deps.presence.presenceOf([...contacts], deps.now()) : [];
  return { conversations: synced, presence, nextPage: memberships.next };
}
