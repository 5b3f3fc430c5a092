import { describe, expect, it } from 'vitest';
import { Connection, connectionTransitions, type ConnectionHooks } from '../../client/connection.js';
import { ConversationStream, streamTransitions } from '../../client/conversation-stream.js';
import { deliveredAckTransitions } from '../../client/conversations.js';
import { ParleyError } from '../../client/errors.js';
import { Outbox, OutboxEntry, outboxTransitions, type OutboxHooks } from '../../client/outbox.js';
import { typingTransitions } from '../../client/presence.js';
import { defaultClientLimits, type Message, type ReplyMap, type SendAck } from '../../client/protocol.js';
import { RequestTracker, requestTransitions } from '../../client/requests.js';
import { IllegalTransitionError, StateMachine, type TransitionTable } from '../../client/state-machine.js';
import { SyncRunner, syncTransitions, type SyncHooks } from '../../client/sync-runner.js';
import { ManualClock } from '../../client/testing/manual-clock.js';
import { resolveOptions, type ConnectionState, type ConnectionStatus } from '../../client/types.js';
import type { WebSocketLike } from '../../client/websocket.js';

/** Every (from, to) pair the table does not list. */
function refused<S extends string>(table: TransitionTable<S>): Array<[S, S]> {
  const states = Object.keys(table) as S[];
  return states.flatMap((from) => states.filter((to) => !table[from].includes(to)).map((to): [S, S] => [from, to]));
}

/** Asserts a machine started in `from` refuses `to` with IllegalTransitionError and stays put. */
function expectRefused<S extends string>(table: TransitionTable<S>, from: S, to: S): void {
  const machine = new StateMachine('test', table, from);
  expect(machine.can(to)).toBe(false);
  expect(() => machine.transition(to)).toThrow(IllegalTransitionError);
  expect(machine.state).toBe(from);
}

const ack = (conversationId: string, clientMessageId: string, seq: number): SendAck => ({
  conversationId,
  clientMessageId,
  seq,
  createdAt: '2026-12-01T00:00:00.000Z',
  duplicate: false,
});
const msg = (seq: number, conversationId = 'c1'): Message => ({
  conversationId,
  seq,
  senderId: 'bob',
  clientMessageId: `m${seq}`,
  body: `#${seq}`,
  createdAt: '2026-12-01T00:00:00.000Z',
});

describe('StateMachine', () => {
  it('moves along the table, reports its state and refuses anything else', () => {
    const machine = new StateMachine<'a' | 'b' | 'c'>('abc', { a: ['b'], b: ['c', 'b'], c: [] }, 'a');
    expect(machine.transition('b')).toBe('a');
    expect(machine.transition('b')).toBe('b');
    expect(machine.is('a', 'b')).toBe(true);
    const error = (() => {
      try {
        machine.transition('a');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(IllegalTransitionError);
    expect(error).toMatchObject({ name: 'IllegalTransitionError', machine: 'abc', from: 'b', to: 'a' });
    machine.transition('c');
    expect(machine.can('a') || machine.can('b') || machine.can('c')).toBe(false);
  });

  it.each([
    ['connection', connectionTransitions],
    ['request', requestTransitions],
    ['outbox', outboxTransitions],
    ['stream', streamTransitions],
    ['sync', syncTransitions],
    ['typing', typingTransitions],
    ['delivered ack', deliveredAckTransitions],
  ] as Array<[string, TransitionTable<string>]>)('the %s table refuses every transition it does not list', (_name, table) => {
    const pairs = refused(table);
    expect(pairs.length).toBeGreaterThan(0);
    for (const [from, to] of pairs) expectRefused(table, from, to);
    // Every listed target is a state of the table.
    for (const targets of Object.values(table)) for (const to of targets) expect(Object.keys(table)).toContain(to);
  });
});

describe('connection state machine', () => {
  it('lists the documented lifecycle, with closed final and no shortcut to online', () => {
    expect(connectionTransitions.closed).toEqual([]);
    for (const from of ['idle', 'connecting', 'waiting'] as ConnectionState[]) expectRefused(connectionTransitions, from, 'online');
    expectRefused(connectionTransitions, 'online', 'syncing');
    expectRefused(connectionTransitions, 'idle', 'waiting');
  });

  /** A socket the test opens and closes by hand. */
  class HandSocket implements WebSocketLike {
    static made: HandSocket[] = [];
    onopen: ((event: never) => void) | null = null;
    onmessage: ((event: never) => void) | null = null;
    onclose: ((event: never) => void) | null = null;
    onerror: ((event: never) => void) | null = null;
    readonly sent: string[] = [];
    closed: number | undefined;
    constructor(readonly url: string) {
      HandSocket.made.push(this);
    }
    send(data: string): void {
      this.sent.push(data);
    }
    close(code?: number): void {
      this.closed = code;
    }
  }

  const setup = () => {
    HandSocket.made = [];
    const clock = new ManualClock();
    const statuses: ConnectionStatus[] = [];
    const calls: string[] = [];
    const hooks: ConnectionHooks = {
      onOpen: () => calls.push('open'),
      onFrame: () => calls.push('frame'),
      onDown: () => calls.push('down'),
      onStatus: (s) => statuses.push(s),
      onError: () => calls.push('error'),
      onUserId: () => undefined,
      heartbeat: () => new Promise(() => undefined),
    };
    const connection = new Connection(
      {
        url: 'wss://x',
        token: () => 'tok',
        WebSocket: HandSocket,
        clock,
        random: () => 0.5,
        backoff: { baseMs: 1000, maxMs: 8000 },
        opts: resolveOptions({ url: 'wss://x', token: () => 'tok' }),
      },
      hooks,
    );
    return { clock, statuses, calls, connection };
  };

  it('idle → connecting → syncing → online → waiting → connecting → … → closed', async () => {
    const { clock, statuses, calls, connection } = setup();
    expect(connection.state).toBe('idle');
    connection.start(Promise.resolve());
    await clock.advance(0);
    expect(connection.state).toBe('connecting');
    expect(connection.isOpen).toBe(false);
    HandSocket.made[0]!.onopen?.({} as never);
    expect(connection.state).toBe('syncing');
    expect(connection.isOpen).toBe(true);
    expect(connection.isOnline).toBe(false);
    connection.markOnline();
    expect(connection.isOnline).toBe(true);
    HandSocket.made[0]!.onclose?.({ code: 1006 } as never);
    expect(connection.status).toMatchObject({ state: 'waiting', attempt: 1, retryInMs: 500, reason: 'closed (1006)' });
    await clock.advance(500);
    expect(connection.state).toBe('connecting');
    expect(HandSocket.made).toHaveLength(2);
    connection.close(() => calls.push('cleanup'));
    expect(connection.state).toBe('closed');
    expect(statuses.map((s) => s.state)).toEqual(['connecting', 'syncing', 'online', 'waiting', 'connecting', 'closed']);
    expect(calls).toEqual(['open', 'down', 'down', 'cleanup']);
    expect(clock.pending).toBe(0);
  });

  it('refuses to go online before the socket opened, and does nothing once closed', async () => {
    const { clock, connection } = setup();
    expect(() => connection.markOnline()).toThrow(IllegalTransitionError);
    connection.start(Promise.resolve());
    await clock.advance(0);
    expect(() => connection.markOnline()).toThrow(/connection: illegal transition connecting → online/);
    connection.close(() => undefined);
    connection.start(Promise.resolve());
    connection.reconnectNow();
    await clock.advance(60_000);
    expect(connection.state).toBe('closed');
    expect(HandSocket.made).toHaveLength(1);
    expect(() => connection.markOnline()).toThrow(IllegalTransitionError);
  });

  it('a frame from an abandoned socket is ignored', async () => {
    const { clock, calls, connection } = setup();
    connection.start(Promise.resolve());
    await clock.advance(0);
    const first = HandSocket.made[0]!;
    first.onopen?.({} as never);
    const onmessage = first.onmessage;
    connection.drop(first, 'test');
    expect(first.closed).toBe(4000);
    onmessage?.({ data: '{}' } as never);
    expect(calls).not.toContain('frame');
    connection.close(() => undefined);
  });
});

describe('request state machine', () => {
  const setup = (open: boolean) => {
    const clock = new ManualClock();
    const written: string[] = [];
    const transport = {
      isClosed: () => false,
      isOpen: () => open,
      write: (frame: string) => {
        written.push(frame);
        return true;
      },
      limits: () => defaultClientLimits,
    };
    return {
      clock,
      written,
      tracker: new RequestTracker(clock, transport, { backoff: { baseMs: 100, maxMs: 1_000 }, random: () => 0.5 }),
      setOpen: (value: boolean) => (open = value),
    };
  };

  it('queued → in-flight → settled, and a second reply to the same id is unknown', async () => {
    const t = setup(false);
    const reply = t.tracker.request('heartbeat', {}, 1_000, true);
    expect(t.written).toEqual([]);
    t.setOpen(true);
    t.tracker.flushQueued();
    expect(JSON.parse(t.written[0]!)).toMatchObject({ action: 'heartbeat', requestId: 'c1' });
    expect(t.tracker.reply('c1', { type: 'pong', requestId: 'c1', serverTime: 'now' })).toBe(true);
    await expect(reply).resolves.toEqual({ serverTime: 'now' });
    expect(t.tracker.reply('c1', { type: 'pong', requestId: 'c1' })).toBe(false);
    expect(t.tracker.size).toBe(0);
  });

  it('in-flight requests fail with connection_lost on a drop; queued ones keep waiting', async () => {
    const t = setup(true);
    const sent = t.tracker.request('heartbeat', {}, 1_000, true);
    t.setOpen(false);
    const queued = t.tracker.request('presence', { userIds: ['bob'] }, 1_000, true).catch((e: unknown) => e);
    t.tracker.failInFlight();
    await expect(sent).rejects.toMatchObject({ code: 'connection_lost' });
    expect(t.tracker.size).toBe(1);
    await t.clock.advance(1_000);
    expect(await queued).toMatchObject({ code: 'timeout' });
  });

  it("resends in-flight catch-up reads with their requestId after API Gateway's error frame, and nothing else", async () => {
    const t = setup(true);
    const history = t.tracker.request('history', { conversationId: 'c' }, 5_000, true);
    const heartbeat = t.tracker.request('heartbeat', {}, 5_000, true).catch((e: unknown) => e);
    t.tracker.gatewayError();
    // One frame refuses one request but names none: a second frame before the resend schedules nothing more.
    t.tracker.gatewayError();
    await t.clock.advance(1_000);
    expect(t.written.map((frame) => JSON.parse(frame) as { action: string; requestId: string })).toEqual([
      expect.objectContaining({ action: 'history', requestId: 'c1' }),
      expect.objectContaining({ action: 'heartbeat', requestId: 'c2' }),
      expect.objectContaining({ action: 'history', requestId: 'c1' }),
    ]);
    // The timeout counts from the resend (at 100 ms): at 5.05 s the read is still waiting.
    await t.clock.advance(4_050);
    expect(t.tracker.reply('c1', { type: 'history', requestId: 'c1', messages: [] })).toBe(true);
    await expect(history).resolves.toEqual({ messages: [] });
    expect(t.tracker.reply('c1', { type: 'history', requestId: 'c1', messages: [] }), 'the duplicate reply is dropped').toBe(false);
    expect(await heartbeat).toMatchObject({ code: 'timeout' });
  });

  it('writes a catch-up read at most six times, then leaves it to its reply or its timeout', async () => {
    const t = setup(true);
    const sync = t.tracker.request('sync', { cursors: {} }, 60_000, true);
    for (let i = 0; i < 8; i++) {
      t.tracker.gatewayError();
      await t.clock.advance(1_000);
    }
    expect(t.written).toHaveLength(6);
    // The frames may have refused other requests: the last write's reply still settles it.
    expect(t.tracker.reply('c1', { type: 'sync', requestId: 'c1', conversations: [] })).toBe(true);
    await expect(sync).resolves.toMatchObject({ conversations: [] });
  });

  it('fails at once when offline and not allowed to wait', async () => {
    const t = setup(false);
    await expect(t.tracker.request('typing', { conversationId: 'c', state: 'start' }, 1_000, false)).rejects.toMatchObject({ code: 'connection_lost' });
    expect(t.tracker.size).toBe(0);
  });
});

describe('outbox state machine', () => {
  it('pending → in-flight → pending → in-flight → acked; acked is final', async () => {
    const entry = new OutboxEntry('c', 'm1', 'hi');
    entry.start();
    entry.retry(5);
    expect(entry.machine.state).toBe('pending');
    entry.start();
    expect(entry.attempts).toBe(2);
    entry.ack(ack('c', 'm1', 1));
    await expect(entry.acked).resolves.toMatchObject({ seq: 1 });
    expect(() => entry.fail(new ParleyError('forbidden', 'no'))).toThrow(IllegalTransitionError);
    expect(() => entry.start()).toThrow(IllegalTransitionError);
  });

  it('a late ack completes a pending entry; a failed entry cannot be retried', async () => {
    const late = new OutboxEntry('c', 'm1', 'hi');
    late.ack(ack('c', 'm1', 3));
    await expect(late.acked).resolves.toMatchObject({ seq: 3 });
    const failed = new OutboxEntry('c', 'm2', 'hi');
    failed.start();
    failed.fail(new ParleyError('forbidden', 'no'));
    await expect(failed.acked).rejects.toMatchObject({ code: 'forbidden' });
    expect(() => failed.retry(0)).toThrow(IllegalTransitionError);
    const pending = new OutboxEntry('c', 'm3', 'hi');
    expect(() => pending.retry(0)).toThrow(/pending → pending/);
  });

  it('keeps one entry per conversation in flight and moves on when it is acked', async () => {
    const clock = new ManualClock();
    const sent: string[] = [];
    const replies = new Map<string, (ack: SendAck) => void>();
    const hooks: OutboxHooks = {
      isOpen: () => true,
      limits: () => defaultClientLimits,
      send: (entry) =>
        new Promise<SendAck>((resolve) => {
          sent.push(entry.body);
          replies.set(entry.clientMessageId, resolve);
        }),
      onAcked: () => undefined,
      onFailed: () => undefined,
      onChange: () => undefined,
    };
    const outbox = new Outbox(clock, { baseMs: 100, maxMs: 1000 }, () => 0.5, hooks);
    let n = 0;
    const id = () => `m${++n}`;
    outbox.add('a', 'a1', undefined, id);
    outbox.add('a', 'a2', undefined, id);
    outbox.add('b', 'b1', undefined, id);
    expect(sent).toEqual(['a1', 'b1']);
    expect(outbox.list().map((e) => e.machine.state)).toEqual(['in-flight', 'pending', 'in-flight']);
    replies.get('m1')!(ack('a', 'm1', 1));
    await clock.advance(0);
    expect(sent).toEqual(['a1', 'b1', 'a2']);
    expect(outbox.list().map((e) => e.body)).toEqual(['a2', 'b1']);
  });
});

describe('conversation stream recovery', () => {
  it('live → gap-waiting → gap-filling → live, cancelled back to live, and no double wait', async () => {
    const clock = new ManualClock();
    const stream = new ConversationStream('c1');
    stream.accept([msg(1), msg(3)]);
    expect(stream.gap()).toEqual({ from: 2, to: 2 });
    let fired = 0;
    stream.waitForGap(clock, 100, () => fired++);
    expect(stream.machine.state).toBe('gap-waiting');
    expect(() => stream.waitForGap(clock, 100, () => fired++)).toThrow(IllegalTransitionError);
    stream.cancelWait(clock);
    expect(stream.machine.state).toBe('live');
    await clock.advance(1_000);
    expect(fired).toBe(0);
    stream.waitForGap(clock, 100, () => stream.machine.transition('gap-filling'));
    await clock.advance(100);
    expect(stream.machine.state).toBe('gap-filling');
    // A fetch in flight is not cancelled by a drop; it ends on its own.
    stream.cancelWait(clock);
    expect(stream.machine.state).toBe('gap-filling');
    expect(() => stream.machine.transition('gap-waiting')).toThrow(IllegalTransitionError);
    stream.machine.transition('live');
    expect(stream.accept([msg(2)]).map((m) => m.seq)).toEqual([2, 3]);
    expect(stream.delivered).toBe(3);
  });

  it('reset starts the cursor over and stops a pending wait', async () => {
    const clock = new ManualClock();
    const stream = new ConversationStream('c1', 5);
    stream.hint(9);
    stream.waitForGap(clock, 100, () => undefined);
    stream.failures = 3;
    stream.reset(clock);
    expect([stream.delivered, stream.failures, stream.machine.state, stream.gap()]).toEqual([0, 0, 'live', null]);
    expect(clock.pending).toBe(0);
  });
});

describe('sync runner', () => {
  const setup = (replies: Array<Partial<ReplyMap['sync']> | ParleyError>) => {
    const clock = new ManualClock();
    const seen: string[] = [];
    let session: object | null = {};
    const hooks: SyncHooks = {
      session: () => session,
      limits: () => defaultClientLimits,
      ids: () => ['a', 'b'],
      cursorOf: () => ({ seq: 0, epoch: null }),
      request: async () => {
        const next = replies.shift()!;
        if (next instanceof ParleyError) throw next;
        return { conversations: [], presence: [], nextFrom: null, ...next } as ReplyMap['sync'];
      },
      applyEntry: () => 1,
      applyPresence: () => undefined,
      onSynced: (s) => seen.push(`synced ${s.conversations}`),
      onFailed: (e) => seen.push(`failed ${(e as Error).message}`),
    };
    const runner = new SyncRunner(clock, { baseMs: 100, maxMs: 1000 }, () => 0.5, 50, hooks);
    return { clock, seen, runner, drop: () => (session = null) };
  };

  it('idle → paging → rate-limited → paging → done, and runs again on the next socket', async () => {
    const t = setup([new ParleyError('rate_limited', 'slow', { retryAfterMs: 700 }), { conversations: [{ conversationId: 'a' } as never] }, {}]);
    expect(t.runner.state).toBe('idle');
    const run = t.runner.run();
    await t.clock.advance(0);
    expect(t.runner.state).toBe('rate-limited');
    await t.clock.advance(700);
    await run;
    expect(t.runner.state).toBe('done');
    expect(t.seen).toEqual(['synced 1']);
    await t.runner.run();
    expect(t.seen).toEqual(['synced 1', 'synced 0']);
  });

  it('asks a page again after a timeout (a throttled catch-up function sends no reply of its own), up to 5 times', async () => {
    const timeout = () => new ParleyError('timeout', 'no reply within 10000 ms');
    const t = setup([timeout(), timeout(), { conversations: [{ conversationId: 'a' } as never] }]);
    const run = t.runner.run();
    await t.clock.advance(0);
    expect(t.runner.state).toBe('rate-limited');
    await t.clock.advance(10_000);
    await run;
    expect(t.seen).toEqual(['synced 1']);
    const failing = setup(Array.from({ length: 5 }, timeout));
    const failed = failing.runner.run();
    await failing.clock.advance(60_000);
    await failed;
    expect(failing.seen).toEqual(['failed no reply within 10000 ms (timeout)']);
  });

  it('fails on a permanent error, and a dropped socket aborts without reporting', async () => {
    const t = setup([new ParleyError('internal', 'boom'), new ParleyError('rate_limited', 'slow', { retryAfterMs: 700 })]);
    await t.runner.run();
    expect(t.runner.state).toBe('failed');
    expect(t.seen).toEqual(['failed boom (internal)']);
    const run = t.runner.run();
    await t.clock.advance(0);
    t.drop();
    t.runner.abort();
    expect(t.runner.state).toBe('aborted');
    await t.clock.advance(700);
    await run;
    expect(t.runner.state).toBe('aborted');
    expect(t.seen).toHaveLength(1);
    expect(() => t.runner.machine.transition('done')).toThrow(IllegalTransitionError);
  });
});
