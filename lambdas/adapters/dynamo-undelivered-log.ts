import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { UndeliveredEntry } from '../domain/events.js';
import type { UndeliveredLog } from '../domain/ports.js';

/**
 * The `undelivered` table: one PutItem per entry, keyed by its deterministic deliveryId. A repeated put of the same
 * entry is a MODIFY (or nothing) on the stream, which the event source filters out, so it yields no second event.
 */
export class DynamoUndeliveredLog implements UndeliveredLog {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async record(entry: UndeliveredEntry, ttlSeconds: number): Promise<void> {
    // Expiry from the message's time, so a retried write stores the identical item.
    const expiresAt = Math.floor(Date.parse(entry.occurredAt) / 1000) + ttlSeconds;
    await this.ddb.send(new PutCommand({ TableName: this.table, Item: { ...entry, expiresAt } }));
  }
}
