/**
 * Backoff delays for retries, so callers that failed together do not retry together.
 * Full jitter: anywhere in [0, min(cap, base·2^attempt)); equal jitter: at least half of it.
 */
export function fullJitter(attempt: number, baseMs: number, capMs = Number.POSITIVE_INFINITY, random = Math.random): number {
  return random() * Math.min(capMs, baseMs * 2 ** attempt);
}

/** Half the exponential delay plus a random share of the other half: never retries sooner than half the delay. */
export function equalJitter(attempt: number, base: number, cap = Number.POSITIVE_INFINITY, random = Math.random): number {
  const delay = Math.min(cap, base * 2 ** attempt);
  return delay / 2 + (random() * delay) / 2;
}
