import { webSocketLimits } from '../../lib/definitions.js';
import { mapLimit } from './concurrency.js';
import type { Deps } from './deps.js';
import { forgetConnection } from './fanout.js';
import type { PushResult } from './ports.js';
import type { Caller, ConnectionRef, FanoutJob } from './types.js';

type ExpireJob = Extract<FanoutJob, { kind: 'expire' }>;

/** SQS delays a message by at most 15 minutes; a later session end is reached by re-queueing the job. */
const maxDelaySeconds = 900;
/**
 * $connect runs before API Gateway establishes the connection, and a DeleteConnection in between gets 410. A token
 * that expires within seconds of connecting can hit that window, so a 410 for a still-registered connection is retried.
 */
const goneRetries = 3;
const goneRetryDelaySeconds = 5;
/** Parallel DeleteConnection calls of one `disconnectUser`. */
const closeConcurrency = 16;

/** The error frame a connection gets when its token's session is over, just before it is closed. */
export function tokenExpiredFrame(requestId?: string): Record<string, unknown> {
  return {
    type: 'error',
    ...(requestId === undefined ? {} : { requestId }),
    code: 'token_expired',
    message: 'the token of this connection expired; reconnect with a fresh token',
  };
}

/** When the caller's session ends (epoch seconds): the token's `exp` plus the tolerated clock skew; undefined if unknown. */
export function sessionEndsAt(deps: Deps, caller: Pick<Caller, 'tokenExpiresAt'>): number | undefined {
  return caller.tokenExpiresAt === undefined ? undefined : caller.tokenExpiresAt + deps.limits.clockSkewSeconds;
}

/** Whether the caller's token no longer entitles the connection to anything. */
export function sessionExpired(deps: Deps, caller: Pick<Caller, 'tokenExpiresAt'>): boolean {
  const endsAt = sessionEndsAt(deps, caller);
  return endsAt !== undefined && deps.now().getTime() >= endsAt * 1000;
}

/**
 * Tells the connection its token expired (`token_expired`, with the request's id when it answers one), then closes it
 * with DeleteConnection. Returns whether the frame was posted and how the close went.
 */
export async function endSession(deps: Deps, ref: ConnectionRef, requestId?: string): Promise<{ notified: boolean; closed: PushResult }> {
  // The frame goes first: after DeleteConnection nothing reaches the client, and the close code alone (1000 on AWS)
  // cannot tell an expiry from any other server close.
  const notified = (await deps.pusher.post(ref.connectionId, JSON.stringify(tokenExpiredFrame(requestId)))) === 'ok';
  return { notified, closed: await deps.pusher.close(ref.connectionId) };
}

const enqueueExpiry = async (deps: Deps, job: ExpireJob, delaySeconds: number) =>
  deps.queue.enqueue([job], Math.min(maxDelaySeconds, Math.max(1, Math.ceil(delaySeconds))));

/**
 * Called on $connect: queues the job that closes the connection when its session ends. API Gateway has no timer of
 * its own, but closes every connection after 2 hours; a session that outlasts that needs no job.
 */
export async function scheduleSessionEnd(deps: Deps, caller: Caller): Promise<void> {
  const endsAt = sessionEndsAt(deps, caller);
  if (endsAt === undefined) return;
  const now = deps.now().getTime() / 1000;
  if (endsAt >= now + webSocketLimits.maxConnectionSeconds) return;
  const { userId, connectionId } = caller;
  await enqueueExpiry(deps, { kind: 'expire', userId, connectionId, endsAt, attempt: 0 }, endsAt - now);
}

/** Runs a queued `expire` job: re-queues it until the session ends, then ends the session if the connection is still open. */
export async function runSessionExpiry(deps: Deps, job: ExpireJob): Promise<void> {
  // A connection that closed meanwhile ran $disconnect and left the registry: nothing left to do.
  if (!(await deps.presence.registeredConnections(job.userId)).includes(job.connectionId)) return;
  const now = deps.now().getTime() / 1000;
  if (job.endsAt > now) return enqueueExpiry(deps, job, job.endsAt - now);
  const { closed } = await endSession(deps, job);
  if (closed === 'failed') throw new Error(`could not close connection ${job.connectionId} at its token's expiry`);
  if (closed === 'gone') {
    if (job.attempt < goneRetries) return enqueueExpiry(deps, { ...job, attempt: job.attempt + 1 }, goneRetryDelaySeconds);
    await forgetConnection(deps, job);
  }
}

/** What `disconnectUser` did, by connection id. */
export interface DisconnectResult {
  /** Closed now; their $disconnect removes them from the registry. */
  closed: string[];
  /** Already gone (410); removed from the registry. */
  gone: string[];
  /** DeleteConnection failed; still open. */
  failed: string[];
}

/**
 * Closes every connection of a user (each of their devices), e.g. after revoking their tokens. A client that still
 * holds a valid token may connect again: revoke at the identity provider too, and the maximum token lifetime bounds it.
 */
export async function disconnectUser(deps: Deps, userId: string): Promise<DisconnectResult> {
  const connectionIds = await deps.presence.registeredConnections(userId);
  const outcomes = await mapLimit(connectionIds, closeConcurrency, async (connectionId) => ({
    connectionId,
    result: await deps.pusher.close(connectionId),
  }));
  const having = (result: PushResult) => outcomes.filter((outcome) => outcome.result === result).map((outcome) => outcome.connectionId);
  const gone = having('gone');
  await Promise.all(gone.map((connectionId) => forgetConnection(deps, { userId, connectionId })));
  return { closed: having('ok'), gone, failed: having('failed') };
}
