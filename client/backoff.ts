/** Reconnect backoff settings. */
export interface BackoffOptions {
  /** Upper bound of the first delay, in ms. */
  baseMs: number;
  /** Cap on every delay, in ms. */
  maxMs: number;
}

/** Default: first retry within 0.5 s, never waiting more than 30 s. */
export const defaultBackoff: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

/**
 * "Full jitter" exponential backoff: a uniform delay in [0, min(maxMs, baseMs·2^attempt)).
 * Jitter spreads the reconnect storm after a server outage over the whole window.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
