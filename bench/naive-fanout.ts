import { GoneException, PostToConnectionCommand, type ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Deps } from '../lambdas/domain/deps.js';
import type { ServerEvent } from '../lambdas/domain/types.js';

const encoder = new TextEncoder();

/**
 * The naive fanout the benchmark compares Parley with (the classic "chat app" sample): Scan the whole connections
 * table, then PostToConnection to each connection of each member, one request after the other, no batching.
 */
export async function naiveFanout(
  ddb: DynamoDBDocumentClient,
  management: ApiGatewayManagementApiClient,
  presenceTable: string,
  event: ServerEvent,
  members: readonly string[],
  excludeConnectionId: string,
): Promise<number> {
  const wanted = new Set(members);
  const now = Date.now() / 1000;
  const data = encoder.encode(JSON.stringify(event));
  let posted = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await ddb.send(new ScanCommand({ TableName: presenceTable, ExclusiveStartKey: startKey }));
    for (const item of page.Items ?? []) {
      if (!wanted.has(String(item.userId))) continue;
      for (const [connectionId, expiresAt] of Object.entries((item.connections ?? {}) as Record<string, number>)) {
        if (connectionId === excludeConnectionId || Number(expiresAt) <= now) continue;
        try {
          await management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
          posted += 1;
        } catch (error) {
          if (!(error instanceof GoneException)) throw error;
        }
      }
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return posted;
}

/**
 * A `send` route handler for the naive design: the same store as Parley (membership read, then the seq transaction),
 * then `naiveFanout` before the ack, as a single-function chat backend would do it.
 */
export function createNaiveSend(deps: Deps, clients: { ddb: DynamoDBDocumentClient; management: ApiGatewayManagementApiClient }, presenceTable: string) {
  return async (event: { body?: string; requestContext: { connectionId: string; authorizer?: { userId?: string } | null } }) => {
    const request = JSON.parse(event.body ?? '{}') as { requestId: string; conversationId: string; clientMessageId: string; body: string };
    const senderId = event.requestContext.authorizer?.userId ?? '';
    const reply = (frame: Record<string, unknown>) => ({ statusCode: 200, body: JSON.stringify({ ...frame, requestId: request.requestId }) });
    const conversation = await deps.conversations.get(request.conversationId, true);
    if (!conversation?.members.includes(senderId)) return reply({ type: 'error', code: 'forbidden', message: 'not a member' });
    let expected = conversation.lastSeq;
    let epoch = conversation.epoch ?? `naive-${Date.now()}`;
    for (let attempt = 0; attempt < 100; attempt++) {
      const createdAt = new Date().toISOString();
      const message = { conversationId: request.conversationId, clientMessageId: request.clientMessageId, body: request.body, senderId, createdAt, epoch };
      const result = await deps.messages.append(message, expected, deps.limits.idempotencyTtlSeconds);
      if (result.status === 'conflict') {
        expected = result.lastSeq;
        epoch = result.epoch ?? epoch;
        continue;
      }
      if (result.status !== 'stored') return reply({ type: 'error', code: result.status, message: 'not stored' });
      await naiveFanout(
        clients.ddb,
        clients.management,
        presenceTable,
        { type: 'message', message: result.message },
        conversation.members,
        event.requestContext.connectionId,
      );
      return reply({
        type: 'ack',
        conversationId: request.conversationId,
        clientMessageId: request.clientMessageId,
        seq: result.message.seq,
        createdAt,
        duplicate: false,
      });
    }
    return reply({ type: 'error', code: 'unavailable', message: 'too many conflicts' });
  };
}
