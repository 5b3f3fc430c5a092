/**
 * `npm run dlq:replay`: shows what is in a dead-letter queue and moves it back to its source queue.
 *
 *   npm run dlq:replay -- --list                         # what is in the DLQ (nothing is moved)
 *   npm run dlq:replay                                   # move everything back
 *   npm run dlq:replay -- --contains grp_7b0e --max 10   # only matching messages (copy mode)
 *
 * Queues: `--queue-url` / `--dlq-url`, else `FANOUT_QUEUE_URL` / `FANOUT_DLQ_URL`, else the stack outputs
 * `FanoutQueueUrl` / `FanoutDlqUrl` from `cdk deploy --outputs-file cdk-outputs.json` (`--outputs <file>`), else, when
 * `AWS_ENDPOINT_URL_SQS` points at an emulator (fauxqs, `npm start`), the local queues `parley-fanout(-dlq)`.
 *
 * On AWS the move is an SQS message move task (`StartMessageMoveTask`, the console's "Start DLQ redrive"), and the
 * script waits for it to finish. Where move tasks are unavailable (emulators, missing permission), or when only some
 * messages are wanted (`--contains`, `--max`), it copies: receive from the DLQ, send to the queue, then delete from
 * the DLQ, so a crash in between duplicates a job rather than losing it (fanout jobs are idempotent for clients).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
  type Message,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';

/** The part of `SQSClient` the script uses, so tests can hand in a fake. */
export type SqsLike = Pick<SQSClient, 'send'>;

export interface ReplayOptions {
  queueUrl: string;
  dlqUrl: string;
  /** `auto`: a move task when possible, else copy. */
  mode: 'auto' | 'move-task' | 'copy';
  /** Only list the DLQ's messages. */
  list: boolean;
  /** Copy only messages whose body contains this text. */
  contains?: string;
  /** Move (or list) at most this many messages. */
  max?: number;
  /** How long to wait for a move task to finish (0: do not wait). */
  waitSeconds: number;
  /** How often to check on a move task (default 2 s). */
  pollIntervalMs?: number;
  log: (line: string) => void;
}

export interface DlqMessage {
  messageId: string;
  receiveCount: number;
  sentAt: string | null;
  body: string;
}

export interface ReplayResult {
  mode: 'move-task' | 'copy' | 'list';
  moved: number;
  /** Messages left in the DLQ because they did not match `--contains` (or were over `--max`). */
  skipped: number;
  failed: number;
  /** Approximate number of messages in the DLQ before the run. */
  inDlq: number;
  messages?: DlqMessage[];
  taskHandle?: string;
  taskStatus?: string;
}

const receiveVisibilitySeconds = 60;
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function attribute(sqs: SqsLike, queueUrl: string, name: 'QueueArn' | 'ApproximateNumberOfMessages'): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [name] }));
  const value = Attributes?.[name];
  if (value === undefined) throw new Error(`${queueUrl} has no ${name}`);
  return value;
}

const summary = (message: Message): DlqMessage => ({
  messageId: message.MessageId ?? '',
  receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
  sentAt: message.Attributes?.SentTimestamp ? new Date(Number(message.Attributes.SentTimestamp)).toISOString() : null,
  body: message.Body ?? '',
});

/**
 * Receives DLQ messages in rounds, keeping every received message invisible until the end so no message is seen
 * twice, and hands each round to `onRound`; the messages `onRound` does not consume are made visible again at the end.
 */
async function sweep(sqs: SqsLike, dlqUrl: string, onRound: (messages: Message[]) => Promise<Set<string>>, shouldStop: () => boolean): Promise<void> {
  const held: Message[] = [];
  try {
    for (let round = 0; round < 100_000 && !shouldStop(); round++) {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dlqUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: receiveVisibilitySeconds,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (!Messages?.length) break;
      const consumed = await onRound(Messages);
      held.push(...Messages.filter((message) => !consumed.has(message.MessageId!)));
    }
  } finally {
    for (let i = 0; i < held.length; i += 10) {
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: dlqUrl,
          Entries: held.slice(i, i + 10).map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: 0 })),
        }),
      );
    }
  }
}

/** Lists (at most `max`) messages of the DLQ without moving them. */
export async function listDlq(sqs: SqsLike, dlqUrl: string, max = 50): Promise<DlqMessage[]> {
  const found: DlqMessage[] = [];
  await sweep(
    sqs,
    dlqUrl,
    async (messages) => {
      found.push(...messages.map(summary));
      return new Set();
    },
    () => found.length >= max,
  );
  return found.slice(0, max);
}

/** Copies matching DLQ messages to the queue, then deletes them from the DLQ. */
async function copy(sqs: SqsLike, options: ReplayOptions): Promise<Pick<ReplayResult, 'moved' | 'skipped' | 'failed'>> {
  let moved = 0;
  let skipped = 0;
  let failed = 0;
  const fifo = options.queueUrl.endsWith('.fifo');
  await sweep(
    sqs,
    options.dlqUrl,
    async (messages) => {
      let room = options.max === undefined ? Infinity : options.max - moved - failed;
      const wanted = messages.filter((message) => (options.contains === undefined || (message.Body ?? '').includes(options.contains)) && room-- > 0);
      skipped += messages.length - wanted.length;
      if (wanted.length === 0) return new Set();
      const sent = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: wanted.map((message, index) => ({
            Id: String(index),
            MessageBody: message.Body ?? '',
            MessageAttributes: message.MessageAttributes as Record<string, MessageAttributeValue> | undefined,
            ...(fifo
              ? { MessageGroupId: message.Attributes?.MessageGroupId, MessageDeduplicationId: message.Attributes?.MessageDeduplicationId ?? message.MessageId }
              : {}),
          })),
        }),
      );
      const ok = new Set((sent.Successful ?? []).map((entry) => Number(entry.Id)));
      const done = wanted.filter((_, index) => ok.has(index));
      failed += wanted.length - done.length;
      for (const message of wanted.filter((_, index) => !ok.has(index))) {
        options.log(`could not send ${message.MessageId} back; it stays in the DLQ`);
      }
      if (done.length > 0) {
        const deleted = await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: options.dlqUrl,
            Entries: done.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })),
          }),
        );
        for (const entry of deleted.Failed ?? []) options.log(`sent, but could not delete ${done[Number(entry.Id)]?.MessageId} from the DLQ: ${entry.Message}`);
      }
      for (const message of done) options.log(`moved ${message.MessageId} (received ${message.Attributes?.ApproximateReceiveCount ?? '?'} times)`);
      moved += done.length;
      return new Set(done.map((message) => message.MessageId!));
    },
    () => options.max !== undefined && moved + failed >= options.max,
  );
  return { moved, skipped, failed };
}

/** Starts an SQS message move task from the DLQ to the queue and (unless `waitSeconds` is 0) waits for it. */
async function moveTask(sqs: SqsLike, options: ReplayOptions): Promise<Pick<ReplayResult, 'moved' | 'taskHandle' | 'taskStatus'>> {
  const [sourceArn, destinationArn] = await Promise.all([attribute(sqs, options.dlqUrl, 'QueueArn'), attribute(sqs, options.queueUrl, 'QueueArn')]);
  const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn }));
  options.log(`started message move task ${TaskHandle} from ${sourceArn} to ${destinationArn}`);
  const deadline = Date.now() + options.waitSeconds * 1000;
  let status = 'RUNNING';
  let moved = 0;
  while (options.waitSeconds > 0) {
    const { Results } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }));
    const task = Results?.find((candidate) => candidate.TaskHandle === TaskHandle) ?? Results?.[0];
    status = task?.Status ?? status;
    moved = Number(task?.ApproximateNumberOfMessagesMoved ?? moved);
    if (status === 'FAILED') throw new Error(`message move task failed: ${task?.FailureReason ?? 'unknown reason'}`);
    if (status === 'COMPLETED' || status === 'CANCELLED' || status === 'CANCELLING') break;
    if (Date.now() > deadline) {
      options.log(`the task is still ${status} after ${options.waitSeconds} s; it keeps running in SQS`);
      break;
    }
    await sleep(options.pollIntervalMs ?? 2000);
  }
  return { moved, taskHandle: TaskHandle, taskStatus: status };
}

/** Lists or replays the DLQ according to `options`. */
export async function replay(sqs: SqsLike, options: ReplayOptions): Promise<ReplayResult> {
  const inDlq = Number(await attribute(sqs, options.dlqUrl, 'ApproximateNumberOfMessages').catch(() => 'NaN'));
  if (options.list) {
    const messages = await listDlq(sqs, options.dlqUrl, options.max ?? 50);
    return { mode: 'list', moved: 0, skipped: messages.length, failed: 0, inDlq, messages };
  }
  const filtered = options.contains !== undefined || options.max !== undefined;
  if (options.mode === 'move-task' && filtered) throw new Error('--contains and --max need copy mode; a move task moves everything');
  if (options.mode === 'move-task' || (options.mode === 'auto' && !filtered)) {
    try {
      return { mode: 'move-task', skipped: 0, failed: 0, inDlq, ...(await moveTask(sqs, options)) };
    } catch (error) {
      if (options.mode === 'move-task') throw error;
      options.log(`message move task unavailable (${(error as Error).name}: ${(error as Error).message}); copying instead`);
    }
  }
  return { mode: 'copy', inDlq, ...(await copy(sqs, options)) };
}

type Env = Record<string, string | undefined>;

const pascal = (name: string) => name.replace(/(^|[-_])([a-z])/g, (_, __, letter: string) => letter.toUpperCase());

/** Reads `<Queue>QueueUrl` / `<Queue>DlqUrl` from a `cdk deploy --outputs-file` JSON (any stack, or `stack`). */
export function urlsFromOutputs(outputs: unknown, queue: string, stack?: string): { queueUrl?: string; dlqUrl?: string } {
  const stacks = Object.entries((outputs ?? {}) as Record<string, Record<string, string>>).filter(([name]) => !stack || name === stack);
  const find = (suffix: string) =>
    stacks.flatMap(([, values]) => Object.entries(values ?? {})).find(([key]) => key.startsWith(`${pascal(queue)}${suffix}`))?.[1];
  return { queueUrl: find('QueueUrl'), dlqUrl: find('DlqUrl') };
}

export interface ParsedArgs {
  queueUrl?: string;
  dlqUrl?: string;
  queue: string;
  outputs?: string;
  stack?: string;
  mode: ReplayOptions['mode'];
  list: boolean;
  contains?: string;
  max?: number;
  waitSeconds: number;
  help: boolean;
}

/** Parses the command line; values come from flags, then the environment. */
export function parseArgs(argv: readonly string[], env: Env = process.env): ParsedArgs {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (['list', 'help', 'no-wait'].includes(name)) flags.set(name, true);
    else if (inline !== undefined) flags.set(name, inline);
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) flags.set(name, argv[++i]!);
    else throw new Error(`--${name} needs a value`);
  }
  const known = ['queue-url', 'dlq-url', 'queue', 'outputs', 'stack', 'mode', 'list', 'contains', 'max', 'wait-seconds', 'no-wait', 'help'];
  for (const name of flags.keys()) if (!known.includes(name)) throw new Error(`unknown option --${name}`);
  const text = (name: string) => (typeof flags.get(name) === 'string' ? (flags.get(name) as string) : undefined);
  const integer = (name: string) => {
    const raw = text(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
    return value;
  };
  const queue = text('queue') ?? 'fanout';
  const envName = queue.toUpperCase().replace(/-/g, '_');
  const mode = text('mode') ?? 'auto';
  if (!['auto', 'move-task', 'copy'].includes(mode)) throw new Error('--mode is auto, move-task or copy');
  return {
    queueUrl: text('queue-url') ?? env[`${envName}_QUEUE_URL`],
    dlqUrl: text('dlq-url') ?? env[`${envName}_DLQ_URL`],
    queue,
    outputs: text('outputs'),
    stack: text('stack'),
    mode: mode as ReplayOptions['mode'],
    list: flags.has('list'),
    contains: text('contains'),
    max: integer('max'),
    waitSeconds: flags.has('no-wait') ? 0 : (integer('wait-seconds') ?? 600),
    help: flags.has('help'),
  };
}

/** The region of a queue URL (`https://sqs.eu-west-1.amazonaws.com/...`), if it names one. */
const regionOf = (queueUrl?: string) => queueUrl?.match(/^https?:\/\/sqs\.([a-z0-9-]+)\./)?.[1];

const usage = `Usage: npm run dlq:replay -- [--list] [--queue-url URL --dlq-url URL] [--queue fanout] [--outputs cdk-outputs.json]
                              [--stack NAME] [--mode auto|move-task|copy] [--contains TEXT] [--max N]
                              [--wait-seconds N | --no-wait]`;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(usage);
    return;
  }
  let { queueUrl, dlqUrl } = args;
  const outputsFile = args.outputs ?? (existsSync('cdk-outputs.json') ? 'cdk-outputs.json' : undefined);
  if ((!queueUrl || !dlqUrl) && outputsFile) {
    const fromOutputs = urlsFromOutputs(JSON.parse(readFileSync(outputsFile, 'utf8')), args.queue, args.stack);
    queueUrl ??= fromOutputs.queueUrl;
    dlqUrl ??= fromOutputs.dlqUrl;
  }
  const local = Boolean(process.env.AWS_ENDPOINT_URL_SQS || process.env.AWS_ENDPOINT_URL);
  const sqs = new SQSClient({
    region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? regionOf(queueUrl) ?? regionOf(dlqUrl) ?? 'us-east-1',
    // Emulators hand out queue URLs whose hosts do not resolve; the configured endpoint is right either way.
    useQueueUrlAsEndpoint: false,
    ...(local && !process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  try {
    if ((!queueUrl || !dlqUrl) && local) {
      const name = `parley-${args.queue}`;
      queueUrl ??= (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
      dlqUrl ??= (await sqs.send(new GetQueueUrlCommand({ QueueName: `${name}-dlq` }))).QueueUrl;
    }
    if (!queueUrl || !dlqUrl) {
      throw new Error(`no queue URLs: pass --queue-url and --dlq-url, set FANOUT_QUEUE_URL and FANOUT_DLQ_URL, or --outputs cdk-outputs.json\n${usage}`);
    }
    const result = await replay(sqs, { ...args, queueUrl, dlqUrl, log: (line) => console.error(line) });
    if (result.messages) {
      for (const message of result.messages) {
        console.error(`${message.messageId}  received ${message.receiveCount}x  sent ${message.sentAt ?? '?'}  ${message.body.slice(0, 300)}`);
      }
    }
    console.log(JSON.stringify({ queueUrl, dlqUrl, ...result }));
  } finally {
    sqs.destroy();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    console.error(`dlq:replay failed: ${(error as Error).message}`);
    process.exitCode = 1;
  });
}
