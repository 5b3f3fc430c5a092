import { z } from 'zod';
import type { FanoutJob, ServerEvent } from '../domain/types.js';

const connectionRef = z.object({ userId: z.string().min(1), connectionId: z.string().min(1) });
const serverEvent = z.custom<ServerEvent>(
  (value) => typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string',
  'event must be an object with a type',
);

/** Validates a queued job: a malformed body fails its record (and ends in the DLQ) instead of being guessed at. */
export const fanoutJobSchema: z.ZodType<FanoutJob> = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('deliver'),
    event: serverEvent,
    recipients: z.array(z.string().min(1)).max(1000).optional(),
    targets: z.array(connectionRef).max(1000).optional(),
    excludeConnectionId: z.string().optional(),
    attempt: z.number().int().min(0),
  }),
  z.object({
    kind: z.literal('presence'),
    userId: z.string().min(1),
    status: z.enum(['online', 'offline']),
    lastSeenAt: z.string().nullable(),
  }),
]);
