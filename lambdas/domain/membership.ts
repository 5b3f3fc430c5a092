import { addsDirectly } from './consent.js';
import type { Deps } from './deps.js';
import { BadRequestError, ForbiddenError, LimitExceededError, NotFoundError } from './errors.js';
import { publish } from './fanout.js';
import { indexJoining } from './group-connections.js';
import type { StateWrite } from './ports.js';
import { retentionDaysOf } from './retention.js';
import { backfillJob, startBackfill } from './retention-backfill.js';
import { commitEvent, eventItem, roleOf, rolesOf } from './timeline.js';
import { rightsIn } from './principal.js';
import type { Caller, Conversation, Invitation, Message, Role } from './types.js';

/** Invitations listed per request. */
const maxInvitationsListed = 100;

const rank: Record<Role, number> = { member: 0, admin: 1, owner: 2 };

/** The caller's role in a group, or the error for anyone else: forbidden for non-members, bad_request for DMs. */
function requireGroupRole(conversation: Conversation, caller: Caller, action: string): Role {
  const rights = rightsIn(conversation, caller);
  if (!rights) throw new ForbiddenError();
  if (conversation.kind !== 'group') throw new BadRequestError(`conversationId: ${action} is only for groups`);
  return rights;
}

/** Applies the membership change recorded by `items` to a conversation snapshot. */
function applyItems(conversation: Conversation, items: Message[]): Conversation {
  let members = [...conversation.members];
  const roles = { ...rolesOf(conversation) };
  let title = conversation.title;
  let retention = conversation.retentionDays;
  for (const item of items) {
    const userIds = item.userIds ?? [];
    if (item.kind === 'member_added') {
      members = [...new Set([...members, ...userIds])];
      for (const userId of userIds) roles[userId] = 'member';
    } else if (item.kind === 'member_removed' || item.kind === 'member_left') {
      members = members.filter((userId) => !userIds.includes(userId));
      for (const userId of userIds) delete roles[userId];
    } else if (item.kind === 'role_changed' && item.role) {
      for (const userId of userIds) roles[userId] = item.role;
    } else if (item.kind === 'title_changed' && item.title !== undefined) {
      title = item.title;
    } else if (item.kind === 'retention_changed') {
      retention = item.retentionDays ?? undefined;
    }
  }
  const { retentionDays: _previous, ...rest } = conversation;
  return { ...rest, members: members.sort(), roles, title, ...(retention === undefined ? {} : { retentionDays: retention }) };
}

/** Pushes the conversation as it is now to its members, so every device shows the new member list and roles. */
async function announce(deps: Deps, caller: Caller, conversation: Conversation, extra: string[] = []) {
  await publish(deps, { type: 'conversation', conversation }, [...conversation.members, ...extra], {
    excludeConnectionId: caller.connectionId,
    scope: { conversationId: conversation.conversationId, membershipSeq: conversation.membershipSeq ?? 0 },
  });
}

/**
 * Adds users to a group (owners and admins). Users who require consent get an invitation instead, and so,
 * indistinguishably, do users who blocked the caller (without anything stored): the reply lists both as `invited`.
 */
export async function addMembers(
  deps: Deps,
  caller: Caller,
  input: { conversationId: string; members: string[] },
): Promise<{ conversation: Conversation; invited: string[] }> {
  let consent: { direct: string[]; invite: string[]; hidden: string[] } | undefined;
  // Users whose connections a previous attempt already indexed (a commit that lost a race plans again).
  const indexed = new Set<string>();
  const committed = await commitEvent(
    deps,
    caller,
    input.conversationId,
    async (conversation) => {
      const role = requireGroupRole(conversation, caller, 'addMembers');
      if (rank[role] < rank.admin) throw new ForbiddenError('only owners and admins can add members');
      const candidates = [...new Set(input.members)].filter((userId) => !conversation.members.includes(userId));
      consent ??= await addsDirectly(deps, caller.userId, candidates);
      const added = consent.direct.filter((userId) => !conversation.members.includes(userId));
      if (added.length === 0) return null;
      if (conversation.members.length + added.length > deps.limits.maxGroupMembers) {
        throw new LimitExceededError(`a group has at most ${deps.limits.maxGroupMembers} members`);
      }
      return joinPlan(deps, caller, conversation, added, [], indexed);
    },
    applyItems,
  );
  const invited = [...(consent?.invite ?? []), ...(consent?.hidden ?? [])].sort();
  if (consent?.invite.length) await invite(deps, caller, committed.conversation, consent.invite);
  if (committed.items.length > 0) await announce(deps, caller, committed.conversation);
  return { conversation: committed.conversation, invited };
}

/**
 * The event and state writes that make `added` members (owners and admins decided, or an invitee accepted). Their
 * live connections join the group's connection index first, so no push after the commit misses them.
 */
async function joinPlan(deps: Deps, caller: Caller, conversation: Conversation, added: string[], writes: StateWrite[] = [], indexed = new Set<string>()) {
  await indexJoining(
    deps,
    conversation.conversationId,
    added.filter((userId) => !indexed.has(userId)),
  );
  for (const userId of added) indexed.add(userId);
  const joinedAt = deps.now().toISOString();
  const roles = { ...rolesOf(conversation), ...Object.fromEntries(added.map((userId) => [userId, 'member' as Role])) };
  return {
    items: [eventItem(deps, caller, conversation.conversationId, { kind: 'member_added', userIds: added })],
    membershipChange: true,
    writes: [
      { type: 'conversation' as const, conversationId: conversation.conversationId, addMembers: added, roles },
      ...added.map((userId) => ({ type: 'member' as const, conversationId: conversation.conversationId, userId, join: { joinedAt, role: 'member' as Role } })),
      ...writes,
    ],
  };
}

/** Stores invitations for users whose consent an add needs. */
async function invite(deps: Deps, caller: Caller, conversation: Conversation, userIds: string[]) {
  const invitation: Invitation = {
    conversationId: conversation.conversationId,
    title: conversation.title ?? '',
    invitedBy: caller.userId,
    createdAt: deps.now().toISOString(),
  };
  await Promise.all(userIds.map((userId) => deps.users.putInvitation(userId, invitation)));
}

/** Invitations waiting for the caller's answer. */
export async function listInvitations(deps: Deps, caller: Caller): Promise<Invitation[]> {
  return deps.users.invitationsOf(caller.userId, maxInvitationsListed);
}

/** Accepts an invitation: the caller joins the group with a `member_added` event (their own). */
export async function acceptInvitation(deps: Deps, caller: Caller, conversationId: string): Promise<Conversation> {
  const invitation = await deps.users.invitation(caller.userId, conversationId);
  if (!invitation) throw new NotFoundError('no such invitation');
  const conversation = await deps.conversations.get(conversationId);
  if (!conversation) {
    await deps.users.deleteInvitation(caller.userId, conversationId);
    throw new NotFoundError();
  }
  const committed = await commitEvent(
    deps,
    caller,
    conversationId,
    async (current) => {
      if (current.members.includes(caller.userId)) return null;
      if (current.members.length + 1 > deps.limits.maxGroupMembers) {
        throw new LimitExceededError(`a group has at most ${deps.limits.maxGroupMembers} members`);
      }
      return joinPlan(deps, caller, current, [caller.userId], [{ type: 'userItem', userId: caller.userId, item: `invite#${conversationId}`, delete: true }]);
    },
    applyItems,
  );
  if (committed.items.length === 0) await deps.users.deleteInvitation(caller.userId, conversationId);
  else await announce(deps, caller, committed.conversation);
  return committed.conversation;
}

/** Declines an invitation; declining one that does not exist changes nothing. */
export async function declineInvitation(deps: Deps, caller: Caller, conversationId: string): Promise<void> {
  await deps.users.deleteInvitation(caller.userId, conversationId);
}

/**
 * Removes members (owners remove anyone but themselves, admins remove members). Each removed member keeps read
 * access up to and including the `member_removed` event, which they are pushed too.
 */
export async function removeMembers(deps: Deps, caller: Caller, input: { conversationId: string; members: string[] }): Promise<Conversation> {
  const committed = await commitEvent(
    deps,
    caller,
    input.conversationId,
    (conversation) => {
      const role = requireGroupRole(conversation, caller, 'removeMembers');
      if (rank[role] < rank.admin) throw new ForbiddenError('only owners and admins can remove members');
      if (input.members.includes(caller.userId)) throw new BadRequestError('members: use leave to remove yourself');
      const removed = [...new Set(input.members)].filter((userId) => conversation.members.includes(userId));
      if (removed.length === 0) return null;
      for (const userId of removed) {
        if (role === 'admin' && rank[roleOf(conversation, userId)!] >= rank.admin) {
          throw new ForbiddenError('admins can only remove members, not owners or admins');
        }
      }
      return {
        ...departurePlan(deps, caller, conversation, removed, 'member_removed'),
        alsoNotify: removed,
      };
    },
    applyItems,
  );
  if (committed.items.length > 0) await announce(deps, caller, committed.conversation);
  return committed.conversation;
}

/**
 * The event and writes for members leaving or being removed: `removedAtSeq` on their member items is the event's
 * seq. When the last owner goes, the longest-standing admin (else member) becomes owner in the same transaction,
 * recorded by a `role_changed` event right after.
 */
function departurePlan(
  deps: Deps,
  caller: Caller,
  conversation: Conversation,
  departing: string[],
  kind: 'member_removed' | 'member_left',
  joinedAt: Map<string, string> = new Map(),
) {
  const seq = conversation.lastSeq + 1;
  const roles = rolesOf(conversation);
  for (const userId of departing) delete roles[userId];
  const remaining = conversation.members.filter((userId) => !departing.includes(userId));
  const items = [eventItem(deps, caller, conversation.conversationId, { kind, userIds: departing })];
  const writes: StateWrite[] = departing.map((userId) => ({
    type: 'member',
    conversationId: conversation.conversationId,
    userId,
    removedAtSeq: seq,
  }));
  let heir: string | undefined;
  if (remaining.length > 0 && !remaining.some((userId) => roles[userId] === 'owner')) {
    const byTenure = [...remaining].sort((a, b) => (joinedAt.get(a) ?? '').localeCompare(joinedAt.get(b) ?? '') || a.localeCompare(b));
    heir = byTenure.find((userId) => roles[userId] === 'admin') ?? byTenure[0]!;
    roles[heir] = 'owner';
    items.push(eventItem(deps, caller, conversation.conversationId, { kind: 'role_changed', userIds: [heir], role: 'owner' }));
    writes.push({ type: 'member', conversationId: conversation.conversationId, userId: heir, role: 'owner' });
  }
  writes.push({ type: 'conversation', conversationId: conversation.conversationId, removeMembers: departing, roles });
  return { items, writes, membershipChange: true };
}

/** Leaves a group; always allowed. The caller can still read up to their `member_left` event. */
export async function leave(deps: Deps, caller: Caller, input: { conversationId: string }): Promise<Conversation> {
  let tenure: Map<string, string> | undefined;
  const committed = await commitEvent(
    deps,
    caller,
    input.conversationId,
    async (conversation) => {
      requireGroupRole(conversation, caller, 'leave');
      const roles = rolesOf(conversation);
      const lastOwner = roles[caller.userId] === 'owner' && !conversation.members.some((userId) => userId !== caller.userId && roles[userId] === 'owner');
      // Tenure decides the heir; only read when an heir is needed.
      if (lastOwner && !tenure) {
        const states = await deps.conversations.listMemberStates(conversation.conversationId);
        tenure = new Map(states.map((state) => [state.userId, state.joinedAt]));
      }
      return { ...departurePlan(deps, caller, conversation, [caller.userId], 'member_left', tenure), alsoNotify: [caller.userId] };
    },
    applyItems,
  );
  if (committed.items.length > 0) await announce(deps, caller, committed.conversation);
  return committed.conversation;
}

/** Changes a member's role (owners only). The group always keeps an owner. */
export async function setRole(deps: Deps, caller: Caller, input: { conversationId: string; userId: string; role: Role }): Promise<Conversation> {
  const committed = await commitEvent(
    deps,
    caller,
    input.conversationId,
    (conversation) => {
      const role = requireGroupRole(conversation, caller, 'setRole');
      if (role !== 'owner') throw new ForbiddenError('only owners can change roles');
      if (!conversation.members.includes(input.userId)) throw new BadRequestError('userId: is not a member of this group');
      const roles = rolesOf(conversation);
      if (roles[input.userId] === input.role) return null;
      roles[input.userId] = input.role;
      if (!Object.values(roles).includes('owner')) throw new BadRequestError('role: the group would have no owner');
      return {
        items: [eventItem(deps, caller, conversation.conversationId, { kind: 'role_changed', userIds: [input.userId], role: input.role })],
        membershipChange: true,
        writes: [
          { type: 'conversation', conversationId: conversation.conversationId, roles },
          { type: 'member', conversationId: conversation.conversationId, userId: input.userId, role: input.role },
        ],
      };
    },
    applyItems,
  );
  if (committed.items.length > 0) await announce(deps, caller, committed.conversation);
  return committed.conversation;
}

/**
 * Renames a group (owners and admins) and sets its retention (owners only): a `title_changed` and a
 * `retention_changed` event, in one transaction when both change. `retentionDays: null` returns the group to the
 * deployment's default.
 */
export async function updateConversation(
  deps: Deps,
  caller: Caller,
  input: { conversationId: string; title?: string; retentionDays?: number | null },
): Promise<Conversation> {
  if (input.title === undefined && input.retentionDays === undefined) throw new BadRequestError('title: or retentionDays: is required');
  const committed = await commitEvent(
    deps,
    caller,
    input.conversationId,
    (conversation) => {
      const role = requireGroupRole(conversation, caller, 'updateConversation');
      if (rank[role] < rank.admin) throw new ForbiddenError('only owners and admins can rename a group');
      if (input.retentionDays !== undefined && role !== 'owner') throw new ForbiddenError('only owners can change the retention');
      const items = [];
      const writes: StateWrite[] = [];
      if (input.title !== undefined && conversation.title !== input.title) {
        items.push(eventItem(deps, caller, conversation.conversationId, { kind: 'title_changed', title: input.title }));
        writes.push({ type: 'conversation', conversationId: conversation.conversationId, title: input.title });
      }
      const retentionChanges = input.retentionDays !== undefined && (conversation.retentionDays ?? null) !== input.retentionDays;
      if (retentionChanges) {
        items.push(eventItem(deps, caller, conversation.conversationId, { kind: 'retention_changed', retentionDays: input.retentionDays }));
      }
      if (items.length === 0) return null;
      return { items, writes, ...(retentionChanges ? { retentionDays: input.retentionDays } : {}) };
    },
    applyItems,
  );
  if (committed.items.length > 0) await announce(deps, caller, committed.conversation);
  if (committed.items.some((item) => item.kind === 'retention_changed')) await queueBackfill(deps, committed.conversation);
  return committed.conversation;
}

/**
 * Queues the backfill that gives the items stored before a retention change their new TTL. The change is committed
 * and reads follow it at once; if the job cannot be queued, `npm run backfill-ttl -- --conversation <id>` does it.
 */
async function queueBackfill(deps: Deps, conversation: Conversation): Promise<void> {
  const { conversationId } = conversation;
  try {
    await deps.queue.enqueue([backfillJob(startBackfill(conversationId, retentionDaysOf(deps, conversation)))]);
  } catch (error) {
    deps.logger.error('retention backfill not queued: run backfill-ttl for the conversation', { conversationId, error: error as Error });
  }
}
