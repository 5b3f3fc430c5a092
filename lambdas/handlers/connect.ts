import { connectAuthorizer } from '../../lib/definitions.js';
import { instrumented } from '../app/instrument.js';
import { deps } from '../app/connection-runtime.js';
import { offeredProtocols } from '../domain/auth.js';
import { connected } from '../domain/presence.js';
import { scheduleSessionEnd } from '../domain/sessions.js';
import { logger } from '../shared/logger.js';
import { callerOf, webSocketKeys, type WebSocketEvent, type WebSocketResult } from './websocket-event.js';

/** $connect: registers the connection and schedules its close at the token's expiry; echoes the `parley` subprotocol when the token came in that header. */
export const handler = instrumented(
  'connect',
  async (event: WebSocketEvent): Promise<WebSocketResult> => {
    try {
      const caller = callerOf(event);
      await connected(deps, caller);
      await scheduleSessionEnd(deps, caller);
    } catch (error) {
      logger.error('connect failed', { error: error as Error });
      return { statusCode: 500 };
    }
    const protocolOffered = offeredProtocols(event.headers).includes(connectAuthorizer.subprotocol);
    return protocolOffered ? { statusCode: 200, headers: { [connectAuthorizer.tokenProtocolHeader]: connectAuthorizer.subprotocol } } : { statusCode: 200 };
  },
  webSocketKeys,
);
