/**
 * The wire protocol's requests (PROTOCOL.md) as zod schemas; replies and events are in `frames.ts`. The server
 * validates requests with them; server and SDK types are inferred from them (the SDK imports them with `import type`
 * only, so its bundle carries no zod); the doc test checks PROTOCOL.md's examples against them.
 */
// zod/mini: the same validation as classic zod at a fraction of the bundle (cold starts of every handler).
import en from 'zod/v4/locales/en.js';
import * as z from 'zod/mini';
import type { ActionName } from './actions.js';
import { conversationIdPattern, fixedLimits, userIdPattern, type ConfigurableWireLimits } from './limits.js';

// zod/mini loads no messages by default; clients get the English ones in their error frames.
z.config(en());

// Lone UTF-16 surrogates cannot be stored as UTF-8; reject them at the edge instead of failing in DynamoDB.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Non-empty, well-formed text of at most `max` UTF-16 code units. */
export const text = (max: number) =>
  z.string().check(
    z.minLength(1),
    z.maxLength(max),
    z.refine((value) => !loneSurrogate.test(value), 'must be well-formed Unicode'),
  );

/** User ids as identity providers issue them (Cognito uuids, `auth0|...`, emails). */
export const userIdSchema = z.string().check(z.regex(userIdPattern, 'must be 1-128 characters of [A-Za-z0-9_.@:|+=-]'));
/** A conversation id as the server issues them. */
export const conversationId = z.string().check(z.regex(conversationIdPattern, 'is not a conversation id'));
/** A seq (or cursor) of at least `min`. */
export const seqFrom = (min: number) => z.int().check(z.gte(min), z.lte(Number.MAX_SAFE_INTEGER));
/** A page size of 1 to the maximum page limit, `fallback` when omitted. */
export const pageLimit = (fallback: number) => z._default(z.int().check(z.gte(1), z.lte(fixedLimits.maxPageLimit)), fallback);
/** An opaque page cursor issued by the server. */
export const pageToken = z.nullish(z.string().check(z.minLength(1), z.maxLength(fixedLimits.maxPageTokenChars)));
/** A non-empty list of at most `max` items. */
export const list = <T extends z.core.SomeType>(item: T, max: number) => z.array(item).check(z.minLength(1), z.maxLength(max));

// A reaction: one emoji (or short text), 1-16 UTF-16 code units, no whitespace.
const emoji = text(fixedLimits.maxEmojiChars).check(z.refine((value) => !/\s/u.test(value), 'must not contain whitespace'));

const clientId = text(fixedLimits.maxClientIdChars);
const title = text(fixedLimits.maxTitleChars);
/** A member's role in a group. */
export const role = z.enum(['owner', 'admin', 'member']);
/** Who may add a user to a group directly. */
export const groupAdd = z.enum(['anyone', 'contacts']);
/** A readable `requestId`: 1-128 UTF-16 code units. */
export const requestId = z.string().check(z.minLength(1), z.maxLength(fixedLimits.maxRequestIdChars));

/** The schema of every action's request (without `action` and `requestId`), built from the configured limits. */
export function actionSchemas(limits: Pick<ConfigurableWireLimits, 'maxBodyChars' | 'maxGroupMembers' | 'maxMembersPerRequest'>) {
  return {
    hello: z.object({}),
    createConversation: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('direct'), userId: userIdSchema }),
      z.object({
        kind: z.literal('group'),
        title,
        members: list(userIdSchema, limits.maxGroupMembers),
        clientRequestId: z.optional(clientId),
      }),
    ]),
    addMembers: z.object({ conversationId, members: list(userIdSchema, limits.maxMembersPerRequest) }),
    listConversations: z.object({ limit: pageLimit(50), cursor: pageToken }),
    send: z.object({ conversationId, clientMessageId: clientId, body: text(limits.maxBodyChars) }),
    history: z.object({ conversationId, beforeSeq: z.optional(seqFrom(1)), limit: pageLimit(50) }),
    sync: z.object({
      from: z.optional(conversationId),
      through: z.optional(conversationId),
      cursors: z._default(
        z
          .record(conversationId, z.object({ seq: seqFrom(0), epoch: z.nullable(z.string().check(z.minLength(1), z.maxLength(fixedLimits.maxEpochChars))) }))
          .check(z.refine((cursors) => Object.keys(cursors).length <= fixedLimits.maxSyncCursors, `at most ${fixedLimits.maxSyncCursors} cursors`)),
        {},
      ),
      limit: pageLimit(50),
    }),
    heartbeat: z.object({}),
    ack: z.object({ conversationId, kind: z.enum(['delivered', 'read']), seq: seqFrom(1) }),
    typing: z.object({ conversationId, state: z._default(z.enum(['start', 'stop']), 'start') }),
    presence: z.object({ userIds: list(userIdSchema, fixedLimits.maxPresenceUsers) }),
    removeMembers: z.object({ conversationId, members: list(userIdSchema, limits.maxMembersPerRequest) }),
    leave: z.object({ conversationId }),
    setRole: z.object({ conversationId, userId: userIdSchema, role }),
    updateConversation: z.object({
      conversationId,
      title: z.optional(title),
      retentionDays: z.optional(z.nullable(z.int().check(z.gte(1), z.lte(fixedLimits.maxRetentionDays)))),
    }),
    block: z.object({ userId: userIdSchema }),
    unblock: z.object({ userId: userIdSchema }),
    getSettings: z.object({}),
    updateSettings: z.object({ groupAdd: z.optional(groupAdd) }),
    listInvitations: z.object({}),
    acceptInvitation: z.object({ conversationId }),
    declineInvitation: z.object({ conversationId }),
    edit: z.object({ conversationId, seq: seqFrom(1), clientMessageId: clientId, body: text(limits.maxBodyChars) }),
    deleteMessage: z.object({ conversationId, seq: seqFrom(1), clientMessageId: clientId }),
    react: z.object({ conversationId, seq: seqFrom(1), clientMessageId: clientId, emoji: emoji }),
    unreact: z.object({ conversationId, seq: seqFrom(1), clientMessageId: clientId, emoji: emoji }),
  } satisfies Record<ActionName, z.core.SomeType>;
}

/** Request schemas by action name. */
export type ActionSchemas = ReturnType<typeof actionSchemas>;

/** A request frame of one action, as the client sends it: `action`, `requestId` and the action's fields. */
export function requestFrameSchema<A extends ActionName>(action: A, limits: Parameters<typeof actionSchemas>[0]) {
  return z.intersection(z.object({ action: z.literal(action), requestId }), actionSchemas(limits)[action]);
}

/** Request payloads by action (without `action` and `requestId`), as the client may send them (defaults optional). */
export type RequestMap = { [A in ActionName]: z.input<ActionSchemas[A]> };
/** Validated requests by action, with defaults applied, as the server's handlers get them. */
export type ParsedRequestMap = { [A in ActionName]: z.output<ActionSchemas[A]> };
