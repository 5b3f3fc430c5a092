import type { Clock, TimerHandle } from './clock.js';
import type { PresenceInfo, ReplyMap, TypingEvent } from './protocol.js';
import { StateMachine, type TransitionTable } from './state-machine.js';
import type { ResolvedOptions } from './types.js';

/** A typing indicator (ours per conversation, or a member's): `idle`, or `typing` until stop or timeout. */
export type TypingState = 'idle' | 'typing';

/** Allowed typing transitions; `typing` is re-entered by a refreshed `start`. */
export const typingTransitions: TransitionTable<TypingState> = {
  idle: ['typing'],
  typing: ['typing', 'idle'],
};

interface RemoteTyping {
  machine: StateMachine<TypingState>;
  timer: TimerHandle;
}

interface LocalTyping {
  machine: StateMachine<TypingState>;
  /** When the last `start` was sent (ms). */
  sentAt: number;
}

/** What presence and typing need from the rest of the client. */
export interface PresenceHooks {
  /** A socket is open. */
  isOpen(): boolean;
  /** Sends a `typing` frame (fails at once when offline). */
  sendTyping(conversationId: string, state: 'start' | 'stop'): Promise<ReplyMap['typing']>;
  emit(event: 'presence', payload: PresenceInfo): void;
  emit(event: 'typing', payload: TypingEvent): void;
}

/** Users' presence, members' typing indicators (with a timeout for a lost `stop`), and our own throttled typing. */
export class PresenceTracker {
  private readonly presence = new Map<string, PresenceInfo>();
  private readonly remote = new Map<string, RemoteTyping>();
  private readonly local = new Map<string, LocalTyping>();

  constructor(
    private readonly clock: Clock,
    private readonly opts: ResolvedOptions,
    private readonly hooks: PresenceHooks,
  ) {}

  /** The last known presence of a user. */
  presenceOf(userId: string): PresenceInfo | undefined {
    return this.presence.get(userId);
  }

  /** Applies a presence report; emits `presence` when it changed. */
  applyPresence(user: PresenceInfo): void {
    if (!user || typeof user.userId !== 'string') return;
    const previous = this.presence.get(user.userId);
    const next: PresenceInfo = { userId: user.userId, status: user.status, lastSeenAt: user.lastSeenAt ?? null };
    if (previous && previous.status === next.status && previous.lastSeenAt === next.lastSeenAt) return;
    this.presence.set(user.userId, next);
    this.hooks.emit('presence', { ...next });
  }

  /** Users typing in a conversation. */
  typingIn(conversationId: string): string[] {
    const prefix = `${conversationId}\u0000`;
    return [...this.remote.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  /** Applies a member's typing push; a `start` not refreshed within `typingTimeoutMs` ends as `stop`. */
  applyTyping(event: TypingEvent): void {
    if (typeof event.conversationId !== 'string' || typeof event.userId !== 'string') return;
    const key = `${event.conversationId}\u0000${event.userId}`;
    const entry = this.remote.get(key);
    if (entry) this.clock.clearTimeout(entry.timer);
    const clean: TypingEvent = { conversationId: event.conversationId, userId: event.userId, state: event.state };
    if (event.state === 'start') {
      const machine = entry?.machine ?? new StateMachine<TypingState>('typing', typingTransitions, 'idle');
      machine.transition('typing');
      // A lost `stop` must not leave the indicator on forever.
      const timer = this.clock.setTimeout(() => {
        this.remote.delete(key);
        machine.transition('idle');
        this.hooks.emit('typing', { ...clean, state: 'stop' });
      }, this.opts.typingTimeoutMs);
      this.remote.set(key, { machine, timer });
      if (!entry) this.hooks.emit('typing', clean);
    } else if (entry) {
      this.remote.delete(key);
      entry.machine.transition('idle');
      this.hooks.emit('typing', clean);
    }
  }

  /** Our own typing: `start` at most once per `typingThrottleMs`, `stop` once; best effort, never queued offline. */
  setTyping(conversationId: string, typing: boolean): void {
    if (!this.hooks.isOpen()) return;
    const current = this.local.get(conversationId);
    const now = this.clock.now();
    if (typing) {
      if (current && now - current.sentAt < this.opts.typingThrottleMs) return;
      const machine = current?.machine ?? new StateMachine<TypingState>('own typing', typingTransitions, 'idle');
      machine.transition('typing');
      this.local.set(conversationId, { machine, sentAt: now });
    } else {
      if (!current) return;
      current.machine.transition('idle');
      this.local.delete(conversationId);
    }
    this.hooks.sendTyping(conversationId, typing ? 'start' : 'stop').catch(() => {
      // Typing is cosmetic and rate-limited by the server; losing one is fine.
    });
  }

  /** The socket went down: our typing state is forgotten (the server's relay ended with it). */
  suspend(): void {
    this.local.clear();
  }

  /** Stops every member-typing timer (on `close()`). */
  close(): void {
    for (const entry of this.remote.values()) this.clock.clearTimeout(entry.timer);
    this.remote.clear();
  }
}
