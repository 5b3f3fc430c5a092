import type { Deps } from '../domain/deps.js';
import type {
  AppendResult,
  ConnectionPusher,
  ConversationStore,
  FanoutQueue,
  MessageStore,
  NewMessage,
  PresenceStore,
  MembershipPage,
  PushResult,
  UserRateLimiter,
} from '../domain/ports.js';
import { MemoryRateLimiter } from '../domain/rate-limiter.js';
import type { ConnectionRef, Conversation, ConversationHead, FanoutJob, MemberState, Message, UserPresence } from '../domain/types.js';
import { loadLimits, type Limits } from '../shared/config.js';

/** In-memory conversation store with the same semantics as the DynamoDB one. */
export class MemoryConversationStore implements ConversationStore {
  readonly conversations = new Map<string, Conversation>();
  readonly members = new Map<string, MemberState>();
  private key = (conversationId: string, userId: string) => `${conversationId}\u0000${userId}`;

  async get(conversationId: string) {
    const found = this.conversations.get(conversationId);
    return found && structuredClone(found);
  }
  async getMany(ids: string[]) {
    return new Map(ids.flatMap((id) => (this.conversations.has(id) ? [[id, structuredClone(this.conversations.get(id)!)] as const] : [])));
  }
  async heads(ids: string[]) {
    const heads = new Map<string, ConversationHead>();
    for (const id of ids) {
      const conversation = this.conversations.get(id);
      // Like the DynamoDB head item, a head exists once the first timeline item is stored.
      if (conversation && conversation.lastSeq > 0) {
        heads.set(id, { conversationId: id, lastSeq: conversation.lastSeq, lastMessageAt: conversation.lastMessageAt, epoch: conversation.epoch });
      }
    }
    return heads;
  }
  async membersOf(ids: string[]) {
    return new Map([...(await this.getMany(ids))].map(([id, conversation]) => [id, conversation.members]));
  }
  async createDirect(conversation: Conversation) {
    const existing = this.conversations.get(conversation.conversationId);
    if (existing) return { conversation: structuredClone(existing), created: false };
    return this.createGroup(conversation);
  }
  async createGroup(conversation: Conversation) {
    const existing = this.conversations.get(conversation.conversationId);
    if (existing) return { conversation: structuredClone(existing), created: false };
    for (const userId of conversation.members) {
      const peerId = conversation.kind === 'direct' ? conversation.members.find((member) => member !== userId) : undefined;
      this.putMember(conversation.conversationId, userId, conversation.createdAt, peerId);
    }
    this.conversations.set(conversation.conversationId, structuredClone(conversation));
    return { conversation, created: true };
  }
  private putMember(conversationId: string, userId: string, joinedAt: string, peerId?: string) {
    this.members.set(this.key(conversationId, userId), {
      conversationId,
      userId,
      joinedAt,
      lastDeliveredSeq: 0,
      lastReadSeq: 0,
      ...(peerId === undefined ? {} : { peerId }),
    });
  }
  async addMembers(conversationId: string, callerId: string, userIds: string[], expectedSize: number, joinedAt: string) {
    const conversation = this.conversations.get(conversationId);
    if (!conversation || !conversation.members.includes(callerId) || conversation.members.length !== expectedSize) return false;
    if (userIds.some((userId) => this.members.has(this.key(conversationId, userId)))) return false;
    conversation.members = [...conversation.members, ...userIds].sort();
    for (const userId of userIds) this.putMember(conversationId, userId, joinedAt);
    return true;
  }
  async listMemberships(userId: string, page: MembershipPage) {
    const all = [...this.members.values()]
      .filter((member) => member.userId === userId && (page.from === undefined || member.conversationId >= page.from))
      .sort((a, b) => (a.conversationId < b.conversationId ? -1 : 1));
    const inRange = all.filter((member) => page.through === undefined || member.conversationId <= page.through);
    const items = inRange.slice(0, page.limit).map((member) => ({ ...member }));
    const rest = all.slice(items.length);
    return { items, next: rest[0]?.conversationId ?? null };
  }
  async getMember(conversationId: string, userId: string) {
    return this.members.get(this.key(conversationId, userId));
  }
  async listMemberStates(conversationId: string) {
    return [...this.members.values()].filter((member) => member.conversationId === conversationId);
  }
  async advanceReceipt(conversationId: string, userId: string, kind: 'delivered' | 'read', seq: number) {
    const member = this.members.get(this.key(conversationId, userId));
    if (!member) return undefined;
    let moved = false;
    if (kind === 'read' && member.lastReadSeq < seq) {
      member.lastReadSeq = seq;
      moved = true;
    }
    if (member.lastDeliveredSeq < seq) {
      member.lastDeliveredSeq = seq;
      moved = true;
    }
    return moved ? { ...member } : undefined;
  }
}

/** In-memory message store; `conflictsBeforeStore` simulates other senders winning the race. */
export class MemoryMessageStore implements MessageStore {
  readonly messages = new Map<string, Message[]>();
  readonly idempotency = new Map<string, { seq: number; createdAt: string }>();
  conflictsBeforeStore = 0;

  constructor(private readonly conversations: MemoryConversationStore) {}

  async append(message: NewMessage, expectedLastSeq: number): Promise<AppendResult> {
    const key = JSON.stringify([message.conversationId, message.senderId, message.clientMessageId]);
    const previous = this.idempotency.get(key);
    if (previous) return { status: 'duplicate', ...previous };
    const conversation = this.conversations.conversations.get(message.conversationId);
    if (!conversation) throw new Error(`append to unknown conversation ${message.conversationId}`);
    if (this.conflictsBeforeStore > 0) {
      this.conflictsBeforeStore--;
      await this.storeRaw({ ...message, senderId: 'someone-else', clientMessageId: `other-${conversation.lastSeq}` });
      return { status: 'conflict', lastSeq: conversation.lastSeq, epoch: conversation.epoch };
    }
    if (conversation.lastSeq !== expectedLastSeq || (conversation.epoch !== null && conversation.epoch !== message.epoch)) {
      return { status: 'conflict', lastSeq: conversation.lastSeq, epoch: conversation.epoch };
    }
    const stored = await this.storeRaw(message);
    this.idempotency.set(key, { seq: stored.seq, createdAt: stored.createdAt });
    return { status: 'stored', message: stored };
  }
  private async storeRaw(message: NewMessage): Promise<Message> {
    const conversation = this.conversations.conversations.get(message.conversationId)!;
    conversation.epoch ??= message.epoch;
    const stored = { ...message, seq: conversation.lastSeq + 1, epoch: conversation.epoch };
    conversation.lastSeq = stored.seq;
    conversation.lastMessageAt = stored.createdAt;
    this.messages.set(message.conversationId, [...(this.messages.get(message.conversationId) ?? []), stored]);
    return stored;
  }
  async before(conversationId: string, beforeSeq: number | undefined, limit: number) {
    return (this.messages.get(conversationId) ?? [])
      .filter((message) => beforeSeq === undefined || message.seq < beforeSeq)
      .reverse()
      .slice(0, limit);
  }
  async after(conversationId: string, afterSeq: number, limit: number) {
    return (this.messages.get(conversationId) ?? []).filter((message) => message.seq > afterSeq).slice(0, limit);
  }
}

interface MemoryPresence {
  connections: Map<string, number>;
  lastSeenAt?: string;
  lastActiveAt?: string;
}

/** In-memory presence store keyed by user, with connection expiries. */
export class MemoryPresenceStore implements PresenceStore {
  readonly users = new Map<string, MemoryPresence>();
  private live(userId: string, now: Date, except?: string) {
    return [...(this.users.get(userId)?.connections ?? new Map()).entries()].filter(
      ([id, expiresAt]) => id !== except && expiresAt > now.getTime(),
    );
  }
  async addConnection(ref: ConnectionRef, now: Date, ttlSeconds: number) {
    const cameOnline = this.live(ref.userId, now, ref.connectionId).length === 0;
    const user: MemoryPresence = this.users.get(ref.userId) ?? { connections: new Map() };
    user.connections.set(ref.connectionId, now.getTime() + ttlSeconds * 1000);
    user.lastActiveAt = now.toISOString();
    this.users.set(ref.userId, user);
    return { cameOnline };
  }
  async removeConnection(ref: ConnectionRef, now: Date, options: { expiringBefore?: Date } = {}) {
    const user = this.users.get(ref.userId);
    const expiresAt = user?.connections.get(ref.connectionId);
    if (!user || expiresAt === undefined) return { wentOffline: false };
    if (options.expiringBefore && expiresAt >= options.expiringBefore.getTime()) return { wentOffline: false };
    const wasOnline = this.live(ref.userId, now).length > 0;
    user.connections.delete(ref.connectionId);
    user.lastSeenAt = now.toISOString();
    return { wentOffline: wasOnline && this.live(ref.userId, now).length === 0 };
  }
  async refresh(ref: ConnectionRef, now: Date, ttlSeconds: number) {
    const user = this.users.get(ref.userId);
    if (!user?.connections.has(ref.connectionId)) return false;
    user.connections.set(ref.connectionId, now.getTime() + ttlSeconds * 1000);
    return true;
  }
  async registeredConnections(userId: string) {
    return [...(this.users.get(userId)?.connections.keys() ?? [])];
  }
  async connectionsOf(userIds: string[], now: Date) {
    return [...new Set(userIds)].flatMap((userId) => this.live(userId, now).map(([connectionId]) => ({ userId, connectionId })));
  }
  async presenceOf(userIds: string[], now: Date): Promise<UserPresence[]> {
    return userIds.map((userId) =>
      this.live(userId, now).length > 0
        ? { userId, status: 'online', lastSeenAt: null }
        : { userId, status: 'offline', lastSeenAt: this.users.get(userId)?.lastSeenAt ?? null },
    );
  }
}

/** Fixed-window counters in memory, with the DynamoDB limiter's semantics. */
export class MemoryUserRateLimiter implements UserRateLimiter {
  readonly hits = new Map<string, number>();
  async hit(key: string, limit: number, windowSeconds: number, now: Date) {
    const windowMs = windowSeconds * 1000;
    const windowStart = Math.floor(now.getTime() / windowMs) * windowMs;
    const bucket = `${key}#${windowStart}`;
    const hits = this.hits.get(bucket) ?? 0;
    if (hits >= limit) return Math.max(1, windowStart + windowMs - now.getTime());
    this.hits.set(bucket, hits + 1);
    return 0;
  }
}

/** Records enqueued jobs with their delay. */
export class MemoryQueue implements FanoutQueue {
  readonly jobs: { job: FanoutJob; delaySeconds?: number }[] = [];
  async enqueue(jobs: FanoutJob[], delaySeconds?: number) {
    this.jobs.push(...jobs.map((job) => ({ job, delaySeconds })));
  }
}

/** Records pushes; `script` decides the outcome per connection (default ok). */
export class MemoryPusher implements ConnectionPusher {
  readonly posts: { connectionId: string; frame: Record<string, unknown> }[] = [];
  script: (connectionId: string) => PushResult = () => 'ok';
  async post(connectionId: string, data: string) {
    const result = this.script(connectionId);
    if (result === 'ok') this.posts.push({ connectionId, frame: JSON.parse(data) });
    return result;
  }
  /** Connections closed with `close`, in order. */
  readonly closed: string[] = [];
  closeScript: (connectionId: string) => PushResult = () => 'ok';
  async close(connectionId: string) {
    const result = this.closeScript(connectionId);
    if (result === 'ok') this.closed.push(connectionId);
    return result;
  }
  framesFor(connectionId: string) {
    return this.posts.filter((post) => post.connectionId === connectionId).map((post) => post.frame);
  }
}

/** A full set of in-memory dependencies with a controllable clock. */
export function memoryDeps(overrides: Partial<Limits> = {}) {
  const conversations = new MemoryConversationStore();
  const messages = new MemoryMessageStore(conversations);
  const presence = new MemoryPresenceStore();
  const queue = new MemoryQueue();
  const pusher = new MemoryPusher();
  let clock = Date.parse('2026-11-22T10:00:00.000Z');
  let ids = 0;
  const deps: Deps = {
    conversations,
    messages,
    presence,
    queue,
    pusher,
    limits: { ...loadLimits({}), ...overrides },
    rateLimiter: new MemoryRateLimiter(() => clock),
    userRateLimiter: new MemoryUserRateLimiter(),
    now: () => new Date(clock),
    newId: () => `id-${++ids}`,
    sleep: async () => {},
  };
  return {
    deps,
    conversations,
    messages,
    presence,
    queue,
    pusher,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}
