import { mapLimit } from './concurrency.js';
import type { Deps } from './deps.js';
import type { Caller, Conversation, Message, Receipt, UserPresence } from './types.js';

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

