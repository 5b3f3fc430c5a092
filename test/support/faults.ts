/**
 * Helpers for fault-injection tests against the shared local stack: the emulator's control API, the fanout queue and
 * its DLQ, reliable sends, and the "every member ends with exactly the sent messages" check.
 */
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { expect } from 'vitest';
import type { FaultRule, FaultStatus } from '../../local/faults.js';
import type { ParleyInfo } from '../setup/local-stack.js';
import type { Frame, TestClient } from './ws-client.js';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 50 ms; fails with `what` (and `detail()`) after `timeoutMs`. */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000, detail?: () => unknown): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? `: ${JSON.stringify(detail())}` : ''}`);
    await sleep(50);
  }
}

/** The emulator's local control API (`/_emulator/...` on the WebSocket API's port). */
export function controlApi(info: Pick<ParleyInfo, 'callbackUrl'>) {
  const base = `${new URL(info.callbackUrl).origin}/_emulator`;
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  return {
    call,
    /** Adds rules; returns their ids. */
    async addFaults(rules: FaultRule | FaultRule[]): Promise<string[]> {
      const { status, body } = await call('POST', '/faults', rules);
      if (status !== 200) throw new Error(`POST /_emulator/faults: ${status} ${JSON.stringify(body)}`);
      return body.ids as string[];
    },
    async removeFaults(ids: readonly string[]): Promise<void> {
      await Promise.all(ids.map((id) => call('DELETE', `/faults/${encodeURIComponent(id)}`)));
    },
    async fault(id: string): Promise<FaultStatus> {
      const { status, body } = await call('GET', `/faults/${encodeURIComponent(id)}`);
      if (status !== 200) throw new Error(`GET /_emulator/faults/${id}: ${status}`);
      return body as FaultStatus;
    },
    async connections(): Promise<{ connectionId: string; principalId: string }[]> {
      return (await call('GET', '/connections')).body.connections;
    },
    /** The one open connection of `userId` (tests use unique users). */
    async connectionIdOf(userId: string): Promise<string> {
      const mine = (await this.connections()).filter((connection) => connection.principalId === userId);
      if (mine.length !== 1) throw new Error(`${userId} has ${mine.length} open connections`);
      return mine[0]!.connectionId;
    },
  };
}

export type ControlApi = ReturnType<typeof controlApi>;

/** The fanout queue and its DLQ. */
export function queues(info: Pick<ParleyInfo, 'sqsEndpoint' | 'queueUrls' | 'dlqUrls'>) {
  const sqs = new SQSClient({ endpoint: info.sqsEndpoint, region: 'us-east-1', credentials, useQueueUrlAsEndpoint: false });
  const queueName = (url: string) => url.split('/').at(-1)!;
  /** Bodies of every fanout job not yet done (ready, delayed or in flight), without touching them (fauxqs inspection). */
  const pendingBodies = async (): Promise<string[]> => {
    const response = await fetch(`${info.sqsEndpoint}/_fauxqs/queues/${queueName(info.queueUrls.fanout)}`);
    const state = (await response.json()) as { messages: Record<'ready' | 'delayed' | 'inflight', { body?: string; message?: { body: string } }[]> };
    return [...state.messages.ready, ...state.messages.delayed, ...state.messages.inflight].map((entry) => entry.body ?? entry.message?.body ?? '');
  };
  return {
    sqs,
    pendingBodies,
    /** Waits until no fanout job mentioning `marker` is left in the queue. */
    async settled(marker: string, timeoutMs = 30_000): Promise<void> {
      await until(`fanout jobs for ${marker} to finish`, async () => !(await pendingBodies()).some((body) => body.includes(marker)), timeoutMs);
    },
    /** DLQ messages mentioning `marker`, read through the SQS API and left in place (visibility timeout 0). */
    async dlqMentioning(marker: string): Promise<{ messageId: string; body: string }[]> {
      const seen = new Map<string, string>();
      for (let round = 0; round < 5; round++) {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: info.dlqUrls.fanout, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0 }),
        );
        const fresh = Messages.filter((message) => !seen.has(message.MessageId!));
        for (const message of Messages) seen.set(message.MessageId!, message.Body ?? '');
        if (fresh.length === 0) break;
      }
      return [...seen].filter(([, body]) => body.includes(marker)).map(([messageId, body]) => ({ messageId, body }));
    },
  };
}

const retryable = new Set(['unavailable', 'internal', 'rate_limited']);

/**
 * Sends like a well-behaved client: retries `unavailable`, `internal`, `rate_limited` and lost replies with the same
 * clientMessageId, with backoff, and returns the ack.
 */
export async function sendReliably(
  client: TestClient,
  conversationId: string,
  clientMessageId: string,
  body: string,
  options: { attempts?: number; replies?: Frame[] } = {},
): Promise<Frame> {
  const attempts = options.attempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    let reply: Frame;
    try {
      reply = await client.request({ action: 'send', conversationId, clientMessageId, body }, { timeoutMs: 20_000 });
    } catch (error) {
      if (attempt >= attempts) throw error;
      continue;
    }
    options.replies?.push(reply);
    if (reply.type === 'ack') return reply;
    if (!retryable.has(reply.code) || attempt >= attempts) throw new Error(`send ${clientMessageId} failed: ${JSON.stringify(reply)}`);
    await sleep(Math.max(Number(reply.retryAfterMs ?? 0), 100 * 2 ** Math.min(attempt, 4) * Math.random()));
  }
}

/** One conversation's sync entry for `client` after `cursor` (a page scoped to just that conversation), or undefined. */
export async function syncOne(
  client: TestClient,
  conversationId: string,
  cursor: { seq: number; epoch: string | null } = { seq: 0, epoch: null },
  limit = 100,
): Promise<Frame | undefined> {
  const reply = await client.request({
    action: 'sync',
    from: conversationId,
    through: conversationId,
    cursors: { [conversationId]: cursor },
    limit,
  });
  expect(reply.type, JSON.stringify(reply)).toBe('sync');
  return reply.conversations.find((candidate: Frame) => candidate.conversationId === conversationId);
}

/** The conversation's epoch as `client` sees it (null before its first message). */
export async function epochOf(client: TestClient, conversationId: string): Promise<string | null> {
  const entry = await syncOne(client, conversationId, { seq: 0, epoch: null }, 1);
  return entry?.epoch ?? null;
}

/**
 * Every stored message of a conversation as `client` gets it through sync from cursor 0, oldest first: sync pages
 * while `hasMore`, and the range a `limited` reply skipped is read with history, as the SDK does on scroll-back.
 */
export async function syncAll(client: TestClient, conversationId: string): Promise<Frame[]> {
  const synced: Frame[] = [];
  let cursor = { seq: 0, epoch: null as string | null };
  let skippedBelow = 0;
  for (let round = 0; round < 100; round++) {
    const entry = await syncOne(client, conversationId, cursor);
    if (!entry || entry.messages.length === 0) break;
    if (entry.limited) skippedBelow = entry.messages[0].seq;
    synced.push(...entry.messages);
    cursor = { seq: entry.messages.at(-1).seq, epoch: entry.epoch };
    if (!entry.hasMore) break;
  }
  const older: Frame[] = [];
  for (let beforeSeq = skippedBelow; beforeSeq > 1; ) {
    const page = await client.request({ action: 'history', conversationId, beforeSeq, limit: 100 });
    expect(page.type, JSON.stringify(page)).toBe('history');
    older.unshift(...[...page.messages].reverse());
    if (page.nextBeforeSeq === null) break;
    beforeSeq = page.nextBeforeSeq;
  }
  return [...older, ...synced];
}

/** The `message` pushes a client received for a conversation, duplicates included, in arrival order. */
export const pushedMessages = (client: TestClient, conversationId: string): Frame[] =>
  client.frames.filter((frame) => frame.type === 'message' && frame.message?.conversationId === conversationId).map((frame) => frame.message);

/** Waits until `client` was pushed every seq in `seqs` for the conversation. */
export async function receivedSeqs(client: TestClient, conversationId: string, seqs: readonly number[], timeoutMs = 25_000): Promise<void> {
  await until(
    `${client.userId} to be pushed seqs ${seqs.join(',')}`,
    () => {
      const have = new Set(pushedMessages(client, conversationId).map((message) => message.seq));
      return seqs.every((seq) => have.has(seq));
    },
    timeoutMs,
    () => pushedMessages(client, conversationId).map((message) => message.seq),
  );
}

/** How many pushes a client got beyond one per (conversationId, seq). */
export const duplicatePushes = (client: TestClient, conversationId: string): number => {
  const pushed = pushedMessages(client, conversationId);
  return pushed.length - new Set(pushed.map((message) => message.seq)).size;
};

/**
 * The end state every fault test checks: each member, after sync, holds exactly the sent messages (by
 * clientMessageId and body), with seqs 1..n in order, sent by `senderId`; every push it got (duplicates included)
 * is identical to the stored message with that (conversationId, seq), so a client dropping duplicates by
 * (conversationId, seq) shows each message exactly once.
 */
export async function expectExactlyTheSentMessages(
  members: readonly TestClient[],
  conversationId: string,
  sent: readonly { clientMessageId: string; body: string }[],
  senderId: string,
): Promise<void> {
  for (const member of members) {
    const synced = await syncAll(member, conversationId);
    expect(
      synced.map((message) => message.seq),
      `${member.userId}: seqs after sync`,
    ).toEqual(sent.map((_, index) => index + 1));
    expect(
      synced.map((message) => ({ clientMessageId: message.clientMessageId, body: message.body })),
      `${member.userId}: messages after sync`,
    ).toEqual(sent.map(({ clientMessageId, body }) => ({ clientMessageId, body })));
    expect(new Set(synced.map((message) => message.senderId))).toEqual(new Set([senderId]));
    const bySeq = new Map(synced.map((message) => [message.seq, message]));
    for (const pushed of pushedMessages(member, conversationId)) {
      expect(pushed, `${member.userId}: push of seq ${pushed.seq} matches the stored message`).toEqual(bySeq.get(pushed.seq));
    }
    // What a client that drops duplicates by (conversationId, seq) and fills gaps by sync shows.
    const shown = new Map<number, Frame>();
    for (const message of [...pushedMessages(member, conversationId), ...synced]) if (!shown.has(message.seq)) shown.set(message.seq, message);
    expect([...shown.keys()].sort((a, b) => a - b)).toEqual(sent.map((_, index) => index + 1));
  }
}
