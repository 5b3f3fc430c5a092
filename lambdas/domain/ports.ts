import type { MetricName } from '../../lib/telemetry.js';
import type { UndeliveredEntry } from './events.js';
import type {
  Conversation,
  ConversationHead,
  ConnectionRef,
  FanoutJob,
  GroupAddSetting,
  Invitation,
  MemberState,
  Message,
  Role,
  UserPresence,
} from './types.js';

/** What `MessageStore.append` found when it tried to store a message as `expectedLastSeq + 1`. */
export type AppendResult =
  | { status: 'stored'; message: Message; items?: Message[] }
  | { status: 'duplicate'; seq: number; createdAt: string }
  /**
   * Another item took that seq first (or the epoch differs); `lastSeq` and `epoch` are the conversation's current
   * ones and `membershipSeq` (when known) its last membership change: when that moved, the member set is stale.
   */
  | {
      status: 'conflict';
      lastSeq: number;
      epoch: string | null;
      membershipSeq?: number;
      /** The head's retention state when known, so a retrying sender computes its expiry from the current one. */
      retention?: { retentionDays?: number; lastExpiresAt?: number };
    };

/**
 * A send's claim on its idempotency key, written before it takes a seq, so concurrent retries of one message never
 * store it twice. `seq` is set only when the key was recorded in the same transaction as the item (events, and the
 * first message of a direct conversation's recipient); a plain send's message is found from `afterSeq` instead.
 */
export interface SendClaim {
  /** When the attempt holding it claimed it (ms since the epoch): older than the grace, that attempt is dead. */
  claimedAt: number;
  /** A random id of the attempt, so an SDK retry of the claim's own lost response recognises it as its own. */
  owner?: string;
  /** The conversation's lastSeq when the attempt claimed: its message, once stored, has a higher seq. */
  afterSeq: number;
  seq?: number;
  createdAt?: string;
}

/** What a claim found: the key was free (now held by the caller), or another attempt holds or held it. */
export type ClaimResult = { status: 'claimed' } | { status: 'held'; claim: SendClaim };

/** The head state a seq allocation is conditioned on: the snapshot the sender checked its membership against. */
export interface AllocationGuard {
  /** The head's epoch, or a new one when the timeline has no item yet. */
  epoch: string;
  membershipSeq: number;
  /** The group's own retention in the snapshot (undefined: none). */
  retentionDays?: number;
}

/** The result of taking the next seq from the head's counter. */
export type Allocation =
  | { status: 'allocated'; seq: number; epoch: string }
  /** The head moved past the snapshot (membership, retention or epoch): re-read and re-check before sending. */
  | { status: 'stale' };

/** A timeline item as reads return it: the wire item plus its TTL expiry (epoch seconds), which never goes on the wire. */
export type TimelineItem = Message & { expiresAt?: number };

/** A timeline item as stored: a chat message also remembers the seqs of its edits (their bodies go when it is deleted). */
export type StoredMessage = TimelineItem & { editSeqs?: number[] };

/** A timeline item to append, before it has a seq. */
export type NewTimelineItem = Omit<Message, 'seq'>;

/**
 * A change of state that a timeline event records, written in the same transaction as the event. Values are
 * final: the domain computed them from a consistent read, and the head's lastSeq condition (or, for an event on one
 * message, its `expectStateSeq`) guarantees nothing they depend on changed since.
 */
export type StateWrite =
  | {
      type: 'conversation';
      conversationId: string;
      addMembers?: string[];
      removeMembers?: string[];
      /** The whole role map after the change. */
      roles?: Record<string, Role>;
      title?: string;
      /** The user accepted a direct conversation (no longer pending). */
      accepted?: string;
    }
  | {
      type: 'member';
      conversationId: string;
      userId: string;
      /** (Re-)join: sets joinedAt and role, keeps receipt cursors, clears removedAtSeq. */
      join?: { joinedAt: string; role: Role };
      removedAtSeq?: number;
      role?: Role;
      /** The peer of a direct conversation accepted it. */
      peerAccepted?: boolean;
    }
  | {
      type: 'message';
      conversationId: string;
      seq: number;
      set?: Record<string, unknown>;
      remove?: string[];
      /** Only while the message's `stateSeq` is still this (null: it has none): the state the event was planned on. */
      expectStateSeq?: number | null;
    }
  | { type: 'userItem'; userId: string; item: string; put?: Record<string, unknown>; delete?: boolean };

/** One append to a conversation's timeline: consecutive seqs from `expectedLastSeq + 1`, with what they record. */
export interface TimelineAppend {
  conversationId: string;
  items: NewTimelineItem[];
  expectedLastSeq: number;
  /** The conversation's epoch: the head's, or a new one when this is the timeline's first item. */
  epoch: string;
  idempotencyKey?: string;
  idempotencyTtlSeconds: number;
  /** The items change membership or roles: head and conversation item get membershipSeq = the last item's seq. */
  membershipChange?: boolean;
  writes?: StateWrite[];
  /** TTL of every item of the append (epoch seconds), also kept on the head as its `lastExpiresAt`; none: kept forever. */
  expiresAt?: number;
  /** A new group retention for the head: days, or null to fall back to the deployment's default. */
  retentionDays?: number | null;
  /**
   * The one item's seq (`expectedLastSeq + 1`) was taken with `allocate`: the head is left alone, and a taken seq or a
   * failed `expectStateSeq` is a `conflict` (the caller fills the seq and re-plans).
   */
  allocated?: boolean;
}
/** A message to append, before it has a seq. */
export interface NewMessage {
  conversationId: string;
  senderId: string;
  clientMessageId: string;
  body: string;
  createdAt: string;
  /** The conversation's epoch: the head's, or a new one when this is the timeline's first item. */
  epoch: string;
  /** TTL (epoch seconds) when a retention applies. */
  expiresAt?: number;
}

/** How erasure rewrites one of a sender's timeline items. */
export interface ItemScrub {
  set?: Record<string, unknown>;
  remove?: string[];
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
  /** Members and the members who have not accepted (direct conversations opened by the other), without seq state. */
  audienceOf(conversationIds: string[]): Promise<Map<string, { members: string[]; pending: string[] }>>;
  /** Creates a direct conversation unless it exists; returns the stored one either way. */
  createDirect(conversation: Conversation): Promise<{ conversation: Conversation; created: boolean }>;
  /** Creates a group unless one with its id exists; returns the stored one either way. */
  createGroup(conversation: Conversation): Promise<{ conversation: Conversation; created: boolean }>;
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
  /**
   * The general form of `append`, for every kind of timeline item: stores `items` at `expectedLastSeq + 1, …`,
   * advances lastSeq (and membershipSeq), claims the idempotency key and applies `writes`, all in one transaction.
   */
  appendTimeline(request: TimelineAppend): Promise<AppendResult>;
  /**
   * Claims a send's idempotency key (kept `ttlSeconds`) unless an attempt holds or held it. One write; the key is
   * the `idempotencyKey` of the send.
   */
  claim(key: string, claim: SendClaim, ttlSeconds: number): Promise<ClaimResult>;
  /** Takes over a dead attempt's claim: true when it still was `previous` (and no seq was recorded on it). */
  takeOver(key: string, previous: SendClaim, next: SendClaim): Promise<boolean>;
  /** Releases the caller's claim (the send was refused before it took a seq). */
  release(key: string, claim: SendClaim): Promise<void>;
  /**
   * Takes the next seq from the head's counter (creating the head for a new timeline) and records `at` as
   * lastMessageAt and `expiresAt` as lastExpiresAt, unless the head no longer matches `guard`. One write, which
   * never conflicts with other senders; the caller then stores its item with `putAt`.
   */
  allocate(conversationId: string, guard: AllocationGuard, at: string, expiresAt?: number): Promise<Allocation>;
  /**
   * Stores an item at the seq it was allocated; `taken` when that seq holds another item (a placeholder). The same
   * sender's item with the same clientMessageId already there (an SDK retry of a put whose response was lost) is
   * `stored`.
   */
  putAt(item: TimelineItem): Promise<'stored' | 'taken'>;
  /**
   * Stores `placeholder` at its seq unless an item is there; returns what the seq holds afterwards (the placeholder,
   * or the item that won the race).
   */
  fillHole(placeholder: TimelineItem): Promise<TimelineItem>;
  /**
   * The chat message a sender stored with `clientMessageId` at a seq above `afterSeq`, reading in seq order at most
   * `maxItems` items of the partition and stopping at the first item created after `createdBefore` (when given).
   */
  findSent(
    conversationId: string,
    senderId: string,
    clientMessageId: string,
    afterSeq: number,
    bound: { maxItems: number; createdBefore?: string },
  ): Promise<TimelineItem | undefined>;
  /** What an idempotency key was first stored as, if it was. */
  idempotent(key: string): Promise<{ seq: number; createdAt: string } | undefined>;
  /** The claim on an idempotency key, read consistently, if there is one. */
  claimOf(key: string): Promise<SendClaim | undefined>;
  /** One timeline item, read consistently, with its server-side bookkeeping. */
  get(conversationId: string, seq: number): Promise<StoredMessage | undefined>;
  /**
   * Chat messages with seq in (`afterSeq`, `throughSeq`] not sent by `excludeSenderId`, counting at most `cap` items
   * of the range (one Query, filtered server-side).
   */
  countUnread(conversationId: string, afterSeq: number, throughSeq: number, excludeSenderId: string, cap: number): Promise<number>;
  /** Up to `limit` items with seq < `beforeSeq` (all when undefined), newest first, expired ones included. */
  before(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<TimelineItem[]>;
  /** Up to `limit` items with seq > `afterSeq`, oldest first, expired ones included. */
  after(conversationId: string, afterSeq: number, limit: number): Promise<TimelineItem[]>;
  /**
   * Every timeline item `senderId` stored in a conversation, in seq order (one Query of the partition, filtered by
   * sender server-side: it reads the whole partition).
   */
  itemsBySender(conversationId: string, senderId: string): Promise<StoredMessage[]>;
  /** Rewrites one of the sender's items for erasure; false when it is gone (expired) or not the sender's. */
  scrub(conversationId: string, seq: number, senderId: string, change: ItemScrub): Promise<boolean>;
  /** Sets one timeline item's TTL (undefined: removes it, kept forever); false when the item is gone. */
  setExpiry(conversationId: string, seq: number, expiresAt: number | undefined): Promise<boolean>;
  /**
   * Sets the head's `lastExpiresAt`, the TTL no later item may expire before (undefined: removes it), if the timeline
   * still ends at `lastSeq`; false when it grew since.
   */
  settleExpiry(conversationId: string, lastSeq: number, lastExpiresAt: number | undefined): Promise<boolean>;
}

/** The Parquet archive of timeline items (S3, or a local folder), partitioned `conversation=<id>/date=<yyyy-mm-dd>/`. */
export interface ArchiveStore {
  /** Writes rows as one Parquet object; the same key again replaces it (retried batches are idempotent). */
  writeRows(key: string, rows: ArchiveRow[]): Promise<void>;
  /** Keys of the objects under a prefix. */
  list(prefix: string): Promise<string[]>;
  readRows(key: string): Promise<ArchiveRow[]>;
}

/** One archived version of a timeline item (an insert or an update of it), as a Parquet row. */
export interface ArchiveRow {
  conversation_id: string;
  seq: number;
  epoch: string | null;
  kind: string;
  sender_id: string;
  client_message_id: string;
  body: string;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  erased: boolean;
  target_seq: number | null;
  emoji: string | null;
  op: string | null;
  /** JSON array of user ids (membership events). */
  user_ids: string | null;
  role: string | null;
  title: string | null;
  retention_days: number | null;
  expires_at: number | null;
  /** INSERT or MODIFY: which change of the item this row records. */
  change: string;
  /** When the change was stored (the stream record's time). */
  changed_at: string;
}

/** Per-user data: settings, blocks, invitations and reaction markers (the `users` table). */
export interface UserStore {
  settingsOf(userId: string): Promise<{ groupAdd: GroupAddSetting }>;
  /** The group-add setting of each of `userIds` (one batched read; `anyone` when never set). */
  groupAddOf(userIds: string[]): Promise<Map<string, GroupAddSetting>>;
  updateSettings(userId: string, settings: { groupAdd: GroupAddSetting }): Promise<void>;
  block(userId: string, blockedUserId: string, at: string): Promise<void>;
  unblock(userId: string, blockedUserId: string): Promise<void>;
  /** The users `userId` blocked (at most `limit`). */
  blockedBy(userId: string, limit: number): Promise<string[]>;
  /** Which of `blockers` blocked `userId` (one batched read). */
  whoBlocked(blockers: string[], userId: string): Promise<Set<string>>;
  invitationsOf(userId: string, limit: number): Promise<Invitation[]>;
  invitation(userId: string, conversationId: string): Promise<Invitation | undefined>;
  putInvitation(userId: string, invitation: Invitation): Promise<void>;
  deleteInvitation(userId: string, conversationId: string): Promise<void>;
  /** Whether an item of the user's partition exists (reaction markers). */
  hasItem(userId: string, item: string): Promise<boolean>;
  /** Bans a user deployment-wide (replacing an earlier ban of them). */
  ban(userId: string, ban: Ban): Promise<void>;
  /** Lifts a ban; lifting none changes nothing. */
  unban(userId: string): Promise<void>;
  /** The user's ban, read consistently, if they are banned. */
  banOf(userId: string): Promise<Ban | undefined>;
  /** Records that the user's messages were erased at `at` (the archive consumer drops bodies of their older items). */
  markErased(userId: string, at: string): Promise<void>;
  /** When each of these users was erased, if they were (one batched read). */
  erasedAt(userIds: string[]): Promise<Map<string, string>>;
}

/** A deployment-wide ban, set through the server API. */
export interface Ban {
  bannedAt: string;
  reason?: string;
}

/** A connection in one group's connection index. */
export interface GroupConnection {
  conversationId: string;
  ref: ConnectionRef;
}

/** Live connections per user, which is also their presence, and per group (the groups' connection indexes). */
export interface PresenceStore {
  /**
   * Registers a connection; `cameOnline` is true when the user had no live connection before. `recentGroups` are the
   * groups `noteJoined` recorded for the user within the last `groupJoinNoticeSeconds`, read atomically with the
   * registration (notes older than that are pruned).
   */
  addConnection(ref: ConnectionRef, now: Date, ttlSeconds: number): Promise<{ cameOnline: boolean; recentGroups: string[] }>;
  /**
   * Removes a connection; `removed` is true when it was registered and is no longer, `wentOffline` when it was the
   * user's last live one. With `expiringBefore`, only a connection whose expiry is earlier (registered or refreshed
   * long enough ago) is removed.
   */
  removeConnection(ref: ConnectionRef, now: Date, options?: { expiringBefore?: Date }): Promise<{ removed: boolean; wentOffline: boolean }>;
  /**
   * Records on each user's presence item that they are joining a group, and returns their live connections read in
   * the same single-item write: a connection registered at the same time either is returned here or gets the group
   * in its `recentGroups`.
   */
  noteJoined(userIds: string[], conversationId: string, now: Date): Promise<ConnectionRef[]>;
  /** Puts connections into groups' connection indexes until `expiresAt` (epoch seconds); idempotent. */
  indexConnections(entries: GroupConnection[], expiresAt: number): Promise<void>;
  /** Deletes connections from groups' connection indexes; deleting one that is not there is fine. */
  unindexConnections(entries: GroupConnection[]): Promise<void>;
  /**
   * The unexpired connections in one group's connection index of users from `fromUserId` through `toUserId`
   * (inclusive, in user id order), read consistently.
   */
  groupConnections(conversationId: string, fromUserId: string, toUserId: string, now: Date): Promise<ConnectionRef[]>;
  /** Extends a connection's expiry; false when the connection is not registered. */
  refresh(ref: ConnectionRef, now: Date, ttlSeconds: number): Promise<boolean>;
  /** Every connection registered for a user, live or past its presence expiry (which may still be open). */
  registeredConnections(userId: string): Promise<string[]>;
  /** Live (unexpired) connections of the given users, read in batches. */
  connectionsOf(userIds: string[], now: Date): Promise<ConnectionRef[]>;
  /** Online/offline status of the given users. */
  presenceOf(userIds: string[], now: Date): Promise<UserPresence[]>;
}

/** Where the fanout records recipients it found offline (the `undelivered` table, whose stream becomes events). */
export interface UndeliveredLog {
  /** Stores the entry (idempotent on its deliveryId) for `ttlSeconds`. */
  record(entry: UndeliveredEntry, ttlSeconds: number): Promise<void>;
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

/** Attributes of a log entry; an `error` attribute is serialized with its name, message and stack. */
export type LogAttributes = Record<string, unknown>;

/** Structured logging (Powertools Logger in Lambda; silent or capturing in tests). */
export interface Log {
  debug(message: string, attributes?: LogAttributes): void;
  info(message: string, attributes?: LogAttributes): void;
  warn(message: string, attributes?: LogAttributes): void;
  error(message: string, attributes?: LogAttributes): void;
}

/** Parley's metrics (names, units and meaning in lib/telemetry.ts), flushed once per invocation. */
export interface Metrics {
  /** Records one value of `metric`: a count (default 1) or a duration in milliseconds. */
  add(metric: MetricName, value?: number): void;
}
