import type { Deps } from './deps.js';
import { BadRequestError } from './errors.js';
import { isSystemId } from './principal.js';
import type { Caller, GroupAddSetting, MemberState, UserPresence, UserSettings } from './types.js';

/** Blocks listed (and read for presence fanout) per user. */
export const maxBlocks = 1000;

/** The caller's settings and block list. */
export async function settingsOf(deps: Deps, caller: Caller): Promise<UserSettings> {
  const [settings, blocked] = await Promise.all([deps.users.settingsOf(caller.userId), deps.users.blockedBy(caller.userId, maxBlocks)]);
  return { groupAdd: settings.groupAdd, blocked };
}

/** Changes who may add the caller to groups without an invitation. */
export async function updateSettings(deps: Deps, caller: Caller, input: { groupAdd?: GroupAddSetting }): Promise<UserSettings> {
  if (input.groupAdd !== undefined) await deps.users.updateSettings(caller.userId, { groupAdd: input.groupAdd });
  return settingsOf(deps, caller);
}

/** Blocks a user: they cannot open a DM with the caller, add them to groups, send them typing or see their presence. */
export async function block(deps: Deps, caller: Caller, userId: string): Promise<UserSettings> {
  if (userId === caller.userId) throw new BadRequestError('userId: you cannot block yourself');
  const blocked = await deps.users.blockedBy(caller.userId, maxBlocks);
  if (!blocked.includes(userId) && blocked.length >= maxBlocks) throw new BadRequestError(`userId: at most ${maxBlocks} users can be blocked`);
  await deps.users.block(caller.userId, userId, deps.now().toISOString());
  return settingsOf(deps, caller);
}

/** Lifts a block; unblocking someone not blocked changes nothing. */
export async function unblock(deps: Deps, caller: Caller, userId: string): Promise<UserSettings> {
  await deps.users.unblock(caller.userId, userId);
  return settingsOf(deps, caller);
}

/** Whether `userId` blocked `by` (one read). */
export async function hasBlocked(deps: Deps, userId: string, by: string): Promise<boolean> {
  return (await deps.users.whoBlocked([userId], by)).has(userId);
}

/**
 * Every user `viewer` shares a conversation with that the other user has accepted: the users whose presence the
 * viewer may see (before blocks). A pending member of a direct conversation (opened by the other, never replied)
 * is not a contact of the opener.
 */
export async function visibleContactsOf(deps: Deps, viewer: string): Promise<Set<string>> {
  const contacts = new Set<string>();
  let from: string | undefined;
  do {
    const page = await deps.conversations.listMemberships(viewer, { limit: 100, from });
    const audiences = await deps.conversations.audienceOf(page.items.map((item) => item.conversationId));
    for (const { members, pending } of audiences.values()) {
      if (!members.includes(viewer)) continue;
      for (const member of members) if (!pending.includes(member)) contacts.add(member);
    }
    from = page.next ?? undefined;
  } while (from);
  contacts.delete(viewer);
  return contacts;
}

/**
 * Who may see `userId`'s presence pushes: members of the conversations (up to `maxMembers`) that `userId` has
 * accepted, except the users `userId` blocked.
 */
export async function presenceAudienceOf(deps: Deps, userId: string, maxMembers = Infinity): Promise<string[]> {
  const audience = new Set<string>();
  let from: string | undefined;
  do {
    const page = await deps.conversations.listMemberships(userId, { limit: 100, from });
    const audiences = await deps.conversations.audienceOf(page.items.map((item) => item.conversationId));
    for (const { members, pending } of audiences.values()) {
      if (members.length > maxMembers || !members.includes(userId) || pending.includes(userId)) continue;
      for (const member of members) audience.add(member);
    }
    from = page.next ?? undefined;
  } while (from);
  audience.delete(userId);
  for (const blocked of await deps.users.blockedBy(userId, maxBlocks)) audience.delete(blocked);
  return [...audience];
}

/** Hides presence the viewer may not see (users who blocked them) as `unknown`: one batched read of block items. */
export async function withoutBlockers(deps: Deps, viewer: string, users: UserPresence[]): Promise<UserPresence[]> {
  if (users.length === 0) return users;
  const blockers = await deps.users.whoBlocked(
    users.map((user) => user.userId),
    viewer,
  );
  return users.map((user) => (blockers.has(user.userId) ? { userId: user.userId, status: 'unknown', lastSeenAt: null } : user));
}

/**
 * The presence a sync page may report: direct peers who accepted the conversation and did not block the caller
 * (peers that did not are left out). For sync's presence list, called from its minimal spot.
 */
export async function visibleSyncPresence(deps: Deps, viewer: string, memberships: MemberState[], presence: UserPresence[]): Promise<UserPresence[]> {
  const hidden = new Set(memberships.filter((membership) => membership.peerPending && membership.peerId).map((membership) => membership.peerId!));
  const candidates = presence.filter((user) => !hidden.has(user.userId));
  const blockers =
    candidates.length > 0
      ? await deps.users.whoBlocked(
          candidates.map((user) => user.userId),
          viewer,
        )
      : new Set<string>();
  return candidates.filter((user) => !blockers.has(user.userId));
}

/**
 * Whether `inviter` may add each of `userIds` to a group without an invitation: not blocked by them, and their
 * setting is `anyone`, or `contacts` and they already share a conversation with the inviter. Reads are batched: one
 * read of block items, one of settings, and one walk of the inviter's memberships only when someone needs contacts.
 */
export async function addsDirectly(deps: Deps, inviter: string, userIds: string[]): Promise<{ direct: string[]; invite: string[]; hidden: string[] }> {
  // The server principal adds directly: the app's backend decided the membership (see `principal.ts`).
  if (isSystemId(inviter)) return { direct: [...userIds], invite: [], hidden: [] };
  const blockers = await deps.users.whoBlocked(userIds, inviter);
  const hidden = userIds.filter((userId) => blockers.has(userId));
  const candidates = userIds.filter((userId) => !blockers.has(userId));
  const settings = candidates.length > 0 ? await deps.users.groupAddOf(candidates) : new Map<string, GroupAddSetting>();
  const needContacts = candidates.some((userId) => settings.get(userId) === 'contacts');
  const shared = needContacts ? await sharingWith(deps, inviter) : new Set<string>();
  const direct = candidates.filter((userId) => settings.get(userId) !== 'contacts' || shared.has(userId));
  const invite = candidates.filter((userId) => !direct.includes(userId));
  return { direct, invite, hidden };
}

/**
 * The users who have `inviter` among their visible contacts (see `visibleContactsOf`): the members of every
 * conversation in which the inviter is an accepted member. One walk of the inviter's memberships, whatever the
 * number of invitees.
 */
async function sharingWith(deps: Deps, inviter: string): Promise<Set<string>> {
  const users = new Set<string>();
  let from: string | undefined;
  do {
    const page = await deps.conversations.listMemberships(inviter, { limit: 100, from });
    const audiences = await deps.conversations.audienceOf(page.items.map((item) => item.conversationId));
    for (const { members, pending } of audiences.values()) {
      if (!members.includes(inviter) || pending.includes(inviter)) continue;
      for (const member of members) users.add(member);
    }
    from = page.next ?? undefined;
  } while (from);
  users.delete(inviter);
  return users;
}
