import { createHash } from 'node:crypto';
import type { Deps } from './deps.js';
import { BadRequestError, ForbiddenError, LimitExceededError, NotFoundError } from './errors.js';
import { addsDirectly, hasBlocked } from './consent.js';
import { publish } from './fanout.js';
import { indexJoining } from './group-connections.js';
import { addMembers as addGroupMembers } from './membership.js';
import { unreadCounts } from './unread.js';
import { jsonBytes, ReplyBudget } from './reply-budget.js';
import { limitUserRead } from './user-limits.js';
import type { ConversationSummary } from '../../protocol/frames.js';
import { conversationIdPattern } from '../../protocol/limits.js';
import { isSystem, rightsIn } from './principal.js';
import type { Caller, Conversation, Role } from './types.js';

/** What a blocked user hears when opening a DM or sending into one (and anyone else refused the same way). */
export const cannotContact = 'you cannot message this user';

/** The id of the direct conversation between two users: the same pair always maps to the same id. */
export function directConversationId(a: string, b: string): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([a, b].sort()))
    .digest('hex');
  return `dm_${digest.slice(0, 40)}`;
}

/** Creates (or returns the existing) direct conversation between the caller and `userId`. */
export async function createDirectConversation(deps: Deps, caller: Caller, userId: string): Promise<Conversation> {
  if (userId === caller.userId) throw new BadRequestError('userId: a direct conversation needs another user');
  // The same answer whether or not the user exists, so a block cannot be told from anything else.
  if (await hasBlocked(deps, userId, caller.userId)) throw new ForbiddenError(cannotContact);
  const conversation: Conversation = {
    conversationId: directConversationId(caller.userId, userId),
    kind: 'direct',
    title: null,
    members: [caller.userId, userId].sort(),
    createdBy: caller.userId,
    createdAt: deps.now().toISOString(),
    lastSeq: 0,
    lastMessageAt: null,
    membershipSeq: 0,
    // The other user has not accepted until they send something in it.
    pending: [userId],
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
  const digest = createHash('sha256')
    .update(JSON.stringify([callerId, clientRequestId]))
    .digest('hex');
  return `grp_${digest.slice(0, 40)}`;
}

/** The id of the group the server API creates for an app's `externalId`: the same externalId, the same group. */
export function externalGroupId(externalId: string): string {
  // An object, not an array: never the same input as `requestedGroupId`'s.
  const digest = createHash('sha256').update(JSON.stringify({ externalId })).digest('hex');
  return `grp_${digest.slice(0, 40)}`;
}

/** Creates a group; the caller is always a member. Idempotent per `clientRequestId` when one is given. */
export async function createGroupConversation(
  deps: Deps,
  caller: Caller,
  input: { title: string; members: string[]; clientRequestId?: string },
): Promise<Conversation> {
  return (await createGroup(deps, caller, input)).conversation;
}

/** What a group is created with; `roles`, `externalId` and `metadata` come from the server API only. */
export interface NewGroup {
  title: string;
  members: string[];
  clientRequestId?: string;
  /** Roles of members other than the creator (default `member`). */
  roles?: Record<string, Role>;
  externalId?: string;
  metadata?: Record<string, string>;
}

/** The roles of a new group: a user creator owns it; for the server principal, `roles` decides, else the first member. */
function initialRoles(caller: Caller, requested: string[], members: string[], given: Record<string, Role> = {}): Record<string, Role> {
  for (const userId of Object.keys(given)) {
    if (!requested.includes(userId)) throw new BadRequestError(`roles.${userId}: is not one of the members`);
  }
  const roles: Record<string, Role> = Object.fromEntries(members.map((userId) => [userId, userId === caller.userId ? 'owner' : (given[userId] ?? 'member')]));
  // A group always has an owner (see setRole and leave).
  const heir = requested.find((userId) => members.includes(userId));
  if (heir && !Object.values(roles).includes('owner')) roles[heir] = 'owner';
  return roles;
}

/**
 * Creates a group owned by the caller (or, by the server principal, one it is no member of). Users whose consent is
 * needed (their `groupAdd` setting) are invited instead of added, and so, indistinguishably, are users who blocked the
 * caller; `invited` lists both. With `clientRequestId` or `externalId`, a repeated create returns the existing group
 * (`created: false`), also when two creates race.
 */
export async function createGroup(deps: Deps, caller: Caller, input: NewGroup): Promise<{ conversation: Conversation; invited: string[]; created: boolean }> {
  const creator = isSystem(caller) ? [] : [caller.userId];
  const requested = [...new Set([...creator, ...input.members])];
  if (requested.length > deps.limits.maxGroupMembers) {
    throw new LimitExceededError(`a group has at most ${deps.limits.maxGroupMembers} members`);
  }
  const conversationId = input.externalId
    ? externalGroupId(input.externalId)
    : input.clientRequestId
      ? requestedGroupId(caller.userId, input.clientRequestId)
      : `grp_${deps.newId()}`;
  // A retry must not re-run consent (the first attempt decided it): return the group as created.
  const idempotent = input.externalId !== undefined || input.clientRequestId !== undefined;
  const existing = idempotent ? await deps.conversations.get(conversationId, true) : undefined;
  if (existing) return { conversation: existing, invited: [], created: false };
  const consent = await addsDirectly(
    deps,
    caller.userId,
    requested.filter((userId) => userId !== caller.userId),
  );
  const members = [...creator, ...consent.direct].sort();
  const conversation: Conversation = {
    conversationId,
    kind: 'group',
    title: input.title,
    members,
    createdBy: caller.userId,
    createdAt: deps.now().toISOString(),
    lastSeq: 0,
    lastMessageAt: null,
    roles: initialRoles(caller, requested, members, input.roles),
    membershipSeq: 0,
    epoch: null,
    ...(input.externalId === undefined ? {} : { externalId: input.externalId }),
    ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
  };
  // The members' live connections join the group's connection index before the group exists (see group-connections.ts).
  await indexJoining(deps, conversationId, members);
  const result = await deps.conversations.createGroup(conversation);
  if (!result.created) return { conversation: result.conversation, invited: [], created: false };
  await publish(deps, { type: 'conversation', conversation }, members, { excludeConnectionId: caller.connectionId, conversationId });
  if (consent.invite.length > 0) {
    const invitation = { conversationId, title: input.title, invitedBy: caller.userId, createdAt: conversation.createdAt };
    await Promise.all(consent.invite.map((userId) => deps.users.putInvitation(userId, invitation)));
  }
  return { conversation, invited: [...consent.invite, ...consent.hidden].sort(), created: true };
}

/** Reads a conversation the caller belongs to; `not_found` and `forbidden` otherwise. */
export async function conversationOfMember(deps: Deps, caller: Caller, conversationId: string, consistent = false): Promise<Conversation> {
  const conversation = await deps.conversations.get(conversationId, consistent);
  if (!conversation) throw new NotFoundError();
  if (!rightsIn(conversation, caller)) throw new ForbiddenError();
  return conversation;
}

/** Adds members to a group (see `membership.ts`); kept here for existing callers. */
export async function addMembers(deps: Deps, caller: Caller, input: { conversationId: string; members: string[] }): Promise<Conversation> {
  return (await addGroupMembers(deps, caller, input)).conversation;
}

/** A conversation in the caller's list, with the caller's receipt cursors and unread count (the wire type). */
export type { ConversationSummary } from '../../protocol/frames.js';

const listCursorPrefix = 'c1.';

/** The opaque `nextCursor` of `listConversations`: where the next page starts. */
export const encodeListCursor = (conversationId: string): string => Buffer.from(`${listCursorPrefix}${conversationId}`, 'utf8').toString('base64url');

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
  const unread = await unreadCounts(deps, caller.userId, page.items, conversations);
  for (const membership of page.items) {
    const conversation = conversations.get(membership.conversationId);
    // A member item alone proves nothing: the conversation must list the caller.
    if (!conversation?.members.includes(caller.userId)) continue;
    const summary = {
      ...conversation,
      lastDeliveredSeq: membership.lastDeliveredSeq,
      lastReadSeq: membership.lastReadSeq,
      unread: unread.get(membership.conversationId) ?? 0,
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
