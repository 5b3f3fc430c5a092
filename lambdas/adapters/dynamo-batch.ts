import { BatchGetCommand, BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { UnavailableError } from '../domain/errors.js';
import { fullJitter } from '../shared/jitter.js';

const maxGetKeys = 100;
const maxWriteItems = 25;
const maxRounds = 8;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Full-jitter exponential backoff for unprocessed batch items. */
const backoff = (round: number) => sleep(fullJitter(round, 20, 1000));

/** Reads every key (deduplicated) with BatchGetItem, 100 at a time, retrying unprocessed keys. */
export async function batchGetAll(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  keys: Record<string, unknown>[],
  options: { projection?: string; names?: Record<string, string> } = {},
): Promise<Record<string, unknown>[]> {
  const unique = [...new Map(keys.map((key) => [JSON.stringify(key), key])).values()];
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < unique.length; i += maxGetKeys) chunks.push(unique.slice(i, i + maxGetKeys));
  const pages = await Promise.all(
    chunks.map(async (chunk) => {
      const found: Record<string, unknown>[] = [];
      let pending: Record<string, unknown>[] = chunk;
      for (let round = 0; pending.length > 0; round++) {
        if (round >= maxRounds) throw new UnavailableError('DynamoDB kept returning unprocessed keys');
        if (round > 0) await backoff(round);
        const result = await ddb.send(
          new BatchGetCommand({
            RequestItems: {
              [tableName]: {
                Keys: pending,
                ProjectionExpression: options.projection,
                ExpressionAttributeNames: options.names,
              },
            },
          }),
        );
        found.push(...(result.Responses?.[tableName] ?? []));
        pending = result.UnprocessedKeys?.[tableName]?.Keys ?? [];
      }
      return found;
    }),
  );
  return pages.flat();
}

/** One request of a BatchWriteItem: an item to put, or the key of one to delete. */
export type WriteRequest = { PutRequest: { Item: Record<string, unknown> } } | { DeleteRequest: { Key: Record<string, unknown> } };

/** Runs every put and delete with BatchWriteItem, 25 at a time (in parallel), retrying unprocessed items. */
export async function batchWriteAll(ddb: DynamoDBDocumentClient, tableName: string, requests: WriteRequest[]): Promise<void> {
  const chunks: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += maxWriteItems) chunks.push(requests.slice(i, i + maxWriteItems));
  await Promise.all(
    chunks.map(async (chunk) => {
      let pending = chunk;
      for (let round = 0; pending.length > 0; round++) {
        if (round >= maxRounds) throw new UnavailableError('DynamoDB kept returning unprocessed items');
        if (round > 0) await backoff(round);
        const result = await ddb.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
        pending = (result.UnprocessedItems?.[tableName] ?? []) as WriteRequest[];
      }
    }),
  );
}
