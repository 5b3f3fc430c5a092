import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** Options of `DynamoStreamPoller`. */
export interface DynamoStreamPollerOptions {
  ddb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  tableName: string;
  /** Records per invocation, like the event source mapping's batch size. */
  batchSize: number;
  /** Receives a Lambda `DynamoDBStreamEvent`; a rejection retries the same records. */
  invoke: (event: { Records: unknown[] }) => Promise<unknown>;
  /** Attempts of one batch before its records are given up (and reported), like the mapping's retryAttempts. */
  retryAttempts: number;
  pollIntervalMs?: number;
  onError: (message: string, error: unknown) => void;
}

/**
 * The local stand-in for a DynamoDB Streams event source mapping: reads every shard of a table's stream from its
 * start, in order, and invokes the consumer with batches in Lambda's event shape. Generic: any table, any consumer.
 */
export class DynamoStreamPoller {
  /** Per shard, the sequence number of the last record delivered. */
  private readonly delivered = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private streamArn: string | undefined;

  constructor(private readonly options: DynamoStreamPollerOptions) {}

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.poll()
        .catch((error: unknown) => this.options.onError(`stream of ${this.options.tableName} failed`, error))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.options.pollIntervalMs ?? 200);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every shard: new shards are picked up, each shard is read until it has nothing more. */
  private async poll(): Promise<void> {
    const { ddb, streams, tableName } = this.options;
    this.streamArn ??= (await ddb.send(new DescribeTableCommand({ TableName: tableName }))).Table?.LatestStreamArn;
    if (!this.streamArn) return;
    const description = await streams.send(new DescribeStreamCommand({ StreamArn: this.streamArn }));
    for (const shard of description.StreamDescription?.Shards ?? []) await this.drain(shard.ShardId!);
  }

  /**
   * Reads one shard from after the last record delivered. A fresh iterator per pass: DynamoDB Local invalidates an
   * iterator taken while its shard was empty (TrimmedDataAccessException on the next read).
   */
  private async drain(shardId: string): Promise<void> {
    const after = this.delivered.get(shardId);
    let iterator: string | undefined;
    try {
      iterator = (
        await this.options.streams.send(
          new GetShardIteratorCommand({
            StreamArn: this.streamArn,
            ShardId: shardId,
            ...(after ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after } : { ShardIteratorType: 'TRIM_HORIZON' }),
          }),
        )
      ).ShardIterator;
      while (iterator && !this.stopped) {
        const page = await this.options.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: this.options.batchSize }));
        const records = page.Records ?? [];
        if (records.length === 0) return;
        await this.deliver(records);
        this.delivered.set(shardId, records.at(-1)!.dynamodb!.SequenceNumber!);
        iterator = page.NextShardIterator;
      }
    } catch (error) {
      // Nothing to read in this shard yet.
      if ((error as Error).name === 'TrimmedDataAccessException') return;
      throw error;
    }
  }

  private async deliver(records: _Record[]): Promise<void> {
    const event = {
      Records: records.map((record) => ({
        ...record,
        eventSource: 'aws:dynamodb',
        eventSourceARN: this.streamArn,
        dynamodb: {
          ...record.dynamodb,
          // Lambda delivers epoch seconds, the SDK parses them into a Date.
          ApproximateCreationDateTime: record.dynamodb?.ApproximateCreationDateTime
            ? record.dynamodb.ApproximateCreationDateTime.getTime() / 1000
            : undefined,
        },
      })),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.invoke(event);
        return;
      } catch (error) {
        if (attempt > this.options.retryAttempts) {
          this.options.onError(`stream batch of ${this.options.tableName} given up after ${attempt} attempts`, error);
          return;
        }
      }
    }
  }
}
