// The wire types are inferred from the protocol module's schemas (protocol/schemas.ts); the rest are domain-internal.
export type {
  Conversation,
  GroupAddSetting,
  Invitation,
  Message,
  ReactionCount,
  Receipt,
  Role,
  ServerEvent,
  TimelineKind,
  UserSettings,
} from '../../protocol/frames.js';
import type { PresenceInfo, Role, ServerEvent } from '../../protocol/frames.js';

/** `direct` has exactly two members and no title; `group` has a title and up to the configured size. */
export type ConversationKind = 'direct' | 'group';

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

/** A user's presence as clients see it; `unknown` hides strangers. */
export type UserPresence = PresenceInfo;

/** What presence readers report. */
export type PresenceStatus = UserPresence['status'];

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
  /** `server`: the request came from the app's backend through the server API (see `principal.ts`), not a WebSocket. */
  origin?: 'server';
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
       * The conversation whose members the recipients are (also given by `scope`): a group's connections are read
       * from its connection index, other recipients' from their presence items.
       */
      conversationId?: string;
      /**
       * For events of one conversation: its membershipSeq when the recipients were computed. The worker drops
       * recipients removed since (a timeline event reaches them only up to their removal seq).
       */
      scope?: { conversationId: string; membershipSeq: number; seq?: number };
      attempt: number;
    }
  | { kind: 'presence'; userId: string; status: 'online' | 'offline'; lastSeenAt: string | null }
  /** Closes a connection when its token's session ends (`endsAt`, epoch seconds); re-queued until then. */
  | { kind: 'expire'; userId: string; connectionId: string; endsAt: number; attempt: number }
  /** One page of a retention backfill (`retention-backfill.ts`); the next page is queued until the timeline is done. */
  | { kind: 'retention'; conversationId: string; retentionDays: number | null; afterSeq: number; floor: number };
