/**
 * Fakes that cannot drift: the same cases run on the in-memory stores (which the unit tests and the SDK's test
 * server use) and on the DynamoDB adapters against DynamoDB Local.
 */
import { randomUUID } from 'node:crypto';
import { groupJoinNoticeSeconds } from '../../lib/definitions.js';
import { describe, expect, inject, it } from 'vitest';
import { MemoryConversationStore, MemoryMessageStore, MemoryPresenceStore, MemoryUserStore } from '../../lambdas/adapters/memory-stores.js';
import type { ConversationStore, MessageStore, NewMessage, PresenceStore, UserStore } from '../../lambdas/domain/ports.js';
import type { Conversation } from '../../lambdas/domain/types.js';
import { dynamoDeps } from '../support/dynamo-deps.js';

const info = inject('parley');

interface Stores {
  conversations: ConversationStore;
  messages: MessageStore;
  presence: PresenceStore;
  users: UserStore;
}

const implementations: [string, () => Stores][] = [
  [
    'memory',
    () => {
      const conversations = new MemoryConversationStore();
      return { conversations, messages: new MemoryMessageStore(conversations), presence: new MemoryPresenceStore(), users: new MemoryUserStore() };
    },
  ],
  [
    'DynamoDB',
    () => {
      const { deps } = dynamoDeps(info);
      return { conversations: deps.conversations, messages: deps.messages, presence: deps.presence, users: deps.users };
    },
  ],
];

const run = () => randomUUID().slice(0, 8);
const group = (id: string, members: string[]): Conversation => ({
  conversationId: `grp_${id}`,
  kind: 'group',
  title: 'contract',
  members: [...members].sort(),
  createdBy: members[0]!,
  createdAt: '2026-12-01T00:00:00.000Z',
  lastSeq: 0,
  lastMessageAt: null,
  epoch: null,
});
const message = (conversationId: string, clientMessageId: string, epoch = 'e1'): NewMessage => ({
  conversationId,
  senderId: 'alice',
  clientMessageId,
  body: `body of ${clientMessageId}`,
  // Now, not a fixed date: items stored with an expiry in the past are removed by the local TTL sweep.
  createdAt: new Date().toISOString(),
  epoch,
});

describe.each(implementations)('stores (%s)', (_name, create) => {
  it('keeps a group’s externalId and metadata, and returns them to a second create', async () => {
    const { conversations } = create();
    const id = `ext-${run()}`;
    const created = { ...group(id, ['alice', 'bob']), externalId: `ticket-${id}`, metadata: { ticket: '42', queue: 'billing' } };
    expect((await conversations.createGroup(created)).created).toBe(true);
    const again = await conversations.createGroup({ ...group(id, ['carol']), externalId: `ticket-${id}` });
    expect(again).toMatchObject({
      created: false,
      conversation: { externalId: `ticket-${id}`, metadata: { ticket: '42', queue: 'billing' }, members: ['alice', 'bob'] },
    });
    expect(await conversations.get(`grp_${id}`, true)).toMatchObject({ externalId: `ticket-${id}`, metadata: { ticket: '42', queue: 'billing' } });
  });

  it('bans, reads and lifts a user’s ban', async () => {
    const { users } = create();
    const user = `u-${run()}`;
    expect(await users.banOf(user)).toBeUndefined();
    await users.ban(user, { bannedAt: '2026-12-01T00:00:00.000Z', reason: 'spam' });
    expect(await users.banOf(user)).toEqual({ bannedAt: '2026-12-01T00:00:00.000Z', reason: 'spam' });
    await users.ban(user, { bannedAt: '2026-12-02T00:00:00.000Z' });
    expect(await users.banOf(user)).toEqual({ bannedAt: '2026-12-02T00:00:00.000Z' });
    await users.unban(user);
    expect(await users.banOf(user)).toBeUndefined();
    await users.unban(user);
  });

  it('creates groups once, lists a user’s memberships in id order with from, through and next', async () => {
    const { conversations } = create();
    const user = `u-${run()}`;
    const ids = ['a', 'b', 'c', 'd', 'e'].map((letter) => `${letter}-${run()}`).sort();
    for (const id of ids) expect((await conversations.createGroup(group(id, [user, 'other']))).created).toBe(true);
    expect((await conversations.createGroup(group(ids[0]!, [user, 'someone-else']))).created).toBe(false);
    const all = ids.map((id) => `grp_${id}`);

    const first = await conversations.listMemberships(user, { limit: 2 });
    expect(first.items.map((item) => item.conversationId)).toEqual(all.slice(0, 2));
    expect(first.next).toBe(all[2]);
    const from = await conversations.listMemberships(user, { limit: 2, from: all[2] });
    expect(from.items.map((item) => item.conversationId)).toEqual(all.slice(2, 4));
    expect(from.next).toBe(all[4]);
    // `through` ends the page, and `next` still says where the rest begins.
    const through = await conversations.listMemberships(user, { limit: 10, from: all[1], through: all[2] });
    expect(through.items.map((item) => item.conversationId)).toEqual(all.slice(1, 3));
    expect(through.next).toBe(all[3]);
    const last = await conversations.listMemberships(user, { limit: 10, from: all[3] });
    expect(last).toMatchObject({ next: null });
    expect(last.items.map((item) => item.conversationId)).toEqual(all.slice(3));
    expect(last.items[0]).toMatchObject({ userId: user, lastDeliveredSeq: 0, lastReadSeq: 0 });
  });

  it('creates a direct conversation once, with each member’s peer on the membership', async () => {
    const { conversations } = create();
    const [a, b] = [`a-${run()}`, `b-${run()}`];
    const dm: Conversation = { ...group(run(), [a, b]), conversationId: `dm_${run()}`, kind: 'direct', title: null };
    expect((await conversations.createDirect(dm)).created).toBe(true);
    expect((await conversations.createDirect({ ...dm, createdBy: b })).created).toBe(false);
    expect((await conversations.listMemberships(a, { limit: 10 })).items).toEqual([expect.objectContaining({ conversationId: dm.conversationId, peerId: b })]);
    expect((await conversations.get(dm.conversationId))?.members).toEqual([a, b].sort());
  });

  it('appends gap-free seqs with an epoch, refuses a stale expectation or another epoch, and dedupes client ids', async () => {
    const { conversations, messages } = create();
    const conversation = group(run(), ['alice', 'bob']);
    await conversations.createGroup(conversation);
    const id = conversation.conversationId;
    expect(await conversations.heads([id])).toEqual(new Map());

    expect(await messages.append(message(id, 'm1'), 0, 60)).toMatchObject({ status: 'stored', message: { seq: 1, epoch: 'e1' } });
    expect(await messages.append(message(id, 'm2'), 0, 60)).toEqual({ status: 'conflict', lastSeq: 1, epoch: 'e1', retention: {} });
    expect(await messages.append(message(id, 'm2', 'e2'), 1, 60)).toMatchObject({ status: 'conflict', lastSeq: 1 });
    expect(await messages.append(message(id, 'm2'), 1, 60)).toMatchObject({ status: 'stored', message: { seq: 2 } });
    expect(await messages.append(message(id, 'm1'), 2, 60)).toMatchObject({ status: 'duplicate', seq: 1 });

    const head = (await conversations.heads([id])).get(id);
    expect(head).toMatchObject({ conversationId: id, lastSeq: 2, epoch: 'e1' });
    expect(await conversations.get(id, true)).toMatchObject({ lastSeq: 2, epoch: 'e1' });
    expect((await messages.after(id, 0, 10)).map((m) => [m.seq, m.epoch])).toEqual([
      [1, 'e1'],
      [2, 'e1'],
    ]);
    expect((await messages.before(id, undefined, 1)).map((m) => m.seq)).toEqual([2]);
    expect((await messages.before(id, 2, 10)).map((m) => m.seq)).toEqual([1]);
  });

  it('allocates seqs from the head counter, refuses a moved head, and mixes with timeline transactions', async () => {
    const { conversations, messages } = create();
    const id = `grp_${run()}`;
    await conversations.createGroup({ ...group(id.slice(4), ['alice', 'bob']) });
    const at = new Date().toISOString();
    expect(await messages.allocate(id, { epoch: 'e1', membershipSeq: 0 }, at)).toEqual({ status: 'allocated', seq: 1, epoch: 'e1' });
    expect(await messages.allocate(id, { epoch: 'e2', membershipSeq: 0 }, at)).toEqual({ status: 'stale' });
    expect(await messages.allocate(id, { epoch: 'e1', membershipSeq: 3 }, at)).toEqual({ status: 'stale' });
    expect(await messages.allocate(id, { epoch: 'e1', membershipSeq: 0, retentionDays: 2 }, at)).toEqual({ status: 'stale' });
    expect(await messages.allocate(id, { epoch: 'e1', membershipSeq: 0 }, at, 1_900_000_000)).toEqual({ status: 'allocated', seq: 2, epoch: 'e1' });
    expect(await conversations.get(id, true)).toMatchObject({ lastSeq: 2, lastMessageAt: at, epoch: 'e1', lastExpiresAt: 1_900_000_000 });
    // Items go to their allocated seqs in any order; a seq holds one item.
    expect(await messages.putAt({ ...message(id, 'm2'), seq: 2 })).toBe('stored');
    expect(await messages.putAt({ ...message(id, 'm1'), seq: 1 })).toBe('stored');
    expect(await messages.putAt({ ...message(id, 'again'), seq: 1 })).toBe('taken');
    expect((await messages.after(id, 0, 10)).map((m) => m.clientMessageId)).toEqual(['m1', 'm2']);
    // A timeline transaction conditioned on the counter's value follows it.
    expect(await messages.append(message(id, 'm3'), 1, 60)).toMatchObject({ status: 'conflict', lastSeq: 2 });
    expect(await messages.append(message(id, 'm3'), 2, 60)).toMatchObject({ status: 'stored', message: { seq: 3 } });
    expect(await messages.allocate(id, { epoch: 'e1', membershipSeq: 0 }, at)).toMatchObject({ seq: 4 });
  });

  it('stores an event at its allocated seq only while its message is in the planned state; a moved state or a taken seq is a conflict', async () => {
    const { conversations, messages } = create();
    const id = `grp_${run()}`;
    await conversations.createGroup({ ...group(id.slice(4), ['alice', 'bob']) });
    const at = new Date().toISOString();
    const guard = { epoch: 'e1', membershipSeq: 0 };
    await messages.allocate(id, guard, at);
    await messages.putAt({ ...message(id, 'm1'), seq: 1 });
    const reaction = {
      conversationId: id,
      senderId: 'bob',
      clientMessageId: 'r1',
      body: '',
      createdAt: at,
      kind: 'reaction' as const,
      targetSeq: 1,
      emoji: '👍',
      op: 'add' as const,
    };
    const onMessage = (seq: number, expectStateSeq: number | null) => ({
      type: 'message' as const,
      conversationId: id,
      seq: 1,
      set: { reactions: [{ emoji: '👍', count: seq }], stateSeq: seq },
      expectStateSeq,
    });
    const appendAt = (seq: number, key: string, expectStateSeq: number | null) =>
      messages.appendTimeline({
        conversationId: id,
        items: [reaction],
        expectedLastSeq: seq - 1,
        epoch: 'e1',
        idempotencyKey: key,
        idempotencyTtlSeconds: 60,
        writes: [onMessage(seq, expectStateSeq)],
        allocated: true,
      });
    expect(await messages.allocate(id, guard, at)).toMatchObject({ seq: 2 });
    expect(await appendAt(2, 'k1', null)).toMatchObject({ status: 'stored', message: { seq: 2, kind: 'reaction' } });
    // The allocation advanced the head; the append did not advance it again.
    expect(await conversations.get(id, true)).toMatchObject({ lastSeq: 2 });
    expect(await messages.allocate(id, guard, at)).toMatchObject({ seq: 3 });
    // Planned on the state before seq 2: refused, and nothing of it is stored.
    expect(await appendAt(3, 'k2', null)).toMatchObject({ status: 'conflict' });
    expect((await messages.after(id, 0, 10)).map((m) => m.seq)).toEqual([1, 2]);
    expect(await messages.get(id, 1)).toMatchObject({ stateSeq: 2, reactions: [{ emoji: '👍', count: 2 }] });
    // The same key again is the first event's duplicate.
    expect(await appendAt(3, 'k1', 2)).toEqual({ status: 'duplicate', seq: 2, createdAt: at });
    // A seq a reader filled meanwhile is a conflict too.
    const placeholder = { conversationId: id, seq: 3, senderId: '', clientMessageId: '', body: '', createdAt: at, epoch: 'e1', kind: 'skipped' as const };
    await messages.fillHole(placeholder);
    expect(await appendAt(3, 'k3', 2)).toMatchObject({ status: 'conflict' });
    expect(await messages.get(id, 1)).toMatchObject({ stateSeq: 2 });
  });

  it('fills a dead seq with a placeholder once, and a late writer loses to it', async () => {
    const { conversations, messages } = create();
    const id = `grp_${run()}`;
    await conversations.createGroup({ ...group(id.slice(4), ['alice']) });
    const at = new Date().toISOString();
    await messages.allocate(id, { epoch: 'e1', membershipSeq: 0 }, at);
    await messages.allocate(id, { epoch: 'e1', membershipSeq: 0 }, at);
    await messages.putAt({ ...message(id, 'm2'), seq: 2 });
    const placeholder = { conversationId: id, seq: 1, senderId: '', clientMessageId: '', body: '', createdAt: at, epoch: 'e1', kind: 'skipped' as const };
    expect(await messages.fillHole(placeholder)).toEqual(placeholder);
    expect(await messages.fillHole({ ...placeholder, createdAt: 'later' })).toEqual(placeholder);
    expect(await messages.fillHole({ ...placeholder, seq: 2 })).toMatchObject({ seq: 2, clientMessageId: 'm2' });
    expect(await messages.putAt({ ...message(id, 'late'), seq: 1 })).toBe('taken');
    expect((await messages.after(id, 0, 10)).map((m) => [m.seq, m.kind ?? 'message'])).toEqual([
      [1, 'skipped'],
      [2, 'message'],
    ]);
  });

  it('claims an idempotency key once; a dead attempt’s claim is taken over once; release frees only one’s own', async () => {
    const { messages } = create();
    const key = JSON.stringify([`grp_${run()}`, 'alice', 'c1']);
    const first = { claimedAt: 1_000, afterSeq: 4 };
    expect(await messages.claim(key, first, 60)).toEqual({ status: 'claimed' });
    expect(await messages.claim(key, { claimedAt: 2_000, afterSeq: 5 }, 60)).toEqual({ status: 'held', claim: first });
    expect(await messages.idempotent(key)).toBeUndefined();
    const next = { claimedAt: 3_000, afterSeq: 6, owner: 'attempt-2' };
    expect(await messages.takeOver(key, { claimedAt: 2_000, afterSeq: 5 }, next)).toBe(false);
    expect(await messages.takeOver(key, first, next)).toBe(true);
    expect(await messages.takeOver(key, first, { claimedAt: 4_000, afterSeq: 7 })).toBe(false);
    expect(await messages.claimOf(key)).toEqual(next);
    await messages.release(key, first);
    expect(await messages.claimOf(key)).toEqual(next);
    await messages.release(key, next);
    expect(await messages.claimOf(key)).toBeUndefined();
  });

  it('finds a crashed attempt’s stored message after its claim, reading a bounded range', async () => {
    const { conversations, messages } = create();
    const id = `grp_${run()}`;
    await conversations.createGroup({ ...group(id.slice(4), ['alice', 'bob']) });
    const at = new Date().toISOString();
    for (let seq = 1; seq <= 4; seq++) await messages.allocate(id, { epoch: 'e1', membershipSeq: 0 }, at);
    // The attempt claimed after seq 1, stored its message at 3 and died before its ack.
    await messages.putAt({ ...message(id, 'other'), seq: 2, senderId: 'bob' });
    await messages.putAt({ ...message(id, 'mine'), seq: 3 });
    await messages.putAt({ ...message(id, 'mine'), seq: 4, senderId: 'bob' });
    expect(await messages.findSent(id, 'alice', 'mine', 1, { maxItems: 100 })).toMatchObject({ seq: 3, senderId: 'alice', clientMessageId: 'mine' });
    expect(await messages.findSent(id, 'alice', 'mine', 3, { maxItems: 100 })).toBeUndefined();
    expect(await messages.findSent(id, 'alice', 'mine', 1, { maxItems: 1 })).toBeUndefined();
    expect(await messages.findSent(id, 'alice', 'nothing', 0, { maxItems: 100 })).toBeUndefined();
    // Stops at the first item created after the bound: what follows cannot be the attempt's.
    expect(await messages.findSent(id, 'alice', 'mine', 0, { maxItems: 100, createdBefore: '2000-01-01T00:00:00.000Z' })).toBeUndefined();
    expect(await messages.findSent(id, 'alice', 'mine', 0, { maxItems: 100, createdBefore: '2999-01-01T00:00:00.000Z' })).toMatchObject({ seq: 3 });
  });

  it('writes the TTL on every item of an append, keeps the retention on the head, and never puts the TTL on the wire', async () => {
    const { conversations, messages } = create();
    const conversation = group(run(), ['alice', 'bob']);
    await conversations.createGroup(conversation);
    const id = conversation.conversationId;
    const event = { conversationId: id, senderId: 'alice', clientMessageId: '', body: '', createdAt: '2026-12-01T00:00:00.000Z' };
    const stored = await messages.appendTimeline({
      conversationId: id,
      items: [{ ...event, kind: 'retention_changed', retentionDays: 2 }],
      expectedLastSeq: 0,
      epoch: 'e1',
      idempotencyTtlSeconds: 60,
      expiresAt: 1_800_000_000,
      retentionDays: 2,
    });
    expect(stored).toMatchObject({ status: 'stored', message: { seq: 1, retentionDays: 2 } });
    expect(stored.status === 'stored' && 'expiresAt' in stored.message).toBe(false);
    expect(await messages.append({ ...message(id, 'm1'), expiresAt: 1_800_000_100 }, 1, 60)).toMatchObject({ status: 'stored' });
    expect((await messages.after(id, 0, 10)).map((item) => [item.seq, item.expiresAt])).toEqual([
      [1, 1_800_000_000],
      [2, 1_800_000_100],
    ]);
    expect((await messages.get(id, 2))?.expiresAt).toBe(1_800_000_100);
    expect(await conversations.get(id, true)).toMatchObject({ retentionDays: 2, lastExpiresAt: 1_800_000_100 });
    expect((await conversations.heads([id])).get(id)).toMatchObject({ retentionDays: 2 });
    // A conflicting writer learns the head's retention state.
    expect(await messages.append(message(id, 'm2'), 1, 60)).toEqual({
      status: 'conflict',
      lastSeq: 2,
      epoch: 'e1',
      retention: { retentionDays: 2, lastExpiresAt: 1_800_000_100 },
    });
    // Back to the deployment's default: the head forgets the group's retention.
    await messages.appendTimeline({
      conversationId: id,
      items: [{ ...event, kind: 'retention_changed', retentionDays: null }],
      expectedLastSeq: 2,
      epoch: 'e1',
      idempotencyTtlSeconds: 60,
      retentionDays: null,
    });
    expect((await conversations.get(id, true))?.retentionDays).toBeUndefined();
  });

  it('finds a sender’s items and scrubs them only while they exist and are theirs', async () => {
    const { conversations, messages } = create();
    const conversation = group(run(), ['alice', 'bob']);
    await conversations.createGroup(conversation);
    const id = conversation.conversationId;
    await messages.append(message(id, 'm1'), 0, 60);
    await messages.append({ ...message(id, 'm2'), senderId: 'bob' }, 1, 60);
    await messages.append(message(id, 'm3'), 2, 60);
    expect((await messages.itemsBySender(id, 'alice')).map((item) => item.seq)).toEqual([1, 3]);
    expect(await messages.scrub(id, 2, 'alice', { set: { erased: true } })).toBe(false);
    expect(await messages.scrub(id, 9, 'alice', { set: { erased: true } })).toBe(false);
    expect(await messages.scrub(id, 1, 'alice', { set: { deleted: true, erased: true }, remove: ['body'] })).toBe(true);
    expect((await messages.after(id, 0, 10)).map((item) => [item.seq, item.body, item.erased ?? false])).toEqual([
      [1, '', true],
      [2, 'body of m2', false],
      [3, 'body of m3', false],
    ]);
  });

  it('reads the group-add setting of many users in one batch, anyone when never set', async () => {
    const { users } = create();
    const [a, b, c] = [`a-${run()}`, `b-${run()}`, `c-${run()}`];
    await users.updateSettings(a, { groupAdd: 'contacts' });
    await users.updateSettings(b, { groupAdd: 'anyone' });
    expect(await users.groupAddOf([a, b, c, a])).toEqual(
      new Map([
        [a, 'contacts'],
        [b, 'anyone'],
        [c, 'anyone'],
      ]),
    );
    expect(await users.groupAddOf([])).toEqual(new Map());
  });

  it('records erasure markers and reads them in one batch', async () => {
    const { users } = create();
    const [a, b] = [`a-${run()}`, `b-${run()}`];
    expect(await users.erasedAt([a, b])).toEqual(new Map());
    await users.markErased(a, '2026-12-01T00:00:00.000Z');
    expect(await users.erasedAt([a, b])).toEqual(new Map([[a, '2026-12-01T00:00:00.000Z']]));
  });

  it('moves receipts forward only', async () => {
    const { conversations } = create();
    const conversation = group(run(), ['alice', 'bob']);
    await conversations.createGroup(conversation);
    const id = conversation.conversationId;
    expect((await conversations.listMemberStates(id)).map((state) => state.userId).sort()).toEqual(['alice', 'bob']);

    expect(await conversations.advanceReceipt(id, 'bob', 'read', 3)).toMatchObject({ lastDeliveredSeq: 3, lastReadSeq: 3 });
    expect(await conversations.advanceReceipt(id, 'bob', 'delivered', 2)).toBeUndefined();
    expect(await conversations.getMember(id, 'bob')).toMatchObject({ lastDeliveredSeq: 3, lastReadSeq: 3 });
    expect(await conversations.getMember(id, 'nobody')).toBeUndefined();
  });

  it('tracks connections with expiries: online, refresh, offline with lastSeenAt', async () => {
    const { presence } = create();
    const user = `p-${run()}`;
    const t0 = new Date('2026-12-01T00:00:00.000Z');
    const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
    expect(await presence.addConnection({ userId: user, connectionId: 'c1' }, t0, 60)).toEqual({ cameOnline: true, recentGroups: [] });
    expect(await presence.addConnection({ userId: user, connectionId: 'c2' }, t0, 60)).toEqual({ cameOnline: false, recentGroups: [] });
    expect((await presence.connectionsOf([user], at(1))).map((ref) => ref.connectionId).sort()).toEqual(['c1', 'c2']);
    expect(await presence.refresh({ userId: user, connectionId: 'c1' }, at(30), 60)).toBe(true);
    expect(await presence.refresh({ userId: user, connectionId: 'nope' }, at(30), 60)).toBe(false);
    // c2 expired without a disconnect: readers treat it as gone.
    expect((await presence.connectionsOf([user], at(70))).map((ref) => ref.connectionId)).toEqual(['c1']);
    expect(await presence.removeConnection({ userId: user, connectionId: 'c1' }, at(80))).toEqual({ removed: true, wentOffline: true });
    expect(await presence.removeConnection({ userId: user, connectionId: 'c1' }, at(81))).toEqual({ removed: false, wentOffline: false });
    expect(await presence.presenceOf([user], at(81))).toEqual([{ userId: user, status: 'offline', lastSeenAt: at(80).toISOString() }]);
  });

  it('notes group joins for a connection registering at the same time, and prunes old notes', async () => {
    const { presence } = create();
    const [online, offline] = [`jo-${run()}`, `jf-${run()}`];
    const t0 = new Date('2026-12-01T00:00:00.000Z');
    const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
    await presence.addConnection({ userId: online, connectionId: 'c1' }, t0, 600);
    // The join reads the live connections in the same write that notes it.
    expect(await presence.noteJoined([online, offline, online], 'grp_a', at(1))).toEqual([{ userId: online, connectionId: 'c1' }]);
    await presence.noteJoined([offline], 'grp_b', at(2));
    // A connection registered within groupJoinNoticeSeconds of a join learns of it; an older note is gone.
    const first = await presence.addConnection({ userId: offline, connectionId: 'c2' }, at(3), 600);
    expect(first.recentGroups.sort()).toEqual(['grp_a', 'grp_b']);
    await presence.noteJoined([offline], 'grp_c', at(10));
    const later = await presence.addConnection({ userId: offline, connectionId: 'c3' }, at(2 + groupJoinNoticeSeconds + 1), 600);
    expect(later.recentGroups).toEqual(['grp_c']);
    const last = await presence.addConnection({ userId: offline, connectionId: 'c4' }, at(10 + groupJoinNoticeSeconds + 1), 600);
    expect(last).toEqual({ cameOnline: false, recentGroups: [] });
  });

  it("keeps each group's connection index: range reads in user order, expiry, deletes", async () => {
    const { presence } = create();
    const group = `grp_${run()}`;
    const now = new Date('2026-12-01T00:00:00.000Z');
    const expiresAt = now.getTime() / 1000 + 7200;
    const ref = (userId: string, connectionId: string) => ({ userId, connectionId });
    // Prefixes of each other, to check the range holds exactly the users from..through.
    const refs = [ref('u1', 'a'), ref('u1', 'b'), ref('u1.x', 'c'), ref('u10', 'd'), ref('u2', 'e'), ref('u3', 'f')];
    await presence.indexConnections(
      refs.map((r) => ({ conversationId: group, ref: r })),
      expiresAt,
    );
    await presence.indexConnections([{ conversationId: group, ref: ref('u2', 'old') }], now.getTime() / 1000 - 1);
    await presence.indexConnections([{ conversationId: `${group}x`, ref: ref('u1', 'other') }], expiresAt);
    expect(await presence.groupConnections(group, 'u1', 'u2', now)).toEqual([
      ref('u1', 'a'),
      ref('u1', 'b'),
      ref('u1.x', 'c'),
      ref('u10', 'd'),
      ref('u2', 'e'),
    ]);
    expect(await presence.groupConnections(group, 'u1', 'u1', now)).toEqual([ref('u1', 'a'), ref('u1', 'b')]);
    expect(await presence.groupConnections(group, 'u10', 'u3', now)).toEqual([ref('u10', 'd'), ref('u2', 'e'), ref('u3', 'f')]);
    await presence.unindexConnections([
      { conversationId: group, ref: ref('u1', 'a') },
      { conversationId: group, ref: ref('u9', 'never') },
    ]);
    expect(await presence.groupConnections(group, 'u1', 'u1', now)).toEqual([ref('u1', 'b')]);
    // Many entries: batched writes and a paged read.
    const many = Array.from({ length: 60 }, (_, i) => ({ conversationId: `${group}m`, ref: ref(`m${String(i).padStart(2, '0')}`, `c${i}`) }));
    await presence.indexConnections(many, expiresAt);
    expect(await presence.groupConnections(`${group}m`, 'm00', 'm59', now)).toHaveLength(60);
  });
});
