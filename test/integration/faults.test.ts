/**
 * Fault injection against the shared local stack: failed and throttled pushes, stale connections, DynamoDB throttling,
 * lost responses and transaction conflicts, fanout worker crashes, SQS redelivery and duplicate delivery, SQS outages,
 * clients vanishing between send and ack, and a poisoned job that lands in the DLQ and is replayed.
 *
 * Each test sends a known set of messages and checks that every member ends with exactly that set, in seq order,
 * after sync; that pushed duplicates are the same (conversationId, seq); and that nothing retries should have
 * delivered is left in the DLQ. Every fault rule is scoped to the test's own connection, conversation or users, so
 * the tests run concurrently with each other and with the other test files.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, inject, it, type TestContext } from 'vitest';
import type { FaultRule } from '../../local/faults.js';
import { directConversationId } from '../../lambdas/domain/conversations.js';
import {
  controlApi,
  duplicatePushes,
  expectExactlyTheSentMessages,
  pushedMessages,
  queues,
  receivedSeqs,
  sendReliably,
  sleep,
  syncAll,
  until,
} from '../support/faults.js';
import { connectAs, uniqueUser, type Frame, type TestClient } from '../support/ws-client.js';

const info = inject('parley');
const control = controlApi(info);
const fanoutQueue = queues(info);
const ddb = DynamoDBDocumentClient.from(
  new DynamoDBClient({ endpoint: info.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
);
const execFileAsync = promisify(execFile);

const opened: TestClient[] = [];
afterAll(async () => {
  await Promise.all(opened.map((client) => client.close()));
  fanoutQueue.sqs.destroy();
});

const connect = async (userId: string) => {
  const client = await connectAs(info, userId);
  opened.push(client);
  return client;
};

/** Installs rules for the duration of one test. */
async function withFaults(context: TestContext, rules: FaultRule | FaultRule[]): Promise<string[]> {
  const ids = await control.addFaults(rules);
  context.onTestFinished(() => control.removeFaults(ids));
  return ids;
}

interface Room {
  conversationId: string;
  sender: TestClient;
  /** Connected members other than the sender. */
  others: TestClient[];
  everyone: TestClient[];
}

/**
 * A group of `connected` online users (the first one sends) plus `offline` members who never connect. With more than
 * 150 members in all, messages fan out through SQS; the online users sort first, so they are all in the first chunk
 * of 100 recipients, whose jobs start with `"recipients":["<sender>"`.
 */
async function room(name: string, connected: number, offline = 0): Promise<Room> {
  const users = Array.from({ length: connected }, (_, i) => uniqueUser(`a${i}-${name}`));
  const fillers = Array.from({ length: offline }, (_, i) => uniqueUser(`z${i}-${name}`));
  const clients = await Promise.all(users.map(connect));
  const created = await clients[0]!.request({ action: 'createConversation', kind: 'group', title: name, members: [...users.slice(1), ...fillers] });
  expect(created.type, JSON.stringify(created)).toBe('conversation');
  const conversationId = created.conversation.conversationId as string;
  // The group's own `conversation` events go through the same queue; let them pass before faults are switched on.
  await fanoutQueue.settled(conversationId);
  return { conversationId, sender: clients[0]!, others: clients.slice(1), everyone: clients };
}

/** The marker of the fanout jobs that reach the room's online members (the first chunk). */
const firstChunk = (room: Room) => `"recipients":["${room.sender.userId}"`;

const messages = (label: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({ clientMessageId: `${label}-${i + 1}`, body: `${label} message ${i + 1} ${randomUUID()}` }));

/** Sends in order (retrying like a client would) and checks the acks carry seqs `firstSeq`, `firstSeq + 1`, ... */
async function sendAll(
  client: TestClient,
  conversationId: string,
  sent: { clientMessageId: string; body: string }[],
  options: { replies?: Frame[]; firstSeq?: number } = {},
) {
  const acks: Frame[] = [];
  for (const message of sent) acks.push(await sendReliably(client, conversationId, message.clientMessageId, message.body, options));
  expect(acks.map((ack) => ack.seq)).toEqual(sent.map((_, index) => index + (options.firstSeq ?? 1)));
  return acks;
}

/** Waits for the conversation's fanout to drain, then checks the DLQ holds nothing of it. */
async function expectNothingDeadLettered(marker: string): Promise<void> {
  await fanoutQueue.settled(marker);
  expect(await fanoutQueue.dlqMentioning(marker)).toEqual([]);
}

const seqs = (count: number) => Array.from({ length: count }, (_, i) => i + 1);

/**
 * Back-dates a connection's presence entry by a minute: a 410 within 30 s of $connect is taken for a connection
 * API Gateway has not established yet and kept, so a test of stale connections needs an older one.
 */
async function ageConnection(userId: string, connectionId: string): Promise<void> {
  await ddb.send(
    new UpdateCommand({
      TableName: info.tableNames.presence,
      Key: { userId },
      UpdateExpression: 'SET connections.#c = :expiresAt',
      ExpressionAttributeNames: { '#c': connectionId },
      ExpressionAttributeValues: { ':expiresAt': Math.floor(Date.now() / 1000) + 600 },
    }),
  );
}

describe.concurrent('fault injection: nothing is lost, nothing surfaces twice', () => {
  it('a job whose pushes keep failing lands in the DLQ, is visible there, and `npm run dlq:replay` delivers it', async (context) => {
    const alice = await connect(uniqueUser('dlq-alice'));
    const bob = await connect(uniqueUser('dlq-bob'));
    const conversationId = (await alice.request({ action: 'createConversation', kind: 'direct', userId: bob.userId })).conversation.conversationId;
    const bobConnection = await control.connectionIdOf(bob.userId);
    // Every push of this conversation to Bob's connection fails with 500, on every attempt.
    const [poison] = await withFaults(context, { target: 'postToConnection', status: 500, connectionId: bobConnection, match: conversationId, times: 1_000 });
    const sent = messages('dlq', 1);
    await sendAll(alice, conversationId, sent);

    // Inline push, 4 requeued attempts with backoff, then 5 receives of the last attempt: then the DLQ.
    await until('the poisoned job to reach the DLQ', async () => (await fanoutQueue.dlqMentioning(conversationId)).length === 1, 55_000);
    expect(pushedMessages(bob, conversationId)).toEqual([]);
    const env = {
      ...process.env,
      AWS_ENDPOINT_URL_SQS: info.sqsEndpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
    const urls = ['--queue-url', info.queueUrls.fanout, '--dlq-url', info.dlqUrls.fanout];
    const run = async (args: string[]) => {
      const { stdout } = await execFileAsync('npm', ['run', '--silent', 'dlq:replay', '--', ...urls, ...args], { env, timeout: 30_000 });
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as Frame;
    };

    // Visible: the job, with its receive count and body, and still in the DLQ after listing.
    const listed = await run(['--list']);
    const job = listed.messages.find((message: Frame) => message.body.includes(conversationId));
    expect(job).toBeDefined();
    expect(JSON.parse(job.body)).toMatchObject({ kind: 'deliver', targets: [{ userId: bob.userId, connectionId: bobConnection }], attempt: 4 });
    expect(await fanoutQueue.dlqMentioning(conversationId)).toHaveLength(1);

    // Replayable: once the cause is gone, the job goes back to the fanout queue and is delivered.
    await control.removeFaults([poison!]);
    const replayed = await run(['--contains', conversationId]);
    expect(replayed).toMatchObject({ mode: 'copy', moved: 1, failed: 0 });
    await receivedSeqs(bob, conversationId, [1]);
    await expectNothingDeadLettered(conversationId);
    await expectExactlyTheSentMessages([alice, bob], conversationId, sent, alice.userId);
  });

  it.for([429, 500] as const)('retries pushes that fail with %i until they are delivered', async (status, context) => {
    const group = await room(`push${status}`, 3);
    const [bob] = group.others as [TestClient];
    const [rule] = await withFaults(context, {
      target: 'postToConnection',
      status,
      connectionId: await control.connectionIdOf(bob.userId),
      match: group.conversationId,
      times: 3,
    });
    const sent = messages(`push${status}`, 4);
    await sendAll(group.sender, group.conversationId, sent);
    await Promise.all(group.others.map((client) => receivedSeqs(client, group.conversationId, seqs(4))));
    expect((await control.fault(rule!)).fired).toBe(3);
    await expectNothingDeadLettered(group.conversationId);
    await expectExactlyTheSentMessages(group.everyone, group.conversationId, sent, group.sender.userId);
  });

  it('forgets a connection answered with 410, and the member catches up by sync and is pushed again after a heartbeat', async (context) => {
    const alice = await connect(uniqueUser('gone-alice'));
    const bob = await connect(uniqueUser('gone-bob'));
    const conversationId = (await alice.request({ action: 'createConversation', kind: 'direct', userId: bob.userId })).conversation.conversationId;
    const bobConnection = await control.connectionIdOf(bob.userId);
    await ageConnection(bob.userId, bobConnection);
    await withFaults(context, { target: 'postToConnection', status: 410, connectionId: bobConnection, match: conversationId });
    const sent = messages('gone', 4);
    await sendAll(alice, conversationId, sent.slice(0, 3));
    const presence = await ddb.send(new GetCommand({ TableName: info.tableNames.presence, Key: { userId: bob.userId } }));
    expect(Object.keys(presence.Item?.connections ?? {})).not.toContain(bobConnection);
    expect(pushedMessages(bob, conversationId)).toEqual([]);

    expect(await bob.request({ action: 'heartbeat' })).toMatchObject({ type: 'pong' });
    await sendAll(alice, conversationId, sent.slice(3), { firstSeq: 4 });
    await receivedSeqs(bob, conversationId, [4]);
    await expectNothingDeadLettered(conversationId);
    await expectExactlyTheSentMessages([alice, bob], conversationId, sent, alice.userId);
  });

  it('rides out DynamoDB throttling: SDK retries first, then `unavailable` and an idempotent client retry', async (context) => {
    const group = await room('throttle', 3);
    const replies: Frame[] = [];
    const [writes, reads] = await withFaults(context, [
      // The head's counter (the send's seq allocation) throttled twice: the SDK's retries absorb it.
      {
        target: 'dynamodb:UpdateItem',
        error: 'ProvisionedThroughputExceededException',
        match: [`"${info.tableNames.messages}"`, group.conversationId],
        times: 2,
      },
      // Five throttled reads of the conversation item: the SDK's four attempts are not enough for the first send,
      // which answers `unavailable`; the client's retry gets through on the SDK's second attempt.
      { target: 'dynamodb:GetItem', error: 'ThrottlingException', match: [`"${info.tableNames.conversations}"`, group.conversationId], times: 5 },
    ]);
    const sent = messages('throttle', 3);
    await sendAll(group.sender, group.conversationId, sent, { replies });
    expect(replies.filter((reply) => reply.type === 'error').map((reply) => reply.code)).toEqual(['unavailable']);
    expect([(await control.fault(writes!)).fired, (await control.fault(reads!)).fired]).toEqual([2, 5]);
    await Promise.all(group.others.map((client) => receivedSeqs(client, group.conversationId, seqs(3))));
    await expectNothingDeadLettered(group.conversationId);
    await expectExactlyTheSentMessages(group.everyone, group.conversationId, sent, group.sender.userId);
  });

  it('stores a send whose DynamoDB response was lost once, even when every SDK retry lost it too', async (context) => {
    const group = await room('lost', 2);
    const sent = messages('lost', 3);
    const replies: Frame[] = [];
    // The message's put lands, the response is lost, the SDK retries: the retry finds the send's own item at its seq.
    const putOfMessage: FaultRule = {
      target: 'dynamodb:PutItem',
      error: 'InternalServerError',
      when: 'after',
      match: [`"${info.tableNames.messages}"`, group.conversationId],
    };
    const [once] = await withFaults(context, putOfMessage);
    const [first] = await sendAll(group.sender, group.conversationId, sent.slice(0, 1), { replies });
    expect(first).toMatchObject({ seq: 1, clientMessageId: sent[0]!.clientMessageId });
    expect((await control.fault(once!)).fired).toBe(1);
    // Lost on all four SDK attempts: the send settles its own seq (a conditional put finds its message there) and acks.
    await withFaults(context, { ...putOfMessage, times: 4 });
    const second = await sendReliably(group.sender, group.conversationId, sent[1]!.clientMessageId, sent[1]!.body, { replies });
    expect(second).toMatchObject({ seq: 2, duplicate: false });
    // The resend is answered from the claim: the same seq, stored once.
    expect(await sendReliably(group.sender, group.conversationId, sent[1]!.clientMessageId, sent[1]!.body)).toMatchObject({ seq: 2, duplicate: true });
    expect(replies.map((reply) => reply.code ?? reply.type)).toEqual(['ack', 'ack']);
    expect(await sendReliably(group.sender, group.conversationId, sent[2]!.clientMessageId, sent[2]!.body)).toMatchObject({ seq: 3, duplicate: false });

    const stored = await ddb.send(
      new QueryCommand({
        TableName: info.tableNames.messages,
        // Seq 0 is the conversation's head item (lastSeq), not a message.
        KeyConditionExpression: 'conversationId = :c AND seq > :head',
        ExpressionAttributeValues: { ':c': group.conversationId, ':head': 0 },
      }),
    );
    expect(stored.Items?.map((item) => item.clientMessageId)).toEqual(sent.map((message) => message.clientMessageId));
    await Promise.all(group.others.map((client) => receivedSeqs(client, group.conversationId, seqs(3))));
    await expectNothingDeadLettered(group.conversationId);
    await expectExactlyTheSentMessages(group.everyone, group.conversationId, sent, group.sender.userId);
  });

  it('retries transaction conflicts on a DM’s accepting reply, addMembers and createConversation, and reports cancelled-by-throttling as unavailable', async (context) => {
    const group = await room('conflict', 3);
    const sent = messages('conflict', 3);

    // The recipient's first reply in a direct conversation accepts it in one transaction with the message.
    const opener = uniqueUser('conflict-opener');
    const dm = directConversationId(opener, group.sender.userId);
    const openerClient = await connect(opener);
    expect(await openerClient.request({ action: 'createConversation', kind: 'direct', userId: group.sender.userId })).toMatchObject({ type: 'conversation' });
    await fanoutQueue.settled(dm);
    const replies: Frame[] = [];
    const [conflicts] = await withFaults(context, { target: 'dynamodb:TransactWriteItems', error: 'TransactionCanceledException', match: dm, times: 3 });
    await sendAll(group.sender, dm, messages('conflict-dm', 1), { replies });
    expect((await control.fault(conflicts!)).fired).toBe(3);
    expect(replies.map((reply) => reply.type)).toEqual(['ack']);

    // In a group of its own: the member_added event takes a seq, which the exact-messages check below would count.
    const newcomer = uniqueUser('conflict-new');
    const other = await room('conflict-add', 2);
    await withFaults(context, { target: 'dynamodb:TransactWriteItems', error: 'TransactionCanceledException', match: other.conversationId, times: 2 });
    const added = await other.sender.request({ action: 'addMembers', conversationId: other.conversationId, members: [newcomer] });
    expect(added, JSON.stringify(added)).toMatchObject({ type: 'conversation', conversation: { members: expect.arrayContaining([newcomer]) } });
    // A transaction cancelled because it was throttled is transient: `unavailable`, then the retry stores it once.
    await withFaults(context, {
      target: 'dynamodb:TransactWriteItems',
      error: 'TransactionCanceledException',
      reasons: ['ThrottlingError', 'None', 'None'],
      match: other.conversationId,
    });
    const later = uniqueUser('conflict-later');
    expect(await other.sender.request({ action: 'addMembers', conversationId: other.conversationId, members: [later] })).toMatchObject({
      type: 'error',
      code: 'unavailable',
    });
    expect(await other.sender.request({ action: 'addMembers', conversationId: other.conversationId, members: [later] })).toMatchObject({
      type: 'conversation',
    });

    const peer = uniqueUser('conflict-peer');
    const directId = directConversationId(group.sender.userId, peer);
    await withFaults(context, { target: 'dynamodb:TransactWriteItems', error: 'TransactionCanceledException', match: directId });
    const direct = await group.sender.request({ action: 'createConversation', kind: 'direct', userId: peer });
    expect(direct, JSON.stringify(direct)).toMatchObject({ type: 'error', code: 'unavailable' });
    expect(await group.sender.request({ action: 'createConversation', kind: 'direct', userId: peer })).toMatchObject({
      type: 'conversation',
      conversation: { conversationId: directId },
    });

    await sendAll(group.sender, group.conversationId, sent);
    await Promise.all(group.others.map((client) => receivedSeqs(client, group.conversationId, seqs(3))));
    await expectNothingDeadLettered(group.conversationId);
    await expectExactlyTheSentMessages(group.everyone, group.conversationId, sent, group.sender.userId);
  });

  it('redelivers a batch after the fanout worker crashes mid-batch; the pushes it repeats are identical', async (context) => {
    const group = await room('crash', 3, 150);
    const [rule] = await withFaults(context, { target: 'poller:crash', match: firstChunk(group), afterRecords: 1, times: 2 });
    const sent = messages('crash', 4);
    await sendAll(group.sender, group.conversationId, sent);
    await Promise.all(group.others.map((client) => receivedSeqs(client, group.conversationId, seqs(4))));
    await expectNothingDeadLettered(group.conversationId);
    expect((await control.fault(rule!)).fired).toBe(2);
    // The record handled before the crash came back and was pushed again.
    for (const client of group.others) expect(duplicatePushes(client, group.conversationId)).toBeGreaterThan(0);
    await expectExactlyTheSentMessages(group.everyone, group.conversationId, sent, group.sender.userId);
  });

  it('survives SQS redelivery of processed jobs (not deleted) and duplicate delivery to concurrent invocations', async (context) => {
    const group = await room('redeliver', 3, 150);
    const rules = await withFaults(context, [
      { target: 'poller:skipDelete', match: firstChunk(group) },
      { target: 'poller:duplicate', match: firstChunk(group) },
    ]);
    const sent = messages('redeliver', 4);
    await sendAll(group.sender, group.conversationId, sent);
    await Promise.all(group.others.map((client) => receivedSeqs(client, group.conversationId, seqs(4))));
    await expectNothingDeadLettered(group.conversationId);
    expect(await Promise.all(rules.map(async (id) => (await control.fault(id)).fired))).toEqual([1, 1]);
    for (const client of group.others) expect(duplicatePushes(client, group.conversationId)).toBeGreaterThanOrEqual(2);
    await expectExactlyTheSentMessages(group.everyone, group.conversationId, sent, group.sender.userId);
  });

  it('delivers jobs enqueued twice when SendMessageBatch lost its response, and jobs whose worker read was throttled', async (context) => {
    const group = await room('enqueue', 3, 150);
    const [lost, throttled] = await withFaults(context, [
      { target: 'sqs:SendMessageBatch', error: 'InternalError', when: 'after', match: group.conversationId },
      // The worker's read of the group's connection index fails past the SDK's retries once: the record fails and SQS
      // redelivers it.
      { target: 'dynamodb:Query', error: 'ProvisionedThroughputExceededException', match: ['groupConnections', group.conversationId], times: 5 },
    ]);
    const sent = messages('enqueue', 3);
    await sendAll(group.sender, group.conversationId, sent);
    await Promise.all(group.others.map((client) => receivedSeqs(client, group.conversationId, seqs(3))));
    await expectNothingDeadLettered(group.conversationId);
    expect([(await control.fault(lost!)).fired, (await control.fault(throttled!)).fired]).toEqual([1, 5]);
    expect(duplicatePushes(group.others[0]!, group.conversationId)).toBeGreaterThan(0);
    await expectExactlyTheSentMessages(group.everyone, group.conversationId, sent, group.sender.userId);
  });

  it('acks a stored message even when SQS is down, and members get it by sync', async (context) => {
    const group = await room('sqsdown', 3, 150);
    // Both enqueue attempts of the send handler, four SDK attempts each.
    const [down] = await withFaults(context, { target: 'sqs:SendMessageBatch', error: 'ServiceUnavailable', match: group.conversationId, times: 8 });
    const sent = messages('sqsdown', 2);
    expect(await sendReliably(group.sender, group.conversationId, sent[0]!.clientMessageId, sent[0]!.body)).toMatchObject({ seq: 1, duplicate: false });
    expect((await control.fault(down!)).fired).toBe(8);
    expect(await sendReliably(group.sender, group.conversationId, sent[1]!.clientMessageId, sent[1]!.body)).toMatchObject({ seq: 2 });
    await Promise.all(group.others.map((client) => receivedSeqs(client, group.conversationId, [2])));
    await expectNothingDeadLettered(group.conversationId);
    for (const client of group.others) {
      expect(pushedMessages(client, group.conversationId).map((message) => message.seq)).toEqual([2]);
      // A client seeing seq 2 without seq 1 fetches the gap; sync has it.
      expect((await syncAll(client, group.conversationId)).map((message) => message.seq)).toEqual([1, 2]);
    }
    await expectExactlyTheSentMessages(group.everyone, group.conversationId, sent, group.sender.userId);
  });

  it('keeps a send whose client disconnected before the ack; the resend gets the same seq', async (context) => {
    const aliceId = uniqueUser('gone-before-ack');
    const alice = await connect(aliceId);
    const bob = await connect(uniqueUser('waiting-bob'));
    const conversationId = (await alice.request({ action: 'createConversation', kind: 'direct', userId: bob.userId })).conversation.conversationId;
    const sent = messages('noack', 4);
    // The message's put (not the claim, which is in the idempotency table) is slow twice.
    await withFaults(context, { target: 'dynamodb:PutItem', delayMs: 400, match: [`"${info.tableNames.messages}"`, conversationId], times: 2 });

    // 1. The client closes its socket while the send is being stored.
    alice.sendRaw(JSON.stringify({ action: 'send', requestId: 'r1', conversationId, ...sent[0] }));
    await sleep(100);
    alice.socket.terminate();
    await receivedSeqs(bob, conversationId, [1]);
    expect(alice.frames.filter((frame) => frame.type === 'ack')).toEqual([]);

    // 2. The connection is dropped without $disconnect (lost in API Gateway) while the send is being stored.
    const again = await connect(aliceId);
    const againConnection = await control.connectionIdOf(aliceId);
    again.sendRaw(JSON.stringify({ action: 'send', requestId: 'r2', conversationId, ...sent[1] }));
    await sleep(100);
    expect((await control.call('POST', `/connections/${againConnection}/drop`, {})).status).toBe(200);
    await ageConnection(aliceId, againConnection);
    await receivedSeqs(bob, conversationId, [2]);

    // The client comes back and resends what it never saw acked: same seqs, nothing stored twice.
    const back = await connect(aliceId);
    expect(await sendReliably(back, conversationId, sent[0]!.clientMessageId, sent[0]!.body)).toMatchObject({ seq: 1, duplicate: true });
    expect(await sendReliably(back, conversationId, sent[1]!.clientMessageId, sent[1]!.body)).toMatchObject({ seq: 2, duplicate: true });
    await sendAll(back, conversationId, sent);
    // Bob's reply is pushed to Alice's connections, the dropped one included: its 410 removes the stale record.
    await sendReliably(bob, conversationId, 'bob-reply', 'bob reply');
    await until('the stale connection to be forgotten', async () => {
      const { Item } = await ddb.send(new GetCommand({ TableName: info.tableNames.presence, Key: { userId: aliceId } }));
      return !Object.keys(Item?.connections ?? {}).includes(againConnection);
    });
    await receivedSeqs(back, conversationId, [5]);
    await expectNothingDeadLettered(conversationId);
    const expected = [...sent, { clientMessageId: 'bob-reply', body: 'bob reply' }];
    for (const client of [back, bob]) {
      const synced = await syncAll(client, conversationId);
      expect(synced.map((message) => [message.seq, message.clientMessageId])).toEqual(expected.map((message, index) => [index + 1, message.clientMessageId]));
      for (const pushed of pushedMessages(client, conversationId)) expect(pushed).toEqual(synced[pushed.seq - 1]);
    }
  });
});
