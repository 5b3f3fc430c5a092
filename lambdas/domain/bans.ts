import { UnauthorizedError } from './auth.js';
import type { Deps } from './deps.js';
import type { Ban, UserStore } from './ports.js';
import { disconnectUser, type DisconnectResult } from './sessions.js';

/**
 * Bans a user deployment-wide: the ban is stored first, so the $connect authorizer refuses every new connection of
 * theirs, then every open session of theirs is closed. Memberships, messages and settings stay as they are, and the
 * server API can still act for the user; `unbanUser` lifts it.
 */
export async function banUser(deps: Deps, userId: string, input: { reason?: string }): Promise<{ ban: Ban; sessions: DisconnectResult }> {
  const ban: Ban = { bannedAt: deps.now().toISOString(), ...(input.reason === undefined ? {} : { reason: input.reason }) };
  await deps.users.ban(userId, ban);
  return { ban, sessions: await disconnectUser(deps, userId) };
}

/** Lifts a user's ban; they may connect again with a valid token. */
export async function unbanUser(deps: Deps, userId: string): Promise<void> {
  await deps.users.unban(userId);
}

/** Refuses a banned user at $connect (one consistent read of their ban item). */
export async function refuseBanned(users: Pick<UserStore, 'banOf'>, userId: string): Promise<void> {
  if (await users.banOf(userId)) throw new UnauthorizedError('user is banned');
}
