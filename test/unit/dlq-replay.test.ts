import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  StartMessageMoveTaskCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { parseArgs, replay, urlsFromOutputs, type ReplayOptions, type SqsLike } from '../../scripts/dlq-replay.js';

const queueUrl = 'https://sqs.eu-west-1.amazonaws.com/123456789012/parley-fanout';
const dlqUrl = 'https://sqs.eu-west-1.amazonaws.com/123456789012/parley-fanout-dlq';

/** An in-memory SQS with one queue and its DLQ, recording every call; move tasks can be switched off. */
class FakeSqs implements SqsLike {
  readonly calls: string[] = [];
  readonly queue: string[] = [];
  dlq: Message[];
  moveTasks: 'supported' | 'unsupported' = 'supported';
  failSendIds = new Set<string>();
  private inFlight = new Map<string, Message>();
  private taskPolls = 0;

  constructor(bodies: string[]) {
    this.dlq = bodies.map((body, index) => ({ MessageId: `m${index}`, Body: body, Attributes: { ApproximateReceiveCount: '6', SentTimestamp: '0' } }));
  }

  send = (async (command: unknown) => {
    this.calls.push((command as object).constructor.name);
    if (command instanceof GetQueueAttributesCommand) {
      const url = command.input.QueueUrl;
      return { Attributes: { QueueArn: `arn:aws:sqs:eu-west-1:123456789012:${url!.split('/').at(-1)}`, ApproximateNumberOfMessages: String(this.dlq.length) } };
    }
    if (command instanceof StartMessageMoveTaskCommand) {
      if (this.moveTasks === 'unsupported') throw Object.assign(new Error('Unknown action: StartMessageMoveTask'), { name: 'InvalidAction' });
      expect(command.input).toEqual({
        SourceArn: 'arn:aws:sqs:eu-west-1:123456789012:parley-fanout-dlq',
        DestinationArn: 'arn:aws:sqs:eu-west-1:123456789012:parley-fanout',
      });
      return { TaskHandle: 'task-1' };
    }
    if (command instanceof ListMessageMoveTasksCommand) {
      this.taskPolls += 1;
      const done = this.taskPolls >= 2;
      if (done) this.queue.push(...this.dlq.splice(0).map((message) => message.Body!));
      return { Results: [{ TaskHandle: 'task-1', Status: done ? 'COMPLETED' : 'RUNNING', ApproximateNumberOfMessagesMoved: done ? 3 : 1 }] };
    }
    if (command instanceof ReceiveMessageCommand) {
      expect(command.input.QueueUrl).toBe(dlqUrl);
      const batch = this.dlq.splice(0, command.input.MaxNumberOfMessages ?? 1);
      for (const message of batch) {
        message.ReceiptHandle = `rh-${message.MessageId}`;
        this.inFlight.set(message.ReceiptHandle, message);
      }
      return { Messages: batch.length ? batch.map((message) => ({ ...message })) : undefined };
    }
    if (command instanceof SendMessageBatchCommand) {
      expect(command.input.QueueUrl).toBe(queueUrl);
      const entries = command.input.Entries ?? [];
      const failed = entries.filter((entry) => this.failSendIds.has(entry.MessageBody!));
      this.queue.push(...entries.filter((entry) => !failed.includes(entry)).map((entry) => entry.MessageBody!));
      return {
        Successful: entries.filter((entry) => !failed.includes(entry)).map((entry) => ({ Id: entry.Id })),
        Failed: failed.map((entry) => ({ Id: entry.Id, Code: 'InternalError', SenderFault: false })),
      };
    }
    if (command instanceof DeleteMessageBatchCommand) {
      for (const entry of command.input.Entries ?? []) this.inFlight.delete(entry.ReceiptHandle!);
      return { Successful: command.input.Entries, Failed: [] };
    }
    if (command instanceof ChangeMessageVisibilityBatchCommand) {
      for (const entry of command.input.Entries ?? []) {
        expect(entry.VisibilityTimeout).toBe(0);
        const message = this.inFlight.get(entry.ReceiptHandle!);
        this.inFlight.delete(entry.ReceiptHandle!);
        if (message) this.dlq.push(message);
      }
      return {};
    }
    throw new Error(`unexpected ${(command as object).constructor.name}`);
  }) as SqsLike['send'];
}

const options = (extra: Partial<ReplayOptions> = {}): ReplayOptions => ({
  queueUrl,
  dlqUrl,
  mode: 'auto',
  list: false,
  waitSeconds: 5,
  pollIntervalMs: 1,
  log: () => undefined,
  ...extra,
});

describe('dlq:replay', () => {
  it('uses an SQS message move task on AWS and waits for it to complete', async () => {
    const sqs = new FakeSqs(['a', 'b', 'c']);
    const result = await replay(sqs, options());
    expect(result).toMatchObject({ mode: 'move-task', moved: 3, taskHandle: 'task-1', taskStatus: 'COMPLETED', inDlq: 3 });
    expect(sqs.queue).toEqual(['a', 'b', 'c']);
    expect(sqs.calls).not.toContain('ReceiveMessageCommand');
  });

  it('falls back to receive, send, delete where move tasks are not supported (fauxqs)', async () => {
    const sqs = new FakeSqs(Array.from({ length: 13 }, (_, i) => `job-${i}`));
    sqs.moveTasks = 'unsupported';
    const logged: string[] = [];
    const result = await replay(sqs, options({ log: (line) => logged.push(line) }));
    expect(result).toMatchObject({ mode: 'copy', moved: 13, skipped: 0, failed: 0 });
    expect(sqs.queue).toEqual(Array.from({ length: 13 }, (_, i) => `job-${i}`));
    expect(sqs.dlq).toEqual([]);
    expect(logged[0]).toMatch(/move task unavailable.*copying instead/);
    // Sent before deleted, so a crash in between duplicates a job instead of losing it.
    expect(sqs.calls.indexOf('SendMessageBatchCommand')).toBeLessThan(sqs.calls.indexOf('DeleteMessageBatchCommand'));
  });

  it('copies only matching messages with --contains and --max, and leaves the rest visible in the DLQ', async () => {
    const sqs = new FakeSqs(['grp_1 one', 'grp_2 two', 'grp_1 three', 'grp_1 four']);
    const result = await replay(sqs, options({ contains: 'grp_1', max: 2 }));
    expect(result).toMatchObject({ mode: 'copy', moved: 2, failed: 0 });
    expect(sqs.queue).toEqual(['grp_1 one', 'grp_1 three']);
    expect(sqs.dlq.map((message) => message.Body).sort()).toEqual(['grp_1 four', 'grp_2 two']);
    expect(sqs.calls).not.toContain('StartMessageMoveTaskCommand');
    await expect(replay(sqs, options({ mode: 'move-task', contains: 'x' }))).rejects.toThrow(/copy mode/);
  });

  it('keeps messages it could not send in the DLQ', async () => {
    const sqs = new FakeSqs(['good', 'bad']);
    sqs.failSendIds.add('bad');
    const result = await replay(sqs, options({ mode: 'copy' }));
    expect(result).toMatchObject({ moved: 1, failed: 1 });
    expect(sqs.dlq.map((message) => message.Body)).toEqual(['bad']);
  });

  it('lists without moving anything', async () => {
    const sqs = new FakeSqs(['{"kind":"deliver"}', 'x']);
    const result = await replay(sqs, options({ list: true }));
    expect(result.mode).toBe('list');
    expect(result.messages?.map((message) => [message.messageId, message.receiveCount, message.body])).toEqual([
      ['m0', 6, '{"kind":"deliver"}'],
      ['m1', 6, 'x'],
    ]);
    expect(sqs.queue).toEqual([]);
    expect(sqs.dlq).toHaveLength(2);
  });

  it('takes queue URLs from flags, then the environment, and reads cdk outputs', () => {
    expect(parseArgs(['--queue-url', 'q', '--dlq-url=d', '--list'], {})).toMatchObject({ queueUrl: 'q', dlqUrl: 'd', list: true, mode: 'auto' });
    expect(parseArgs([], { FANOUT_QUEUE_URL: 'eq', FANOUT_DLQ_URL: 'ed' })).toMatchObject({ queueUrl: 'eq', dlqUrl: 'ed', waitSeconds: 600 });
    expect(parseArgs(['--no-wait', '--max', '3', '--contains', 'grp_x', '--mode', 'copy'], {})).toMatchObject({
      waitSeconds: 0,
      max: 3,
      contains: 'grp_x',
      mode: 'copy',
    });
    expect(() => parseArgs(['--mode', 'yolo'], {})).toThrow(/--mode/);
    expect(() => parseArgs(['--max', '-1'], {})).toThrow(/--max/);
    expect(() => parseArgs(['--frobnicate', '1'], {})).toThrow(/unknown option/);
    expect(() => parseArgs(['--queue-url'], {})).toThrow(/needs a value/);
    const outputs = { Parley: { FanoutQueueUrl: queueUrl, FanoutDlqUrl: dlqUrl, WebSocketUrl: 'wss://x' }, Other: { FanoutQueueUrl: 'other' } };
    expect(urlsFromOutputs(outputs, 'fanout', 'Parley')).toEqual({ queueUrl, dlqUrl });
    expect(urlsFromOutputs({}, 'fanout')).toEqual({ queueUrl: undefined, dlqUrl: undefined });
  });
});
