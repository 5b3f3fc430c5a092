/**
 * Cursors that must not be trusted, and text that must survive every path. A conversation wiped and recreated under
 * the same id (deterministic `dm_` ids come back after `.data/` is wiped or a table is restored) has a new epoch:
 * clients holding old cursors get the new messages, live and on reconnect. Garbage cursors and tokens get
 * `bad_request` naming the field. Bodies of any valid text are pushed live on the inline path, the queue path and
 * a resend.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import WebSocket from 'ws';
import { describe, expect, inject, it } from 'vitest';
import { MemoryCursorStore, ParleyClient, type Message, type ParleyClientOptions } from '../../client/index.js';
import { encodeListCursor } from '../../lambdas/domain/conversations.js';
import { receivedSeqs, pushedMessages } from '../support/faults.js';
import { connectAs, devToken, uniqueUser, type Frame } from '../support/ws-client.js';

const info = inject('parley');
const ddb = DynamoDBDocumentClient.from(
  new DynamoDBClient({ endpoint: info.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
);

/** Deletes every item of one conversation, as wiping the tables would for it. */
async function wipeConversation(conversationId: string, members: string[]): Promise<void> {
  const { Items = [] } = await ddb.send(
    new QueryCommand({
      TableName: info.tableNames.messages,
      KeyConditionExpression: 'conversationId = :c',
      ExpressionAttributeValues: { ':c': conversationId },
    }),
  );
  const deletes: [string, Record<string, unknown>][] = [
    ...Items.map((item): [string, Record<string, unknown>] => [info.tableNames.messages, { conversationId, seq: item.seq }]),
    [info.tableNames.conversations, { conversationId }],
    ...members.map((userId): [string, Record<string, unknown>] => [info.tableNames.members, { conversationId, userId }]),
  ];
  for (let i = 0; i < deletes.length; i += 25) {
    const requests: Record<string, { DeleteRequest: { Key: Record<string, unknown> } }[]> = {};
    for (const [table, Key] of deletes.slice(i, i + 25)) (requests[table] ??= []).push({ DeleteRequest: { Key } });
    await ddb.send(new BatchWriteCommand({ RequestItems: requests }));
  }
}

const sdkClient = (userId: string, cursorStore: MemoryCursorStore) =>
  new ParleyClient({
    url: info.wsUrl,
    userId,
    token: () => devToken(info, userId),
    WebSocket: WebSocket as unknown as ParleyClientOptions['WebSocket'],
    cursorStore,
  });

describe('epochs', () => {
  it('a client holding old cursors gets the messages of a conversation recreated under the same id', async () => {
    const [alice, bob] = [uniqueUser('alice'), uniqueUser('bob')];
    const a = await connectAs(info, alice);
    const { conversation } = await a.request({ action: 'createConversation', kind: 'direct', userId: bob });
    const conversationId: string = conversation.conversationId;
    for (let i = 1; i <= 5; i++) await a.request({ action: 'send', conversationId, clientMessageId: `old-${i}`, body: `old ${i}` });

    // Bob on two devices: one stays connected through the wipe, one is offline with its saved cursors.
    const liveStore = new MemoryCursorStore();
    const offlineStore = new MemoryCursorStore();
    const live = sdkClient(bob, liveStore);
    const offline = sdkClient(bob, offlineStore);
    const shown = { live: [] as Message[], offline: [] as Message[] };
    const resets = { live: 0, offline: 0 };
    live.on('message', (m) => shown.live.push(m));
    offline.on('message', (m) => shown.offline.push(m));
    live.on('reset', () => resets.live++);
    offline.on('reset', () => resets.offline++);
    await Promise.all([live.connect(), offline.connect()]);
    expect(offline.cursor(conversationId)).toBe(5);
    offline.close();

    await wipeConversation(conversationId, [alice, bob]);
    const again = await a.request({ action: 'createConversation', kind: 'direct', userId: bob });
    expect(again.conversation.conversationId).toBe(conversationId);
    for (let i = 1; i <= 3; i++) {
      expect(await a.request({ action: 'send', conversationId, clientMessageId: `new-${i}`, body: `new ${i}` })).toMatchObject({ seq: i });
    }

    // Live: the pushes carry the new epoch, so seqs 1–3 are not taken for duplicates of the old ones.
    await expect.poll(() => shown.live.map((m) => m.body).slice(5), { timeout: 15_000 }).toEqual(['new 1', 'new 2', 'new 3']);
    expect(resets.live).toBe(1);
    expect(live.cursor(conversationId)).toBe(3);

    // Offline: sync recognises the old cursor and starts the conversation over.
    const back = sdkClient(bob, offlineStore);
    const backShown: Message[] = [];
    let backResets = 0;
    back.on('message', (m) => backShown.push(m));
    back.on('reset', () => backResets++);
    await back.connect();
    expect(backResets).toBe(1);
    expect(backShown.map((m) => m.body)).toEqual(['new 1', 'new 2', 'new 3']);
    expect(offlineStore.load()[conversationId]).toMatchObject({ seq: 3, epoch: expect.any(String) });
    expect(offlineStore.load()[conversationId]!.epoch).not.toBe(shown.offline[0]!.epoch);

    // The raw protocol: an old cursor is answered with reset, and so is one ahead of the conversation.
    const b = await connectAs(info, bob);
    const oldEpoch = shown.offline[0]!.epoch!;
    for (const cursor of [
      { seq: 5, epoch: oldEpoch },
      { seq: 9, epoch: backShown[0]!.epoch },
    ]) {
      const reply = await b.request({ action: 'sync', cursors: { [conversationId]: cursor } });
      const entry = reply.conversations.find((c: Frame) => c.conversationId === conversationId);
      expect(entry, JSON.stringify(reply)).toMatchObject({ reset: true, lastSeq: 3 });
      expect(entry.messages.map((m: Frame) => m.body)).toEqual(['new 1', 'new 2', 'new 3']);
    }
    live.close();
    back.close();
    await Promise.all([a.close(), b.close()]);
  }, 60_000);
});

describe('bad cursors and tokens', () => {
  it('answers garbage, malformed and foreign cursors with bad_request naming the field', async () => {
    const alice = uniqueUser('alice');
    const a = await connectAs(info, alice);
    const cases: [Record<string, unknown>, string][] = [
      [{ action: 'sync', cursors: { dm_abc: 3 } }, 'cursors.dm_abc'],
      [{ action: 'sync', cursors: { dm_abc: { seq: -1, epoch: null } } }, 'cursors.dm_abc.seq'],
      [{ action: 'sync', cursors: { dm_abc: { seq: 1, epoch: 7 } } }, 'cursors.dm_abc.epoch'],
      [{ action: 'sync', cursors: { 'not an id': { seq: 1, epoch: null } } }, 'cursors'],
      [{ action: 'sync', from: 'garbage' }, 'from'],
      [{ action: 'sync', through: 'dm_x!' }, 'through'],
      [{ action: 'sync', from: 'grp_b', through: 'grp_a' }, 'through'],
      [{ action: 'listConversations', cursor: 'garbage!' }, 'cursor'],
      [{ action: 'listConversations', cursor: Buffer.from('dm_abc').toString('base64url') }, 'cursor'],
      [{ action: 'listConversations', cursor: Buffer.from('c1.not an id').toString('base64url') }, 'cursor'],
      [{ action: 'history', conversationId: 'dm_abc', beforeSeq: 0 }, 'beforeSeq'],
    ];
    for (const [frame, field] of cases) {
      const reply = await a.request(frame);
      expect(reply, JSON.stringify(frame)).toMatchObject({ type: 'error', code: 'bad_request' });
      expect(reply.message.startsWith(`${field}`), `${reply.message} names ${field}`).toBe(true);
    }
    // A cursor the server issued is just a position, whoever uses it: another user's reveals nothing of theirs.
    const bob = await connectAs(info, uniqueUser('bob'));
    await bob.request({ action: 'createConversation', kind: 'direct', userId: uniqueUser('carol') });
    const page = await a.request({ action: 'listConversations', cursor: encodeListCursor('dm_0') });
    expect(page).toMatchObject({ type: 'conversations', conversations: [], nextCursor: null });
    await Promise.all([a.close(), bob.close()]);
  });
});

describe('any valid text is delivered live', () => {
  const bodies = ['plain', 'héllo שלום', '🎉', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '\uFFFF', '\uFFFE noncharacters \uFDD0', 'bell \u0007 nul \u0000 esc \u001b', '\u2028\u2029'];

  it('on the inline path, the queue path (a group of 161) and a resend', async () => {
    const [alice, bob] = [uniqueUser('alice'), uniqueUser('bob')];
    const [a, b] = await Promise.all([connectAs(info, alice), connectAs(info, bob)]);
    const dm = (await a.request({ action: 'createConversation', kind: 'direct', userId: bob })).conversation.conversationId;
    const members = [bob, ...Array.from({ length: 159 }, (_, i) => `${bob}-m${i}`)];
    const group = (await a.request({ action: 'createConversation', kind: 'group', title: 'big', members })).conversation.conversationId;

    for (const conversationId of [dm, group]) {
      const acks: Frame[] = [];
      for (const [i, body] of bodies.entries()) {
        acks.push(await a.request({ action: 'send', conversationId, clientMessageId: `b${i}`, body }));
      }
      expect(acks.map((ack) => ack.type)).toEqual(bodies.map(() => 'ack'));
      await receivedSeqs(
        b,
        conversationId,
        acks.map((ack) => ack.seq),
      );
      const pushed = new Map(pushedMessages(b, conversationId).map((m) => [m.seq, m.body]));
      expect(acks.map((ack) => pushed.get(ack.seq))).toEqual(bodies);
      // A resend is pushed again through the queue; the body survives that too.
      const before = pushedMessages(b, conversationId).length;
      const resend = await a.request({ action: 'send', conversationId, clientMessageId: 'b2', body: bodies[2] });
      expect(resend).toMatchObject({ type: 'ack', duplicate: true, seq: acks[2]!.seq });
      await expect.poll(() => pushedMessages(b, conversationId).length, { timeout: 15_000 }).toBeGreaterThan(before);
      expect(
        pushedMessages(b, conversationId)
          .slice(before)
          .map((m) => m.body),
      ).toEqual([bodies[2]]);
    }
    await Promise.all([a.close(), b.close()]);
  }, 60_000);
});
