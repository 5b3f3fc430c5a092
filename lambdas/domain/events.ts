// A namespace import, which esbuild tree-shakes: `{ z }` pulls every locale of zod into each bundle (~350 KB).
import * as z from 'zod';
import type { Message, TimelineKind } from './types.js';

/**
 * Parley's public event contract (docs/EVENTS.md): what goes on the EventBridge bus for every timeline change and
 * every `undelivered` fanout. Schemas are versioned by `detail.version`; a breaking change adds a new version.
 */
export const eventSchemaVersion = 1;

/** Characters of a message body copied into an `undelivered` record, enough for a push notification preview. */
export const undeliveredPreviewChars = 100;

const common = {
  version: z.literal(eventSchemaVersion),
  /** Deterministic: the same change always has the same id, so consumers deduplicate on it. */
  eventId: z.string().min(1),
  conversationId: z.string().min(1),
  /** The conversation's incarnation; with `seq` it names the timeline item. */
  epoch: z.string(),
  seq: z.number().int().positive(),
  /** Who made the change (the sender of a message). */
  actorId: z.string(),
  occurredAt: z.string(),
};
const userIds = z.array(z.string()).min(1);

/** The `detail` schema of every `detail-type`. */
export const eventDetailSchemas = {
  'message.sent': z.object({ ...common, clientMessageId: z.string(), body: z.string() }).strict(),
  'message.edited': z.object({ ...common, targetSeq: z.number().int().positive(), body: z.string() }).strict(),
  'message.deleted': z.object({ ...common, targetSeq: z.number().int().positive() }).strict(),
  'reaction.added': z.object({ ...common, targetSeq: z.number().int().positive(), emoji: z.string() }).strict(),
  'reaction.removed': z.object({ ...common, targetSeq: z.number().int().positive(), emoji: z.string() }).strict(),
  'member.added': z.object({ ...common, userIds }).strict(),
  'member.removed': z.object({ ...common, userIds }).strict(),
  'member.left': z.object({ ...common, userIds }).strict(),
  'member.role_changed': z.object({ ...common, userIds, role: z.enum(['owner', 'admin', 'member']) }).strict(),
  'conversation.title_changed': z.object({ ...common, title: z.string() }).strict(),
  /** `retentionDays` null: the group went back to the deployment's default. */
  'conversation.retention_changed': z.object({ ...common, retentionDays: z.number().int().positive().nullable() }).strict(),
  'message.undelivered': z
    .object({
      version: z.literal(eventSchemaVersion),
      eventId: z.string().min(1),
      conversationId: z.string().min(1),
      epoch: z.string(),
      /** The chat message that found these recipients offline. */
      seq: z.number().int().positive(),
      senderId: z.string(),
      /** Recipients without a live connection when the message was fanned out (one fanout chunk's worth). */
      userIds,
      preview: z.string(),
      occurredAt: z.string(),
    })
    .strict(),
} as const;

/** An event type (`detail-type`). */
export type EventType = keyof typeof eventDetailSchemas;

/** One event: its type and its detail. */
export type ParleyEvent = { [K in EventType]: { detailType: K; detail: z.infer<(typeof eventDetailSchemas)[K]> } }[EventType];

/** Every event type, for docs and rules. */
export const eventTypes = Object.keys(eventDetailSchemas) as EventType[];

/** Validates an event against its type's schema (a consumer would do the same with what it receives). */
export function parseEvent(detailType: string, detail: unknown): ParleyEvent {
  const schema = (eventDetailSchemas as Record<string, z.ZodType>)[detailType];
  if (!schema) throw new UnknownEventTypeError(detailType);
  return { detailType, detail: schema.parse(detail) } as ParleyEvent;
}

/** A detail-type that is not part of the contract. */
export class UnknownEventTypeError extends Error {
  constructor(detailType: string) {
    super(`unknown event type ${detailType}`);
  }
}

/** A stored timeline item that cannot become an event (a bug or a foreign item in the table). */
export class UnmappableRecordError extends Error {}

/** The id of a timeline change: conversation, epoch and seq name it in every redelivery. */
export const timelineEventId = (conversationId: string, epoch: string, seq: number) => `${conversationId}/${epoch}/${seq}`;

/** The event recording one stored timeline item; none for a `skipped` placeholder (no one sent anything). */
export function timelineEvent(message: Message): ParleyEvent | null {
  if (message.kind === 'skipped') return null;
  const epoch = message.epoch ?? '';
  const base = {
    version: eventSchemaVersion,
    eventId: timelineEventId(message.conversationId, epoch, message.seq),
    conversationId: message.conversationId,
    epoch,
    seq: message.seq,
    actorId: message.senderId,
    occurredAt: message.createdAt,
  } as const;
  const kind: TimelineKind = message.kind ?? 'message';
  const target = () => {
    if (message.targetSeq === undefined) throw new UnmappableRecordError(`${kind} at ${base.eventId} has no targetSeq`);
    return message.targetSeq;
  };
  const users = () => {
    if (!message.userIds?.length) throw new UnmappableRecordError(`${kind} at ${base.eventId} has no userIds`);
    return message.userIds;
  };
  switch (kind) {
    case 'message':
      // Bodies ride along (moderation needs them): at most MAX_BODY_CHARS, far below EventBridge's 256 KB.
      return { detailType: 'message.sent', detail: { ...base, clientMessageId: message.clientMessageId, body: message.body } };
    case 'edit':
      return { detailType: 'message.edited', detail: { ...base, targetSeq: target(), body: message.body } };
    case 'delete':
      return { detailType: 'message.deleted', detail: { ...base, targetSeq: target() } };
    case 'reaction':
      return {
        detailType: message.op === 'remove' ? 'reaction.removed' : 'reaction.added',
        detail: { ...base, targetSeq: target(), emoji: message.emoji ?? '' },
      };
    case 'member_added':
      return { detailType: 'member.added', detail: { ...base, userIds: users() } };
    case 'member_removed':
      return { detailType: 'member.removed', detail: { ...base, userIds: users() } };
    case 'member_left':
      return { detailType: 'member.left', detail: { ...base, userIds: users() } };
    case 'role_changed':
      if (!message.role) throw new UnmappableRecordError(`role_changed at ${base.eventId} has no role`);
      return { detailType: 'member.role_changed', detail: { ...base, userIds: users(), role: message.role } };
    case 'title_changed':
      return { detailType: 'conversation.title_changed', detail: { ...base, title: message.title ?? '' } };
    case 'retention_changed':
      return { detailType: 'conversation.retention_changed', detail: { ...base, retentionDays: message.retentionDays ?? null } };
    default:
      throw new UnmappableRecordError(`unknown timeline kind ${String(kind)} at ${base.eventId}`);
  }
}

/** What the fanout stores when a chunk of recipients had no live connection (one item of the `undelivered` table). */
export interface UndeliveredEntry {
  /** Deterministic per (message, fanout chunk): a redelivered fanout job writes the same item again. */
  deliveryId: string;
  conversationId: string;
  epoch: string;
  seq: number;
  senderId: string;
  userIds: string[];
  preview: string;
  occurredAt: string;
}

/** The `message.undelivered` event of a stored undelivered entry; its id is the entry's deterministic id. */
export function undeliveredEvent(entry: UndeliveredEntry): ParleyEvent {
  return {
    detailType: 'message.undelivered',
    detail: {
      version: eventSchemaVersion,
      eventId: `${timelineEventId(entry.conversationId, entry.epoch, entry.seq)}/undelivered/${entry.deliveryId.split('#').at(-1)}`,
      conversationId: entry.conversationId,
      epoch: entry.epoch,
      seq: entry.seq,
      senderId: entry.senderId,
      userIds: entry.userIds,
      preview: entry.preview,
      occurredAt: entry.occurredAt,
    },
  };
}

/** Publishes events; resolves with one flag per event, true when the bus accepted it. */
export interface EventPublisher {
  publish(events: ParleyEvent[]): Promise<boolean[]>;
}

/** One stream record as the domain sees it: its position and the event it yields (or why it cannot). */
export type StreamItem = { position: string; event: ParleyEvent } | { position: string; error: Error } | { position: string; skip: true };

/**
 * Publishes the events of one ordered batch of stream records and returns the position to retry from: the first
 * record whose event was refused or could not be built (undefined when all were published). Records before it are
 * done; it and everything after it come again, so an event may be published twice, always with the same eventId.
 */
export async function forwardStreamBatch(publisher: EventPublisher, items: readonly StreamItem[]): Promise<string | undefined> {
  const publishable = items.flatMap((item, index) => ('event' in item ? [{ index, event: item.event }] : []));
  const accepted = publishable.length > 0 ? await publisher.publish(publishable.map((entry) => entry.event)) : [];
  const failed = new Set(items.flatMap((item, index) => ('error' in item ? [index] : [])));
  publishable.forEach((entry, i) => {
    if (!accepted[i]) failed.add(entry.index);
  });
  if (failed.size === 0) return undefined;
  return items[Math.min(...failed)]!.position;
}
