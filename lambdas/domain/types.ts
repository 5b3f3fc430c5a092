// The wire types are defined once, in the SDK's runtime-free protocol module.
export type { Message, Role, TimelineKind, ReactionCount, GroupAddSetting, Invitation, UserSettings } from '../../client/protocol.js';
import type { Message, Role } from '../../client/protocol.js';

/** `direct` has exactly two members and no title; `group` has a title and up to the configured size. */
export type ConversationKind = 'direct' | 'group';

/** A conversation as clients see it. */
export interface Conversation {
  conversationId: string;
  kind: ConversationKind;
  title: string | null;
  members: string[];
  createdBy: string;
  createdAt: string;
  lastSeq: number;
  lastMessageAt: string | null;
  /** Groups: every member's role (owner, admin or member). */
  roles?: Record<string, Role>;
  /** Seq of the last membership event (0 when none); equal on the conversation item and its head when both are read consistently. */
  membershipSeq?: number;
  /**
   * Direct conversations: the member who has not accepted it yet (was opened by the other and has not sent anything).
   * Server-side only, never sent to clients.
   */
  pending?: string[];
  /**
   * Identifies this incarnation of the conversation: set when its first timeline item is stored, so a conversation
   * recreated under the same id (a wiped or restored table) has another epoch and old cursors are recognised.
   */
  epoch: string | null;
  /** Groups: the owner-set retention in days (the deployment's default applies when absent); kept on the head item. */
  retentionDays?: number;
  /**
   * Server-side: the expiry (epoch seconds) of the newest timeline item. A new item never expires before it, so
   * expired items are always a prefix of the timeline (see retention.ts).
   */
  lastExpiresAt?: number;
}

/** The small per-conversation head item: the timeline's position, read in batches by sync. */
export interface ConversationHead {
  conversationId: string;
  lastSeq: number;
  lastMessageAt: string | null;
  epoch: string | null;
  /** Seq of the last membership change, when the timeline records one. */
  membershipSeq?: number;
  /** The group's own retention in days, when an owner set one. */
  retentionDays?: number;
}

/** One member's receipt cursors in one conversation. */
export interface MemberState {
  conversationId: string;
  userId: string;
  joinedAt: string;
  lastDeliveredSeq: number;
  lastReadSeq: number;
  /** In a direct conversation, the other member (so sync can report their presence without reading the conversation). */
  peerId?: string;
  /** Seq of the event that removed this member; they may read the timeline up to and including it. */
  removedAtSeq?: number;
  /** Groups: the member's role (also on the conversation item, which is the authority). */
  role?: Role;
  /** Direct conversations: the peer has not accepted the conversation yet, so the peer's presence stays hidden. */
  peerPending?: boolean;
}

/** What presence readers report; `unknown` hides strangers. */
export type PresenceStatus = 'online' | 'offline' | 'unknown';

/** A user's presence as clients see it. */
export interface UserPresence {
  userId: string;
  status: PresenceStatus;
  lastSeenAt: string | null;
}

/** Receipt cursors as pushed and returned to clients. */
export interface Receipt {
  conversationId: string;
  userId: string;
  lastDeliveredSeq: number;
  lastReadSeq: number;
}

/** Events pushed to connections (no requestId). */
export type ServerEvent =
  | { type: 'message'; message: Message }
  | { type: 'conversation'; conversation: Conversation }
  | ({ type: 'receipt' } & Receipt)
  | { type: 'presence'; users: UserPresence[] }
  | { type: 'typing'; conversationId: string; userId: string; state: 'start' | 'stop' };

/** A connection of a user, as a push target. */
export interface ConnectionRef {
  userId: string;
  connectionId: string;
}

/** The identity and connection a request arrived on; the user comes from the authorizer only. */
export interface Caller {
  userId: string;
  connectionId: string;
  /** The connection's token `exp` (epoch seconds), from the authorizer; absent on connections authorized before it was passed. */
  tokenExpiresAt?: number;
}

/** Work for the fanout worker, carried in SQS message bodies. */
export type FanoutJob =
  | {
      kind: 'deliver';
      event: ServerEvent;
      /** Users whose live connections receive the event (at most one chunk). */
      recipients?: string[];
      /** Exact connections, used for retries of failed pushes. */
      targets?: ConnectionRef[];
      /** The connection that caused the event, which learns of it through its reply instead. */
      excludeConnectionId?: string;
      /**
       * For events of one conversation: its membershipSeq when the recipients were computed. The worker drops
       * recipients removed since (a timeline event reaches them only up to their removal seq).
       */
      scope?: { conversationId: string; membershipSeq: number; seq?: number };
      attempt: number;
    }
  | { kind: 'presence'; userId: string; status: 'online' | 'offline'; lastSeenAt: string | null }
  /** Closes a connection when its token's session ends (`endsAt`, epoch seconds); re-queued until then. */
  | { kind: 'expire'; userId: string; connectionId: string; endsAt: number; attempt: number };
