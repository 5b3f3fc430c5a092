import { instrumented } from '../app/instrument.js';
import { deps } from '../app/runtime.js';
import { createRouter, requestIdOf, toErrorFrame } from '../app/router.js';
import { endSession, sessionExpired, tokenExpiredFrame } from '../domain/sessions.js';
import { callerOf, webSocketKeys, type WebSocketEvent, type WebSocketResult } from './websocket-event.js';

const route = createRouter(deps);

/** A client action's handler: one reply frame per request, sent back as the route response (`name` labels its telemetry). */
export const actionsHandler = (name: string) =>
  instrumented(
    name,
    async (event: WebSocketEvent): Promise<WebSocketResult> => {
      let reply: Awaited<ReturnType<typeof route>>;
      try {
        const caller = callerOf(event);
        if (sessionExpired(deps, caller)) {
          // The reply is posted before the connection is closed: a route response would arrive after the close.
          const requestId = requestIdOf(event);
          const { notified } = await endSession(deps, caller, requestId);
          return notified ? { statusCode: 200 } : { statusCode: 200, body: JSON.stringify(tokenExpiredFrame(requestId)) };
        }
        reply = await route(event, caller);
      } catch (error) {
        reply = toErrorFrame(error);
      }
      return { statusCode: 200, body: JSON.stringify(reply) };
    },
    webSocketKeys,
  );

/** Every client action but catch-up (`catchup.ts`). */
export const handler = actionsHandler('actions');
