import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../client/backoff.js';
import type { Message } from '../../client/protocol.js';
import { SeqBuffer } from '../../client/seq-buffer.js';

const msg = (seq: number, conversationId = 'c1'): Message => ({
  conversationId,
  seq,
  senderId: 'bob',
  clientMessageId: `m${seq}`,
  body: `#${seq}`,
  createdAt: '2026-11-22T10:00:00.000Z',
});
const seqs = (messages: Message[]) => messages.map((m) => m.seq);

describe('SeqBuffer', () => {
  it('releases in-order arrivals at once', () => {
    const buffer = new SeqBuffer();
    expect(seqs(buffer.accept([msg(1)]))).toEqual([1]);
    expect(seqs(buffer.accept([msg(2), msg(3)]))).toEqual([2, 3]);
    expect(buffer.delivered).toBe(3);
    expect(buffer.gap()).toBeNull();
  });

  it('holds out-of-order arrivals and reports the missing range', () => {
    const buffer = new SeqBuffer();
    expect(buffer.accept([msg(3), msg(5)])).toEqual([]);
    expect(buffer.gap()).toEqual({ from: 1, to: 2 });
    expect(seqs(buffer.accept([msg(1)]))).toEqual([1]);
    expect(buffer.gap()).toEqual({ from: 2, to: 2 });
    expect(seqs(buffer.accept([msg(2)]))).toEqual([2, 3]);
    expect(buffer.gap()).toEqual({ from: 4, to: 4 });
    expect(seqs(buffer.accept([msg(4)]))).toEqual([4, 5]);
    expect(buffer.heldCount).toBe(0);
  });

  it('drops duplicates, both delivered and held', () => {
    const buffer = new SeqBuffer();
    buffer.accept([msg(1), msg(3)]);
    expect(buffer.accept([msg(1), msg(3), msg(3)])).toEqual([]);
    expect(buffer.heldCount).toBe(1);
    expect(buffer.gap()).toEqual({ from: 2, to: 2 });
    expect(seqs(buffer.accept([msg(2), msg(2)]))).toEqual([2, 3]);
    buffer.accept([msg(1), msg(2), msg(3)]);
    expect(buffer.heldCount).toBe(0);
    expect(buffer.gap()).toBeNull();
  });

  it('starts after a resumed cursor', () => {
    const buffer = new SeqBuffer(10);
    expect(buffer.accept([msg(9), msg(10)])).toEqual([]);
    expect(seqs(buffer.accept([msg(11)]))).toEqual([11]);
  });

  it('turns a hint of a higher lastSeq into a gap even with nothing held', () => {
    const buffer = new SeqBuffer(4);
    buffer.hint(3);
    expect(buffer.gap()).toBeNull();
    buffer.hint(7);
    expect(buffer.gap()).toEqual({ from: 5, to: 7 });
  });

  it('delivers 1..n exactly once and in order for any arrival order with duplicates', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.shuffledSubarray(
              Array.from({ length: 2 * n }, (_, i) => (i % n) + 1),
              { minLength: 2 * n, maxLength: 2 * n },
            ),
            fc.integer({ min: 1, max: 5 }),
          ),
        ),
        ([n, arrivals, batch]) => {
          const buffer = new SeqBuffer();
          const out: number[] = [];
          for (let i = 0; i < arrivals.length; i += batch) {
            out.push(...seqs(buffer.accept(arrivals.slice(i, i + batch).map((s) => msg(s)))));
          }
          expect(out).toEqual(Array.from({ length: n }, (_, i) => i + 1));
          expect(buffer.gap()).toBeNull();
        },
      ),
    );
  });
});

describe('backoffDelay (full jitter)', () => {
  const options = { baseMs: 500, maxMs: 30_000 };

  it('draws uniformly below min(cap, base·2^attempt)', () => {
    expect(backoffDelay(0, options, () => 0.999)).toBe(499);
    expect(backoffDelay(3, options, () => 0.5)).toBe(2000);
    expect(backoffDelay(0, options, () => 0)).toBe(0);
  });

  it('never exceeds the cap, however many attempts', () => {
    for (const attempt of [6, 7, 20, 1000]) {
      expect(backoffDelay(attempt, options, () => 0.999999)).toBeLessThan(30_000);
      expect(backoffDelay(attempt, options, () => 0.999999)).toBeGreaterThan(29_000);
    }
  });
});
