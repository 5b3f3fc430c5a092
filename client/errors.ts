import type { ServerErrorCode } from './protocol.js';

/** Failures detected by the SDK itself rather than reported by the server. */
export type ClientErrorCode =
  /** No reply within the request's timeout. */
  | 'timeout'
  /** The connection dropped while the request was in flight; the server may or may not have processed it. */
  | 'connection_lost'
  /** The client was closed with `close()`. */
  | 'client_closed'
  /** The server sent a frame the SDK could not understand. */
  | 'protocol';

/** Every code a `ParleyError` can carry. */
export type ParleyErrorCode = ServerErrorCode | ClientErrorCode;

const retryableCodes: ReadonlySet<ParleyErrorCode> = new Set<ParleyErrorCode>([
  'rate_limited',
  'unavailable',
  'internal',
  'timeout',
  'connection_lost',
  'token_expired',
]);

/** An error from a Parley request: the server's error `code` or one of the SDK's own (`timeout`, …). */
export class ParleyError extends Error {
  override readonly name = 'ParleyError';
  /** Whether retrying the same request later may succeed (per PROTOCOL.md's error table). */
  readonly retryable: boolean;

  constructor(
    readonly code: ParleyErrorCode,
    message: string,
    readonly details: { action?: string; requestId?: string; retryAfterMs?: number } = {},
  ) {
    super(details.action ? `${details.action}: ${message} (${code})` : `${message} (${code})`);
    this.retryable = retryableCodes.has(code);
  }

  /** The action of the failed request, when known. */
  get action(): string | undefined {
    return this.details.action;
  }

  /** The `requestId` of the failed request, when known. */
  get requestId(): string | undefined {
    return this.details.requestId;
  }

  /** For `rate_limited`: how long the server asked to wait. */
  get retryAfterMs(): number | undefined {
    return this.details.retryAfterMs;
  }
}
