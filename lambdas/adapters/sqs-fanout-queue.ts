import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import type { FanoutQueue } from '../domain/ports.js';
import type { FanoutJob } from '../domain/types.js';
import { fullJitter } from '../shared/jitter.js';

const maxEntries = 10;
// SQS caps a batch at 256 KiB in total; stay below it with room for attributes.
const maxBatchBytes = 200 * 1024;
const maxRounds = 4;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A job as an SQS message body. SQS accepts only #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF,
 * while a message body may hold any well-formed text (U+FFFE, U+FFFF, control characters): every character outside
 * printable ASCII is written as a JSON `\\uXXXX` escape, so any body survives the queue and `JSON.parse` restores it.
 */
export function encodeJobBody(job: FanoutJob): string {
  return JSON.stringify(job).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Enqueues fanout jobs with SendMessageBatch, packing batches by count and size and retrying failed entries. */
export class SqsFanoutQueue implements FanoutQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(jobs: FanoutJob[], delaySeconds?: number): Promise<void> {
    const batches: SendMessageBatchRequestEntry[][] = [];
    let current: SendMessageBatchRequestEntry[] = [];
    let bytes = 0;
    jobs.forEach((job, index) => {
      const body = encodeJobBody(job);
      const size = Buffer.byteLength(body);
      if (current.length === maxEntries || (current.length > 0 && bytes + size > maxBatchBytes)) {
        batches.push(current);
        current = [];
        bytes = 0;
      }
      current.push({ Id: String(index), MessageBody: body, DelaySeconds: delaySeconds });
      bytes += size;
    });
    if (current.length > 0) batches.push(current);
    await Promise.all(batches.map((batch) => this.sendBatch(batch)));
  }

  private async sendBatch(entries: SendMessageBatchRequestEntry[]): Promise<void> {
    let pending = entries;
    for (let round = 0; round < maxRounds && pending.length > 0; round++) {
      // Entries SQS failed individually (throttling, internal errors) are retried after a full-jitter backoff.
      if (round > 0) await sleep(fullJitter(round, 50, 1000));
      const result = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }));
      const failed = new Set((result.Failed ?? []).map((entry) => entry.Id));
      pending = pending.filter((entry) => failed.has(entry.Id));
    }
    if (pending.length > 0) throw new Error(`SQS rejected ${pending.length} fanout job(s) after ${maxRounds} attempts`);
  }
}
