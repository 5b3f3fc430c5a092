/**
 * The SDK (Node, `ws`) against the local stack while a TCP proxy cuts connections at random moments:
 * every message must still be stored once and surface exactly once, in seq order, on every client.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { ParleyClient, type ParleyClientOptions } from '../../client/index.js';
import { MemoryCursorStore } from '../../client/cursor-store.js';
import type { Message } from '../../client/protocol.js';
import { seededRandom } from '../../client/testing/harness.js';
import { TcpProxy } from '../../client/testing/tcp-proxy.js';

const info = inject('parley');
const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);

let proxy: TcpProxy;
const clients: ParleyClient[] = [];

const uniqueUser = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

async function devToken(user: string): Promise<string> {
  const response = await fetch(`${info.httpUrl.replace(/\/$/, '')}/dev/token?user=${encodeURIComponent(user)}`);
  if (!response.ok) throw new Error(`dev token for ${user}: HTTP ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

interface Probe {
  client: ParleyClient;
  delivered: Map<string, Message[]>;
  errors: Error[];
}

/** A client for `user`, through the chaos proxy unless `direct`. */
function clientFor(user: string, options: Partial<ParleyClientOptions> & { direct?: boolean } = {}): Probe {
  const { direct, ...rest } = options;
  const client = new ParleyClient({
    url: direct ? info.wsUrl : proxy.wrap(info.wsUrl),
    userId: user,
    token: () => devToken(user),
    WebSocket: WebSocket as unknown as ParleyClientOptions['WebSocket'],
    backoff: { baseMs: 100, maxMs: 1_500 },
    requestTimeoutMs: 5_000,
    connectTimeoutMs: 5_000,
    gapFillDelayMs: 150,
    ...rest,
  });
  clients.push(client);
  const probe: Probe = { client, delivered: new Map(), errors: [] };
  client.on('message', (m) => {
    const list = probe.delivered.get(m.conversationId) ?? [];
    list.push(m);
    probe.delivered.set(m.conversationId, list);
  });
  client.on('error', (e) => probe.errors.push(e));
  return probe;
}

async function until(what: string, condition: () => boolean, timeoutMs = 30_000, detail?: () => unknown): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for: ${what}${detail ? ` (${JSON.stringify(detail())})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every stored message of a conversation, read with a clean connection (oldest first). */
async function storedMessages(reader: ParleyClient, conversationId: string): Promise<Message[]> {
  const all: Message[] = [];
  let beforeSeq: number | undefined;
  for (;;) {
    const page = await reader.history(conversationId, { limit: 100, ...(beforeSeq ? { beforeSeq } : {}) });
    all.unshift(...page.messages);
    if (page.nextBeforeSeq === null || page.messages.length === 0) break;
    beforeSeq = page.nextBeforeSeq;
  }
  return all;
}

function expectExactlyOnceInOrder(delivered: Message[] | undefined, stored: Message[], who: string): void {
  const seqs = (delivered ?? []).map((m) => m.seq);
  expect(seqs, `${who}: seqs delivered`).toEqual(stored.map((m) => m.seq));
  expect(
    (delivered ?? []).map((m) => m.body),
    `${who}: bodies`,
  ).toEqual(stored.map((m) => m.body));
}

/** Cuts a random proxied connection every 50–450 ms, with the occasional one-second outage. */
function startChaos(random: () => number): { stop: () => Promise<void>; kills: () => number } {
  let running = true;
  let kills = 0;
  const loop = (async () => {
    while (running) {
      await new Promise((resolve) => setTimeout(resolve, 50 + random() * 400));
      if (!running) break;
      if (random() < 0.08) {
        proxy.refuse = true;
        kills += proxy.killAll();
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        proxy.refuse = false;
      } else if (proxy.killOne(random)) {
        kills++;
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
    kills: () => kills,
  };
}

describe('client SDK against the local stack under connection chaos', () => {
  beforeAll(async () => {
    const target = new URL(info.wsUrl);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 80) });
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await proxy?.close();
  });

  // The chaos test and the offline one share nothing (the offline one connects directly, not through the proxy), so
  // they run together; the last one cuts every proxied connection and runs alone.
  it.concurrent(`delivers every message exactly once and in order while connections die (seed ${seed})`, async () => {
    const random = seededRandom(seed);
    const [alice, bob, carol] = [uniqueUser('alice'), uniqueUser('bob'), uniqueUser('carol')];
    const admin = clientFor(alice, { direct: true });
    await admin.client.connect();
    const group = await admin.client.createGroup('chaos', [bob, carol]);
    const dm = await admin.client.createDirect(bob);

    const a = clientFor(alice);
    const b = clientFor(bob);
    const c = clientFor(carol);
    await Promise.all([a.client.connect(), b.client.connect(), c.client.connect()]);

    const chaos = startChaos(random);
    const sent: Array<{ sender: string; conversationId: string; body: string; acked: Promise<unknown> }> = [];
    for (let i = 0; i < 30; i++) {
      const toGroup = random() < 0.6;
      const conversationId = toGroup ? group.conversationId : dm.conversationId;
      const body = `a${i}`;
      sent.push({ sender: alice, conversationId, body, acked: a.client.send(conversationId, body).acked });
      if (i % 2 === 0) {
        const body2 = `c${i}`;
        sent.push({ sender: carol, conversationId: group.conversationId, body: body2, acked: c.client.send(group.conversationId, body2).acked });
      }
      await new Promise((resolve) => setTimeout(resolve, random() * 120));
    }
    await Promise.all(sent.map((s) => s.acked));
    await chaos.stop();
    expect(chaos.kills(), 'the chaos loop must actually have cut connections').toBeGreaterThan(3);

    const storedGroup = await storedMessages(admin.client, group.conversationId);
    const storedDm = await storedMessages(admin.client, dm.conversationId);
    // Stored exactly once: one message per send, gap-free seqs.
    for (const [stored, conversationId] of [
      [storedGroup, group.conversationId],
      [storedDm, dm.conversationId],
    ] as const) {
      const expected = sent.filter((s) => s.conversationId === conversationId);
      expect(stored.map((m) => m.seq)).toEqual(stored.map((_, i) => i + 1));
      expect([...stored.map((m) => `${m.senderId}:${m.body}`)].sort()).toEqual(expected.map((s) => `${s.sender}:${s.body}`).sort());
      // Each sender's messages are stored in the order that sender queued them.
      for (const sender of [alice, carol]) {
        expect(stored.filter((m) => m.senderId === sender).map((m) => m.body)).toEqual(expected.filter((s) => s.sender === sender).map((s) => s.body));
      }
    }

    // Every client converges on exactly the stored sequence: nothing lost, nothing twice, nothing reordered.
    const complete = (p: Probe) =>
      (p.delivered.get(group.conversationId)?.length ?? 0) >= storedGroup.length && (p.delivered.get(dm.conversationId)?.length ?? 0) >= storedDm.length;
    const counts = () => ({
      stored: { group: storedGroup.length, dm: storedDm.length },
      ...Object.fromEntries(
        [
          ['alice', a],
          ['bob', b],
          ['carol', c],
        ].map(([name, p]) => [
          name,
          {
            group: (p as Probe).client.cursor(group.conversationId),
            dm: (p as Probe).client.cursor(dm.conversationId),
            state: (p as Probe).client.status.state,
          },
        ]),
      ),
    });
    await until('bob and alice have everything', () => complete(b) && complete(a), 30_000, counts);
    await until('carol has the group', () => (c.delivered.get(group.conversationId)?.length ?? 0) >= storedGroup.length, 30_000, counts);
    await new Promise((resolve) => setTimeout(resolve, 500)); // late duplicates would land now
    expectExactlyOnceInOrder(b.delivered.get(group.conversationId), storedGroup, 'bob/group');
    expectExactlyOnceInOrder(b.delivered.get(dm.conversationId), storedDm, 'bob/dm');
    expectExactlyOnceInOrder(a.delivered.get(group.conversationId), storedGroup, 'alice/group');
    expectExactlyOnceInOrder(a.delivered.get(dm.conversationId), storedDm, 'alice/dm');
    expectExactlyOnceInOrder(c.delivered.get(group.conversationId), storedGroup, 'carol/group');
    expect(c.delivered.has(dm.conversationId)).toBe(false);
  });

  it.concurrent('resumes from saved cursors after being offline, paging through more than one sync page', async () => {
    const [alice, bob] = [uniqueUser('alice'), uniqueUser('bob')];
    const a = clientFor(alice, { direct: true });
    await a.client.connect();
    const dm = await a.client.createDirect(bob);
    for (let i = 1; i <= 5; i++) await a.client.send(dm.conversationId, `before ${i}`).acked;

    const cursors = new MemoryCursorStore();
    const b1 = clientFor(bob, { cursorStore: cursors });
    await b1.client.connect();
    await until('bob has the first five', () => b1.client.cursor(dm.conversationId) === 5);
    b1.client.close();
    await until('cursor saved', () => cursors.load()[dm.conversationId]?.seq === 5, 5_000);

    const acks = [];
    for (let i = 1; i <= 130; i++) acks.push(a.client.send(dm.conversationId, `after ${i}`).acked);
    await Promise.all(acks);

    // 130 missed with a limit of 100: the newest 100 are shown at once, the 30 older ones are left to history.
    const b2 = clientFor(bob, { cursorStore: cursors, syncLimit: 100 });
    const limited: { fromSeq: number; toSeq: number }[] = [];
    b2.client.on('limited', (event) => limited.push(event));
    await b2.client.connect();
    await until('bob caught up', () => b2.client.cursor(dm.conversationId) === 135);
    const delivered = b2.delivered.get(dm.conversationId) ?? [];
    expect(limited).toEqual([{ conversationId: dm.conversationId, fromSeq: 6, toSeq: 35 }]);
    expect(delivered.map((m) => m.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 36));
    expect(delivered.map((m) => m.body)).toEqual(Array.from({ length: 100 }, (_, i) => `after ${i + 31}`));
    const older = await b2.client.history(dm.conversationId, { beforeSeq: 36, limit: 100 });
    expect(older.messages.map((m) => m.seq)).toEqual(Array.from({ length: 35 }, (_, i) => i + 1));
    expect(cursors.load()[dm.conversationId]?.seq).toBe(135);
  });

  it('reconnects with a fresh token and shows presence, typing and receipts end to end', async () => {
    const [alice, bob] = [uniqueUser('alice'), uniqueUser('bob')];
    const a = clientFor(alice);
    const b = clientFor(bob);
    await Promise.all([a.client.connect(), b.client.connect()]);
    // Bob opens the DM, so he has accepted it and alice may see his presence (consent).
    const dm = await b.client.createDirect(alice);
    // Bob came online before they shared a conversation, so ask rather than wait for a push.
    expect(await a.client.fetchPresence([bob])).toEqual([expect.objectContaining({ userId: bob, status: 'online' })]);

    b.client.setTyping(dm.conversationId, true);
    await until('alice sees bob typing', () => a.client.typingIn(dm.conversationId).includes(bob), 10_000);

    const { seq } = await a.client.send(dm.conversationId, 'read me').acked;
    await until('bob got it', () => b.client.cursor(dm.conversationId) === seq, 10_000);
    await until('delivered receipt', () => a.client.receiptsOf(dm.conversationId).some((r) => r.userId === bob && r.lastDeliveredSeq >= seq), 10_000);
    await b.client.markRead(dm.conversationId, seq);
    await until('read receipt', () => a.client.receiptsOf(dm.conversationId).some((r) => r.userId === bob && r.lastReadSeq >= seq), 10_000);

    // Kill every connection: both clients reconnect (new tokens) and bob goes offline→online for alice.
    const before = proxy.accepted;
    proxy.killAll();
    await until('both reconnected', () => a.client.status.state === 'online' && b.client.status.state === 'online' && proxy.accepted >= before + 2, 15_000);
    b.client.close();
    await until('alice sees bob offline', () => a.client.presenceOf(bob)?.status === 'offline', 15_000);
  });
});
