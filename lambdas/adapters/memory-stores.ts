import { groupJoinNoticeSeconds } from '../../lib/definitions.js';
import type { Deps } from '../domain/deps.js';
import type {
  Allocation,
  AllocationGuard,
  AppendResult,
  ClaimResult,
  SendClaim,
  Ban,
  ConnectionPusher,
  ConversationStore,
  FanoutQueue,
  GroupConnection,
  Log,
  LogAttributes,
  MessageStore,
  Metrics,
  NewMessage,
  PresenceStore,
  MembershipPage,
  PushResult,
  StateWrite,
  StoredMessage,
  ItemScrub,
  TimelineAppend,
  UndeliveredLog,
  TimelineItem,
  UserRateLimiter,
  UserStore,
} from '../domain/ports.js';
import type { UndeliveredEntry } from '../domain/events.js';
import { MemoryRateLimiter } from '../domain/rate-limiter.js';
import { sameSend } from '../domain/seq-holes.js';
import type {
  ConnectionRef,
  Conversation,
  ConversationHead,
  FanoutJob,
  GroupAddSetting,
  Invitation,
  MemberState,
  Message,
  UserPresence,
} from '../domain/types.js';
import type { MetricName } from '../../lib/telemetry.js';
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
        heads.set(id, {
          conversationId: id,
          lastSeq: conversation.lastSeq,
          lastMessageAt: conversation.lastMessageAt,
          epoch: conversation.epoch,
          ...(conversation.retentionDays === undefined ? {} : { retentionDays: conversation.retentionDays }),
        });
      }
    }
    return heads;
  }
  async audienceOf(ids: string[]) {
    return new Map([...(await this.getMany(ids))].map(([id, conversation]) => [id, { members: conversation.members, pending: conversation.pending ?? [] }]));
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
      const member = this.members.get(this.key(conversation.conversationId, userId))!;
      if (conversation.kind === 'group') member.role = conversation.roles?.[userId] ?? 'member';
      if (conversation.pending?.some((pending) => pending !== userId)) member.peerPending = true;
    }
    this.conversations.set(conversation.conversationId, structuredClone({ membershipSeq: 0, ...conversation }));
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
  async listMemberships(userId: string, page: MembershipPage) {
    const all = [...this.members.values()]
      .filter((member) => member.userId === userId && (page.from === undefined || member.conversationId >= page.from))
      .sort((a, b) => (a.conversationId < b.conversationId ? -1 : 1));
    const inRange = all.filter((member) => page.through === undefined || member.conversationId <= page.through);
    const items = inRange.slice(0, page.limit).map((member) => ({ ...member }));
    const rest = all.slice(items.length);
    return { items, next: rest[0]?.conversationId ?? null };
  }
  /** Applies a timeline transaction's conversation or member write (the message store calls this). */
  applyWrite(write: Extract<StateWrite, { type: 'conversation' | 'member' }>, membershipSeq: number | undefined) {
    if (write.type === 'conversation') {
      const conversation = this.conversations.get(write.conversationId)!;
      if (write.title !== undefined) conversation.title = write.title;
      if (write.roles !== undefined) conversation.roles = { ...write.roles };
      if (membershipSeq !== undefined) conversation.membershipSeq = membershipSeq;
      if (write.addMembers) conversation.members = [...new Set([...conversation.members, ...write.addMembers])].sort();
      if (write.removeMembers) conversation.members = conversation.members.filter((userId) => !write.removeMembers!.includes(userId));
      if (write.accepted !== undefined) conversation.pending = (conversation.pending ?? []).filter((userId) => userId !== write.accepted);
      return;
    }
    const key = this.key(write.conversationId, write.userId);
    if (write.join) {
      const previous = this.members.get(key);
      this.members.set(key, {
        conversationId: write.conversationId,
        userId: write.userId,
        joinedAt: write.join.joinedAt,
        lastDeliveredSeq: previous?.lastDeliveredSeq ?? 0,
        lastReadSeq: previous?.lastReadSeq ?? 0,
        role: write.join.role,
      });
    }
    const member = this.members.get(key)!;
    if (write.removedAtSeq !== undefined) member.removedAtSeq = write.removedAtSeq;
    if (write.role !== undefined) member.role = write.role;
    if (write.peerAccepted) delete member.peerPending;
  }
  /** Whether a transaction's conditions on conversation and member items hold. */
  writeHolds(write: Extract<StateWrite, { type: 'conversation' | 'member' }>) {
    if (write.type === 'conversation') return this.conversations.has(write.conversationId);
    return write.join !== undefined || this.members.has(this.key(write.conversationId, write.userId));
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

/** Like the DynamoDB head, a conflict names a membershipSeq only once one was recorded, and the retention state. */
const membershipOf = (conversation: Conversation) => ({
  ...(conversation.membershipSeq ? { membershipSeq: conversation.membershipSeq } : {}),
  retention: {
    ...(conversation.retentionDays === undefined ? {} : { retentionDays: conversation.retentionDays }),
    ...(conversation.lastExpiresAt === undefined ? {} : { lastExpiresAt: conversation.lastExpiresAt }),
  },
});

/** In-memory message store, with the same conditions as the DynamoDB adapter (the contract suite runs both). */
export class MemoryMessageStore implements MessageStore {
  readonly messages = new Map<string, Message[]>();
  /** Idempotency items: a send's claim, or a key recorded by a timeline transaction (with its seq). */
  readonly idempotency = new Map<string, SendClaim>();

  constructor(
    private readonly conversations: MemoryConversationStore,
    private readonly users?: MemoryUserStore,
  ) {}

  async append(message: NewMessage, expectedLastSeq: number, idempotencyTtlSeconds = 0): Promise<AppendResult> {
    const conversation = this.conversations.conversations.get(message.conversationId);
    if (!conversation) throw new Error(`append to unknown conversation ${message.conversationId}`);
    const key = JSON.stringify([message.conversationId, message.senderId, message.clientMessageId]);
    return this.appendTimeline({
      conversationId: message.conversationId,
      items: [{ ...message, kind: 'message' }],
      expectedLastSeq,
      epoch: message.epoch,
      idempotencyKey: key,
      idempotencyTtlSeconds,
      expiresAt: message.expiresAt,
    });
  }
  async appendTimeline(request: TimelineAppend): Promise<AppendResult> {
    const conversation = this.conversations.conversations.get(request.conversationId);
    if (!conversation) throw new Error(`append to unknown conversation ${request.conversationId}`);
    const previous = request.idempotencyKey === undefined ? undefined : this.idempotency.get(request.idempotencyKey);
    if (previous?.seq !== undefined) return { status: 'duplicate', seq: previous.seq, createdAt: previous.createdAt ?? '' };
    // A send's claim holds the key (as the transaction's failed put would find it).
    if (previous) return { status: 'conflict', lastSeq: conversation.lastSeq, epoch: conversation.epoch, ...membershipOf(conversation) };
    const conflict = { status: 'conflict', lastSeq: conversation.lastSeq, epoch: conversation.epoch, ...membershipOf(conversation) } as const;
    if (request.allocated) {
      // Its seq was allocated: only a placeholder there, or a changed message state, stops it.
      if (this.find(request.conversationId, request.expectedLastSeq + 1)) return conflict;
      for (const write of request.writes ?? []) {
        if (write.type !== 'message' || write.expectStateSeq === undefined) continue;
        const stateSeq = this.find(write.conversationId, write.seq)?.stateSeq;
        if ((stateSeq ?? null) !== write.expectStateSeq) return conflict;
      }
    } else if (conversation.lastSeq !== request.expectedLastSeq || (conversation.epoch !== null && conversation.epoch !== request.epoch)) {
      return conflict;
    }
    // The same conditions as the DynamoDB transaction, checked before anything is applied.
    for (const write of request.writes ?? []) {
      if (write.type === 'conversation' || write.type === 'member') {
        if (!this.conversations.writeHolds(write)) throw new Error('TransactionCanceledException: a write condition failed');
      } else if (write.type === 'message' && !this.find(write.conversationId, write.seq)) {
        throw new Error('TransactionCanceledException: no such message');
      }
    }
    const items = request.allocated
      ? await this.storeAllocated(request)
      : this.storeRaw(
          request.items.map((item) => ({ ...item, expiresAt: request.expiresAt })),
          request.epoch,
        );
    if (request.expiresAt !== undefined) conversation.lastExpiresAt = request.expiresAt;
    if (request.retentionDays === null) delete conversation.retentionDays;
    else if (request.retentionDays !== undefined) conversation.retentionDays = request.retentionDays;
    const membershipSeq = request.membershipChange ? items.at(-1)!.seq : undefined;
    if (membershipSeq !== undefined) conversation.membershipSeq = membershipSeq;
    for (const write of request.writes ?? []) {
      if (write.type === 'conversation' || write.type === 'member') this.conversations.applyWrite(write, membershipSeq);
      else if (write.type === 'message') {
        const message = this.find(write.conversationId, write.seq)! as unknown as Record<string, unknown>;
        Object.assign(message, structuredClone(write.set ?? {}));
        for (const name of write.remove ?? []) delete message[name];
      } else if (write.delete) this.users?.items.get(write.userId)?.delete(write.item);
      else this.users?.put(write.userId, write.item, { ...write.put });
    }
    if (request.idempotencyKey !== undefined) {
      this.idempotency.set(request.idempotencyKey, { claimedAt: 0, afterSeq: 0, seq: items[0]!.seq, createdAt: items[0]!.createdAt });
    }
    const stored = items.map(({ expiresAt: _expiresAt, ...item }) => item as Message);
    return { status: 'stored', message: { ...stored[0]! }, items: stored };
  }
  async idempotent(key: string) {
    const found = this.idempotency.get(key);
    return found?.seq === undefined ? undefined : { seq: found.seq, createdAt: found.createdAt ?? '' };
  }
  async claimOf(key: string) {
    const found = this.idempotency.get(key);
    return found && { ...found };
  }
  async claim(key: string, claim: SendClaim, _ttlSeconds: number): Promise<ClaimResult> {
    const held = this.idempotency.get(key);
    if (held) return { status: 'held', claim: { ...held } };
    this.idempotency.set(key, { ...claim });
    return { status: 'claimed' };
  }
  async takeOver(key: string, previous: SendClaim, next: SendClaim) {
    const held = this.idempotency.get(key);
    if (!held || held.claimedAt !== previous.claimedAt || held.seq !== undefined) return false;
    this.idempotency.set(key, { ...next });
    return true;
  }
  async release(key: string, claim: SendClaim) {
    const held = this.idempotency.get(key);
    if (held && held.claimedAt === claim.claimedAt && held.seq === undefined) this.idempotency.delete(key);
  }
  async allocate(conversationId: string, guard: AllocationGuard, at: string, expiresAt?: number): Promise<Allocation> {
    const conversation = this.conversations.conversations.get(conversationId);
    if (!conversation) throw new Error(`allocate in unknown conversation ${conversationId}`);
    // The same condition as the DynamoDB update.
    const holds =
      (conversation.epoch === null || conversation.epoch === guard.epoch) &&
      (conversation.membershipSeq ?? 0) === guard.membershipSeq &&
      conversation.retentionDays === guard.retentionDays;
    if (!holds) return { status: 'stale' };
    conversation.epoch ??= guard.epoch;
    conversation.lastSeq += 1;
    conversation.lastMessageAt = at;
    if (expiresAt !== undefined) conversation.lastExpiresAt = expiresAt;
    return { status: 'allocated', seq: conversation.lastSeq, epoch: conversation.epoch };
  }
  async putAt(item: TimelineItem): Promise<'stored' | 'taken'> {
    const there = this.find(item.conversationId, item.seq);
    if (there) return sameSend(there as unknown as Record<string, unknown>, item) ? 'stored' : 'taken';
    const stored = Object.fromEntries(Object.entries(structuredClone(item)).filter(([, value]) => value !== undefined)) as unknown as TimelineItem;
    const items = [...(this.messages.get(item.conversationId) ?? []), stored].sort((a, b) => a.seq - b.seq);
    this.messages.set(item.conversationId, items);
    return 'stored';
  }
  async fillHole(placeholder: TimelineItem): Promise<TimelineItem> {
    if ((await this.putAt(placeholder)) === 'stored') return structuredClone(placeholder);
    const { editSeqs: _editSeqs, ...found } = structuredClone(this.find(placeholder.conversationId, placeholder.seq)!) as StoredMessage;
    return found;
  }
  async findSent(conversationId: string, senderId: string, clientMessageId: string, afterSeq: number, bound: { maxItems: number; createdBefore?: string }) {
    for (const item of this.visible(conversationId)
      .filter((found) => found.seq > afterSeq)
      .slice(0, bound.maxItems)) {
      if (bound.createdBefore !== undefined && item.kind !== 'skipped' && item.createdAt > bound.createdBefore) return undefined;
      if (sameSend(item as unknown as Record<string, unknown>, { senderId, clientMessageId })) return item;
    }
    return undefined;
  }
  private find(conversationId: string, seq: number): StoredMessage | undefined {
    return (this.messages.get(conversationId) ?? []).find((message) => message.seq === seq);
  }
  private async storeAllocated(request: TimelineAppend): Promise<TimelineItem[]> {
    const item = { ...request.items[0]!, seq: request.expectedLastSeq + 1, epoch: request.epoch, expiresAt: request.expiresAt } as TimelineItem;
    await this.putAt(item);
    return [this.find(item.conversationId, item.seq) as TimelineItem];
  }
  private storeRaw(items: Omit<TimelineItem, 'seq'>[], epoch: string): TimelineItem[] {
    const stored: TimelineItem[] = [];
    for (const item of items) {
      const conversation = this.conversations.conversations.get(item.conversationId)!;
      conversation.epoch ??= epoch;
      const message = Object.fromEntries(
        Object.entries({ ...item, seq: conversation.lastSeq + 1, epoch: conversation.epoch }).filter(([, value]) => value !== undefined),
      ) as unknown as TimelineItem;
      conversation.lastSeq = message.seq;
      conversation.lastMessageAt = message.createdAt;
      this.messages.set(item.conversationId, [...(this.messages.get(item.conversationId) ?? []), message]);
      stored.push(message);
    }
    return stored;
  }
  async get(conversationId: string, seq: number) {
    const found = this.find(conversationId, seq);
    return found && structuredClone(found);
  }
  async countUnread(conversationId: string, afterSeq: number, throughSeq: number, excludeSenderId: string, cap: number) {
    return (this.messages.get(conversationId) ?? [])
      .filter((message) => message.seq > afterSeq && message.seq <= throughSeq)
      .slice(-cap)
      .filter((message) => message.senderId !== excludeSenderId && (message.kind ?? 'message') === 'message' && !message.deleted).length;
  }
  async before(conversationId: string, beforeSeq: number | undefined, limit: number) {
    return this.visible(conversationId)
      .filter((message) => beforeSeq === undefined || message.seq < beforeSeq)
      .reverse()
      .slice(0, limit);
  }
  /** Timeline items as reads return them: copies, without server-side bookkeeping (but with their expiry). */
  private visible(conversationId: string): TimelineItem[] {
    return (this.messages.get(conversationId) ?? []).map((message) => {
      const { editSeqs: _editSeqs, ...rest } = structuredClone(message as StoredMessage);
      // Like DynamoDB's reads, an item whose body was removed reads as an empty body.
      return { ...rest, body: rest.body ?? '' };
    });
  }
  async after(conversationId: string, afterSeq: number, limit: number) {
    return this.visible(conversationId)
      .filter((message) => message.seq > afterSeq)
      .slice(0, limit);
  }
  async itemsBySender(conversationId: string, senderId: string) {
    return (this.messages.get(conversationId) ?? [])
      .filter((message) => message.senderId === senderId)
      .map((message) => structuredClone(message as StoredMessage));
  }
  async scrub(conversationId: string, seq: number, senderId: string, change: ItemScrub) {
    const found = this.find(conversationId, seq) as unknown as Record<string, unknown> | undefined;
    if (!found || found.senderId !== senderId) return false;
    Object.assign(found, structuredClone(change.set ?? {}));
    for (const name of change.remove ?? []) delete found[name];
    return true;
  }
  async setExpiry(conversationId: string, seq: number, expiresAt: number | undefined) {
    const found = this.find(conversationId, seq) as TimelineItem | undefined;
    if (!found) return false;
    if (expiresAt === undefined) delete found.expiresAt;
    else found.expiresAt = expiresAt;
    return true;
  }
  async settleExpiry(conversationId: string, lastSeq: number, lastExpiresAt: number | undefined) {
    const conversation = this.conversations.conversations.get(conversationId);
    if (!conversation || conversation.lastSeq !== lastSeq) return false;
    if (lastExpiresAt === undefined) delete conversation.lastExpiresAt;
    else conversation.lastExpiresAt = lastExpiresAt;
    return true;
  }
  /** TTL emulation: deletes the items whose `expiresAt` passed, as DynamoDB TTL eventually does; returns how many. */
  expire(now: Date): number {
    let removed = 0;
    for (const [conversationId, items] of this.messages) {
      const kept = items.filter((item) => (item as TimelineItem).expiresAt === undefined || (item as TimelineItem).expiresAt! > now.getTime() / 1000);
      removed += items.length - kept.length;
      this.messages.set(conversationId, kept);
    }
    return removed;
  }
}

/** In-memory `users` table: one map of items per user, keyed like the DynamoDB sort key. */
export class MemoryUserStore implements UserStore {
  readonly items = new Map<string, Map<string, Record<string, unknown>>>();
  put(userId: string, item: string, value: Record<string, unknown>) {
    const partition = this.items.get(userId) ?? new Map<string, Record<string, unknown>>();
    partition.set(item, value);
    this.items.set(userId, partition);
  }
  private prefix(userId: string, prefix: string, limit: number) {
    return [...(this.items.get(userId) ?? new Map<string, Record<string, unknown>>()).entries()]
      .filter(([item]) => item.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .slice(0, limit)
      .map(([, value]) => value);
  }
  private groupAdd(userId: string): GroupAddSetting {
    return this.items.get(userId)?.get('settings')?.groupAdd === 'contacts' ? 'contacts' : 'anyone';
  }
  async settingsOf(userId: string) {
    return { groupAdd: this.groupAdd(userId) };
  }
  async groupAddOf(userIds: string[]) {
    return new Map(userIds.map((userId) => [userId, this.groupAdd(userId)]));
  }
  async updateSettings(userId: string, settings: { groupAdd: GroupAddSetting }) {
    this.put(userId, 'settings', { ...settings });
  }
  async block(userId: string, blockedUserId: string, at: string) {
    this.put(userId, `block#${blockedUserId}`, { blockedUserId, blockedAt: at });
  }
  async unblock(userId: string, blockedUserId: string) {
    this.items.get(userId)?.delete(`block#${blockedUserId}`);
  }
  async blockedBy(userId: string, limit: number) {
    return this.prefix(userId, 'block#', limit).map((value) => String(value.blockedUserId));
  }
  async whoBlocked(blockers: string[], userId: string) {
    return new Set(blockers.filter((blocker) => blocker !== userId && this.items.get(blocker)?.has(`block#${userId}`)));
  }
  async invitationsOf(userId: string, limit: number) {
    return this.prefix(userId, 'invite#', limit).map((value) => ({ ...value }) as unknown as Invitation);
  }
  async invitation(userId: string, conversationId: string) {
    const found = this.items.get(userId)?.get(`invite#${conversationId}`);
    return found && ({ ...found } as unknown as Invitation);
  }
  async putInvitation(userId: string, invitation: Invitation) {
    this.put(userId, `invite#${invitation.conversationId}`, { ...invitation });
  }
  async deleteInvitation(userId: string, conversationId: string) {
    this.items.get(userId)?.delete(`invite#${conversationId}`);
  }
  async hasItem(userId: string, item: string) {
    return this.items.get(userId)?.has(item) ?? false;
  }
  async ban(userId: string, ban: Ban) {
    this.put(userId, 'ban', { ...ban });
  }
  async unban(userId: string) {
    this.items.get(userId)?.delete('ban');
  }
  async banOf(userId: string) {
    const found = this.items.get(userId)?.get('ban');
    return found && ({ ...found } as unknown as Ban);
  }
  async markErased(userId: string, at: string) {
    this.put(userId, 'erased', { erasedAt: at });
  }
  async erasedAt(userIds: string[]) {
    return new Map(
      userIds.flatMap((userId) => {
        const found = this.items.get(userId)?.get('erased');
        return found ? [[userId, String(found.erasedAt)] as const] : [];
      }),
    );
  }
}

interface MemoryPresence {
  connections: Map<string, number>;
  lastSeenAt?: string;
  lastActiveAt?: string;
  /** Group joins noted by `noteJoined`: conversation id -> epoch ms. */
  joinedGroups: Map<string, number>;
}

/** In-memory presence store keyed by user, with connection expiries. */
export class MemoryPresenceStore implements PresenceStore {
  readonly users = new Map<string, MemoryPresence>();
  /** The groups' connection indexes: conversation id -> `userId#connectionId` -> expiry (epoch seconds). */
  readonly groups = new Map<string, Map<string, number>>();
  private live(userId: string, now: Date, except?: string) {
    return [...(this.users.get(userId)?.connections ?? new Map()).entries()].filter(([id, expiresAt]) => id !== except && expiresAt > now.getTime());
  }
  private user(userId: string): MemoryPresence {
    const user = this.users.get(userId) ?? { connections: new Map(), joinedGroups: new Map() };
    this.users.set(userId, user);
    return user;
  }
  async addConnection(ref: ConnectionRef, now: Date, ttlSeconds: number) {
    const cameOnline = this.live(ref.userId, now, ref.connectionId).length === 0;
    const user = this.user(ref.userId);
    user.connections.set(ref.connectionId, now.getTime() + ttlSeconds * 1000);
    user.lastActiveAt = now.toISOString();
    const cutoff = now.getTime() - groupJoinNoticeSeconds * 1000;
    for (const [conversationId, at] of user.joinedGroups) if (at < cutoff) user.joinedGroups.delete(conversationId);
    return { cameOnline, recentGroups: [...user.joinedGroups.keys()] };
  }
  async removeConnection(ref: ConnectionRef, now: Date, options: { expiringBefore?: Date } = {}) {
    const user = this.users.get(ref.userId);
    const expiresAt = user?.connections.get(ref.connectionId);
    if (!user || expiresAt === undefined) return { removed: false, wentOffline: false };
    if (options.expiringBefore && expiresAt >= options.expiringBefore.getTime()) return { removed: false, wentOffline: false };
    const wasOnline = this.live(ref.userId, now).length > 0;
    user.connections.delete(ref.connectionId);
    user.lastSeenAt = now.toISOString();
    return { removed: true, wentOffline: wasOnline && this.live(ref.userId, now).length === 0 };
  }
  async noteJoined(userIds: string[], conversationId: string, now: Date) {
    return [...new Set(userIds)].flatMap((userId) => {
      const { joinedGroups } = this.user(userId);
      const cutoff = now.getTime() - groupJoinNoticeSeconds * 1000;
      for (const [id, at] of joinedGroups) if (at < cutoff) joinedGroups.delete(id);
      joinedGroups.set(conversationId, now.getTime());
      return this.live(userId, now).map(([connectionId]) => ({ userId, connectionId }));
    });
  }
  async indexConnections(entries: GroupConnection[], expiresAt: number) {
    for (const { conversationId, ref } of entries) {
      const group = this.groups.get(conversationId) ?? new Map<string, number>();
      group.set(`${ref.userId}#${ref.connectionId}`, expiresAt);
      this.groups.set(conversationId, group);
    }
  }
  async unindexConnections(entries: GroupConnection[]) {
    for (const { conversationId, ref } of entries) this.groups.get(conversationId)?.delete(`${ref.userId}#${ref.connectionId}`);
  }
  async groupConnections(conversationId: string, fromUserId: string, toUserId: string, now: Date) {
    return [...(this.groups.get(conversationId) ?? new Map<string, number>()).entries()]
      .filter(([, expiresAt]) => expiresAt > now.getTime() / 1000)
      .map(([key]) => key)
      .sort()
      .map((key) => ({ userId: key.slice(0, key.indexOf('#')), connectionId: key.slice(key.indexOf('#') + 1) }))
      .filter((ref) => ref.userId >= fromUserId && ref.userId <= toUserId);
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

/** Keeps log entries instead of printing them. */
export class MemoryLog implements Log {
  readonly entries: { level: 'debug' | 'info' | 'warn' | 'error'; message: string; attributes: LogAttributes }[] = [];
  debug(message: string, attributes: LogAttributes = {}) {
    this.entries.push({ level: 'debug', message, attributes });
  }
  info(message: string, attributes: LogAttributes = {}) {
    this.entries.push({ level: 'info', message, attributes });
  }
  warn(message: string, attributes: LogAttributes = {}) {
    this.entries.push({ level: 'warn', message, attributes });
  }
  error(message: string, attributes: LogAttributes = {}) {
    this.entries.push({ level: 'error', message, attributes });
  }
}

/** Keeps every metric value, by metric. */
export class MemoryMetrics implements Metrics {
  readonly values: Partial<Record<MetricName, number[]>> = {};
  add(metric: MetricName, value = 1) {
    (this.values[metric] ??= []).push(value);
  }
  /** The sum of a metric's values (0 when it was never recorded). */
  total(metric: MetricName): number {
    return (this.values[metric] ?? []).reduce((sum, value) => sum + value, 0);
  }
}

/** A full set of in-memory dependencies with a controllable clock. */
export function memoryDeps(overrides: Partial<Limits> = {}) {
  const conversations = new MemoryConversationStore();
  const users = new MemoryUserStore();
  const messages = new MemoryMessageStore(conversations, users);
  const presence = new MemoryPresenceStore();
  const queue = new MemoryQueue();
  const pusher = new MemoryPusher();
  const log = new MemoryLog();
  const metrics = new MemoryMetrics();
  const undelivered = new MemoryUndeliveredLog();
  let clock = Date.parse('2026-11-22T10:00:00.000Z');
  let ids = 0;
  const deps: Deps = {
    conversations,
    messages,
    presence,
    users,
    queue,
    pusher,
    undelivered,
    limits: { ...loadLimits({}), ...overrides },
    rateLimiter: new MemoryRateLimiter(() => clock),
    userRateLimiter: new MemoryUserRateLimiter(),
    logger: log,
    metrics,
    now: () => new Date(clock),
    newId: () => `id-${++ids}`,
    sleep: async () => {},
  };
  return {
    deps,
    conversations,
    messages,
    presence,
    users,
    queue,
    pusher,
    log,
    metrics,
    undelivered,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

/** Undelivered entries kept in memory, by deliveryId (unit tests). */
export class MemoryUndeliveredLog implements UndeliveredLog {
  readonly entries = new Map<string, UndeliveredEntry>();

  async record(entry: UndeliveredEntry): Promise<void> {
    this.entries.set(entry.deliveryId, entry);
  }
}
