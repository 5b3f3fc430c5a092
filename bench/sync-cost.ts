import type { CallCounts, CallStats } from './sdk-calls.js';

/** What one catch-up (every page of it) cost, summed over the stores' clients and paths. */
export interface SyncCost {
  /** Requests the client sent (sync pages). */
  requests: number;
  /** Request frame bytes (UTF-8): total and largest. */
  requestBytes: number;
  largestRequestBytes: number;
  /** Reply bytes (UTF-8 JSON of the sync reply frame): total and largest. */
  replyBytes: number;
  largestReplyBytes: number;
  /** AWS calls by `Service.Operation`. */
  calls: Record<string, number>;
  totalCalls: number;
  /** Keys read by BatchGetItem. */
  batchKeys: number;
  readUnits: number;
  writeUnits: number;
  /** Conversations and messages the client received. */
  conversations: number;
  messages: number;
  wallMs: number;
}

/** Sums counter deltas (several clients, every path) by operation. */
export function sumByOperation(deltas: CallCounts[]): Record<string, CallStats> {
  const total: Record<string, CallStats> = {};
  for (const counts of deltas) {
    for (const byOperation of Object.values(counts)) {
      for (const [operation, stats] of Object.entries(byOperation)) {
        const sum = (total[operation] ??= { ...stats, ...Object.fromEntries(Object.keys(stats).map((k) => [k, 0])) } as CallStats);
        for (const field of Object.keys(stats) as (keyof CallStats)[]) sum[field] += stats[field];
      }
    }
  }
  return total;
}

/** Bytes of strings as UTF-8, summed and the largest. */
export function byteStats(frames: readonly string[]): { total: number; largest: number } {
  let total = 0;
  let largest = 0;
  for (const frame of frames) {
    const bytes = Buffer.byteLength(frame);
    total += bytes;
    largest = Math.max(largest, bytes);
  }
  return { total, largest };
}

/** "12.3 KB" for bytes (KB = 1,024 bytes); under 1 KB as bytes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MB`;
}

/** The calls of a cost as "Query 21, BatchGetItem 10", largest first, without the service prefix. */
export function callsCell(calls: Record<string, number>): string {
  return Object.entries(calls)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([operation, n]) => `${operation.replace(/^[A-Za-z]+\./, '')} ${n.toLocaleString('en-US')}`)
    .join(', ');
}
