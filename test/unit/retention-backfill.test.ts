import { describe, expect, it } from 'vitest';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';
import { createGroup } from '../../lambdas/domain/conversations.js';
import { runJob } from '../../lambdas/domain/fanout.js';
import { updateConversation } from '../../lambdas/domain/membership.js';
import { sendMessage } from '../../lambdas/domain/messages.js';
import { backfillConversation, backfillPage, startBackfill } from '../../lambdas/domain/retention-backfill.js';
import type { TimelineItem } from '../../lambdas/domain/ports.js';
import { backfillTtl, parseBackfillArgs, type Checkpoint } from '../../scripts/backfill-ttl.js';

const day = 86_400_000;
const alice = { userId: 'alice', connectionId: 'alice-1' };
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

async function group(retentionDays?: number) {
  const env = memoryDeps();
  const { conversation } = await createGroup(env.deps, alice, { title: 'kept', members: ['bob'] });
  const id = conversation.conversationId;
  if (retentionDays !== undefined) await updateConversation(env.deps, alice, { conversationId: id, retentionDays });
  env.queue.jobs.length = 0;
  let n = 0;
  const send = () => sendMessage(env.deps, alice, { conversationId: id, clientMessageId: `m${++n}`, body: `message ${n}` });
  const items = async () => (await env.messages.after(id, 0, 1000)) as TimelineItem[];
  const expiries = async () => (await items()).map((item) => item.expiresAt);
  const head = () => env.conversations.conversations.get(id)!;
  /** Runs the queued jobs (and the ones they queue) until none is left, as the fanout worker would. */
  const drain = async () => {
    while (env.queue.jobs.length > 0) await runJob(env.deps, env.queue.jobs.shift()!.job);
  };
  return { ...env, id, send, items, expiries, head, drain };
}

describe('retention backfill', () => {
  it('gives items stored before a deployment default their TTL, in timeline order, and settles the head', async () => {
    const g = await group();
    for (let i = 0; i < 3; i++) {
      await g.send();
      g.advance(day);
    }
    expect(await g.expiries()).toEqual([undefined, undefined, undefined]);
    g.deps.limits = { ...g.deps.limits, messageRetentionDays: 30 };
    const done = await backfillConversation(g.deps, g.id, 2);
    const items = await g.items();
    expect(done).toEqual({ read: 3, updated: 3 });
    expect(items.map((item) => item.expiresAt)).toEqual(items.map((item) => seconds(item.createdAt) + 30 * 86_400));
    expect(g.head().lastExpiresAt).toBe(items.at(-1)!.expiresAt);
    // Idempotent: a second run only reads.
    expect(await backfillConversation(g.deps, g.id, 2)).toEqual({ read: 3, updated: 0 });
  });

  it('applies a shortened group retention to older items through the queued job, so TTL removes them and the old floor goes', async () => {
    const g = await group(30);
    await g.send();
    g.advance(10 * day);
    await g.send();
    await updateConversation(g.deps, alice, { conversationId: g.id, retentionDays: 5 });
    expect(g.queue.jobs.map(({ job }) => job)).toEqual([{ kind: 'retention', conversationId: g.id, retentionDays: 5, afterSeq: 0, floor: 0 }]);
    await g.drain();
    const items = await g.items();
    const own = items.map((item) => seconds(item.createdAt) + 5 * 86_400);
    // The first item's new TTL passed: TTL deletes it, as the reads already hid it.
    expect(items.map((item) => item.expiresAt)).toEqual(own.map((value, i) => Math.max(value, own[0]!, i > 0 ? own[i - 1]! : 0)));
    expect(g.messages.expire(g.deps.now())).toBe(2);
    // The next message expires 5 days after it was sent, not at the 30-day TTL the head held before.
    const before = g.head().lastExpiresAt!;
    g.advance(1000);
    const sent = await g.send();
    expect(before).toBeLessThan(seconds(sent.createdAt) + 30 * 86_400);
    expect((await g.items()).at(-1)!.expiresAt).toBe(seconds(sent.createdAt) + 5 * 86_400);
  });

  it('extends a lengthened retention to items not yet expired, never reviving an expired one', async () => {
    const g = await group(1);
    await g.send();
    g.advance(2 * day);
    await g.send();
    const before = await g.items();
    const passed = (item: TimelineItem) => item.expiresAt! * 1000 <= g.deps.now().getTime();
    await updateConversation(g.deps, alice, { conversationId: g.id, retentionDays: 30 });
    await g.drain();
    const after = await g.items();
    expect(before.filter(passed).map((item) => item.seq)).toEqual([1, 2]);
    // Expired ones keep their TTL (some may be deleted already); the others get 30 days from when they were sent.
    for (const item of after) {
      const was = before.find((old) => old.seq === item.seq);
      expect(item.expiresAt).toBe(was && passed(was) ? was.expiresAt : seconds(item.createdAt) + 30 * 86_400);
    }
  });

  it('removes TTLs when the group goes back to a default of keeping messages forever', async () => {
    const g = await group(7);
    await g.send();
    await updateConversation(g.deps, alice, { conversationId: g.id, retentionDays: null });
    await g.drain();
    expect(await g.expiries()).toEqual([undefined, undefined, undefined]);
    expect(g.head().lastExpiresAt).toBeUndefined();
  });

  it('reads on when items are appended during the walk, and stops when a newer retention change supersedes it', async () => {
    const g = await group(7);
    await g.send();
    const first = await backfillPage(g.deps, startBackfill(g.id, 7), 10);
    expect(first.next).toBeUndefined();
    // A page that ends the walk while a send slips in: the head moved, so the settle fails and the walk goes on.
    const state = startBackfill(g.id, 7);
    const settle = g.messages.settleExpiry.bind(g.messages);
    g.messages.settleExpiry = async (...args) => {
      g.messages.settleExpiry = settle;
      await g.send();
      return settle(...args);
    };
    const page = await backfillPage(g.deps, state, 10);
    expect(page.next).toMatchObject({ afterSeq: 2 });
    expect(await backfillPage(g.deps, page.next!, 10)).toEqual({ read: 1, updated: 0 });

    await updateConversation(g.deps, alice, { conversationId: g.id, retentionDays: 3 });
    await updateConversation(g.deps, alice, { conversationId: g.id, retentionDays: 4 });
    const [older, newer] = g.queue.jobs.splice(0).map(({ job }) => job);
    await runJob(g.deps, older!);
    expect(g.queue.jobs).toHaveLength(0);
    expect(g.log.entries.some((entry) => entry.message === 'retention backfill stopped' && entry.attributes.reason === 'superseded')).toBe(true);
    await runJob(g.deps, newer!);
    for (const item of await g.items()) expect(item.expiresAt).toBeGreaterThanOrEqual(seconds(item.createdAt) + 4 * 86_400);
  });
});

describe('npm run backfill-ttl', () => {
  it('walks every conversation page by page and resumes from its checkpoint after a failure', async () => {
    const g = await group();
    await g.send();
    g.deps.limits = { ...g.deps.limits, messageRetentionDays: 10 };
    const pages = [['missing-1', g.id], ['missing-2']];
    let saved: string | undefined;
    const checkpoint: Checkpoint = { read: () => saved, write: (cursor) => (saved = cursor) };
    let failOnce = true;
    const source = async (cursor: string | undefined) => {
      const index = Number(cursor ?? 0);
      if (index === 1 && failOnce) {
        failOnce = false;
        throw new Error('throttled');
      }
      return { ids: pages[index]!, ...(index + 1 < pages.length ? { cursor: String(index + 1) } : {}) };
    };
    await expect(backfillTtl(g.deps, { pages: source, checkpoint }, 50)).rejects.toThrow('throttled');
    expect(saved).toBe('1');
    expect((await g.expiries()).every((expiresAt) => expiresAt !== undefined)).toBe(true);
    // The second run starts at the page that failed.
    expect(await backfillTtl(g.deps, { pages: source, checkpoint }, 50)).toEqual({ conversations: 1, read: 0, updated: 0, superseded: 0, complete: true });
    expect(saved).toBeUndefined();
  });

  it('refuses unclear arguments, naming the option', () => {
    const env = { MESSAGES_TABLE: 'parley-messages' };
    const parse = (argv: string[], extra: Record<string, string> = {}) => parseBackfillArgs(argv, { ...env, ...extra }, () => undefined);
    expect(() => parse([])).toThrow(/--default-days is required/);
    expect(() => parse(['--default-days', '0'])).toThrow(/--default-days must be a whole number/);
    expect(() => parse(['--default-days', 'soon'])).toThrow(/--default-days must be a whole number/);
    expect(() => parse(['--default-days', '30', '--page'])).toThrow(/--page needs a value/);
    expect(() => parse(['--default-days', '30', '--page', '5000'])).toThrow(/--page must be/);
    expect(() => parse(['--default-days', '30', '--verbose', 'x'])).toThrow(/unknown argument --verbose/);
    expect(() => parse(['--default-days', '30', '--conversation', 'a', '--checkpoint', 'c.json'])).toThrow(/does not go with --conversation/);
    expect(parse(['--conversation', 'a', '--conversation', 'b'], { MESSAGE_RETENTION_DAYS: '30' })).toMatchObject({
      defaultDays: 30,
      conversations: ['a', 'b'],
      pageItems: 200,
    });
    expect(parse(['--default-days', 'none']).env.MESSAGE_RETENTION_DAYS).toBeUndefined();
  });
});
