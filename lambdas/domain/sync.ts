import { fixedLimits } from '../../protocol/limits.js';
import type { SyncConversation, SyncCursor } from '../../protocol/frames.js';
import type { Deps } from './deps.js';
import { BadRequestError } from './errors.js';
import { jsonBytes, ReplyBudget } from './reply-budget.js';
import type { Caller, Conversation, ConversationHead, MemberState, Message, Receipt, UserPresence } from './types.js';
import { limitUserRead } from './user-limits.js';
import { visibleSyncPresence } from './consent.js';
import { retentionDaysOf, visibleAfter, visibleBefore } from './retention.js';
import { holeContext } from './messages.js';
import { settleAfter, settleBefore } from './seq-holes.js';

/** What a client knows of one conversation (the wire type). */
export type { SyncCursor } from '../../protocol/frames.js';

/** One conversation's part of a sync reply (the wire entry). */
export type SyncedConversation = SyncConversation;

/** Memberships examined per sync page; the client sends at most this many cursors. */
export const syncPageSize = fixedLimits.maxSyncCursors;

/** Concurrent timeline reads while a page is assembled. */
const readAhead = 4;

interface Plan {
  membership: MemberState;
  head: ConversationHead;
  /** Highest seq the caller may read. */
  visibleLast: number;
  /** Seq the client has (0 when unknown or reset). */
  from: number;
  known: boolean;
  reset: boolean;
}

/**
 * One page of catch-up: the caller's memberships from `from` on (through `through`, when the client has more
 * conversations than it could send cursors for), one batched read of their heads, and for each conversation that
 * changed after its cursor the missed timeline, receipts and (when needed) the conversation itself. Unchanged
 * conversations cost their share of one membership query and one BatchGetItem. The reply fits one API Gateway
 * message whatever the data: it stops early and `nextFrom` says where the next page starts.
 */
export async function sync(
  deps: Deps,
  caller: Caller,
  input: { from?: string; through?: string; cursors: Record<string, SyncCursor>; limit: number },
): Promise<{ conversations: SyncedConversation[]; presence: UserPresence[]; nextFrom: string | null }> {
  if (input.from !== undefined && input.through !== undefined && input.through < input.from) {
    throw new BadRequestError('through: must not sort before from');
  }
  await limitUserRead(deps, caller, 'sync');
  const page = await deps.conversations.listMemberships(caller.userId, {
    limit: syncPageSize,
    from: input.from,
    through: input.through,
  });
  const heads = await deps.conversations.heads(page.items.map((item) => item.conversationId));
  const plans = page.items.map((membership) => plan(membership, heads.get(membership.conversationId), input.cursors));
  const changed = plans.filter((p) => !p.known || p.from < p.visibleLast);
  const conversations = await deps.conversations.getMany(changed.map((p) => p.membership.conversationId));
  // Every read path checks the conversation itself, never a member item alone.
  const readable = changed.filter((p) => {
    const conversation = conversations.get(p.membership.conversationId);
    return conversation && (conversation.members.includes(caller.userId) || p.membership.removedAtSeq !== undefined);
  });
  // Consent and blocks (consent.ts): peers who have not accepted, or who blocked the caller, stay hidden.
  const presence = await visibleSyncPresence(
    deps,
    caller.userId,
    page.items,
    await presenceOnPage(
      deps,
      caller,
      page.items,
      readable.map((p) => conversations.get(p.membership.conversationId)!),
    ),
  );
  const budget = new ReplyBudget();
  budget.spend(jsonBytes(presence));
  const entries: SyncedConversation[] = [];
  for (let start = 0; start < readable.length; start += readAhead) {
    const batch = readable.slice(start, start + readAhead);
    const built = await Promise.all(batch.map((p) => assemble(deps, p, conversations.get(p.membership.conversationId)!, input.limit)));
    for (const entry of built) {
      const fitted = fitToBudget(entry, budget, entries.length === 0);
      if (!fitted) return { conversations: entries, presence, nextFrom: entry.conversationId };
      entries.push(fitted);
      if (fitted.hasMore) return { conversations: entries, presence, nextFrom: fitted.conversationId };
    }
  }
  return { conversations: entries, presence, nextFrom: page.next };
}

function plan(membership: MemberState, found: ConversationHead | undefined, cursors: Record<string, SyncCursor>): Plan {
  const head = found ?? { conversationId: membership.conversationId, lastSeq: 0, lastMessageAt: null, epoch: null };
  const visibleLast = Math.min(head.lastSeq, membership.removedAtSeq ?? Number.MAX_SAFE_INTEGER);
  const cursor = cursors[membership.conversationId];
  // A cursor is trusted only in the epoch it was issued in and never beyond what exists.
  const reset = cursor !== undefined && cursor.seq > 0 && (cursor.epoch !== head.epoch || cursor.seq > visibleLast);
  const known = cursor !== undefined && !reset;
  return { membership, head, visibleLast, from: known ? cursor.seq : 0, known, reset };
}

/** A conversation's entry with every message it could carry; `fitToBudget` trims it to the reply. */
async function assemble(deps: Deps, p: Plan, conversation: Conversation, limit: number): Promise<SyncedConversation> {
  const conversationId = p.membership.conversationId;
  const backlog = p.visibleLast - p.from;
  const limited = backlog > limit;
  const [items, receipts] = await Promise.all([
    backlog === 0 ? [] : limited ? deps.messages.before(conversationId, p.visibleLast + 1, limit) : deps.messages.after(conversationId, p.from, backlog),
    receiptsOf(deps, p.membership, conversation),
  ]);
  // Past the retention horizon the entry says where it is instead of leaving a gap the client would try to fill.
  const retentionDays = retentionDaysOf(deps, conversation);
  // Only a contiguous run: a seq still being written ends it (the client gets the rest by push or gap-fill).
  const context = holeContext(deps, { conversationId, epoch: p.head.epoch, lastMessageAt: p.head.lastMessageAt }, retentionDays);
  const visible = async () => {
    if (limited) {
      const settled = await settleBefore(deps, context, items, p.visibleLast + 1, limit);
      return visibleBefore(settled.items, settled.beforeSeq, settled.limit, deps.now(), retentionDays);
    }
    const settled = await settleAfter(deps, context, items, p.from, p.visibleLast);
    return visibleAfter(settled.items, p.from, settled.throughSeq, deps.now(), retentionDays);
  };
  const { messages, expiredBefore } = backlog === 0 ? { messages: [], expiredBefore: undefined } : await visible();
  const membersChanged = p.head.membershipSeq === undefined || p.head.membershipSeq > p.from;
  return {
    conversationId,
    epoch: p.head.epoch,
    lastSeq: p.visibleLast,
    ...(!p.known || limited || membersChanged ? { conversation: { ...conversation, lastSeq: p.visibleLast } } : {}),
    // `before` reads newest first: a limited backlog keeps its newest messages when the reply is full.
    messages,
    hasMore: false,
    limited,
    reset: p.reset,
    ...(expiredBefore === undefined ? {} : { expiredBefore }),
    receipts,
  };
}

/**
 * Trims an entry to the budget: oldest messages first (the rest follows on the next page), or for a limited
 * backlog the newest ones. The first entry of a page always carries at least one message, so paging progresses;
 * that fits, as one message and one conversation are far below the reply limit. Null when it does not fit at all.
 */
function fitToBudget(entry: SyncedConversation, budget: ReplyBudget, first: boolean): SyncedConversation | null {
  const base = jsonBytes({ ...entry, messages: [] });
  if (!budget.fits(base) && !first) return null;
  budget.spend(base);
  const kept: Message[] = [];
  for (const message of entry.messages) {
    const bytes = jsonBytes(message) + 1;
    if (!budget.fits(bytes) && !(first && kept.length === 0)) break;
    budget.spend(bytes);
    kept.push(message);
  }
  if (kept.length === 0 && entry.messages.length > 0 && !first) return null;
  if (entry.limited) return { ...entry, messages: kept.reverse() };
  return { ...entry, messages: kept, hasMore: kept.length < entry.messages.length };
}

async function receiptsOf(deps: Deps, membership: MemberState, conversation: Conversation): Promise<Receipt[]> {
  const own: Receipt = {
    conversationId: membership.conversationId,
    userId: membership.userId,
    lastDeliveredSeq: membership.lastDeliveredSeq,
    lastReadSeq: membership.lastReadSeq,
  };
  // Large groups get no receipt pushes either; a removed member sees nobody's receipts.
  if (conversation.members.length > deps.limits.receiptPushMaxMembers || membership.removedAtSeq !== undefined) return [own];
  const states = await deps.conversations.listMemberStates(membership.conversationId);
  return states
    .filter((state) => state.removedAtSeq === undefined)
    .map(({ conversationId, userId, lastDeliveredSeq, lastReadSeq }) => ({ conversationId, userId, lastDeliveredSeq, lastReadSeq }));
}

/** Users whose presence one sync page reports: one batched read. */
const presencePerPage = 100;

/**
 * Presence of the other member of each direct conversation on the page, then of the members of the page's changed
 * conversations small enough for presence pushes (as for receipts), at most 100 users.
 */
async function presenceOnPage(deps: Deps, caller: Caller, memberships: MemberState[], changed: Conversation[]): Promise<UserPresence[]> {
  const users = new Set(memberships.flatMap((membership) => (membership.peerId ? [membership.peerId] : [])));
  for (const conversation of changed) {
    if (conversation.members.length > deps.limits.receiptPushMaxMembers) continue;
    for (const member of conversation.members) users.add(member);
  }
  users.delete(caller.userId);
  const wanted = [...users].slice(0, presencePerPage);
  return wanted.length > 0 ? deps.presence.presenceOf(wanted, deps.now()) : [];
}
