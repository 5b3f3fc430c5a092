import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { FaultRegistry } from './faults.js';

/** How the poller feeds the function, mirroring an SQS event source mapping. */
export interface SqsLambdaPollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  /** How long a batch is gathered before it is invoked short of `batchSize` (0: invoke with what one receive returns). */
  maxBatchingWindowSeconds?: number;
  /** The mapping has `ReportBatchItemFailures`: only reported records are retried; without it the response is ignored. */
  reportBatchItemFailures: boolean;
  /** Concurrent batches in flight (the mapping's maximumConcurrency, capped locally). */
  concurrency: number;
  // biome-ignore lint/suspicious/noConfusingVoidType: an SQS handler may return nothing, as Lambda allows
  invoke: (event: SQSEvent) => Promise<SQSBatchResponse | void>;
  onError?: (message: string, error: unknown) => void;
  /** Injected worker crashes, skipped deletes (redelivery) and duplicate deliveries (`poller:*` fault targets). */
  faults?: FaultRegistry;
}

/** Counters for tests and benchmarks. */
export interface PollerStats {
  batches: number;
  records: number;
  failedRecords: number;
  failedBatches: number;
  /** Batches the function refused at its concurrency limit (`TooManyRequestsException`); they come back later. */
  throttledBatches: number;
}

/** How long a poller waits after a throttled invocation before it receives again. */
const throttleBackoffMs = 1000;

const toRecord = (message: Message, queueArn: string): SQSEvent['Records'][number] => ({
  messageId: message.MessageId!,
  receiptHandle: message.ReceiptHandle!,
  body: message.Body ?? '',
  attributes: {
    ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? '1',
    SentTimestamp: message.Attributes?.SentTimestamp ?? String(Date.now()),
    SenderId: message.Attributes?.SenderId ?? 'local',
    ApproximateFirstReceiveTimestamp: message.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  },
  messageAttributes: {},
  md5OfBody: message.MD5OfBody ?? '',
  eventSource: 'aws:sqs',
  eventSourceARN: queueArn,
  awsRegion: 'us-east-1',
});

/**
 * A local SQS event source mapping: long-polls the queue, invokes the function with batches, deletes the records
 * that succeeded and leaves the `batchItemFailures` (or the whole batch when the function throws) to reappear after
 * the visibility timeout; the queue's redrive policy moves them to the DLQ after `maxReceiveCount` receives.
 */
export class SqsLambdaPoller {
  readonly stats: PollerStats = { batches: 0, records: 0, failedRecords: 0, failedBatches: 0, throttledBatches: 0 };
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];

  constructor(private readonly options: SqsLambdaPollerOptions) {}

  start(): void {
    this.loops = Array.from({ length: this.options.concurrency }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }

  private async loop(): Promise<void> {
    const { sqs, queueUrl, batchSize } = this.options;
    while (!this.abort.signal.aborted) {
      const messages: Message[] = [];
      try {
        const receive = async (waitSeconds: number) => {
          const received = await sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: batchSize - messages.length,
              WaitTimeSeconds: waitSeconds,
              MessageSystemAttributeNames: ['All'],
            }),
            { abortSignal: this.abort.signal },
          );
          messages.push(...(received.Messages ?? []));
        };
        await receive(1);
        // The batching window: a started batch gathers records until it is full or the window has passed.
        const deadline = Date.now() + (this.options.maxBatchingWindowSeconds ?? 0) * 1000;
        while (messages.length > 0 && messages.length < batchSize && Date.now() < deadline && !this.abort.signal.aborted) {
          await receive(Math.min(1, Math.ceil((deadline - Date.now()) / 1000)));
        }
      } catch (error) {
        if (this.abort.signal.aborted) return;
        this.options.onError?.('ReceiveMessage failed', error);
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      if (messages.length > 0) await this.process(messages);
    }
  }

  /** Applies injected `poller:*` faults to a received batch, then processes what is left of it normally. */
  private async process(messages: Message[]): Promise<void> {
    const faults = this.options.faults;
    if (!faults) return this.processBatch(messages);
    const bodies = messages.map((message) => message.Body ?? '');
    const pick = (affected: Set<number>, inside: boolean) => messages.filter((_, index) => affected.has(index) === inside);
    const crash = faults.takeBatch('poller:crash', bodies);
    if (crash) {
      // The function dies after handling part of the batch: nothing it handled is deleted. Records the rule does not
      // match go through normally, so a test's crash never redelivers another test's jobs.
      const crashing = pick(crash.affected, true);
      const others = pick(crash.affected, false);
      const handled = crashing.slice(0, crash.rule.afterRecords ?? 1);
      this.stats.batches += 1;
      this.stats.records += crashing.length;
      this.stats.failedBatches += 1;
      this.stats.failedRecords += crashing.length;
      await Promise.all([
        handled.length > 0 ? this.options.invoke(this.event(handled)).catch(() => undefined) : undefined,
        others.length > 0 ? this.processBatch(others) : undefined,
      ]);
      return;
    }
    const duplicate = faults.takeBatch('poller:duplicate', bodies);
    const skipDelete = faults.takeBatch('poller:skipDelete', bodies);
    await Promise.all([
      this.processBatch(messages, skipDelete ? new Set(pick(skipDelete.affected, true).map((message) => message.MessageId!)) : undefined),
      // The same records handed to a second, concurrent invocation, as SQS's at-least-once delivery may do.
      duplicate ? this.options.invoke(this.event(pick(duplicate.affected, true))).catch(() => undefined) : undefined,
    ]);
  }

  private event(messages: Message[]): SQSEvent {
    return { Records: messages.map((message) => toRecord(message, this.options.queueArn)) };
  }

  private async processBatch(messages: Message[], keep?: Set<string>): Promise<void> {
    const { sqs, queueUrl } = this.options;
    const event = this.event(messages);
    this.stats.batches += 1;
    this.stats.records += messages.length;
    let failed: Set<string>;
    try {
      const response = await this.options.invoke(event);
      const ids = new Set(messages.map((message) => message.MessageId));
      const reported = (this.options.reportBatchItemFailures ? (response?.batchItemFailures ?? []) : []).map((failure) => failure.itemIdentifier);
      // Lambda treats an unknown or empty identifier as a failure of the whole batch.
      failed = reported.every((id) => ids.has(id)) ? new Set(reported) : new Set(ids as Set<string>);
    } catch (error) {
      failed = new Set(messages.map((message) => message.MessageId!));
      if ((error as Error).name === 'TooManyRequestsException') {
        // Throttled, not failed: the mapping backs off, and the batch comes back after the visibility timeout.
        this.stats.throttledBatches += 1;
        await new Promise((resolve) => setTimeout(resolve, throttleBackoffMs));
        return;
      }
      this.options.onError?.('function failed; the whole batch returns to the queue', error);
      this.stats.failedBatches += 1;
    }
    this.stats.failedRecords += failed.size;
    // `keep`: records an injected fault leaves undeleted, so they come back after the visibility timeout.
    const done = messages.filter((message) => !failed.has(message.MessageId!) && !keep?.has(message.MessageId!));
    if (done.length === 0) return;
    try {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: done.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })),
        }),
      );
    } catch (error) {
      // Undeleted records come back after the visibility timeout; the fanout is idempotent for clients.
      this.options.onError?.('DeleteMessageBatch failed', error);
    }
  }
}
