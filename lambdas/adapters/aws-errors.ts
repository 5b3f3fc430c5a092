import { UnavailableError } from '../domain/errors.js';
import { logger } from '../shared/logger.js';

// Errors the SDK raises once its own retries are spent: the client may retry later.
const transientErrors = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TransactionConflictException',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
]);

// Per-item reasons of a cancelled transaction that a retry can clear: contention and throttling.
const transientCancellations = new Set(['TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded']);

/** A transaction cancelled only because of contention or throttling (no failed condition, no invalid item). */
function isTransientCancellation(error: Error): boolean {
  if (error.name !== 'TransactionCanceledException') return false;
  const codes = ((error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map((reason) => reason.Code ?? 'None');
  return codes.some((code) => transientCancellations.has(code)) && codes.every((code) => code === 'None' || transientCancellations.has(code));
}

/** Whether an AWS SDK error is throttling or contention that a later retry can clear. */
export function isTransientAwsError(error: unknown): boolean {
  return error instanceof Error && (transientErrors.has(error.name) || isTransientCancellation(error));
}

/**
 * Wraps an adapter so its AWS failures reach the domain as domain errors: throttling and contention left after the
 * SDK's retries become `UnavailableError` (the client retries with backoff); anything else stays as it is.
 */
export function translateAwsErrors<T extends object>(adapter: T): T {
  return new Proxy(adapter, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (error) {
          if (!isTransientAwsError(error)) throw error;
          logger.warn('transient AWS failure', { operation: String(property), error: error as Error });
          throw new UnavailableError();
        }
      };
    },
  });
}
