import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import type { ParleyError } from './errors.js';
import { StateMachine, type TransitionTable } from './state-machine.js';
import { tokenExpiry } from './token.js';
import type { ConnectionState, ConnectionStatus, ResolvedOptions, TokenProvider } from './types.js';
import { asError, safeClose, withQuery } from './util.js';
import type { CloseEventLike, MessageEventLike, WebSocketConstructor, WebSocketLike } from './websocket.js';

/**
 * Allowed connection transitions. `connecting` may be re-entered (each attempt updates its `attempt`); `closed` is
 * final. Sends and requests flow in `syncing` and `online`.
 */
export const connectionTransitions: TransitionTable<ConnectionState> = {
  idle: ['connecting', 'closed'],
  connecting: ['connecting', 'syncing', 'waiting', 'closed'],
  syncing: ['online', 'waiting', 'closed'],
  online: ['waiting', 'closed'],
  waiting: ['connecting', 'closed'],
  closed: [],
};

/** What the connection tells the rest of the client. */
export interface ConnectionHooks {
  /** A socket opened; the state is now `syncing`. */
  onOpen(): void;
  /** A frame arrived on the current socket. */
  onFrame(data: unknown): void;
  /** The current socket is gone (dropped, renewed or closed): release what belonged to it. */
  onDown(): void;
  /** The state (or its attempt/delay) changed. */
  onStatus(status: ConnectionStatus): void;
  /** A non-fatal failure (token provider, WebSocket constructor). */
  onError(error: Error): void;
  /** The token provider named the user. */
  onUserId(userId: string): void;
  /** Sends a heartbeat; a `timeout` rejection means the connection is half-open. */
  heartbeat(): Promise<unknown>;
}

/** Static settings of a connection. */
export interface ConnectionConfig {
  url: string;
  token: TokenProvider;
  WebSocket: WebSocketConstructor;
  clock: Clock;
  random: () => number;
  backoff: BackoffOptions;
  opts: ResolvedOptions;
}

type TimerName = 'reconnect' | 'connect' | 'heartbeat' | 'refresh';

/**
 * One logical connection over successive sockets: token fetch, socket open with a timeout, heartbeats, proactive
 * token renewal, and reconnects with full-jitter backoff, as the state machine `connectionTransitions`.
 */
export class Connection {
  private readonly machine = new StateMachine<ConnectionState>('connection', connectionTransitions, 'idle');
  private current: ConnectionStatus = { state: 'idle', attempt: 0 };
  private ws: WebSocketLike | null = null;
  /** Bumped for every attempt so late callbacks of an abandoned attempt are ignored. */
  private generation = 0;
  private attempt = 0;
  private readonly timers = new Map<TimerName, TimerHandle>();
  /** `exp` (ms) of the token the current socket connected with, when it is a readable JWT. */
  private tokenExpiresAt: number | undefined;
  /** `exp` of the token last replaced by a proactive refresh: the same token again is not refreshed again. */
  private refreshedExpiry: number | undefined;

  constructor(
    private readonly config: ConnectionConfig,
    private readonly hooks: ConnectionHooks,
  ) {}

  /** The current state. */
  get state(): ConnectionState {
    return this.machine.state;
  }

  /** The current status (state, attempt, retry delay and reason). */
  get status(): ConnectionStatus {
    return { ...this.current };
  }

  /** The current socket (set from the attempt's creation until it goes down). */
  get socket(): WebSocketLike | null {
    return this.ws;
  }

  /** A socket is open: requests and sends flow (`syncing` or `online`). */
  get isOpen(): boolean {
    return this.ws !== null && this.machine.is('syncing', 'online');
  }

  /** Caught up: live delivery, gap fills and receipts run. */
  get isOnline(): boolean {
    return this.ws !== null && this.machine.is('online');
  }

  /** Leaves `idle`: opens the first socket once `ready` (e.g. stored state loaded) settles. */
  start(ready: Promise<void>): void {
    if (!this.machine.is('idle')) return;
    this.setState({ state: 'connecting', attempt: 0 });
    void ready.then(() => this.openSocket());
  }

  /** Skips the backoff wait when `waiting`. */
  reconnectNow(): void {
    if (!this.machine.is('waiting')) return;
    this.clearTimer('reconnect');
    void this.openSocket();
  }

  /** The catch-up finished on the current socket: `syncing` → `online`, and the backoff starts over. */
  markOnline(): void {
    this.attempt = 0;
    this.setState({ state: 'online', attempt: 0 });
  }

  /** Writes a frame to the current socket; false when there is none. Throws when the socket is closing. */
  write(frame: string): boolean {
    if (!this.ws) return false;
    this.ws.send(frame);
    return true;
  }

  /** Abandons `ws` now (without waiting for a close handshake that may never come) and reconnects with backoff. */
  drop(ws: WebSocketLike, reason: string): void {
    if (this.ws !== ws) return;
    this.teardown();
    safeClose(ws, 4000, reason);
    this.scheduleReconnect(reason);
  }

  /**
   * Closes the current socket and reconnects at once with a fresh token (token refresh or expiry). Replies lost with
   * the socket fail as `connection_lost`: the outbox resends with the same clientMessageId and `sync` catches up.
   */
  renew(reason: string, ws: WebSocketLike | null = this.ws): void {
    if (!ws || this.ws !== ws) return;
    this.teardown();
    safeClose(ws, 1000, reason);
    this.scheduleReconnect(reason, true);
  }

  /** Ends the connection for good; `cleanup` runs after the socket is released and before the final `closed`. */
  close(cleanup: () => void): void {
    if (this.machine.is('closed')) return;
    this.generation++;
    const ws = this.ws;
    this.teardown();
    if (ws) safeClose(ws, 1000, 'client closed');
    this.clearTimer('reconnect');
    cleanup();
    this.setState({ state: 'closed', attempt: this.attempt });
  }

  private async openSocket(): Promise<void> {
    if (this.machine.is('closed')) return;
    const generation = ++this.generation;
    this.setState({ state: 'connecting', attempt: this.attempt });
    let token: string;
    try {
      const result = await this.config.token();
      if (typeof result === 'string') token = result;
      else {
        token = result.token;
        if (result.userId) this.hooks.onUserId(result.userId);
      }
      if (typeof token !== 'string' || token.length === 0) throw new TypeError('token provider returned no token');
    } catch (error) {
      if (generation !== this.generation) return;
      this.hooks.onError(asError(error, 'token provider failed'));
      this.scheduleReconnect('token provider failed');
      return;
    }
    if (generation !== this.generation) return;
    this.tokenExpiresAt = tokenExpiry(token);

    const { opts, url } = this.config;
    let ws: WebSocketLike;
    try {
      ws =
        opts.tokenTransport === 'protocol'
          ? new this.config.WebSocket(url, ['parley', token])
          : new this.config.WebSocket(withQuery(url, opts.tokenParam, token));
    } catch (error) {
      this.hooks.onError(asError(error, 'could not create WebSocket'));
      this.scheduleReconnect('could not create WebSocket');
      return;
    }
    this.ws = ws;
    this.setTimer('connect', () => this.drop(ws, 'connect timeout'), opts.connectTimeoutMs);
    ws.onopen = (() => {
      if (this.ws === ws) this.handleOpen();
    }) as never;
    ws.onmessage = ((event: MessageEventLike) => {
      if (this.ws === ws) this.hooks.onFrame(event.data);
    }) as never;
    ws.onclose = ((event: CloseEventLike) => {
      if (this.ws !== ws) return;
      this.teardown();
      this.scheduleReconnect(event?.code ? `closed (${event.code}${event.reason ? ` ${event.reason}` : ''})` : 'closed');
    }) as never;
    // An error is always followed by close, which does the work.
    ws.onerror = (() => undefined) as never;
  }

  private handleOpen(): void {
    this.clearTimer('connect');
    this.setState({ state: 'syncing', attempt: this.attempt });
    this.scheduleHeartbeat();
    this.scheduleTokenRefresh();
    this.hooks.onOpen();
  }

  /** Schedules a renewal shortly before the token expires (`tokenRefreshLeadMs`). */
  private scheduleTokenRefresh(): void {
    this.clearTimer('refresh');
    const exp = this.tokenExpiresAt;
    const ws = this.ws;
    const lead = this.config.opts.tokenRefreshLeadMs;
    // Renewing onto the same token would loop: the provider has nothing newer, so the server's expiry decides.
    if (!ws || lead <= 0 || exp === undefined || exp === this.refreshedExpiry) return;
    const now = this.config.clock.now();
    if (exp <= now) return;
    // A token shorter-lived than twice the lead is renewed half-way, not the moment it arrives.
    const at = Math.max(exp - lead, now + (exp - now) / 2);
    this.setTimer(
      'refresh',
      () => {
        this.refreshedExpiry = exp;
        this.renew('token refresh', ws);
      },
      at - now,
    );
  }

  private scheduleHeartbeat(): void {
    this.setTimer(
      'heartbeat',
      () => {
        const ws = this.ws;
        if (!ws || !this.isOpen) return;
        this.scheduleHeartbeat();
        this.hooks.heartbeat().catch((error: ParleyError) => {
          // No pong in time: the connection is half-open (e.g. a dead NAT mapping); replace it.
          if (error.code === 'timeout') this.drop(ws, 'heartbeat timeout');
        });
      },
      this.config.opts.heartbeatIntervalMs,
    );
  }

  private teardown(): void {
    const ws = this.ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      // Not null: Node's `ws` reports closing a socket that is still connecting as an error event, which throws
      // (an uncaught exception in the app) when nothing listens.
      ws.onerror = (() => undefined) as never;
    }
    this.ws = null;
    this.clearTimer('connect');
    this.clearTimer('heartbeat');
    this.clearTimer('refresh');
    this.hooks.onDown();
  }

  private scheduleReconnect(reason: string, immediate = false): void {
    if (this.machine.is('closed')) return;
    // Immediate only after a connection that had caught up: a fresh token that expires at once backs off as usual.
    const delay = immediate && this.attempt === 0 ? 0 : backoffDelay(this.attempt, this.config.backoff, this.config.random);
    this.attempt++;
    this.setState({ state: 'waiting', attempt: this.attempt, retryInMs: delay, reason });
    this.setTimer('reconnect', () => void this.openSocket(), delay);
  }

  private setState(status: ConnectionStatus): void {
    if (status.state !== this.machine.state) this.machine.transition(status.state);
    else if (!this.machine.can(status.state)) this.machine.transition(status.state);
    const previous = this.current;
    this.current = status;
    const changed = status.state !== previous.state || status.attempt !== previous.attempt || status.retryInMs !== previous.retryInMs;
    if (changed) this.hooks.onStatus({ ...status });
  }

  private setTimer(name: TimerName, fn: () => void, ms: number): void {
    this.clearTimer(name);
    this.timers.set(
      name,
      this.config.clock.setTimeout(() => {
        this.timers.delete(name);
        fn();
      }, ms),
    );
  }

  private clearTimer(name: TimerName): void {
    const timer = this.timers.get(name);
    if (timer !== undefined) this.config.clock.clearTimeout(timer);
    this.timers.delete(name);
  }
}
