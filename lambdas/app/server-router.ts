import type * as z from 'zod/mini';
import type { EventAck, SendAck } from '../../client/protocol.js';
import { serverApi, type ServerOperation } from '../../lib/definitions.js';
import { banUser, unbanUser } from '../domain/bans.js';
import { conversationOfMember, createGroup, externalGroupId, listConversations, type ConversationSummary } from '../domain/conversations.js';
import type { Deps } from '../domain/deps.js';
import { eraseUser, type ErasureReport } from '../domain/erasure.js';
import { NotFoundError, ParleyError, type ErrorCode } from '../domain/errors.js';
import { deleteMessage } from '../domain/message-lifecycle.js';
import { addMembers, removeMembers, setRole } from '../domain/membership.js';
import { history, sendMessage } from '../domain/messages.js';
import type { ArchiveStore, Ban } from '../domain/ports.js';
import { botUserId, onBehalfOf, systemCaller } from '../domain/principal.js';
import { disconnectUser, type DisconnectResult } from '../domain/sessions.js';
import type { Conversation, Message } from '../domain/types.js';
import { logger } from '../shared/logger.js';
import { serverApiLimits, serverSchemas, type OperationSchema, type ServerSchemas } from './server-schemas.js';

/** A server API request once API Gateway matched its route. */
export interface ServerRequest {
  operation: ServerOperation;
  pathParameters: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
}

/** The JSON body of every server API error. */
export interface ServerErrorBody {
  code: ErrorCode;
  message: string;
  [detail: string]: unknown;
}

/** What each operation answers with (2xx). */
export interface ServerResponses {
  createConversation: { conversation: Conversation; created: boolean };
  addMembers: { conversation: Conversation };
  removeMember: { conversation: Conversation };
  setRole: { conversation: Conversation };
  postMessage: { ack: SendAck };
  history: { conversationId: string; messages: Message[]; nextBeforeSeq: number | null };
  listUserConversations: { conversations: ConversationSummary[]; nextCursor: string | null };
  redactMessage: { ack: EventAck };
  disconnectUser: DisconnectResult;
  banUser: { userId: string; ban: Ban; sessions: DisconnectResult };
  unbanUser: { userId: string; banned: false };
  eraseUser: ErasureReport;
  getConversation: { conversation: Conversation };
  getConversationByExternalId: { conversation: Conversation };
}

/** A response before it is serialized. */
export interface ServerResult {
  status: number;
  body: unknown;
}

/** HTTP status of each domain error code. */
export const errorStatus: Record<ErrorCode, number> = {
  invalid_json: 400,
  unknown_action: 404,
  bad_request: 400,
  payload_too_large: 413,
  forbidden: 403,
  not_found: 404,
  limit_exceeded: 422,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
  token_expired: 401,
};

const failure = (code: ErrorCode, message: string, details?: Record<string, unknown>): ServerResult => ({
  status: errorStatus[code],
  body: { code, message, ...details } satisfies ServerErrorBody,
});

type Input<O extends ServerOperation> = {
  [K in keyof ServerSchemas[O]]: ServerSchemas[O][K] extends z.ZodMiniType ? z.output<ServerSchemas[O][K]> : never;
};
type Operations = { [O in ServerOperation]: (input: Input<O>) => Promise<{ status?: number; body: ServerResponses[O] }> };

/** The first issue of a failed parse as `field: message`. */
function issueText(error: z.core.$ZodError, fallback: string): string {
  const issue = error.issues[0];
  return `${issue?.path.length ? issue.path.join('.') : fallback}: ${issue?.message ?? 'invalid'}`;
}

// Valid ids contain no `%`, so decoding is a no-op on an already decoded value; a broken escape is left for the schema.
const decoded = (value: string | undefined) => {
  try {
    return value === undefined ? undefined : decodeURIComponent(value);
  } catch {
    return value;
  }
};

/**
 * Builds the server API router: validate path, query and body with the operation's schemas, call the same domain
 * code as the WebSocket actions with the server principal (or, where a route acts for a user, as that user), and map
 * the result or the domain error to a status and JSON body. `archive` is the Parquet archive, when there is one:
 * erasure rewrites its objects too.
 */
export function createServerRouter(deps: Deps, archive?: ArchiveStore): (request: ServerRequest) => Promise<ServerResult> {
  const schemas = serverSchemas(deps.limits);
  const system = systemCaller();
  const operations: Operations = {
    createConversation: async ({ body }) => {
      const { conversation, created } = await createGroup(deps, system, body);
      return { status: created ? 201 : 200, body: { conversation, created } };
    },
    addMembers: async ({ params, body }) => ({
      body: { conversation: (await addMembers(deps, system, { conversationId: params.conversationId, members: body.members })).conversation },
    }),
    removeMember: async ({ params }) => ({
      body: { conversation: await removeMembers(deps, system, { conversationId: params.conversationId, members: [params.userId] }) },
    }),
    setRole: async ({ params, body }) => ({ body: { conversation: await setRole(deps, system, { ...params, role: body.role }) } }),
    postMessage: async ({ params, body }) => {
      const sender = body.senderId !== undefined ? onBehalfOf(body.senderId) : systemCaller(body.botId === undefined ? undefined : botUserId(body.botId));
      const ack = await sendMessage(deps, sender, { conversationId: params.conversationId, clientMessageId: body.clientMessageId, body: body.body });
      return { status: ack.duplicate ? 200 : 201, body: { ack } };
    },
    history: async ({ params, query }) => ({
      body: { conversationId: params.conversationId, ...(await history(deps, system, { conversationId: params.conversationId, ...query })) },
    }),
    listUserConversations: async ({ params, query }) => ({
      body: await listConversations(deps, onBehalfOf(params.userId), { limit: query.limit, cursor: query.cursor ?? undefined }),
    }),
    // The seq makes the idempotency key: a repeated redaction of the same message answers `duplicate`.
    redactMessage: async ({ params }) => ({
      body: { ack: await deleteMessage(deps, system, { ...params, clientMessageId: `redact:${params.seq}` }) },
    }),
    disconnectUser: async ({ params }) => ({ body: await disconnectUser(deps, params.userId) }),
    banUser: async ({ params, body }) => ({ body: { userId: params.userId, ...(await banUser(deps, params.userId, body)) } }),
    unbanUser: async ({ params }) => {
      await unbanUser(deps, params.userId);
      return { body: { userId: params.userId, banned: false } };
    },
    // The same domain function as `npm run erase-user`; running it again finds nothing left to scrub.
    eraseUser: async ({ params }) => ({ body: await eraseUser(deps, params.userId, archive) }),
    // Consistent reads: a backend often reads a conversation right after creating or changing it.
    getConversation: async ({ params }) => ({ body: { conversation: await conversationOfMember(deps, system, params.conversationId, true) } }),
    getConversationByExternalId: async ({ query }) => {
      const conversation = await deps.conversations.get(externalGroupId(query.externalId), true);
      if (!conversation) throw new NotFoundError('externalId: no conversation was created with this externalId');
      return { body: { conversation } };
    },
  };

  const parseBody = (request: ServerRequest): { ok: true; value: unknown } | { ok: false; result: ServerResult } => {
    const raw = request.isBase64Encoded ? Buffer.from(request.body ?? '', 'base64').toString('utf8') : (request.body ?? '');
    if (Buffer.byteLength(raw) > serverApiLimits.maxRequestBytes) {
      return { ok: false, result: failure('payload_too_large', `request bodies are limited to ${serverApiLimits.maxRequestBytes} bytes`) };
    }
    if (raw.trim() === '') return { ok: true, value: undefined };
    try {
      return { ok: true, value: JSON.parse(raw) };
    } catch {
      return { ok: false, result: failure('invalid_json', 'body: is not valid JSON') };
    }
  };

  return async (request) => {
    const schema: OperationSchema = schemas[request.operation];
    const input: Record<string, unknown> = {};
    const parts: [keyof OperationSchema, unknown][] = [
      ['params', Object.fromEntries(Object.entries(request.pathParameters).map(([key, value]) => [key, decoded(value)]))],
      ['query', request.query],
    ];
    if (schema.body) {
      const body = parseBody(request);
      if (!body.ok) return body.result;
      parts.push(['body', body.value]);
    }
    for (const [part, value] of parts) {
      const partSchema = schema[part];
      if (!partSchema) continue;
      const parsed = partSchema.safeParse(value);
      if (!parsed.success) return failure('bad_request', issueText(parsed.error, part));
      input[part] = parsed.data;
    }
    try {
      const result = await (operations[request.operation] as (input: unknown) => Promise<{ status?: number; body: unknown }>)(input);
      return { status: result.status ?? 200, body: result.body };
    } catch (error) {
      if (error instanceof ParleyError) return failure(error.code, error.message, error.details);
      logger.error('unhandled error', { operation: request.operation, error: error as Error });
      return failure('internal', 'internal error');
    }
  };
}

/** The operation of an API Gateway route key such as `POST /conversations`, if it is a server API route. */
export function operationOf(routeKey: string): ServerOperation | undefined {
  return serverApi.routes.find((route) => `${route.method} ${route.path}` === routeKey)?.operation;
}
