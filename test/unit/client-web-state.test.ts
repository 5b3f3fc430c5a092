import { describe, expect, it } from 'vitest';
import { MemoryCursorStore } from '../../client/cursor-store.js';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient } from '../../client/testing/harness.js';
import { ManualClock } from '../../client/testing/manual-clock.js';
import { ChatState } from '../../web/src/chat-state.js';

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
    expect(aliceState.messages(dm.conversationId)).toEqual([
      expect.objectContaining({ seq: null, body: 'hello', mine: true, mark: 'pending' }),
    ]);
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
    expect(bobState.conversations()).toEqual([
      expect.objectContaining({ conversationId: dm.conversationId, title: 'alice', unread: 3, preview: 'You: mine' }),
    ]);
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
    const alice = createTestClient(server, 'alice', { clock, cursorStore: new MemoryCursorStore({ [dm.conversationId]: { seq: 75, epoch: dm.epoch ?? null } }) });
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

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
