import type { Unsubscribe } from './emitter.js';
import type {
  Action,
  Conversation,
  ConversationSummary,
  EventAck,
  GroupAddSetting,
  Invitation,
  Message,
  PresenceInfo,
  Receipt,
  ReplyMap,
  RequestMap,
  Role,
  UserSettings,
  ClientLimits,
} from './protocol.js';
import type { ConnectionStatus, OutgoingMessage, ParleyClientEvents, ParleyClientOptions, RequestOptions } from './types.js';
import { closedError, withoutType } from './util.js';
import { wireModules, type ClientModules, type ClientShared } from './wiring.js';

export type {
  ConnectionState,
  ConnectionStatus,
  OutgoingMessage,
  ParleyClientEvents,
  ParleyClientOptions,
  SendFailure,
  TokenProvider,
  TokenResult,
} from './types.js';

/**
 * A Parley chat client: one WebSocket with reconnects, heartbeats, an outbox that resends until acked, and
 * per-conversation delivery strictly in `seq` order, exactly once, resumed from cursors with `sync`. A thin facade
 * over the modules `wireModules` connects (connection, requests, outbox, delivery, sync, conversations, timeline,
 * presence).
 */
export class ParleyClient {
  private readonly shared: ClientShared;
  private readonly m: ClientModules;
  private loaded: Promise<void> | undefined;

  constructor(options: ParleyClientOptions) {
    this.shared = { me: options.userId, waiters: [] };
    this.m = wireModules(options, this.shared);
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof ParleyClientEvents>(type: K, listener: (payload: ParleyClientEvents[K]) => void): Unsubscribe {
    return this.m.events.on(type, listener);
  }

  /** Subscribes to the next occurrence of an event. */
  once<K extends keyof ParleyClientEvents>(type: K, listener: (payload: ParleyClientEvents[K]) => void): Unsubscribe {
    return this.m.events.once(type, listener);
  }

  /** The limits this client respects: the server's, from its `hello` reply; the protocol's defaults until then. */
  get limits(): ClientLimits {
    return { ...this.m.opts.limits };
  }

  /** The current connection state. */
  get status(): ConnectionStatus {
    return this.m.connection.status;
  }

  /** The signed-in user's id, when known (from options or the token provider). */
  get userId(): string | undefined {
    return this.shared.me;
  }

  /** Starts connecting (idempotent); resolves once the first catch-up `sync` is done. */
  connect(): Promise<void> {
    if (this.m.connection.state === 'closed') return Promise.reject(closedError());
    if (this.m.connection.state === 'online') return Promise.resolve();
    const ready = new Promise<void>((resolve, reject) => this.shared.waiters.push({ resolve, reject }));
    // `void client.connect()` is common; a later close() must not become an unhandled rejection.
    ready.catch(() => undefined);
    if (this.m.connection.state === 'idle') {
      this.loaded ??= Promise.all([this.m.delivery.loadCursors(), this.m.restored]).then(() => undefined);
      this.m.connection.start(this.loaded);
    }
    return ready;
  }

  /** Skips the current backoff wait and reconnects now (e.g. on the browser's `online` event). */
  reconnectNow(): void {
    this.m.connection.reconnectNow();
  }

  /** Closes the connection for good: pending requests and unacked sends reject with `client_closed`. */
  close(): void {
    if (this.m.connection.state === 'closed') return;
    const error = closedError();
    this.m.requests.rejectAll(error);
    this.m.connection.close(() => {
      this.m.presence.close();
      this.m.outbox.close(error);
      for (const waiter of this.shared.waiters.splice(0)) waiter.reject(error);
      this.m.delivery.flushCursors();
    });
  }

  /**
   * Queues a message. It is sent now if connected, otherwise on reconnect, and resent with the same
   * `clientMessageId` until acked, so it is stored exactly once. Messages to one conversation are stored in
   * the order they were queued.
   */
  send(conversationId: string, body: string, options: { clientMessageId?: string } = {}): OutgoingMessage {
    if (this.m.connection.state === 'closed') throw closedError();
    return this.m.outbox.add(conversationId, body, options.clientMessageId, this.m.generateId).view();
  }

  /** Messages queued with `send` and not acked yet, oldest first. */
  pendingMessages(conversationId?: string): OutgoingMessage[] {
    return this.m.outbox.list(conversationId).map((entry) => entry.view());
  }

  /** Reads a page of older messages (returned oldest first). Does not affect live delivery or cursors. */
  async history(
    conversationId: string,
    options: { beforeSeq?: number; limit?: number } = {},
  ): Promise<{ messages: Message[]; nextBeforeSeq: number | null; expiredBefore?: number }> {
    const reply = await this.request('history', { conversationId, ...options });
    // Seqs below the horizon are gone: no gap fill will ask for them.
    if (reply.expiredBefore !== undefined) this.m.delivery.applyExpiry(conversationId, reply.expiredBefore);
    return {
      messages: [...reply.messages].sort((a, b) => a.seq - b.seq),
      nextBeforeSeq: reply.nextBeforeSeq,
      ...(reply.expiredBefore === undefined ? {} : { expiredBefore: reply.expiredBefore }),
    };
  }

  /** Lists the caller's conversations with unread counts (one page). */
  async listConversations(
    options: { limit?: number; cursor?: string | null } = {},
  ): Promise<{ conversations: ConversationSummary[]; nextCursor: string | null }> {
    const reply = await this.request('listConversations', options);
    for (const summary of reply.conversations) {
      this.m.book.upsert(summary);
      const { conversationId, lastDeliveredSeq, lastReadSeq } = summary;
      if (this.shared.me) this.m.book.applyReceipt({ conversationId, userId: this.shared.me, lastDeliveredSeq, lastReadSeq });
    }
    return { conversations: reply.conversations, nextCursor: reply.nextCursor };
  }

  /** Opens (or returns the existing) 1:1 conversation with `userId`. */
  async createDirect(userId: string): Promise<Conversation> {
    return this.conversationRequest('createConversation', { kind: 'direct', userId });
  }

  /** Creates a group; the caller is always a member. */
  async createGroup(title: string, members: string[], options: { clientRequestId?: string } = {}): Promise<Conversation> {
    // Pass the same clientRequestId when retrying after an error: the server then returns the first group.
    const clientRequestId = options.clientRequestId ?? this.m.generateId();
    return this.conversationRequest('createConversation', { kind: 'group', title, members, clientRequestId });
  }

  /** Adds members to a group. */
  async addMembers(conversationId: string, members: string[]): Promise<Conversation> {
    return (await this.addMembersWithInvites(conversationId, members)).conversation;
  }

  /** Adds members and also says who was invited instead (their consent is needed). */
  async addMembersWithInvites(conversationId: string, members: string[]): Promise<{ conversation: Conversation; invited: string[] }> {
    const { conversation, invited } = await this.request('addMembers', { conversationId, members });
    this.m.book.upsert(conversation);
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
    return this.request('edit', { conversationId, seq, body, clientMessageId: options.clientMessageId ?? this.m.generateId() });
  }

  /** Deletes a message (yours, or any as a group owner or admin). */
  async deleteMessage(conversationId: string, seq: number, options: { clientMessageId?: string } = {}): Promise<EventAck> {
    return this.request('deleteMessage', { conversationId, seq, clientMessageId: options.clientMessageId ?? this.m.generateId() });
  }

  /** Reacts to a message with one emoji. */
  async react(conversationId: string, seq: number, emoji: string, options: { clientMessageId?: string } = {}): Promise<EventAck> {
    return this.request('react', { conversationId, seq, emoji, clientMessageId: options.clientMessageId ?? this.m.generateId() });
  }

  /** Removes your reaction with that emoji. */
  async unreact(conversationId: string, seq: number, emoji: string, options: { clientMessageId?: string } = {}): Promise<EventAck> {
    return this.request('unreact', { conversationId, seq, emoji, clientMessageId: options.clientMessageId ?? this.m.generateId() });
  }

  /** Marks messages up to `seq` as read (also delivered). Skipped when already marked. */
  async markRead(conversationId: string, seq: number): Promise<Receipt> {
    const mine = this.m.book.mine(conversationId);
    if (mine && mine.lastReadSeq >= seq) return mine;
    const receipt = await this.request('ack', { conversationId, kind: 'read', seq });
    this.m.book.applyReceipt(withoutType(receipt));
    return receipt;
  }

  /** Tells the other members you are (or stopped) typing; throttled, best-effort, never queued offline. */
  setTyping(conversationId: string, typing: boolean): void {
    this.m.presence.setTyping(conversationId, typing);
  }

  /** Asks the server for the presence of up to 100 users and updates the local view. */
  async fetchPresence(userIds: string[]): Promise<PresenceInfo[]> {
    if (userIds.length === 0) return [];
    const { users } = await this.request('presence', { userIds });
    for (const user of users) this.m.presence.applyPresence(user);
    return users;
  }

  /** The last known presence of `userId`. */
  presenceOf(userId: string): PresenceInfo | undefined {
    return this.m.presence.presenceOf(userId);
  }

  /** Known conversations (from sync, pushes, list and create). */
  knownConversations(): Conversation[] {
    return this.m.book.all();
  }

  /** A known conversation by id. */
  conversation(conversationId: string): Conversation | undefined {
    return this.m.book.get(conversationId);
  }

  /** Every member's receipt cursors known for a conversation. */
  receiptsOf(conversationId: string): Receipt[] {
    return this.m.book.receiptsOf(conversationId);
  }

  /** Users currently typing in a conversation. */
  typingIn(conversationId: string): string[] {
    return this.m.presence.typingIn(conversationId);
  }

  /** The highest contiguous seq delivered for a conversation (its sync cursor), or 0. */
  cursor(conversationId: string): number {
    return this.m.delivery.get(conversationId)?.delivered ?? 0;
  }

  /**
   * Sends any request and resolves with its reply; rejects with a `ParleyError` carrying the server's code,
   * or `timeout`/`connection_lost`/`client_closed`. Issued while offline, it waits for the connection
   * (within its timeout).
   */
  request<A extends Action>(action: A, payload: RequestMap[A], options: RequestOptions = {}): Promise<ReplyMap[A]> {
    return this.m.requests.request(action, payload, options.timeoutMs ?? this.m.opts.requestTimeoutMs, true);
  }

  private async conversationRequest<A extends 'createConversation' | 'removeMembers' | 'leave' | 'setRole' | 'updateConversation' | 'acceptInvitation'>(
    action: A,
    payload: RequestMap[A],
  ): Promise<Conversation> {
    const { conversation } = (await this.request(action, payload)) as { conversation: Conversation };
    this.m.book.upsert(conversation);
    return conversation;
  }
}
