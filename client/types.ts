import type { BackoffOptions } from './backoff.js';
import type { ClientStorage } from './client-storage.js';
import type { Clock } from './clock.js';
import type { CursorStore } from './cursor-store.js';
import type { ParleyError } from './errors.js';
import {
  defaultClientLimits,
  fixedLimits,
  type ClientLimits,
  type Conversation,
  type Message,
  type PresenceInfo,
  type Receipt,
  type Role,
  type SendAck,
  type TypingEvent,
} from './protocol.js';
import type { WebSocketConstructor } from './websocket.js';

/** Where the connection is in its lifecycle. */
export type ConnectionState =
  /** `connect()` not called yet. */
  | 'idle'
  /** Fetching a token and opening the socket. */
  | 'connecting'
  /** Socket open; catching up with `sync`. Sends and requests already flow. */
  | 'syncing'
  /** Caught up; live pushes flow. */
  | 'online'
  /** Disconnected; the next attempt starts in `retryInMs`. */
  | 'waiting'
  /** `close()` was called; the client is finished. */
  | 'closed';

/** A connection state change. */
export interface ConnectionStatus {
  state: ConnectionState;
  /** Consecutive failed attempts since the last successful sync. */
  attempt: number;
  /** For `waiting`: the delay before the next attempt. */
  retryInMs?: number;
  /** For `waiting`: why the previous connection ended or failed. */
  reason?: string;
}

/** A message that was queued with `send` and is not acked yet. */
export interface OutgoingMessage {
  conversationId: string;
  clientMessageId: string;
  body: string;
  /** Resolves with the server's ack once stored; rejects only on a permanent error or `close()`. */
  acked: Promise<SendAck>;
}

/** A send the server refused permanently (for example `forbidden`); it will not be retried. */
export interface SendFailure {
  conversationId: string;
  clientMessageId: string;
  body: string;
  error: ParleyError;
}

/** Events emitted by `ParleyClient`. */
export interface ParleyClientEvents {
  /** The connection state changed. */
  status: ConnectionStatus;
  /** A message, delivered exactly once per conversation in `seq` order (including your own, once acked). */
  message: Message;
  /** A conversation was learned of or its title/members changed. */
  conversation: Conversation;
  /** A member's receipt cursors moved (yours included). */
  receipt: Receipt;
  /** A user's presence changed. */
  presence: PresenceInfo;
  /** A member started or stopped typing; a `start` not refreshed within `typingTimeoutMs` ends with a `stop`. */
  typing: TypingEvent;
  /** A queued message was stored by the server. */
  ack: SendAck;
  /** A queued message was refused permanently. */
  sendFailed: SendFailure;
  /** A catch-up `sync` finished. */
  synced: { messages: number; conversations: number };
  /**
   * Catch-up skipped older messages of a conversation (more were missed than `syncLimit`): seqs `fromSeq`–`toSeq`
   * were not emitted; read them with `history(conversationId, { beforeSeq: toSeq + 1 })` when the user scrolls back.
   */
  limited: { conversationId: string; fromSeq: number; toSeq: number };
  /**
   * The conversation was recreated under the same id (another epoch, e.g. a restored or wiped table): drop what
   * the app shows for it; its messages are emitted again from the new timeline.
   */
  reset: { conversationId: string };
  /**
   * Older messages of a conversation expired (its retention): every seq below `expiredBefore` is gone for good. Emitted
   * once per conversation; the client never asks for those seqs again (gap fills stop there).
   */
  expired: { conversationId: string; expiredBefore: number };
  /** A non-fatal problem: a failed token fetch, an unreadable frame, a failed gap fetch, … */
  error: Error;
  /** Every timeline event that is not a chat message (`kind` other than `message`), in seq order, once. */
  timelineEvent: Message;
  /**
   * An edit, delete or reaction changed a message: `message` is its current state when this client emitted it
   * before (`complete: true`; the latest 1,000 per conversation are kept), else only what the event says.
   * `mine` lists the emoji this user reacted with, as far as this client has seen.
   */
  messageUpdated: { message: Message; complete: boolean; mine: string[] };
  /** Members or roles of a group changed; `members` and `roles` are the state after the event. */
  membership: { conversationId: string; event: Message; members: string[]; roles: Record<string, Role> };
  /** You were removed from (or left) a group at `seq`: nothing after it will arrive. */
  removed: { conversationId: string; by: string; seq: number; left: boolean };
}

/** What a token provider returns: the JWT, optionally with the user id it belongs to. */
export type TokenResult = string | { token: string; userId?: string };

/** Called before every connection attempt, so an expired token is replaced on reconnect. */
export type TokenProvider = () => TokenResult | Promise<TokenResult>;

/** Options of `ParleyClient`. */
export interface ParleyClientOptions {
  /** WebSocket endpoint, e.g. `wss://abc.execute-api.eu-west-1.amazonaws.com/prod`. */
  url: string;
  /** Supplies a fresh token for each connection attempt. */
  token: TokenProvider;
  /** Your user id; lets the client show your own messages on ack without a round trip. Also learned from `token`. */
  userId?: string;
  /** WebSocket implementation; defaults to `globalThis.WebSocket` (pass `ws` in Node < 22). */
  WebSocket?: WebSocketConstructor;
  /** `query` (default) puts the token in `?token=`; `protocol` sends `Sec-WebSocket-Protocol: parley, <token>`. */
  tokenTransport?: 'query' | 'protocol';
  /** Query parameter name for the token (default `token`). */
  tokenParam?: string;
  /** Where cursors survive restarts (default: in `storage` when given, else memory only). */
  cursorStore?: CursorStore;
  /**
   * Durable client state: unsent messages (resent after a restart with the same `clientMessageId`) and cursors,
   * namespaced by `userId` (required with it). `MemoryStorage`, `IndexedDbStorage` (browsers) or
   * `AsyncStorageAdapter` (React Native).
   */
  storage?: ClientStorage;
  /** Reconnect backoff (full jitter); default base 500 ms, cap 30 s. */
  backoff?: Partial<BackoffOptions>;
  /** Heartbeat period (default 4 min; the protocol asks for at least one every 5 min). */
  heartbeatIntervalMs?: number;
  /** Default request timeout (default 10 s). */
  requestTimeoutMs?: number;
  /** Timeout for each `sync` page (default 30 s). */
  syncTimeoutMs?: number;
  /** Give up on a socket that has not opened after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Messages a conversation may have missed before `sync` returns only its newest ones (`limited`), 1–100 (default 50). */
  syncLimit?: number;
  /** Wait this long for a missing seq to arrive by push before fetching it (default 250 ms). */
  gapFillDelayMs?: number;
  /** Send `delivered` receipts automatically when messages are delivered (default true). */
  autoDeliveredReceipts?: boolean;
  /**
   * Only in conversations up to this many members (default 32, the server's `RECEIPT_PUSH_MAX_MEMBERS`): larger
   * groups get no receipt pushes, and an ack from every member for every message would double their traffic.
   */
  autoDeliveredMaxMembers?: number;
  /** Minimum spacing of repeated `typing: start` frames (default 3 s). */
  typingThrottleMs?: number;
  /** A remote `start` not refreshed within this long is reported as `stop` (default 8 s). */
  typingTimeoutMs?: number;
  /** Timers; inject a manual clock in tests. */
  clock?: Clock;
  /** Random source in [0, 1) for jitter and ids; inject for deterministic tests. */
  random?: () => number;
  /** Generates `clientMessageId`s (default: random 20 characters). */
  generateId?: () => string;
  /**
   * Reconnect with a fresh token this long before the current one expires (default 60 s; 0 turns it off), when the
   * token is a JWT whose `exp` the client can read. Either way a `token_expired` from the server reconnects at once.
   */
  tokenRefreshLeadMs?: number;
}

/** Per-request options of `ParleyClient.request`. */
export interface RequestOptions {
  timeoutMs?: number;
}

/** The options the modules read, with every default applied. */
export interface ResolvedOptions {
  heartbeatIntervalMs: number;
  requestTimeoutMs: number;
  syncTimeoutMs: number;
  connectTimeoutMs: number;
  syncLimit: number;
  gapFillDelayMs: number;
  autoDeliveredReceipts: boolean;
  /** Set by the user, else the server's `receiptPushMaxMembers` (see `limits`). */
  autoDeliveredMaxMembers: number | undefined;
  /** The server's limits from `hello`, updated in place; the protocol's defaults until the reply. */
  limits: ClientLimits;
  typingThrottleMs: number;
  typingTimeoutMs: number;
  tokenTransport: 'query' | 'protocol';
  tokenParam: string;
  tokenRefreshLeadMs: number;
}

/** How often the SDK heartbeats by default: well inside API Gateway's 10-minute idle timeout. */
export const defaultHeartbeatIntervalMs = 240_000;

/** Applies the documented defaults. */
export function resolveOptions(options: ParleyClientOptions): ResolvedOptions {
  return {
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? defaultHeartbeatIntervalMs,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    syncTimeoutMs: options.syncTimeoutMs ?? 30_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    syncLimit: Math.min(fixedLimits.maxPageLimit, Math.max(1, options.syncLimit ?? 50)),
    gapFillDelayMs: options.gapFillDelayMs ?? 250,
    autoDeliveredReceipts: options.autoDeliveredReceipts ?? true,
    autoDeliveredMaxMembers: options.autoDeliveredMaxMembers,
    limits: { ...defaultClientLimits },
    typingThrottleMs: options.typingThrottleMs ?? 3_000,
    typingTimeoutMs: options.typingTimeoutMs ?? 8_000,
    tokenTransport: options.tokenTransport ?? 'query',
    tokenParam: options.tokenParam ?? 'token',
    tokenRefreshLeadMs: options.tokenRefreshLeadMs ?? 60_000,
  };
}
