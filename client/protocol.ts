/**
 * Wire types of the Parley protocol (PROTOCOL.md). Kept free of runtime code so the SDK can be bundled
 * for browsers and React Native without pulling in server modules.
 */

/** A stored chat message; `seq` is 1, 2, 3, … per conversation with no gaps. */
export interface Message {
  conversationId: string;
  seq: number;
  senderId: string;
  clientMessageId: string;
  body: string;
  createdAt: string;
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
  /** This incarnation of the conversation; a cursor is only valid within its epoch. */
  epoch?: string | null;
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
}

/** Reply frames by action (without `type` and `requestId`). */
export interface ReplyMap {
  createConversation: { conversation: Conversation };
  addMembers: { conversation: Conversation };
  listConversations: { conversations: ConversationSummary[]; nextCursor: string | null };
  send: SendAck;
  history: { conversationId: string; messages: Message[]; nextBeforeSeq: number | null };
  sync: {
    conversations: SyncConversation[];
    nextFrom: string | null;
    presence?: PresenceInfo[];
  };
  heartbeat: { serverTime: string };
  ack: Receipt;
  typing: Record<string, never>;
  presence: { users: PresenceInfo[] };
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
};
