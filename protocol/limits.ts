/**
 * The wire protocol's limits, defined once. Runtime-free of zod so the SDK can import the defaults without
 * pulling in the schemas; the server's configuration (lambdas/shared/config.ts) starts from these defaults.
 */

/** Version of the wire protocol, reported by `hello`; bumped on incompatible changes. */
export const protocolVersion = 1;

/** User ids as identity providers issue them (Cognito uuids, `auth0|...`, emails). */
export const userIdPattern = /^[\w.@:|+=-]{1,128}$/;

/** Conversation ids the server issues: `dm_…` or `grp_…`. */
export const conversationIdPattern = /^(dm|grp)_[A-Za-z0-9-]{1,64}$/;

/** Limits a deployment may configure that clients must respect or may want to know; keys are the env var names in camelCase. */
export interface ConfigurableWireLimits {
  /** Largest request frame the server accepts (`payload_too_large` above), in UTF-8 bytes. */
  maxFrameBytes: number;
  /** Longest message body, in UTF-16 code units. */
  maxBodyChars: number;
  /** Largest group, the creator included (`limit_exceeded` above). */
  maxGroupMembers: number;
  /** Users per `addMembers` and `removeMembers`. */
  maxMembersPerRequest: number;
  /** Receipts are pushed in conversations up to this size; the SDK sends no automatic `delivered` acks in larger ones. */
  receiptPushMaxMembers: number;
  /** Presence events reach members of conversations up to this size (larger: the `presence` action). */
  presencePushMaxMembers: number;
  /** Sends per connection per second (token bucket refill) and burst. */
  sendRatePerSecond: number;
  sendBurst: number;
  /** Typing events per connection per second and burst. */
  typingRatePerSecond: number;
  typingBurst: number;
  /** Window of the per-user limits on expensive reads, and how many of each a user may make in one window. */
  userRateWindowSeconds: number;
  syncPerWindow: number;
  historyPerWindow: number;
  listConversationsPerWindow: number;
  presencePerWindow: number;
}

/** Defaults of the configurable limits (PROTOCOL.md, Limits). */
export const defaultWireLimits: ConfigurableWireLimits = {
  maxFrameBytes: 16 * 1024,
  maxBodyChars: 8000,
  maxGroupMembers: 256,
  maxMembersPerRequest: 50,
  receiptPushMaxMembers: 32,
  presencePushMaxMembers: 256,
  sendRatePerSecond: 10,
  sendBurst: 30,
  typingRatePerSecond: 2,
  typingBurst: 5,
  userRateWindowSeconds: 10,
  syncPerWindow: 300,
  historyPerWindow: 300,
  listConversationsPerWindow: 100,
  presencePerWindow: 100,
};

/** Limits fixed by the protocol itself (not configurable). Lengths are UTF-16 code units, as JavaScript's `length`. */
export const fixedLimits = {
  /** `requestId` length. */
  maxRequestIdChars: 128,
  /** `clientMessageId` and `clientRequestId` length. */
  maxClientIdChars: 64,
  /** Group `title` length. */
  maxTitleChars: 100,
  /** A reaction's `emoji` length. */
  maxEmojiChars: 16,
  /** A sync cursor's `epoch` length. */
  maxEpochChars: 32,
  /** A `listConversations` cursor's length. */
  maxPageTokenChars: 512,
  /** `limit` of `history`, `sync` and `listConversations`. */
  maxPageLimit: 100,
  /** Longest retention a deployment or a group may set, in days (100 years). */
  maxRetentionDays: 36_500,
  /** Users per `presence` request. */
  maxPresenceUsers: 100,
  /** Cursors per `sync` request (also the conversations one sync page examines). */
  maxSyncCursors: 100,
} as const;

/** What `hello` reports: the configured limits and the fixed ones a client needs. */
export type ClientLimits = ConfigurableWireLimits & Record<'maxSyncCursors' | 'maxPageLimit' | 'maxPresenceUsers', number>;

/** The limits a client assumes until the server's `hello` reply arrives. */
export const defaultClientLimits: ClientLimits = {
  ...defaultWireLimits,
  maxSyncCursors: fixedLimits.maxSyncCursors,
  maxPageLimit: fixedLimits.maxPageLimit,
  maxPresenceUsers: fixedLimits.maxPresenceUsers,
};

/** The client limits of a server configuration (what the server puts in its `hello` reply). */
export function clientLimitsOf(limits: ConfigurableWireLimits): ClientLimits {
  const picked = Object.fromEntries(Object.keys(defaultWireLimits).map((key) => [key, limits[key as keyof ConfigurableWireLimits]]));
  return {
    ...(picked as unknown as ConfigurableWireLimits),
    maxSyncCursors: fixedLimits.maxSyncCursors,
    maxPageLimit: fixedLimits.maxPageLimit,
    maxPresenceUsers: fixedLimits.maxPresenceUsers,
  };
}
