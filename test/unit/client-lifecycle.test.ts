import { describe, expect, it } from 'vitest';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient, drive } from '../../client/testing/harness.js';

describe('ParleyClient conversation lifecycle', () => {
  it('emits message only for chat messages and applies edits, reactions, deletes and removals', async () => {
    const server = new FakeParleyServer();
    const alice = createTestClient(server, 'alice');
    const bob = createTestClient(server, 'bob', { clock: alice.clock });
    await connectNow(alice);
    await connectNow(bob);
    const group = await drive(alice.clock, alice.client.createGroup('team', ['bob']));
    const { seq } = await drive(alice.clock, alice.client.send(group.conversationId, 'helo').acked);
    await drive(alice.clock, alice.client.edit(group.conversationId, seq, 'hello'));
    await drive(alice.clock, bob.client.react(group.conversationId, seq, '👍'));
    await drive(alice.clock, alice.client.deleteMessage(group.conversationId, seq));
    await drive(alice.clock, alice.client.removeMembers(group.conversationId, ['bob']));
    await alice.clock.advance(500);
    expect(bob.events.message.map((m) => m.body)).toEqual(['helo']);
    expect(bob.events.messageUpdated.map((u) => [u.message.body, u.message.deleted ?? false, u.message.reactions ?? [], u.complete])).toEqual([
      ['hello', false, [], true],
      ['hello', false, [{ emoji: '👍', count: 1 }], true],
      ['', true, [], true],
    ]);
    expect(bob.events.messageUpdated[1]!.mine).toEqual(['👍']);
    expect(bob.events.removed).toEqual([{ conversationId: group.conversationId, by: 'alice', seq: seq + 4, left: false }]);
    expect(alice.client.conversation(group.conversationId)?.members).toEqual(['alice']);
    alice.client.close();
    bob.client.close();
  });

  it('does not apply again the events a message read by catch-up already includes (stateSeq)', async () => {
    const server = new FakeParleyServer();
    const alice = createTestClient(server, 'alice');
    await connectNow(alice);
    const group = await drive(alice.clock, alice.client.createGroup('team', ['bob']));
    const { seq } = await drive(alice.clock, alice.client.send(group.conversationId, 'hi').acked);
    await drive(alice.clock, alice.client.react(group.conversationId, seq, '👍'));
    // Bob was offline: his catch-up reads the message with the reaction applied, and the reaction event after it.
    const bob = createTestClient(server, 'bob', { clock: alice.clock });
    await connectNow(bob);
    await alice.clock.advance(500);
    expect(bob.events.message).toEqual([expect.objectContaining({ seq, reactions: [{ emoji: '👍', count: 1 }], stateSeq: seq + 1 })]);
    expect(bob.events.messageUpdated).toEqual([]);
    // A later reaction applies once on top.
    await drive(alice.clock, alice.client.react(group.conversationId, seq, '🎉'));
    await alice.clock.advance(500);
    expect(bob.events.messageUpdated.map((update) => update.message.reactions)).toEqual([
      [
        { emoji: '👍', count: 1 },
        { emoji: '🎉', count: 1 },
      ],
    ]);
    alice.client.close();
    bob.client.close();
  });
});
