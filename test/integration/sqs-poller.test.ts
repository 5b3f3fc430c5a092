import { ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queues } from '../../lib/definitions.js';
import { localCredentials, localRegion } from '../../local/dynamodb.js';
import { SqsLambdaPoller } from '../../local/sqs-lambda-poller.js';
import { startSqs, type LocalSqs } from '../../local/sqs.js';

// The poller against fauxqs with Parley's queue definition (redrive after maxReceiveCount receives), 1 s visibility.
let sqs: LocalSqs;
let client: SQSClient;
let poller: SqsLambdaPoller | undefined;
// biome-ignore lint/suspicious/noConfusingVoidType: an SQS handler may return nothing, as Lambda allows
let behave: (event: SQSEvent) => Promise<SQSBatchResponse | void>;
const seen: { body: string; receiveCount: number; batchSize: number }[] = [];

beforeAll(async () => {
  sqs = await startSqs({
    fanout: { attributes: { VisibilityTimeout: '1' }, deadLetterQueue: { attributes: {}, maxReceiveCount: queues.fanout.maxReceiveCount } },
  });
  client = new SQSClient({ endpoint: sqs.endpoint, region: localRegion, credentials: localCredentials });
});
afterEach(async () => {
  await poller?.stop();
  seen.length = 0;
  // An aborted long poll stays open on the server for up to its 1 s wait and would swallow the next test's first receive.
  await new Promise((resolve) => setTimeout(resolve, 1100));
});
afterAll(async () => {
  client.destroy();
  await sqs.stop();
});

function startPoller(): SqsLambdaPoller {
  poller = new SqsLambdaPoller({
    sqs: client,
    queueUrl: sqs.queueUrls.fanout,
    queueArn: 'arn:aws:sqs:us-east-1:000000000000:parley-fanout',
    batchSize: queues.fanout.batchSize,
    reportBatchItemFailures: true,
    concurrency: 1,
    invoke: async (event) => {
      for (const record of event.Records) {
        seen.push({ body: record.body, receiveCount: Number(record.attributes.ApproximateReceiveCount), batchSize: event.Records.length });
      }
      return behave(event);
    },
  });
  poller.start();
  return poller;
}

const enqueue = (bodies: string[]) =>
  client.send(new SendMessageBatchCommand({ QueueUrl: sqs.queueUrls.fanout, Entries: bodies.map((body, i) => ({ Id: String(i), MessageBody: body })) }));

const until = async (condition: () => boolean, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const drain = async (queueUrl: string) =>
  (await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }))).Messages ?? [];

describe('SQS → Lambda poller', () => {
  it('deletes successful records and redelivers only the reported batchItemFailures', async () => {
    const failedOnce = new Set<string>();
    behave = async (event) => ({
      batchItemFailures: event.Records.filter((record) => record.body === 'b' && !failedOnce.has(record.body) && failedOnce.add(record.body)).map((record) => ({
        itemIdentifier: record.messageId,
      })),
    });
    const p = startPoller();
    await enqueue(['a', 'b', 'c']);
    await until(() => seen.filter((s) => s.body === 'b').length === 2);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(seen.filter((s) => s.body === 'a')).toHaveLength(1);
    expect(seen.filter((s) => s.body === 'c')).toHaveLength(1);
    expect(seen.filter((s) => s.body === 'b').map((s) => s.receiveCount)).toEqual([1, 2]);
    expect(p.stats.failedRecords).toBe(1);
  });

  it('returns the whole batch when the function throws', async () => {
    let calls = 0;
    behave = async () => {
      calls += 1;
      if (calls === 1) throw new Error('crashed');
    };
    const p = startPoller();
    await enqueue(['x', 'y']);
    await until(() => seen.filter((s) => s.body === 'x').length === 2 && seen.filter((s) => s.body === 'y').length === 2);
    expect(p.stats.failedBatches).toBe(1);
  });

  it('moves a record that keeps failing to the DLQ after maxReceiveCount receives', async () => {
    behave = async (event) => ({ batchItemFailures: event.Records.map((record) => ({ itemIdentifier: record.messageId })) });
    startPoller();
    await enqueue(['poison']);
    let dead: Awaited<ReturnType<typeof drain>> = [];
    for (let tries = 0; dead.length === 0 && tries < 20; tries++) dead = await drain(sqs.dlqUrls.fanout);
    expect(seen.map((s) => s.receiveCount)).toEqual(Array.from({ length: queues.fanout.maxReceiveCount }, (_, i) => i + 1));
    expect(dead.map((message) => message.Body)).toEqual(['poison']);
  });
});
