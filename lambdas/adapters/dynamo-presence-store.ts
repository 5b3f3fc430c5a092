import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PresenceStore } from '../domain/ports.js';
import type { ConnectionRef, UserPresence } from '../domain/types.js';
import { batchGetAll } from './dynamo-batch.js';
import { isConditionalCheckFailed } from './dynamo-errors.js';

/**
 * One item per user: `connections` maps connection id -> expiry (epoch seconds), `expiresAt` is the item's TTL
 * (the latest expiry), `lastActiveAt` the last connect or heartbeat, `lastSeenAt` the last disconnect.
 * A connection past its expiry is dead even if DynamoDB has not deleted anything yet (TTL is lazy).
 */
interface PresenceItem {
  userId: string;
  connections?: Record<string, number>;
  expiresAt?: number;
  lastActiveAt?: string;
  lastSeenAt?: string;
}

const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

const liveConnections = (item: PresenceItem | undefined, now: Date, except?: string): string[] =>
  Object.entries(item?.connections ?? {})
    .filter(([connectionId, expiresAt]) => connectionId !== except && Number(expiresAt) > epochSeconds(now))
    .map(([connectionId]) => connectionId);

const later = (a?: string, b?: string): string | null => {
  if (!a) return b ?? null;
  if (!b) return a;
  return a > b ? a : b;
};

/** The presence table as the live-connection registry and the source of online/offline status. */
export class DynamoPresenceStore implements PresenceStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async addConnection(ref: ConnectionRef, now: Date, ttlSeconds: number): Promise<{ cameOnline: boolean }> {
    const expiresAt = epochSeconds(now) + ttlSeconds;
    const values = { ':expiresAt': expiresAt, ':now': now.toISOString() };
    // A nested map path can only be set when the map exists, so the first connection creates the map.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const { Attributes } = await this.ddb.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { userId: ref.userId },
            UpdateExpression: 'SET connections.#c = :expiresAt, expiresAt = :expiresAt, lastActiveAt = :now',
            ConditionExpression: 'attribute_exists(connections)',
            ExpressionAttributeNames: { '#c': ref.connectionId },
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_OLD',
          }),
        );
        const old = Attributes as PresenceItem | undefined;
        await this.pruneExpired(ref.userId, old, now);
        return { cameOnline: liveConnections(old, now, ref.connectionId).length === 0 };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
      try {
        await this.ddb.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { userId: ref.userId },
            UpdateExpression: 'SET connections = :connections, expiresAt = :expiresAt, lastActiveAt = :now',
            ConditionExpression: 'attribute_not_exists(connections)',
            ExpressionAttributeValues: { ...values, ':connections': { [ref.connectionId]: expiresAt } },
          }),
        );
        return { cameOnline: true };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
    }
    throw new Error(`could not register connection ${ref.connectionId}`);
  }

  /** Drops entries of connections that expired without a $disconnect, so the map stays small. */
  private async pruneExpired(userId: string, item: PresenceItem | undefined, now: Date): Promise<void> {
    const expired = Object.entries(item?.connections ?? {}).filter(([, expiresAt]) => Number(expiresAt) <= epochSeconds(now));
    if (expired.length === 0) return;
    const names = Object.fromEntries(expired.map(([connectionId], i) => [`#e${i}`, connectionId]));
    const values = Object.fromEntries(expired.map(([, expiresAt], i) => [`:e${i}`, expiresAt]));
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { userId },
          UpdateExpression: `REMOVE ${expired.map((_, i) => `connections.#e${i}`).join(', ')}`,
          // Only if no heartbeat revived them meanwhile.
          ConditionExpression: expired.map((_, i) => `connections.#e${i} = :e${i}`).join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  async removeConnection(ref: ConnectionRef, now: Date, options: { expiringBefore?: Date } = {}): Promise<{ wentOffline: boolean }> {
    const before = options.expiringBefore ? epochSeconds(options.expiringBefore) : undefined;
    try {
      const { Attributes } = await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { userId: ref.userId },
          UpdateExpression: 'REMOVE connections.#c SET lastSeenAt = :now',
          ConditionExpression: before === undefined ? 'attribute_exists(connections.#c)' : 'connections.#c < :before',
          ExpressionAttributeNames: { '#c': ref.connectionId },
          ExpressionAttributeValues: { ':now': now.toISOString(), ...(before === undefined ? {} : { ':before': before }) },
          ReturnValues: 'ALL_OLD',
        }),
      );
      const old = Attributes as PresenceItem | undefined;
      const wasOnline = liveConnections(old, now).length > 0;
      return { wentOffline: wasOnline && liveConnections(old, now, ref.connectionId).length === 0 };
    } catch (error) {
      if (isConditionalCheckFailed(error)) return { wentOffline: false };
      throw error;
    }
  }

  async refresh(ref: ConnectionRef, now: Date, ttlSeconds: number): Promise<boolean> {
    const expiresAt = epochSeconds(now) + ttlSeconds;
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { userId: ref.userId },
          UpdateExpression: 'SET connections.#c = :expiresAt, expiresAt = :expiresAt, lastActiveAt = :now',
          ConditionExpression: 'attribute_exists(connections.#c)',
          ExpressionAttributeNames: { '#c': ref.connectionId },
          ExpressionAttributeValues: { ':expiresAt': expiresAt, ':now': now.toISOString() },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  private async read(userIds: string[]): Promise<Map<string, PresenceItem>> {
    const items = await batchGetAll(
      this.ddb,
      this.tableName,
      userIds.map((userId) => ({ userId })),
    );
    return new Map(items.map((item) => [String(item.userId), item as unknown as PresenceItem]));
  }

  async registeredConnections(userId: string): Promise<string[]> {
    const item = (await this.read([userId])).get(userId);
    return Object.keys(item?.connections ?? {});
  }

  async connectionsOf(userIds: string[], now: Date): Promise<ConnectionRef[]> {
    const items = await this.read(userIds);
    return [...items.values()].flatMap((item) => liveConnections(item, now).map((connectionId) => ({ userId: item.userId, connectionId })));
  }

  async presenceOf(userIds: string[], now: Date): Promise<UserPresence[]> {
    const items = await this.read(userIds);
    return userIds.map((userId) => {
      const item = items.get(userId);
      if (liveConnections(item, now).length > 0) return { userId, status: 'online', lastSeenAt: null };
      return { userId, status: 'offline', lastSeenAt: later(item?.lastSeenAt, item?.lastActiveAt) };
    });
  }
}
