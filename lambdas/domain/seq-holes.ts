import { seqHoleGraceSeconds } from '../../lib/definitions.js';
import type { Deps } from './deps.js';
import type { TimelineItem } from './ports.js';

/**
 * A send takes its seq from the head's counter and then stores its item, so for a few milliseconds (or for good,
 * when its function died in between) a seq at or below lastSeq has no item. Readers return only a contiguous run:
 * they stop before a young hole (its item is on its way and comes by push or the next read) and fill a hole older
 * than the grace with a `skipped` placeholder, which a late writer's conditional put then loses to.
 */
export const holeGraceMs = seqHoleGraceSeconds * 1000;

/** At most this many holes are filled by one read; the rest wait for the next one. */
const maxFillsPerRead = 10;

/** What a read needs to judge its holes. */
export interface HoleContext {
  conversationId: string;
  epoch: string | null;
  /** The head's lastMessageAt: when its latest seq was allocated. */
  lastMessageAt: string | null;
  /** Whether a retention applies: then a hole below the oldest readable item may be an item TTL removed. */
  retains: boolean;
  isExpired: (item: TimelineItem) => boolean;
}

/** The placeholder of a seq whose writer died: no sender, no body; clients skip it but count its seq as seen. */
export const skippedItem = (deps: Deps, context: Pick<HoleContext, 'conversationId' | 'epoch'>, seq: number, expiresAt?: number): TimelineItem => ({
  conversationId: context.conversationId,
  seq,
  senderId: '',
  clientMessageId: '',
  body: '',
  createdAt: deps.now().toISOString(),
  kind: 'skipped',
  ...(context.epoch === null ? {} : { epoch: context.epoch }),
  ...(expiresAt === undefined ? {} : { expiresAt }),
});

/** Whether a hole is old: an allocation after it (the next item, or the head's latest) is older than the grace. */
function isOld(deps: Deps, laterAt: string | null | undefined): boolean {
  return laterAt !== null && laterAt !== undefined && deps.now().getTime() - Date.parse(laterAt) > holeGraceMs;
}

/**
 * Items read oldest first from just after `afterSeq`, for (`afterSeq`, `throughSeq`]: the contiguous run, with dead
 * seqs filled, up to the first young hole. `throughSeq` is where the run ends (below `throughSeq` at a young hole).
 * A missing run below the oldest readable item of a retained conversation is left to the retention horizon.
 */
export async function settleAfter(
  deps: Deps,
  context: HoleContext,
  items: TimelineItem[],
  afterSeq: number,
  throughSeq: number,
): Promise<{ items: TimelineItem[]; throughSeq: number }> {
  const settled: TimelineItem[] = [];
  let expected = afterSeq + 1;
  let fills = 0;
  const inRange = items.filter((item) => item.seq > afterSeq && item.seq <= throughSeq);
  for (let i = 0; i <= inRange.length && expected <= throughSeq; i++) {
    const next = inRange[i];
    const holeEnd = next ? next.seq - 1 : throughSeq;
    const previous = settled.at(-1);
    // Below everything readable in a retained conversation: the items expired (visibleAfter names the horizon).
    const expiredZone = context.retains && (previous === undefined || context.isExpired(previous));
    if (expected <= holeEnd && !expiredZone) {
      if (!isOld(deps, next ? next.createdAt : context.lastMessageAt) || fills + holeEnd - expected + 1 > maxFillsPerRead) {
        return { items: settled, throughSeq: expected - 1 };
      }
      for (; expected <= holeEnd; expected++, fills++) {
        settled.push(await deps.messages.fillHole(skippedItem(deps, context, expected, next?.expiresAt)));
        deps.metrics.add('seqHolesFilled');
      }
    }
    if (!next) break;
    settled.push(next);
    expected = next.seq + 1;
  }
  return { items: settled, throughSeq };
}

/**
 * Items read newest first from just below `beforeSeq` (at most `limit`): dead seqs filled, and when a young hole is
 * in the page, only the items below it with `beforeSeq` lowered to it, so the page never shows a seq above a
 * missing one. `limit` is adjusted so that a full page still reads as full.
 */
export async function settleBefore(
  deps: Deps,
  context: HoleContext,
  items: TimelineItem[],
  beforeSeq: number,
  limit: number,
): Promise<{ items: TimelineItem[]; beforeSeq: number; limit: number }> {
  // Seqs from beforeSeq - 1 down, pairing each item with the one above it (the later allocation).
  let young: number | undefined;
  const fills: { seq: number; above: TimelineItem | undefined }[] = [];
  let expected = beforeSeq - 1;
  let above: TimelineItem | undefined;
  for (const item of items) {
    const below = item;
    if (expected > below.seq) {
      // A missing run between `below` and `above`: old unless `above`'s allocation (or the head's) is recent.
      const expiredZone = context.retains && context.isExpired(below);
      if (!expiredZone) {
        if (!isOld(deps, above ? above.createdAt : context.lastMessageAt)) young = below.seq + 1;
        else for (let seq = expected; seq > below.seq; seq--) fills.push({ seq, above });
      }
    }
    above = item;
    expected = item.seq - 1;
  }
  const cut = young ?? beforeSeq;
  const wanted = fills.filter((fill) => fill.seq < cut);
  const filled = new Map<number, TimelineItem>();
  for (const fill of wanted) {
    filled.set(fill.seq, await deps.messages.fillHole(skippedItem(deps, context, fill.seq, fill.above?.expiresAt)));
    deps.metrics.add('seqHolesFilled');
  }
  const kept = [...items.filter((item) => item.seq < cut), ...filled.values()].sort((a, b) => b.seq - a.seq);
  const full = items.length >= limit;
  return { items: kept, beforeSeq: cut, limit: full ? kept.length : kept.length + 1 };
}

/** Whether a stored item is this send's own: a chat message with the same sender and clientMessageId. */
export const sameSend = (there: Record<string, unknown>, item: Pick<TimelineItem, 'senderId' | 'clientMessageId'>) =>
  (there.kind ?? 'message') === 'message' && there.senderId === item.senderId && there.clientMessageId === item.clientMessageId && item.clientMessageId !== '';
