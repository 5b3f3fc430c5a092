import type { Caller } from '../domain/types.js';

/** The parts of an API Gateway WebSocket event the handlers read. */
export interface WebSocketEvent {
  requestContext: {
    connectionId: string;
    routeKey: string;
    /** What the $connect authorizer returned; API Gateway passes it to every route of the connection. */
    authorizer?: { userId?: string; tokenExpiresAt?: number | string; principalId?: string } | null;
  };
  headers?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
}

/** What a WebSocket route integration returns. */
export interface WebSocketResult {
  statusCode: number;
  body?: string;
  headers?: Record<string, string>;
}

/** The log keys of a WebSocket invocation: its connection, its route (the action) and the user once authorized. */
export function webSocketKeys(event: WebSocketEvent) {
  return {
    connectionId: event.requestContext.connectionId,
    action: event.requestContext.routeKey,
    userId: event.requestContext.authorizer?.userId,
  };
}

/** The caller as the authorizer resolved it; never taken from the payload. */
export function callerOf(event: WebSocketEvent): Caller {
  const userId = event.requestContext.authorizer?.userId;
  if (!userId) throw new Error('the event carries no authorizer context; is the $connect authorizer configured?');
  // Context values may arrive as strings; a missing or unreadable expiry leaves the session to API Gateway's 2 h cap.
  const tokenExpiresAt = Number(event.requestContext.authorizer?.tokenExpiresAt);
  return {
    userId,
    connectionId: event.requestContext.connectionId,
    ...(Number.isFinite(tokenExpiresAt) && tokenExpiresAt > 0 ? { tokenExpiresAt } : {}),
  };
}
