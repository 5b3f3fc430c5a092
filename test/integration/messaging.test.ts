import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { loadFanoutHandler, sqsEvent } from '../support/fanout-handler.js';
import { connectAs, uniqueUser, type TestClient } from '../support/ws-client.js';

const info = inject('parley');
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: info.dynamodbEndpoint, region: 'us-east-1', credentials }));

type Frame = Record<string, any>;
const isMessage = (conversationId: string, seq?: number) => (frame: Frame) =>
  frame.type === 'message' && frame.message.conversationId === conversationId && (seq === undefined || frame.message.seq === seq);
const messagesIn = (client: TestClient, conversationId: string) => client.frames.filter(isMessage(conversationId)).map((frame) => frame.message as Frame);

async function direct(a: TestClient, bUser: string): Promise<string> {
  const reply = await a.request({ action: 'createConversation', kind: 'direct', userId: bUser });
  expect(reply.type).toBe('conversation');
  return reply.conversation.conversationId;
}

/** Waits until `client` holds `count` pushed messages of the conversation. */
const receiveAll = (client: TestClient, conversationId: string, count: number, timeoutMs = 20_000) =>
  client.waitFor(() => messagesIn(client, conversationId).length >= count, { timeoutMs });

describe('1:1 and group delivery', () => {
  it("delivers a 1:1 message to the other user and the sender's other device, with an ack after storing", async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const [a1, a2, b] = await Promise.all([connectAs(info, alice), connectAs(info, alice), connectAs(info, bob)]);
    const conversationId = await direct(a1, bob);
    expect(await direct(b, alice)).toBe(conversationId);

    const ack = await a1.request({ action: 'send', conversationId, clientMessageId: 'm1', body: 'hello bob' });
    expect(ack).toMatchObject({ type: 'ack', conversationId, clientMessageId: 'm1', seq: 1, duplicate: false });
    const stored = await ddb.send(new GetCommand({ TableName: info.tableNames.messages, Key: { conversationId, seq: 1 } }));
    expect(stored.Item).toMatchObject({ body: 'hello bob', senderId: alice });

    for (const client of [b, a2]) {
      const pushed = await client.waitFor(isMessage(conversationId, 1));
      expect(pushed.message).toMatchObject({ senderId: alice, body: 'hello bob', seq: 1, clientMessageId: 'm1' });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(messagesIn(a1, conversationId)).toEqual([]);
    await Promise.all([a1, a2, b].map((client) => client.close()));
  });

  it('delivers each group message exactly once to all 130 members, devices included', async () => {
    const users = Array.from({ length: 130 }, (_, i) => uniqueUser(`g${i}`));
    const clients = await Promise.all(users.map((user) => connectAs(info, user)));
    const secondDevices = await Promise.all(users.slice(0, 5).map((user) => connectAs(info, user)));
    const [owner] = clients as [TestClient];
    const created = await owner.request({ action: 'createConversation', kind: 'group', title: 'All hands', members: users.slice(1) });
    expect(created.conversation.members).toHaveLength(130);
    const conversationId = created.conversation.conversationId;

    const sent = 3;
    for (let i = 1; i <= sent; i++) {
      const ack = await owner.request({ action: 'send', conversationId, clientMessageId: `g-${i}`, body: `update ${i}` });
      expect(ack.seq).toBe(i);
    }
    const receivers = [...clients.slice(1), ...secondDevices];
    await Promise.all(receivers.map((client) => receiveAll(client, conversationId, sent)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const client of receivers) {
      expect(
        messagesIn(client, conversationId)
          .map((message) => message.seq)
          .sort((x, y) => x - y),
      ).toEqual([1, 2, 3]);
    }
    await Promise.all([...clients, ...secondDevices].map((client) => client.close()));
  });

  it('gives every member seq 1..N with no gap or duplicate when 10 members send concurrently', async () => {
    const users = Array.from({ length: 10 }, (_, i) => uniqueUser(`c${i}`));
    const clients = await Promise.all(users.map((user) => connectAs(info, user)));
    const created = await clients[0]!.request({ action: 'createConversation', kind: 'group', title: 'Race', members: users.slice(1) });
    const conversationId = created.conversation.conversationId;
    const perSender = 5;
    const acks = await Promise.all(
      clients.map(async (client, index) => {
        const seqs: number[] = [];
        for (let i = 0; i < perSender; i++) {
          const ack = await client.request({ action: 'send', conversationId, clientMessageId: `s${index}-${i}`, body: `${index}:${i}` });
          expect(ack, JSON.stringify(ack)).toMatchObject({ type: 'ack' });
          seqs.push(ack.seq);
        }
        return seqs;
      }),
    );
    const total = users.length * perSender;
    expect(acks.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const reply = await clients[0]!.request({ action: 'sync', cursors: {}, limit: 100 });
    const entry = reply.conversations.find((c: Frame) => c.conversationId === conversationId);
    expect(entry.messages.map((message: Frame) => message.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    // Pushes: everyone sees every message except their own sends (which they learn from acks).
    await Promise.all(clients.map((client) => receiveAll(client, conversationId, total - perSender)));
    for (const [index, client] of clients.entries()) {
      const seen = messagesIn(client, conversationId).map((message) => message.seq);
      expect(new Set(seen).size).toBe(seen.length);
      const own = new Set(acks[index]);
      expect(seen.filter((seq) => !own.has(seq)).length).toBe(total - perSender);
    }
    await Promise.all(clients.map((client) => client.close()));
  });
});

describe('idempotency, catch-up and history', () => {
  it('stores a retried send once and returns the same seq', async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const a = await connectAs(info, alice);
    const conversationId = await direct(a, bob);
    const frame = { action: 'send', conversationId, clientMessageId: 'same-id', body: 'once' };
    const first = await a.request(frame);
    const [second, third] = await Promise.all([a.request(frame), a.request(frame)]);
    expect(first).toMatchObject({ seq: 1, duplicate: false });
    expect(second).toMatchObject({ seq: 1, duplicate: true, createdAt: first.createdAt });
    expect(third).toMatchObject({ seq: 1, duplicate: true });
    const rows = await ddb.send(
      new QueryCommand({
        TableName: info.tableNames.messages,
        KeyConditionExpression: 'conversationId = :c AND seq > :head',
        ExpressionAttributeValues: { ':c': conversationId, ':head': 0 },
      }),
    );
    expect(rows.Items).toHaveLength(1);
    await a.close();
  });

  it('returns the same group for a retried create with the same clientRequestId, without resetting receipts', async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const a = await connectAs(info, alice);
    const create = { action: 'createConversation', kind: 'group', title: 'Once', members: [bob], clientRequestId: 'create-1' };
    const first = await a.request(create);
    const conversationId = first.conversation.conversationId;
    await a.request({ action: 'send', conversationId, clientMessageId: 'm1', body: 'hi' });
    await a.request({ action: 'ack', conversationId, kind: 'read', seq: 1 });

    const retried = await a.request(create);
    expect(retried.conversation).toMatchObject({ conversationId, title: 'Once', lastSeq: 1 });
    const other = await a.request({ ...create, clientRequestId: 'create-2' });
    expect(other.conversation.conversationId).not.toBe(conversationId);
    const listed = await a.request({ action: 'listConversations' });
    expect(listed.conversations.find((c: Frame) => c.conversationId === conversationId)).toMatchObject({ lastReadSeq: 1, unread: 0 });
    await a.close();
  });

  it('lets a member who was offline catch up through sync, and pages history back', async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const a = await connectAs(info, alice);
    const conversationId = await direct(a, bob);
    for (let i = 1; i <= 25; i++) await a.request({ action: 'send', conversationId, clientMessageId: `h${i}`, body: `msg ${i}` });

    const b = await connectAs(info, bob);
    const seqs: number[] = [];
    let cursor = { seq: 0, epoch: null as string | null };
    for (let round = 0; round < 10; round++) {
      const reply = await b.request({ action: 'sync', cursors: { [conversationId]: cursor }, limit: 50 });
      const entry = reply.conversations.find((c: Frame) => c.conversationId === conversationId);
      if (!entry) break;
      expect(entry.limited).toBe(false);
      seqs.push(...entry.messages.map((message: Frame) => message.seq));
      cursor = { seq: seqs.at(-1)!, epoch: entry.epoch };
      if (!entry.hasMore) break;
    }
    expect(seqs).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    // A client that missed more than its limit gets the newest ones, marked limited; history has the rest.
    const limited = await b.request({ action: 'sync', cursors: { [conversationId]: { seq: 0, epoch: null } }, limit: 10 });
    const newest = limited.conversations.find((c: Frame) => c.conversationId === conversationId);
    expect(newest).toMatchObject({ limited: true, lastSeq: 25 });
    expect(newest.messages.map((message: Frame) => message.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 16));

    const pages: number[][] = [];
    let beforeSeq: number | undefined;
    do {
      const page = await b.request({ action: 'history', conversationId, limit: 10, ...(beforeSeq ? { beforeSeq } : {}) });
      pages.push(page.messages.map((message: Frame) => message.seq));
      beforeSeq = page.nextBeforeSeq ?? undefined;
    } while (beforeSeq);
    expect(pages.map((page) => [page[0], page.at(-1)])).toEqual([
      [25, 16],
      [15, 6],
      [5, 1],
    ]);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('authorization', () => {
  it('denies non-members every conversation action and ignores forged sender fields', async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const mallory = uniqueUser('mallory');
    const [a, m] = await Promise.all([connectAs(info, alice), connectAs(info, mallory)]);
    const conversationId = await direct(a, bob);
    await a.request({ action: 'send', conversationId, clientMessageId: 'secret', body: 'for bob only' });

    for (const frame of [
      { action: 'send', conversationId, clientMessageId: 'x', body: 'let me in', senderId: alice },
      { action: 'history', conversationId },
      { action: 'addMembers', conversationId, members: [mallory] },
      { action: 'ack', conversationId, kind: 'read', seq: 1 },
      { action: 'typing', conversationId, state: 'start' },
    ]) {
      expect(await m.request(frame)).toMatchObject({ type: 'error', code: 'forbidden' });
    }
    const synced = await m.request({ action: 'sync', cursors: { [conversationId]: { seq: 0, epoch: null } } });
    expect(synced.conversations).toEqual([]);

    const forged = await a.request({ action: 'send', conversationId, clientMessageId: 'f', body: 'who am i', senderId: bob, userId: bob });
    const page = await a.request({ action: 'history', conversationId, limit: 1 });
    expect(page.messages[0]).toMatchObject({ seq: forged.seq, senderId: alice });
    await Promise.all([a.close(), m.close()]);
  });
});

describe('stale connections', () => {
  it('deletes a connection that closed without $disconnect when a fanout gets 410, and the batch succeeds', async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const [a, b] = await Promise.all([connectAs(info, alice), connectAs(info, bob)]);
    const conversationId = await direct(a, bob);
    // A record left behind by a connection whose $disconnect never arrived.
    const stale = 'StaleConnId0=';
    await ddb.send(
      new UpdateCommand({
        TableName: info.tableNames.presence,
        Key: { userId: bob },
        UpdateExpression: 'SET connections.#c = :exp',
        ExpressionAttributeNames: { '#c': stale },
        ExpressionAttributeValues: { ':exp': Math.floor(Date.now() / 1000) + 600 },
      }),
    );
    // The real fanout handler, in this process, pointed at the local stack: one batch with the job.
    const fanout = await loadFanoutHandler();
    const job = { kind: 'deliver', event: { type: 'typing', conversationId, userId: alice, state: 'start' }, recipients: [bob], attempt: 0 };
    const result = await fanout(sqsEvent([job]), {} as never);
    expect(result).toEqual({ batchItemFailures: [] });
    await b.waitFor((frame) => frame.type === 'typing' && frame.conversationId === conversationId);
    const { Item } = await ddb.send(new GetCommand({ TableName: info.tableNames.presence, Key: { userId: bob } }));
    expect(Object.keys(Item?.connections ?? {})).not.toContain(stale);
    expect(Object.keys(Item?.connections ?? {})).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });
});
