import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import { ParleyError } from './errors.js';
import { wireLimits, type SendAck } from './protocol.js';
import { StateMachine, type TransitionTable } from './state-machine.js';
import type { OutgoingMessage, SendFailure } from './types.js';
import { utf8Length, withoutType } from './util.js';

/** Where a queued message is: waiting its turn (or a retry delay), sent, stored, or refused for good. */
export type OutboxEntryState = 'pending' | 'in-flight' | 'acked' | 'failed';

/**
 * Allowed outbox transitions. A late ack (after the attempt timed out) may complete a `pending` entry; `acked` and
 * `failed` are final.
 */
export const outboxTransitions: TransitionTable<OutboxEntryState> = {
  pending: ['in-flight', 'acked', 'failed'],
  'in-flight': ['pending', 'acked', 'failed'],
  acked: [],
  failed: [],
};

/** A message queued with `send`, until the server acks it. */
export class OutboxEntry {
  /** Its state machine. */
  readonly machine = new StateMachine<OutboxEntryState>('outbox entry', outboxTransitions, 'pending');
  /** Send attempts so far. */
  attempts = 0;
  /** Not resent before this time (ms): a retry delay after `rate_limited` or a transient error. */
  notBefore = 0;
  /** Resolves with the ack; rejects on a permanent error or `close()`. */
  readonly acked: Promise<SendAck>;
  private resolveAck!: (ack: SendAck) => void;
  private rejectAck!: (error: ParleyError) => void;

  constructor(
    readonly conversationId: string,
    readonly clientMessageId: string,
    readonly body: string,
  ) {
    this.acked = new Promise<SendAck>((resolve, reject) => {
      this.resolveAck = resolve;
      this.rejectAck = reject;
    });
    // Failures are reported through `sendFailed` too; an unobserved rejection must not crash Node.
    this.acked.catch(() => undefined);
  }

  /** `pending` → `in-flight`. */
  start(): void {
    this.machine.transition('in-flight');
    this.attempts++;
  }

  /** `in-flight` → `pending`, not before `notBefore`. */
  retry(notBefore: number): void {
    this.machine.transition('pending');
    this.notBefore = notBefore;
  }

  /** → `acked`. */
  ack(ack: SendAck): void {
    this.machine.transition('acked');
    this.resolveAck(ack);
  }

  /** → `failed`. */
  fail(error: ParleyError): void {
    this.machine.transition('failed');
    this.rejectAck(error);
  }

  /** The public view of this entry. */
  view(): OutgoingMessage {
    return { conversationId: this.conversationId, clientMessageId: this.clientMessageId, body: this.body, acked: this.acked };
  }
}

/** What the outbox needs from the rest of the client. */
export interface OutboxHooks {
  /** A socket is open. */
  isOpen(): boolean;
  /** Sends one `send` request (fails at once when offline). */
  send(entry: OutboxEntry): Promise<SendAck>;
  /** The server stored the message. */
  onAcked(entry: OutboxEntry, ack: SendAck): void;
  /** The server refused the message for good. */
  onFailed(failure: SendFailure): void;
  /** The set of unacked messages changed (for persistence). */
  onChange(entries: readonly OutboxEntry[]): void;
}

const maxBodyLength = wireLimits.maxBodyChars;
const maxClientMessageIdLength = 64;

/**
 * Unacked messages, resent with the same `clientMessageId` until acked. One send per conversation is in flight at a
 * time, so messages are stored in the order they were queued.
 */
export class Outbox {
  private readonly entries: OutboxEntry[] = [];
  /** Entries rejected by `close()`: not sent by this client, but still owed to the server by the next one. */
  private abandoned: OutboxEntry[] = [];
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly backoff: BackoffOptions,
    private readonly random: () => number,
    private readonly hooks: OutboxHooks,
  ) {}

  /** Validates and queues a message (or returns the entry already queued under its id), then pumps. */
  add(conversationId: string, body: string, id: string | undefined, generateId: () => string): OutboxEntry {
    if (typeof body !== 'string' || body.length === 0 || body.length > maxBodyLength) {
      throw new ParleyError('bad_request', `body must be 1–${maxBodyLength} characters`, { action: 'send' });
    }
    const clientMessageId = id ?? generateId();
    if (clientMessageId.length === 0 || clientMessageId.length > maxClientMessageIdLength) {
      throw new ParleyError('bad_request', `clientMessageId must be 1–${maxClientMessageIdLength} characters`, {
        action: 'send',
      });
    }
    // Refused now rather than retried forever: the server would answer payload_too_large every time.
    const frame = JSON.stringify({ action: 'send', requestId: 'c0000000000', conversationId, clientMessageId, body });
    if (utf8Length(frame) > wireLimits.maxRequestBytes) {
      throw new ParleyError('payload_too_large', `the send frame exceeds ${wireLimits.maxRequestBytes} bytes in UTF-8`, {
        action: 'send',
      });
    }
    const existing = this.find(conversationId, clientMessageId);
    if (existing) return existing;
    const entry = new OutboxEntry(conversationId, clientMessageId, body);
    this.entries.push(entry);
    this.hooks.onChange(this.entries);
    this.pump();
    return entry;
  }

  /** Puts restored messages (from storage) ahead of anything queued since: they were queued first. */
  restore(stored: ReadonlyArray<{ conversationId: string; clientMessageId: string; body: string }>): void {
    const restored = stored
      .filter((m) => !this.find(m.conversationId, m.clientMessageId))
      .map((m) => new OutboxEntry(m.conversationId, m.clientMessageId, m.body));
    if (restored.length === 0) return;
    this.entries.unshift(...restored);
    this.hooks.onChange(this.entries);
    this.pump();
  }

  /** Unacked entries, oldest first. */
  list(conversationId?: string): OutboxEntry[] {
    return this.entries.filter((e) => !conversationId || e.conversationId === conversationId);
  }

  /** Sends what may go now: the head of each conversation's queue, unless in flight or delayed. */
  pump(): void {
    if (!this.hooks.isOpen()) return;
    const now = this.clock.now();
    const heads = new Set<string>();
    let wakeAt = Infinity;
    for (const entry of this.entries) {
      // One in flight per conversation: concurrent sends may be stored in either order by parallel handlers.
      if (heads.has(entry.conversationId)) continue;
      heads.add(entry.conversationId);
      if (entry.machine.is('in-flight')) continue;
      if (entry.notBefore > now) {
        wakeAt = Math.min(wakeAt, entry.notBefore);
        continue;
      }
      this.attempt(entry);
    }
    if (wakeAt < Infinity && wakeAt < this.timerAt) {
      this.clearTimer();
      this.timerAt = wakeAt;
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.pump();
      }, wakeAt - now);
    }
  }

  /** Completes the entry an ack belongs to (also a late ack after its attempt timed out). */
  complete(ack: SendAck): void {
    const entry = this.find(ack.conversationId, ack.clientMessageId);
    if (!entry) return;
    this.entries.splice(this.entries.indexOf(entry), 1);
    const clean = withoutType(ack);
    entry.ack(clean);
    this.hooks.onChange(this.entries);
    this.hooks.onAcked(entry, clean);
    this.pump();
  }

  /** Rejects every entry with `error` (on `close()`); their stored copies stay for the next client. */
  close(error: ParleyError): void {
    this.clearTimer();
    this.abandoned = this.entries.splice(0);
    for (const entry of this.abandoned) entry.fail(error);
  }

  /** What durable storage should hold: every message not yet stored by the server (also those `close()` left). */
  unsent(): Array<{ conversationId: string; clientMessageId: string; body: string }> {
    return [...this.abandoned, ...this.entries].map(({ conversationId, clientMessageId, body }) => ({ conversationId, clientMessageId, body }));
  }

  private attempt(entry: OutboxEntry): void {
    entry.start();
    const { conversationId, clientMessageId, body } = entry;
    this.hooks.send(entry).then(
      (ack) => this.complete(ack),
      (error: ParleyError) => {
        // Acked meanwhile (a late ack of an earlier attempt), or closed.
        if (!entry.machine.is('in-flight')) return;
        if (!error.retryable) {
          this.entries.splice(this.entries.indexOf(entry), 1);
          entry.fail(error);
          this.hooks.onChange(this.entries);
          this.hooks.onFailed({ conversationId, clientMessageId, body, error });
        } else if (error.code === 'rate_limited') {
          entry.retry(this.clock.now() + (error.retryAfterMs ?? backoffDelay(entry.attempts, this.backoff, this.random)));
        } else if (error.code !== 'connection_lost') {
          // timeout / unavailable / internal: the resend is idempotent, but give the server room.
          entry.retry(this.clock.now() + backoffDelay(entry.attempts - 1, this.backoff, this.random));
        } else {
          entry.retry(entry.notBefore);
        }
        this.pump();
      },
    );
  }

  private find(conversationId: string, clientMessageId: string): OutboxEntry | undefined {
    return this.entries.find((e) => e.conversationId === conversationId && e.clientMessageId === clientMessageId);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }
}
