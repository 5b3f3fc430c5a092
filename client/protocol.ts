/**
 * Wire types of the Parley protocol (PROTOCOL.md), inferred from the protocol module's schemas. Types only from
 * `protocol/schemas.ts` and `protocol/frames.ts` (`import type`), values only from the zod-free `protocol/limits.ts`
 * and `protocol/actions.ts`, so the SDK bundles for browsers and React Native without zod or server modules.
 */
export type { ClientLimits } from '../protocol/limits.js';
export type {
  Conversation,
  ConversationSummary,
  EventAck,
  GroupAddSetting,
  HelloReply,
  Invitation,
  Message,
  PresenceInfo,
  ReactionCount,
  Receipt,
  ReplyMap,
  Role,
  SendAck,
  ServerErrorCode,
  SyncConversation,
  SyncCursor,
  TimelineKind,
  TypingEvent,
  UserSettings,
} from '../protocol/frames.js';
export type { RequestMap } from '../protocol/schemas.js';
export { defaultClientLimits, fixedLimits, protocolVersion } from '../protocol/limits.js';
export { catchupActions, replyTypes } from '../protocol/actions.js';
export type { ActionName as Action } from '../protocol/actions.js';
