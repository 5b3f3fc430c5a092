/**
 * The conversation lifecycle in the web chat, three users in Chromium against one local stack: edits, deletes and
 * reactions show up live on the other screens; an owner promotes, renames and removes; the removed member's page
 * shows the removal, disables the composer and receives nothing more.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildWeb, webIndex } from '../setup/build-web.js';
import { connectAs } from '../support/ws-client.js';
import { chatSessions, pageTimeout as timeout, sendText, shownMessages } from '../support/web-pages.js';

const artifacts = join(process.cwd(), 'test-results', 'e2e');
const info = inject('parley');
const baseUrl = info.httpUrl.replace(/\/$/, '');
const { openAs, closeAll } = chatSessions(baseUrl);

/** The message bubble whose text contains `text`. */
const bubble = (page: Page, text: string): Locator => page.getByTestId('message').filter({ hasText: text });

/** A message's reactions as `emoji count` strings, `*` marking your own. */
const reactionsOf = (message: Locator) =>
  message
    .getByTestId('reaction')
    .evaluateAll((els) =>
      els.map((el) => `${(el as HTMLElement).dataset.emoji} ${(el as HTMLElement).dataset.count}${(el as HTMLElement).dataset.mine === 'true' ? '*' : ''}`),
    );

const eventLines = (page: Page) => page.getByTestId('timeline-event').allTextContents();

describe('web chat: conversation lifecycle in Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(webIndex)) await buildWeb();
    mkdirSync(artifacts, { recursive: true });
  });

  afterAll(closeAll);

  it('edits, deletes and reactions appear live; a removed member sees the removal and nothing after it', async () => {
    const suffix = randomUUID().slice(0, 8);
    const [aliceId, bobId, carolId, daveId] = ['alice', 'bob', 'carol', 'dave'].map((u) => `${u}-${suffix}`) as [string, string, string, string];
    const title = `Launch ${suffix}`;
    // Dave only joins groups he accepts: set through the protocol, no browser needed for him.
    const dave = await connectAs(info, daveId);
    expect((await dave.request({ action: 'updateSettings', groupAdd: 'contacts' })).type).toBe('settings');
    await dave.close();

    const alice = await openAs(aliceId, { width: 1100, height: 800 });
    const bob = await openAs(bobId, { width: 390, height: 844 });
    const carol = await openAs(carolId, { width: 900, height: 760 });

    await alice.page.getByTestId('new-chat').click();
    await alice.page.getByTestId('new-chat-members').fill(`${bobId}, ${carolId}`);
    await alice.page.getByTestId('new-chat-title').fill(title);
    await alice.page.getByTestId('new-chat-create').click();
    await expect.poll(() => alice.page.getByTestId('conversation-title').textContent(), { timeout }).toBe(title);
    for (const s of [bob, carol]) {
      const item = s.page.locator(`[data-testid=conversation-item][data-title="${title}"]`);
      await item.waitFor({ timeout });
      await item.click();
      await expect.poll(() => s.page.getByTestId('conversation-title').textContent(), { timeout }).toBe(title);
    }

    // Bob writes with a typo and edits it: Alice sees the new text with an "edited" mark.
    await sendText(bob.page, 'helo wrld');
    await bubble(alice.page, 'helo wrld').waitFor({ timeout });
    await bubble(bob.page, 'helo wrld').getByTestId('edit-button').click();
    await expect.poll(() => bob.page.getByTestId('composer-input').inputValue(), { timeout }).toBe('helo wrld');
    expect(await bob.page.getByTestId('edit-bar').isVisible()).toBe(true);
    await sendText(bob.page, 'hello world');
    for (const s of [alice, bob, carol]) {
      await expect.poll(async () => (await shownMessages(s.page)).map((m) => [m.sender, m.body]), { timeout }).toEqual([[bobId, 'hello world']]);
      await bubble(s.page, 'hello world').getByTestId('edited-mark').waitFor({ timeout });
    }
    // Only the sender may edit.
    expect(await bubble(alice.page, 'hello world').getByTestId('edit-button').count()).toBe(0);

    // Alice reacts; Bob adds the same emoji by clicking the count; each sees both, their own highlighted.
    await bubble(alice.page, 'hello world').getByTestId('react-button').click();
    await alice.page.getByRole('button', { name: 'React with 👍' }).click();
    await expect.poll(() => reactionsOf(bubble(bob.page, 'hello world')), { timeout }).toEqual(['👍 1']);
    await bubble(bob.page, 'hello world').getByTestId('reaction').click();
    await expect.poll(() => reactionsOf(bubble(bob.page, 'hello world')), { timeout }).toEqual(['👍 2*']);
    await expect.poll(() => reactionsOf(bubble(alice.page, 'hello world')), { timeout }).toEqual(['👍 2*']);
    await expect.poll(() => reactionsOf(bubble(carol.page, 'hello world')), { timeout }).toEqual(['👍 2']);
    // Bob takes his back.
    await bubble(bob.page, 'hello world').getByTestId('reaction').click();
    await expect.poll(() => reactionsOf(bubble(alice.page, 'hello world')), { timeout }).toEqual(['👍 1*']);

    // Alice deletes her own message: everyone sees a tombstone.
    await sendText(alice.page, 'oops, wrong chat');
    await bubble(bob.page, 'oops, wrong chat').waitFor({ timeout });
    await bubble(alice.page, 'oops, wrong chat').getByTestId('delete-button').click();
    for (const s of [alice, bob, carol]) {
      await expect.poll(async () => (await shownMessages(s.page)).map((m) => m.body), { timeout }).toEqual(['hello world', 'message deleted']);
      expect(await s.page.locator('[data-testid=message][data-deleted=true]').count()).toBe(1);
    }
    await alice.page.screenshot({ path: join(artifacts, 'lifecycle-alice-reactions.png') });

    // Bob is a member: no remove or role buttons, no rename or add form.
    await bob.page.getByTestId('info-button').click();
    await bob.page.getByTestId('member-list').getByTestId('member').first().waitFor({ timeout });
    expect(await bob.page.getByTestId('remove-member').count()).toBe(0);
    expect(await bob.page.getByTestId('add-members-form').isVisible()).toBe(false);
    expect(await bob.page.getByTestId('rename-form').isVisible()).toBe(false);
    await bob.page.getByTestId('info-button').click();

    // Alice (owner) promotes Carol, renames the group, and adds Dave, who gets an invitation instead.
    await alice.page.getByTestId('info-button').click();
    const roleOf = (page: Page, user: string) => page.locator(`[data-testid=member][data-user="${user}"]`).getAttribute('data-role');
    await expect.poll(() => roleOf(alice.page, aliceId), { timeout }).toBe('owner');
    await alice.page.getByRole('button', { name: `Make admin: ${carolId}` }).click();
    await expect.poll(() => roleOf(alice.page, carolId), { timeout }).toBe('admin');
    await alice.page.getByTestId('rename-input').fill(`${title} v2`);
    await alice.page.getByTestId('rename-submit').click();
    // Each request's notice replaces the last one's, so wait for the rename before adding.
    await expect.poll(() => alice.page.getByTestId('info-notice').textContent(), { timeout }).toBe('Renamed.');
    await alice.page.getByTestId('add-members-input').fill(daveId);
    await alice.page.getByTestId('add-members-submit').click();
    await expect.poll(() => alice.page.getByTestId('info-notice').textContent(), { timeout }).toBe(`Invited ${daveId} (they must accept).`);
    // A refused request shows the server's reason.
    await alice.page.getByTestId('add-members-input').fill('not/a-user');
    await alice.page.getByTestId('add-members-submit').click();
    await expect.poll(() => alice.page.getByTestId('info-error').textContent(), { timeout }).toMatch(/^members/);
    const lines = [`${carolId} is now admin`, `${aliceId} changed the title to “${title} v2”`];
    for (const s of [alice, bob, carol]) await expect.poll(() => eventLines(s.page), { timeout }).toEqual(lines);

    // Alice removes Bob.
    await alice.page.getByRole('button', { name: `Remove ${bobId}` }).click();
    const banner = bob.page.getByTestId('removal-banner');
    await banner.waitFor({ state: 'visible', timeout });
    expect(await banner.textContent()).toBe(`You were removed from ${title} v2 by ${aliceId}.`);
    expect(await bob.page.getByTestId('composer-input').isDisabled()).toBe(true);
    expect(await bob.page.getByTestId('composer-send').isDisabled()).toBe(true);
    const removedLines = [...lines, `${aliceId} removed ${bobId}`];
    for (const s of [alice, bob, carol]) await expect.poll(() => eventLines(s.page), { timeout }).toEqual(removedLines);
    expect(await bubble(bob.page, 'hello world').getByTestId('react-button').count()).toBe(0);

    // What Alice sends now reaches Carol; once it has, Bob's screen still ends at his removal.
    await sendText(alice.page, 'after the removal');
    await bubble(carol.page, 'after the removal').waitFor({ timeout });
    await expect.poll(() => reactionsOf(bubble(carol.page, 'hello world')), { timeout }).toEqual(['👍 1']);
    expect((await shownMessages(bob.page)).map((m) => m.body)).toEqual(['hello world', 'message deleted']);
    expect(await eventLines(bob.page)).toEqual(removedLines);
    await bob.page.screenshot({ path: join(artifacts, 'lifecycle-bob-removed-phone.png') });

    for (const s of [alice, bob, carol]) expect(s.errors).toEqual([]);
  });
});
