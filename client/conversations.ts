import type { Conversation, Receipt, ReplyMap } from './protocol.js';
import { StateMachine, type TransitionTable } from './state-machine.js';
import type { ResolvedOptions } from './types.js';
import { withoutType } from './util.js';

/** The automatic `delivered` receipt of one conversation: none in flight, or one awaiting its reply. */
export type DeliveredAckState = 'idle' | 'in-flight';

/** Allowed delivered-receipt transitions. */
export const deliveredAckTransitions: TransitionTable<DeliveredAckState> = {
  idle: ['in-flight'],
  'in-flight': ['idle'],
};

interface DeliveredAck {
  machine: StateMachine<DeliveredAckState>;
  /** Highest seq acked as delivered by this client. */
  sent: number;
}

/** What the conversation book needs from the rest of the client. */
export interface ConversationHooks {
  /** The signed-in user. */
  me(): string | undefined;
  /** A socket is open. */
  isOpen(): boolean;
  /** Identifies the current socket. */
  session(): unknown;
  /** The epoch known for a conversation's stream. */
  epochOf(conversationId: string): string | null | undefined;
  /** Records a conversation's epoch. */
  setEpoch(conversationId: string, epoch: string): void;
  /** The conversation was recreated (another epoch). */
  reset(conversationId: string): void;
  /** Seqs up to `seq` exist: fetch them if this client misses them. */
  hint(conversationId: string, seq: number): void;
  /** The delivered cursor of a conversation's stream, if it has one. */
  delivered(conversationId: string): number | undefined;
  /** Sends a `delivered` ack (fails at once when offline). */
  ackDelivered(conversationId: string, seq: number): Promise<ReplyMap['ack']>;
  emit(event: 'conversation', payload: Conversation): void;
  emit(event: 'receipt', payload: Receipt): void;
}

/** Known conversations and every member's receipt cursors, with the automatic `delivered` receipts. */
export class ConversationBook {
  private readonly conversations = new Map<string, Conversation>();
  private readonly receipts = new Map<string, Map<string, Receipt>>();
  private readonly deliveredAcks = new Map<string, DeliveredAck>();

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly hooks: ConversationHooks,
  ) {}

  /** A known conversation. */
  get(conversationId: string): Conversation | undefined {
    return this.conversations.get(conversationId);
  }

  /** Every known conversation. */
  all(): Conversation[] {
    return [...this.conversations.values()];
  }

  /** Every member's receipt cursors known for a conversation. */
  receiptsOf(conversationId: string): Receipt[] {
    return [...(this.receipts.get(conversationId)?.values() ?? [])];
  }

  /** The signed-in user's receipt in a conversation. */
  mine(conversationId: string): Receipt | undefined {
    const me = this.hooks.me();
    return me ? this.receipts.get(conversationId)?.get(me) : undefined;
  }

  /** Raises a known conversation's `lastSeq`. */
  raiseLastSeq(conversationId: string, seq: number): void {
    const conversation = this.conversations.get(conversationId);
    if (conversation) conversation.lastSeq = Math.max(conversation.lastSeq ?? 0, seq);
  }

  /** Drops what is held for a conversation recreated in another epoch. */
  forget(conversationId: string): void {
    this.receipts.delete(conversationId);
    this.deliveredAcks.delete(conversationId);
    const conversation = this.conversations.get(conversationId);
    if (conversation) conversation.lastSeq = 0;
  }

  /** The socket went down: a delivered ack in flight is lost with it. */
  suspend(): void {
    for (const ack of this.deliveredAcks.values()) if (ack.machine.is('in-flight')) ack.machine.transition('idle');
  }

  /** Merges a conversation from a reply or push; emits `conversation` when its title or members changed. */
  upsert(incoming: Conversation): void {
    const id = incoming.conversationId;
    // The same id in another epoch is a new conversation: what we hold for the old one is meaningless.
    const knownEpoch = this.hooks.epochOf(id);
    if (incoming.epoch && knownEpoch && incoming.epoch !== knownEpoch) this.hooks.reset(id);
    if (incoming.epoch) this.hooks.setEpoch(id, incoming.epoch);
    const existing = this.conversations.get(id);
    const lastSeq = Math.max(existing?.lastSeq ?? 0, incoming.lastSeq ?? 0);
    const merged: Conversation = { ...existing, ...incoming, lastSeq };
    this.conversations.set(id, merged);
    if (lastSeq > 0) this.hooks.hint(id, lastSeq);
    const changed =
      !existing ||
      existing.title !== merged.title ||
      existing.members.length !== merged.members.length ||
      existing.members.some((m, i) => merged.members[i] !== m);
    if (changed) this.hooks.emit('conversation', { ...merged });
  }

  /** Applies a receipt; cursors only move forward, and a seq someone received is one this client must have. */
  applyReceipt(receipt: Receipt): void {
    const { conversationId, userId } = receipt;
    if (typeof conversationId !== 'string' || typeof userId !== 'string') return;
    let members = this.receipts.get(conversationId);
    if (!members) this.receipts.set(conversationId, (members = new Map()));
    const previous = members.get(userId);
    // Pushes are at-least-once and may arrive out of order; cursors only move forward.
    const next: Receipt = {
      conversationId,
      userId,
      lastDeliveredSeq: Math.max(previous?.lastDeliveredSeq ?? 0, receipt.lastDeliveredSeq ?? 0),
      lastReadSeq: Math.max(previous?.lastReadSeq ?? 0, receipt.lastReadSeq ?? 0),
    };
    if (previous && previous.lastDeliveredSeq === next.lastDeliveredSeq && previous.lastReadSeq === next.lastReadSeq) {
      return;
    }
    members.set(userId, next);
    // A member who has received nothing yet (sync lists every member's cursors) is no news.
    if (!previous && next.lastDeliveredSeq === 0 && next.lastReadSeq === 0) return;
    // Someone received seq N, so N exists: a lost push becomes a gap we can fetch.
    if (this.hooks.delivered(conversationId) !== undefined) this.hooks.hint(conversationId, next.lastDeliveredSeq);
    this.hooks.emit('receipt', { ...next });
  }

  /** Acks delivery up to the conversation's cursor, coalesced: one in flight, then the highest seq since. */
  sendDeliveredReceipt(conversationId: string): void {
    if (!this.opts.autoDeliveredReceipts || !this.hooks.isOpen()) return;
    const members = this.conversations.get(conversationId)?.members.length ?? 0;
    if (members > this.opts.autoDeliveredMaxMembers) return;
    const delivered = this.hooks.delivered(conversationId);
    if (delivered === undefined) return;
    let state = this.deliveredAcks.get(conversationId);
    if (!state) {
      state = { machine: new StateMachine<DeliveredAckState>('delivered ack', deliveredAckTransitions, 'idle'), sent: 0 };
      this.deliveredAcks.set(conversationId, state);
    }
    const ack = state;
    const already = Math.max(ack.sent, this.mine(conversationId)?.lastDeliveredSeq ?? 0);
    if (ack.machine.is('in-flight') || delivered <= already) return;
    ack.machine.transition('in-flight');
    const session = this.hooks.session();
    this.hooks.ackDelivered(conversationId, delivered).then(
      (receipt) => {
        if (ack.machine.is('in-flight')) ack.machine.transition('idle');
        ack.sent = Math.max(ack.sent, delivered);
        this.applyReceipt(withoutType(receipt));
        if (this.hooks.session() === session) this.sendDeliveredReceipt(conversationId);
      },
      () => {
        // Best effort: the next delivery or reconnect tries again.
        if (ack.machine.is('in-flight')) ack.machine.transition('idle');
      },
    );
  }
}
