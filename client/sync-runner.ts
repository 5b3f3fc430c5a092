import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';
import type { Cursors } from './cursor-store.js';
import { ParleyError } from './errors.js';
import type { ClientLimits, PresenceInfo, ReplyMap, RequestMap, SyncConversation } from './protocol.js';
import { StateMachine, type TransitionTable } from './state-machine.js';
import { sameCursors, utf8Length } from './util.js';

/**
 * The catch-up after each (re)connect: `paging` through `sync` replies, `rate-limited` while a per-user limit (or a
 * page that got no reply) is waited out, then `done`, `failed` (the connection is replaced) or `aborted` (the socket went down first).
 */
export type SyncState = 'idle' | 'paging' | 'rate-limited' | 'done' | 'failed' | 'aborted';

/** Allowed sync transitions; every finished run may start over on the next socket. */
export const syncTransitions: TransitionTable<SyncState> = {
  idle: ['paging'],
  paging: ['rate-limited', 'done', 'failed', 'aborted'],
  'rate-limited': ['paging', 'failed', 'aborted'],
  done: ['paging'],
  failed: ['paging'],
  aborted: ['paging'],
};

/** What the sync runner needs from the rest of the client. */
export interface SyncHooks {
  /** Identifies the current socket; null when there is none. */
  session(): unknown;
  /** Conversations the client holds a cursor for. */
  ids(): string[];
  /** The cursor of one conversation. */
  cursorOf(conversationId: string): Cursors[string];
  /** Sends one `sync` request. */
  request(payload: RequestMap['sync']): Promise<ReplyMap['sync']>;
  /** Applies one conversation of a reply; returns how many messages it carried. */
  applyEntry(entry: SyncConversation): number;
  /** Applies a presence report of a reply. */
  applyPresence(user: PresenceInfo): void;
  /** The server's limits in force. */
  limits(): ClientLimits;
  /** The catch-up is complete. */
  onSynced(summary: { messages: number; conversations: number }): void;
  /** The catch-up failed on the current socket (which should be replaced). */
  onFailed(error: unknown): void;
}

/** Attempts of one page that was rate limited, refused or got no reply (a throttled function: PROTOCOL.md, Errors). */
const maxPageAttempts = 5;
/** Errors after which a page is asked again, after a wait, instead of failing the catch-up. */
const retriedCodes = new Set(['rate_limited', 'timeout', 'unavailable']);

/** Walks `sync` page by page in conversation id order, each page carrying only the cursors it covers. */
export class SyncRunner {
  /** Its state machine. */
  readonly machine = new StateMachine<SyncState>('sync', syncTransitions, 'idle');

  constructor(
    private readonly clock: Clock,
    private readonly backoff: BackoffOptions,
    private readonly random: () => number,
    private readonly limit: number,
    private readonly hooks: SyncHooks,
  ) {}

  /** The current state. */
  get state(): SyncState {
    return this.machine.state;
  }

  /** The socket went down during a run: the run ends without reporting. */
  abort(): void {
    if (this.machine.is('paging', 'rate-limited')) this.machine.transition('aborted');
  }

  /** Runs one catch-up on the current socket. */
  async run(): Promise<void> {
    const session = this.hooks.session();
    if (!session) return;
    this.machine.transition('paging');
    let messages = 0;
    let conversations = 0;
    try {
      let from: string | undefined;
      for (;;) {
        const page = this.pageCursors(from);
        const reply = await this.page({ ...page, limit: this.limit }, session);
        if (this.hooks.session() !== session) return;
        for (const entry of reply.conversations ?? []) {
          conversations++;
          messages += this.hooks.applyEntry(entry);
        }
        for (const user of reply.presence ?? []) this.hooks.applyPresence(user);
        const next = reply.nextFrom ?? null;
        if (next === null) break;
        const stalled = from !== undefined && (next < from || (next === from && sameCursors(page.cursors, this.pageCursors(from).cursors)));
        if (stalled) throw new ParleyError('protocol', 'sync made no progress', { action: 'sync' });
        from = next;
      }
    } catch (error) {
      if (this.hooks.session() !== session) return;
      // Without a complete sync messages could be missing; start over on a fresh connection.
      this.machine.transition('failed');
      this.hooks.onFailed(error);
      return;
    }
    this.machine.transition('done');
    this.hooks.onSynced({ messages, conversations });
  }

  /**
   * One page; a per-user rate limit, or a page that got no reply (a throttled catch-up function answers with API
   * Gateway's error frame, which names no request), is waited out rather than treated as a failed catch-up.
   */
  private async page(payload: RequestMap['sync'], session: unknown): Promise<ReplyMap['sync']> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.hooks.request(payload);
      } catch (error) {
        if (!(error instanceof ParleyError) || !retriedCodes.has(error.code) || attempt >= maxPageAttempts) throw error;
        if (this.hooks.session() !== session) throw error;
        this.machine.transition('rate-limited');
        const delay = error.retryAfterMs ?? backoffDelay(attempt, this.backoff, this.random);
        await new Promise<void>((resolve) => this.clock.setTimeout(() => resolve(), delay));
        if (this.hooks.session() !== session) throw error;
        this.machine.transition('paging');
      }
    }
  }

  /**
   * Cursors of the known conversations from `from` on, in id order, as many as one request may carry; `through`
   * tells the server where they stop when there are more.
   */
  pageCursors(from: string | undefined): { from?: string; through?: string; cursors: Cursors } {
    const ids = this.hooks
      .ids()
      .filter((id) => from === undefined || id >= from)
      .sort();
    const cursors: Cursors = {};
    // Room for the rest of the frame: action, requestId, from, through and limit.
    let bytes = 600;
    let count = 0;
    for (const id of ids) {
      const cursor = this.hooks.cursorOf(id);
      const size = utf8Length(JSON.stringify({ [id]: cursor }));
      const { maxSyncCursors, maxFrameBytes } = this.hooks.limits();
      if (count === maxSyncCursors || bytes + size > maxFrameBytes) {
        return { ...(from === undefined ? {} : { from }), through: ids[count - 1], cursors };
      }
      cursors[id] = cursor;
      bytes += size;
      count++;
    }
    return { ...(from === undefined ? {} : { from }), cursors };
  }
}
