/**
 * A Parley server for testing the SDK (and apps built on it) without a network: the real request router and domain
 * code over the in-memory stores (the ones contract-tested against the DynamoDB adapters), behind fake WebSockets.
 * Node only (it runs server code). Every hop is asynchronous (microtasks), and hooks let a test drop, delay,
 * duplicate or reorder frames and kill connections.
 */
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';
import { createRouter } from '../../lambdas/app/router.js';
import { directConversationId } from '../../lambdas/domain/conversations.js';
import type { Deps } from '../../lambdas/domain/deps.js';
import { publish, runJob } from '../../lambdas/domain/fanout.js';
import { connected, disconnected } from '../../lambdas/domain/presence.js';
import { MemoryRateLimiter } from '../../lambdas/domain/rate-limiter.js';
import type { Limits } from '../../lambdas/shared/config.js';
import type { Conversation, Message } from '../protocol.js';
import type { WebSocketConstructor, WebSocketLike } from '../websocket.js';

type Frame = Record<string, unknown>;

/** What an intercept hook may return: `'drop'` swallows the frame, an object replaces it, nothing keeps it. */
export type InterceptResult = 'drop' | Frame | undefined;

/** Options of `FakeParleyServer`. */
export interface FakeServerOptions {
  /** Maps a token to a user id, or null to refuse the connection (HTTP 401). Default: the token is the user id. */
  authenticate?: (token: string) => string | null;
  /** The server's clock (timestamps, presence expiry, rate limits); pass a manual clock's `now`. */
  now?: () => number;
  /** Limit overrides; send, typing and read limits default to generous values for tests that burst. */
  limits?: Partial<Limits>;
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
    readonly connectionId: string,
  ) {}

  /** Who the domain sees on this connection. */
  get caller(): { userId: string; connectionId: string } {
    return { userId: this.userId, connectionId: this.connectionId };
  }

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

/** An in-memory Parley server: the real request router and domain over the in-memory stores, behind fake sockets. */
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
  interceptRequest?: (connection: FakeConnection, request: Frame) => 'drop' | undefined;
  /** Sees each reply after the request took effect; `'drop'` loses the reply, an object replaces it. */
  interceptReply?: (connection: FakeConnection, request: Frame, reply: Frame) => InterceptResult;
  /** Sees each pushed event; `'drop'` loses it (a test may `deliver` it later). */
  interceptPush?: (connection: FakeConnection, frame: Frame) => InterceptResult;

  /** The domain's dependencies: the in-memory stores the DynamoDB adapters are contract-tested against. */
  readonly deps: Deps;
  private readonly stores: ReturnType<typeof memoryDeps>;
  private readonly route: ReturnType<typeof createRouter>;
  private readonly authenticate: (token: string) => string | null;
  private connectionCounter = 0;
  private messageCounter = 0;

  constructor(options: FakeServerOptions = {}) {
    this.authenticate = options.authenticate ?? ((token) => token);
    const now = options.now ?? (() => Date.now());
    // Rate limits are the real ones' mechanism with room for tests that send in bursts on a manual clock.
    this.stores = memoryDeps({ sendBurst: 10_000, typingBurst: 10_000, syncPerWindow: 10_000, historyPerWindow: 10_000, ...options.limits });
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const server = this;
    this.deps = {
      ...this.stores.deps,
      now: () => new Date(now()),
      rateLimiter: new MemoryRateLimiter(now),
      pusher: {
        post: async (connectionId, data) => server.pushTo(connectionId, data),
        // DeleteConnection, as the local emulator answers it.
        close: async (connectionId) => {
          const connection = server.live.find((candidate) => candidate.connectionId === connectionId);
          connection?.kill(1000, 'Closed by server');
          return connection ? 'ok' : 'gone';
        },
      },
      // Jobs run at once (retry delays are not simulated); a failing job is dropped like one past its redrives.
      queue: {
        enqueue: async (jobs) => {
          for (const job of jobs) queueMicrotask(() => void runJob(server.deps, job).catch(() => undefined));
        },
      },
    };
    this.route = createRouter(this.deps);
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

  /**
   * Creates a conversation directly (test setup); no events are pushed. The in-memory stores finish their writes
   * before their first `await`, so the conversation exists when this returns.
   */
  seedConversation(kind: 'direct' | 'group', members: string[], title: string | null = null): Conversation {
    const unique = [...new Set(members)].sort();
    const conversation = {
      conversationId: kind === 'direct' ? directConversationId(unique[0]!, unique[1] ?? unique[0]!) : `grp_seed-${++this.messageCounter}`,
      kind,
      title: kind === 'group' ? (title ?? 'group') : null,
      members: unique,
      createdBy: members[0]!,
      createdAt: this.deps.now().toISOString(),
      lastSeq: 0,
      lastMessageAt: null,
      // Known from the start, so tests can build cursors; the first message keeps it.
      epoch: `fe-${++this.messageCounter}`,
    };
    void (kind === 'direct' ? this.stores.conversations.createDirect(conversation) : this.stores.conversations.createGroup(conversation));
    return { ...conversation, members: [...unique] };
  }

  /** Stores a message as `senderId` and pushes it to members, as if sent from another device. */
  post(senderId: string, conversationId: string, body: string, clientMessageId?: string): Message {
    const message = this.store(senderId, conversationId, body, clientMessageId ?? `srv-${++this.messageCounter}`);
    const conversation = this.stores.conversations.conversations.get(conversationId)!;
    void publish(this.deps, { type: 'message', message }, conversation.members);
    return message;
  }

  /** Stores a message without pushing it (a push that was lost). */
  postSilently(senderId: string, conversationId: string, body: string): Message {
    return this.store(senderId, conversationId, body, `silent-${++this.messageCounter}`);
  }

  /** Takes the next seq and fills it with a `skipped` placeholder, as a reader does when its sender died; nothing is pushed. */
  skipSeq(conversationId: string): number {
    const conversation = this.stores.conversations.conversations.get(conversationId);
    if (!conversation) throw new Error(`no conversation ${conversationId}`);
    const seq = conversation.lastSeq + 1;
    const epoch = conversation.epoch ?? `fe-${++this.messageCounter}`;
    // The in-memory store applies both before its first `await`.
    void this.stores.messages.allocate(
      conversationId,
      { epoch, membershipSeq: conversation.membershipSeq ?? 0, retentionDays: conversation.retentionDays },
      this.deps.now().toISOString(),
    );
    void this.stores.messages.fillHole({
      conversationId,
      seq,
      senderId: '',
      clientMessageId: '',
      body: '',
      createdAt: this.deps.now().toISOString(),
      epoch,
      kind: 'skipped',
    });
    return seq;
  }

  /** Recreates a conversation under the same id in a new epoch, as a wiped or restored table would; nothing is pushed. */
  recreateConversation(conversationId: string): Conversation {
    const old = this.stores.conversations.conversations.get(conversationId);
    if (!old) throw new Error(`no conversation ${conversationId}`);
    this.stores.conversations.conversations.delete(conversationId);
    for (const key of [...this.stores.conversations.members.keys()])
      if (key.startsWith(`${conversationId}\u0000`)) this.stores.conversations.members.delete(key);
    this.stores.messages.messages.delete(conversationId);
    for (const key of [...this.stores.messages.idempotency.keys()])
      if (key.startsWith(JSON.stringify([conversationId]).slice(0, -1))) this.stores.messages.idempotency.delete(key);
    return this.seedConversation(old.kind, old.members, old.title);
  }

  /** Stored messages of a conversation, in seq order. */
  messagesOf(conversationId: string): Message[] {
    return [...(this.stores.messages.messages.get(conversationId) ?? [])];
  }

  /** A member's receipt cursors. */
  receiptOf(conversationId: string, userId: string): { lastDeliveredSeq: number; lastReadSeq: number } | undefined {
    const member = this.stores.conversations.members.get(`${conversationId}\u0000${userId}`);
    return member && { lastDeliveredSeq: member.lastDeliveredSeq, lastReadSeq: member.lastReadSeq };
  }

  /** Requests of one action, in arrival order. */
  requestsOf(action: string): Frame[] {
    return this.requests.filter((r) => r.frame.action === action).map((r) => r.frame);
  }

  /** Appends synchronously: the in-memory store assigns the seq before its first `await`. */
  private store(senderId: string, conversationId: string, body: string, clientMessageId: string): Message {
    const conversation = this.stores.conversations.conversations.get(conversationId);
    if (!conversation) throw new Error(`no conversation ${conversationId}`);
    const seq = conversation.lastSeq + 1;
    const createdAt = this.deps.now().toISOString();
    void this.stores.messages.append(
      { conversationId, senderId, clientMessageId, body, createdAt, epoch: conversation.epoch ?? `fe-${++this.messageCounter}` },
      conversation.lastSeq,
    );
    return this.messagesOf(conversationId).find((message) => message.seq === seq)!;
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
    const connection = new FakeConnection(this, socket, userId, token!, `fake-${++this.connectionCounter}`);
    socket.connection = connection;
    this.connections.push(connection);
    if (this.autoOpen) socket.open();
  }

  /** @internal */
  connected(connection: FakeConnection): void {
    void connected(this.deps, connection.caller);
  }

  /** @internal */
  disconnected(connection: FakeConnection): void {
    void disconnected(this.deps, connection.caller);
  }

  /** @internal */
  receive(connection: FakeConnection, text: string): void {
    let request: Frame | undefined;
    try {
      request = JSON.parse(text) as Frame;
    } catch {
      // The router answers it as API Gateway's actions function would.
    }
    if (request && typeof request === 'object') {
      connection.received.push(request);
      this.requests.push({ userId: connection.userId, frame: request });
      if (this.interceptRequest?.(connection, request) === 'drop') return;
    }
    void this.route({ body: text }, connection.caller).then((reply) => {
      const intercepted = request ? this.interceptReply?.(connection, request, reply) : undefined;
      if (intercepted === 'drop') return;
      connection.deliver(intercepted ?? reply);
    });
  }

  private pushTo(connectionId: string, data: string): 'ok' | 'gone' {
    const connection = this.live.find((candidate) => candidate.connectionId === connectionId);
    if (!connection) return 'gone';
    const frame = JSON.parse(data) as Frame;
    const intercepted = this.interceptPush?.(connection, frame);
    if (intercepted !== 'drop') connection.deliver(intercepted ?? frame);
    return 'ok';
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
