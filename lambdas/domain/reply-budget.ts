import { webSocketLimits } from '../../lib/definitions.js';

/**
 * Bytes a reply's payload may take: API Gateway delivers at most 128 KB per message (route responses and
 * @connections posts alike), less room for the envelope and an escaped 128-character requestId.
 */
export const maxReplyBytes = webSocketLimits.maxMessageBytes - 2048;

/** The UTF-8 size of a value as it goes on the wire. */
export const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

/** Counts the bytes left in one reply. */
export class ReplyBudget {
  private used = 0;

  constructor(private readonly limit = maxReplyBytes) {}

  /** Whether `bytes` more still fit. */
  fits(bytes: number): boolean {
    return this.used + bytes <= this.limit;
  }

  /** Spends `bytes` (also when they do not fit: the caller decided to send them anyway). */
  spend(bytes: number): void {
    this.used += bytes;
  }
}
