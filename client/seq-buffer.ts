import type { Message } from './protocol.js';

/** A missing, inclusive range of seqs. */
export interface SeqGap {
  from: number;
  to: number;
}

/**
 * Per-conversation reordering buffer. Releases messages strictly in `seq` order exactly once, holds
 * out-of-order arrivals, and reports the first missing range so the client can fetch it.
 */
export class SeqBuffer {
  private readonly held = new Map<number, Message>();
  /** Highest seq known to exist (from messages, `lastSeq` or receipts); all seqs up to it are stored. */
  private knownLast: number;

  /** @param delivered highest contiguous seq already delivered (the cursor). */
  constructor(private deliveredSeq = 0) {
    this.knownLast = deliveredSeq;
  }

  /** Highest contiguous seq delivered so far: the sync cursor. */
  get delivered(): number {
    return this.deliveredSeq;
  }

  /** Number of out-of-order messages waiting for a gap to fill. */
  get heldCount(): number {
    return this.held.size;
  }

  /** Highest seq known to exist. */
  get lastKnownSeq(): number {
    return this.knownLast;
  }

  /**
   * Takes messages in any order, possibly duplicated; returns those that are now deliverable,
   * in seq order. Messages at or below the cursor, or already held, are dropped as duplicates.
   */
  accept(messages: Iterable<Message>): Message[] {
    for (const message of messages) {
      const { seq } = message;
      if (!Number.isSafeInteger(seq) || seq <= this.deliveredSeq || this.held.has(seq)) continue;
      this.held.set(seq, message);
      if (seq > this.knownLast) this.knownLast = seq;
    }
    const out: Message[] = [];
    for (let next = this.held.get(this.deliveredSeq + 1); next; next = this.held.get(this.deliveredSeq + 1)) {
      this.held.delete(next.seq);
      this.deliveredSeq = next.seq;
      out.push(next);
    }
    return out;
  }

  /**
   * Treats every seq up to `seq` as delivered without delivering it: a limited catch-up shows the newest messages
   * and leaves the older ones to `history`. Held messages at or below `seq` are dropped.
   */
  skipTo(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq <= this.deliveredSeq) return;
    for (const held of this.held.keys()) if (held <= seq) this.held.delete(held);
    this.deliveredSeq = seq;
    if (seq > this.knownLast) this.knownLast = seq;
  }

  /** Records that messages up to `seq` exist (a conversation's `lastSeq`, a member's receipt). */
  hint(seq: number): void {
    if (Number.isSafeInteger(seq) && seq > this.knownLast) this.knownLast = seq;
  }

  /** The first missing range after the cursor, or null when nothing is known to be missing. */
  gap(): SeqGap | null {
    if (this.knownLast <= this.deliveredSeq) return null;
    const from = this.deliveredSeq + 1;
    let to = this.knownLast;
    for (const seq of this.held.keys()) if (seq - 1 < to) to = seq - 1;
    return { from, to };
  }
}
