import { DeleteConnectionCommand, GoneException, PostToConnectionCommand, type ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionPusher, PushResult } from '../domain/ports.js';
import { logger } from '../shared/logger.js';

const encoder = new TextEncoder();

/** PostToConnection and DeleteConnection with the outcome classified: 410 means the connection is gone, anything else failed. */
export class ManagementApiPusher implements ConnectionPusher {
  constructor(private readonly client: ApiGatewayManagementApiClient) {}

  async post(connectionId: string, data: string): Promise<PushResult> {
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: encoder.encode(data) }));
      return 'ok';
    } catch (error) {
      if (error instanceof GoneException) return 'gone';
      logger.warn('PostToConnection failed', { connectionId, error: error as Error });
      return 'failed';
    }
  }

  async close(connectionId: string): Promise<PushResult> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
      return 'ok';
    } catch (error) {
      if (error instanceof GoneException) return 'gone';
      logger.warn('DeleteConnection failed', { connectionId, error: error as Error });
      return 'failed';
    }
  }
}
