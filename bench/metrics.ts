/** Summary of a latency sample in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** The value at quantile `q` (0..1) of an ascending array, by the nearest-rank method. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

const round = (value: number) => Math.round(value * 100) / 100;

/** p50/p95/p99/max/mean of a sample; NaNs when it is empty. */
export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / (sorted.length || 1);
  return {
    count: sorted.length,
    p50: round(quantile(sorted, 0.5)),
    p95: round(quantile(sorted, 0.95)),
    p99: round(quantile(sorted, 0.99)),
    max: round(sorted.at(-1) ?? Number.NaN),
    mean: round(mean),
  };
}

/** One bucket of a histogram: samples in [from, to). */
export interface HistogramBucket {
  from: number;
  to: number;
  count: number;
}

/**
 * Log-spaced histogram (`perDecade` buckets per factor of ten) from `min` ms up; latencies span several orders of
 * magnitude, so linear buckets would put everything in the first one.
 */
export function histogram(samples: readonly number[], options: { min?: number; perDecade?: number } = {}): HistogramBucket[] {
  const min = options.min ?? 0.1;
  const perDecade = options.perDecade ?? 10;
  const max = Math.max(min * 10, ...samples);
  const buckets: HistogramBucket[] = [];
  for (let i = 0; min * 10 ** (i / perDecade) <= max; i++) {
    buckets.push({ from: round(min * 10 ** (i / perDecade)), to: round(min * 10 ** ((i + 1) / perDecade)), count: 0 });
  }
  for (const value of samples) {
    const index = Math.max(0, Math.min(buckets.length - 1, Math.floor(Math.log10(Math.max(value, min) / min) * perDecade)));
    buckets[index]!.count += 1;
  }
  return buckets;
}

/** Points of the empirical CDF at fixed quantiles, for charts (the raw sample is too big to keep in the results). */
export function cdfPoints(samples: readonly number[]): { q: number; ms: number }[] {
  const sorted = [...samples].sort((a, b) => a - b);
  const qs = [0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1];
  return sorted.length === 0 ? [] : qs.map((q) => ({ q, ms: round(q === 0 ? sorted[0]! : quantile(sorted, q)) }));
}
