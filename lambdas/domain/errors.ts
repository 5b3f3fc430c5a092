import type { ServerErrorCode } from '../../protocol/frames.js';

/** Stable error codes sent to clients in error frames (see PROTOCOL.md). */
export type ErrorCode = ServerErrorCode;

/** An error whose message is safe to show to the client. */
export class ParleyError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A request field is missing, mistyped or out of range. */
export class BadRequestError extends ParleyError {
  constructor(message: string) {
    super('bad_request', message);
  }
}

/** The caller is not a member of the conversation. */
export class ForbiddenError extends ParleyError {
  constructor(message = 'not a member of this conversation') {
    super('forbidden', message);
  }
}

/** The conversation does not exist. */
export class NotFoundError extends ParleyError {
  constructor(message = 'no such conversation') {
    super('not_found', message);
  }
}

/** A configured limit (group size, members per request, ...) would be exceeded. */
export class LimitExceededError extends ParleyError {
  constructor(message: string) {
    super('limit_exceeded', message);
  }
}

/** The connection sent too many requests; retry after `retryAfterMs`. */
export class RateLimitedError extends ParleyError {
  constructor(retryAfterMs: number, message = 'too many requests on this connection') {
    super('rate_limited', message, { retryAfterMs });
  }
}

/** A transient failure (throttling, contention); the client may retry with backoff. */
export class UnavailableError extends ParleyError {
  constructor(message = 'temporarily unavailable, retry with backoff') {
    super('unavailable', message);
  }
}
