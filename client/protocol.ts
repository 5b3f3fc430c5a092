/**
 * Wire types of the Parley protocol (PROTOCOL.md). Kept free of runtime code so the SDK can be bundled
 * for browsers and React Native without pulling in server modules.
 */

/** The kinds of timeline items: chat messages and the events that change a conversation or a message. */
export type TimelineKind =
  | 'message'
  | 'member_added'
  | 'member_removed'
  | 'member_left'
  | 'role_changed'
  | 'title_changed'
  | 'edit'
  | 'delete'
  | 'reaction'
  | 'retention_changed';

/** A member's role in a group; direct conversations have none. */
export type Role = 'owner' | 'admin' | 'member';

/** An aggregated reaction on a message. */
export interface ReactionCount {
  emoji: string;
  count: number;
}

/**
 * A timeline item; `seq` is 1, 2, 3, … per conversation with no gaps. `senderId` is the actor. Chat messages
 * (`kind` `message`, or no `kind` on items stored before timeline events existed) carry `body` and
 * `clientMessageId`; the other kinds carry their own fields (PROTOCOL.md, Timeline events).
 */
export interface Message {
  conversationId: string;
  seq: number;
  senderId: string;
  clientMessageId: string;
  body: string;
  createdAt: string;
  kind?: TimelineKind;
  /** `message`: when the body was last edited. */
  editedAt?: string;
  /** `message`: deleted; the body is gone (empty string). */
  deleted?: boolean;
  /** `message`: aggregated reactions. */
  reactions?: ReactionCount[];
  /** Membership events: the users added, removed or whose role changed. */
  userIds?: string[];
  /** `role_changed`: the new role. */
  role?: Role;
  /** `title_changed`: the new title. */
  title?: string;
  /** `retention_changed`: the group's retention in days, or null for the deployment's default. */
  retentionDays?: number | null;
  /** `message`: the sender's messages were erased; the body is gone (empty string). */
  erased?: boolean;
  /** `edit`, `delete`, `reaction`: the seq of the message they apply to. */
  targetSeq?: number;
  /** `reaction`: the emoji. */
  emoji?: string;
  /** `reaction`: added or removed. */
  op?: 'add' | 'remove';
  /** The epoch of the conversation this seq belongs to (see `Conversation.epoch`). */
  epoch?: string;
}

/** A 1:1 (`direct`) or `group` conversation. */
export interface Conversation {
  conversationId: string;
  kind: 'direct' | 'group';
  title: string | null;
  members: string[];
  createdBy?: string;
  createdAt?: string;
  lastSeq: number;
  /** Groups: every member's role. */
  roles?: Record<string, Role>;
  /** Seq of the last membership event (0 when none). */
  membershipSeq?: number;
  /** This incarnation of the conversation; a cursor is only valid within its epoch. */
  epoch?: string | null;
  /** Groups: how many days messages stay readable, when an owner set it (else the deployment's default applies). */
  retentionDays?: number;
}

/** A row of `listConversations`: a conversation with the caller's receipt cursors and unread count. */
export interface ConversationSummary extends Conversation {
  lastMessageAt: string | null;
  lastDeliveredSeq: number;
  lastReadSeq: number;
  unread: number;
}

/** One member's receipt cursors in one conversation. */
export interface Receipt {
  conversationId: string;
  userId: string;
  lastDeliveredSeq: number;
  lastReadSeq: number;
}

/** Presence of one user; `unknown` for users who share no conversation with the caller. */
export interface PresenceInfo {
  userId: string;
  status: 'online' | 'offline' | 'unknown';
  lastSeenAt: string | null;
}

/** A typing indicator pushed by another member. */
export interface TypingEvent {
  conversationId: string;
  userId: string;
  state: 'start' | 'stop';
}

/** The server's reply to `send`, sent only after the message is stored. */
export interface SendAck {
  conversationId: string;
  clientMessageId: string;
  seq: number;
  createdAt: string;
  /** The conversation's epoch the seq belongs to. */
  epoch?: string;
  duplicate: boolean;
}

/** Limits of the wire that clients must respect (PROTOCOL.md, Limits). */
export const wireLimits = {
  /** Largest request frame the server accepts (`payload_too_large` above), in UTF-8 bytes. */
  maxRequestBytes: 16 * 1024,
  /** Longest message body, in UTF-16 code units (`MAX_BODY_CHARS` may lower it, not raise it). */
  maxBodyChars: 8000,
  /** Cursors per `sync` request. */
  maxSyncCursors: 100,
} as const;

/** Error codes the server puts in `{"type":"error"}` frames. */
export type ServerErrorCode =
  | 'invalid_json'
  | 'unknown_action'
  | 'bad_request'
  | 'payload_too_large'
  | 'forbidden'
  | 'not_found'
  | 'limit_exceeded'
  | 'rate_limited'
  | 'unavailable'
  | 'internal'
  /** The connection's token expired; the server closes the connection right after this frame. */
  | 'token_expired';

/** What the client knows of one conversation, sent in `sync`: its highest contiguous seq and the epoch of it. */
export interface SyncCursor {
  seq: number;
  epoch: string | null;
}

/** One conversation in a `sync` reply. */
export interface SyncConversation {
  conversationId: string;
  epoch: string | null;
  lastSeq: number;
  /** Present when the client lacked it: no cursor, a reset, a limited backlog or changed members. */
  conversation?: Conversation;
  messages: Message[];
  /** More messages follow; the next page (`nextFrom`) starts with this conversation again. */
  hasMore: boolean;
  /** More than `limit` were missed: `messages` are the newest; older ones are read with `history`. */
  limited: boolean;
  /** The cursor was from another epoch or ahead of the conversation: drop what you hold for it. */
  reset: boolean;
  /** Every seq below this one expired (retention): never ask for them; absent when nothing below the cursor expired. */
  expiredBefore?: number;
  receipts?: Receipt[];
}

/** Request payloads by action (without `action` and `requestId`). */
export interface RequestMap {
  createConversation:
    | { kind: 'direct'; userId: string }
    | { kind: 'group'; title: string; members: string[]; clientRequestId?: string };
  addMembers: { conversationId: string; members: string[] };
  listConversations: { limit?: number; cursor?: string | null };
  send: { conversationId: string; clientMessageId: string; body: string };
  history: { conversationId: string; beforeSeq?: number; limit?: number };
  sync: { from?: string; through?: string; cursors: Record<string, SyncCursor>; limit?: number };
  heartbeat: Record<string, never>;
  ack: { conversationId: string; kind: 'delivered' | 'read'; seq: number };
  typing: { conversationId: string; state: 'start' | 'stop' };
  presence: { userIds: string[] };
  removeMembers: { conversationId: string; members: string[] };
  leave: { conversationId: string };
  setRole: { conversationId: string; userId: string; role: Role };
  updateConversation: { conversationId: string; title?: string; retentionDays?: number | null };
  block: { userId: string };
  unblock: { userId: string };
  getSettings: Record<string, never>;
  updateSettings: { groupAdd?: GroupAddSetting };
  listInvitations: Record<string, never>;
  acceptInvitation: { conversationId: string };
  declineInvitation: { conversationId: string };
  edit: { conversationId: string; seq: number; clientMessageId: string; body: string };
  deleteMessage: { conversationId: string; seq: number; clientMessageId: string };
  react: { conversationId: string; seq: number; clientMessageId: string; emoji: string };
  unreact: { conversationId: string; seq: number; clientMessageId: string; emoji: string };
}

/** Who may add a user to a group directly; others create an invitation. */
export type GroupAddSetting = 'anyone' | 'contacts';

/** A user's own settings and block list. */
export interface UserSettings {
  groupAdd: GroupAddSetting;
  blocked: string[];
}

/** A pending invitation to a group, as the invited user sees it. */
export interface Invitation {
  conversationId: string;
  title: string;
  invitedBy: string;
  createdAt: string;
}

/**
 * The reply to `edit`, `deleteMessage`, `react` and `unreact`: the seq of the event stored, or `null` (with
 * `unchanged: true`) when the request changed nothing (a second `react` with the same emoji, say).
 */
export interface EventAck {
  conversationId: string;
  clientMessageId: string;
  seq: number | null;
  createdAt: string;
  duplicate: boolean;
  unchanged?: boolean;
}

/** Reply frames by action (without `type` and `requestId`). */
export interface ReplyMap {
  createConversation: { conversation: Conversation };
  /** `invited`: users who were not added but invited (their consent is needed); see PROTOCOL.md. */
  addMembers: { conversation: Conversation; invited?: string[] };
  listConversations: { conversations: ConversationSummary[]; nextCursor: string | null };
  send: SendAck;
  history: { conversationId: string; messages: Message[]; nextBeforeSeq: number | null; expiredBefore?: number };
  sync: {
    conversations: SyncConversation[];
    nextFrom: string | null;
    presence?: PresenceInfo[];
  };
  heartbeat: { serverTime: string };
  ack: Receipt;
  typing: Record<string, never>;
  presence: { users: PresenceInfo[] };
  removeMembers: { conversation: Conversation };
  leave: { conversation: Conversation };
  setRole: { conversation: Conversation };
  updateConversation: { conversation: Conversation };
  block: { settings: UserSettings };
  unblock: { settings: UserSettings };
  getSettings: { settings: UserSettings };
  updateSettings: { settings: UserSettings };
  listInvitations: { invitations: Invitation[] };
  acceptInvitation: { conversation: Conversation };
  declineInvitation: Record<string, never>;
  edit: EventAck;
  deleteMessage: EventAck;
  react: EventAck;
  unreact: EventAck;
}

/** A client action name. */
export type Action = keyof RequestMap;

/** The `type` of the successful reply to each action. */
export const replyTypes: { readonly [A in Action]: string } = {
  createConversation: 'conversation',
  addMembers: 'conversation',
  listConversations: 'conversations',
  send: 'ack',
  history: 'history',
  sync: 'sync',
  heartbeat: 'pong',
  ack: 'receipt',
  typing: 'ok',
  presence: 'presence',
  removeMembers: 'conversation',
  leave: 'conversation',
  setRole: 'conversation',
  updateConversation: 'conversation',
  block: 'settings',
  unblock: 'settings',
  getSettings: 'settings',
  updateSettings: 'settings',
  listInvitations: 'invitations',
  acceptInvitation: 'conversation',
  declineInvitation: 'ok',
  edit: 'ack',
  deleteMessage: 'ack',
  react: 'ack',
  unreact: 'ack',
};
