import { describe, expect, it, vi } from 'vitest';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';
import { addsDirectly } from '../../lambdas/domain/consent.js';
import { createDirectConversation, createGroup } from '../../lambdas/domain/conversations.js';

const alice = { userId: 'alice', connectionId: 'alice-1' };

describe('group-add consent', () => {
  it('decides every invitee of a large group with batched reads and one walk of the inviter’s memberships', async () => {
    const { deps, users } = memoryDeps();
    const invitees = Array.from({ length: 120 }, (_, i) => `u${String(i).padStart(3, '0')}`);
    for (const userId of invitees.slice(0, 60)) await users.updateSettings(userId, { groupAdd: 'contacts' });
    // Alice shares a direct conversation with u000 (contacts-only, so added directly) and u060 (anyone); u001 blocked her.
    for (const peer of ['u000', 'u060']) await createDirectConversation(deps, alice, peer);
    await users.block('u001', 'alice', deps.now().toISOString());
    const settings = vi.spyOn(users, 'groupAddOf');
    const single = vi.spyOn(users, 'settingsOf');
    const walks = vi.spyOn(deps.conversations, 'listMemberships');

    const decided = await addsDirectly(deps, 'alice', invitees);

    expect(decided.hidden).toEqual(['u001']);
    expect(decided.invite).toEqual(invitees.slice(2, 60));
    expect(decided.direct).toEqual(['u000', ...invitees.slice(60)]);
    expect(settings).toHaveBeenCalledTimes(1);
    expect(single).not.toHaveBeenCalled();
    expect(walks.mock.calls.every(([userId]) => userId === 'alice')).toBe(true);
    expect(walks).toHaveBeenCalledTimes(1);
  });

  it('creates a group with invitations for contacts-only strangers and members for the rest', async () => {
    const { deps, users } = memoryDeps();
    await users.updateSettings('carol', { groupAdd: 'contacts' });
    const { conversation, invited } = await createGroup(deps, alice, { title: 't', members: ['bob', 'carol'] });
    expect(conversation.members).toEqual(['alice', 'bob']);
    expect(invited).toEqual(['carol']);
    expect(await users.invitation('carol', conversation.conversationId)).toMatchObject({ conversationId: conversation.conversationId });
  });
});
