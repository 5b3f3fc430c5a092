import { instrumented } from '../app/instrument.js';
import { deps } from '../app/connection-runtime.js';
import { disconnected } from '../domain/presence.js';
import { callerOf, webSocketKeys, type WebSocketEvent, type WebSocketResult } from './websocket-event.js';

/** $disconnect: forgets the connection; the user goes offline with lastSeenAt when it was their last one. */
export const handler = instrumented(
  'disconnect',
  async (event: WebSocketEvent): Promise<WebSocketResult> => {
    await disconnected(deps, callerOf(event));
    return { statusCode: 200 };
  },
  webSocketKeys,
);
