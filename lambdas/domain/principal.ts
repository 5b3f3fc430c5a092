import type { Caller, Conversation, Role } from './types.js';
import { roleOf } from './timeline.js';

/**
 * The server principal: the app's backend calling the server API (IAM-authenticated, never an end user). The domain
 * authorizes it explicitly, in one place each:
 * - it is a member of no conversation but holds owner rights in every one, groups and direct conversations alike
 *   (`rightsIn`), and reads every timeline in full (`readableConversation`);
 * - users it adds join directly, without consent or invitations: the app decided (`addsDirectly`);
 * - per-connection and per-user rate limits do not apply to anything it does (API Gateway throttles the server API).
 * Its messages and events carry the sender id `$system`, or `$bot:<botId>` for a named bot. User ids can never start
 * with `$` (see `userIdPattern`), so no end user can be mistaken for it.
 */
export const systemUserId = '$system';

/** The sender id of a bot posting through the server API. */
export const botUserId = (botId: string): string => `$bot:${botId}`;

/** Stands in for a connection id on server API requests; no API Gateway connection id looks like it. */
export const serverConnectionId = '$server-api';

/** The server principal, posting as `senderId` (`$system` or a bot). */
export function systemCaller(senderId: string = systemUserId): Caller {
  if (!isSystemId(senderId)) throw new Error(`${senderId} is not a system sender id`);
  return { userId: senderId, connectionId: serverConnectionId, origin: 'server' };
}

/** The app's backend acting as `userId`: that user's rights, without the rate limits of a connection. */
export function onBehalfOf(userId: string): Caller {
  return { userId, connectionId: serverConnectionId, origin: 'server' };
}

/** Whether a sender id is the server principal's (`$system`, `$bot:…`). */
export const isSystemId = (userId: string): boolean => userId.startsWith('$');

/** Whether the caller is the server principal. */
export const isSystem = (caller: Caller): boolean => caller.origin === 'server' && isSystemId(caller.userId);

/** Whether the request came through the server API (the server principal, or the backend acting as a user). */
export const fromServer = (caller: Caller): boolean => caller.origin === 'server';

/**
 * What the caller may do in a conversation: `owner` for the server principal, a group member's role, `member` for a
 * member of a direct conversation, undefined for anyone else.
 */
export function rightsIn(conversation: Conversation, caller: Caller): Role | undefined {
  if (isSystem(caller)) return 'owner';
  if (!conversation.members.includes(caller.userId)) return undefined;
  return conversation.kind === 'group' ? roleOf(conversation, caller.userId) : 'member';
}
