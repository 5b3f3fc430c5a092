import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { UserRateLimiter } from '../domain/ports.js';
import { isConditionalCheckFailed } from './dynamo-errors.js';

/**
 * Fixed-window counters, one small item per key and window: a request costs one conditional UpdateItem (1 WRU).
 * The condition refuses the request once the window is full, so a refused request changes nothing; the items
 * expire through TTL soon after their window.
 */
export class DynamoUserRateLimiter implements UserRateLimiter {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async hit(key: string, limit: number, windowSeconds: number, now: Date): Promise<number> {
    const windowMs = windowSeconds * 1000;
    const windowStart = Math.floor(now.getTime() / windowMs) * windowMs;
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { bucket: `${key}#${windowStart}` },
          UpdateExpression: 'ADD hits :one SET expiresAt = if_not_exists(expiresAt, :expiresAt)',
          ConditionExpression: 'attribute_not_exists(hits) OR hits < :limit',
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':expiresAt': Math.ceil((windowStart + 2 * windowMs) / 1000) },
        }),
      );
      return 0;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      return Math.max(1, windowStart + windowMs - now.getTime());
    }
  }
}
