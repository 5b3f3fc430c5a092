/**
 * Property test over random shapes (conversation counts, member counts, id lengths, body sizes and characters,
 * cursors behind, current, unknown or from another epoch): every `sync`, `history` and `listConversations` reply
 * fits one API Gateway message, and a client that walks the pages as the SDK does (history for `limited` ranges)
 * ends up with every message exactly once, in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryDeps } from '../../lambdas/adapters/memory-stores.js';
import { createRouter } from '../../lambdas/app/router.js';
import { createDirectConversation, createGroupConversation } from '../../lambdas/domain/conversations.js';
import type { Message } from '../../lambdas/domain/types.js';
import { webSocketLimits } from '../../lib/definitions.js';

const charsets = ['a', 'ä', '€', '🎉', '\u0001', '\uFFFF'];

const shape = fc.record({
  idLength: fc.integer({ min: 1, max: 100 }),
  conversations: fc.array(
    fc.record({
      group: fc.boolean(),
      members: fc.integer({ min: 1, max: 255 }),
      messages: fc.integer({ min: 0, max: 130 }),
      bodyLength: fc.integer({ min: 1, max: 8000 }),
      charset: fc.constantFrom(...charsets),
      cursor: fc.constantFrom('none', 'behind', 'current', 'foreign'),
      behind: fc.integer({ min: 0, max: 130 }),
    }),
    { minLength: 1, maxLength: 12 },
  ),
  limit: fc.integer({ min: 1, max: 100 }),
});

describe('sync at random shapes', () => {
  it('never replies over 128 KB and loses nothing', async () => {
    await fc.assert(
      fc.asyncProperty(shape, async ({ idLength, conversations, limit }) => {
        const env = memoryDeps({ sendRatePerSecond: 1e9, sendBurst: 1e9, syncPerWindow: 1e9, historyPerWindow: 1e9 });
        const id = (name: string) => `${name}-${'u'.repeat(Math.max(0, idLength - name.length - 1))}`.slice(0, Math.max(idLength, name.length));
        const me = { userId: id('me'), connectionId: 'me-1' };
        const route = createRouter(env.deps);
        const call = async (frame: Record<string, unknown>) => {
          const reply = await route({ body: JSON.stringify({ requestId: 'r'.repeat(128), ...frame }) }, me);
          expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThanOrEqual(webSocketLimits.maxMessageBytes);
          expect(reply.type, JSON.stringify(reply).slice(0, 300)).not.toBe('error');
          return reply as Record<string, any>;
        };
        const cursors: Record<string, { seq: number; epoch: string | null }> = {};
        const stored = new Map<string, Message[]>();
        for (const [index, c] of conversations.entries()) {
          const owner = { userId: id(`o${index}`), connectionId: `o${index}` };
          const conversation = c.group
            ? await createGroupConversation(env.deps, owner, {
                title: 't',
                members: [me.userId, ...Array.from({ length: c.members - 1 }, (_, j) => id(`m${index}-${j}`))],
              })
            : await createDirectConversation(env.deps, owner, me.userId);
          for (let seq = 1; seq <= c.messages; seq++) {
            const body = `${seq}:`.padEnd(c.bodyLength, c.charset).slice(0, c.bodyLength);
            await env.messages.append(
              { conversationId: conversation.conversationId, senderId: owner.userId, clientMessageId: `m${seq}`, body, createdAt: 'now', epoch: 'e' },
              seq - 1,
            );
          }
          stored.set(conversation.conversationId, env.messages.messages.get(conversation.conversationId) ?? []);
          const seq = c.cursor === 'current' ? c.messages : c.cursor === 'behind' ? Math.max(0, c.messages - c.behind) : 3;
          if (c.cursor !== 'none') cursors[conversation.conversationId] = { seq, epoch: c.cursor === 'foreign' ? 'old' : 'e' };
        }

        // The client's view: what it had, then what the walk delivers.
        const have = new Map<string, number[]>();
        for (const [conversationId, cursor] of Object.entries(cursors)) {
          if (cursor.epoch === 'e')
            have.set(
              conversationId,
              Array.from({ length: cursor.seq }, (_, i) => i + 1),
            );
        }
        const known = { ...cursors };
        let from: string | undefined;
        for (let pages = 0; ; pages++) {
          expect(pages).toBeLessThan(2000);
          const ids = Object.keys(known)
            .filter((key) => from === undefined || key >= from)
            .sort()
            .slice(0, 100);
          const reply = await call({ action: 'sync', cursors: Object.fromEntries(ids.map((key) => [key, known[key]])), limit, ...(from ? { from } : {}) });
          for (const entry of reply.conversations) {
            const seqs = entry.reset ? [] : (have.get(entry.conversationId) ?? []);
            if (entry.limited && entry.messages.length > 0) {
              // What the app scrolls back to later comes from history, page by page, each within the limit.
              const had = seqs.at(-1) ?? 0;
              for (let beforeSeq: number | null = entry.messages[0].seq; beforeSeq !== null && beforeSeq > had + 1; ) {
                const page = await call({ action: 'history', conversationId: entry.conversationId, beforeSeq, limit: 100 });
                seqs.push(...(page.messages as Message[]).map((m) => m.seq).filter((seq) => seq > had));
                beforeSeq = page.nextBeforeSeq;
              }
              seqs.sort((a, b) => a - b);
            }
            seqs.push(...entry.messages.map((m: Message) => m.seq));
            have.set(entry.conversationId, seqs);
            known[entry.conversationId] = { seq: seqs.at(-1) ?? 0, epoch: entry.epoch };
          }
          if (reply.nextFrom === null) break;
          from = reply.nextFrom;
        }
        for (const [conversationId, messages] of stored) {
          expect(have.get(conversationId) ?? [], conversationId).toEqual(messages.map((m) => m.seq));
        }
        let cursor: string | undefined;
        do {
          const page = await call({ action: 'listConversations', limit: 100, ...(cursor ? { cursor } : {}) });
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
