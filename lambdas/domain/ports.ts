import type { Conversation, ConversationHead, ConnectionRef, FanoutJob, MemberState, Message, UserPresence } from './types.js';

/** What `MessageStore.append` found when it tried to store a message as `expectedLastSeq + 1`. */
export type AppendResult =
  | { status: 'stored'; message: Message }
  | { status: 'duplicate'; seq: number; createdAt: string }
  /** Another message took that seq first; `lastSeq` is the conversation's current last seq. */
  | { status: 'conflict'; lastSeq: number; epoch: string | null };

/** A message to append, before it has a seq. */
export interface NewMessage {
  conversationId: string;
  senderId: string;
  clientMessageId: string;
  body: string;
  createdAt: string;
  /** The conversation's epoch: the head's, or a new one when this is the timeline's first item. */
  epoch: string;
}

/** Which memberships `listMemberships` returns. */
export interface MembershipPage {
  limit: number;
  from?: string;
  through?: string;
}

/** Conversations and their members. */
export interface ConversationStore {
  get(conversationId: string, consistent?: boolean): Promise<Conversation | undefined>;
  getMany(conversationIds: string[]): Promise<Map<string, Conversation>>;
  /** The member lists of conversations, without their seq state (cheaper than `getMany`). */
  membersOf(conversationIds: string[]): Promise<Map<string, string[]>>;
  /** Creates a direct conversation unless it exists; returns the stored one either way. */
  createDirect(conversation: Conversation): Promise<{ conversation: Conversation; created: boolean }>;
  /** Creates a group unless one with its id exists; returns the stored one either way. */
  createGroup(conversation: Conversation): Promise<{ conversation: Conversation; created: boolean }>;
  /**
   * Adds `userIds` (none of them members yet) if the caller is still a member and the conversation still has
   * `expectedSize` members; false when either changed concurrently.
   */
  addMembers(conversationId: string, callerId: string, userIds: string[], expectedSize: number, joinedAt: string): Promise<boolean>;
  /** The heads (lastSeq, epoch) of conversations; a conversation with no timeline item yet has none. */
  heads(conversationIds: string[]): Promise<Map<string, ConversationHead>>;
  /**
   * A user's memberships in conversation id order: at most `limit` with ids in [`from`, `through`] (both inclusive,
   * either open). `next` is the id of the first membership after the returned ones (also past `through`), or null.
   */
  listMemberships(userId: string, page: MembershipPage): Promise<{ items: MemberState[]; next: string | null }>;
  /** One member's receipt cursors, or undefined when not a member. */
  getMember(conversationId: string, userId: string): Promise<MemberState | undefined>;
  /** Every member's receipt cursors in a conversation. */
  listMemberStates(conversationId: string): Promise<MemberState[]>;
  /** Moves a receipt cursor forward; returns the new state, or undefined when it would not move. */
  advanceReceipt(conversationId: string, userId: string, kind: 'delivered' | 'read', seq: number): Promise<MemberState | undefined>;
}

/** Messages with gap-free seqs and idempotent appends. */
export interface MessageStore {
  /**
   * Atomically stores the message as `expectedLastSeq + 1`, advances the conversation's lastSeq and records the
   * idempotency key. The caller has checked membership.
   */
  append(message: NewMessage, expectedLastSeq: number, idempotencyTtlSeconds: number): Promise<AppendResult>;
  /** Up to `limit` messages with seq < `beforeSeq` (all when undefined), newest first. */
  before(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<Message[]>;
  /** Up to `limit` messages with seq > `afterSeq`, oldest first. */
  after(conversationId: string, afterSeq: number, limit: number): Promise<Message[]>;
}

/** Live connections per user, which is also their presence. */
export interface PresenceStore {
  /** Registers a connection; `cameOnline` is true when the user had no live connection before. */
  addConnection(ref: ConnectionRef, now: Date, ttlSeconds: number): Promise<{ cameOnline: boolean }>;
  /**
   * Removes a connection; `wentOffline` is true when it was the user's last live one. With `expiringBefore`, only
   * a connection whose expiry is earlier (registered or refreshed long enough ago) is removed.
   */
  removeConnection(ref: ConnectionRef, now: Date, options?: { expiringBefore?: Date }): Promise<{ wentOffline: boolean }>;
  /** Extends a connection's expiry; false when the connection is not registered. */
  refresh(ref: ConnectionRef, now: Date, ttlSeconds: number): Promise<boolean>;
  /** Every connection registered for a user, live or past its presence expiry (which may still be open). */
  registeredConnections(userId: string): Promise<string[]>;
  /** Live (unexpired) connections of the given users, read in batches. */
  connectionsOf(userIds: string[], now: Date): Promise<ConnectionRef[]>;
  /** Online/offline status of the given users. */
  presenceOf(userIds: string[], now: Date): Promise<UserPresence[]>;
}

/** The durable fanout queue. */
export interface FanoutQueue {
  enqueue(jobs: FanoutJob[], delaySeconds?: number): Promise<void>;
}

/** Outcome of one push to one connection. */
export type PushResult = 'ok' | 'gone' | 'failed';

/** Pushes frames to WebSocket connections (the API Gateway Management API). */
export interface ConnectionPusher {
  post(connectionId: string, data: string): Promise<PushResult>;
  /** Closes a connection (DeleteConnection); `gone` when it was already closed. */
  close(connectionId: string): Promise<PushResult>;
}

/** Counts a user's requests in fixed windows across all their connections and every Lambda container. */
export interface UserRateLimiter {
  /** Counts one request against `key`; 0 when it is within `limit` per `windowSeconds`, else ms until the window ends. */
  hit(key: string, limit: number, windowSeconds: number, now: Date): Promise<number>;
}
