import { chunk, mapLimit } from './concurrency.js';
import type { Deps } from './deps.js';
// sessions.ts uses forgetConnection from here: a cycle of functions only, resolved before either is called.
import { runSessionExpiry } from './sessions.js';
import type { ConnectionRef, FanoutJob, ServerEvent } from './types.js';
import { equalJitter } from '../shared/jitter.js';

type DeliverJob = Extract<FanoutJob, { kind: 'deliver' }>;

/** Parallel PostToConnection calls per invocation; keeps sockets and the @connections quota in check. */
const pushConcurrency = 32;

/** Thrown when pushes still fail after the last attempt, so SQS redrives the job (and finally dead-letters it). */
export class PushFailedError extends Error {
  constructor(readonly failed: ConnectionRef[]) {
    super(`push failed for ${failed.length} connection(s) after the last attempt`);
  }
}

/**
 * Sends an event to every live connection of `recipients`. Small audiences are pushed right here, which keeps
 * the SQS hop off the latency path; large ones are split into chunks and queued so no invocation does unbounded work.
 */
export async function publish(
  deps: Deps,
  event: ServerEvent,
  recipients: readonly string[],
  options: { excludeConnectionId?: string; inline?: boolean } = {},
): Promise<void> {
  const unique = [...new Set(recipients)];
  if (unique.length === 0) return;
  const jobs: DeliverJob[] = chunk(unique, deps.limits.fanoutChunkSize).map((part) => ({
    kind: 'deliver',
    event,
    recipients: part,
    excludeConnectionId: options.excludeConnectionId,
    attempt: 0,
  }));
  if ((options.inline ?? true) && unique.length <= deps.limits.inlineFanoutMaxRecipients) {
    await Promise.all(jobs.map((job) => deliverOrRequeue(deps, job)));
  } else {
    await deps.queue.enqueue(jobs);
  }
}

/** Pushes one job and returns the connections whose push failed for a reason other than being gone. */
export async function deliver(deps: Deps, job: DeliverJob): Promise<ConnectionRef[]> {
  const now = deps.now();
  const targets = (job.targets ?? (await deps.presence.connectionsOf(job.recipients ?? [], now))).filter(
    (target) => target.connectionId !== job.excludeConnectionId,
  );
  const data = JSON.stringify(job.event);
  const outcomes = await mapLimit(targets, pushConcurrency, async (target) => ({
    target,
    result: await deps.pusher.post(target.connectionId, data),
  }));
  const gone = outcomes.filter((outcome) => outcome.result === 'gone').map((outcome) => outcome.target);
  await Promise.all(gone.map((target) => forgetConnection(deps, target)));
  return outcomes.filter((outcome) => outcome.result === 'failed').map((outcome) => outcome.target);
}

/**
 * Delivers, then queues the failed connections alone for another attempt after a backoff, so a retry
 * neither re-sends to everyone nor blocks the batch. Past the last attempt it throws.
 */
export async function deliverOrRequeue(deps: Deps, job: DeliverJob): Promise<void> {
  const failed = await deliver(deps, job);
  if (failed.length === 0) return;
  const attempt = job.attempt + 1;
  if (attempt >= deps.limits.maxPushAttempts) throw new PushFailedError(failed);
  // Exponential backoff with equal jitter (whole seconds, as SQS delays are): 1, 1–2, 2–4, 4–8, … up to 60 s, so
  // connections that failed together (an @connections throttle) are not retried together.
  const delaySeconds = Math.max(1, Math.ceil(equalJitter(attempt - 1, 1, 60)));
  await deps.queue.enqueue([{ ...job, recipients: undefined, targets: failed, attempt }], delaySeconds);
}

/** Longer than API Gateway's 29 s integration timeout, so longer than any $connect. */
const connectGraceSeconds = 30;

/** Removes a connection found gone (410) and announces the user offline if it was their last one. */
export async function forgetConnection(deps: Deps, ref: ConnectionRef): Promise<void> {
  const now = deps.now();
  // $connect registers the connection before API Gateway establishes it, and a post in between gets 410 too.
  // Keeping a just-registered connection costs nothing (what that push carried comes with the client's sync),
  // while deleting it would cut a live connection off every later push.
  const expiringBefore = new Date(now.getTime() + (deps.limits.presenceTtlSeconds - connectGraceSeconds) * 1000);
  const { wentOffline } = await deps.presence.removeConnection(ref, now, { expiringBefore });
  if (wentOffline) await announcePresence(deps, ref.userId, 'offline', now.toISOString());
}

/** Queues a presence transition; the worker resolves who shares a conversation with the user. */
export async function announcePresence(
  deps: Deps,
  userId: string,
  status: 'online' | 'offline',
  lastSeenAt: string | null,
): Promise<void> {
  await deps.queue.enqueue([{ kind: 'presence', userId, status, lastSeenAt }]);
}

/** Every user who shares at least one conversation (of at most `maxMembers` members) with `userId`, excluding the user. */
export async function contactsOf(deps: Deps, userId: string, maxMembers = Infinity): Promise<string[]> {
  const contacts = new Set<string>();
  let from: string | undefined;
  do {
    const page = await deps.conversations.listMemberships(userId, { limit: 100, from });
    const members = await deps.conversations.membersOf(page.items.map((item) => item.conversationId));
    for (const list of members.values()) {
      if (list.length <= maxMembers && list.includes(userId)) for (const member of list) contacts.add(member);
    }
    from = page.next ?? undefined;
  } while (from);
  contacts.delete(userId);
  return [...contacts];
}

/** Runs one queued job (the fanout worker's unit of work). */
export async function runJob(deps: Deps, job: FanoutJob): Promise<void> {
  if (job.kind === 'deliver') return deliverOrRequeue(deps, job);
  if (job.kind === 'expire') return runSessionExpiry(deps, job);
  // Announce the state as it is now, not as the job says: jobs for a quick offline/online flap may run out of order.
  const [current, contacts] = await Promise.all([
    deps.presence.presenceOf([job.userId], deps.now()).then((users) => users[0]),
    // Large groups get no presence pushes: every member's reconnect would reach every other member (n² pushes).
    contactsOf(deps, job.userId, deps.limits.presencePushMaxMembers),
  ]);
  if (!current) return;
  await publish(deps, { type: 'presence', users: [current] }, contacts);
}
