import {
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { tables } from '../../lib/definitions.js';
import type { ConversationStore } from '../domain/ports.js';
import type { Conversation, MemberState } from '../domain/types.js';
import { batchGetAll, batchWriteAll } from './dynamo-batch.js';
import { headKey } from './dynamo-message-store.js';
import { cancellationReasons, isConditionalCheckFailed } from './dynamo-errors.js';

const byUserIndex = tables.members.globalSecondaryIndexes[0].indexName;

interface ConversationItem {
  conversationId: string;
  kind: Conversation['kind'];
  title?: string;
  members: Set<string>;
  createdBy: string;
  createdAt: string;
}

/** The head item of the conversation's partition in the messages table (see `headKey`). */
interface HeadItem {
  lastSeq?: number;
  lastMessageAt?: string;
}

function toConversation(item: ConversationItem, head: HeadItem | undefined): Conversation {
  return {
    conversationId: item.conversationId,
    kind: item.kind,
    title: item.title ?? null,
    members: [...item.members].sort(),
    createdBy: item.createdBy,
    createdAt: item.createdAt,
    lastSeq: Number(head?.lastSeq ?? 0),
    lastMessageAt: head?.lastMessageAt ?? null,
  };
}

function toItem(conversation: Conversation): ConversationItem {
  return {
    conversationId: conversation.conversationId,
    kind: conversation.kind,
    title: conversation.title ?? undefined,
    members: new Set(conversation.members),
    createdBy: conversation.createdBy,
    createdAt: conversation.createdAt,
  };
}

function toMemberState(item: Record<string, unknown>): MemberState {
  return {
    conversationId: String(item.conversationId),
    userId: String(item.userId),
    joinedAt: String(item.joinedAt),
    lastDeliveredSeq: Number(item.lastDeliveredSeq ?? 0),
    lastReadSeq: Number(item.lastReadSeq ?? 0),
  };
}

const memberItem = (conversationId: string, userId: string, joinedAt: string) => ({
  conversationId,
  userId,
  joinedAt,
  lastDeliveredSeq: 0,
  lastReadSeq: 0,
});

const encodeCursor = (conversationId: string) => Buffer.from(conversationId, 'utf8').toString('base64url');
const decodeCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8');

/**
 * Conversations keep their member set on the conversation item, so fanout needs no extra query; their
 * lastSeq lives in the head item the send transaction advances. Member items hold receipt cursors and feed
 * the byUser index.
 */
export class DynamoConversationStore implements ConversationStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly conversationsTable: string,
    private readonly membersTable: string,
    private readonly messagesTable: string,
  ) {}

  async get(conversationId: string, consistent = false): Promise<Conversation | undefined> {
    const [conversation, head] = await Promise.all(
      [
        { TableName: this.conversationsTable, Key: { conversationId } },
        { TableName: this.messagesTable, Key: headKey(conversationId) },
      ].map(async (read) => (await this.ddb.send(new GetCommand({ ...read, ConsistentRead: consistent }))).Item),
    );
    return conversation ? toConversation(conversation as ConversationItem, head as HeadItem | undefined) : undefined;
  }

  async getMany(conversationIds: string[]): Promise<Map<string, Conversation>> {
    const [items, heads] = await Promise.all([
      this.readConversations(conversationIds),
      batchGetAll(this.ddb, this.messagesTable, conversationIds.map(headKey)),
    ]);
    const headOf = new Map(heads.map((head) => [String(head.conversationId), head as HeadItem]));
    return new Map(items.map((item) => [item.conversationId, toConversation(item, headOf.get(item.conversationId))]));
  }

  async membersOf(conversationIds: string[]): Promise<Map<string, string[]>> {
    const items = await this.readConversations(conversationIds);
    return new Map(items.map((item) => [item.conversationId, [...item.members]]));
  }

  private async readConversations(conversationIds: string[]): Promise<ConversationItem[]> {
    const items = await batchGetAll(this.ddb, this.conversationsTable, conversationIds.map((conversationId) => ({ conversationId })));
    return items as unknown as ConversationItem[];
  }

  async createDirect(conversation: Conversation): Promise<{ conversation: Conversation; created: boolean }> {
    try {
      await this.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.conversationsTable,
                Item: toItem(conversation),
                ConditionExpression: 'attribute_not_exists(conversationId)',
              },
            },
            ...conversation.members.map((userId) => ({
              Put: { TableName: this.membersTable, Item: memberItem(conversation.conversationId, userId, conversation.createdAt) },
            })),
          ],
        }),
      );
      return { conversation, created: true };
    } catch (error) {
      if (cancellationReasons(error)?.[0]?.code !== 'ConditionalCheckFailed') throw error;
      const existing = await this.get(conversation.conversationId, true);
      if (!existing) throw error;
      return { conversation: existing, created: false };
    }
  }

  async createGroup(conversation: Conversation): Promise<{ conversation: Conversation; created: boolean }> {
    // A retried create must not rewrite member items: that would reset their receipt cursors.
    const existing = await this.get(conversation.conversationId, true);
    if (existing) return { conversation: existing, created: false };
    // Member items first: until the conversation item exists they are invisible (listings skip them),
    // and a group larger than one transaction (100 items) is still all-or-nothing from the outside.
    await batchWriteAll(
      this.ddb,
      this.membersTable,
      conversation.members.map((userId) => memberItem(conversation.conversationId, userId, conversation.createdAt)),
    );
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.conversationsTable,
          Item: toItem(conversation),
          ConditionExpression: 'attribute_not_exists(conversationId)',
        }),
      );
      return { conversation, created: true };
    } catch (error) {
      // Two retries raced; the other one created it.
      if (!isConditionalCheckFailed(error)) throw error;
      const stored = await this.get(conversation.conversationId, true);
      if (!stored) throw error;
      return { conversation: stored, created: false };
    }
  }

  async addMembers(
    conversationId: string,
    callerId: string,
    userIds: string[],
    expectedSize: number,
    joinedAt: string,
  ): Promise<boolean> {
    try {
      await this.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.conversationsTable,
                Key: { conversationId },
                UpdateExpression: 'ADD members :added',
                ConditionExpression: 'contains(members, :caller) AND size(members) = :expectedSize',
                ExpressionAttributeValues: { ':added': new Set(userIds), ':caller': callerId, ':expectedSize': expectedSize },
              },
            },
            ...userIds.map((userId) => ({
              Put: {
                TableName: this.membersTable,
                Item: memberItem(conversationId, userId, joinedAt),
                ConditionExpression: 'attribute_not_exists(userId)',
              },
            })),
          ],
        }),
      );
      return true;
    } catch (error) {
      const reasons = cancellationReasons(error);
      // A failed condition, or another transaction on the same items (TransactionConflict): the member list may have
      // changed, so the caller re-reads and retries.
      if (reasons?.some((reason) => reason.code === 'ConditionalCheckFailed' || reason.code === 'TransactionConflict')) return false;
      throw error;
    }
  }

  async listMemberships(
    userId: string,
    limit: number,
    cursor?: string,
  ): Promise<{ items: MemberState[]; nextCursor: string | null }> {
    const result = await this.ddb.send(
      new QueryCommand({
        TableName: this.membersTable,
        IndexName: byUserIndex,
        KeyConditionExpression: 'userId = :userId',
        ExpressionAttributeValues: { ':userId': userId },
        Limit: limit,
        ExclusiveStartKey: cursor ? { userId, conversationId: decodeCursor(cursor) } : undefined,
      }),
    );
    const items = (result.Items ?? []).map(toMemberState);
    const last = result.LastEvaluatedKey;
    return { items, nextCursor: last ? encodeCursor(String(last.conversationId)) : null };
  }

  async getMember(conversationId: string, userId: string): Promise<MemberState | undefined> {
    const { Item } = await this.ddb.send(new GetCommand({ TableName: this.membersTable, Key: { conversationId, userId } }));
    return Item ? toMemberState(Item) : undefined;
  }

  async listMemberStates(conversationId: string): Promise<MemberState[]> {
    const states: MemberState[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(
        new QueryCommand({
          TableName: this.membersTable,
          KeyConditionExpression: 'conversationId = :c',
          ExpressionAttributeValues: { ':c': conversationId },
          ExclusiveStartKey: startKey,
        }),
      );
      states.push(...(page.Items ?? []).map(toMemberState));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return states;
  }

  async advanceReceipt(
    conversationId: string,
    userId: string,
    kind: 'delivered' | 'read',
    seq: number,
  ): Promise<MemberState | undefined> {
    // A read receipt implies delivery; each cursor only moves forward, so each gets its own conditional write.
    const attributes = kind === 'read' ? ['lastReadSeq', 'lastDeliveredSeq'] : ['lastDeliveredSeq'];
    let latest: MemberState | undefined;
    for (const attribute of attributes) {
      try {
        const { Attributes } = await this.ddb.send(
          new UpdateCommand({
            TableName: this.membersTable,
            Key: { conversationId, userId },
            UpdateExpression: 'SET #cursor = :seq',
            ConditionExpression: 'attribute_exists(userId) AND #cursor < :seq',
            ExpressionAttributeNames: { '#cursor': attribute },
            ExpressionAttributeValues: { ':seq': seq },
            ReturnValues: 'ALL_NEW',
          }),
        );
        if (Attributes) latest = toMemberState(Attributes);
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
    }
    return latest;
  }
}
