import { backoffDelay, defaultBackoff, type BackoffOptions } from './backoff.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { MemoryCursorStore, type CursorStore, type Cursors } from './cursor-store.js';
import { Emitter, type Unsubscribe } from './emitter.js';
import { ParleyError, type ParleyErrorCode } from './errors.js';
import {
  replyTypes,
  type Action,
  type Conversation,
  type ConversationSummary,
  type EventAck,
  type GroupAddSetting,
  type Invitation,
  type Role,
  type UserSettings,
  type Message,
  type PresenceInfo,
  type Receipt,
  type ReplyMap,
  type RequestMap,
  type SendAck,
  type SyncConversation,
  type TypingEvent,
  wireLimits,
} from './protocol.js';
import { SeqBuffer } from './seq-buffer.js';
import { tokenExpiry } from './token.js';
import {
  frameText,
  type CloseEventLike,
  type MessageEventLike,
  type WebSocketConstructor,
  type WebSocketLike,
} from './websocket.js';

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

/** Chat messages per conversation whose state the client keeps to apply edits, deletes and reactions. */
const rememberedMessages = 1000;

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
  /** Where cursors survive restarts (default: memory only). */
  cursorStore?: CursorStore;
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

interface RequestOptions {
  timeoutMs?: number;
}

interface PendingRequest {
  requestId: string;
  action: Action;
  frame: string;
  timer: TimerHandle;
  resolve: (reply: unknown) => void;
  reject: (error: ParleyError) => void;
  /** Queued until a socket opens (true) or failed at once when offline (false). */
  queueWhileOffline: boolean;
  sent: boolean;
}

interface OutboxEntry {
  conversationId: string;
  clientMessageId: string;
  body: string;
  attempts: number;
  inFlight: boolean;
  notBefore: number;
  acked: Promise<SendAck>;
  resolve: (ack: SendAck) => void;
  reject: (error: ParleyError) => void;
}

const maxBodyLength = wireLimits.maxBodyChars;
const maxClientMessageIdLength = 64;
const historyPage = 100;

/**
 * A Parley chat client: one WebSocket with reconnects, heartbeats, an outbox that resends until acked, and
 * per-conversation delivery strictly in `seq` order, exactly once, resumed from cursors with `sync`.
 */
export class ParleyClient {
  private readonly events: Emitter<ParleyClientEvents>;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoff: BackoffOptions;
  private readonly cursorStore: CursorStore;
  private readonly opts: Required<
    Pick<
      ParleyClientOptions,
      | 'heartbeatIntervalMs'
      | 'requestTimeoutMs'
      | 'syncTimeoutMs'
      | 'connectTimeoutMs'
      | 'syncLimit'
      | 'gapFillDelayMs'
      | 'autoDeliveredReceipts'
      | 'autoDeliveredMaxMembers'
      | 'typingThrottleMs'
      | 'typingTimeoutMs'
      | 'tokenTransport'
      | 'tokenParam'
      | 'tokenRefreshLeadMs'
    >
  >;
  private readonly generateId: () => string;

  private me: string | undefined;
  private state: ConnectionStatus = { state: 'idle', attempt: 0 };
  private ws: WebSocketLike | null = null;
  private socketOpen = false;
  /** Bumped for every connection attempt so late callbacks of an abandoned attempt are ignored. */
  private generation = 0;
  private attempt = 0;
  private reconnectTimer: TimerHandle | undefined;
  private connectTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private refreshTimer: TimerHandle | undefined;
  /** `exp` (ms) of the token the current socket connected with, when it is a readable JWT. */
  private tokenExpiresAt: number | undefined;
  /** `exp` of the token last replaced by a proactive refresh: the same token again is not refreshed again. */
  private refreshedExpiry: number | undefined;
  private outboxTimer: TimerHandle | undefined;
  private outboxTimerAt = Infinity;
  private requestCounter = 0;
  private readonly requests = new Map<string, PendingRequest>();
  private readonly outbox: OutboxEntry[] = [];
  private readonly streams = new Map<string, SeqBuffer>();
  private readonly emittedMessages = new Map<string, Map<number, Message>>();
  private readonly myReactions = new Map<string, Set<string>>();
  /** The epoch each stream's seqs belong to (null until the conversation has a timeline). */
  private readonly epochs = new Map<string, string | null>();
  private readonly conversations = new Map<string, Conversation>();
  private readonly receipts = new Map<string, Map<string, Receipt>>();
  private readonly presence = new Map<string, PresenceInfo>();
  private readonly gapTimers = new Map<string, TimerHandle>();
  private readonly gapFetching = new Set<string>();
  private readonly gapFailures = new Map<string, number>();
  /** Per conversation, the retention horizon the server named: seqs below it are gone. */
  private readonly horizons = new Map<string, number>();
  private readonly deliveredAcks = new Map<string, { sent: number; inFlight: boolean }>();
  private readonly typingSent = new Map<string, number>();
  private readonly typingTimers = new Map<string, TimerHandle>();
  private syncing = false;
  private cursorsLoaded: Promise<void> | undefined;
  private saveScheduled = false;
  private onlineWaiters: Array<{ resolve: () => void; reject: (e: ParleyError) => void }> = [];

  constructor(private readonly options: ParleyClientOptions) {
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!impl) {
      throw new TypeError('ParleyClient: no WebSocket implementation; pass options.WebSocket (e.g. the `ws` package)');
    }
    this.WebSocketImpl = impl;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.backoff = { ...defaultBackoff, ...options.backoff };
    this.cursorStore = options.cursorStore ?? new MemoryCursorStore();
    this.me = options.userId;
    this.opts = {
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 240_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      syncTimeoutMs: options.syncTimeoutMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      syncLimit: Math.min(100, Math.max(1, options.syncLimit ?? 50)),
      gapFillDelayMs: options.gapFillDelayMs ?? 250,
      autoDeliveredReceipts: options.autoDeliveredReceipts ?? true,
      autoDeliveredMaxMembers: options.autoDeliveredMaxMembers ?? 32,
      typingThrottleMs: options.typingThrottleMs ?? 3_000,
      typingTimeoutMs: options.typingTimeoutMs ?? 8_000,
      tokenTransport: options.tokenTransport ?? 'query',
      tokenParam: options.tokenParam ?? 'token',
      tokenRefreshLeadMs: options.tokenRefreshLeadMs ?? 60_000,
    };
    this.generateId = options.generateId ?? (() => randomId(this.random));
    this.events = new Emitter<ParleyClientEvents>((error) => {
      // A throwing listener is the application's bug; surface it without breaking delivery.
      queueMicrotask(() => {
        throw error;
      });
    });
  }

  // ---------------------------------------------------------------- public API

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof ParleyClientEvents>(type: K, listener: (payload: ParleyClientEvents[K]) => void): Unsubscribe {
    return this.events.on(type, listener);
  }

  /** Subscribes to the next occurrence of an event. */
  once<K extends keyof ParleyClientEvents>(type: K, listener: (payload: ParleyClientEvents[K]) => void): Unsubscribe {
    return this.events.once(type, listener);
  }

  /** The current connection state. */
  get status(): ConnectionStatus {
    return { ...this.state };
  }

  /** The signed-in user's id, when known (from options or the token provider). */
  get userId(): string | undefined {
    return this.me;
  }

  /** Starts connecting (idempotent); resolves once the first catch-up `sync` is done. */
  connect(): Promise<void> {
    if (this.state.state === 'closed') return Promise.reject(this.closedError());
    if (this.state.state === 'online') return Promise.resolve();
    const ready = new Promise<void>((resolve, reject) => this.onlineWaiters.push({ resolve, reject }));
    // `void client.connect()` is common; a later close() must not become an unhandled rejection.
    ready.catch(() => undefined);
    if (this.state.state === 'idle') {
      this.setState({ state: 'connecting', attempt: 0 });
      this.cursorsLoaded ??= this.loadCursors();
      void this.cursorsLoaded.then(() => this.openSocket());
    }
    return ready;
  }

  /** Skips the current backoff wait and reconnects now (e.g. on the browser's `online` event). */
  reconnectNow(): void {
    if (this.state.state !== 'waiting') return;
    this.clearTimer('reconnectTimer');
    void this.openSocket();
  }

  /** Closes the connection for good: pending requests and unacked sends reject with `client_closed`. */
  close(): void {
    if (this.state.state === 'closed') return;
    this.generation++;
    const error = this.closedError();
    for (const request of [...this.requests.values()]) this.settle(request, undefined, error);
    const ws = this.ws;
    this.teardownSocket();
    if (ws) safeClose(ws, 1000, 'client closed');
    this.clearTimer('reconnectTimer');
    this.clearTimer('outboxTimer');
    for (const timer of this.typingTimers.values()) this.clock.clearTimeout(timer);
    this.typingTimers.clear();
    for (const entry of this.outbox.splice(0)) entry.reject(error);
    for (const waiter of this.onlineWaiters.splice(0)) waiter.reject(error);
    this.flushCursors();
    this.setState({ state: 'closed', attempt: this.attempt });
  }

  /**
   * Queues a message. It is sent now if connected, otherwise on reconnect, and resent with the same
   * `clientMessageId` until acked, so it is stored exactly once. Messages to one conversation are stored in
   * the order they were queued.
   */
  send(conversationId: string, body: string, options: { clientMessageId?: string } = {}): OutgoingMessage {
    if (this.state.state === 'closed') throw this.closedError();
    if (typeof body !== 'string' || body.length === 0 || body.length > maxBodyLength) {
      throw new ParleyError('bad_request', `body must be 1–${maxBodyLength} characters`, { action: 'send' });
    }
    const clientMessageId = options.clientMessageId ?? this.generateId();
    if (clientMessageId.length === 0 || clientMessageId.length > maxClientMessageIdLength) {
      throw new ParleyError('bad_request', `clientMessageId must be 1–${maxClientMessageIdLength} characters`, {
        action: 'send',
      });
    }
    // Refused now rather than retried forever: the server would answer payload_too_large every time.
    const frame = JSON.stringify({ action: 'send', requestId: 'c0000000000', conversationId, clientMessageId, body });
    if (utf8Length(frame) > wireLimits.maxRequestBytes) {
      throw new ParleyError('payload_too_large', `the send frame exceeds ${wireLimits.maxRequestBytes} bytes in UTF-8`, {
        action: 'send',
      });
    }
    const existing = this.outbox.find(
      (e) => e.conversationId === conversationId && e.clientMessageId === clientMessageId,
    );
    if (existing) return publicOutgoing(existing);
    let resolve!: (ack: SendAck) => void;
    let reject!: (error: ParleyError) => void;
    const acked = new Promise<SendAck>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Failures are reported through `sendFailed` too; an unobserved rejection must not crash Node.
    acked.catch(() => undefined);
    const entry: OutboxEntry = {
      conversationId,
      clientMessageId,
      body,
      attempts: 0,
      inFlight: false,
      notBefore: 0,
      acked,
      resolve,
      reject,
    };
    this.outbox.push(entry);
    this.pumpOutbox();
    return publicOutgoing(entry);
  }

  /** Messages queued with `send` and not acked yet, oldest first. */
  pendingMessages(conversationId?: string): OutgoingMessage[] {
    return this.outbox.filter((e) => !conversationId || e.conversationId === conversationId).map(publicOutgoing);
  }

  /** Reads a page of older messages (returned oldest first). Does not affect live delivery or cursors. */
  async history(
    conversationId: string,
    options: { beforeSeq?: number; limit?: number } = {},
  ): Promise<{ messages: Message[]; nextBeforeSeq: number | null; expiredBefore?: number }> {
    const reply = await this.request('history', { conversationId, ...options });
    if (reply.expiredBefore !== undefined) this.applyExpiry(conversationId, reply.expiredBefore);
    return {
      messages: [...reply.messages].sort((a, b) => a.seq - b.seq),
      nextBeforeSeq: reply.nextBeforeSeq,
      ...(reply.expiredBefore === undefined ? {} : { expiredBefore: reply.expiredBefore }),
    };
  }

  /**
   * Records a retention horizon: seqs below it are gone, so the stream treats them as delivered (no gap to fill) and
   * held messages after it are released in order. `expired` is emitted the first time per conversation.
   */
  private applyExpiry(conversationId: string, expiredBefore: number): void {
    if (!Number.isSafeInteger(expiredBefore) || expiredBefore < 2) return;
    const known = this.horizons.get(conversationId);
    if (known !== undefined && known >= expiredBefore) return;
    this.horizons.set(conversationId, expiredBefore);
    const stream = this.stream(conversationId);
    if (stream.delivered < expiredBefore - 1) {
      stream.skipTo(expiredBefore - 1);
      // Messages held after the horizon are now next in line.
      this.ingest([], [conversationId]);
      this.flushCursors();
    }
    if (known === undefined) this.events.emit('expired', { conversationId, expiredBefore });
  }

  /** Lists the caller's conversations with unread counts (one page). */
  async listConversations(
    options: { limit?: number; cursor?: string | null } = {},
  ): Promise<{ conversations: ConversationSummary[]; nextCursor: string | null }> {
    const reply = await this.request('listConversations', options);
    for (const summary of reply.conversations) {
      this.upsertConversation(summary);
      if (this.me) {
        this.applyReceipt({
          conversationId: summary.conversationId,
          userId: this.me,
          lastDeliveredSeq: summary.lastDeliveredSeq,
          lastReadSeq: summary.lastReadSeq,
        });
      }
    }
    return { conversations: reply.conversations, nextCursor: reply.nextCursor };
  }

  /** Opens (or returns the existing) 1:1 conversation with `userId`. */
  async createDirect(userId: string): Promise<Conversation> {
    const { conversation } = await this.request('createConversation', { kind: 'direct', userId });
    this.upsertConversation(conversation);
    return conversation;
  }

  /** Creates a group; the caller is always a member. */
  async createGroup(title: string, members: string[], options: { clientRequestId?: string } = {}): Promise<Conversation> {
    // Pass the same clientRequestId when retrying after an error: the server then returns the first group.
    const clientRequestId = options.clientRequestId ?? this.generateId();
    const { conversation } = await this.request('createConversation', { kind: 'group', title, members, clientRequestId });
    this.upsertConversation(conversation);
    return conversation;
  }

  /** Adds members to a group. */
  async addMembers(conversationId: string, members: string[]): Promise<Conversation> {
    const { conversation } = await this.request('addMembers', { conversationId, members });
    this.upsertConversation(conversation);
    return conversation;
  }

  /** Adds members and also says who was invited instead (their consent is needed). */
  async addMembersWithInvites(conversationId: string, members: string[]): Promise<{ conversation: Conversation; invited: string[] }> {
    const { conversation, invited } = await this.request('addMembers', { conversationId, members });
    this.upsertConversation(conversation);
    return { conversation, invited: invited ?? [] };
  }

  /** Removes members from a group (owners and admins). */
  async removeMembers(conversationId: string, members: string[]): Promise<Conversation> {
    return this.conversationRequest('removeMembers', { conversationId, members });
  }

  /** Leaves a group. */
  async leave(conversationId: string): Promise<Conversation> {
    return this.conversationRequest('leave', { conversationId });
  }

  /** Changes a member's role (owners only). */
  async setRole(conversationId: string, userId: string, role: Role): Promise<Conversation> {
    return this.conversationRequest('setRole', { conversationId, userId, role });
  }

  /** Renames a group (owners and admins). */
  async rename(conversationId: string, title: string): Promise<Conversation> {
    return this.conversationRequest('updateConversation', { conversationId, title });
  }

  /** Renames a group (owners and admins) and/or sets its retention in days (owners; null: the deployment's default). */
  async updateConversation(conversationId: string, input: { title?: string; retentionDays?: number | null }): Promise<Conversation> {
    return this.conversationRequest('updateConversation', { conversationId, ...input });
  }

  /** Blocks a user; resolves with your settings and block list. */
  async block(userId: string): Promise<UserSettings> {
    return (await this.request('block', { userId })).settings;
  }

  /** Lifts a block. */
  async unblock(userId: string): Promise<UserSettings> {
    return (await this.request('unblock', { userId })).settings;
  }

  /** Your settings and block list. */
  async settings(): Promise<UserSettings> {
    return (await this.request('getSettings', {})).settings;
  }

  /** Changes who may add you to groups without an invitation. */
  async updateSettings(settings: { groupAdd?: GroupAddSetting }): Promise<UserSettings> {
    return (await this.request('updateSettings', settings)).settings;
  }

  /** Invitations waiting for your answer. */
  async invitations(): Promise<Invitation[]> {
    return (await this.request('listInvitations', {})).invitations;
  }

  /** Accepts an invitation and joins the group. */
  async acceptInvitation(conversationId: string): Promise<Conversation> {
    return this.conversationRequest('acceptInvitation', { conversationId });
  }

  /** Declines an invitation. */
  async declineInvitation(conversationId: string): Promise<void> {
    await this.request('declineInvitation', { conversationId });
  }

  /** Edits your message at `seq`; safe to retry with the same `clientMessageId`. */
  async edit(conversationId: string, seq: number, body: string, options: { clientMessageId?: string } = {}): Promise<EventAck> {
    return this.request('edit', { conversationId, seq, body, clientMessageId: options.clientMessageId ?? this.generateId() });
  }

  /** Deletes a message (yours, or any as a group owner or admin). */
  async deleteMessage(conversationId: string, seq: number, options: { clientMessageId?: string } = {}): Promise<EventAck> {
    return this.request('deleteMessage', { conversationId, seq, clientMessageId: options.clientMessageId ?? this.generateId() });
  }

  /** Reacts to a message with one emoji. */
  async react(conversationId: string, seq: number, emoji: string, options: { clientMessageId?: string } = {}): Promise<EventAck> {
    return this.request('react', { conversationId, seq, emoji, clientMessageId: options.clientMessageId ?? this.generateId() });
  }

  /** Removes your reaction with that emoji. */
  async unreact(conversationId: string, seq: number, emoji: string, options: { clientMessageId?: string } = {}): Promise<EventAck> {
    return this.request('unreact', { conversationId, seq, emoji, clientMessageId: options.clientMessageId ?? this.generateId() });
  }

  private async conversationRequest<A extends 'removeMembers' | 'leave' | 'setRole' | 'updateConversation' | 'acceptInvitation'>(
    action: A,
    payload: RequestMap[A],
  ): Promise<Conversation> {
    const { conversation } = (await this.request(action, payload)) as { conversation: Conversation };
    this.upsertConversation(conversation);
    return conversation;
  }

  /** Marks messages up to `seq` as read (also delivered). Skipped when already marked. */
  async markRead(conversationId: string, seq: number): Promise<Receipt> {
    const mine = this.me ? this.receipts.get(conversationId)?.get(this.me) : undefined;
    if (mine && mine.lastReadSeq >= seq) return mine;
    const receipt = await this.request('ack', { conversationId, kind: 'read', seq });
    this.applyReceipt(withoutType(receipt));
    return receipt;
  }

  /** Tells the other members you are (or stopped) typing; throttled, best-effort, never queued offline. */
  setTyping(conversationId: string, typing: boolean): void {
    if (!this.socketOpen) return;
    const last = this.typingSent.get(conversationId);
    const now = this.clock.now();
    if (typing) {
      if (last !== undefined && now - last < this.opts.typingThrottleMs) return;
      this.typingSent.set(conversationId, now);
    } else {
      if (last === undefined) return;
      this.typingSent.delete(conversationId);
    }
    this.rawRequest('typing', { conversationId, state: typing ? 'start' : 'stop' }, this.opts.requestTimeoutMs, false).catch(() => {
      // Typing is cosmetic and rate-limited by the server; losing one is fine.
    });
  }

  /** Asks the server for the presence of up to 100 users and updates the local view. */
  async fetchPresence(userIds: string[]): Promise<PresenceInfo[]> {
    if (userIds.length === 0) return [];
    const { users } = await this.request('presence', { userIds });
    for (const user of users) this.applyPresence(user);
    return users;
  }

  /** The last known presence of `userId`. */
  presenceOf(userId: string): PresenceInfo | undefined {
    return this.presence.get(userId);
  }

  /** Known conversations (from sync, pushes, list and create). */
  knownConversations(): Conversation[] {
    return [...this.conversations.values()];
  }

  /** A known conversation by id. */
  conversation(conversationId: string): Conversation | undefined {
    return this.conversations.get(conversationId);
  }

  /** Every member's receipt cursors known for a conversation. */
  receiptsOf(conversationId: string): Receipt[] {
    return [...(this.receipts.get(conversationId)?.values() ?? [])];
  }

  /** Users currently typing in a conversation. */
  typingIn(conversationId: string): string[] {
    const prefix = `${conversationId}\u0000`;
    return [...this.typingTimers.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  /** The highest contiguous seq delivered for a conversation (its sync cursor), or 0. */
  cursor(conversationId: string): number {
    return this.streams.get(conversationId)?.delivered ?? 0;
  }

  /**
   * Sends any request and resolves with its reply; rejects with a `ParleyError` carrying the server's code,
   * or `timeout`/`connection_lost`/`client_closed`. Issued while offline, it waits for the connection
   * (within its timeout).
   */
  request<A extends Action>(action: A, payload: RequestMap[A], options: RequestOptions = {}): Promise<ReplyMap[A]> {
    return this.rawRequest(action, payload, options.timeoutMs ?? this.opts.requestTimeoutMs, true);
  }

  // ---------------------------------------------------------------- requests

  private rawRequest<A extends Action>(
    action: A,
    payload: RequestMap[A],
    timeoutMs: number,
    queueWhileOffline: boolean,
  ): Promise<ReplyMap[A]> {
    if (this.state.state === 'closed') return Promise.reject(this.closedError(action));
    if (!queueWhileOffline && !this.socketOpen) {
      return Promise.reject(new ParleyError('connection_lost', 'not connected', { action }));
    }
    const requestId = `c${++this.requestCounter}`;
    const frame = JSON.stringify({ ...payload, action, requestId });
    // A larger frame is refused by the server, or closes the socket (1009) above API Gateway's 32 KB.
    if (utf8Length(frame) > wireLimits.maxRequestBytes) {
      return Promise.reject(
        new ParleyError('payload_too_large', `the request exceeds ${wireLimits.maxRequestBytes} bytes in UTF-8`, { action }),
      );
    }
    return new Promise<ReplyMap[A]>((resolve, reject) => {
      const request: PendingRequest = {
        requestId,
        action,
        frame,
        resolve: resolve as (reply: unknown) => void,
        reject,
        queueWhileOffline,
        sent: false,
        timer: this.clock.setTimeout(() => {
          this.settle(request, undefined, new ParleyError('timeout', `no reply within ${timeoutMs} ms`, { action, requestId }));
        }, timeoutMs),
      };
      this.requests.set(requestId, request);
      if (this.socketOpen) this.transmit(request);
    });
  }

  private transmit(request: PendingRequest): void {
    if (!this.ws) return;
    try {
      this.ws.send(request.frame);
      request.sent = true;
    } catch (error) {
      // send() throws when the socket is already closing; the close handler will reconnect.
      this.settle(request, undefined, new ParleyError('connection_lost', String(error), { action: request.action }));
    }
  }

  private settle(request: PendingRequest, reply: unknown, error?: ParleyError): void {
    if (this.requests.get(request.requestId) !== request) return;
    this.requests.delete(request.requestId);
    this.clock.clearTimeout(request.timer);
    if (error) request.reject(error);
    else request.resolve(reply);
  }

  // ---------------------------------------------------------------- connection

  private async openSocket(): Promise<void> {
    if (this.state.state === 'closed') return;
    const generation = ++this.generation;
    this.setState({ state: 'connecting', attempt: this.attempt });
    let token: string;
    try {
      const result = await this.options.token();
      if (typeof result === 'string') token = result;
      else {
        token = result.token;
        if (result.userId) this.me = result.userId;
      }
      if (typeof token !== 'string' || token.length === 0) throw new TypeError('token provider returned no token');
    } catch (error) {
      if (generation !== this.generation) return;
      this.events.emit('error', asError(error, 'token provider failed'));
      this.scheduleReconnect('token provider failed');
      return;
    }
    if (generation !== this.generation) return;
    this.tokenExpiresAt = tokenExpiry(token);

    let ws: WebSocketLike;
    try {
      ws =
        this.opts.tokenTransport === 'protocol'
          ? new this.WebSocketImpl(this.options.url, ['parley', token])
          : new this.WebSocketImpl(withQuery(this.options.url, this.opts.tokenParam, token));
    } catch (error) {
      this.events.emit('error', asError(error, 'could not create WebSocket'));
      this.scheduleReconnect('could not create WebSocket');
      return;
    }
    this.ws = ws;
    this.connectTimer = this.clock.setTimeout(() => this.dropSocket(ws, 'connect timeout'), this.opts.connectTimeoutMs);
    ws.onopen = (() => {
      if (this.ws === ws) this.handleOpen();
    }) as never;
    ws.onmessage = ((event: MessageEventLike) => {
      if (this.ws === ws) this.handleFrame(event.data);
    }) as never;
    ws.onclose = ((event: CloseEventLike) => {
      if (this.ws !== ws) return;
      this.teardownSocket();
      this.scheduleReconnect(event?.code ? `closed (${event.code}${event.reason ? ` ${event.reason}` : ''})` : 'closed');
    }) as never;
    // An error is always followed by close, which does the work.
    ws.onerror = (() => undefined) as never;
  }

  private handleOpen(): void {
    this.clearTimer('connectTimer');
    this.socketOpen = true;
    this.setState({ state: 'syncing', attempt: this.attempt });
    this.scheduleHeartbeat();
    this.scheduleTokenRefresh();
    for (const request of [...this.requests.values()]) if (!request.sent) this.transmit(request);
    this.pumpOutbox();
    void this.runSync();
  }

  /** Abandons `ws` now (without waiting for a close handshake that may never come) and reconnects. */
  private dropSocket(ws: WebSocketLike, reason: string): void {
    if (this.ws !== ws) return;
    this.teardownSocket();
    safeClose(ws, 4000, reason);
    this.scheduleReconnect(reason);
  }

  /**
   * Closes `ws` and reconnects at once with a fresh token (token refresh or expiry). Replies lost with the socket
   * fail as `connection_lost`: the outbox resends with the same clientMessageId and `sync` catches up.
   */
  private renewSocket(ws: WebSocketLike, reason: string): void {
    if (this.ws !== ws) return;
    this.teardownSocket();
    safeClose(ws, 1000, reason);
    this.scheduleReconnect(reason, true);
  }

  /** Schedules a renewal shortly before the token expires (`tokenRefreshLeadMs`). */
  private scheduleTokenRefresh(): void {
    this.clearTimer('refreshTimer');
    const exp = this.tokenExpiresAt;
    const ws = this.ws;
    // Renewing onto the same token would loop: the provider has nothing newer, so the server's expiry decides.
    if (!ws || this.opts.tokenRefreshLeadMs <= 0 || exp === undefined || exp === this.refreshedExpiry) return;
    const now = this.clock.now();
    if (exp <= now) return;
    // A token shorter-lived than twice the lead is renewed half-way, not the moment it arrives.
    const at = Math.max(exp - this.opts.tokenRefreshLeadMs, now + (exp - now) / 2);
    this.refreshTimer = this.clock.setTimeout(() => {
      this.refreshTimer = undefined;
      this.refreshedExpiry = exp;
      this.renewSocket(ws, 'token refresh');
    }, at - now);
  }

  private teardownSocket(): void {
    const ws = this.ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    }
    this.ws = null;
    this.socketOpen = false;
    this.syncing = false;
    this.clearTimer('connectTimer');
    this.clearTimer('heartbeatTimer');
    this.clearTimer('refreshTimer');
    for (const timer of this.gapTimers.values()) this.clock.clearTimeout(timer);
    this.gapTimers.clear();
    for (const ack of this.deliveredAcks.values()) ack.inFlight = false;
    this.typingSent.clear();
    for (const request of [...this.requests.values()]) {
      if (request.sent || !request.queueWhileOffline) {
        this.settle(request, undefined, new ParleyError('connection_lost', 'connection lost before the reply', {
          action: request.action,
          requestId: request.requestId,
        }));
      }
    }
  }

  private scheduleReconnect(reason: string, immediate = false): void {
    if (this.state.state === 'closed') return;
    this.clearTimer('reconnectTimer');
    // Immediate only after a connection that had caught up: a fresh token that expires at once backs off as usual.
    const delay = immediate && this.attempt === 0 ? 0 : backoffDelay(this.attempt, this.backoff, this.random);
    this.attempt++;
    this.setState({ state: 'waiting', attempt: this.attempt, retryInMs: delay, reason });
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.openSocket();
    }, delay);
  }

  private scheduleHeartbeat(): void {
    this.clearTimer('heartbeatTimer');
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.heartbeatTimer = undefined;
      const ws = this.ws;
      if (!ws || !this.socketOpen) return;
      this.scheduleHeartbeat();
      this.rawRequest('heartbeat', {}, this.opts.requestTimeoutMs, false).catch((error: ParleyError) => {
        // No pong in time: the connection is half-open (e.g. a dead NAT mapping); replace it.
        if (error.code === 'timeout') this.dropSocket(ws, 'heartbeat timeout');
      });
    }, this.opts.heartbeatIntervalMs);
  }

  private setState(status: ConnectionStatus): void {
    const changed =
      status.state !== this.state.state || status.attempt !== this.state.attempt || status.retryInMs !== this.state.retryInMs;
    this.state = status;
    if (changed) this.events.emit('status', { ...status });
  }

  // ---------------------------------------------------------------- sync

  private async runSync(): Promise<void> {
    const ws = this.ws;
    if (!ws) return;
    this.syncing = true;
    let messages = 0;
    let conversations = 0;
    try {
      // Pages walk the caller's conversations in id order; each page carries only the cursors it covers.
      let from: string | undefined;
      for (;;) {
        const page = this.pageCursors(from);
        const reply = await this.syncPage({ ...page, limit: this.opts.syncLimit }, ws);
        if (this.ws !== ws) return;
        for (const entry of reply.conversations ?? []) {
          conversations++;
          messages += this.applySyncEntry(entry);
        }
        for (const user of reply.presence ?? []) this.applyPresence(user);
        const next = reply.nextFrom ?? null;
        if (next === null) break;
        const stalled = from !== undefined && (next < from || (next === from && sameCursors(page.cursors, this.pageCursors(from).cursors)));
        if (stalled) throw new ParleyError('protocol', 'sync made no progress', { action: 'sync' });
        from = next;
      }
    } catch (error) {
      if (this.ws !== ws) return;
      // Without a complete sync messages could be missing; start over on a fresh connection.
      this.events.emit('error', asError(error, 'sync failed'));
      this.dropSocket(ws, 'sync failed');
      return;
    }
    this.syncing = false;
    this.attempt = 0;
    this.setState({ state: 'online', attempt: 0 });
    this.events.emit('synced', { messages, conversations });
    for (const waiter of this.onlineWaiters.splice(0)) waiter.resolve();
    for (const id of this.streams.keys()) this.scheduleGapFill(id);
  }

  /** One sync page; a per-user rate limit is waited out rather than treated as a failed catch-up. */
  private async syncPage(payload: RequestMap['sync'], ws: WebSocketLike): Promise<ReplyMap['sync']> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.rawRequest('sync', payload, this.opts.syncTimeoutMs, false);
      } catch (error) {
        if (!(error instanceof ParleyError) || error.code !== 'rate_limited' || attempt >= 5 || this.ws !== ws) throw error;
        await new Promise<void>((resolve) => this.clock.setTimeout(() => resolve(), error.retryAfterMs ?? backoffDelay(attempt, this.backoff, this.random)));
        if (this.ws !== ws) throw error;
      }
    }
  }

  /**
   * Cursors of the known conversations from `from` on, in id order, as many as one request may carry; `through`
   * tells the server where they stop when there are more.
   */
  private pageCursors(from: string | undefined): { from?: string; through?: string; cursors: Cursors } {
    const ids = [...this.streams.keys()].filter((id) => from === undefined || id >= from).sort();
    const cursors: Cursors = {};
    // Room for the rest of the frame: action, requestId, from, through and limit.
    let bytes = 600;
    let count = 0;
    for (const id of ids) {
      const cursor = this.cursorOf(id);
      const size = utf8Length(JSON.stringify({ [id]: cursor }));
      if (count === wireLimits.maxSyncCursors || bytes + size > wireLimits.maxRequestBytes) {
        return { ...(from === undefined ? {} : { from }), through: ids[count - 1], cursors };
      }
      cursors[id] = cursor;
      bytes += size;
      count++;
    }
    return { ...(from === undefined ? {} : { from }), cursors };
  }

  /** Applies one conversation of a sync reply; returns how many of its messages it carried. */
  private applySyncEntry(entry: SyncConversation): number {
    const id = entry.conversationId;
    if (typeof id !== 'string') return 0;
    if (entry.reset) this.resetConversation(id);
    if (entry.epoch !== undefined) this.epochs.set(id, entry.epoch);
    if (entry.conversation) this.upsertConversation({ ...entry.conversation, epoch: entry.epoch });
    const stream = this.stream(id);
    const first = entry.messages?.[0]?.seq;
    if (entry.limited && first !== undefined && first - 1 > stream.delivered) {
      const fromSeq = stream.delivered + 1;
      stream.skipTo(first - 1);
      this.events.emit('limited', { conversationId: id, fromSeq, toSeq: first - 1 });
    }
    if (entry.expiredBefore !== undefined) this.applyExpiry(id, entry.expiredBefore);
    stream.hint(entry.lastSeq);
    const conversation = this.conversations.get(id);
    if (conversation) conversation.lastSeq = Math.max(conversation.lastSeq ?? 0, entry.lastSeq ?? 0);
    this.ingest(entry.messages ?? []);
    for (const r of entry.receipts ?? []) this.applyReceipt({ ...r, conversationId: id });
    return entry.messages?.length ?? 0;
  }

  /** Forgets a conversation's timeline state: its seqs now belong to a new incarnation. */
  private resetConversation(id: string): void {
    this.streams.set(id, new SeqBuffer(0));
    this.epochs.delete(id);
    this.receipts.delete(id);
    this.deliveredAcks.delete(id);
    this.gapFailures.delete(id);
    this.horizons.delete(id);
    const timer = this.gapTimers.get(id);
    if (timer !== undefined) this.clock.clearTimeout(timer);
    this.gapTimers.delete(id);
    const conversation = this.conversations.get(id);
    if (conversation) conversation.lastSeq = 0;
    this.events.emit('reset', { conversationId: id });
    this.flushCursors();
  }

  private cursorOf(id: string): Cursors[string] {
    return { seq: this.streams.get(id)?.delivered ?? 0, epoch: this.epochs.get(id) ?? null };
  }

  private cursorSnapshot(): Cursors {
    const cursors: Cursors = {};
    for (const id of this.streams.keys()) cursors[id] = this.cursorOf(id);
    return cursors;
  }

  private async loadCursors(): Promise<void> {
    try {
      const stored = await this.cursorStore.load();
      for (const [id, cursor] of Object.entries(stored)) {
        if (this.streams.has(id)) continue;
        this.streams.set(id, new SeqBuffer(cursor.seq));
        this.epochs.set(id, cursor.epoch);
      }
    } catch (error) {
      this.events.emit('error', asError(error, 'could not load cursors'));
    }
  }

  private flushCursors(): void {
    if (this.saveScheduled) return;
    this.saveScheduled = true;
    queueMicrotask(() => {
      this.saveScheduled = false;
      try {
        Promise.resolve(this.cursorStore.save(this.cursorSnapshot())).catch((error: unknown) =>
          this.events.emit('error', asError(error, 'could not save cursors')),
        );
      } catch (error) {
        this.events.emit('error', asError(error, 'could not save cursors'));
      }
    });
  }

  // ---------------------------------------------------------------- incoming frames

  private handleFrame(data: unknown): void {
    const text = frameText(data);
    let frame: Record<string, unknown>;
    try {
      const parsed: unknown = text === null ? null : JSON.parse(text);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      frame = parsed as Record<string, unknown>;
    } catch {
      this.events.emit('error', new ParleyError('protocol', 'unreadable frame from server'));
      return;
    }
    // The server closes the connection right after this; the request it answers is resent on the next one.
    if (frame.type === 'error' && frame.code === 'token_expired' && this.ws) {
      this.renewSocket(this.ws, 'token expired');
      return;
    }
    const requestId = typeof frame.requestId === 'string' ? frame.requestId : undefined;
    if (requestId !== undefined) {
      const request = this.requests.get(requestId);
      if (request) {
        this.handleReply(request, frame);
        return;
      }
      // A reply that arrived after its timeout: an ack still tells us the message is stored.
      if (frame.type === 'ack') this.completeSend(frame as unknown as SendAck);
      return;
    }
    this.handlePush(frame);
  }

  private handleReply(request: PendingRequest, frame: Record<string, unknown>): void {
    if (frame.type === 'error') {
      const code = (typeof frame.code === 'string' ? frame.code : 'internal') as ParleyErrorCode;
      const message = typeof frame.message === 'string' ? frame.message : 'request failed';
      const retryAfterMs = typeof frame.retryAfterMs === 'number' ? frame.retryAfterMs : undefined;
      this.settle(request, undefined, new ParleyError(code, message, {
        action: request.action,
        requestId: request.requestId,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      }));
      return;
    }
    if (frame.type !== replyTypes[request.action]) {
      this.settle(request, undefined, new ParleyError('protocol', `unexpected reply type ${String(frame.type)}`, {
        action: request.action,
        requestId: request.requestId,
      }));
      return;
    }
    this.settle(request, withoutType(frame));
  }

  private handlePush(frame: Record<string, unknown>): void {
    switch (frame.type) {
      case 'message': {
        const message = frame.message as Message | undefined;
        if (!isMessage(message)) {
          this.events.emit('error', new ParleyError('protocol', 'malformed message push'));
          return;
        }
        this.ingest([message]);
        return;
      }
      case 'conversation':
        if (isConversation(frame.conversation)) this.upsertConversation(frame.conversation);
        return;
      case 'receipt':
        this.applyReceipt(withoutType(frame as unknown as Receipt));
        return;
      case 'presence':
        for (const user of (frame.users as PresenceInfo[] | undefined) ?? []) this.applyPresence(user);
        return;
      case 'typing':
        this.applyTyping(frame as unknown as TypingEvent);
        return;
      case 'error':
        // An error without a readable requestId (e.g. our frame was not JSON to the server).
        this.events.emit('error', new ParleyError(
          (typeof frame.code === 'string' ? frame.code : 'internal') as ParleyErrorCode,
          typeof frame.message === 'string' ? frame.message : 'server error',
        ));
        return;
      default:
      // Unknown pushes are ignored so the server can add event types without breaking old clients.
    }
  }

  // ---------------------------------------------------------------- ordered delivery

  private stream(conversationId: string): SeqBuffer {
    let stream = this.streams.get(conversationId);
    if (!stream) {
      // A conversation we have no cursor for starts from seq 1, as `sync` does for unknown conversations.
      stream = new SeqBuffer(0);
      this.streams.set(conversationId, stream);
      const last = this.conversations.get(conversationId)?.lastSeq;
      if (last) stream.hint(last);
    }
    return stream;
  }

  /** Feeds messages from any source (push, sync, gap fetch, own ack) through the per-conversation buffers. */
  private ingest(messages: Message[], alsoRelease: string[] = []): void {
    const touched = new Set<string>(alsoRelease);
    for (const message of messages) {
      if (!isMessage(message)) continue;
      touched.add(message.conversationId);
    }
    for (const id of touched) {
      const batch = messages.filter((m) => m.conversationId === id);
      // A seq of another epoch belongs to a recreated conversation: start its timeline over instead of dropping it.
      const epoch = batch.find((m) => typeof m.epoch === 'string')?.epoch;
      if (epoch) {
        const known = this.epochs.get(id);
        if (known && known !== epoch) this.resetConversation(id);
        this.epochs.set(id, epoch);
      }
      const stream = this.stream(id);
      const delivered = stream.accept(batch);
      if (delivered.length === 0) {
        this.scheduleGapFill(id);
        continue;
      }
      this.gapFailures.delete(id);
      const conversation = this.conversations.get(id);
      if (conversation) conversation.lastSeq = Math.max(conversation.lastSeq ?? 0, stream.delivered);
      let fromOthers = false;
      for (const message of delivered) {
        if (message.senderId !== this.me) fromOthers = true;
        if ((message.kind ?? 'message') === 'message') {
          this.remember(message);
          this.events.emit('message', message);
        } else {
          this.applyEvent(message);
        }
      }
      if (fromOthers) this.sendDeliveredReceipt(id);
      this.scheduleGapFill(id);
    }
    if (touched.size > 0) this.flushCursors();
  }

  /** Keeps the current state of recently emitted chat messages, so edits, deletes and reactions can be applied. */
  private remember(message: Message): void {
    const known = this.emittedMessages.get(message.conversationId) ?? new Map<number, Message>();
    known.set(message.seq, { ...message });
    if (known.size > rememberedMessages) known.delete(known.keys().next().value as number);
    this.emittedMessages.set(message.conversationId, known);
  }

  /** Applies a timeline event (delivered in seq order, once) and emits the typed events for it. */
  private applyEvent(event: Message): void {
    this.events.emit('timelineEvent', event);
    const id = event.conversationId;
    if (event.kind === 'edit' || event.kind === 'delete' || event.kind === 'reaction') {
      const target = this.emittedMessages.get(id)?.get(event.targetSeq ?? -1);
      const current: Message = target ? { ...target } : { conversationId: id, seq: event.targetSeq ?? 0, senderId: '', clientMessageId: '', body: '', createdAt: '', kind: 'message' };
      if (event.kind === 'edit') Object.assign(current, { body: event.body, editedAt: event.createdAt });
      if (event.kind === 'delete') Object.assign(current, { body: '', deleted: true, reactions: [] });
      if (event.kind === 'reaction' && event.emoji) {
        const reactions = (current.reactions ?? []).map((reaction) => ({ ...reaction }));
        const found = reactions.find((reaction) => reaction.emoji === event.emoji);
        if (event.op === 'remove') {
          if (found) found.count -= 1;
        } else if (found) found.count += 1;
        else reactions.push({ emoji: event.emoji, count: 1 });
        current.reactions = reactions.filter((reaction) => reaction.count > 0);
        const mine = this.myReactions.get(`${id}#${current.seq}`) ?? new Set<string>();
        if (event.senderId === this.me) {
          if (event.op === 'remove') mine.delete(event.emoji);
          else mine.add(event.emoji);
          this.myReactions.set(`${id}#${current.seq}`, mine);
        }
      }
      if (target) this.remember(current);
      this.events.emit('messageUpdated', { message: current, complete: target !== undefined, mine: [...(this.myReactions.get(`${id}#${current.seq}`) ?? [])] });
      return;
    }
    const conversation = this.conversations.get(id);
    if (conversation) {
      const next: Conversation = { ...conversation, members: [...conversation.members], roles: { ...(conversation.roles ?? {}) } };
      const userIds = event.userIds ?? [];
      if (event.kind === 'member_added') {
        next.members = [...new Set([...next.members, ...userIds])].sort();
        for (const userId of userIds) next.roles![userId] = 'member';
      } else if (event.kind === 'member_removed' || event.kind === 'member_left') {
        next.members = next.members.filter((userId) => !userIds.includes(userId));
        for (const userId of userIds) delete next.roles![userId];
      } else if (event.kind === 'role_changed' && event.role) {
        for (const userId of userIds) next.roles![userId] = event.role;
      } else if (event.kind === 'title_changed' && event.title !== undefined) {
        next.title = event.title;
      }
      this.upsertConversation(next);
    }
    if (event.kind !== 'title_changed') {
      this.events.emit('membership', { conversationId: id, event, members: this.conversations.get(id)?.members ?? [], roles: this.conversations.get(id)?.roles ?? {} });
    }
    if ((event.kind === 'member_removed' || event.kind === 'member_left') && this.me && event.userIds?.includes(this.me)) {
      this.events.emit('removed', { conversationId: id, by: event.senderId, seq: event.seq, left: event.kind === 'member_left' });
    }
  }

  private scheduleGapFill(conversationId: string): void {
    if (!this.socketOpen || this.syncing) return;
    if (this.gapTimers.has(conversationId) || this.gapFetching.has(conversationId)) return;
    if (!this.streams.get(conversationId)?.gap()) return;
    const failures = this.gapFailures.get(conversationId) ?? 0;
    const delay =
      failures === 0 ? this.opts.gapFillDelayMs : this.opts.gapFillDelayMs + backoffDelay(failures, this.backoff, this.random);
    this.gapTimers.set(
      conversationId,
      this.clock.setTimeout(() => {
        this.gapTimers.delete(conversationId);
        void this.fillGap(conversationId);
      }, delay),
    );
  }

  private async fillGap(conversationId: string): Promise<void> {
    const stream = this.streams.get(conversationId);
    const gap = stream?.gap();
    if (!stream || !gap || !this.socketOpen || this.syncing) return;
    const ws = this.ws;
    this.gapFetching.add(conversationId);
    const before = stream.delivered;
    let permanent = false;
    try {
      // history pages newest-first below beforeSeq; ask for the bottom of the gap so delivery can start at once.
      const beforeSeq = Math.min(gap.to, gap.from + historyPage - 1) + 1;
      const reply = await this.rawRequest(
        'history',
        { conversationId, beforeSeq, limit: beforeSeq - gap.from },
        this.opts.requestTimeoutMs,
        false,
      );
      if (this.ws !== ws) return;
      // Past the retention horizon there is nothing to fetch: the gap ends there.
      if (reply.expiredBefore !== undefined) this.applyExpiry(conversationId, reply.expiredBefore);
      this.ingest(reply.messages ?? []);
    } catch (error) {
      if (error instanceof ParleyError && !error.retryable) permanent = true;
      if (this.ws === ws) this.events.emit('error', asError(error, 'gap fetch failed'));
    } finally {
      this.gapFetching.delete(conversationId);
    }
    if (this.ws !== ws || permanent) return;
    if (stream.delivered === before) this.gapFailures.set(conversationId, (this.gapFailures.get(conversationId) ?? 0) + 1);
    this.scheduleGapFill(conversationId);
  }

  private sendDeliveredReceipt(conversationId: string): void {
    if (!this.opts.autoDeliveredReceipts || !this.socketOpen) return;
    const members = this.conversations.get(conversationId)?.members.length ?? 0;
    if (members > this.opts.autoDeliveredMaxMembers) return;
    const stream = this.streams.get(conversationId);
    if (!stream) return;
    let state = this.deliveredAcks.get(conversationId);
    if (!state) this.deliveredAcks.set(conversationId, (state = { sent: 0, inFlight: false }));
    const mine = this.me ? this.receipts.get(conversationId)?.get(this.me) : undefined;
    const already = Math.max(state.sent, mine?.lastDeliveredSeq ?? 0);
    if (state.inFlight || stream.delivered <= already) return;
    const seq = stream.delivered;
    state.inFlight = true;
    const ws = this.ws;
    this.rawRequest('ack', { conversationId, kind: 'delivered', seq }, this.opts.requestTimeoutMs, false).then(
      (receipt) => {
        state.inFlight = false;
        state.sent = Math.max(state.sent, seq);
        this.applyReceipt(withoutType(receipt));
        if (this.ws === ws) this.sendDeliveredReceipt(conversationId);
      },
      () => {
        // Best effort: the next delivery or reconnect tries again.
        state.inFlight = false;
      },
    );
  }

  // ---------------------------------------------------------------- outbox

  private pumpOutbox(): void {
    if (!this.socketOpen) return;
    const now = this.clock.now();
    const heads = new Set<string>();
    let wakeAt = Infinity;
    for (const entry of this.outbox) {
      // One in flight per conversation: concurrent sends may be stored in either order by parallel handlers.
      if (heads.has(entry.conversationId)) continue;
      heads.add(entry.conversationId);
      if (entry.inFlight) continue;
      if (entry.notBefore > now) {
        wakeAt = Math.min(wakeAt, entry.notBefore);
        continue;
      }
      this.attemptSend(entry);
    }
    if (wakeAt < Infinity && wakeAt < this.outboxTimerAt) {
      this.clearTimer('outboxTimer');
      this.outboxTimerAt = wakeAt;
      this.outboxTimer = this.clock.setTimeout(() => {
        this.outboxTimer = undefined;
        this.outboxTimerAt = Infinity;
        this.pumpOutbox();
      }, wakeAt - now);
    }
  }

  private attemptSend(entry: OutboxEntry): void {
    entry.inFlight = true;
    entry.attempts++;
    const { conversationId, clientMessageId, body } = entry;
    this.rawRequest('send', { conversationId, clientMessageId, body }, this.opts.requestTimeoutMs, false).then(
      (ack) => this.completeSend(ack),
      (error: ParleyError) => {
        entry.inFlight = false;
        if (!this.outbox.includes(entry) || error.code === 'client_closed') return;
        if (!error.retryable) {
          this.outbox.splice(this.outbox.indexOf(entry), 1);
          entry.reject(error);
          this.events.emit('sendFailed', { conversationId, clientMessageId, body, error });
        } else if (error.code === 'rate_limited') {
          entry.notBefore =
            this.clock.now() + (error.retryAfterMs ?? backoffDelay(entry.attempts, this.backoff, this.random));
        } else if (error.code !== 'connection_lost') {
          // timeout / unavailable / internal: the resend is idempotent, but give the server room.
          entry.notBefore = this.clock.now() + backoffDelay(entry.attempts - 1, this.backoff, this.random);
        }
        this.pumpOutbox();
      },
    );
  }

  private completeSend(ack: SendAck): void {
    const index = this.outbox.findIndex(
      (e) => e.conversationId === ack.conversationId && e.clientMessageId === ack.clientMessageId,
    );
    if (index < 0) return;
    const [entry] = this.outbox.splice(index, 1) as [OutboxEntry];
    const clean = withoutType(ack);
    entry.resolve(clean);
    this.events.emit('ack', clean);
    if (this.me) {
      this.ingest([
        {
          conversationId: ack.conversationId,
          seq: ack.seq,
          senderId: this.me,
          clientMessageId: ack.clientMessageId,
          body: entry.body,
          createdAt: ack.createdAt,
          ...(typeof ack.epoch === 'string' ? { epoch: ack.epoch } : {}),
        },
      ]);
    } else {
      // Without our user id we cannot build the message; fetch it like any other gap.
      this.stream(ack.conversationId).hint(ack.seq);
      this.scheduleGapFill(ack.conversationId);
    }
    this.pumpOutbox();
  }

  // ---------------------------------------------------------------- state from events

  private upsertConversation(incoming: Conversation): void {
    const id = incoming.conversationId;
    // The same id in another epoch is a new conversation: what we hold for the old one is meaningless.
    const knownEpoch = this.epochs.get(id);
    if (incoming.epoch && knownEpoch && incoming.epoch !== knownEpoch) this.resetConversation(id);
    if (incoming.epoch) this.epochs.set(id, incoming.epoch);
    const existing = this.conversations.get(id);
    const lastSeq = Math.max(existing?.lastSeq ?? 0, incoming.lastSeq ?? 0);
    const merged: Conversation = { ...existing, ...incoming, lastSeq };
    this.conversations.set(id, merged);
    if (lastSeq > 0) {
      this.streams.get(id)?.hint(lastSeq);
      this.scheduleGapFill(id);
    }
    const changed =
      !existing ||
      existing.title !== merged.title ||
      existing.members.length !== merged.members.length ||
      existing.members.some((m, i) => merged.members[i] !== m);
    if (changed) this.events.emit('conversation', { ...merged });
  }

  private applyReceipt(receipt: Receipt): void {
    const { conversationId, userId } = receipt;
    if (typeof conversationId !== 'string' || typeof userId !== 'string') return;
    let members = this.receipts.get(conversationId);
    if (!members) this.receipts.set(conversationId, (members = new Map()));
    const previous = members.get(userId);
    // Pushes are at-least-once and may arrive out of order; cursors only move forward.
    const next: Receipt = {
      conversationId,
      userId,
      lastDeliveredSeq: Math.max(previous?.lastDeliveredSeq ?? 0, receipt.lastDeliveredSeq ?? 0),
      lastReadSeq: Math.max(previous?.lastReadSeq ?? 0, receipt.lastReadSeq ?? 0),
    };
    if (previous && previous.lastDeliveredSeq === next.lastDeliveredSeq && previous.lastReadSeq === next.lastReadSeq) {
      return;
    }
    // A member who has received nothing yet (sync lists every member's cursors) is no news.
    if (!previous && next.lastDeliveredSeq === 0 && next.lastReadSeq === 0) {
      members.set(userId, next);
      return;
    }
    members.set(userId, next);
    const stream = this.streams.get(conversationId);
    if (stream) {
      // Someone received seq N, so N exists: a lost push becomes a gap we can fetch.
      stream.hint(next.lastDeliveredSeq);
      this.scheduleGapFill(conversationId);
    }
    this.events.emit('receipt', { ...next });
  }

  private applyPresence(user: PresenceInfo): void {
    if (!user || typeof user.userId !== 'string') return;
    const previous = this.presence.get(user.userId);
    const next: PresenceInfo = { userId: user.userId, status: user.status, lastSeenAt: user.lastSeenAt ?? null };
    if (previous && previous.status === next.status && previous.lastSeenAt === next.lastSeenAt) return;
    this.presence.set(user.userId, next);
    this.events.emit('presence', { ...next });
  }

  private applyTyping(event: TypingEvent): void {
    if (typeof event.conversationId !== 'string' || typeof event.userId !== 'string') return;
    const key = `${event.conversationId}\u0000${event.userId}`;
    const timer = this.typingTimers.get(key);
    if (timer !== undefined) this.clock.clearTimeout(timer);
    const clean: TypingEvent = { conversationId: event.conversationId, userId: event.userId, state: event.state };
    if (event.state === 'start') {
      // A lost `stop` must not leave the indicator on forever.
      this.typingTimers.set(
        key,
        this.clock.setTimeout(() => {
          this.typingTimers.delete(key);
          this.events.emit('typing', { ...clean, state: 'stop' });
        }, this.opts.typingTimeoutMs),
      );
      if (timer === undefined) this.events.emit('typing', clean);
    } else {
      this.typingTimers.delete(key);
      if (timer !== undefined) this.events.emit('typing', clean);
    }
  }

  // ---------------------------------------------------------------- helpers

  private clearTimer(name: 'reconnectTimer' | 'connectTimer' | 'heartbeatTimer' | 'outboxTimer' | 'refreshTimer'): void {
    const timer = this[name];
    if (timer !== undefined) this.clock.clearTimeout(timer);
    this[name] = undefined;
    if (name === 'outboxTimer') this.outboxTimerAt = Infinity;
  }

  private closedError(action?: string): ParleyError {
    return new ParleyError('client_closed', 'the client was closed', action ? { action } : {});
  }
}

function publicOutgoing(entry: OutboxEntry): OutgoingMessage {
  return {
    conversationId: entry.conversationId,
    clientMessageId: entry.clientMessageId,
    body: entry.body,
    acked: entry.acked,
  };
}

function withoutType<T extends object>(frame: T): T {
  const { type: _type, requestId: _requestId, ...rest } = frame as T & { type?: unknown; requestId?: unknown };
  return rest as T;
}

function withQuery(url: string, name: string, value: string): string {
  const hashAt = url.indexOf('#');
  const base = hashAt >= 0 ? url.slice(0, hashAt) : url;
  return `${base}${base.includes('?') ? '&' : '?'}${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
}

function safeClose(ws: WebSocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason.slice(0, 120));
  } catch {
    // Already closed, or an implementation that rejects the code: nothing left to release.
  }
}

function sameCursors(a: Cursors, b: Cursors): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k]?.seq === b[k]?.seq && a[k]?.epoch === b[k]?.epoch);
}

/** UTF-8 length of a string without TextEncoder (not in every React Native runtime). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

function asError(error: unknown, context: string): Error {
  if (error instanceof Error) return error;
  return new Error(`${context}: ${String(error)}`);
}

function isMessage(value: unknown): value is Message {
  const m = value as Message | undefined;
  return !!m && typeof m.conversationId === 'string' && Number.isSafeInteger(m.seq) && m.seq > 0;
}

function isConversation(value: unknown): value is Conversation {
  const c = value as Conversation | undefined;
  return !!c && typeof c.conversationId === 'string' && Array.isArray(c.members);
}

const idAlphabet = '0123456789abcdefghijklmnopqrstuvwxyz';

function randomId(random: () => number): string {
  let id = '';
  for (let i = 0; i < 20; i++) id += idAlphabet[Math.floor(random() * idAlphabet.length)];
  return id;
}
