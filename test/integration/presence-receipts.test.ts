import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { connectAs, uniqueUser, type TestClient } from '../support/ws-client.js';
import { epochOf } from '../support/faults.js';

const info = inject('parley');
const ddb = DynamoDBDocumentClient.from(
  new DynamoDBClient({ endpoint: info.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
);

type Frame = Record<string, any>;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const presenceEventsAbout = (client: TestClient, userId: string) =>
  client.frames.filter((frame) => frame.type === 'presence' && !frame.requestId && frame.users[0].userId === userId).map((frame) => frame.users[0].status);

describe('presence', () => {
  it('goes online, stays online while a second device remains, goes offline with lastSeenAt, and back online', async () => {
    const alice = uniqueUser('alice');
    const carol = uniqueUser('carol');
    const observer = await connectAs(info, carol);
    // A group, not a DM the observer opened: that would hide alice's presence until she writes (consent).
    await observer.request({ action: 'createConversation', kind: 'group', title: 'watch', members: [alice] });

    const phone = await connectAs(info, alice);
    await observer.waitFor(() => presenceEventsAbout(observer, alice).length === 1);
    const laptop = await connectAs(info, alice);
    await laptop.request({ action: 'heartbeat' });
    await phone.close();
    await sleep(500);
    expect(presenceEventsAbout(observer, alice)).toEqual(['online']);
    expect((await observer.request({ action: 'presence', userIds: [alice] })).users).toEqual([{ userId: alice, status: 'online', lastSeenAt: null }]);

    await laptop.close();
    await observer.waitFor(() => presenceEventsAbout(observer, alice).length === 2);
    const offline = observer.frames.filter((frame) => frame.type === 'presence' && !frame.requestId).at(-1)!;
    expect(offline.users[0]).toMatchObject({ userId: alice, status: 'offline', lastSeenAt: expect.any(String) });

    const again = await connectAs(info, alice);
    await observer.waitFor(() => presenceEventsAbout(observer, alice).length === 3);
    expect(presenceEventsAbout(observer, alice)).toEqual(['online', 'offline', 'online']);
    await Promise.all([again.close(), observer.close()]);
  });

  it('reports a user whose connection expired without any disconnect as offline', async () => {
    const alice = uniqueUser('alice');
    const carol = uniqueUser('carol');
    const observer = await connectAs(info, carol);
    // A group, not a DM the observer opened: that would hide alice's presence until she writes (consent).
    await observer.request({ action: 'createConversation', kind: 'group', title: 'watch', members: [alice] });
    const silent = await connectAs(info, alice);
    expect((await observer.request({ action: 'presence', userIds: [alice] })).users[0].status).toBe('online');

    // The client went silent: its heartbeat deadline passes. DynamoDB TTL has not deleted anything.
    const { Item } = await ddb.send(new GetCommand({ TableName: info.tableNames.presence, Key: { userId: alice } }));
    const [connectionId] = Object.keys(Item!.connections);
    await ddb.send(
      new UpdateCommand({
        TableName: info.tableNames.presence,
        Key: { userId: alice },
        UpdateExpression: 'SET connections.#c = :past, expiresAt = :past',
        ExpressionAttributeNames: { '#c': connectionId! },
        ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 1 },
      }),
    );
    const status = (await observer.request({ action: 'presence', userIds: [alice] })).users[0];
    expect(status).toMatchObject({ userId: alice, status: 'offline', lastSeenAt: expect.any(String) });
    await Promise.all([silent.close(), observer.close()]);
  });

  it('does not reveal the presence of someone who shares no conversation with the caller', async () => {
    const alice = uniqueUser('alice');
    const stranger = uniqueUser('stranger');
    const [a, s] = await Promise.all([connectAs(info, alice), connectAs(info, stranger)]);
    const reply = await s.request({ action: 'presence', userIds: [alice] });
    expect(reply.users).toEqual([{ userId: alice, status: 'unknown', lastSeenAt: null }]);
    const synced = await s.request({ action: 'sync', cursors: {} });
    expect(synced.presence).toEqual([]);
    await sleep(300);
    expect(presenceEventsAbout(s, alice)).toEqual([]);
    await Promise.all([a.close(), s.close()]);
  });
});

describe('receipts', () => {
  it('moves forward only, reaches the sender, and survives a reconnect', async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const [a, b] = await Promise.all([connectAs(info, alice), connectAs(info, bob)]);
    const { conversation } = await a.request({ action: 'createConversation', kind: 'direct', userId: bob });
    const conversationId = conversation.conversationId;
    for (let i = 1; i <= 3; i++) await a.request({ action: 'send', conversationId, clientMessageId: `r${i}`, body: `r${i}` });

    const delivered = await b.request({ action: 'ack', conversationId, kind: 'delivered', seq: 3 });
    expect(delivered).toMatchObject({ type: 'receipt', userId: bob, lastDeliveredSeq: 3, lastReadSeq: 0 });
    await a.waitFor((frame) => frame.type === 'receipt' && !frame.requestId && frame.lastDeliveredSeq === 3);
    const read = await b.request({ action: 'ack', conversationId, kind: 'read', seq: 2 });
    expect(read).toMatchObject({ lastDeliveredSeq: 3, lastReadSeq: 2 });
    await a.waitFor((frame) => frame.type === 'receipt' && !frame.requestId && frame.lastReadSeq === 2);
    const backwards = await b.request({ action: 'ack', conversationId, kind: 'read', seq: 1 });
    expect(backwards).toMatchObject({ lastDeliveredSeq: 3, lastReadSeq: 2 });
    await sleep(300);
    expect(a.frames.filter((frame) => frame.type === 'receipt' && !frame.requestId)).toHaveLength(2);
    await b.close();

    const again = await connectAs(info, bob);
    const list = await again.request({ action: 'listConversations' });
    expect(list.conversations.find((c: Frame) => c.conversationId === conversationId)).toMatchObject({
      lastSeq: 3,
      lastReadSeq: 2,
      lastDeliveredSeq: 3,
      unread: 1,
    });
    const synced = await a.request({ action: 'sync', cursors: {} });
    const receipts = synced.conversations.find((c: Frame) => c.conversationId === conversationId).receipts;
    expect(receipts).toContainEqual({ conversationId, userId: bob, lastDeliveredSeq: 3, lastReadSeq: 2 });
    await Promise.all([a.close(), again.close()]);
  });
});

describe('reconnect catch-up', () => {
  it('ends with exactly the messages it missed, in order, after dropping mid-conversation', async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const a = await connectAs(info, alice);
    let b = await connectAs(info, bob);
    const { conversation } = await a.request({ action: 'createConversation', kind: 'direct', userId: bob });
    const conversationId = conversation.conversationId;
    const received = new Map<number, string>();
    const collect = (client: TestClient) => {
      for (const frame of client.frames)
        if (frame.type === 'message' && frame.message.conversationId === conversationId) {
          received.set(frame.message.seq, frame.message.body);
        }
    };

    for (let i = 1; i <= 5; i++) await a.request({ action: 'send', conversationId, clientMessageId: `d${i}`, body: `d${i}` });
    await b.waitFor(() => b.frames.filter((frame) => frame.type === 'message').length === 5);
    collect(b);
    await b.close();
    for (let i = 6; i <= 12; i++) await a.request({ action: 'send', conversationId, clientMessageId: `d${i}`, body: `d${i}` });

    b = await connectAs(info, bob);
    const cursor = Math.max(...received.keys());
    const synced = await b.request({ action: 'sync', cursors: { [conversationId]: { seq: cursor, epoch: await epochOf(b, conversationId) } } });
    const missed = synced.conversations.find((c: Frame) => c.conversationId === conversationId).messages;
    expect(missed.map((message: Frame) => message.seq)).toEqual([6, 7, 8, 9, 10, 11, 12]);
    for (const message of missed) received.set(message.seq, message.body);
    expect([...received.entries()].sort(([x], [y]) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => [i + 1, `d${i + 1}`]));
    await Promise.all([a.close(), b.close()]);
  });

  it('brings back a conversation joined while offline, with its messages, receipts and presence', async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const carol = uniqueUser('carol');
    const a = await connectAs(info, alice);
    const { conversation } = await a.request({ action: 'createConversation', kind: 'group', title: 'Later', members: [carol] });
    const conversationId = conversation.conversationId;
    await a.request({ action: 'send', conversationId, clientMessageId: 'before', body: 'before bob' });
    // Bob is offline while he is added and while the group talks.
    expect(await a.request({ action: 'addMembers', conversationId, members: [bob] })).toMatchObject({ type: 'conversation' });
    await a.request({ action: 'send', conversationId, clientMessageId: 'after', body: 'after bob joined' });
    await a.request({ action: 'ack', conversationId, kind: 'read', seq: 2 });

    const b = await connectAs(info, bob);
    const synced = await b.request({ action: 'sync', cursors: {} });
    const entry = synced.conversations.find((c: Frame) => c.conversationId === conversationId);
    // Seq 2 is the member_added event of bob; the chat messages around it are what he catches up on.
    expect(entry.messages.filter((message: Frame) => (message.kind ?? 'message') === 'message').map((message: Frame) => message.body)).toEqual([
      'before bob',
      'after bob joined',
    ]);
    expect(entry.receipts).toEqual(expect.arrayContaining([expect.objectContaining({ userId: alice, lastReadSeq: 2 })]));
    expect(synced.presence).toEqual(expect.arrayContaining([expect.objectContaining({ userId: alice, status: 'online' })]));
    await Promise.all([a.close(), b.close()]);
  });
});
