import { randomUUID } from 'node:crypto';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type DynamoDBStreamsClient,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { StreamSourceDefinition } from '../lib/definitions.js';
import type { FaultRegistry } from './faults.js';
import { matchesPattern } from './event-pattern.js';

/** How the poller reads one table's stream, mirroring a Lambda DynamoDB event source mapping. */
export interface DynamoDbStreamPollerOptions {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  tableName: string;
  /** Batch size, batching window, filters, bisect, retries, record age: the mapping's settings. */
  source: StreamSourceDefinition;
  // biome-ignore lint/suspicious/noConfusingVoidType: a stream handler may return nothing, as Lambda allows
  invoke: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>;
  /** The on-failure destination: batches that exhaust their retries are described there, as Lambda does. */
  sqs: SQSClient;
  dlqUrl: string;
  functionArn: string;
  /** Overrides the definition's starting position (e.g. LATEST for `npm start`, whose checkpoints are not kept). */
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** First retry delay; doubles per attempt up to 2 s. */
  retryBaseMs?: number;
  pollIntervalMs?: number;
  faults?: FaultRegistry;
  onError?: (message: string, error: unknown) => void;
}

/** Counters for tests. */
export interface StreamPollerStats {
  batches: number;
  records: number;
  failedBatches: number;
  partialFailures: number;
  bisections: number;
  deadLettered: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const compare = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/** A stream record in the shape Lambda hands to the function (timestamps in epoch seconds, `eventSourceARN`). */
function toLambdaRecord(record: StreamRecord, streamArn: string): DynamoDBRecord {
  const created = record.dynamodb?.ApproximateCreationDateTime;
  return {
    eventID: record.eventID,
    eventName: record.eventName as DynamoDBRecord['eventName'],
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: record.awsRegion ?? 'us-east-1',
    dynamodb: {
      ...(record.dynamodb as DynamoDBRecord['dynamodb']),
      ApproximateCreationDateTime: created instanceof Date ? Math.floor(created.getTime() / 1000) : (created as number | undefined),
    },
    eventSourceARN: streamArn,
  };
}

type Outcome = { kind: 'ok' } | { kind: 'partial'; from: string } | { kind: 'error'; error: unknown };

/**
 * A local DynamoDB stream event source mapping: reads every shard in order (children after their parents), drops
 * records no filter matches, invokes the function with batches of up to `batchSize` records gathered for at most the
 * batching window, and on failure behaves as Lambda does: `batchItemFailures` retry from the lowest reported sequence
 * number (an empty or unknown identifier fails the whole batch), a function error bisects the batch (not counted as a
 * retry), and a batch past `maximumRetryAttempts` retries is described on the SQS on-failure queue and skipped.
 */
export class DynamoDbStreamPoller {
  readonly stats: StreamPollerStats = { batches: 0, records: 0, failedBatches: 0, partialFailures: 0, bisections: 0, deadLettered: 0 };
  private readonly abort = new AbortController();
  private running?: Promise<void>;
  private readonly shards = new Map<string, Promise<void>>();
  private readonly finished = new Set<string>();
  private streamArn = '';

  constructor(private readonly options: DynamoDbStreamPollerOptions) {}

  start(): void {
    this.running = this.run().catch((error: unknown) => this.options.onError?.(`stream poller of ${this.options.tableName} stopped`, error));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    await Promise.allSettled(this.shards.values());
  }

  private get aborted() {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    const table = await this.options.dynamodb.send(new DescribeTableCommand({ TableName: this.options.tableName }));
    this.streamArn = table.Table?.LatestStreamArn ?? '';
    if (!this.streamArn) throw new Error(`table ${this.options.tableName} has no stream`);
    let first = true;
    while (!this.aborted) {
      try {
        const { StreamDescription } = await this.options.streams.send(new DescribeStreamCommand({ StreamArn: this.streamArn }));
        const known = new Set((StreamDescription?.Shards ?? []).map((shard) => shard.ShardId!));
        for (const shard of StreamDescription?.Shards ?? []) {
          const id = shard.ShardId!;
          if (this.shards.has(id)) continue;
          // Order per item survives a shard split only if the children wait for their parent.
          const parent = shard.ParentShardId;
          if (parent && known.has(parent) && !this.finished.has(parent)) continue;
          // Shards found at start begin at the starting position; later ones (children) from their beginning.
          const position = first ? (this.options.startingPosition ?? this.options.source.startingPosition) : 'TRIM_HORIZON';
          this.shards.set(
            id,
            this.readShard(id, position).finally(() => this.finished.add(id)),
          );
        }
        first = false;
      } catch (error) {
        if (!this.aborted) this.options.onError?.('DescribeStream failed', error);
      }
      await sleep(1000);
    }
  }

  private async readShard(shardId: string, position: 'TRIM_HORIZON' | 'LATEST'): Promise<void> {
    const { streams, source } = this.options;
    const poll = this.options.pollIntervalMs ?? 250;
    let lastSequence: string | undefined;
    const iteratorFrom = async () =>
      (
        await streams.send(
          new GetShardIteratorCommand(
            lastSequence
              ? { StreamArn: this.streamArn, ShardId: shardId, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: lastSequence }
              : { StreamArn: this.streamArn, ShardId: shardId, ShardIteratorType: position },
          ),
        )
      ).ShardIterator;
    let iterator: string | undefined = await iteratorFrom();
    const buffer: DynamoDBRecord[] = [];
    let bufferedSince = 0;
    while (!this.aborted && (iterator || buffer.length > 0)) {
      let read = 0;
      if (iterator && buffer.length < source.batchSize) {
        try {
          const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
          iterator = page.NextShardIterator;
          for (const record of page.Records ?? []) {
            read += 1;
            lastSequence = record.dynamodb?.SequenceNumber ?? lastSequence;
            const lambdaRecord = toLambdaRecord(record, this.streamArn);
            // Filtering happens before batching: a record no filter matches never reaches the function.
            if (source.filters.length > 0 && !source.filters.some((filter) => matchesPattern(filter, lambdaRecord))) continue;
            if (buffer.length === 0) bufferedSince = Date.now();
            buffer.push(lambdaRecord);
          }
        } catch (error) {
          if (this.aborted) return;
          // DynamoDB Local answers an iterator of a still empty shard this way; a fresh iterator reads on.
          if ((error as Error).name !== 'TrimmedDataAccessException') this.options.onError?.('GetRecords failed', error);
          await sleep(poll);
          iterator = await iteratorFrom().catch(() => iterator);
          continue;
        }
      }
      const windowOpen = Date.now() - bufferedSince < source.maxBatchingWindowSeconds * 1000;
      if (buffer.length === 0 || (buffer.length < source.batchSize && windowOpen && iterator)) {
        if (read === 0) await sleep(poll);
        continue;
      }
      await this.processBatch(buffer.splice(0, source.batchSize), shardId);
    }
  }

  private async invoke(records: DynamoDBRecord[]): Promise<Outcome> {
    this.stats.batches += 1;
    this.stats.records += records.length;
    const crash = this.options.faults?.takeBatch(
      'streams:crash',
      records.map((record) => JSON.stringify(record)),
    );
    try {
      const response = await this.options.invoke({ Records: records });
      if (crash) throw new Error('injected crash after the batch was handled');
      const failures = response?.batchItemFailures ?? [];
      if (failures.length === 0) return { kind: 'ok' };
      const positions = new Set(records.map((record) => record.dynamodb?.SequenceNumber));
      const ids = failures.map((failure) => failure.itemIdentifier);
      // An empty or unknown identifier makes the whole batch a failure.
      if (ids.some((id) => !id || !positions.has(id))) return { kind: 'partial', from: records[0]!.dynamodb!.SequenceNumber! };
      return { kind: 'partial', from: ids.reduce((low, id) => (compare(id, low) < 0 ? id : low)) };
    } catch (error) {
      return { kind: 'error', error };
    }
  }

  private async processBatch(records: DynamoDBRecord[], shardId: string): Promise<void> {
    const { source } = this.options;
    const pending: { records: DynamoDBRecord[]; retries: number }[] = [{ records, retries: 0 }];
    while (pending.length > 0 && !this.aborted) {
      const work = pending[0]!;
      if (source.maximumRecordAgeSeconds >= 0) {
        const oldest = work.records[0]!.dynamodb?.ApproximateCreationDateTime ?? Date.now() / 1000;
        if (Date.now() / 1000 - oldest > source.maximumRecordAgeSeconds) {
          await this.deadLetter(work.records, 'RecordAgeExceeded', work.retries, shardId);
          pending.shift();
          continue;
        }
      }
      const outcome = await this.invoke(work.records);
      if (outcome.kind === 'ok') {
        pending.shift();
        continue;
      }
      if (outcome.kind === 'partial') {
        this.stats.partialFailures += 1;
        work.records = work.records.filter((record) => compare(record.dynamodb!.SequenceNumber!, outcome.from) >= 0);
      } else {
        this.stats.failedBatches += 1;
        this.options.onError?.(`stream consumer of ${this.options.tableName} failed; retrying`, outcome.error);
        if (source.bisectBatchOnFunctionError && work.records.length > 1) {
          // Splitting does not count as a retry; each half keeps the retries the whole had.
          const half = Math.ceil(work.records.length / 2);
          pending.splice(0, 1, { records: work.records.slice(0, half), retries: work.retries }, { records: work.records.slice(half), retries: work.retries });
          this.stats.bisections += 1;
          continue;
        }
      }
      work.retries += 1;
      if (source.maximumRetryAttempts >= 0 && work.retries > source.maximumRetryAttempts) {
        await this.deadLetter(work.records, 'RetryAttemptsExhausted', work.retries, shardId);
        pending.shift();
        continue;
      }
      await sleep(Math.min(2000, (this.options.retryBaseMs ?? 100) * 2 ** (work.retries - 1)));
    }
  }

  /** What Lambda sends to an on-failure destination for a stream batch: where it is, not the records themselves. */
  private async deadLetter(records: DynamoDBRecord[], condition: string, retries: number, shardId: string): Promise<void> {
    this.stats.deadLettered += 1;
    const arrival = (record: DynamoDBRecord) => new Date((record.dynamodb?.ApproximateCreationDateTime ?? 0) * 1000).toISOString();
    const body = {
      requestContext: { requestId: randomUUID(), functionArn: this.options.functionArn, condition, approximateInvokeCount: retries + 1 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId,
        startSequenceNumber: records[0]!.dynamodb?.SequenceNumber,
        endSequenceNumber: records.at(-1)!.dynamodb?.SequenceNumber,
        approximateArrivalOfFirstRecord: arrival(records[0]!),
        approximateArrivalOfLastRecord: arrival(records.at(-1)!),
        batchSize: records.length,
        streamArn: this.streamArn,
      },
    };
    try {
      await this.options.sqs.send(new SendMessageCommand({ QueueUrl: this.options.dlqUrl, MessageBody: JSON.stringify(body) }));
    } catch (error) {
      this.options.onError?.('sending to the on-failure queue failed', error);
    }
  }
}
