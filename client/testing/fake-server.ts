/**
 * An in-memory Parley server speaking PROTOCOL.md over a fake WebSocket, for testing the SDK (and apps built
 * on it) without a network. Every hop is asynchronous (microtasks), and hooks let a test drop, delay,
 * duplicate or reorder frames and kill connections.
 */
import type { Conversation, Message, PresenceInfo, ServerErrorCode } from '../protocol.js';
import type { WebSocketConstructor, WebSocketLike } from '../websocket.js';

type Frame = Record<string, unknown>;

interface StoredConversation {
  conversation: Conversation;
  messages: Message[];
  receipts: Map<string, { lastDeliveredSeq: number; lastReadSeq: number }>;
}

/** What an intercept hook may return: `'drop'` swallows the frame, an object replaces it, nothing keeps it. */
export type InterceptResult = 'drop' | Frame | void;

/** Options of `FakeParleyServer`. */
export interface FakeServerOptions {
  /** Maps a token to a user id, or null to refuse the connection (HTTP 401). Default: the token is the user id. */
  authenticate?: (token: string) => string | null;
  /** Source of `createdAt` timestamps. */
  now?: () => number;
  /** Memberships per `sync` page (default 100) — lower it to exercise `nextFrom`. */
  syncPageSize?: number;
  /** Messages per `sync` reply (default unbounded), standing in for the real server's byte budget: `hasMore`. */
  syncMessagesPerPage?: number;
}

/** The server side of one fake connection. */
export class FakeConnection {
  /** Frames received from the client, parsed. */
  readonly received: Frame[] = [];
  /** Frames delivered to the client. */
  readonly sent: Frame[] = [];
  open = false;

  constructor(
    readonly server: FakeParleyServer,
    readonly socket: FakeSocket,
    readonly userId: string,
    readonly token: string,
  ) {}

  /** Delivers a frame to the client (asynchronously), bypassing intercept hooks. */
  deliver(frame: Frame): void {
    if (!this.open) return;
    this.sent.push(frame);
    const text = JSON.stringify(frame);
    queueMicrotask(() => {
      if (this.open) this.socket.onmessage?.({ data: text } as never);
    });
  }

  /** Closes the connection from the server side, as a crash or network drop would. */
  kill(code = 1006, reason = ''): void {
    if (!this.open) return;
    this.open = false;
    this.server.disconnected(this);
    this.socket.serverClosed(code, reason);
  }
}

/** The client side of a fake connection; implements the WebSocket surface the SDK uses. */
export class FakeSocket implements WebSocketLike {
  onopen: ((event: never) => void) | null = null;
  onmessage: ((event: never) => void) | null = null;
  onclose: ((event: never) => void) | null = null;
  onerror: ((event: never) => void) | null = null;
  readyState = 0;
  connection: FakeConnection | undefined;

  constructor(
    private readonly server: FakeParleyServer,
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    queueMicrotask(() => server.accept(this));
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error(`send on a socket in state ${this.readyState}`);
    const connection = this.connection;
    queueMicrotask(() => {
      if (connection?.open) this.server.receive(connection, data);
    });
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    const connection = this.connection;
    if (connection?.open) {
      connection.open = false;
      this.server.disconnected(connection);
    }
    queueMicrotask(() => this.finish(code, reason));
  }

  /** Opens the socket (when the server was told not to open automatically). */
  open(): void {
    if (this.readyState !== 0 || !this.connection) return;
    this.readyState = 1;
    this.connection.open = true;
    this.server.connected(this.connection);
    this.onopen?.({} as never);
  }

  serverClosed(code: number, reason: string): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    queueMicrotask(() => this.finish(code, reason));
  }

  /** Refuses the handshake like a 401: error then close 1006, never open. */
  refuse(): void {
    this.readyState = 3;
    this.onerror?.({} as never);
    this.onclose?.({ code: 1006, reason: '' } as never);
  }

  private finish(code: number, reason: string): void {
    this.readyState = 3;
    this.onclose?.({ code, reason } as never);
  }
}

/** An in-memory implementation of the Parley protocol. */
export class FakeParleyServer {
  /** A WebSocket constructor whose sockets connect to this server; pass it as the SDK's `WebSocket` option. */
  readonly WebSocket: WebSocketConstructor;
  /** Live and past connections, in connection order. */
  readonly connections: FakeConnection[] = [];
  /** Every socket the client created (including refused ones). */
  readonly sockets: FakeSocket[] = [];
  /** Every request received, with the connection's user. */
  readonly requests: Array<{ userId: string; frame: Frame }> = [];
  /** Refuse new connections (as an expired token would). */
  refuseConnections = false;
  /** Open accepted sockets at once (default); when false a test calls `socket.open()` itself. */
  autoOpen = true;
  /** Sees each request before it is processed; `'drop'` loses it (no reply, no effect). */
  interceptRequest?: (connection: FakeConnection, request: Frame) => 'drop' | void;
  /** Sees each reply after the request took effect; `'drop'` loses the reply, an object replaces it. */
  interceptReply?: (connection: FakeConnection, request: Frame, reply: Frame) => InterceptResult;
  /** Sees each pushed event; `'drop'` loses it (a test may `deliver` it later). */
  interceptPush?: (connection: FakeConnection, frame: Frame) => InterceptResult;

  private readonly conversations = new Map<string, StoredConversation>();
  private readonly idempotency = new Map<string, Frame>();
  private readonly lastSeen = new Map<string, string>();
  private groupCounter = 0;
  private epochCounter = 0;
  private readonly authenticate: (token: string) => string | null;
  private readonly now: () => number;
  private readonly syncPageSize: number;
  private readonly syncMessagesPerPage: number;

  constructor(options: FakeServerOptions = {}) {
    this.authenticate = options.authenticate ?? ((token) => token);
    this.now = options.now ?? (() => Date.now());
    this.syncPageSize = options.syncPageSize ?? 100;
    this.syncMessagesPerPage = options.syncMessagesPerPage ?? Infinity;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const server = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(server, url, protocols);
        server.sockets.push(this);
      }
    };
  }

  /** Connections currently open. */
  get live(): FakeConnection[] {
    return this.connections.filter((c) => c.open);
  }

  /** Open connections of one user. */
  connectionsOf(userId: string): FakeConnection[] {
    return this.live.filter((c) => c.userId === userId);
  }

  /** Kills every open connection (a server restart or network outage). */
  killAll(code = 1006): void {
    for (const connection of this.live) connection.kill(code);
  }

  /** Creates a conversation directly (test setup); no events are pushed. */
  seedConversation(kind: 'direct' | 'group', members: string[], title: string | null = null): Conversation {
    return this.createConversation(members[0]!, kind, members, title).conversation;
  }

  /** Recreates a conversation under the same id in a new epoch, as a wiped or restored table would; nothing is pushed. */
  recreateConversation(conversationId: string): Conversation {
    const stored = this.conversations.get(conversationId);
    if (!stored) throw new Error(`no conversation ${conversationId}`);
    stored.conversation = { ...stored.conversation, lastSeq: 0, epoch: `fe${++this.epochCounter}` };
    stored.messages = [];
    stored.receipts = new Map();
    for (const key of [...this.idempotency.keys()]) if (key.includes(`\u0000${conversationId}\u0000`)) this.idempotency.delete(key);
    return { ...stored.conversation };
  }

  /** Stores a message as `senderId` and pushes it to members, as if sent from another device. */
  post(senderId: string, conversationId: string, body: string, clientMessageId?: string): Message {
    const { message } = this.store(senderId, conversationId, body, clientMessageId ?? `srv-${this.now()}-${Math.random()}`);
    this.pushToMembers(conversationId, { type: 'message', message });
    return message;
  }

  /** Stores a message without pushing it (a push that was lost). */
  postSilently(senderId: string, conversationId: string, body: string): Message {
    return this.store(senderId, conversationId, body, `silent-${this.now()}-${Math.random()}`).message;
  }

  /** Stored messages of a conversation, in seq order. */
  messagesOf(conversationId: string): Message[] {
    return [...(this.conversations.get(conversationId)?.messages ?? [])];
  }

  /** A member's receipt cursors. */
  receiptOf(conversationId: string, userId: string): { lastDeliveredSeq: number; lastReadSeq: number } | undefined {
    return this.conversations.get(conversationId)?.receipts.get(userId);
  }

  /** Requests of one action, in arrival order. */
  requestsOf(action: string): Frame[] {
    return this.requests.filter((r) => r.frame.action === action).map((r) => r.frame);
  }

  // ---------------------------------------------------------------- transport

  /** @internal */
  accept(socket: FakeSocket): void {
    if (socket.readyState !== 0) return;
    const token = tokenOf(socket);
    const userId = token === null || this.refuseConnections ? null : this.authenticate(token);
    if (userId === null) {
      socket.refuse();
      return;
    }
    const connection = new FakeConnection(this, socket, userId, token!);
    socket.connection = connection;
    this.connections.push(connection);
    if (this.autoOpen) socket.open();
  }

  /** @internal */
  connected(connection: FakeConnection): void {
    if (this.connectionsOf(connection.userId).length === 1) this.pushPresence(connection.userId);
  }

  /** @internal */
  disconnected(connection: FakeConnection): void {
    if (this.connectionsOf(connection.userId).length === 0) {
      this.lastSeen.set(connection.userId, new Date(this.now()).toISOString());
      this.pushPresence(connection.userId);
    }
  }

  /** @internal */
  receive(connection: FakeConnection, text: string): void {
    let request: Frame;
    try {
      request = JSON.parse(text) as Frame;
    } catch {
      connection.deliver({ type: 'error', code: 'invalid_json', message: 'not JSON' });
      return;
    }
    connection.received.push(request);
    this.requests.push({ userId: connection.userId, frame: request });
    if (this.interceptRequest?.(connection, request) === 'drop') return;
    let reply: Frame;
    try {
      reply = { ...this.handle(connection, request), requestId: request.requestId };
    } catch (error) {
      if (!(error instanceof FakeServerError)) throw error;
      reply = { type: 'error', requestId: request.requestId, code: error.code, message: error.message };
    }
    const intercepted = this.interceptReply?.(connection, request, reply);
    if (intercepted === 'drop') return;
    connection.deliver(intercepted ?? reply);
  }

  private push(connection: FakeConnection, frame: Frame): void {
    const intercepted = this.interceptPush?.(connection, frame);
    if (intercepted === 'drop') return;
    connection.deliver(intercepted ?? frame);
  }

  private pushToMembers(conversationId: string, frame: Frame, except?: { user?: string; connection?: FakeConnection }): void {
    const stored = this.conversations.get(conversationId);
    if (!stored) return;
    for (const member of stored.conversation.members) {
      if (member === except?.user) continue;
      for (const connection of this.connectionsOf(member)) {
        if (connection !== except?.connection) this.push(connection, frame);
      }
    }
  }

  private pushPresence(userId: string): void {
    const users = [this.presenceOf(userId)];
    const peers = new Set<string>();
    for (const stored of this.conversations.values()) {
      if (stored.conversation.members.includes(userId)) for (const m of stored.conversation.members) peers.add(m);
    }
    peers.delete(userId);
    for (const peer of peers) for (const connection of this.connectionsOf(peer)) this.push(connection, { type: 'presence', users });
  }

  // ---------------------------------------------------------------- protocol

  private handle(connection: FakeConnection, request: Frame): Frame {
    const me = connection.userId;
    switch (request.action) {
      case 'createConversation': {
        if (request.kind === 'direct') {
          const other = str(request.userId, 'userId');
          const { conversation, created } = this.createConversation(me, 'direct', [me, other], null);
          if (created) this.pushToMembers(conversation.conversationId, { type: 'conversation', conversation });
          return { type: 'conversation', conversation };
        }
        if (request.kind === 'group') {
          const members = strList(request.members, 'members');
          const { conversation } = this.createConversation(me, 'group', [me, ...members], str(request.title, 'title'));
          this.pushToMembers(conversation.conversationId, { type: 'conversation', conversation });
          return { type: 'conversation', conversation };
        }
        throw new FakeServerError('bad_request', 'kind must be direct or group');
      }
      case 'addMembers': {
        const stored = this.member(me, request.conversationId);
        if (stored.conversation.kind !== 'group') throw new FakeServerError('bad_request', 'not a group');
        for (const m of strList(request.members, 'members')) {
          if (!stored.conversation.members.includes(m)) stored.conversation.members.push(m);
        }
        const conversation = { ...stored.conversation, members: [...stored.conversation.members] };
        this.pushToMembers(conversation.conversationId, { type: 'conversation', conversation });
        return { type: 'conversation', conversation };
      }
      case 'listConversations': {
        const conversations = [...this.conversations.values()]
          .filter((s) => s.conversation.members.includes(me))
          .map((s) => {
            const receipt = s.receipts.get(me) ?? { lastDeliveredSeq: 0, lastReadSeq: 0 };
            return {
              ...s.conversation,
              lastMessageAt: s.messages.at(-1)?.createdAt ?? null,
              ...receipt,
              unread: s.conversation.lastSeq - receipt.lastReadSeq,
            };
          });
        return { type: 'conversations', conversations, nextCursor: null };
      }
      case 'send': {
        const stored = this.member(me, request.conversationId);
        const clientMessageId = str(request.clientMessageId, 'clientMessageId');
        const { message, duplicate } = this.store(me, stored.conversation.conversationId, str(request.body, 'body'), clientMessageId);
        if (!duplicate) {
          this.pushToMembers(message.conversationId, { type: 'message', message }, { connection });
        }
        return {
          type: 'ack',
          conversationId: message.conversationId,
          clientMessageId,
          seq: message.seq,
          createdAt: message.createdAt,
          duplicate,
        };
      }
      case 'history': {
        const stored = this.member(me, request.conversationId);
        const limit = typeof request.limit === 'number' ? request.limit : 50;
        if (limit < 1 || limit > 100) throw new FakeServerError('bad_request', 'limit');
        const before = typeof request.beforeSeq === 'number' ? request.beforeSeq : Infinity;
        const older = stored.messages.filter((m) => m.seq < before).reverse();
        const messages = older.slice(0, limit);
        const last = messages.at(-1);
        return {
          type: 'history',
          conversationId: stored.conversation.conversationId,
          messages,
          nextBeforeSeq: last && last.seq > 1 ? last.seq : null,
        };
      }
      case 'sync': {
        // The same paging as the real server: memberships in id order from `from` (through `through`), entries only
        // for conversations that changed after their cursor, `limited` past `limit`, `reset` for a foreign epoch.
        const cursors = (request.cursors ?? {}) as Record<string, { seq: number; epoch: string | null }>;
        const limit = typeof request.limit === 'number' ? request.limit : 50;
        if (limit < 1 || limit > 100) throw new FakeServerError('bad_request', 'limit');
        const from = typeof request.from === 'string' ? request.from : undefined;
        const through = typeof request.through === 'string' ? request.through : undefined;
        const mine = [...this.conversations.values()]
          .filter((s) => s.conversation.members.includes(me) && (from === undefined || s.conversation.conversationId >= from))
          .sort((a, b) => (a.conversation.conversationId < b.conversation.conversationId ? -1 : 1));
        const inRange = mine.filter((s) => through === undefined || s.conversation.conversationId <= through);
        const page = inRange.slice(0, this.syncPageSize);
        const conversations: Frame[] = [];
        let budget = this.syncMessagesPerPage;
        let nextFrom = mine[page.length]?.conversation.conversationId ?? null;
        for (const s of page) {
          const { conversationId, lastSeq, epoch = null } = s.conversation;
          const cursor = cursors[conversationId];
          const reset = cursor !== undefined && cursor.seq > 0 && (cursor.epoch !== epoch || cursor.seq > lastSeq);
          const after = cursor && !reset ? cursor.seq : 0;
          if (cursor && !reset && after >= lastSeq) continue;
          const missed = s.messages.filter((m) => m.seq > after);
          const limited = missed.length > limit;
          const wanted = limited ? missed.slice(-limit) : missed;
          if (budget <= 0 && wanted.length > 0) {
            nextFrom = conversationId;
            break;
          }
          const messages = limited ? wanted.slice(-budget) : wanted.slice(0, budget);
          budget -= messages.length;
          const hasMore = !limited && messages.length < wanted.length;
          conversations.push({
            conversationId,
            epoch,
            lastSeq,
            conversation: { ...s.conversation, members: [...s.conversation.members] },
            messages,
            hasMore,
            limited,
            reset,
            receipts: [...s.receipts].map(([userId, r]) => ({ conversationId, userId, ...r })),
          });
          if (hasMore) {
            nextFrom = conversationId;
            break;
          }
        }
        const peers = new Set(page.flatMap((s) => (s.conversation.kind === 'direct' ? s.conversation.members : [])));
        peers.delete(me);
        return { type: 'sync', conversations, nextFrom, presence: [...peers].map((p) => this.presenceOf(p)) };
      }
      case 'heartbeat':
        return { type: 'pong', serverTime: new Date(this.now()).toISOString() };
      case 'ack': {
        const stored = this.member(me, request.conversationId);
        const seq = request.seq;
        if (typeof seq !== 'number' || seq < 0 || seq > stored.conversation.lastSeq) {
          throw new FakeServerError('bad_request', 'seq');
        }
        const previous = stored.receipts.get(me) ?? { lastDeliveredSeq: 0, lastReadSeq: 0 };
        const next = { ...previous };
        if (request.kind === 'read') next.lastReadSeq = Math.max(next.lastReadSeq, seq);
        next.lastDeliveredSeq = Math.max(next.lastDeliveredSeq, seq, next.lastReadSeq);
        stored.receipts.set(me, next);
        const frame = { type: 'receipt', conversationId: stored.conversation.conversationId, userId: me, ...next };
        if (next.lastDeliveredSeq !== previous.lastDeliveredSeq || next.lastReadSeq !== previous.lastReadSeq) {
          this.pushToMembers(stored.conversation.conversationId, frame, { user: me });
        }
        return frame;
      }
      case 'typing': {
        const stored = this.member(me, request.conversationId);
        const state = request.state === 'stop' ? 'stop' : 'start';
        this.pushToMembers(
          stored.conversation.conversationId,
          { type: 'typing', conversationId: stored.conversation.conversationId, userId: me, state },
          { user: me },
        );
        return { type: 'ok' };
      }
      case 'presence': {
        const ids = strList(request.userIds, 'userIds');
        if (ids.length === 0 || ids.length > 100) throw new FakeServerError('bad_request', 'userIds: 1-100 users');
        const users = ids.map((id) =>
          this.sharesConversation(me, id) ? this.presenceOf(id) : { userId: id, status: 'unknown', lastSeenAt: null },
        );
        return { type: 'presence', users };
      }
      default:
        throw new FakeServerError('unknown_action', `unknown action ${String(request.action)}`);
    }
  }

  private createConversation(
    creator: string,
    kind: 'direct' | 'group',
    members: string[],
    title: string | null,
  ): { conversation: Conversation; created: boolean } {
    const unique = [...new Set(members)];
    const conversationId = kind === 'direct' ? `dm_${[...unique].sort().join('_')}` : `grp_${++this.groupCounter}`;
    const existing = this.conversations.get(conversationId);
    if (existing) return { conversation: { ...existing.conversation }, created: false };
    const conversation: Conversation = {
      conversationId,
      kind,
      title,
      members: unique,
      createdBy: creator,
      createdAt: new Date(this.now()).toISOString(),
      lastSeq: 0,
      epoch: `fe${++this.epochCounter}`,
    };
    this.conversations.set(conversationId, { conversation, messages: [], receipts: new Map() });
    return { conversation: { ...conversation, members: [...unique] }, created: true };
  }

  private store(
    senderId: string,
    conversationId: string,
    body: string,
    clientMessageId: string,
  ): { message: Message; duplicate: boolean } {
    const stored = this.conversations.get(conversationId);
    if (!stored) throw new FakeServerError('not_found', 'no such conversation');
    const key = `${senderId}\u0000${conversationId}\u0000${clientMessageId}`;
    const seen = this.idempotency.get(key);
    if (seen) return { message: seen as unknown as Message, duplicate: true };
    const message: Message = {
      conversationId,
      seq: ++stored.conversation.lastSeq,
      senderId,
      clientMessageId,
      body,
      createdAt: new Date(this.now()).toISOString(),
    };
    stored.messages.push(message);
    this.idempotency.set(key, message as unknown as Frame);
    return { message, duplicate: false };
  }

  private member(userId: string, conversationId: unknown): StoredConversation {
    const stored = this.conversations.get(str(conversationId, 'conversationId'));
    if (!stored) throw new FakeServerError('not_found', 'no such conversation');
    if (!stored.conversation.members.includes(userId)) throw new FakeServerError('forbidden', 'not a member');
    return stored;
  }

  private sharesConversation(a: string, b: string): boolean {
    for (const s of this.conversations.values()) {
      if (s.conversation.members.includes(a) && s.conversation.members.includes(b)) return true;
    }
    return false;
  }

  private presenceOf(userId: string): PresenceInfo {
    return this.connectionsOf(userId).length > 0
      ? { userId, status: 'online', lastSeenAt: null }
      : { userId, status: 'offline', lastSeenAt: this.lastSeen.get(userId) ?? null };
  }
}

/** A protocol error raised by the fake server's handlers. */
export class FakeServerError extends Error {
  constructor(
    readonly code: ServerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function tokenOf(socket: FakeSocket): string | null {
  if (Array.isArray(socket.protocols) && socket.protocols[0] === 'parley' && socket.protocols[1]) {
    return socket.protocols[1];
  }
  const query = socket.url.split('?')[1] ?? '';
  for (const part of query.split('&')) {
    const [name, value] = part.split('=');
    if (name === 'token' && value) return decodeURIComponent(value);
  }
  return null;
}

function str(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new FakeServerError('bad_request', `${field} must be a string`);
  return value;
}

function strList(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new FakeServerError('bad_request', `${field} must be a list of strings`);
  }
  return value as string[];
}
