import { actions, type ActionName } from '../../protocol/actions.js';
import { clientLimitsOf, fixedLimits, protocolVersion } from '../../protocol/limits.js';
import type { ReplyMap } from '../../protocol/frames.js';
import { actionSchemas, type ParsedRequestMap } from '../../protocol/schemas.js';
import { block, settingsOf, unblock, updateSettings } from '../domain/consent.js';
import { createDirectConversation, createGroup, listConversations } from '../domain/conversations.js';
import { deleteMessage, editMessage, react } from '../domain/message-lifecycle.js';
import {
  acceptInvitation,
  addMembers as addGroupMembers,
  declineInvitation,
  leave,
  listInvitations,
  removeMembers,
  setRole,
  updateConversation,
} from '../domain/membership.js';
import type { Deps } from '../domain/deps.js';
import { ParleyError } from '../domain/errors.js';
import { history, sendMessage } from '../domain/messages.js';
import { sync } from '../domain/sync.js';
import { heartbeat, presenceOf } from '../domain/presence.js';
import { acknowledge } from '../domain/receipts.js';
import type { Caller } from '../domain/types.js';
import { typing } from '../domain/typing.js';
import { logger } from '../shared/logger.js';

/** A frame sent back to the client. */
export type ReplyFrame = { type: string; requestId?: string } & Record<string, unknown>;

/** An incoming WebSocket frame as API Gateway hands it over. */
export interface IncomingFrame {
  body?: string | null;
  isBase64Encoded?: boolean;
}

/** A reply before the requestId is attached. */
type Result = { type: string } & Record<string, unknown>;
// Each handler's result is checked against the action's reply schema (protocol/schemas.ts).
type Handlers = { [A in ActionName]: (input: ParsedRequestMap[A], caller: Caller) => Promise<{ type: string } & ReplyMap[A]> };

const errorFrame = (code: string, message: string, requestId?: string, details?: Record<string, unknown>): ReplyFrame => ({
  type: 'error',
  ...(requestId === undefined ? {} : { requestId }),
  code,
  message,
  ...details,
});

/** Maps any error to an error frame; unexpected ones are logged and never sent with details. */
export function toErrorFrame(error: unknown, requestId?: string): ReplyFrame {
  if (error instanceof ParleyError) return errorFrame(error.code, error.message, requestId, error.details);
  logger.error('unhandled error', { error: error as Error });
  return errorFrame('internal', 'internal error', requestId);
}

/** The request's `requestId` when it is a string of 1-128 characters. */
function readableRequestId(request: Record<string, unknown>): string | undefined {
  const { requestId } = request;
  return typeof requestId === 'string' && requestId.length > 0 && requestId.length <= fixedLimits.maxRequestIdChars ? requestId : undefined;
}

/** The readable `requestId` of a frame, if it has one (for replies outside the router, such as `token_expired`). */
export function requestIdOf(frame: IncomingFrame): string | undefined {
  if (frame.isBase64Encoded) return undefined;
  try {
    const parsed: unknown = JSON.parse(frame.body ?? '');
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? readableRequestId(parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Builds the request router: parse, validate, dispatch to domain code, map the result or error to one reply. */
export function createRouter(deps: Deps): (frame: IncomingFrame, caller: Caller) => Promise<ReplyFrame> {
  const schemas = actionSchemas(deps.limits);
  const handlers: Handlers = {
    hello: async () => ({ type: 'hello', protocolVersion, limits: clientLimitsOf(deps.limits) }),
    createConversation: async (input, caller) =>
      input.kind === 'direct'
        ? { type: 'conversation', conversation: await createDirectConversation(deps, caller, input.userId) }
        : await createGroup(deps, caller, input).then(({ conversation, invited }) => ({ type: 'conversation', conversation, invited })),
    addMembers: async (input, caller) => ({ type: 'conversation', ...(await addGroupMembers(deps, caller, input)) }),
    listConversations: async (input, caller) => ({
      type: 'conversations',
      ...(await listConversations(deps, caller, { limit: input.limit, cursor: input.cursor ?? undefined })),
    }),
    send: async (input, caller) => ({ type: 'ack', ...(await sendMessage(deps, caller, input)) }),
    history: async (input, caller) => ({
      type: 'history',
      conversationId: input.conversationId,
      ...(await history(deps, caller, input)),
    }),
    sync: async (input, caller) => ({
      type: 'sync',
      ...(await sync(deps, caller, input)),
    }),
    heartbeat: async (_input, caller) => ({ type: 'pong', ...(await heartbeat(deps, caller)) }),
    ack: async (input, caller) => ({ type: 'receipt', ...(await acknowledge(deps, caller, input)) }),
    typing: async (input, caller) => {
      await typing(deps, caller, input);
      return { type: 'ok' };
    },
    presence: async (input, caller) => ({ type: 'presence', users: await presenceOf(deps, caller, input.userIds) }),
    removeMembers: async (input, caller) => ({ type: 'conversation', conversation: await removeMembers(deps, caller, input) }),
    leave: async (input, caller) => ({ type: 'conversation', conversation: await leave(deps, caller, input) }),
    setRole: async (input, caller) => ({ type: 'conversation', conversation: await setRole(deps, caller, input) }),
    updateConversation: async (input, caller) => ({ type: 'conversation', conversation: await updateConversation(deps, caller, input) }),
    block: async (input, caller) => ({ type: 'settings', settings: await block(deps, caller, input.userId) }),
    unblock: async (input, caller) => ({ type: 'settings', settings: await unblock(deps, caller, input.userId) }),
    getSettings: async (_input, caller) => ({ type: 'settings', settings: await settingsOf(deps, caller) }),
    updateSettings: async (input, caller) => ({ type: 'settings', settings: await updateSettings(deps, caller, input) }),
    listInvitations: async (_input, caller) => ({ type: 'invitations', invitations: await listInvitations(deps, caller) }),
    acceptInvitation: async (input, caller) => ({
      type: 'conversation',
      conversation: await acceptInvitation(deps, caller, input.conversationId),
    }),
    declineInvitation: async (input, caller) => {
      await declineInvitation(deps, caller, input.conversationId);
      return { type: 'ok' };
    },
    edit: async (input, caller) => ({ type: 'ack', ...(await editMessage(deps, caller, input)) }),
    deleteMessage: async (input, caller) => ({ type: 'ack', ...(await deleteMessage(deps, caller, input)) }),
    react: async (input, caller) => ({ type: 'ack', ...(await react(deps, caller, input, 'add')) }),
    unreact: async (input, caller) => ({ type: 'ack', ...(await react(deps, caller, input, 'remove')) }),
  };

  return async (frame, caller) => {
    if (frame.isBase64Encoded) return errorFrame('invalid_json', 'binary frames are not supported; send JSON text');
    const raw = frame.body ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return errorFrame('invalid_json', 'the frame is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return errorFrame('invalid_json', 'the frame must be a JSON object');
    }
    const request = parsed as Record<string, unknown>;
    const requestId = readableRequestId(request);
    if (Buffer.byteLength(raw) > deps.limits.maxFrameBytes) {
      return errorFrame('payload_too_large', `frames are limited to ${deps.limits.maxFrameBytes} bytes`, requestId);
    }
    if (requestId === undefined) return errorFrame('bad_request', `requestId: must be a string of 1-${fixedLimits.maxRequestIdChars} characters`);
    const action = request.action;
    if (typeof action !== 'string' || !(actions as readonly string[]).includes(action)) {
      return errorFrame('unknown_action', `unknown action; expected one of: ${actions.join(', ')}`, requestId);
    }
    const name = action as ActionName;
    const input = schemas[name].safeParse(request);
    if (!input.success) {
      const issue = input.error.issues[0];
      const path = issue?.path.length ? issue.path.join('.') : 'request';
      return errorFrame('bad_request', `${path}: ${issue?.message ?? 'invalid'}`, requestId);
    }
    try {
      const result = await (handlers[name] as (input: unknown, caller: Caller) => Promise<Result>)(input.data, caller);
      return { ...result, requestId };
    } catch (error) {
      return toErrorFrame(error, requestId);
    }
  };
}
