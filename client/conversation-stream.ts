import type { Clock, TimerHandle } from './clock.js';
import type { Message } from './protocol.js';
import { SeqBuffer, type SeqGap } from './seq-buffer.js';
import { StateMachine, type TransitionTable } from './state-machine.js';

/**
 * How a conversation's stream recovers missing seqs: `live` (nothing being fetched), `gap-waiting` (a seq is missing;
 * the grace period or retry backoff runs, a push may still fill it), `gap-filling` (a `history` fetch is in flight).
 * Catch-up `sync`, `limited` skips and epoch `reset`s are transitions of the cursor, driven by the sync runner.
 */
export type StreamRecoveryState = 'live' | 'gap-waiting' | 'gap-filling';

/** Allowed recovery transitions. */
export const streamTransitions: TransitionTable<StreamRecoveryState> = {
  live: ['gap-waiting'],
  'gap-waiting': ['live', 'gap-filling'],
  'gap-filling': ['live'],
};

/** One conversation's ordered delivery: its reorder buffer (the cursor) and its gap recovery state. */
export class ConversationStream {
  /** Its recovery state machine. */
  readonly machine = new StateMachine<StreamRecoveryState>('stream', streamTransitions, 'live');
  /** Gap fetches in a row that delivered nothing (backs the next one off). */
  failures = 0;
  private buffer: SeqBuffer;
  private timer: TimerHandle | undefined;

  constructor(
    readonly conversationId: string,
    delivered = 0,
  ) {
    this.buffer = new SeqBuffer(delivered);
  }

  /** Highest contiguous seq delivered: the sync cursor. */
  get delivered(): number {
    return this.buffer.delivered;
  }

  /** Takes messages in any order; returns those now deliverable, in seq order (see `SeqBuffer.accept`). */
  accept(messages: Iterable<Message>): Message[] {
    return this.buffer.accept(messages);
  }

  /** Treats everything up to `seq` as delivered (a `limited` catch-up). */
  skipTo(seq: number): void {
    this.buffer.skipTo(seq);
  }

  /** Records that messages up to `seq` exist. */
  hint(seq: number): void {
    this.buffer.hint(seq);
  }

  /** The first missing range after the cursor, or null. */
  gap(): SeqGap | null {
    return this.buffer.gap();
  }

  /** `live` → `gap-waiting`: `fire` runs after `delayMs` unless cancelled. */
  waitForGap(clock: Clock, delayMs: number, fire: () => void): void {
    this.machine.transition('gap-waiting');
    this.timer = clock.setTimeout(() => {
      this.timer = undefined;
      fire();
    }, delayMs);
  }

  /** `gap-waiting` → `live` (the connection went down, or the conversation was reset). No-op in other states. */
  cancelWait(clock: Clock): void {
    if (!this.machine.is('gap-waiting')) return;
    if (this.timer !== undefined) clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.machine.transition('live');
  }

  /** Starts over at seq 0: the conversation was recreated (another epoch). A fetch in flight finishes on its own. */
  reset(clock: Clock): void {
    this.buffer = new SeqBuffer(0);
    this.failures = 0;
    this.cancelWait(clock);
  }
}
