// zod/mini: the same validation as classic zod at a fraction of the bundle (cold starts of every handler).
import en from 'zod/v4/locales/en.js';
import * as z from 'zod/mini';
import { userIdPattern } from '../domain/auth.js';
import { syncPageSize } from '../domain/sync.js';
import type { Limits } from '../shared/config.js';
import { retention } from '../../lib/definitions.js';

// zod/mini loads no messages by default; clients get the English ones in their error frames.
z.config(en());

// Lone UTF-16 surrogates cannot be stored as UTF-8; reject them at the edge instead of failing in DynamoDB.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const text = (max: number) =>
  z
    .string()
    .check(z.minLength(1), z.maxLength(max), z.refine((value) => !loneSurrogate.test(value), 'must be well-formed Unicode'));

/** User ids as identity providers issue them (Cognito uuids, `auth0|...`, emails). */
export const userIdSchema = z.string().check(z.regex(userIdPattern, 'must be 1-128 characters of [A-Za-z0-9_.@:|+=-]'));
const conversationId = z.string().check(z.regex(/^(dm|grp)_[A-Za-z0-9-]{1,64}$/, 'is not a conversation id'));
const seqFrom = (min: number) => z.int().check(z.gte(min), z.lte(Number.MAX_SAFE_INTEGER));
const pageLimit = (fallback: number) => z._default(z.int().check(z.gte(1), z.lte(100)), fallback);
const pageToken = z.nullish(z.string().check(z.minLength(1), z.maxLength(512)));
const list = <T extends z.core.SomeType>(item: T, max: number) => z.array(item).check(z.minLength(1), z.maxLength(max));

// A reaction: one emoji (or short text), 1-16 UTF-16 code units, no whitespace.
const emoji = text(16).check(z.refine((value) => !/\s/u.test(value), 'must not contain whitespace'));

/** The schema of every action's request, built from the configured limits. */
export function actionSchemas(limits: Limits) {
  return {
    createConversation: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('direct'), userId: userIdSchema }),
      z.object({
        kind: z.literal('group'),
        title: text(100),
        members: list(userIdSchema, limits.maxGroupMembers),
        clientRequestId: z.optional(text(64)),
      }),
    ]),
    addMembers: z.object({ conversationId, members: list(userIdSchema, limits.maxMembersPerRequest) }),
    listConversations: z.object({ limit: pageLimit(50), cursor: pageToken }),
    send: z.object({ conversationId, clientMessageId: text(64), body: text(limits.maxBodyChars) }),
    history: z.object({ conversationId, beforeSeq: z.optional(seqFrom(1)), limit: pageLimit(50) }),
    sync: z.object({
      from: z.optional(conversationId),
      through: z.optional(conversationId),
      cursors: z._default(
        z
          .record(conversationId, z.object({ seq: seqFrom(0), epoch: z.nullable(z.string().check(z.minLength(1), z.maxLength(32))) }))
          .check(z.refine((cursors) => Object.keys(cursors).length <= syncPageSize, `at most ${syncPageSize} cursors`)),
        {},
      ),
      limit: pageLimit(50),
    }),
    heartbeat: z.object({}),
    ack: z.object({ conversationId, kind: z.enum(['delivered', 'read']), seq: seqFrom(1) }),
    typing: z.object({ conversationId, state: z._default(z.enum(['start', 'stop']), 'start') }),
    presence: z.object({ userIds: list(userIdSchema, 100) }),
    removeMembers: z.object({ conversationId, members: list(userIdSchema, limits.maxMembersPerRequest) }),
    leave: z.object({ conversationId }),
    setRole: z.object({ conversationId, userId: userIdSchema, role: z.enum(['owner', 'admin', 'member']) }),
    updateConversation: z.object({
      conversationId,
      title: z.optional(text(100)),
      retentionDays: z.optional(z.nullable(z.int().check(z.gte(1), z.lte(retention.maxDays)))),
    }),
    block: z.object({ userId: userIdSchema }),
    unblock: z.object({ userId: userIdSchema }),
    getSettings: z.object({}),
    updateSettings: z.object({ groupAdd: z.optional(z.enum(['anyone', 'contacts'])) }),
    listInvitations: z.object({}),
    acceptInvitation: z.object({ conversationId }),
    declineInvitation: z.object({ conversationId }),
    edit: z.object({ conversationId, seq: seqFrom(1), clientMessageId: text(64), body: text(limits.maxBodyChars) }),
    deleteMessage: z.object({ conversationId, seq: seqFrom(1), clientMessageId: text(64) }),
    react: z.object({ conversationId, seq: seqFrom(1), clientMessageId: text(64), emoji: emoji }),
    unreact: z.object({ conversationId, seq: seqFrom(1), clientMessageId: text(64), emoji: emoji }),
  };
}

/** Request schemas by action name. */
export type ActionSchemas = ReturnType<typeof actionSchemas>;
