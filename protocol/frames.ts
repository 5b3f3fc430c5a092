/**
 * What the server sends (PROTOCOL.md) as zod schemas: every reply, pushed event and error frame, the objects in them,
 * and the wire types inferred from them. Used for types and by the tests (doc examples, server replies).
 */
import * as z from 'zod/mini';
import { replyTypes, type ActionName, type EventType } from './actions.js';
import { groupAdd, requestId, role } from './schemas.js';

// Strict objects: a documented field the server does not send (or a typo in PROTOCOL.md) fails the doc test.

const isoTime = z.string();
const seq = z.int().check(z.gte(0));
const timelineKind = z.enum([
  'message',
  'member_added',
  'member_removed',
  'member_left',
  'role_changed',
  'title_changed',
  'edit',
  'delete',
  'reaction',
  'retention_changed',
  'skipped',
]);
const reactionCount = z.strictObject({ emoji: z.string(), count: z.int() });

/**
 * A timeline item; `seq` is 1, 2, 3, … per conversation with no gaps. `senderId` is the actor. Chat messages
 * (`kind` `message`, or no `kind` on items stored before timeline events existed) carry `body` and
 * `clientMessageId`; the other kinds carry their own fields (PROTOCOL.md, Conversation lifecycle).
 */
export const messageSchema = z.strictObject({
  conversationId: z.string(),
  seq,
  senderId: z.string(),
  clientMessageId: z.string(),
  body: z.string(),
  createdAt: isoTime,
  kind: z.optional(timelineKind),
  /** `message`: when the body was last edited. */
  editedAt: z.optional(isoTime),
  /** `message`: deleted; the body is gone (empty string). */
  deleted: z.optional(z.boolean()),
  /** `message`: aggregated reactions. */
  reactions: z.optional(z.array(reactionCount)),
  /** Membership events: the users added, removed or whose role changed. */
  userIds: z.optional(z.array(z.string())),
  /** `role_changed`: the new role. */
  role: z.optional(role),
  /** `title_changed`: the new title. */
  title: z.optional(z.string()),
  /** `retention_changed`: the group's retention in days, or null for the deployment's default. */
  retentionDays: z.optional(z.nullable(z.int())),
  /** `message`: the sender's messages were erased; the body is gone (empty string). */
  erased: z.optional(z.boolean()),
  /** `message`: the seq of the last edit, delete or reaction its state includes (events up to it are already applied). */
  stateSeq: z.optional(seq),
  /** `edit`, `delete`, `reaction`: the seq of the message they apply to. */
  targetSeq: z.optional(seq),
  /** `reaction`: the emoji. */
  emoji: z.optional(z.string()),
  /** `reaction`: added or removed. */
  op: z.optional(z.enum(['add', 'remove'])),
  /** The epoch of the conversation this seq belongs to (see `Conversation.epoch`). */
  epoch: z.optional(z.string()),
});

const conversationShape = {
  conversationId: z.string(),
  /** `direct` has exactly two members and no title; `group` has a title and up to the configured size. */
  kind: z.enum(['direct', 'group']),
  title: z.nullable(z.string()),
  members: z.array(z.string()),
  createdBy: z.string(),
  createdAt: isoTime,
  lastSeq: seq,
  lastMessageAt: z.nullable(isoTime),
  /** Groups: every member's role. */
  roles: z.optional(z.record(z.string(), role)),
  /** Seq of the last membership or role event (0 when none). */
  membershipSeq: z.optional(seq),
  /** Direct conversations: the member who has not accepted it yet (opened by the other, has sent nothing). */
  pending: z.optional(z.array(z.string())),
  /** This incarnation of the conversation (`null` until its first timeline item); a cursor is only valid within it. */
  epoch: z.nullable(z.string()),
  /** Groups: how many days messages stay readable, when an owner set it (else the deployment's default applies). */
  retentionDays: z.optional(z.int()),
  /** Server-side: the expiry (epoch seconds) of the newest timeline item, so expired items are always a prefix. */
  lastExpiresAt: z.optional(z.number()),
  /** Created through the server API: the app's own id for it (a second create with it returns this conversation). */
  externalId: z.optional(z.string()),
  /** Created through the server API: small string metadata tying it to the app's objects, visible to members. */
  metadata: z.optional(z.record(z.string(), z.string())),
};
/** A 1:1 (`direct`) or `group` conversation. */
export const conversationSchema = z.strictObject(conversationShape);

/** A row of `listConversations`: a conversation with the caller's receipt cursors and unread count. */
export const conversationSummarySchema = z.strictObject({
  ...conversationShape,
  lastDeliveredSeq: seq,
  lastReadSeq: seq,
  unread: z.int().check(z.gte(0)),
});

const receiptShape = { conversationId: z.string(), userId: z.string(), lastDeliveredSeq: seq, lastReadSeq: seq };
/** One member's receipt cursors in one conversation. */
export const receiptSchema = z.strictObject(receiptShape);

/** Presence of one user; `unknown` for users the caller may not see. */
export const presenceInfoSchema = z.strictObject({
  userId: z.string(),
  status: z.enum(['online', 'offline', 'unknown']),
  lastSeenAt: z.nullable(isoTime),
});

/** What the client holds for one conversation, sent in `sync`: its highest contiguous seq and the epoch of it. */
export const syncCursorSchema = z.strictObject({ seq, epoch: z.nullable(z.string()) });

/** One conversation in a `sync` reply. */
export const syncConversationSchema = z.strictObject({
  conversationId: z.string(),
  epoch: z.nullable(z.string()),
  /** The last seq the caller may read. */
  lastSeq: seq,
  /** Present when the client lacked it: no cursor, a reset, a limited backlog or changed members. */
  conversation: z.optional(conversationSchema),
  messages: z.array(messageSchema),
  /** More messages follow; the next page (`nextFrom`) starts with this conversation again. */
  hasMore: z.boolean(),
  /** Every seq below this one expired (retention): never ask for them; absent when nothing below the cursor expired. */
  expiredBefore: z.optional(seq),
  /** More than `limit` were missed: `messages` are the newest; older ones are read with `history`. */
  limited: z.boolean(),
  /** The cursor was from another epoch or ahead of the conversation: drop what you hold for it. */
  reset: z.boolean(),
  receipts: z.array(receiptSchema),
});

/** A user's own settings and block list. */
export const userSettingsSchema = z.strictObject({ groupAdd, blocked: z.array(z.string()) });

/** A pending invitation to a group, as the invited user sees it. */
export const invitationSchema = z.strictObject({ conversationId: z.string(), title: z.string(), invitedBy: z.string(), createdAt: isoTime });

const sendAckShape = {
  conversationId: z.string(),
  clientMessageId: z.string(),
  seq,
  createdAt: isoTime,
  /** The conversation's epoch the seq belongs to. */
  epoch: z.optional(z.string()),
  duplicate: z.boolean(),
};

const eventAckShape = {
  conversationId: z.string(),
  clientMessageId: z.string(),
  /** The event's seq, or `null` (with `unchanged: true`) when the request changed nothing. */
  seq: z.nullable(seq),
  createdAt: isoTime,
  duplicate: z.boolean(),
  unchanged: z.optional(z.boolean()),
};

/** Every limit a client must respect, as the server is configured; keys as in `ClientLimits`. */
const clientLimitsSchema = z.strictObject({
  maxFrameBytes: z.int(),
  maxBodyChars: z.int(),
  maxGroupMembers: z.int(),
  maxMembersPerRequest: z.int(),
  receiptPushMaxMembers: z.int(),
  presencePushMaxMembers: z.int(),
  sendRatePerSecond: z.int(),
  sendBurst: z.int(),
  typingRatePerSecond: z.int(),
  typingBurst: z.int(),
  userRateWindowSeconds: z.int(),
  syncPerWindow: z.int(),
  historyPerWindow: z.int(),
  listConversationsPerWindow: z.int(),
  presencePerWindow: z.int(),
  maxSyncCursors: z.int(),
  maxPageLimit: z.int(),
  maxPresenceUsers: z.int(),
});

/** A reply frame: the action's reply `type`, the request's `requestId`, and the action's fields. */
const reply = <A extends ActionName, S extends z.core.$ZodLooseShape>(action: A, shape: S) =>
  z.strictObject({ type: z.literal(replyTypes[action]), requestId, ...shape });
const conversationReply = { conversation: conversationSchema };
const settingsReply = { settings: userSettingsSchema };

/** The successful reply of every action. */
export const replySchemas = {
  hello: reply('hello', { protocolVersion: z.int(), limits: clientLimitsSchema }),
  /** `invited`: users who were not added but invited (their consent is needed). */
  createConversation: reply('createConversation', { ...conversationReply, invited: z.optional(z.array(z.string())) }),
  addMembers: reply('addMembers', { ...conversationReply, invited: z.optional(z.array(z.string())) }),
  listConversations: reply('listConversations', { conversations: z.array(conversationSummarySchema), nextCursor: z.nullable(z.string()) }),
  send: reply('send', sendAckShape),
  history: reply('history', { conversationId: z.string(), messages: z.array(messageSchema), nextBeforeSeq: z.nullable(seq), expiredBefore: z.optional(seq) }),
  sync: reply('sync', { conversations: z.array(syncConversationSchema), nextFrom: z.nullable(z.string()), presence: z.array(presenceInfoSchema) }),
  heartbeat: reply('heartbeat', { serverTime: isoTime }),
  ack: reply('ack', receiptShape),
  typing: reply('typing', {}),
  presence: reply('presence', { users: z.array(presenceInfoSchema) }),
  removeMembers: reply('removeMembers', conversationReply),
  leave: reply('leave', conversationReply),
  setRole: reply('setRole', conversationReply),
  updateConversation: reply('updateConversation', conversationReply),
  block: reply('block', settingsReply),
  unblock: reply('unblock', settingsReply),
  getSettings: reply('getSettings', settingsReply),
  updateSettings: reply('updateSettings', settingsReply),
  listInvitations: reply('listInvitations', { invitations: z.array(invitationSchema) }),
  acceptInvitation: reply('acceptInvitation', conversationReply),
  declineInvitation: reply('declineInvitation', {}),
  edit: reply('edit', eventAckShape),
  deleteMessage: reply('deleteMessage', eventAckShape),
  react: reply('react', eventAckShape),
  unreact: reply('unreact', eventAckShape),
} satisfies Record<ActionName, z.core.SomeType>;

/** Error codes the server puts in `{"type":"error"}` frames (PROTOCOL.md, Errors). */
export const errorCodeSchema = z.enum([
  'invalid_json',
  'unknown_action',
  'bad_request',
  'payload_too_large',
  'forbidden',
  'not_found',
  'limit_exceeded',
  'rate_limited',
  'unavailable',
  'internal',
  'token_expired',
]);

/** An error frame: the reply to a rejected request (with its `requestId` when readable), or `token_expired`. */
export const errorFrameSchema = z.strictObject({
  type: z.literal('error'),
  requestId: z.optional(requestId),
  code: errorCodeSchema,
  message: z.string(),
  /** `rate_limited`: when to try again. */
  retryAfterMs: z.optional(z.int().check(z.gte(0))),
});

/** Every pushed event (no `requestId`), by type. */
export const eventSchemas = {
  message: z.strictObject({ type: z.literal('message'), message: messageSchema }),
  conversation: z.strictObject({ type: z.literal('conversation'), conversation: conversationSchema }),
  receipt: z.strictObject({ type: z.literal('receipt'), ...receiptShape }),
  presence: z.strictObject({ type: z.literal('presence'), users: z.array(presenceInfoSchema) }),
  typing: z.strictObject({ type: z.literal('typing'), conversationId: z.string(), userId: z.string(), state: z.enum(['start', 'stop']) }),
} satisfies Record<EventType, z.core.SomeType>;

// --- types inferred from the schemas (the SDK imports these with `import type`) --------------------------------

/** The kinds of timeline items: chat messages and the events that change a conversation or a message. */
export type TimelineKind = z.infer<typeof timelineKind>;
/** A member's role in a group; direct conversations have none. */
export type Role = z.infer<typeof role>;
/** Who may add a user to a group directly; others create an invitation. */
export type GroupAddSetting = z.infer<typeof groupAdd>;
/** An aggregated reaction on a message. */
export type ReactionCount = z.infer<typeof reactionCount>;
/** A timeline item (see `messageSchema`). */
export type Message = z.infer<typeof messageSchema>;
/** A 1:1 (`direct`) or `group` conversation. */
export type Conversation = z.infer<typeof conversationSchema>;
/** A row of `listConversations`. */
export type ConversationSummary = z.infer<typeof conversationSummarySchema>;
/** One member's receipt cursors in one conversation. */
export type Receipt = z.infer<typeof receiptSchema>;
/** Presence of one user. */
export type PresenceInfo = z.infer<typeof presenceInfoSchema>;
/** What the client holds for one conversation, sent in `sync`. */
export type SyncCursor = z.infer<typeof syncCursorSchema>;
/** One conversation in a `sync` reply. */
export type SyncConversation = z.infer<typeof syncConversationSchema>;
/** A user's own settings and block list. */
export type UserSettings = z.infer<typeof userSettingsSchema>;
/** A pending invitation to a group. */
export type Invitation = z.infer<typeof invitationSchema>;
/** The server's reply to `send`, sent only after the message is stored. */
export type SendAck = ReplyMap['send'];
/** The reply to `edit`, `deleteMessage`, `react` and `unreact`. */
export type EventAck = ReplyMap['edit'];
/** Error codes of `{"type":"error"}` frames. */
export type ServerErrorCode = z.infer<typeof errorCodeSchema>;
/** An error frame. */
export type ErrorFrame = z.infer<typeof errorFrameSchema>;
/** A typing indicator pushed by another member. */
export type TypingEvent = Omit<z.infer<(typeof eventSchemas)['typing']>, 'type'>;
/** Events pushed to connections (no `requestId`). */
export type ServerEvent = { [T in EventType]: z.infer<(typeof eventSchemas)[T]> }[EventType];
/** Reply payloads by action (without `type` and `requestId`). */
export type ReplyMap = { [A in ActionName]: Omit<z.infer<(typeof replySchemas)[A]>, 'type' | 'requestId'> };
/** The `hello` reply: protocol version and the limits the client must respect. */
export type HelloReply = ReplyMap['hello'];
