import { defaultBackoff } from './backoff.js';
import { systemClock } from './clock.js';
import { Connection } from './connection.js';
import { ConversationBook } from './conversations.js';
import { MemoryCursorStore, StorageCursorStore } from './cursor-store.js';
import { Delivery } from './delivery.js';
import { DurableOutbox, storageKeys } from './durable-state.js';
import { Emitter } from './emitter.js';
import { ParleyError, type ParleyErrorCode } from './errors.js';
import { Outbox, type OutboxEntry } from './outbox.js';
import { PresenceTracker } from './presence.js';
import type { Action, PresenceInfo, Receipt, RequestMap, SendAck, TypingEvent } from './protocol.js';
import { RequestTracker } from './requests.js';
import { SyncRunner } from './sync-runner.js';
import { Timeline } from './timeline.js';
import { resolveOptions, type ParleyClientEvents, type ParleyClientOptions, type ResolvedOptions } from './types.js';
import { asError, isConversation, isMessage, randomId, withoutType } from './util.js';
import { frameText, type WebSocketConstructor } from './websocket.js';

/** State the facade and the modules share. */
export interface ClientShared {
  /** The signed-in user, from the options or the token provider. */
  me: string | undefined;
  /** `connect()` calls waiting for the first complete catch-up. */
  waiters: Array<{ resolve: () => void; reject: (error: ParleyError) => void }>;
}

/** The client's modules, wired to each other. */
export interface ClientModules {
  events: Emitter<ParleyClientEvents>;
  opts: ResolvedOptions;
  generateId: () => string;
  connection: Connection;
  requests: RequestTracker;
  outbox: Outbox;
  delivery: Delivery;
  book: ConversationBook;
  timeline: Timeline;
  presence: PresenceTracker;
  sync: SyncRunner;
  /** Settles once stored unsent messages are back in the outbox (at once without `storage`). */
  restored: Promise<void>;
}

/** Builds every module of a client and connects their hooks; the facade only forwards its public API. */
export function wireModules(options: ParleyClientOptions, shared: ClientShared): ClientModules {
  const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!impl) {
    throw new TypeError('ParleyClient: no WebSocket implementation; pass options.WebSocket (e.g. the `ws` package)');
  }
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const backoff = { ...defaultBackoff, ...options.backoff };
  const opts = resolveOptions(options);
  // A throwing listener is the application's bug; surface it without breaking delivery.
  const events = new Emitter<ParleyClientEvents>((error) =>
    queueMicrotask(() => {
      throw error;
    }),
  );
  const emit = events.emit.bind(events) as (type: keyof ParleyClientEvents, payload: unknown) => void;
  const m = { events, opts, generateId: options.generateId ?? (() => randomId(random)) } as ClientModules;
  const { storage } = options;
  // State is namespaced by user, so the user must be known before the token provider first runs.
  if (storage && !options.userId) throw new TypeError('ParleyClient: the storage option needs options.userId');
  const keys = storage && options.userId ? storageKeys(options.userId) : undefined;
  const durable =
    storage && keys
      ? new DurableOutbox(
          storage,
          keys.outbox,
          () => m.outbox.unsent(),
          (e) => events.emit('error', e),
        )
      : undefined;
  const cursorStore = options.cursorStore ?? (storage && keys ? new StorageCursorStore(storage, keys.cursors) : new MemoryCursorStore());
  const session = () => m.connection.socket;
  const isOpen = () => m.connection.isOpen;
  const me = () => shared.me;
  const raw = <A extends Action>(action: A, payload: RequestMap[A], timeoutMs = opts.requestTimeoutMs) => m.requests.request(action, payload, timeoutMs, false);

  m.connection = new Connection(
    { url: options.url, token: options.token, WebSocket: impl, clock, random, backoff, opts },
    {
      onOpen: () => {
        // First frame of every connection; until its reply (or if it fails, e.g. an older server) the defaults hold.
        raw('hello', {}).then(
          (reply) => Object.assign(opts.limits, reply.limits),
          () => undefined,
        );
        m.requests.flushQueued();
        m.outbox.pump();
        void m.sync.run();
      },
      onFrame: (data) => handleFrame(m, data),
      onDown: () => {
        m.sync.abort();
        m.delivery.suspend();
        m.book.suspend();
        m.presence.suspend();
        m.requests.failInFlight();
      },
      onStatus: (status) => events.emit('status', status),
      onError: (error) => events.emit('error', error),
      onUserId: (userId) => (shared.me = userId),
      heartbeat: () => raw('heartbeat', {}),
    },
  );
  m.requests = new RequestTracker(
    clock,
    {
      isClosed: () => m.connection.state === 'closed',
      isOpen,
      write: (frame) => m.connection.write(frame),
      limits: () => opts.limits,
    },
    { backoff, random },
  );
  m.outbox = new Outbox(clock, backoff, random, {
    isOpen,
    limits: () => opts.limits,
    send: ({ conversationId, clientMessageId, body }) => raw('send', { conversationId, clientMessageId, body }),
    onAcked: (entry, ack) => ownMessageStored(m, shared, entry, ack),
    onFailed: (failure) => events.emit('sendFailed', failure),
    onChange: () => durable?.save(),
  });
  m.delivery = new Delivery(clock, backoff, random, opts, cursorStore, {
    isOnline: () => m.connection.isOnline,
    session,
    history: (conversationId, beforeSeq, limit) => raw('history', { conversationId, beforeSeq, limit }),
    deliver: (id, messages, delivered) => {
      m.book.raiseLastSeq(id, delivered);
      if (m.timeline.deliver(messages)) m.book.sendDeliveredReceipt(id);
    },
    lastSeqOf: (id) => m.book.get(id)?.lastSeq,
    onReset: (id) => m.book.forget(id),
    upsertConversation: (conversation) => m.book.upsert(conversation),
    applyReceipt: (receipt) => m.book.applyReceipt(receipt),
    raiseLastSeq: (id, seq) => m.book.raiseLastSeq(id, seq),
    emit,
  });
  m.book = new ConversationBook(opts, {
    me,
    isOpen,
    session,
    epochOf: (id) => m.delivery.epochOf(id),
    setEpoch: (id, epoch) => m.delivery.setEpoch(id, epoch),
    reset: (id) => m.delivery.reset(id),
    hint: (id, seq) => m.delivery.hint(id, seq),
    delivered: (id) => m.delivery.get(id)?.delivered,
    ackDelivered: (conversationId, seq) => raw('ack', { conversationId, kind: 'delivered', seq }),
    emit,
  });
  m.timeline = new Timeline({
    me,
    conversation: (id) => m.book.get(id),
    upsertConversation: (conversation) => m.book.upsert(conversation),
    emit,
  });
  m.presence = new PresenceTracker(clock, opts, {
    isOpen,
    sendTyping: (conversationId, state) => raw('typing', { conversationId, state }),
    emit,
  });
  m.sync = new SyncRunner(clock, backoff, random, opts.syncLimit, {
    session,
    ids: () => m.delivery.ids(),
    cursorOf: (id) => m.delivery.cursorOf(id),
    request: (payload) => raw('sync', payload, opts.syncTimeoutMs),
    applyEntry: (entry) => m.delivery.applySyncEntry(entry),
    applyPresence: (user) => m.presence.applyPresence(user),
    limits: () => opts.limits,
    onSynced: (summary) => {
      m.connection.markOnline();
      events.emit('synced', summary);
      for (const waiter of shared.waiters.splice(0)) waiter.resolve();
      m.delivery.resumeAll();
    },
    onFailed: (error) => {
      const ws = m.connection.socket;
      events.emit('error', asError(error, 'sync failed'));
      if (ws) m.connection.drop(ws, 'sync failed');
    },
  });
  m.restored = durable ? durable.load((messages) => m.outbox.restore(messages)) : Promise.resolve();
  return m;
}

/** Our message was stored: show it at once when we know who we are, else fetch it like any other gap. */
function ownMessageStored(m: ClientModules, shared: ClientShared, entry: OutboxEntry, ack: SendAck): void {
  m.events.emit('ack', ack);
  if (!shared.me) {
    m.delivery.expect(ack.conversationId, ack.seq);
    return;
  }
  const { conversationId, seq, clientMessageId, createdAt, epoch } = ack;
  m.delivery.ingest([
    { conversationId, seq, senderId: shared.me, clientMessageId, body: entry.body, createdAt, ...(typeof epoch === 'string' ? { epoch } : {}) },
  ]);
}

/** Routes one frame: `token_expired`, a reply (or a late ack), or a push. */
function handleFrame(m: ClientModules, data: unknown): void {
  const text = frameText(data);
  let frame: Record<string, unknown>;
  try {
    const parsed: unknown = text === null ? null : JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    frame = parsed as Record<string, unknown>;
  } catch {
    m.events.emit('error', new ParleyError('protocol', 'unreadable frame from server'));
    return;
  }
  // The server closes the connection right after this; the request it answers is resent on the next one.
  if (frame.type === 'error' && frame.code === 'token_expired') {
    m.connection.renew('token expired');
    return;
  }
  // API Gateway's own error frame: no `type`, and its `requestId` is API Gateway's, not ours (PROTOCOL.md, Errors).
  if (frame.type === undefined && typeof frame.message === 'string') {
    m.requests.gatewayError();
    return;
  }
  if (typeof frame.requestId === 'string') {
    // A reply that arrived after its timeout: an ack still tells us the message is stored.
    if (!m.requests.reply(frame.requestId, frame) && frame.type === 'ack') m.outbox.complete(frame as unknown as SendAck);
    return;
  }
  switch (frame.type) {
    case 'message':
      if (isMessage(frame.message)) m.delivery.ingest([frame.message]);
      else m.events.emit('error', new ParleyError('protocol', 'malformed message push'));
      return;
    case 'conversation':
      if (isConversation(frame.conversation)) m.book.upsert(frame.conversation);
      return;
    case 'receipt':
      m.book.applyReceipt(withoutType(frame as unknown as Receipt));
      return;
    case 'presence':
      for (const user of (frame.users as PresenceInfo[] | undefined) ?? []) m.presence.applyPresence(user);
      return;
    case 'typing':
      m.presence.applyTyping(frame as unknown as TypingEvent);
      return;
    case 'error':
      // An error without a readable requestId (e.g. our frame was not JSON to the server).
      m.events.emit(
        'error',
        new ParleyError(
          (typeof frame.code === 'string' ? frame.code : 'internal') as ParleyErrorCode,
          typeof frame.message === 'string' ? frame.message : 'server error',
        ),
      );
      return;
    default:
    // Unknown pushes are ignored so the server can add event types without breaking old clients.
  }
}
