import { z } from 'zod';
import type { Limits } from '../shared/config.js';

// Lone UTF-16 surrogates cannot be stored as UTF-8; reject them at the edge instead of failing in DynamoDB.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !loneSurrogate.test(value), 'must be well-formed Unicode');

/** User ids as identity providers issue them (Cognito uuids, `auth0|...`, emails). */
export const userIdSchema = z.string().regex(/^[\w.@:|+=-]{1,128}$/, 'must be 1-128 characters of [A-Za-z0-9_.@:|+=-]');
const conversationId = z.string().regex(/^(dm|grp)_[A-Za-z0-9-]{1,64}$/, 'is not a conversation id');
const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const pageLimit = (fallback: number) => z.number().int().min(1).max(100).default(fallback);

/** The schema of every action's request, built from the configured limits. */
export function actionSchemas(limits: Limits) {
  const userList = (max: number) => z.array(userIdSchema).min(1).max(max);
  return {
    createConversation: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('direct'), userId: userIdSchema }),
      z.object({
        kind: z.literal('group'),
        title: text(100),
        members: userList(limits.maxGroupMembers),
      }),
    ]),
    addMembers: z.object({ conversationId, members: userList(limits.maxMembersPerRequest) }),
    listConversations: z.object({ limit: pageLimit(50), cursor: z.string().min(1).max(512).nullish() }),
    send: z.object({ conversationId, clientMessageId: text(64), body: text(limits.maxBodyChars) }),
    history: z.object({ conversationId, beforeSeq: seq.min(1).optional(), limit: pageLimit(50) }),
    sync: z.object({
      cursors: z
        .record(z.string(), seq)
        .default({})
        .refine((cursors) => Object.keys(cursors).length <= 1000, 'at most 1000 cursors'),
      limit: pageLimit(100),
      page: z.string().min(1).max(512).nullish(),
    }),
    heartbeat: z.object({}),
    ack: z.object({ conversationId, kind: z.enum(['delivered', 'read']), seq: seq.min(1) }),
    typing: z.object({ conversationId, state: z.enum(['start', 'stop']).default('start') }),
    presence: z.object({ userIds: z.array(userIdSchema).min(1).max(100) }),
  };
}

/** Request schemas by action name. */
export type ActionSchemas = ReturnType<typeof actionSchemas>;
