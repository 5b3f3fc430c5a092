import { createHash } from 'node:crypto';
import type { Deps } from './deps.js';
import { BadRequestError, ForbiddenError, LimitExceededError, NotFoundError, UnavailableError } from './errors.js';
import { publish } from './fanout.js';
import { jsonBytes, ReplyBudget } from './reply-budget.js';
import { limitUserRead } from './user-limits.js';
import type { Caller, Conversation } from './types.js';
import { fullJitter } from '../shared/jitter.js';

/** The id of the direct conversation between two users: the same pair always maps to the same id. */
export function directConversationId(a: string, b: string): string {
  const digest = createHash('sha256').update(JSON.stringify([a, b].sort())).digest('hex');
  return `dm_${digest.slice(0, 40)}`;
}

/** Creates (or returns the existing) direct conversation between the caller and `userId`. */
export async function createDirectConversation(deps: Deps, caller: Caller, userId: string): Promise<Conversation> {
  if (userId === caller.userId) throw new BadRequestError('userId: a direct conversation needs another user');
  const conversation: Conversation = {
    conversationId: directConversationId(caller.userId, userId),
    kind: 'direct',
    title: null,
    members: [caller.userId, userId].sort(),
    createdBy: caller.userId,
    createdAt: deps.now().toISOString(),
    lastSeq: 0,
    lastMessageAt: null,
    epoch: null,
  };
  const result = await deps.conversations.createDirect(conversation);
  if (result.created) {
    await publish(deps, { type: 'conversation', conversation: result.conversation }, result.conversation.members, {
      excludeConnectionId: caller.connectionId,
    });
  }
  return result.conversation;
}

/** The id of the group a caller creates with `clientRequestId`: a retried create maps to the same group. */
export function requestedGroupId(callerId: string, clientRequestId: string): string {
  const digest = createHash('sha256').update(JSON.stringify([callerId, clientRequestId])).digest('hex');
  return `grp_${digest.slice(0, 40)}`;
}

/** Creates a group; the caller is always a member. Idempotent per `clientRequestId` when one is given. */
export async function createGroupConversation(
  deps: Deps,
  caller: Caller,
  input: { title: string; members: string[]; clientRequestId?: string },
): Promise<Conversation> {
  const members = [...new Set([caller.userId, ...input.members])].sort();
  if (members.length > deps.limits.maxGroupMembers) {
    throw new LimitExceededError(`a group has at most ${deps.limits.maxGroupMembers} members`);
  }
  const conversation: Conversation = {
    conversationId: input.clientRequestId ? requestedGroupId(caller.userId, input.clientRequestId) : `grp_${deps.newId()}`,
    kind: 'group',
    title: input.title,
    members,
    createdBy: caller.userId,
    createdAt: deps.now().toISOString(),
    lastSeq: 0,
    lastMessageAt: null,
    epoch: null,
  };
  const result = await deps.conversations.createGroup(conversation);
  if (result.created) {
    await publish(deps, { type: 'conversation', conversation }, members, { excludeConnectionId: caller.connectionId });
  }
  return result.conversation;
}

/** Reads a conversation the caller belongs to; `not_found` and `forbidden` otherwise. */
export async function conversationOfMember(
  deps: Deps,
  caller: Caller,
  conversationId: string,
  consistent = false,
): Promise<Conversation> {
  const conversation = await deps.conversations.get(conversationId, consistent);
  if (!conversation) throw new NotFoundError();
  if (!conversation.members.includes(caller.userId)) throw new ForbiddenError();
  return conversation;
}

/** Adds members to a group the caller belongs to; users who already belong are skipped. */
export async function addMembers(
  deps: Deps,
  caller: Caller,
  input: { conversationId: string; members: string[] },
): Promise<Conversation> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const conversation = await conversationOfMember(deps, caller, input.conversationId, true);
    if (conversation.kind !== 'group') throw new BadRequestError('conversationId: members can only be added to a group');
    const added = [...new Set(input.members)].filter((userId) => !conversation.members.includes(userId));
    if (added.length === 0) return conversation;
    if (conversation.members.length + added.length > deps.limits.maxGroupMembers) {
      throw new LimitExceededError(`a group has at most ${deps.limits.maxGroupMembers} members`);
    }
    const now = deps.now().toISOString();
    const stored = await deps.conversations.addMembers(
      conversation.conversationId,
      caller.userId,
      added,
      conversation.members.length,
      now,
    );
    if (!stored) {
      // Full jitter, so concurrent adders stop colliding in lockstep.
      await deps.sleep(fullJitter(attempt, 20));
      continue;
    }
    const updated = { ...conversation, members: [...conversation.members, ...added].sort() };
    await publish(deps, { type: 'conversation', conversation: updated }, updated.members, {
      excludeConnectionId: caller.connectionId,
    });
    return updated;
  }
  throw new UnavailableError('the member list kept changing, retry');
}

/** A conversation in the caller's list, with the caller's receipt cursors and unread count. */
export interface ConversationSummary extends Conversation {
  lastDeliveredSeq: number;
  lastReadSeq: number;
  unread: number;
}

const listCursorPrefix = 'c1.';
const conversationIdPattern = /^(dm|grp)_[A-Za-z0-9-]{1,64}$/;

/** The opaque `nextCursor` of `listConversations`: where the next page starts. */
export const encodeListCursor = (conversationId: string): string =>
  Buffer.from(`${listCursorPrefix}${conversationId}`, 'utf8').toString('base64url');

/** Reads a `listConversations` cursor; anything this server did not issue is `bad_request`. */
export function decodeListCursor(cursor: string): string {
  const decoded = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const conversationId = decoded.startsWith(listCursorPrefix) ? decoded.slice(listCursorPrefix.length) : '';
  if (!conversationIdPattern.test(conversationId)) throw new BadRequestError('cursor: is not a nextCursor of listConversations');
  return conversationId;
}

/** The caller's conversations, paged by count and by bytes, so every page fits one API Gateway message. */
export async function listConversations(
  deps: Deps,
  caller: Caller,
  input: { limit: number; cursor?: string },
): Promise<{ conversations: ConversationSummary[]; nextCursor: string | null }> {
  const from = input.cursor === undefined ? undefined : decodeListCursor(input.cursor);
  await limitUserRead(deps, caller, 'listConversations');
  const page = await deps.conversations.listMemberships(caller.userId, { limit: input.limit, from });
  const conversations = await deps.conversations.getMany(page.items.map((item) => item.conversationId));
  const budget = new ReplyBudget();
  const summaries: ConversationSummary[] = [];
  for (const membership of page.items) {
    const conversation = conversations.get(membership.conversationId);
    // A member item alone proves nothing: the conversation must list the caller.
    if (!conversation || !conversation.members.includes(caller.userId)) continue;
    const summary = {
      ...conversation,
      lastDeliveredSeq: membership.lastDeliveredSeq,
      lastReadSeq: membership.lastReadSeq,
      unread: Math.max(0, conversation.lastSeq - membership.lastReadSeq),
    };
    const bytes = jsonBytes(summary) + 1;
    if (!budget.fits(bytes) && summaries.length > 0) {
      return { conversations: summaries, nextCursor: encodeListCursor(membership.conversationId) };
    }
    budget.spend(bytes);
    summaries.push(summary);
  }
  return { conversations: summaries, nextCursor: page.next === null ? null : encodeListCursor(page.next) };
}
