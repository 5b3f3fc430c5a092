/**
 * Retries of retryable AWS errors: with backoff and jitter, bounded, and idempotent (a retried fanout or send never
 * surfaces anything a client cannot drop by (conversationId, seq)).
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DynamoMessageStore } from '../../lambdas/adapters/dynamo-message-store.js';
import { SqsFanoutQueue } from '../../lambdas/adapters/sqs-fanout-queue.js';
import { translateAwsErrors } from '../../lambdas/adapters/aws-errors.js';
import { toErrorFrame } from '../../lambdas/app/router.js';
import { addMembers, createGroupConversation } from '../../lambdas/domain/conversations.js';
import { deliverOrRequeue, PushFailedError, runJob } from '../../lambdas/domain/fanout.js';
import { sendMessage } from '../../lambdas/domain/messages.js';
import type { FanoutJob } from '../../lambdas/domain/types.js';
import { createAwsClients } from '../../lambdas/shared/aws-clients.js';
import { loadConfig } from '../../lambdas/shared/config.js';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const event = { type: 'typing' as const, conversationId: 'grp_x', userId: 'alice', state: 'start' as const };
const alice = { userId: 'alice', connectionId: 'alice-1' };

/** A TransactionCanceledException as the SDK deserializes it. */
const cancelled = (...reasons: ({ Code: string; Item?: Record<string, unknown> } | string)[]) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: { httpStatusCode: 400 },
    CancellationReasons: reasons.map((reason) =>
      typeof reason === 'string' ? { Code: reason } : { Code: reason.Code, Item: reason.Item && marshall(reason.Item, { convertClassInstanceToMap: true }) },
    ),
  });

/** A document client whose `send` throws or answers whatever the test scripts. */
const scriptedDdb = (answer: () => unknown) => ({ send: vi.fn(async () => answer()) }) as unknown as DynamoDBDocumentClient;

describe('push retries', () => {
  it('requeues failed pushes with exponential backoff and equal jitter, whole seconds, capped at 60 s', async () => {
    const delaysFor = async (random: number) => {
      vi.spyOn(Math, 'random').mockReturnValue(random);
      const { deps, presence, pusher, queue } = memoryDeps({ maxPushAttempts: 9 });
      await presence.addConnection({ userId: 'bob', connectionId: 'bob-1' }, deps.now(), 60);
      pusher.script = () => 'failed';
      let job: FanoutJob = { kind: 'deliver', event, recipients: ['bob'], attempt: 0 };
      for (let attempt = 1; attempt < 9; attempt++) {
        await deliverOrRequeue(deps, job as Extract<FanoutJob, { kind: 'deliver' }>);
        job = queue.jobs.at(-1)!.job;
      }
      return queue.jobs.map((entry) => entry.delaySeconds);
    };
    // Attempt n waits between 2^(n-1)/2 and 2^(n-1) seconds (at least 1, at most 60).
    expect(await delaysFor(0)).toEqual([1, 1, 2, 4, 8, 16, 30, 30]);
    expect(await delaysFor(0.5)).toEqual([1, 2, 3, 6, 12, 24, 45, 45]);
    expect(await delaysFor(0.9999)).toEqual([1, 2, 4, 8, 16, 32, 60, 60]);
  });

  it('stops after MAX_PUSH_ATTEMPTS and leaves the job to SQS redrive (and the DLQ)', async () => {
    const { deps, presence, pusher, queue } = memoryDeps({ maxPushAttempts: 3 });
    await presence.addConnection({ userId: 'bob', connectionId: 'bob-1' }, deps.now(), 60);
    pusher.script = () => 'failed';
    await expect(deliverOrRequeue(deps, { kind: 'deliver', event, targets: [{ userId: 'bob', connectionId: 'bob-1' }], attempt: 2 })).rejects.toBeInstanceOf(
      PushFailedError,
    );
    expect(queue.jobs).toEqual([]);
  });

  it('a redelivered message job pushes the identical frame again: the client drops it by (conversationId, seq)', async () => {
    const { deps, presence, pusher } = memoryDeps();
    await presence.addConnection({ userId: 'bob', connectionId: 'bob-1' }, deps.now(), 60);
    const message = { conversationId: 'grp_x', seq: 7, senderId: 'alice', clientMessageId: 'm7', body: 'hi', createdAt: deps.now().toISOString() };
    const job: FanoutJob = { kind: 'deliver', event: { type: 'message', message }, recipients: ['bob'], attempt: 0 };
    await runJob(deps, job);
    await runJob(deps, structuredClone(job));
    const [first, second] = pusher.framesFor('bob-1');
    expect(second).toEqual(first);
    expect(first).toEqual({ type: 'message', message });
  });
});

describe('send retries', () => {
  it('waits a bounded, growing while for an attempt still storing the same message, then answers unavailable', async () => {
    const { deps, messages } = memoryDeps();
    const sleeps: number[] = [];
    deps.sleep = async (ms) => {
      sleeps.push(ms);
    };
    const group = await createGroupConversation(deps, alice, { title: 't', members: ['bob'] });
    await messages.claim(JSON.stringify([group.conversationId, 'alice', 'c']), { claimedAt: deps.now().getTime(), afterSeq: 0 }, 60);
    await expect(sendMessage(deps, alice, { conversationId: group.conversationId, clientMessageId: 'c', body: 'b' })).rejects.toMatchObject({
      code: 'unavailable',
    });
    expect(sleeps).toEqual([50, 100, 200, 400]);
  });

  it('maps a TransactionConflict to a retryable conflict and a failed lastSeq condition to the current lastSeq', async () => {
    const input = { conversationId: 'grp_x', senderId: 'alice', clientMessageId: 'c', body: 'b', createdAt: '2026-11-22T10:00:00.000Z', epoch: 'e1' };
    const store = (error: unknown) =>
      new DynamoMessageStore(
        scriptedDdb(() => Promise.reject(error)),
        'm',
        'i',
      );
    await expect(store(cancelled('TransactionConflict', 'None', 'None')).append(input, 4, 60)).resolves.toEqual({
      status: 'conflict',
      lastSeq: 4,
      epoch: 'e1',
    });
    await expect(
      store(cancelled({ Code: 'ConditionalCheckFailed', Item: { lastSeq: 9, epoch: 'e1', members: new Set(['alice']) } }, 'None', 'None')).append(input, 4, 60),
    ).resolves.toEqual({ status: 'conflict', lastSeq: 9, epoch: 'e1', retention: {} });
    await expect(
      store(cancelled('ConditionalCheckFailed', 'None', { Code: 'ConditionalCheckFailed', Item: { seq: 3, createdAt: 'then' } })).append(input, 4, 60),
    ).resolves.toEqual({ status: 'duplicate', seq: 3, createdAt: 'then' });
    // Throttled transactions are not a seq race: they surface, and the router answers `unavailable`.
    await expect(store(cancelled('ThrottlingError', 'None', 'None')).append(input, 4, 60)).rejects.toBeInstanceOf(TransactionCanceledException);
  });

  it('answers `unavailable` (retry with backoff) for throttling and contention left after the SDK retries, `internal` otherwise', async () => {
    const named = (name: string) => Object.assign(new Error('x'), { name });
    // The adapters' AWS errors reach the domain, and so the router, translated.
    const failing = (error: unknown) => translateAwsErrors({ read: async () => Promise.reject(error) });
    const frameOf = async (error: unknown) =>
      toErrorFrame(
        await failing(error)
          .read()
          .catch((thrown: unknown) => thrown),
        'r',
      );
    for (const error of [
      named('ProvisionedThroughputExceededException'),
      named('ThrottlingException'),
      named('RequestLimitExceeded'),
      named('InternalServerError'),
      cancelled('TransactionConflict', 'None'),
      cancelled('None', 'ThrottlingError'),
      cancelled('ProvisionedThroughputExceeded'),
    ]) {
      expect(await frameOf(error)).toMatchObject({ code: 'unavailable', requestId: 'r' });
    }
    for (const error of [cancelled('ConditionalCheckFailed', 'TransactionConflict'), cancelled('ValidationError'), cancelled(), named('Error')]) {
      expect(await frameOf(error)).toMatchObject({ code: 'internal', message: 'internal error' });
    }
  });
});

describe('addMembers retries', () => {
  it('re-reads and retries a timeline conflict with a small full jitter and gives up with unavailable after 12 attempts', async () => {
    const { deps, messages } = memoryDeps();
    const group = await createGroupConversation(deps, alice, { title: 't', members: ['bob'] });
    const sleeps: number[] = [];
    deps.sleep = async (ms) => {
      sleeps.push(ms);
    };
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    messages.appendTimeline = async () => ({ status: 'conflict', lastSeq: 0, epoch: null });
    await expect(addMembers(deps, alice, { conversationId: group.conversationId, members: ['carol'] })).rejects.toMatchObject({ code: 'unavailable' });
    expect(sleeps.map(Math.round)).toEqual([1, 2, 4, 8, 16, 32, 32, 32, 32, 32, 32, 32]);
  });
});

describe('enqueue retries', () => {
  it('retries entries SQS failed individually with backoff, at most 4 rounds, resending only the failed ones', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const sent: string[][] = [];
    let failuresLeft = 2;
    const sqs = {
      send: vi.fn(async (command: SendMessageBatchCommand) => {
        const entries = command.input.Entries ?? [];
        sent.push(entries.map((entry) => entry.Id!));
        const failed = failuresLeft-- > 0 ? entries.slice(0, 1) : [];
        return { Failed: failed.map((entry) => ({ Id: entry.Id, Code: 'ThrottlingException', SenderFault: false })) };
      }),
    } as unknown as SQSClient;
    const jobs: FanoutJob[] = [1, 2, 3].map((n) => ({ kind: 'presence', userId: `u${n}`, status: 'online', lastSeenAt: null }));
    await new SqsFanoutQueue(sqs, 'q').enqueue(jobs);
    expect(sent).toEqual([['0', '1', '2'], ['0'], ['0']]);

    failuresLeft = 100;
    sent.length = 0;
    await expect(new SqsFanoutQueue(sqs, 'q').enqueue(jobs)).rejects.toThrow(/after 4 attempts/);
    expect(sent).toHaveLength(4);
  });

  it('builds SDK clients with bounded retries: 4 attempts for DynamoDB and SQS, 2 for PostToConnection (ours follow)', async () => {
    const clients = createAwsClients({ ...loadConfig({}), callbackUrl: 'https://example.execute-api.us-east-1.amazonaws.com/prod' });
    expect(await clients.ddb.config.maxAttempts()).toBe(4);
    expect(await clients.sqs.config.maxAttempts()).toBe(4);
    expect(await clients.management.config.maxAttempts()).toBe(2);
  });
});
