import { deps } from '../app/runtime.js';
import { createRouter, toErrorFrame } from '../app/router.js';
import { callerOf, type WebSocketEvent, type WebSocketResult } from './websocket-event.js';

const route = createRouter(deps);

/** Every client action: one reply frame per request, sent back as the route response. */
export const handler = async (event: WebSocketEvent): Promise<WebSocketResult> => {
  let reply;
  try {
    reply = await route(event, callerOf(event));
  } catch (error) {
    reply = toErrorFrame(error);
  }
  return { statusCode: 200, body: JSON.stringify(reply) };
};
