import { mapLimit } from './concurrency.js';
import type { Deps } from './deps.js';
import type { Conversation, MemberState } from './types.js';

/** Timeline items examined per conversation when counting unread messages. */
export const unreadScanCap = 100;

/**
 * Unread counts for a page of the caller's conversations: chat messages after the caller's read cursor that others
 * sent (not the caller's own, not events, not deleted ones). Conversations with nothing after the cursor cost
 * nothing; the others one Query each over at most the newest `unreadScanCap` items, filtered server-side (read
 * capacity of the items scanned, about 13 RCU per 100 small messages). A backlog beyond the cap counts the cap's
 * worth of items, so `unread` is at most 100.
 */
export async function unreadCounts(
  deps: Deps,
  userId: string,
  memberships: MemberState[],
  conversations: Map<string, Conversation>,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  await mapLimit(memberships, 8, async (membership) => {
    const conversation = conversations.get(membership.conversationId);
    if (!conversation || conversation.lastSeq <= membership.lastReadSeq) return;
    counts.set(
      membership.conversationId,
      await deps.messages.countUnread(membership.conversationId, membership.lastReadSeq, conversation.lastSeq, userId, unreadScanCap),
    );
  });
  return counts;
}
