import { DeleteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Ban, UserStore } from '../domain/ports.js';
import type { GroupAddSetting, Invitation } from '../domain/types.js';
import { batchGetAll } from './dynamo-batch.js';

/** Sort keys of the items in a user's partition of the `users` table. */
export const userItems = {
  settings: 'settings',
  block: (blockedUserId: string) => `block#${blockedUserId}`,
  invitation: (conversationId: string) => `invite#${conversationId}`,
  reaction: (conversationId: string, seq: number, emoji: string) => `reaction#${conversationId}#${seq}#${emoji}`,
  ban: 'ban',
  erased: 'erased',
};

/** Per-user data in one partition per user, so each kind of item is one Query or GetItem away. */
export class DynamoUserStore implements UserStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async settingsOf(userId: string): Promise<{ groupAdd: GroupAddSetting }> {
    const { Item } = await this.ddb.send(new GetCommand({ TableName: this.table, Key: { userId, item: userItems.settings } }));
    return { groupAdd: Item?.groupAdd === 'contacts' ? 'contacts' : 'anyone' };
  }

  async groupAddOf(userIds: string[]): Promise<Map<string, GroupAddSetting>> {
    const unique = [...new Set(userIds)];
    const items =
      unique.length === 0
        ? []
        : await batchGetAll(
            this.ddb,
            this.table,
            unique.map((userId) => ({ userId, item: userItems.settings })),
          );
    const contacts = new Set(items.filter((item) => item.groupAdd === 'contacts').map((item) => String(item.userId)));
    return new Map(unique.map((userId) => [userId, contacts.has(userId) ? 'contacts' : 'anyone']));
  }

  async updateSettings(userId: string, settings: { groupAdd: GroupAddSetting }): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.table, Item: { userId, item: userItems.settings, ...settings } }));
  }

  async block(userId: string, blockedUserId: string, at: string): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.table, Item: { userId, item: userItems.block(blockedUserId), blockedUserId, blockedAt: at } }));
  }

  async unblock(userId: string, blockedUserId: string): Promise<void> {
    await this.ddb.send(new DeleteCommand({ TableName: this.table, Key: { userId, item: userItems.block(blockedUserId) } }));
  }

  async blockedBy(userId: string, limit: number): Promise<string[]> {
    return (await this.prefix(userId, 'block#', limit)).map((item) => String(item.blockedUserId));
  }

  async whoBlocked(blockers: string[], userId: string): Promise<Set<string>> {
    const others = [...new Set(blockers)].filter((blocker) => blocker !== userId);
    if (others.length === 0) return new Set();
    const found = await batchGetAll(
      this.ddb,
      this.table,
      others.map((blocker) => ({ userId: blocker, item: userItems.block(userId) })),
    );
    return new Set(found.map((item) => String(item.userId)));
  }

  async invitationsOf(userId: string, limit: number): Promise<Invitation[]> {
    return (await this.prefix(userId, 'invite#', limit)).map(toInvitation);
  }

  async invitation(userId: string, conversationId: string): Promise<Invitation | undefined> {
    const { Item } = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: { userId, item: userItems.invitation(conversationId) }, ConsistentRead: true }),
    );
    return Item ? toInvitation(Item) : undefined;
  }

  async putInvitation(userId: string, invitation: Invitation): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.table, Item: { userId, item: userItems.invitation(invitation.conversationId), ...invitation } }));
  }

  async deleteInvitation(userId: string, conversationId: string): Promise<void> {
    await this.ddb.send(new DeleteCommand({ TableName: this.table, Key: { userId, item: userItems.invitation(conversationId) } }));
  }

  async hasItem(userId: string, item: string): Promise<boolean> {
    const { Item } = await this.ddb.send(new GetCommand({ TableName: this.table, Key: { userId, item }, ConsistentRead: true }));
    return Item !== undefined;
  }

  async ban(userId: string, ban: Ban): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.table, Item: { userId, item: userItems.ban, ...ban } }));
  }

  async unban(userId: string): Promise<void> {
    await this.ddb.send(new DeleteCommand({ TableName: this.table, Key: { userId, item: userItems.ban } }));
  }

  async banOf(userId: string): Promise<Ban | undefined> {
    const { Item } = await this.ddb.send(new GetCommand({ TableName: this.table, Key: { userId, item: userItems.ban }, ConsistentRead: true }));
    if (!Item) return undefined;
    return { bannedAt: String(Item.bannedAt), ...(typeof Item.reason === 'string' ? { reason: Item.reason } : {}) };
  }

  async markErased(userId: string, at: string): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.table, Item: { userId, item: userItems.erased, erasedAt: at } }));
  }

  async erasedAt(userIds: string[]): Promise<Map<string, string>> {
    if (userIds.length === 0) return new Map();
    const items = await batchGetAll(
      this.ddb,
      this.table,
      userIds.map((userId) => ({ userId, item: userItems.erased })),
    );
    return new Map(items.map((item) => [String(item.userId), String(item.erasedAt)]));
  }

  private async prefix(userId: string, prefix: string, limit: number): Promise<Record<string, unknown>[]> {
    const { Items } = await this.ddb.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'userId = :u AND begins_with(#item, :p)',
        ExpressionAttributeNames: { '#item': 'item' },
        ExpressionAttributeValues: { ':u': userId, ':p': prefix },
        Limit: limit,
      }),
    );
    return Items ?? [];
  }
}

const toInvitation = (item: Record<string, unknown>): Invitation => ({
  conversationId: String(item.conversationId),
  title: String(item.title ?? ''),
  invitedBy: String(item.invitedBy),
  createdAt: String(item.createdAt),
});
