import { DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tables } from '../../lib/definitions.js';
import type { ConversationStore, MembershipPage } from '../domain/ports.js';
import type { Conversation, ConversationHead, MemberState, Role } from '../domain/types.js';
import { mapLimit } from '../domain/concurrency.js';
import { UnavailableError } from '../domain/errors.js';
import { batchGetAll } from './dynamo-batch.js';
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
  roles?: Record<string, Role>;
  membershipSeq?: number;
  /** Direct conversations: the member who has not accepted yet (a DynamoDB set, gone when empty). */
  pending?: Set<string>;
  externalId?: string;
  metadata?: Record<string, string>;
}

/** The head item of the conversation's partition in the messages table (see `headKey`). */
interface HeadItem {
  lastSeq?: number;
  lastMessageAt?: string;
  epoch?: string;
  membershipSeq?: number;
  retentionDays?: number;
  lastExpiresAt?: number;
}

function toHead(conversationId: string, item: HeadItem | undefined): ConversationHead {
  return {
    conversationId,
    lastSeq: Number(item?.lastSeq ?? 0),
    lastMessageAt: item?.lastMessageAt ?? null,
    epoch: item?.epoch ?? null,
    ...(item?.membershipSeq === undefined ? {} : { membershipSeq: Number(item.membershipSeq) }),
    ...(item?.retentionDays === undefined ? {} : { retentionDays: Number(item.retentionDays) }),
  };
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
    ...(item.roles ? { roles: item.roles } : {}),
    membershipSeq: Number(item.membershipSeq ?? 0),
    ...(item.kind === 'direct' ? { pending: [...(item.pending ?? [])] } : {}),
    epoch: head?.epoch ?? null,
    ...(item.externalId === undefined ? {} : { externalId: item.externalId }),
    ...(item.metadata === undefined ? {} : { metadata: item.metadata }),
    ...(head?.retentionDays === undefined ? {} : { retentionDays: Number(head.retentionDays) }),
    ...(head?.lastExpiresAt === undefined ? {} : { lastExpiresAt: Number(head.lastExpiresAt) }),
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
    ...(conversation.roles ? { roles: conversation.roles } : {}),
    ...(conversation.pending?.length ? { pending: new Set(conversation.pending) } : {}),
    ...(conversation.externalId === undefined ? {} : { externalId: conversation.externalId }),
    ...(conversation.metadata === undefined ? {} : { metadata: conversation.metadata }),
  };
}

function toMemberState(item: Record<string, unknown>): MemberState {
  return {
    conversationId: String(item.conversationId),
    userId: String(item.userId),
    joinedAt: String(item.joinedAt),
    lastDeliveredSeq: Number(item.lastDeliveredSeq ?? 0),
    lastReadSeq: Number(item.lastReadSeq ?? 0),
    ...(typeof item.peerId === 'string' ? { peerId: item.peerId } : {}),
    ...(item.removedAtSeq === undefined ? {} : { removedAtSeq: Number(item.removedAtSeq) }),
    ...(typeof item.role === 'string' ? { role: item.role as Role } : {}),
    ...(item.peerPending === true ? { peerPending: true } : {}),
  };
}

const memberItem = (conversationId: string, userId: string, joinedAt: string, peerId?: string, extra: Record<string, unknown> = {}) => ({
  conversationId,
  userId,
  joinedAt,
  lastDeliveredSeq: 0,
  lastReadSeq: 0,
  ...(peerId === undefined ? {} : { peerId }),
  ...extra,
});

/** Groups up to this size are created in one transaction (members + the conversation item: at most 100 items). */
const transactionalGroupSize = 99;

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
    // The two items are read in parallel; a consistent read retries until both show the same membershipSeq
    // (they are written in one transaction), so the member set belongs to the lastSeq a send conditions on.
    for (let attempt = 0; ; attempt++) {
      const [conversation, head] = await Promise.all(
        [
          { TableName: this.conversationsTable, Key: { conversationId } },
          { TableName: this.messagesTable, Key: headKey(conversationId) },
        ].map(async (read) => (await this.ddb.send(new GetCommand({ ...read, ConsistentRead: consistent }))).Item),
      );
      if (!conversation) return undefined;
      const item = conversation as ConversationItem;
      const agree = Number(item.membershipSeq ?? 0) === Number((head as HeadItem | undefined)?.membershipSeq ?? 0);
      if (!consistent || agree || attempt >= 4) {
        if (!agree) throw new UnavailableError('the member list kept changing, retry');
        return toConversation(item, head as HeadItem | undefined);
      }
    }
  }

  async getMany(conversationIds: string[]): Promise<Map<string, Conversation>> {
    const [items, heads] = await Promise.all([
      this.readConversations(conversationIds),
      batchGetAll(this.ddb, this.messagesTable, conversationIds.map(headKey)),
    ]);
    const headOf = new Map(heads.map((head) => [String(head.conversationId), head as HeadItem]));
    return new Map(items.map((item) => [item.conversationId, toConversation(item, headOf.get(item.conversationId))]));
  }

  async heads(conversationIds: string[]): Promise<Map<string, ConversationHead>> {
    const items = await batchGetAll(this.ddb, this.messagesTable, conversationIds.map(headKey));
    return new Map(items.map((item) => [String(item.conversationId), toHead(String(item.conversationId), item as HeadItem)]));
  }

  async membersOf(conversationIds: string[]): Promise<Map<string, string[]>> {
    const items = await this.readConversations(conversationIds);
    return new Map(items.map((item) => [item.conversationId, [...item.members]]));
  }

  async audienceOf(conversationIds: string[]): Promise<Map<string, { members: string[]; pending: string[] }>> {
    const items = await this.readConversations(conversationIds);
    return new Map(items.map((item) => [item.conversationId, { members: [...item.members], pending: [...(item.pending ?? [])] }]));
  }

  private async readConversations(conversationIds: string[]): Promise<ConversationItem[]> {
    const items = await batchGetAll(
      this.ddb,
      this.conversationsTable,
      conversationIds.map((conversationId) => ({ conversationId })),
    );
    return items as unknown as ConversationItem[];
  }

  async createDirect(conversation: Conversation): Promise<{ conversation: Conversation; created: boolean }> {
    const members = conversation.members.map((userId) =>
      memberItem(
        conversation.conversationId,
        userId,
        conversation.createdAt,
        conversation.members.find((member) => member !== userId),
        // The opener sees the peer's presence only once the peer accepted (sent something).
        conversation.pending?.some((pending) => pending !== userId) ? { peerPending: true } : {},
      ),
    );
    return this.createInOneTransaction(conversation, members);
  }

  /**
   * Writes the conversation item and its member items in one transaction, so they exist together or not at all;
   * when another create won (a failed condition, or a concurrent transaction), returns the stored conversation.
   */
  private async createInOneTransaction(
    conversation: Conversation,
    members: Record<string, unknown>[],
  ): Promise<{ conversation: Conversation; created: boolean }> {
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
            ...members.map((Item) => ({ Put: { TableName: this.membersTable, Item } })),
          ],
        }),
      );
      return { conversation, created: true };
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (reasons?.[0]?.code !== 'ConditionalCheckFailed' && !reasons?.some((reason) => reason.code === 'TransactionConflict')) throw error;
      const stored = await this.get(conversation.conversationId, true);
      if (!stored) throw error;
      return { conversation: stored, created: false };
    }
  }

  async createGroup(conversation: Conversation): Promise<{ conversation: Conversation; created: boolean }> {
    // A retried create must not rewrite member items: that would reset their receipt cursors.
    const existing = await this.get(conversation.conversationId, true);
    if (existing) return { conversation: existing, created: false };
    const members = conversation.members.map((userId) =>
      memberItem(conversation.conversationId, userId, conversation.createdAt, undefined, { role: conversation.roles?.[userId] ?? 'member' }),
    );
    // One transaction where it fits: two concurrent creates with one clientRequestId cannot leave the loser's members.
    if (members.length <= transactionalGroupSize) return this.createInOneTransaction(conversation, members);
    // Too large for one transaction: conditional puts (never overwriting a member item another create wrote),
    // then the conversation item; the loser of a race deletes the member items it wrote for users the winner lacks.
    const written = (
      await mapLimit(members, 16, async (Item) => {
        try {
          await this.ddb.send(new PutCommand({ TableName: this.membersTable, Item, ConditionExpression: 'attribute_not_exists(userId)' }));
          return Item.userId;
        } catch (error) {
          if (!isConditionalCheckFailed(error)) throw error;
          return undefined;
        }
      })
    ).filter((userId): userId is string => userId !== undefined);
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
      // Two creates raced; the other one created it.
      if (!isConditionalCheckFailed(error)) throw error;
      const stored = await this.get(conversation.conversationId, true);
      if (!stored) throw error;
      const strays = written.filter((userId) => !stored.members.includes(userId));
      await mapLimit(strays, 16, (userId) =>
        this.ddb.send(new DeleteCommand({ TableName: this.membersTable, Key: { conversationId: conversation.conversationId, userId } })),
      );
      return { conversation: stored, created: false };
    }
  }

  async listMemberships(userId: string, page: MembershipPage): Promise<{ items: MemberState[]; next: string | null }> {
    const range = this.membershipRange(page.from, page.through);
    // One item past the page tells where the next page starts.
    const result = await this.ddb.send(
      new QueryCommand({
        TableName: this.membersTable,
        IndexName: byUserIndex,
        KeyConditionExpression: `userId = :userId${range.condition}`,
        ExpressionAttributeValues: { ':userId': userId, ...range.values },
        Limit: page.limit + 1,
      }),
    );
    const found = (result.Items ?? []).map(toMemberState);
    const items = found.slice(0, page.limit);
    if (found.length > page.limit) return { items, next: found[page.limit]!.conversationId };
    // A page cut short only by the range (or by DynamoDB's 1 MB page) still has to say where the rest begins.
    const after = result.LastEvaluatedKey ? items.at(-1)?.conversationId : page.through;
    if (after === undefined) return { items, next: null };
    const beyond = await this.ddb.send(
      new QueryCommand({
        TableName: this.membersTable,
        IndexName: byUserIndex,
        KeyConditionExpression: 'userId = :userId AND conversationId > :after',
        ExpressionAttributeValues: { ':userId': userId, ':after': after },
        ProjectionExpression: 'conversationId',
        Limit: 1,
      }),
    );
    return { items, next: beyond.Items?.[0] ? String(beyond.Items[0].conversationId) : null };
  }

  private membershipRange(from?: string, through?: string): { condition: string; values: Record<string, string> } {
    if (from !== undefined && through !== undefined) {
      return { condition: ' AND conversationId BETWEEN :from AND :through', values: { ':from': from, ':through': through } };
    }
    if (from !== undefined) return { condition: ' AND conversationId >= :from', values: { ':from': from } };
    if (through !== undefined) return { condition: ' AND conversationId <= :through', values: { ':through': through } };
    return { condition: '', values: {} };
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

  async advanceReceipt(conversationId: string, userId: string, kind: 'delivered' | 'read', seq: number): Promise<MemberState | undefined> {
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
