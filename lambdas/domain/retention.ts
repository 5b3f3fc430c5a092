import type { Deps } from './deps.js';
import type { TimelineItem } from './ports.js';
import type { Conversation, Message } from './types.js';

/**
 * Retention: how long timeline items stay readable. A group's own `retentionDays` (set by an owner) wins over the
 * deployment's default (`MESSAGE_RETENTION_DAYS`); with neither, items are kept forever.
 *
 * Every item is written with a TTL (`expiresAt`) so DynamoDB deletes it without a scan, and an item never expires
 * before the item written before it (the head remembers `lastExpiresAt`): expired items are always a prefix of the
 * timeline. Reads hide an item once its TTL passed (TTL deletes lazily, up to days later) or once it is older than
 * the retention in force now (so a shortened retention hides old items at once), and both rules hide a prefix too. So
 * the horizon needs no extra read: the first hidden or missing item a read meets means every seq below it is gone.
 */

const secondsPerDay = 86_400;

/** The retention in force for a conversation, in days; null: kept forever. */
export function retentionDaysOf(deps: Pick<Deps, 'limits'>, conversation: Pick<Conversation, 'retentionDays'>): number | null {
  return conversation.retentionDays ?? deps.limits.messageRetentionDays;
}

/** The TTL (epoch seconds) of an item stored now: never before the newest item's, none when kept forever. */
export function expiryOf(
  deps: Deps,
  conversation: Pick<Conversation, 'retentionDays' | 'lastExpiresAt'>,
  createdAt: string,
  retentionDays: number | null = retentionDaysOf(deps, conversation),
): number | undefined {
  if (retentionDays === null) return undefined;
  const own = Math.floor(Date.parse(createdAt) / 1000) + retentionDays * secondsPerDay;
  return Math.max(own, conversation.lastExpiresAt ?? 0);
}

/** Whether reads hide an item: its TTL passed, or it is older than the retention in force. */
export function isExpired(item: TimelineItem, now: Date, retentionDays: number | null): boolean {
  if (item.expiresAt !== undefined && item.expiresAt <= now.getTime() / 1000) return true;
  return retentionDays !== null && Date.parse(item.createdAt) <= now.getTime() - retentionDays * secondsPerDay * 1000;
}

/** An item as it goes on the wire: without its TTL. */
export function wireItem(item: TimelineItem): Message {
  const { expiresAt: _expiresAt, ...message } = item as TimelineItem & { editSeqs?: unknown };
  delete (message as { editSeqs?: unknown }).editSeqs;
  return message;
}

/** Readable items of a page and where the retention horizon is, if the page reached it. */
export interface VisibleItems {
  messages: Message[];
  /** Every seq below this one is gone (expired); absent when the page did not reach the horizon. */
  expiredBefore?: number;
}

/**
 * Items read newest first from just below `beforeSeq` (a read of at most `limit`): the contiguous readable run, and
 * the horizon when the run ends at an expired or missing item, or the read came back short of seq 1.
 */
export function visibleBefore(items: TimelineItem[], beforeSeq: number, limit: number, now: Date, retentionDays: number | null): VisibleItems {
  const messages: Message[] = [];
  let expected = beforeSeq - 1;
  for (const item of items) {
    if (item.seq !== expected || isExpired(item, now, retentionDays)) return { messages, expiredBefore: expected + 1 };
    messages.push(wireItem(item));
    expected--;
  }
  // A short read that did not reach seq 1: the items below were deleted by TTL.
  if (items.length < limit && expected >= 1) return { messages, expiredBefore: expected + 1 };
  return { messages };
}

/**
 * Items read oldest first after `afterSeq`, all of (`afterSeq`, `throughSeq`]: drops the expired or missing prefix
 * and names the horizon when there was one.
 */
export function visibleAfter(items: TimelineItem[], afterSeq: number, throughSeq: number, now: Date, retentionDays: number | null): VisibleItems {
  let horizon = afterSeq + 1;
  for (const item of items) {
    if (item.seq > throughSeq) break;
    if (isExpired(item, now, retentionDays)) horizon = item.seq + 1;
  }
  const readable = items.filter((item) => item.seq >= horizon && item.seq <= throughSeq);
  // Items below the first readable one that are missing were deleted by TTL.
  const first = readable[0]?.seq ?? throughSeq + 1;
  if (first > afterSeq + 1) horizon = first;
  const messages = readable.filter((item) => item.seq >= horizon).map(wireItem);
  return horizon > afterSeq + 1 ? { messages, expiredBefore: horizon } : { messages };
}
