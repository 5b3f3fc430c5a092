import { indexedDB } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { AsyncStorageAdapter, IndexedDbStorage, MemoryStorage, type ClientStorage } from '../../client/client-storage.js';
import { storageKeys } from '../../client/durable-state.js';
import { FakeParleyServer } from '../../client/testing/fake-server.js';
import { connectNow, createTestClient } from '../../client/testing/harness.js';
import type { ManualClock } from '../../client/testing/manual-clock.js';

/** Runs a storage's writes to completion (IndexedDB and async adapters resolve on later turns). */
const drain = async (clock: ManualClock) => {
  for (let i = 0; i < 5; i++) await clock.advance(0);
};

/**
 * Client A queues messages while its socket is down and is discarded; client B, a fresh instance on the same storage,
 * sends them (same clientMessageIds, each stored once) and resumes catch-up from the stored cursor.
 */
async function restartScenario(storage: ClientStorage): Promise<void> {
  const server = new FakeParleyServer();
  const dm = server.seedConversation('direct', ['alice', 'bob']);
  for (let i = 1; i <= 3; i++) server.postSilently('bob', dm.conversationId, `b${i}`);
  const a = createTestClient(server, 'alice', { storage, userId: 'alice' });
  await connectNow(a);
  expect(a.events.message.map((m) => m.seq)).toEqual([1, 2, 3]);

  // q0 is stored by the server but its connection dies before the ack: only a resend with its id can tell.
  server.interceptReply = (connection, request) => {
    if (request.action !== 'send') return undefined;
    server.refuseConnections = true;
    connection.kill();
    return 'drop';
  };
  const q0 = a.client.send(dm.conversationId, 'q0');
  await a.clock.advance(0);
  server.interceptReply = undefined;
  expect(a.client.status.state).toBe('waiting');
  const queued = ['q1', 'q2', 'q3'].map((body) => a.client.send(dm.conversationId, body));
  await drain(a.clock);
  const ids = [q0, ...queued].map((m) => m.clientMessageId);
  a.client.close(); // discarded: its promises reject, its stored state stays
  await drain(a.clock);
  server.postSilently('bob', dm.conversationId, 'b5');

  const b = createTestClient(server, 'alice', { storage, userId: 'alice' });
  await drain(b.clock);
  expect(b.client.pendingMessages().map((m) => [m.clientMessageId, m.body])).toEqual(ids.map((id, i) => [id, `q${i}`]));
  server.refuseConnections = false;
  const sendsBefore = server.requestsOf('send').length;
  await connectNow(b);
  await drain(b.clock);

  expect(server.messagesOf(dm.conversationId).map((m) => m.body)).toEqual(['b1', 'b2', 'b3', 'q0', 'b5', 'q1', 'q2', 'q3']);
  const resent = server.requestsOf('send').slice(sendsBefore);
  expect(resent.map((r) => r.clientMessageId)).toEqual(ids);
  // Catch-up resumed from A's stored cursor: nothing below it again, nothing missing above it.
  expect(server.requestsOf('sync').at(-1)!.cursors).toEqual({ [dm.conversationId]: { seq: 3, epoch: dm.epoch } });
  expect(b.events.message.map((m) => m.seq)).toEqual([4, 5, 6, 7, 8]);
  expect(b.events.message.map((m) => m.body)).toEqual(['q0', 'b5', 'q1', 'q2', 'q3']);
  expect(b.events.ack.map((ack) => [ack.clientMessageId, ack.duplicate])).toEqual(ids.map((id, i) => [id, i === 0]));
  expect(b.client.pendingMessages()).toEqual([]);
  expect(await storage.getItem(storageKeys('alice').outbox)).toBeNull();
  b.client.close();
  await drain(b.clock);
  expect(JSON.parse((await storage.getItem(storageKeys('alice').cursors))!)).toEqual({ [dm.conversationId]: { seq: 8, epoch: dm.epoch } });
}

describe('durable client state', () => {
  it('a restarted client sends the unsent messages once, with the same clientMessageIds, and resumes from its cursors (memory)', async () => {
    await restartScenario(new MemoryStorage());
  });

  it('the same over an AsyncStorage-shaped object (React Native)', async () => {
    const map = new Map<string, string>();
    const asyncStorage = {
      getItem: async (key: string) => map.get(key) ?? null,
      setItem: async (key: string, value: string) => void map.set(key, value),
      removeItem: async (key: string) => void map.delete(key),
    };
    await restartScenario(new AsyncStorageAdapter(asyncStorage));
    expect([...map.keys()].sort()).toEqual([storageKeys('alice').cursors]);
  });

  it('the same over IndexedDB (fake-indexeddb), in a database that outlives the storage object', async () => {
    const storage = new IndexedDbStorage({ indexedDB, databaseName: 'parley-restart' });
    await restartScenario(storage);
    await storage.close();
    const reopened = new IndexedDbStorage({ indexedDB, databaseName: 'parley-restart' });
    expect(await reopened.getItem(storageKeys('alice').cursors)).toContain('"seq":8');
    await reopened.close();
  });

  it('keeps two users on one storage apart', async () => {
    const storage = new MemoryStorage();
    const server = new FakeParleyServer();
    const dm = server.seedConversation('direct', ['alice', 'bob']);
    server.refuseConnections = true;
    const alice = createTestClient(server, 'alice', { storage, userId: 'alice' });
    alice.client.send(dm.conversationId, 'from alice');
    await drain(alice.clock);
    alice.client.close();
    const bob = createTestClient(server, 'bob', { storage, userId: 'bob' });
    await drain(bob.clock);
    expect(bob.client.pendingMessages()).toEqual([]);
    server.refuseConnections = false;
    await connectNow(bob);
    expect(server.requestsOf('send')).toEqual([]);
    bob.client.close();
    await drain(bob.clock);
    expect(storage.keys().sort()).toEqual([storageKeys('alice').cursors, storageKeys('alice').outbox, storageKeys('bob').cursors]);
    expect(JSON.parse((await storage.getItem(storageKeys('alice').outbox))!)).toEqual([expect.objectContaining({ body: 'from alice' })]);
  });

  it('needs a user id to namespace the storage, and survives a corrupt stored outbox', async () => {
    const server = new FakeParleyServer();
    expect(() => createTestClient(server, 'alice', { storage: new MemoryStorage() })).toThrow(/userId/);
    const storage = new MemoryStorage();
    await storage.setItem(storageKeys('alice').outbox, '{broken');
    const t = createTestClient(server, 'alice', { storage, userId: 'alice' });
    await connectNow(t);
    expect(t.events.error.map((e) => e.message).join()).toMatch(/outbox/);
    expect(t.client.pendingMessages()).toEqual([]);
    t.client.close();
  });
});

describe('storage implementations', () => {
  it.each([
    ['MemoryStorage', () => new MemoryStorage()],
    [
      'AsyncStorageAdapter',
      () => {
        const map = new Map<string, string>();
        return new AsyncStorageAdapter({
          getItem: async (key: string) => map.get(key),
          setItem: async (key: string, value: string) => void map.set(key, value),
          removeItem: async (key: string) => void map.delete(key),
        });
      },
    ],
    ['IndexedDbStorage', () => new IndexedDbStorage({ indexedDB, databaseName: `kv-${Math.random()}` })],
  ] as Array<[string, () => ClientStorage]>)('%s reads back what it wrote, overwrites and removes', async (_name, make) => {
    const storage = make();
    expect(await storage.getItem('k')).toBeNull();
    await storage.setItem('k', 'v1');
    await storage.setItem('k', 'v2 ✓');
    await storage.setItem('other', 'x');
    expect(await storage.getItem('k')).toBe('v2 ✓');
    await storage.removeItem('k');
    expect(await storage.getItem('k')).toBeNull();
    expect(await storage.getItem('other')).toBe('x');
  });

  it('IndexedDbStorage keeps databases apart by name', async () => {
    const one = new IndexedDbStorage({ indexedDB, databaseName: 'stack-a' });
    const two = new IndexedDbStorage({ indexedDB, databaseName: 'stack-b' });
    await one.setItem('k', 'a');
    expect(await two.getItem('k')).toBeNull();
    await Promise.all([one.close(), two.close()]);
  });
});
