/**
 * Two users chat through the web page in Chromium (see test/support/browser.ts), against the local stack: text, order, unread
 * badge, sent/delivered/read marks, typing, presence and a reload that resumes from stored cursors.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TcpProxy } from '../../client/testing/tcp-proxy.js';
import { buildWeb, webIndex } from '../setup/build-web.js';
import { chromiumExecutable } from '../support/browser.js';
import { chatSessions, pageTimeout as timeout, sendText as send, shownMessages as messages } from '../support/web-pages.js';

const artifacts = join(process.cwd(), 'test-results', 'e2e');

const info = inject('parley');
const baseUrl = info.httpUrl.replace(/\/$/, '');
const { openAs, closeAll } = chatSessions(baseUrl);

describe('web chat in Chromium', () => {
  beforeAll(async () => {
    const executable = await chromiumExecutable();
    console.info(`e2e: Chromium from ${executable.source}: ${executable.path}`);
    if (!existsSync(webIndex)) await buildWeb();
    const config = await fetch(`${baseUrl}/config.json`);
    expect(config.status, 'the dev server must serve GET /config.json -> {"wsUrl": ...}').toBe(200);
    mkdirSync(artifacts, { recursive: true });
  });

  afterAll(closeAll);

  it('two users chat: text, order, unread, receipts, typing and presence', async () => {
    const suffix = randomUUID().slice(0, 8);
    const aliceId = `alice-${suffix}`;
    const bobId = `bob-${suffix}`;
    // Alice on a phone-sized screen, Bob on a desktop one.
    const alice = await openAs(aliceId, { width: 390, height: 844 });
    const bob = await openAs(bobId, { width: 1100, height: 760 });

    // Alice starts a 1:1 with Bob; on a phone the conversation replaces the list.
    await alice.page.getByTestId('new-chat').click();
    await alice.page.getByTestId('new-chat-members').fill(bobId);
    await alice.page.getByTestId('new-chat-create').click();
    await expect.poll(() => alice.page.getByTestId('conversation-title').textContent(), { timeout }).toBe(bobId);
    // Consent: until Bob answers in the DM Alice opened, his presence is hidden from her.
    expect(await alice.page.getByTestId('conversation-subtitle').getByTestId('presence-dot').getAttribute('data-status')).not.toBe('online');

    const texts = ['Hi Bob 👋', 'Are we still on for <b>lunch</b>?', 'Third, in order'];
    for (const text of texts) await send(alice.page, text);
    await expect.poll(async () => (await messages(alice.page)).map((m) => [m.seq, m.body]), { timeout }).toEqual(texts.map((t, i) => [String(i + 1), t]));
    // Bob is online, so his client acks delivery without opening the chat.
    await expect.poll(async () => (await messages(alice.page)).map((m) => m.mark), { timeout }).toEqual(['delivered', 'delivered', 'delivered']);

    // Bob sees the conversation with 3 unread, opens it, and reads the messages in order.
    const item = bob.page.locator(`[data-testid=conversation-item][data-title="${aliceId}"]`);
    await item.waitFor({ timeout });
    await expect.poll(() => item.getByTestId('unread-badge').textContent(), { timeout }).toBe('3');
    await expect.poll(() => item.getByTestId('presence-dot').getAttribute('data-status'), { timeout }).toBe('online');
    await item.click();
    await expect
      .poll(async () => (await messages(bob.page)).map((m) => [m.seq, m.sender, m.body]), { timeout })
      .toEqual(texts.map((t, i) => [String(i + 1), aliceId, t]));
    // Markup in a message is shown as text, never rendered.
    expect(await bob.page.locator('.message b').count()).toBe(0);
    await expect.poll(() => item.getByTestId('unread-badge').count(), { timeout }).toBe(0);

    // Alice sees the read receipts.
    await expect.poll(async () => (await messages(alice.page)).map((m) => m.mark), { timeout }).toEqual(['read', 'read', 'read']);

    // Bob types: Alice sees the indicator; Bob sends: it disappears and the reply lands 4th.
    await bob.page.getByTestId('composer-input').pressSequentially('Yes', { delay: 30 });
    await expect.poll(() => alice.page.getByTestId('typing-indicator').textContent(), { timeout }).toBe(`${bobId} is typing…`);
    await bob.page.getByTestId('composer-input').press('Enter');
    await expect
      .poll(async () => (await messages(alice.page)).map((m) => [m.seq, m.sender, m.body]), { timeout })
      .toEqual([...texts.map((t, i) => [String(i + 1), aliceId, t]), ['4', bobId, 'Yes']]);
    await expect.poll(() => alice.page.getByTestId('typing-indicator').textContent(), { timeout }).toBe('');
    // Bob has answered: Alice now sees him online.
    await expect
      .poll(() => alice.page.getByTestId('conversation-subtitle').getByTestId('presence-dot').getAttribute('data-status'), { timeout })
      .toBe('online');
    await expect.poll(async () => (await messages(bob.page)).at(-1)?.mark, { timeout }).toBe('read');

    await alice.page.screenshot({ path: join(artifacts, 'two-users-alice-phone.png') });
    await bob.page.screenshot({ path: join(artifacts, 'two-users-bob-desktop.png') });

    // A reload resumes from the stored cursors and history: every message exactly once, in order.
    await alice.page.reload();
    await expect.poll(async () => (await messages(alice.page)).map((m) => m.seq), { timeout }).toEqual(['1', '2', '3', '4']);

    // Bob leaves: Alice sees him go offline.
    await bob.context.close();
    await expect
      .poll(() => alice.page.getByTestId('conversation-subtitle').getByTestId('presence-dot').getAttribute('data-status'), {
        timeout: 30_000,
      })
      .toBe('offline');
    await alice.page.screenshot({ path: join(artifacts, 'two-users-alice-bob-offline.png') });

    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  it('shows a reconnect banner while the network is down and delivers what was sent meanwhile', async () => {
    const target = new URL(info.wsUrl);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 80) });
    try {
      const suffix = randomUUID().slice(0, 8);
      const aliceId = `alice-${suffix}`;
      const bobId = `bob-${suffix}`;
      // Only Alice's page goes through the proxy, so the test can cut her network.
      const alice = await openAs(aliceId, { width: 390, height: 844 }, `?ws=${encodeURIComponent(proxy.wrap(info.wsUrl))}`);
      const bob = await openAs(bobId, { width: 900, height: 700 });
      await alice.page.getByTestId('new-chat').click();
      await alice.page.getByTestId('new-chat-members').fill(bobId);
      await alice.page.getByTestId('new-chat-create').click();
      await expect.poll(() => alice.page.getByTestId('conversation-title').textContent(), { timeout }).toBe(bobId);
      await send(alice.page, 'before the outage');
      await expect.poll(async () => (await messages(alice.page)).map((m) => m.mark), { timeout }).toEqual(['delivered']);
      const banner = alice.page.getByTestId('connection-banner');
      expect(await banner.isHidden()).toBe(true);

      proxy.refuse = true;
      proxy.killAll();
      await banner.waitFor({ state: 'visible', timeout });
      await expect.poll(() => banner.textContent(), { timeout }).toMatch(/Reconnect|Connecting|Connection lost/);
      await send(alice.page, 'typed while offline');
      await expect
        .poll(async () => (await messages(alice.page)).map((m) => [m.body, m.mark]), { timeout })
        .toEqual([
          ['before the outage', 'delivered'],
          ['typed while offline', 'pending'],
        ]);
      const item = bob.page.locator(`[data-testid=conversation-item][data-title="${aliceId}"]`);
      await item.click();
      await send(bob.page, 'are you there?');
      await alice.page.screenshot({ path: join(artifacts, 'offline-banner-alice-phone.png') });

      proxy.refuse = false;
      await alice.page
        .getByRole('button', { name: 'Retry now' })
        .click({ timeout: 5_000 })
        .catch(() => undefined);
      await banner.waitFor({ state: 'hidden', timeout: 30_000 });
      // Both sides end with the same three messages, each once, in seq order.
      const expected = [
        ['1', aliceId, 'before the outage'],
        ['2', bobId, 'are you there?'],
        ['3', aliceId, 'typed while offline'],
      ];
      await expect.poll(async () => (await messages(alice.page)).map((m) => [m.seq, m.sender, m.body]), { timeout }).toEqual(expected);
      await expect.poll(async () => (await messages(bob.page)).map((m) => [m.seq, m.sender, m.body]), { timeout }).toEqual(expected);
      await expect.poll(async () => (await messages(alice.page)).at(-1)?.mark, { timeout }).toBe('read');
      expect(bob.errors).toEqual([]);
      // Alice's page may log the refused WebSocket handshakes; anything else is a bug.
      expect(alice.errors.filter((e) => !/WebSocket connection to .* failed/.test(e))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
