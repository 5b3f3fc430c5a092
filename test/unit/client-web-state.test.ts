import { describe, expect, it } from 'vitest';
import { MemoryCursorStore } from '../../client/cursor-store.js';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient, drive } from '../../client/testing/harness.js';
import { ManualClock } from '../../client/testing/manual-clock.js';
import { ChatState, canRemove, eventText } from '../../web/src/chat-state.js';

const shown = (state: ChatState, id: string) =>
  state
    .messages(id)
    .map((m) => ({ body: m.body, edited: m.edited, deleted: m.deleted, reactions: m.reactions.map((r) => `${r.emoji}${r.count}${r.mine ? '*' : ''}`) }));

async function pair(server: FakeParleyServer) {
  const clock = new ManualClock();
  const alice = createTestClient(server, 'alice', { clock });
  const bob = createTestClient(server, 'bob', { clock });
  await connectNow(alice);
  await connectNow(bob);
  return { clock, alice, bob, aliceState: new ChatState(alice.client, 'alice'), bobState: new ChatState(bob.client, 'bob') };
}

describe('web ChatState', () => {
  it('moves your message through pending → sent → delivered → read', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const { clock, alice, bob, aliceState } = await pair(server);
    await aliceState.open(dm.conversationId);
    let hold = true;
    server.interceptRequest = (_c, r) => (hold && r.action === 'send' ? 'drop' : undefined);
    aliceState.send('  hello  ');
    await clock.advance(0);
    expect(aliceState.messages(dm.conversationId)).toEqual([expect.objectContaining({ seq: null, body: 'hello', mine: true, mark: 'pending' })]);
    hold = false;
    bob.client.close(); // offline: the message can be stored but not delivered
    await clock.advance(11_000); // request timeout, then the resend
    expect(aliceState.messages(dm.conversationId)).toEqual([expect.objectContaining({ seq: 1, mark: 'sent' })]);

    const bob2 = createTestClient(server, 'bob', { clock });
    await connectNow(bob2); // syncs and acks delivery automatically
    await clock.advance(10);
    expect(aliceState.messages(dm.conversationId)[0]!.mark).toBe('delivered');

    const bobState2 = new ChatState(bob2.client, 'bob');
    await bobState2.open(dm.conversationId);
    await clock.advance(10);
    expect(aliceState.messages(dm.conversationId)).toEqual([expect.objectContaining({ seq: 1, mark: 'read' })]);
    expect(aliceState.messages(dm.conversationId)).toHaveLength(1);
    alice.client.close();
    bob2.client.close();
  });

  it('marks a group message read only when every other member read it', async () => {
    const server = new FakeParleyServer();
    const group = server.seedConversation('group', ['alice', 'bob', 'carol'], 'Team');
    const { clock, alice, bob, aliceState, bobState } = await pair(server);
    const carol = createTestClient(server, 'carol', { clock });
    await connectNow(carol);
    await aliceState.open(group.conversationId);
    aliceState.send('standup?');
    await clock.advance(10);
    expect(aliceState.messages(group.conversationId)[0]!.mark).toBe('delivered');
    await bobState.open(group.conversationId);
    await clock.advance(10);
    expect(aliceState.messages(group.conversationId)[0]!.mark).toBe('delivered');
    await new ChatState(carol.client, 'carol').open(group.conversationId);
    await clock.advance(10);
    expect(aliceState.messages(group.conversationId)[0]!.mark).toBe('read');
    for (const c of [alice, bob, carol]) c.client.close();
  });

  it('counts unread messages from others only, and clears them when opened', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const { clock, alice, bob, aliceState, bobState } = await pair(server);
    await bobState.loadConversations();
    for (const body of ['a', 'b', 'c']) await alice.client.send(dm.conversationId, body).acked;
    await bob.client.send(dm.conversationId, 'mine').acked;
    await clock.advance(10);
    expect(bobState.conversations()).toEqual([expect.objectContaining({ conversationId: dm.conversationId, title: 'alice', unread: 3, preview: 'You: mine' })]);
    expect(aliceState.conversations()[0]).toMatchObject({ title: 'bob', peer: { userId: 'bob', status: 'online' } });
    await bobState.open(dm.conversationId);
    await clock.advance(10);
    expect(bobState.conversations()[0]!.unread).toBe(0);
    bobState.setVisible(false);
    await alice.client.send(dm.conversationId, 'while hidden').acked;
    await clock.advance(10);
    expect(bobState.conversations()[0]!.unread).toBe(1);
    alice.client.close();
    bob.client.close();
  });

  it('pages back through history (infinite scroll) until the start', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    for (let i = 1; i <= 75; i++) server.postSilently('bob', dm.conversationId, `m${i}`);
    const clock = new ManualClock();
    // A returning user whose cursor is already at the end: nothing is re-delivered, the view pages history.
    const alice = createTestClient(server, 'alice', {
      clock,
      cursorStore: new MemoryCursorStore({ [dm.conversationId]: { seq: 75, epoch: dm.epoch ?? null } }),
    });
    await connectNow(alice);
    expect(alice.events.message).toEqual([]);
    const state = new ChatState(alice.client, 'alice');
    await state.open(dm.conversationId);
    expect(state.messages(dm.conversationId).map((m) => m.seq)).toEqual(range(46, 75));
    await state.loadOlder(dm.conversationId);
    await state.loadOlder(dm.conversationId);
    expect(state.reachedStart(dm.conversationId)).toBe(true);
    expect(state.messages(dm.conversationId).map((m) => m.seq)).toEqual(range(1, 75));
    await state.loadOlder(dm.conversationId);
    expect(server.requestsOf('history')).toHaveLength(3);
    alice.client.close();
  });
});

describe('web ChatState: conversation lifecycle', () => {
  it('shows edits, deletes and reactions live on both sides, with your own reactions marked', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const { clock, alice, bob, aliceState, bobState } = await pair(server);
    await aliceState.open(dm.conversationId);
    await bobState.open(dm.conversationId);
    const { seq } = await drive(clock, alice.client.send(dm.conversationId, 'helo').acked);
    await clock.advance(300);
    expect(bobState.messages(dm.conversationId)[0]).toMatchObject({ canEdit: false, canDelete: false, canReact: true });
    expect(aliceState.messages(dm.conversationId)[0]).toMatchObject({ canEdit: true, canDelete: true, canReact: true });

    await drive(clock, aliceState.edit(dm.conversationId, seq, 'hello'));
    await drive(clock, bobState.toggleReaction(dm.conversationId, seq, '👍'));
    await drive(clock, aliceState.toggleReaction(dm.conversationId, seq, '👍'));
    await drive(clock, aliceState.toggleReaction(dm.conversationId, seq, '🎉'));
    await clock.advance(300);
    expect(shown(bobState, dm.conversationId)).toEqual([{ body: 'hello', edited: true, deleted: false, reactions: ['👍2*', '🎉1'] }]);
    expect(shown(aliceState, dm.conversationId)).toEqual([{ body: 'hello', edited: true, deleted: false, reactions: ['👍2*', '🎉1*'] }]);

    // Toggling your own reaction again removes it.
    await drive(clock, bobState.toggleReaction(dm.conversationId, seq, '👍'));
    await clock.advance(300);
    expect(shown(aliceState, dm.conversationId)[0]!.reactions).toEqual(['👍1*', '🎉1*']);

    await drive(clock, aliceState.deleteMessage(dm.conversationId, seq));
    await clock.advance(300);
    for (const state of [aliceState, bobState]) {
      expect(shown(state, dm.conversationId)).toEqual([{ body: '', edited: false, deleted: true, reactions: [] }]);
      expect(state.messages(dm.conversationId)[0]).toMatchObject({ canEdit: false, canDelete: false, canReact: false });
      expect(state.conversations()[0]!.preview).toMatch(/message deleted$/);
      // Edit, delete and reaction events are applied, never shown as rows.
      expect(state.timeline(dm.conversationId)).toHaveLength(1);
    }
    alice.client.close();
    bob.client.close();
  });

  it('does not count a reaction twice when catch-up or history returns the message as it is now', async () => {
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    const clock = new ManualClock();
    const alice = createTestClient(server, 'alice', { clock });
    await connectNow(alice);
    const { seq } = await drive(clock, alice.client.send(dm.conversationId, 'hi').acked);
    await drive(clock, alice.client.react(dm.conversationId, seq, '👍'));
    await drive(clock, alice.client.edit(dm.conversationId, seq, 'hi!'));

    // Bob was offline: sync brings the message (already edited and reacted to) and then the events themselves.
    const bob = createTestClient(server, 'bob', { clock });
    const bobState = new ChatState(bob.client, 'bob');
    await connectNow(bob);
    await clock.advance(300);
    expect(shown(bobState, dm.conversationId)).toEqual([{ body: 'hi!', edited: true, deleted: false, reactions: ['👍1'] }]);

    // A returning device whose cursor is at the end reads the message from history, then a live reaction follows.
    const bobLater = createTestClient(server, 'bob', {
      clock,
      cursorStore: new MemoryCursorStore({ [dm.conversationId]: { seq: 3, epoch: dm.epoch ?? null } }),
    });
    await connectNow(bobLater);
    const laterState = new ChatState(bobLater.client, 'bob');
    await drive(clock, laterState.open(dm.conversationId));
    expect(shown(laterState, dm.conversationId)).toEqual([{ body: 'hi!', edited: true, deleted: false, reactions: ['👍1'] }]);
    await drive(clock, alice.client.react(dm.conversationId, seq, '🎉'));
    await drive(clock, bob.client.react(dm.conversationId, seq, '👍'));
    await clock.advance(300);
    expect(shown(laterState, dm.conversationId)[0]!.reactions).toEqual(['👍2*', '🎉1']);
    expect(shown(bobState, dm.conversationId)[0]!.reactions).toEqual(['👍2*', '🎉1']);
    for (const c of [alice, bob, bobLater]) c.client.close();
  });

  it("shows membership events inline, offers actions by role, and ends a removed member's view", async () => {
    const server = new FakeParleyServer();
    const clock = new ManualClock();
    const clients = Object.fromEntries(['alice', 'bob', 'carol'].map((u) => [u, createTestClient(server, u, { clock })]));
    for (const c of Object.values(clients)) await connectNow(c);
    const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((u) => new ChatState(clients[u]!.client, u)) as [ChatState, ChatState, ChatState];
    const { conversation } = await drive(clock, alice.createGroup('Team', ['bob', 'carol']));
    const id = conversation.conversationId;
    await drive(clock, alice.client.setRole(id, 'carol', 'admin'));
    await drive(clock, alice.client.rename(id, 'Launch'));
    await drive(clock, clients.bob!.client.send(id, 'hello').acked);
    await clock.advance(300);
    for (const state of [alice, bob, carol]) await drive(clock, state.open(id));

    expect(alice.members(id).map((m) => [m.userId, m.role, m.canRemove, m.assignable])).toEqual([
      ['alice', 'owner', false, []],
      ['carol', 'admin', true, ['owner', 'member']],
      ['bob', 'member', true, ['owner', 'admin']],
    ]);
    expect(carol.members(id).map((m) => [m.userId, m.canRemove, m.assignable.length])).toEqual([
      ['alice', false, 0],
      ['carol', false, 0],
      ['bob', true, 0],
    ]);
    expect(bob.members(id).every((m) => !m.canRemove && m.assignable.length === 0)).toBe(true);
    expect([alice.canManage(id), carol.canManage(id), bob.canManage(id)]).toEqual([true, true, false]);
    // An admin may delete others' messages; a member only their own.
    expect(carol.messages(id)[0]).toMatchObject({ senderId: 'bob', canDelete: true, canEdit: false });

    await drive(clock, carol.client.removeMembers(id, ['bob']));
    await clock.advance(300);
    await drive(clock, clients.alice!.client.send(id, 'after bob left').acked);
    await clock.advance(300);
    const lines = (state: ChatState) => state.timeline(id).map((r) => (r.type === 'event' ? r.text : `${r.senderId}: ${r.body}`));
    expect(lines(alice)).toEqual(['carol is now admin', 'alice changed the title to “Launch”', 'bob: hello', 'carol removed bob', 'alice: after bob left']);
    expect(lines(bob)).toEqual(['carol is now admin', 'alice changed the title to “Launch”', 'bob: hello', 'carol removed bob']);
    expect(bob.removal(id)).toEqual({ by: 'carol', left: false, seq: 4 });
    expect(alice.removal(id)).toBeNull();
    expect(bob.messages(id)[0]).toMatchObject({ canEdit: false, canDelete: false, canReact: false });
    // The composer is off: nothing is queued.
    bob.send('still here?');
    expect(clients.bob!.client.pendingMessages(id)).toEqual([]);

    await drive(clock, carol.client.leave(id));
    await clock.advance(300);
    expect(carol.removal(id)).toEqual({ by: 'carol', left: true, seq: 6 });
    expect(lines(alice).at(-1)).toBe('carol left');
    for (const c of Object.values(clients)) c.client.close();
  });

  it('keeps settings, blocks and invitations, and accepting one joins the group', async () => {
    const server = new FakeParleyServer();
    const clock = new ManualClock();
    const alice = createTestClient(server, 'alice', { clock });
    const erin = createTestClient(server, 'erin', { clock });
    await connectNow(alice);
    await connectNow(erin);
    const aliceState = new ChatState(alice.client, 'alice');
    const erinState = new ChatState(erin.client, 'erin');
    await drive(clock, erinState.setGroupAdd('contacts'));
    await drive(clock, erinState.block('mallory'));
    expect(erinState.settings).toEqual({ groupAdd: 'contacts', blocked: ['mallory'] });
    expect(erinState.isBlocked('mallory')).toBe(true);
    const { conversation, invited } = await drive(clock, aliceState.createGroup('Launch', ['erin']));
    expect(invited).toEqual(['erin']);
    await drive(clock, erinState.loadInvitations());
    expect(erinState.invitations).toEqual([expect.objectContaining({ conversationId: conversation.conversationId, title: 'Launch', invitedBy: 'alice' })]);
    await drive(clock, erinState.acceptInvitation(conversation.conversationId));
    expect(erinState.invitations).toEqual([]);
    await clock.advance(300);
    await drive(clock, aliceState.open(conversation.conversationId));
    expect(aliceState.timeline(conversation.conversationId).map((r) => r.type === 'event' && r.text)).toEqual(['erin joined']);
    await drive(clock, erinState.unblock('mallory'));
    expect(erinState.settings?.blocked).toEqual([]);
    alice.client.close();
    erin.client.close();
  });

  it('words events and role rules as PROTOCOL.md does', () => {
    const base = { conversationId: 'g', seq: 1, clientMessageId: '', body: '', createdAt: '' };
    expect(eventText({ ...base, kind: 'member_added', senderId: 'alice', userIds: ['bob', 'dave'] })).toBe('alice added bob, dave');
    expect(eventText({ ...base, kind: 'member_left', senderId: 'bob', userIds: ['bob'] })).toBe('bob left');
    expect(eventText({ ...base, kind: 'role_changed', senderId: 'alice', userIds: ['carol'], role: 'admin' })).toBe('carol is now admin');
    expect([
      canRemove('owner', 'admin'),
      canRemove('admin', 'member'),
      canRemove('admin', 'admin'),
      canRemove('member', 'member'),
      canRemove(null, 'member'),
    ]).toEqual([true, true, false, false, false]);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
