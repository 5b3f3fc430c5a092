/** Token buckets keyed by connection and kind of request. */
export interface RateLimiter {
  /** Takes one token; returns 0 when allowed, otherwise the milliseconds until a token is available. */
  take(key: string, ratePerSecond: number, burst: number): number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * In-memory token buckets. API Gateway may spread one connection's frames over several Lambda containers,
 * so the effective limit is per container: a cheap first line of defence, not an exact global quota.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly maxKeys = 50_000,
  ) {}

  take(key: string, ratePerSecond: number, burst: number): number {
    const now = this.clock();
    const bucket = this.buckets.get(key) ?? { tokens: burst, updatedAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * ratePerSecond);
    bucket.updatedAt = now;
    // Re-insert so Map order is least-recently-used first, which makes eviction cheap.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / ratePerSecond) * 1000);
  }
}
