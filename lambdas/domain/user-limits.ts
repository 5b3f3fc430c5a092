import type { Deps } from './deps.js';
import { RateLimitedError } from './errors.js';
import { fromServer } from './principal.js';
import type { Caller } from './types.js';

/** Reads whose cost grows with the caller's data, limited per user across connections and containers. */
export type LimitedRead = 'sync' | 'history' | 'listConversations' | 'presence';

const perWindow = {
  sync: 'syncPerWindow',
  history: 'historyPerWindow',
  listConversations: 'listConversationsPerWindow',
  presence: 'presencePerWindow',
} as const;

/** Counts one `read` of the caller; `rate_limited` with `retryAfterMs` once their window is full. */
export async function limitUserRead(deps: Deps, caller: Caller, read: LimitedRead): Promise<void> {
  // These limits guard against end users; the server API is throttled by API Gateway instead.
  if (fromServer(caller)) return;
  const waitMs = await deps.userRateLimiter.hit(`${read}:${caller.userId}`, deps.limits[perWindow[read]], deps.limits.userRateWindowSeconds, deps.now());
  if (waitMs > 0) throw new RateLimitedError(waitMs, `too many ${read} requests for this user`);
}
