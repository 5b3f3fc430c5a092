import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';
import { ConversationStream } from './conversation-stream.js';
import type { CursorStore, Cursors } from './cursor-store.js';
import { ParleyError } from './errors.js';
import type { Conversation, Message, Receipt, ReplyMap, SyncConversation } from './protocol.js';
import type { ResolvedOptions } from './types.js';
import { asError, isMessage } from './util.js';

/** What ordered delivery needs from the rest of the client. */
export interface DeliveryHooks {
  /** Caught up and connected: gap fills may run. */
  isOnline(): boolean;
  /** Identifies the current socket; a reply from another one is stale. */
  session(): unknown;
  /** Fetches `limit` messages below `beforeSeq` (fails at once when offline). */
  history(conversationId: string, beforeSeq: number, limit: number): Promise<ReplyMap['history']>;
  /** Messages became deliverable, in seq order; `delivered` is the new cursor. */
  deliver(conversationId: string, messages: Message[], delivered: number): void;
  /** The last seq known for a conversation (from its conversation object). */
  lastSeqOf(conversationId: string): number | undefined;
  /** A conversation was reset: drop what other modules hold for it. */
  onReset(conversationId: string): void;
  /** A sync entry carried a conversation object. */
  upsertConversation(conversation: Conversation): void;
  /** A sync entry carried a receipt. */
  applyReceipt(receipt: Receipt): void;
  /** The sync entry's `lastSeq` for the conversation object. */
  raiseLastSeq(conversationId: string, seq: number): void;
  /** Emits `limited`, `reset` and non-fatal errors. */
  emit(event: 'limited', payload: { conversationId: string; fromSeq: number; toSeq: number }): void;
  emit(event: 'reset', payload: { conversationId: string }): void;
  emit(event: 'expired', payload: { conversationId: string; expiredBefore: number }): void;
  emit(event: 'error', payload: Error): void;
}

const historyPage = 100;

/**
 * Per-conversation delivery strictly in seq order, exactly once: the streams and their epochs, gap fills with
 * `history`, epoch resets, and the cursors (loaded from and saved to the cursor store).
 */
export class Delivery {
  private readonly streams = new Map<string, ConversationStream>();
  /** The epoch each stream's seqs belong to (null until the conversation has a timeline). */
  private readonly epochs = new Map<string, string | null>();
  /** Per conversation, the retention horizon the server named: seqs below it are gone. */
  private readonly horizons = new Map<string, number>();
  private saveScheduled = false;

  constructor(
    private readonly clock: Clock,
    private readonly backoff: BackoffOptions,
    private readonly random: () => number,
    private readonly opts: ResolvedOptions,
    private readonly cursorStore: CursorStore,
    private readonly hooks: DeliveryHooks,
  ) {}

  /** The stream of a conversation, if it has one. */
  get(conversationId: string): ConversationStream | undefined {
    return this.streams.get(conversationId);
  }

  /** Conversations with a stream (a cursor), in insertion order. */
  ids(): string[] {
    return [...this.streams.keys()];
  }

  /** The cursor of a conversation: delivered seq and epoch. */
  cursorOf(id: string): Cursors[string] {
    return { seq: this.streams.get(id)?.delivered ?? 0, epoch: this.epochs.get(id) ?? null };
  }

  /** The epoch known for a conversation. */
  epochOf(id: string): string | null | undefined {
    return this.epochs.get(id);
  }

  /** Records a conversation's epoch. */
  setEpoch(id: string, epoch: string | null): void {
    this.epochs.set(id, epoch);
  }

  /** Feeds messages from any source (push, sync, gap fetch, own ack) through the per-conversation streams. */
  ingest(messages: Message[], alsoRelease: string[] = []): void {
    const touched = new Set<string>(alsoRelease);
    for (const message of messages) if (isMessage(message)) touched.add(message.conversationId);
    for (const id of touched) {
      const batch = messages.filter((m) => m.conversationId === id);
      // A seq of another epoch belongs to a recreated conversation: start its timeline over instead of dropping it.
      const epoch = batch.find((m) => typeof m.epoch === 'string')?.epoch;
      if (epoch) {
        const known = this.epochs.get(id);
        if (known && known !== epoch) this.reset(id);
        this.epochs.set(id, epoch);
      }
      const stream = this.stream(id);
      const delivered = stream.accept(batch);
      if (delivered.length > 0) {
        stream.failures = 0;
        this.hooks.deliver(id, delivered, stream.delivered);
      }
      this.scheduleGapFill(id);
    }
    if (touched.size > 0) this.flushCursors();
  }

  /** Applies one conversation of a sync reply; returns how many of its messages it carried. */
  applySyncEntry(entry: SyncConversation): number {
    const id = entry.conversationId;
    if (typeof id !== 'string') return 0;
    if (entry.reset) this.reset(id);
    if (entry.epoch !== undefined) this.epochs.set(id, entry.epoch);
    if (entry.conversation) this.hooks.upsertConversation({ ...entry.conversation, epoch: entry.epoch });
    const stream = this.stream(id);
    const first = entry.messages?.[0]?.seq;
    if (entry.limited && first !== undefined && first - 1 > stream.delivered) {
      const fromSeq = stream.delivered + 1;
      stream.skipTo(first - 1);
      this.hooks.emit('limited', { conversationId: id, fromSeq, toSeq: first - 1 });
    }
    if (entry.expiredBefore !== undefined) this.applyExpiry(id, entry.expiredBefore);
    stream.hint(entry.lastSeq);
    this.hooks.raiseLastSeq(id, entry.lastSeq ?? 0);
    this.ingest(entry.messages ?? []);
    for (const r of entry.receipts ?? []) this.hooks.applyReceipt({ ...r, conversationId: id });
    return entry.messages?.length ?? 0;
  }

  /**
   * Records a retention horizon (`expiredBefore` of a sync entry or history reply): seqs below it are gone, so the
   * stream treats them as delivered (no gap to fill there) and releases held messages after it in order. `expired` is
   * emitted the first time per conversation.
   */
  applyExpiry(conversationId: string, expiredBefore: number): void {
    if (!Number.isSafeInteger(expiredBefore) || expiredBefore < 2) return;
    const known = this.horizons.get(conversationId);
    if (known !== undefined && known >= expiredBefore) return;
    this.horizons.set(conversationId, expiredBefore);
    const stream = this.stream(conversationId);
    if (stream.delivered < expiredBefore - 1) {
      stream.skipTo(expiredBefore - 1);
      // Messages held after the horizon are now next in line.
      this.ingest([], [conversationId]);
      this.flushCursors();
    }
    if (known === undefined) this.hooks.emit('expired', { conversationId, expiredBefore });
  }

  /** Notes that seqs up to `seq` exist in a conversation that has a stream, and fetches them if missing. */
  hint(conversationId: string, seq: number): void {
    this.streams.get(conversationId)?.hint(seq);
    this.scheduleGapFill(conversationId);
  }

  /** Like `hint`, creating the stream when needed (our own ack without a known user id). */
  expect(conversationId: string, seq: number): void {
    this.stream(conversationId).hint(seq);
    this.scheduleGapFill(conversationId);
  }

  /** Forgets a conversation's timeline state: its seqs now belong to a new incarnation. */
  reset(id: string): void {
    const stream = this.streams.get(id);
    if (stream) stream.reset(this.clock);
    else this.streams.set(id, new ConversationStream(id, 0));
    this.epochs.delete(id);
    this.horizons.delete(id);
    this.hooks.onReset(id);
    this.hooks.emit('reset', { conversationId: id });
    this.flushCursors();
  }

  /** The socket went down: pending gap timers stop (fetches in flight fail on their own). */
  suspend(): void {
    for (const stream of this.streams.values()) stream.cancelWait(this.clock);
  }

  /** Catch-up finished: look for gaps everywhere. */
  resumeAll(): void {
    for (const id of this.streams.keys()) this.scheduleGapFill(id);
  }

  /** Loads stored cursors for conversations not seen yet. */
  async loadCursors(): Promise<void> {
    try {
      const stored = await this.cursorStore.load();
      for (const [id, cursor] of Object.entries(stored)) {
        if (this.streams.has(id)) continue;
        this.streams.set(id, new ConversationStream(id, cursor.seq));
        this.epochs.set(id, cursor.epoch);
      }
    } catch (error) {
      this.hooks.emit('error', asError(error, 'could not load cursors'));
    }
  }

  /** Saves every cursor once per microtask turn, however many changed. */
  flushCursors(): void {
    if (this.saveScheduled) return;
    this.saveScheduled = true;
    queueMicrotask(() => {
      this.saveScheduled = false;
      const cursors: Cursors = {};
      for (const id of this.streams.keys()) cursors[id] = this.cursorOf(id);
      try {
        Promise.resolve(this.cursorStore.save(cursors)).catch((error: unknown) => this.hooks.emit('error', asError(error, 'could not save cursors')));
      } catch (error) {
        this.hooks.emit('error', asError(error, 'could not save cursors'));
      }
    });
  }

  private stream(id: string): ConversationStream {
    let stream = this.streams.get(id);
    if (!stream) {
      // A conversation we have no cursor for starts from seq 1, as `sync` does for unknown conversations.
      stream = new ConversationStream(id, 0);
      this.streams.set(id, stream);
      const last = this.hooks.lastSeqOf(id);
      if (last) stream.hint(last);
    }
    return stream;
  }

  private scheduleGapFill(id: string): void {
    if (!this.hooks.isOnline()) return;
    const stream = this.streams.get(id);
    if (!stream?.machine.is('live') || !stream.gap()) return;
    const failures = stream.failures;
    const delay = failures === 0 ? this.opts.gapFillDelayMs : this.opts.gapFillDelayMs + backoffDelay(failures, this.backoff, this.random);
    stream.waitForGap(this.clock, delay, () => void this.fillGap(stream));
  }

  private async fillGap(stream: ConversationStream): Promise<void> {
    const id = stream.conversationId;
    const gap = stream.gap();
    if (!gap || !this.hooks.isOnline()) {
      stream.machine.transition('live');
      return;
    }
    stream.machine.transition('gap-filling');
    const session = this.hooks.session();
    const before = stream.delivered;
    let permanent = false;
    try {
      // history pages newest-first below beforeSeq; ask for the bottom of the gap so delivery can start at once.
      const beforeSeq = Math.min(gap.to, gap.from + historyPage - 1) + 1;
      const reply = await this.hooks.history(id, beforeSeq, beforeSeq - gap.from);
      if (this.hooks.session() !== session) return;
      // Past the retention horizon there is nothing to fetch: the gap ends there.
      if (reply.expiredBefore !== undefined) this.applyExpiry(id, reply.expiredBefore);
      this.ingest(reply.messages ?? []);
    } catch (error) {
      if (error instanceof ParleyError && !error.retryable) permanent = true;
      if (this.hooks.session() === session) this.hooks.emit('error', asError(error, 'gap fetch failed'));
    } finally {
      stream.machine.transition('live');
    }
    if (this.hooks.session() !== session || permanent) return;
    if (stream.delivered === before) stream.failures++;
    this.scheduleGapFill(id);
  }
}
