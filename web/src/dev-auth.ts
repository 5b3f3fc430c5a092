import type { TokenResult } from '../../client/index.js';

/** What `/config.json` on the dev server provides. */
export interface WebConfig {
  wsUrl: string;
}

/** Loads the page config; `?ws=` in the page URL overrides the WebSocket URL (handy against a deployed stack). */
export async function loadConfig(): Promise<WebConfig> {
  const override = new URLSearchParams(location.search).get('ws');
  if (override) return { wsUrl: override };
  const response = await fetch('/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`GET /config.json failed with HTTP ${response.status}`);
  const config = (await response.json()) as Partial<WebConfig>;
  if (typeof config.wsUrl !== 'string') throw new Error('/config.json has no wsUrl');
  return { wsUrl: config.wsUrl };
}

/** Fetches a fresh dev token; called before every (re)connect because tokens expire. */
export async function fetchDevToken(user: string): Promise<TokenResult & { token: string; userId: string }> {
  const response = await fetch(`/dev/token?user=${encodeURIComponent(user)}`, { cache: 'no-store' });
  if (!response.ok) throw new Error(`GET /dev/token failed with HTTP ${response.status}`);
  const body = (await response.json()) as { token?: unknown; userId?: unknown };
  if (typeof body.token !== 'string') throw new Error('/dev/token returned no token');
  return { token: body.token, userId: typeof body.userId === 'string' ? body.userId : user };
}
