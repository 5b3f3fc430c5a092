// The server API's request schemas: the handler validates with them, the OpenAPI document and the server SDK's
// types are generated from them. Field rules shared with the WebSocket actions come from the wire schemas.
import * as z from 'zod/mini';
import type { ServerOperation } from '../../lib/definitions.js';
import type { Limits } from '../shared/config.js';
import { conversationId, list, pageToken, text, userIdSchema } from '../../protocol/schemas.js';

/** Limits of the server API's own fields (the shared ones, such as body length and group size, are `Limits`). */
export const serverApiLimits = {
  /** Largest request body, in bytes (`payload_too_large` above). */
  maxRequestBytes: 64 * 1024,
  externalIdMaxChars: 128,
  metadataMaxKeys: 16,
  metadataKeyMaxChars: 64,
  metadataValueMaxChars: 256,
  banReasonMaxChars: 500,
} as const;

const role = z.enum(['owner', 'admin', 'member']);
// Path and query values arrive as strings.
const queryInt = (min: number, max: number) => z.coerce.number().check(z.int(), z.gte(min), z.lte(max));
// A page size as the wire schemas take it (1-100, default 50), read from a query string.
const pageLimitQuery = () => z._default(queryInt(1, 100), 50);
const metadataKey = z
  .string()
  .check(
    z.regex(
      new RegExp(`^[A-Za-z0-9_.-]{1,${serverApiLimits.metadataKeyMaxChars}}$`),
      `must be 1-${serverApiLimits.metadataKeyMaxChars} characters of [A-Za-z0-9_.-]`,
    ),
  );
const metadata = z
  .record(metadataKey, text(serverApiLimits.metadataValueMaxChars))
  .check(z.refine((value) => Object.keys(value).length <= serverApiLimits.metadataMaxKeys, `at most ${serverApiLimits.metadataMaxKeys} keys`));
const botId = z.string().check(z.regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be 1-32 characters of [a-z0-9_-], starting with a letter or digit'));
const conversationPath = z.object({ conversationId });
const userPath = z.object({ userId: userIdSchema });
const memberPath = z.object({ conversationId, userId: userIdSchema });
const externalId = text(serverApiLimits.externalIdMaxChars);

/** Where a request's fields come from: path parameters, query string and JSON body, each validated on its own. */
export interface OperationSchema {
  params?: z.ZodMiniObject;
  query?: z.ZodMiniObject;
  body?: z.ZodMiniType;
}

/** The request schema of every server API operation, built from the configured limits. */
export function serverSchemas(limits: Limits) {
  return {
    createConversation: {
      body: z.object({
        externalId: z.optional(externalId),
        title: text(100),
        members: list(userIdSchema, limits.maxGroupMembers),
        roles: z.optional(z.record(userIdSchema, role)),
        metadata: z.optional(metadata),
      }),
    },
    addMembers: { params: conversationPath, body: z.object({ members: list(userIdSchema, limits.maxMembersPerRequest) }) },
    removeMember: { params: memberPath },
    setRole: { params: memberPath, body: z.object({ role }) },
    postMessage: {
      params: conversationPath,
      body: z
        .object({
          clientMessageId: text(64),
          body: text(limits.maxBodyChars),
          senderId: z.optional(userIdSchema),
          botId: z.optional(botId),
        })
        .check(
          z.refine((value) => value.senderId === undefined || value.botId === undefined, {
            message: 'give senderId (a user) or botId (a bot), not both',
            path: ['botId'],
          }),
        ),
    },
    history: {
      params: conversationPath,
      query: z.object({ beforeSeq: z.optional(queryInt(1, Number.MAX_SAFE_INTEGER)), limit: pageLimitQuery() }),
    },
    redactMessage: { params: z.object({ conversationId, seq: queryInt(1, Number.MAX_SAFE_INTEGER) }) },
    listUserConversations: { params: userPath, query: z.object({ limit: pageLimitQuery(), cursor: pageToken }) },
    disconnectUser: { params: userPath },
    banUser: { params: userPath, body: z._default(z.object({ reason: z.optional(text(serverApiLimits.banReasonMaxChars)) }), {}) },
    unbanUser: { params: userPath },
    eraseUser: { params: userPath },
    getConversation: { params: conversationPath },
    getConversationByExternalId: { query: z.object({ externalId }) },
  } satisfies Record<ServerOperation, OperationSchema>;
}

/** Request schemas by operation. */
export type ServerSchemas = ReturnType<typeof serverSchemas>;

type Part<O extends ServerOperation, K extends keyof OperationSchema> = ServerSchemas[O] extends { [P in K]: infer S extends z.ZodMiniType }
  ? z.input<S>
  : never;

/** What a caller sends for `operation`: its path parameters, query and body, as the server SDK takes them. */
export type ServerRequestInput<O extends ServerOperation> = ([Part<O, 'params'>] extends [never] ? unknown : Part<O, 'params'>) &
  ([Part<O, 'query'>] extends [never] ? unknown : Part<O, 'query'>) &
  ([Part<O, 'body'>] extends [never] ? unknown : NonNullable<Part<O, 'body'>>);
