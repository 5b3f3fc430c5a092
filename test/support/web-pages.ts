/**
 * Browser pages of the web chat for e2e tests: each user gets a fresh Chromium profile (see browser.ts), signs in
 * through the login form and waits until the page is online. Page errors and console errors are collected so a test
 * can assert there were none.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import { launchBrowser, type LaunchedBrowser } from './browser.js';

/** How long e2e waits for something to show up on a page. */
export const pageTimeout = 20_000;

/** One signed-in user in their own browser. */
export interface ChatSession {
  user: string;
  context: BrowserContext;
  page: Page;
  /** `pageerror` and console errors seen so far. */
  errors: string[];
  browser: LaunchedBrowser;
}

/** Opens browsers signed in to the chat at `baseUrl`; `closeAll` closes every one of them. */
export function chatSessions(baseUrl: string) {
  const sessions: ChatSession[] = [];
  return {
    sessions,
    /** Signs `user` in, in a new browser with the given viewport; `query` is appended to the page URL. */
    async openAs(user: string, viewport: { width: number; height: number }, query = ''): Promise<ChatSession> {
      const browser = await launchBrowser({ viewport });
      const { context } = browser;
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(`console: ${message.text()}`);
      });
      const session = { user, context, page, errors, browser };
      sessions.push(session);
      await page.goto(`${baseUrl}/${query}`);
      await page.getByTestId('login-user').fill(user);
      await page.getByTestId('login-submit').click();
      await page.getByTestId('me').waitFor({ timeout: pageTimeout });
      await expect.poll(() => page.getByTestId('me').locator('.dot').getAttribute('data-status'), { timeout: pageTimeout }).toBe('online');
      return session;
    },
    async closeAll(): Promise<void> {
      for (const s of sessions) await s.browser.close();
    },
  };
}

/** The messages a page shows, in order, as the tests read them. */
export const shownMessages = (page: Page) =>
  page.getByTestId('message').evaluateAll((els) =>
    els.map((el) => ({
      seq: (el as HTMLElement).dataset.seq,
      sender: (el as HTMLElement).dataset.sender,
      mark: (el as HTMLElement).dataset.mark,
      body: el.querySelector('.body')?.textContent,
    })),
  );

/** Types `text` into the composer and presses Enter. */
export async function sendText(page: Page, text: string): Promise<void> {
  const input = page.getByTestId('composer-input');
  await input.fill(text);
  await input.press('Enter');
}
