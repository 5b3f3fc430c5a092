import * as z from 'zod/mini';
import type { FanoutJob, ServerEvent } from '../domain/types.js';

const nonEmpty = z.string().check(z.minLength(1));
const connectionRef = z.object({ userId: nonEmpty, connectionId: nonEmpty });
const serverEvent = z.custom<ServerEvent>(
  (value) => typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string',
  'event must be an object with a type',
);

/** Validates a queued job: a malformed body fails its record (and ends in the DLQ) instead of being guessed at. */
export const fanoutJobSchema: z.ZodMiniType<FanoutJob> = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('deliver'),
    event: serverEvent,
    recipients: z.optional(z.array(nonEmpty).check(z.maxLength(1000))),
    targets: z.optional(z.array(connectionRef).check(z.maxLength(1000))),
    excludeConnectionId: z.optional(z.string()),
    scope: z.optional(z.object({ conversationId: nonEmpty, membershipSeq: z.int().check(z.gte(0)), seq: z.optional(z.int().check(z.gte(1))) })),
    attempt: z.int().check(z.gte(0)),
  }),
  z.object({
    kind: z.literal('presence'),
    userId: nonEmpty,
    status: z.enum(['online', 'offline']),
    lastSeenAt: z.nullable(z.string()),
  }),
  z.object({
    kind: z.literal('expire'),
    userId: nonEmpty,
    connectionId: nonEmpty,
    endsAt: z.int().check(z.gte(0)),
    attempt: z.int().check(z.gte(0)),
  }),
  z.object({
    kind: z.literal('retention'),
    conversationId: nonEmpty,
    retentionDays: z.nullable(z.int().check(z.gte(1))),
    afterSeq: z.int().check(z.gte(0)),
    floor: z.int().check(z.gte(0)),
  }),
]);
