import { webSocketLimits } from '../../lib/definitions.js';
import type { Deps } from './deps.js';
import type { ConnectionRef } from './types.js';

/**
 * Each group keeps an index of its members' live connections, so a group push reads one partition instead of every
 * member's presence item. Direct conversations (two members) read presence as before.
 *
 * Why no push can miss a connection (docs/DESIGN.md, "Group fanout"):
 * - $connect indexes the connection in every group of the user before it returns, so before the client can sync.
 *   A message stored after that sync read is fanned out after it, and the consistent index read sees the connection.
 * - A join notes the group on each joining user's presence item before it commits, and indexes the live connections
 *   read in that same write. A connection registering at the same moment either was read there or finds the note,
 *   whenever its walk of the user's groups runs: the walk only has to find joins older than the note.
 */

const groupIdPrefix = 'grp_';
/** Above every group id (`grp_` and `[A-Za-z0-9-]`), so `grp_` … this bounds the groups in a membership walk. */
const groupIdLimit = 'grp_~';
/** Memberships read per page while indexing a connection. */
const membershipPage = 100;

/** Whether a conversation has a connection index (groups do). */
export const hasConnectionIndex = (conversationId: string) => conversationId.startsWith(groupIdPrefix);

/** The groups the user is a member of now (removed memberships excluded), in id order. */
export async function groupsOf(deps: Deps, userId: string): Promise<string[]> {
  const groups: string[] = [];
  let from: string | undefined = groupIdPrefix;
  while (from !== undefined && from <= groupIdLimit) {
    const page = await deps.conversations.listMemberships(userId, { limit: membershipPage, from, through: groupIdLimit });
    for (const member of page.items) if (member.removedAtSeq === undefined) groups.push(member.conversationId);
    from = page.next ?? undefined;
  }
  return groups;
}

/** Index entries expire with API Gateway's connection limit: no connection outlives them, and heartbeats need not refresh them. */
const indexExpiry = (deps: Deps) => Math.floor(deps.now().getTime() / 1000) + webSocketLimits.maxConnectionSeconds;

/** Puts a just-registered connection into the index of each group (its user's groups and those noted as just joined). */
export async function indexConnection(deps: Deps, ref: ConnectionRef, groups: readonly string[]): Promise<void> {
  await deps.presence.indexConnections(
    [...new Set(groups)].map((conversationId) => ({ conversationId, ref })),
    indexExpiry(deps),
  );
}

/** Takes a closed connection out of the index of each of its user's groups (`groups`, or else read now). */
export async function unindexConnection(deps: Deps, ref: ConnectionRef, groups?: readonly string[]): Promise<void> {
  const from = groups ?? (await groupsOf(deps, ref.userId));
  await deps.presence.unindexConnections(from.map((conversationId) => ({ conversationId, ref })));
}

/**
 * Called before a join commits: notes the group on the joining users' presence items and indexes their live
 * connections. Idempotent, so a retried commit may call it again; if the commit fails, the extra entries are never
 * pushed to (fanout only pushes to recipients who are members) and expire.
 */
export async function indexJoining(deps: Deps, conversationId: string, userIds: readonly string[]): Promise<void> {
  if (userIds.length === 0 || !hasConnectionIndex(conversationId)) return;
  const refs = await deps.presence.noteJoined([...userIds], conversationId, deps.now());
  if (refs.length === 0) return;
  await deps.presence.indexConnections(
    refs.map((ref) => ({ conversationId, ref })),
    indexExpiry(deps),
  );
}

/**
 * The live connections of `recipients` in a group: one consistent Query of the index over the recipients' id range,
 * keeping only the recipients (the range may hold others, e.g. removed members).
 */
export async function groupConnectionsOf(deps: Deps, conversationId: string, recipients: readonly string[]): Promise<ConnectionRef[]> {
  if (recipients.length === 0) return [];
  const wanted = new Set(recipients);
  const sorted = [...wanted].sort();
  const found = await deps.presence.groupConnections(conversationId, sorted[0]!, sorted.at(-1)!, deps.now());
  return found.filter((ref) => wanted.has(ref.userId));
}
