/**
 * Retention and erasure on the real DynamoDB adapters (DynamoDB Local), with a clock the test moves: messages past a
 * group's retention disappear from `history` and `sync`, which name the horizon (`expiredBefore`) instead of leaving
 * a gap; the local TTL deletes them from the table; and erasing one user of a group removes their bodies from the
 * table and from the Parquet archive the local stream consumer writes, leaving every seq and everyone else's items.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { DirectoryArchiveStore } from '../../lambdas/adapters/archive-stores.js';
import { archivePrefix } from '../../lambdas/domain/archive.js';
import { createGroup } from '../../lambdas/domain/conversations.js';
import { eraseUser } from '../../lambdas/domain/erasure.js';
import { react, editMessage } from '../../lambdas/domain/message-lifecycle.js';
import { updateConversation } from '../../lambdas/domain/membership.js';
import { history, sendMessage } from '../../lambdas/domain/messages.js';
import { sync } from '../../lambdas/domain/sync.js';
import type { ArchiveRow } from '../../lambdas/domain/ports.js';
import { deleteExpiredItems } from '../../local/dynamodb.js';
import { backfillTtl, scanConversations } from '../../scripts/backfill-ttl.js';
import { dynamoDeps } from '../support/dynamo-deps.js';
import { connectAs, uniqueUser } from '../support/ws-client.js';

const info = inject('parley');
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const raw = new DynamoDBClient({ endpoint: info.dynamodbEndpoint, region: 'us-east-1', credentials });
const ddb = DynamoDBDocumentClient.from(raw);
const day = 24 * 3600 * 1000;

/** The domain over DynamoDB Local with a clock the test sets. */
function clockedDeps(start = Date.parse('2026-12-01T10:00:00.000Z')) {
  const { deps } = dynamoDeps(info);
  let clock = start;
  deps.now = () => new Date(clock);
  return { deps, advance: (ms: number) => (clock += ms) };
}

const caller = (userId: string) => ({ userId, connectionId: `conn-${userId}` });

const storedItems = async (conversationId: string) =>
  (
    await ddb.send(
      new QueryCommand({
        TableName: info.tableNames.messages,
        KeyConditionExpression: 'conversationId = :c AND seq >= :one',
        ExpressionAttributeValues: { ':c': conversationId, ':one': 1 },
        ConsistentRead: true,
      }),
    )
  ).Items ?? [];

describe('retention', () => {
  it('hides messages past a group’s retention from history and sync, names the horizon, and TTL deletes them', async () => {
    const { deps, advance } = clockedDeps();
    const [alice, bob, carol] = [uniqueUser('ret-a'), uniqueUser('ret-b'), uniqueUser('ret-c')];
    const { conversation } = await createGroup(deps, caller(alice), { title: 'short memory', members: [bob, carol] });
    const id = conversation.conversationId;
    await sendMessage(deps, caller(alice), { conversationId: id, clientMessageId: 'before', body: 'written before the retention' }); // seq 1

    // Owners only; a member cannot, and bad values never reach the domain (schemas.test covers those).
    await expect(updateConversation(deps, caller(bob), { conversationId: id, retentionDays: 1 })).rejects.toMatchObject({ code: 'forbidden' });
    const updated = await updateConversation(deps, caller(alice), { conversationId: id, retentionDays: 1 }); // seq 2
    expect(updated.retentionDays).toBe(1);
    await sendMessage(deps, caller(bob), { conversationId: id, clientMessageId: 'old-1', body: 'soon gone' }); // seq 3
    await sendMessage(deps, caller(alice), { conversationId: id, clientMessageId: 'old-2', body: 'also gone' }); // seq 4

    // Every item written under the retention carries its TTL; the one written before it carries none.
    const written = await storedItems(id);
    expect(written.map((item) => [item.seq, item.expiresAt === undefined])).toEqual([
      [1, true],
      [2, false],
      [3, false],
      [4, false],
    ]);
    expect(written[2]!.expiresAt).toBe(Math.floor(Date.parse(String(written[2]!.createdAt)) / 1000) + 86_400);

    advance(2 * day);
    await sendMessage(deps, caller(carol), { conversationId: id, clientMessageId: 'new-1', body: 'fresh' }); // seq 5
    await sendMessage(deps, caller(bob), { conversationId: id, clientMessageId: 'new-2', body: 'fresher' }); // seq 6

    const check = async () => {
      const page = await history(deps, caller(bob), { conversationId: id, limit: 50 });
      expect(page.messages.map((m) => m.seq)).toEqual([6, 5]);
      expect(page).toMatchObject({ nextBeforeSeq: null, expiredBefore: 5 });
      expect(page.messages.every((m) => !('expiresAt' in m))).toBe(true);
      // Asking below the horizon gets a marker (everything below beforeSeq is gone) and nothing else.
      expect(await history(deps, caller(bob), { conversationId: id, beforeSeq: 4, limit: 50 })).toEqual({
        messages: [],
        nextBeforeSeq: null,
        expiredBefore: 4,
      });

      const synced = await sync(deps, caller(carol), { cursors: { [id]: { seq: 2, epoch: updated.epoch } }, limit: 50 });
      const entry = synced.conversations.find((c) => c.conversationId === id)!;
      expect(entry.messages.map((m) => m.seq)).toEqual([5, 6]);
      expect(entry).toMatchObject({ expiredBefore: 5, lastSeq: 6, limited: false, reset: false });
      // A backlog larger than `limit` is read newest first and stops at the horizon the same way.
      const limited = await sync(deps, caller(carol), { cursors: {}, limit: 3 });
      expect(limited.conversations.find((c) => c.conversationId === id)).toMatchObject({ limited: true, expiredBefore: 5 });
      // A cursor at or past the horizon sees no marker.
      const current = await sync(deps, caller(carol), { cursors: { [id]: { seq: 5, epoch: updated.epoch } }, limit: 50 });
      expect(current.conversations.find((c) => c.conversationId === id)?.expiredBefore).toBeUndefined();
      await expect(react(deps, caller(carol), { conversationId: id, seq: 3, clientMessageId: 'r-old', emoji: '👍' }, 'add')).rejects.toMatchObject({
        code: 'bad_request',
        message: 'seq: the message expired',
      });
    };

    // TTL deletes lazily: before it runs, reads hide the expired items already.
    expect((await storedItems(id)).map((item) => item.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    await check();

    // The local TTL deletes what DynamoDB's would (items without a TTL stay stored, hidden by the read rule).
    // Only the messages table: other tests' presence and idempotency items must not expire on this test's clock.
    expect(await deleteExpiredItems(raw, info.tableNames, deps.now(), ['messages'])).toBeGreaterThanOrEqual(3);
    expect((await storedItems(id)).map((item) => item.seq)).toEqual([1, 5, 6]);
    await check();
    // The head is never given a TTL.
    const head = (await ddb.send(new GetCommand({ TableName: info.tableNames.messages, Key: { conversationId: id, seq: 0 } }))).Item;
    expect(head).toMatchObject({ lastSeq: 6, retentionDays: 1 });
    expect(head?.expiresAt).toBeUndefined();
  });

  it('never lets a newer item expire before an older one, so expired items stay a prefix', async () => {
    const { deps, advance } = clockedDeps();
    const [alice, bob] = [uniqueUser('pre-a'), uniqueUser('pre-b')];
    const { conversation } = await createGroup(deps, caller(alice), { title: 'prefix', members: [bob] });
    const id = conversation.conversationId;
    await updateConversation(deps, caller(alice), { conversationId: id, retentionDays: 30 });
    await sendMessage(deps, caller(alice), { conversationId: id, clientMessageId: 'long', body: 'kept 30 days' });
    await updateConversation(deps, caller(alice), { conversationId: id, retentionDays: 1 });
    await sendMessage(deps, caller(bob), { conversationId: id, clientMessageId: 'short', body: 'kept 1 day, but not before the one above' });
    const items = await storedItems(id);
    const expiries = items.map((item) => Number(item.expiresAt));
    expect(expiries).toEqual([...expiries].sort((a, b) => a - b));
    // The shorter retention applies to reads at once, to the items written under the longer one too.
    advance(2 * day);
    expect(await history(deps, caller(bob), { conversationId: id, limit: 50 })).toEqual({ messages: [], nextBeforeSeq: null, expiredBefore: 5 });
  });
});

describe('erasure', () => {
  it('erases one user of a group from the table and the archive, keeping every seq and the others’ items', async () => {
    const { deps } = clockedDeps(Date.now());
    const [alice, bob, carol] = [uniqueUser('er-a'), uniqueUser('er-b'), uniqueUser('er-c')];
    const { conversation } = await createGroup(deps, caller(alice), { title: 'erase bob', members: [bob, carol] });
    const id = conversation.conversationId;
    const send = (userId: string, clientMessageId: string, body: string) => sendMessage(deps, caller(userId), { conversationId: id, clientMessageId, body });
    await send(alice, 'a1', 'alice one'); // 1
    await send(bob, 'b1', 'bob secret one'); // 2
    await send(carol, 'c1', 'carol one'); // 3
    await editMessage(deps, caller(bob), { conversationId: id, seq: 2, clientMessageId: 'b1-edit', body: 'bob secret edited' }); // 4
    await react(deps, caller(carol), { conversationId: id, seq: 2, clientMessageId: 'c-react', emoji: '👍' }, 'add'); // 5
    await send(bob, 'b2', 'bob secret two'); // 6
    await react(deps, caller(bob), { conversationId: id, seq: 3, clientMessageId: 'b-react', emoji: '🎉' }, 'add'); // 7
    await editMessage(deps, caller(carol), { conversationId: id, seq: 3, clientMessageId: 'c1-edit', body: 'carol edited' }); // 8

    const archive = new DirectoryArchiveStore(info.archiveDir);
    const archived = async () => (await Promise.all((await archive.list(archivePrefix(id))).map((key) => archive.readRows(key)))).flat();
    const latest = (rows: ArchiveRow[]) => {
      const bySeq = new Map<number, ArchiveRow>();
      for (const row of [...rows].sort((a, b) => a.changed_at.localeCompare(b.changed_at))) bySeq.set(row.seq, row);
      return bySeq;
    };
    // The stream consumer archives every item (and the updates edits and reactions made).
    await vi.waitFor(async () => expect([...latest(await archived()).keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]), {
      timeout: 30_000,
      interval: 200,
    });
    expect((await archived()).some((row) => row.body.includes('bob secret'))).toBe(true);

    const report = await eraseUser(deps, bob, archive);
    expect(report).toMatchObject({ userId: bob, items: 3 });
    expect(report.conversations).toBeGreaterThanOrEqual(1);

    const items = await storedItems(id);
    expect(items.map((item) => item.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(JSON.stringify(items)).not.toContain('bob secret');
    const bySeq = new Map(items.map((item) => [Number(item.seq), item]));
    expect(bySeq.get(2)).toMatchObject({ senderId: bob, deleted: true, erased: true, reactions: [{ emoji: '👍', count: 1 }] });
    expect(bySeq.get(2)?.body).toBeUndefined();
    expect(bySeq.get(4)).toMatchObject({ kind: 'edit', senderId: bob, body: '' });
    expect(bySeq.get(6)).toMatchObject({ deleted: true, erased: true });
    // Everyone else's items, and the reaction and the edit others made, are untouched.
    expect(bySeq.get(1)).toMatchObject({ body: 'alice one' });
    expect(bySeq.get(3)).toMatchObject({ body: 'carol edited', reactions: [{ emoji: '🎉', count: 1 }] });
    expect(bySeq.get(5)).toMatchObject({ kind: 'reaction', senderId: carol, emoji: '👍' });
    expect(bySeq.get(8)).toMatchObject({ kind: 'edit', body: 'carol edited' });
    const page = await history(deps, caller(carol), { conversationId: id, limit: 50 });
    expect(page.messages.map((m) => m.seq)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);

    // The archive: no row keeps a body of bob's, including rows of the erasure's own updates still in the stream.
    await vi.waitFor(async () => expect(latest(await archived()).get(2)).toMatchObject({ erased: true, change: 'MODIFY' }), { timeout: 30_000, interval: 200 });
    const rows = await archived();
    expect(rows.filter((row) => row.sender_id === bob).every((row) => row.body === '')).toBe(true);
    expect(rows.some((row) => row.body.includes('bob secret'))).toBe(false);
    expect(rows.some((row) => row.seq === 1 && row.body === 'alice one')).toBe(true);
    expect(rows.some((row) => row.seq === 3 && row.body === 'carol edited')).toBe(true);
  });
});

describe('retention backfill', () => {
  const clients: Awaited<ReturnType<typeof connectAs>>[] = [];
  afterAll(() => Promise.all(clients.map((client) => client.close())));
  /** Every item's TTL is its own retention's, never before the item before it. */
  const expected = (items: Record<string, unknown>[], days: number) => {
    let floor = 0;
    return items.map((item) => (floor = Math.max(floor, Math.floor(Date.parse(String(item.createdAt)) / 1000) + days * 86_400)));
  };
  const head = async (id: string) =>
    (await ddb.send(new GetCommand({ TableName: info.tableNames.messages, Key: { conversationId: id, seq: 0 }, ConsistentRead: true }))).Item;

  it('gives the messages stored before a group’s retention change their new TTL, through the queued job the fanout worker runs', async () => {
    const { deps } = clockedDeps(Date.now());
    const [alice, bob] = [uniqueUser('bf-a'), uniqueUser('bf-b')];
    const { conversation } = await createGroup(deps, caller(alice), { title: 'backfill', members: [bob] });
    const id = conversation.conversationId;
    for (const n of [1, 2, 3]) await sendMessage(deps, caller(alice), { conversationId: id, clientMessageId: `bf-${n}`, body: `kept ${n}` });
    expect((await storedItems(id)).every((item) => item.expiresAt === undefined)).toBe(true);

    // Through the deployed path: the actions function queues the job, the fanout worker runs it under its role.
    const owner = await connectAs(info, alice);
    clients.push(owner);
    const reply = await owner.request({ action: 'updateConversation', conversationId: id, retentionDays: 30 });
    expect(reply.type, JSON.stringify(reply)).not.toBe('error');
    await vi.waitFor(
      async () => {
        const items = await storedItems(id);
        expect(items.map((item) => item.expiresAt)).toEqual(expected(items, 30));
      },
      { timeout: 20_000, interval: 200 },
    );
    const items = await storedItems(id);
    expect(items).toHaveLength(4);
    expect((await head(id))?.lastExpiresAt).toBe(items.at(-1)!.expiresAt);
  });

  it('npm run backfill-ttl gives a conversation’s messages the deployment’s new default TTL', async () => {
    const { deps } = clockedDeps(Date.now());
    const [alice, bob] = [uniqueUser('bt-a'), uniqueUser('bt-b')];
    const { conversation } = await createGroup(deps, caller(alice), { title: 'default', members: [bob] });
    const id = conversation.conversationId;
    for (const n of [1, 2]) await sendMessage(deps, caller(alice), { conversationId: id, clientMessageId: `bt-${n}`, body: `kept ${n}` });
    const withDefault = dynamoDeps(info, { messageRetentionDays: 10 }).deps;
    expect(await backfillTtl(withDefault, { conversations: [id] }, 1)).toEqual({ conversations: 1, read: 2, updated: 2, superseded: 0, complete: true });
    const items = await storedItems(id);
    expect(items.map((item) => item.expiresAt)).toEqual(expected(items, 10));
    expect((await head(id))?.lastExpiresAt).toBe(items.at(-1)!.expiresAt);
    // Without --conversation it lists every conversation from the conversations table, page by page (read only here).
    const pages = scanConversations(ddb, info.tableNames.conversations, 500);
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await pages(cursor);
      listed.push(...page.ids);
      cursor = page.cursor;
    } while (cursor !== undefined);
    expect(listed).toContain(id);
  });
});
