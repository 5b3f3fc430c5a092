import { visibleContactsOf, withoutBlockers } from './consent.js';
import { announcePresence } from './fanout.js';
import type { Deps } from './deps.js';
import { groupsOf, indexConnection, unindexConnection } from './group-connections.js';
import type { Caller, UserPresence } from './types.js';
import { limitUserRead } from './user-limits.js';

/** Registers a new connection; announces the user online if it is their first live one. */
export async function connected(deps: Deps, caller: Caller): Promise<void> {
  // The walk of the user's groups need not wait for the registration: joins it could miss are noted (group-connections.ts).
  const [{ cameOnline, recentGroups }, groups] = await Promise.all([
    deps.presence.addConnection(caller, deps.now(), deps.limits.presenceTtlSeconds),
    groupsOf(deps, caller.userId),
  ]);
  // Indexed before $connect returns, so before the client's first sync.
  await Promise.all([
    indexConnection(deps, caller, [...groups, ...recentGroups]),
    cameOnline ? announcePresence(deps, caller.userId, 'online', null) : undefined,
  ]);
}

/** Forgets a closed connection; announces the user offline if it was their last live one. */
export async function disconnected(deps: Deps, caller: Caller): Promise<void> {
  const now = deps.now();
  const [{ wentOffline }, groups] = await Promise.all([deps.presence.removeConnection(caller, now), groupsOf(deps, caller.userId)]);
  await Promise.all([unindexConnection(deps, caller, groups), wentOffline ? announcePresence(deps, caller.userId, 'offline', now.toISOString()) : undefined]);
}

/** Keeps the connection (and so the user) online for another TTL; re-registers a connection that was dropped. */
export async function heartbeat(deps: Deps, caller: Caller): Promise<{ serverTime: string }> {
  const now = deps.now();
  const refreshed = await deps.presence.refresh(caller, now, deps.limits.presenceTtlSeconds);
  // A push that hit a transient 410, or a lost entry, removed the connection while it was alive: bring it back.
  if (!refreshed) await connected(deps, caller);
  return { serverTime: now.toISOString() };
}

/**
 * Presence of the listed users; `unknown` for users who share no conversation with the caller that they accepted,
 * and for users who blocked the caller.
 */
export async function presenceOf(deps: Deps, caller: Caller, userIds: string[]): Promise<UserPresence[]> {
  await limitUserRead(deps, caller, 'presence');
  const contacts = await visibleContactsOf(deps, caller.userId);
  contacts.add(caller.userId);
  const visible = userIds.filter((userId) => contacts.has(userId));
  const known = new Map((visible.length > 0 ? await deps.presence.presenceOf(visible, deps.now()) : []).map((user) => [user.userId, user]));
  const found = userIds.map((userId): UserPresence => known.get(userId) ?? { userId, status: 'unknown', lastSeenAt: null });
  return withoutBlockers(deps, caller.userId, found);
}
