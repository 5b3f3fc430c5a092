import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { groupJoinNoticeSeconds } from '../../lib/definitions.js';
import { mapLimit } from '../domain/concurrency.js';
import type { GroupConnection, PresenceStore } from '../domain/ports.js';
import type { ConnectionRef, UserPresence } from '../domain/types.js';
import { batchGetAll, batchWriteAll } from './dynamo-batch.js';
import { isConditionalCheckFailed } from './dynamo-errors.js';

/**
 * One item per user: `connections` maps connection id -> expiry (epoch seconds), `expiresAt` is the item's TTL
 * (the latest expiry), `lastActiveAt` the last connect or heartbeat, `lastSeenAt` the last disconnect.
 * `joinedGroups` holds `<epoch seconds>|<conversationId>` notes of recent group joins (see `noteJoined`).
 * A connection past its expiry is dead even if DynamoDB has not deleted anything yet (TTL is lazy).
 */
interface PresenceItem {
  userId: string;
  connections?: Record<string, number>;
  joinedGroups?: Set<string>;
  expiresAt?: number;
  lastActiveAt?: string;
  lastSeenAt?: string;
}

const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

const liveConnections = (item: PresenceItem | undefined, now: Date, except?: string): string[] =>
  Object.entries(item?.connections ?? {})
    .filter(([connectionId, expiresAt]) => connectionId !== except && Number(expiresAt) > epochSeconds(now))
    .map(([connectionId]) => connectionId);

/** The groups of `joinedGroups` notes younger than `groupJoinNoticeSeconds`, and the older notes (to prune). */
function joinNotes(item: PresenceItem | undefined, now: Date): { recent: string[]; old: string[] } {
  const notes = [...(item?.joinedGroups ?? [])];
  const cutoff = epochSeconds(now) - groupJoinNoticeSeconds;
  const isRecent = (note: string) => Number(note.slice(0, note.indexOf('|'))) >= cutoff;
  return { recent: notes.filter(isRecent).map((note) => note.slice(note.indexOf('|') + 1)), old: notes.filter((note) => !isRecent(note)) };
}

/** The sort key of a group connection item: user ids never contain `#` (see `userIdPattern`). */
const connectionKey = (ref: ConnectionRef) => `${ref.userId}#${ref.connectionId}`;

/** Parallel single-item updates of one `noteJoined`. */
const noteConcurrency = 16;

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
    private readonly groupConnectionsTable: string,
  ) {}

  async addConnection(ref: ConnectionRef, now: Date, ttlSeconds: number): Promise<{ cameOnline: boolean; recentGroups: string[] }> {
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
        const notes = joinNotes(old, now);
        await Promise.all([this.pruneExpired(ref.userId, old, now), this.pruneNotes(ref.userId, notes.old)]);
        return { cameOnline: liveConnections(old, now, ref.connectionId).length === 0, recentGroups: notes.recent };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
      try {
        // The item may exist without connections: `noteJoined` creates it for a user who is offline.
        const { Attributes } = await this.ddb.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { userId: ref.userId },
            UpdateExpression: 'SET connections = :connections, expiresAt = :expiresAt, lastActiveAt = :now',
            ConditionExpression: 'attribute_not_exists(connections)',
            ExpressionAttributeValues: { ...values, ':connections': { [ref.connectionId]: expiresAt } },
            ReturnValues: 'ALL_OLD',
          }),
        );
        const notes = joinNotes(Attributes as PresenceItem | undefined, now);
        await this.pruneNotes(ref.userId, notes.old);
        return { cameOnline: true, recentGroups: notes.recent };
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

  /** Drops join notes past `groupJoinNoticeSeconds` (deleting set elements needs no condition). */
  private async pruneNotes(userId: string, old: string[]): Promise<void> {
    if (old.length === 0) return;
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { userId },
        UpdateExpression: 'DELETE joinedGroups :old',
        ExpressionAttributeValues: { ':old': new Set(old) },
      }),
    );
  }

  async noteJoined(userIds: string[], conversationId: string, now: Date): Promise<ConnectionRef[]> {
    const note = `${epochSeconds(now)}|${conversationId}`;
    const found = await mapLimit([...new Set(userIds)], noteConcurrency, async (userId) => {
      const { Attributes } = await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { userId },
          // A user who never connected gets an item that expires with the note, so TTL removes it.
          UpdateExpression: 'ADD joinedGroups :note SET expiresAt = if_not_exists(expiresAt, :expiresAt)',
          ExpressionAttributeValues: { ':note': new Set([note]), ':expiresAt': epochSeconds(now) + groupJoinNoticeSeconds },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const item = Attributes as PresenceItem | undefined;
      // A user added to many groups before connecting again must not grow the item toward DynamoDB's 400 KB.
      await this.pruneNotes(userId, joinNotes(item, now).old);
      return liveConnections(item, now).map((connectionId) => ({ userId, connectionId }));
    });
    return found.flat();
  }

  async indexConnections(entries: GroupConnection[], expiresAt: number): Promise<void> {
    await batchWriteAll(
      this.ddb,
      this.groupConnectionsTable,
      entries.map(({ conversationId, ref }) => ({ PutRequest: { Item: { conversationId, connection: connectionKey(ref), expiresAt } } })),
    );
  }

  async unindexConnections(entries: GroupConnection[]): Promise<void> {
    await batchWriteAll(
      this.ddb,
      this.groupConnectionsTable,
      entries.map(({ conversationId, ref }) => ({ DeleteRequest: { Key: { conversationId, connection: connectionKey(ref) } } })),
    );
  }

  async groupConnections(conversationId: string, fromUserId: string, toUserId: string, now: Date): Promise<ConnectionRef[]> {
    const refs: ConnectionRef[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const result = await this.ddb.send(
        new QueryCommand({
          TableName: this.groupConnectionsTable,
          // `$` sorts right after `#` and below every user id character, so the range holds exactly these users' items.
          KeyConditionExpression: 'conversationId = :c AND #k BETWEEN :from AND :to',
          ExpressionAttributeNames: { '#k': 'connection' },
          ExpressionAttributeValues: { ':c': conversationId, ':from': fromUserId, ':to': `${toUserId}$` },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of result.Items ?? []) {
        if (Number(item.expiresAt) <= epochSeconds(now)) continue;
        const key = String(item.connection);
        const at = key.indexOf('#');
        refs.push({ userId: key.slice(0, at), connectionId: key.slice(at + 1) });
      }
      startKey = result.LastEvaluatedKey;
    } while (startKey);
    return refs;
  }

  async removeConnection(ref: ConnectionRef, now: Date, options: { expiringBefore?: Date } = {}): Promise<{ removed: boolean; wentOffline: boolean }> {
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
      return { removed: true, wentOffline: wasOnline && liveConnections(old, now, ref.connectionId).length === 0 };
    } catch (error) {
      if (isConditionalCheckFailed(error)) return { removed: false, wentOffline: false };
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
