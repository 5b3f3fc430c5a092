import type { Deps } from './deps.js';
import type { TimelineItem } from './ports.js';
import type { FanoutJob } from './types.js';
import { retentionDaysOf } from './retention.js';

/**
 * Retention backfill: a retention change applies to the items stored before it, not only to new ones. Reads follow
 * the retention in force at once (`isExpired`), but the TTLs stored on items are what DynamoDB deletes by: items
 * written while nothing expired have none and would stay forever, items written under a shorter retention would be
 * deleted too early. The backfill walks one conversation oldest first, in bounded pages (one Query, then one
 * UpdateItem per item whose TTL differs), and gives every item the TTL the retention in force asks for, never
 * earlier than the item before it (expired items stay a prefix). Items whose TTL already passed are left alone: TTL
 * may have deleted some of them already, so lengthening does not bring any back. Last, the head's `lastExpiresAt`
 * is set to the newest TTL given, if no item was appended meanwhile (else the walk goes on to the new items).
 *
 * A page is resumable from its state alone (`RetentionBackfill`), and idempotent: run again, it reads and writes
 * nothing new. A group's retention change queues it as a job; `npm run backfill-ttl` runs it for every
 * conversation when the deployment's default changes.
 */

/** Where a backfill of one conversation stands. */
export interface RetentionBackfill {
  conversationId: string;
  /** The retention it applies, in days (null: kept forever); a page finding another one in force stops (superseded). */
  retentionDays: number | null;
  /** Items up to this seq are done. */
  afterSeq: number;
  /** The latest TTL given so far (epoch seconds), the least any later item gets. */
  floor: number;
}

/** What one page did, and the state to continue from when there is more. */
export interface BackfillPage {
  next?: RetentionBackfill;
  read: number;
  updated: number;
  /** The conversation's retention changed since the backfill started (a newer backfill applies it) or it is gone. */
  stopped?: 'superseded' | 'gone';
}

/** Items per page: one Query and at most this many UpdateItems, well inside a fanout invocation. */
export const backfillPageItems = 200;

/** UpdateItems of a page in flight at once. */
const parallelUpdates = 16;

const secondsPerDay = 86_400;

/** The first page of a backfill applying `retentionDays` to a conversation. */
export const startBackfill = (conversationId: string, retentionDays: number | null): RetentionBackfill => ({
  conversationId,
  retentionDays,
  afterSeq: 0,
  floor: 0,
});

/** The retention in force for a conversation now (null: kept forever) and its last seq, read consistently. */
async function headOf(deps: Pick<Deps, 'conversations' | 'limits'>, conversationId: string) {
  const conversation = await deps.conversations.get(conversationId, true);
  return conversation && { retentionDays: retentionDaysOf(deps, conversation), lastSeq: conversation.lastSeq };
}

/** The TTL an item gets under the retention (undefined: none), given the floor left by the items before it. */
function targetExpiry(item: TimelineItem, retentionDays: number | null, floor: number, nowSeconds: number): number | undefined {
  // Passed: TTL deletes it (or did), whatever the retention says now.
  if (item.expiresAt !== undefined && item.expiresAt <= nowSeconds) return item.expiresAt;
  if (retentionDays === null) return undefined;
  return Math.max(Math.floor(Date.parse(item.createdAt) / 1000) + retentionDays * secondsPerDay, floor);
}

/** Runs one page of a backfill. */
export async function backfillPage(
  deps: Pick<Deps, 'conversations' | 'messages' | 'limits' | 'now'>,
  state: RetentionBackfill,
  pageItems = backfillPageItems,
): Promise<BackfillPage> {
  const head = await headOf(deps, state.conversationId);
  if (!head) return { read: 0, updated: 0, stopped: 'gone' };
  if (head.retentionDays !== state.retentionDays) return { read: 0, updated: 0, stopped: 'superseded' };
  const items = await deps.messages.after(state.conversationId, state.afterSeq, pageItems);
  const nowSeconds = deps.now().getTime() / 1000;
  let floor = state.floor;
  const changes: { seq: number; expiresAt: number | undefined }[] = [];
  for (const item of items) {
    const expiresAt = targetExpiry(item, state.retentionDays, floor, nowSeconds);
    if (expiresAt !== undefined) floor = Math.max(floor, expiresAt);
    if (expiresAt !== item.expiresAt) changes.push({ seq: item.seq, expiresAt });
  }
  let updated = 0;
  for (let start = 0; start < changes.length; start += parallelUpdates) {
    const done = await Promise.all(
      changes.slice(start, start + parallelUpdates).map((change) => deps.messages.setExpiry(state.conversationId, change.seq, change.expiresAt)),
    );
    updated += done.filter(Boolean).length;
  }
  const next = { ...state, afterSeq: items.at(-1)?.seq ?? state.afterSeq, floor };
  if (items.length === pageItems) return { next, read: items.length, updated };
  // A conversation without items has nothing to settle.
  const lastSeq = Math.max(head.lastSeq, next.afterSeq);
  if (lastSeq === 0) return { read: items.length, updated };
  // The end of the timeline (its last items may be deleted already): new items must not expire before the last one
  // set, nor keep an older, longer floor. An item appended since the page began fails the condition: read on.
  const settled = await deps.messages.settleExpiry(state.conversationId, lastSeq, state.retentionDays === null ? undefined : floor);
  return settled ? { read: items.length, updated } : { next, read: items.length, updated };
}

/** Runs a whole backfill of one conversation, page by page, with the retention in force now; returns its totals. */
export async function backfillConversation(
  deps: Pick<Deps, 'conversations' | 'messages' | 'limits' | 'now'>,
  conversationId: string,
  pageItems = backfillPageItems,
): Promise<{ read: number; updated: number; stopped?: BackfillPage['stopped'] }> {
  const head = await headOf(deps, conversationId);
  if (!head) return { read: 0, updated: 0, stopped: 'gone' };
  let state: RetentionBackfill | undefined = startBackfill(conversationId, head.retentionDays);
  const totals = { read: 0, updated: 0 };
  while (state) {
    const page = await backfillPage(deps, state, pageItems);
    totals.read += page.read;
    totals.updated += page.updated;
    if (page.stopped) return { ...totals, stopped: page.stopped };
    state = page.next;
  }
  return totals;
}

/** A backfill page as a queued job. */
export const backfillJob = (state: RetentionBackfill): FanoutJob => ({ kind: 'retention', ...state });

/** Runs a queued backfill page and queues the next one; a superseded backfill ends (the newer one covers it). */
export async function runBackfillJob(deps: Deps, job: Extract<FanoutJob, { kind: 'retention' }>): Promise<void> {
  const { kind: _kind, ...state } = job;
  const page = await backfillPage(deps, state);
  if (page.stopped) deps.logger.info('retention backfill stopped', { conversationId: job.conversationId, reason: page.stopped });
  if (page.next) await deps.queue.enqueue([backfillJob(page.next)]);
}
