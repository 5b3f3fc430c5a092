import { createHash } from 'node:crypto';
import { chunk, mapLimit } from './concurrency.js';
import { presenceAudienceOf } from './consent.js';
import type { Deps } from './deps.js';
import { groupConnectionsOf, hasConnectionIndex, unindexConnection } from './group-connections.js';
// sessions.ts uses forgetConnection from here: a cycle of functions only, resolved before either is called.
import { runBackfillJob } from './retention-backfill.js';
import { runSessionExpiry } from './sessions.js';
import type { PushResult } from './ports.js';
import type { ConnectionRef, FanoutJob, ServerEvent } from './types.js';
import { undeliveredPreviewChars, type UndeliveredEntry } from './events.js';
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
  options: { excludeConnectionId?: string; inline?: boolean; scope?: DeliverJob['scope']; conversationId?: string } = {},
): Promise<void> {
  // Sorted, so each chunk of a group reads one contiguous range of the group's connection index.
  const unique = [...new Set(recipients)].sort();
  if (unique.length === 0) return;
  const jobs: DeliverJob[] = chunk(unique, deps.limits.fanoutChunkSize).map((part) => ({
    kind: 'deliver',
    event,
    recipients: part,
    excludeConnectionId: options.excludeConnectionId,
    ...(options.conversationId ? { conversationId: options.conversationId } : {}),
    ...(options.scope ? { scope: options.scope } : {}),
    attempt: 0,
  }));
  if ((options.inline ?? true) && unique.length <= deps.limits.inlineFanoutMaxRecipients) {
    await Promise.all(jobs.map((job) => deliverOrRequeue(deps, job)));
  } else {
    await deps.queue.enqueue(jobs);
  }
}

/**
 * Pushes one job and returns the connections whose push failed for a reason other than being gone. Counts the
 * accepted and the gone pushes, and for a timeline item the lag of each accepted push behind the item's createdAt.
 */
export async function deliver(deps: Deps, job: DeliverJob): Promise<ConnectionRef[]> {
  const now = deps.now();
  const connections = job.targets ?? (await recipientConnections(deps, job, now));
  const targets = connections.filter((target) => target.connectionId !== job.excludeConnectionId);
  const entry = job.targets ? undefined : undeliveredEntry(job, connections);
  const data = JSON.stringify(job.event);
  const createdAt = job.event.type === 'message' ? Date.parse(job.event.message.createdAt) : NaN;
  // The offline record is written alongside the pushes; if it fails the job fails after them, and its retry writes
  // the same item (same deliveryId), so the event stream still sees it once.
  const [pushed, recorded] = await Promise.allSettled([
    mapLimit(targets, pushConcurrency, async (target) => {
      const result = await deps.pusher.post(target.connectionId, data);
      if (result === 'ok' && Number.isFinite(createdAt)) deps.metrics.add('fanoutLag', Math.max(0, deps.now().getTime() - createdAt));
      return { target, result };
    }),
    entry && deps.undelivered ? deps.undelivered.record(entry, deps.limits.undeliveredTtlSeconds) : undefined,
  ]);
  if (pushed.status === 'rejected') throw pushed.reason;
  const outcomes = pushed.value;
  const count = (result: PushResult) => outcomes.filter((outcome) => outcome.result === result).map((outcome) => outcome.target);
  const delivered = count('ok').length;
  if (delivered > 0) deps.metrics.add('pushesDelivered', delivered);
  const gone = count('gone');
  if (gone.length > 0) deps.metrics.add('connectionsGone', gone.length);
  await Promise.all(gone.map((target) => forgetConnection(deps, target)));
  if (recorded.status === 'rejected') throw recorded.reason;
  return count('failed');
}

/** The live connections of a job's recipients: from the group's connection index, or else from their presence items. */
function recipientConnections(deps: Deps, job: DeliverJob, now: Date): Promise<ConnectionRef[]> {
  const recipients = job.recipients ?? [];
  const conversationId = job.conversationId ?? job.scope?.conversationId;
  if (conversationId !== undefined && hasConnectionIndex(conversationId)) return groupConnectionsOf(deps, conversationId, recipients);
  return deps.presence.connectionsOf(recipients, now);
}

/**
 * The recipients of a chat message's first delivery attempt that had no live connection (the sender excluded), as
 * one entry per fanout chunk: a chunk is at most `fanoutChunkSize` users, so a message costs one small write per
 * chunk with someone offline, never one per recipient.
 */
export function undeliveredEntry(job: DeliverJob, connections: readonly ConnectionRef[]): UndeliveredEntry | undefined {
  if (job.event.type !== 'message') return undefined;
  const message = job.event.message;
  if ((message.kind ?? 'message') !== 'message') return undefined;
  const online = new Set(connections.map((connection) => connection.userId));
  const recipients = [...new Set(job.recipients ?? [])].sort();
  const offline = recipients.filter((userId) => !online.has(userId) && userId !== message.senderId);
  if (offline.length === 0) return undefined;
  // The chunk's recipients name it: a redelivered or re-queued job computes the same id.
  const chunkId = createHash('sha256').update(JSON.stringify(recipients)).digest('hex').slice(0, 16);
  const epoch = message.epoch ?? '';
  return {
    deliveryId: `${message.conversationId}#${epoch}#${message.seq}#${chunkId}`,
    conversationId: message.conversationId,
    epoch,
    seq: message.seq,
    senderId: message.senderId,
    userIds: offline,
    preview: Array.from(message.body).slice(0, undeliveredPreviewChars).join(''),
    occurredAt: message.createdAt,
  };
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
  deps.metrics.add('pushRetries', failed.length);
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
  const { removed, wentOffline } = await deps.presence.removeConnection(ref, now, { expiringBefore });
  // Out of its groups' indexes too. Not when it was not removed: just registered, it stays; already gone, its
  // $disconnect did it, and a mass disconnect answers many pushes with 410 that must stay one write each.
  if (removed) await unindexConnection(deps, ref);
  if (wentOffline) await announcePresence(deps, ref.userId, 'offline', now.toISOString());
}

/** Queues a presence transition; the worker resolves who shares a conversation with the user. */
export async function announcePresence(deps: Deps, userId: string, status: 'online' | 'offline', lastSeenAt: string | null): Promise<void> {
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

/**
 * Drops recipients removed from the job's conversation since the job was computed: cheap when nothing changed
 * (one read of the small head item); otherwise the member set is re-read, and a removed recipient keeps only
 * timeline items up to their removal seq.
 */
export async function currentRecipients(deps: Deps, job: DeliverJob): Promise<DeliverJob | undefined> {
  const scope = job.scope;
  if (!scope) return job;
  const head = (await deps.conversations.heads([scope.conversationId])).get(scope.conversationId);
  if ((head?.membershipSeq ?? 0) === scope.membershipSeq) return job;
  const members = new Set((await deps.conversations.membersOf([scope.conversationId])).get(scope.conversationId) ?? []);
  const users = [...new Set([...(job.recipients ?? []), ...(job.targets ?? []).map((target) => target.userId)])];
  const allowed = new Set<string>();
  await Promise.all(
    users.map(async (userId) => {
      if (members.has(userId)) return allowed.add(userId);
      if (scope.seq === undefined) return;
      const member = await deps.conversations.getMember(scope.conversationId, userId);
      if (member?.removedAtSeq !== undefined && scope.seq <= member.removedAtSeq) allowed.add(userId);
    }),
  );
  const recipients = job.recipients?.filter((userId) => allowed.has(userId));
  const targets = job.targets?.filter((target) => allowed.has(target.userId));
  if ((recipients?.length ?? 0) + (targets?.length ?? 0) === 0) return undefined;
  // The re-checked job carries the current membershipSeq, so its retries skip the check.
  return { ...job, recipients, targets, scope: { ...scope, membershipSeq: head?.membershipSeq ?? 0 } };
}

/** What identifies a job in the logs: the conversation and seq of a timeline item, the user of the others. */
export function jobKeys(job: FanoutJob): Record<string, string | number> {
  if (job.kind === 'deliver') {
    const { event, scope } = job;
    const conversationId = scope?.conversationId ?? (event.type === 'message' ? event.message.conversationId : undefined);
    const seq = scope?.seq ?? (event.type === 'message' ? event.message.seq : undefined);
    return {
      job: `deliver:${event.type}`,
      attempt: job.attempt,
      ...(conversationId === undefined ? {} : { conversationId }),
      ...(seq === undefined ? {} : { seq }),
    };
  }
  if (job.kind === 'expire') return { job: 'expire', userId: job.userId, connectionId: job.connectionId, attempt: job.attempt };
  if (job.kind === 'retention') return { job: 'retention', conversationId: job.conversationId, afterSeq: job.afterSeq };
  return { job: 'presence', userId: job.userId };
}

/** Runs one queued job (the fanout worker's unit of work). */
export async function runJob(deps: Deps, job: FanoutJob): Promise<void> {
  if (job.kind === 'deliver') {
    const current = await currentRecipients(deps, job);
    return current ? deliverOrRequeue(deps, current) : undefined;
  }
  if (job.kind === 'expire') return runSessionExpiry(deps, job);
  if (job.kind === 'retention') return runBackfillJob(deps, job);
  // Announce the state as it is now, not as the job says: jobs for a quick offline/online flap may run out of order.
  const [current, contacts] = await Promise.all([
    deps.presence.presenceOf([job.userId], deps.now()).then((users) => users[0]),
    // Large groups get no presence pushes: every member's reconnect would reach every other member (n² pushes).
    presenceAudienceOf(deps, job.userId, deps.limits.presencePushMaxMembers),
  ]);
  if (!current) return;
  await publish(deps, { type: 'presence', users: [current] }, contacts);
}
