import { GetCommand, QueryCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AppendResult, MessageStore, NewMessage } from '../domain/ports.js';
import type { Message } from '../domain/types.js';
import { cancellationReasons } from './dynamo-errors.js';

/** The idempotency key of a send: who sent which client id into which conversation. */
export const idempotencyKey = (message: Pick<NewMessage, 'conversationId' | 'senderId' | 'clientMessageId'>) =>
  JSON.stringify([message.conversationId, message.senderId, message.clientMessageId]);

function toMessage(item: Record<string, unknown>): Message {
  return {
    conversationId: String(item.conversationId),
    seq: Number(item.seq),
    senderId: String(item.senderId),
    clientMessageId: String(item.clientMessageId),
    body: String(item.body),
    createdAt: String(item.createdAt),
    ...(typeof item.epoch === 'string' ? { epoch: item.epoch } : {}),
  };
}

/**
 * Key of a conversation's head item: seq 0 of its partition in the messages table, holding `lastSeq` and
 * `lastMessageAt`. A small item of its own, so advancing it costs the same whatever the size of the group
 * (the conversation item carries the member set and grows with it).
 */
export const headKey = (conversationId: string) => ({ conversationId, seq: 0 });

/**
 * Appends with one TransactWriteItems: advance the head's lastSeq from the expected value, put the message at
 * that seq, and claim the idempotency key. Any failed condition cancels all three, so seqs stay gap-free and a
 * retried send stores nothing. Membership is checked by the caller's consistent read; members are never removed.
 */
export class DynamoMessageStore implements MessageStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly messagesTable: string,
    private readonly idempotencyTable: string,
  ) {}

  async append(message: NewMessage, expectedLastSeq: number, idempotencyTtlSeconds: number): Promise<AppendResult> {
    const seq = expectedLastSeq + 1;
    const key = idempotencyKey(message);
    try {
      await this.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.messagesTable,
                Key: headKey(message.conversationId),
                // The first item of a timeline gives the conversation its epoch.
                UpdateExpression: 'SET lastSeq = :seq, lastMessageAt = :at, epoch = if_not_exists(epoch, :epoch)',
                // A new conversation may have no head yet; every item of a timeline carries its epoch.
                ConditionExpression:
                  expectedLastSeq === 0
                    ? '(attribute_not_exists(lastSeq) OR lastSeq = :expected) AND (attribute_not_exists(epoch) OR epoch = :epoch)'
                    : 'lastSeq = :expected AND epoch = :epoch',
                ExpressionAttributeValues: {
                  ':seq': seq,
                  ':at': message.createdAt,
                  ':expected': expectedLastSeq,
                  ':epoch': message.epoch,
                },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            {
              Put: {
                TableName: this.messagesTable,
                Item: { ...message, seq },
                ConditionExpression: 'attribute_not_exists(seq)',
              },
            },
            {
              Put: {
                TableName: this.idempotencyTable,
                Item: {
                  idempotencyKey: key,
                  seq,
                  createdAt: message.createdAt,
                  expiresAt: Math.floor(Date.parse(message.createdAt) / 1000) + idempotencyTtlSeconds,
                },
                ConditionExpression: 'attribute_not_exists(idempotencyKey)',
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
          ],
        }),
      );
      return { status: 'stored', message: { ...message, seq } };
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (!reasons) throw error;
      const [head, , idempotency] = reasons;
      if (idempotency?.code === 'ConditionalCheckFailed') {
        const previous = idempotency.item ?? (await this.readIdempotency(key));
        if (!previous) throw error;
        return { status: 'duplicate', seq: Number(previous.seq), createdAt: String(previous.createdAt) };
      }
      if (head?.code === 'ConditionalCheckFailed') {
        const epoch = head.item?.epoch;
        return { status: 'conflict', lastSeq: Number(head.item?.lastSeq ?? 0), epoch: typeof epoch === 'string' ? epoch : null };
      }
      if (reasons.some((reason) => reason.code === 'TransactionConflict')) {
        return { status: 'conflict', lastSeq: expectedLastSeq, epoch: message.epoch };
      }
      throw error;
    }
  }

  private async readIdempotency(key: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.ddb.send(
      new GetCommand({ TableName: this.idempotencyTable, Key: { idempotencyKey: key }, ConsistentRead: true }),
    );
    return Item;
  }

  async before(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<Message[]> {
    if (beforeSeq !== undefined && beforeSeq <= 1) return [];
    const { Items } = await this.ddb.send(
      new QueryCommand({
        TableName: this.messagesTable,
        // Seq 0 is the head item, not a message.
        KeyConditionExpression: 'conversationId = :c AND seq BETWEEN :first AND :last',
        ExpressionAttributeValues: { ':c': conversationId, ':first': 1, ':last': (beforeSeq ?? Number.MAX_SAFE_INTEGER) - 1 },
        ScanIndexForward: false,
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    return (Items ?? []).map(toMessage);
  }

  async after(conversationId: string, afterSeq: number, limit: number): Promise<Message[]> {
    const { Items } = await this.ddb.send(
      new QueryCommand({
        TableName: this.messagesTable,
        KeyConditionExpression: 'conversationId = :c AND seq > :after',
        ExpressionAttributeValues: { ':c': conversationId, ':after': afterSeq },
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    return (Items ?? []).map(toMessage);
  }
}
