import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import { ParleyError, type ParleyErrorCode } from './errors.js';
import { catchupActions, replyTypes, type Action, type ClientLimits, type ReplyMap, type RequestMap } from './protocol.js';
import { StateMachine, type TransitionTable } from './state-machine.js';
import { closedError, utf8Length, withoutType } from './util.js';

/** Where one request is: waiting for a socket, sent and awaiting its reply, or answered/failed/timed out. */
export type RequestState = 'queued' | 'in-flight' | 'settled';

/** Allowed request transitions. */
export const requestTransitions: TransitionTable<RequestState> = {
  queued: ['in-flight', 'settled'],
  'in-flight': ['settled'],
  settled: [],
};

/** What the tracker needs from the connection. */
export interface RequestTransport {
  /** The client was closed: every request fails at once. */
  isClosed(): boolean;
  /** A socket is open (syncing or online). */
  isOpen(): boolean;
  /** Writes a frame; false when there is no socket; throws when the socket is already closing. */
  write(frame: string): boolean;
  /** The server's limits in force. */
  limits(): ClientLimits;
}

/** One request awaiting its reply. */
export class PendingRequest {
  /** Its state machine. */
  readonly machine = new StateMachine<RequestState>('request', requestTransitions, 'queued');

  constructor(
    readonly requestId: string,
    readonly action: Action,
    readonly frame: string,
    /** Waits for a socket when issued offline (true) or fails at once (false). */
    readonly queueWhileOffline: boolean,
    readonly resolve: (reply: unknown) => void,
    readonly reject: (error: ParleyError) => void,
  ) {}

  /** Its timeout timer. */
  timer: TimerHandle;
  /** Its timeout, counted again from each resend. */
  timeoutMs = 0;
  /** Times its frame was written to a socket. */
  writes = 0;
  /** A resend scheduled after API Gateway's error frame. */
  resendTimer?: TimerHandle;
}

/** How catch-up reads that API Gateway refused are resent. */
export interface ResendPolicy {
  backoff: BackoffOptions;
  random: () => number;
}

/** Writes of one catch-up read at most, the first included: the frame names no request, so resends are bounded. */
const maxCatchupWrites = 6;
const resendable: ReadonlySet<Action> = new Set(catchupActions);

/** Correlates requests and replies by `requestId`, with a timeout per request. */
export class RequestTracker {
  private counter = 0;
  private readonly pending = new Map<string, PendingRequest>();

  constructor(
    private readonly clock: Clock,
    private readonly transport: RequestTransport,
    private readonly resend: ResendPolicy,
  ) {}

  /** Sends a request (or queues it until a socket opens) and resolves with its typed reply. */
  request<A extends Action>(action: A, payload: RequestMap[A], timeoutMs: number, queueWhileOffline: boolean): Promise<ReplyMap[A]> {
    if (this.transport.isClosed()) return Promise.reject(closedError(action));
    if (!queueWhileOffline && !this.transport.isOpen()) {
      return Promise.reject(new ParleyError('connection_lost', 'not connected', { action }));
    }
    const requestId = `c${++this.counter}`;
    const frame = JSON.stringify({ ...payload, action, requestId });
    // A larger frame is refused by the server, or closes the socket (1009) above API Gateway's 32 KB.
    if (utf8Length(frame) > this.transport.limits().maxFrameBytes) {
      return Promise.reject(new ParleyError('payload_too_large', `the request exceeds ${this.transport.limits().maxFrameBytes} bytes in UTF-8`, { action }));
    }
    return new Promise<ReplyMap[A]>((resolve, reject) => {
      const request = new PendingRequest(requestId, action, frame, queueWhileOffline, resolve as (reply: unknown) => void, reject);
      request.timeoutMs = timeoutMs;
      this.armTimeout(request);
      this.pending.set(requestId, request);
      if (this.transport.isOpen()) this.transmit(request);
    });
  }

  /** Requests waiting for a reply (queued or in flight). */
  get size(): number {
    return this.pending.size;
  }

  /** Sends every queued request (a socket just opened). */
  flushQueued(): void {
    for (const request of [...this.pending.values()]) if (request.machine.is('queued')) this.transmit(request);
  }

  /** Settles the request a frame answers; false when no pending request has its `requestId` (late or unknown). */
  reply(requestId: string, frame: Record<string, unknown>): boolean {
    const request = this.pending.get(requestId);
    if (!request) return false;
    if (frame.type === 'error') {
      const code = (typeof frame.code === 'string' ? frame.code : 'internal') as ParleyErrorCode;
      const message = typeof frame.message === 'string' ? frame.message : 'request failed';
      const retryAfterMs = typeof frame.retryAfterMs === 'number' ? frame.retryAfterMs : undefined;
      this.settle(
        request,
        undefined,
        new ParleyError(code, message, {
          action: request.action,
          requestId: request.requestId,
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        }),
      );
    } else if (frame.type !== replyTypes[request.action]) {
      this.settle(
        request,
        undefined,
        new ParleyError('protocol', `unexpected reply type ${String(frame.type)}`, {
          action: request.action,
          requestId: request.requestId,
        }),
      );
    } else {
      this.settle(request, withoutType(frame));
    }
    return true;
  }

  /**
   * API Gateway answered some request of this socket with its own error frame (a throttled or failed function), which
   * names none of ours. Every in-flight catch-up read is resent with its `requestId` after a backoff (a duplicate
   * reply is dropped), so it need not wait out its timeout; after `maxCatchupWrites` it is left to its timeout.
   * Other requests keep their timeout (the outbox resends a send with its `clientMessageId`).
   */
  gatewayError(): void {
    for (const request of this.pending.values()) {
      // Past the last write the read waits for a reply (the frame may have refused another one) or its timeout.
      if (!resendable.has(request.action) || !request.machine.is('in-flight') || request.resendTimer !== undefined) continue;
      if (request.writes >= maxCatchupWrites) continue;
      request.resendTimer = this.clock.setTimeout(
        () => {
          request.resendTimer = undefined;
          if (this.pending.get(request.requestId) !== request) return;
          this.clock.clearTimeout(request.timer);
          this.armTimeout(request);
          this.write(request);
        },
        backoffDelay(request.writes, this.resend.backoff, this.resend.random),
      );
    }
  }

  /** The socket went away: requests it carried (and those that must not wait) fail with `connection_lost`. */
  failInFlight(): void {
    for (const request of [...this.pending.values()]) {
      if (request.machine.is('in-flight') || !request.queueWhileOffline) {
        this.settle(
          request,
          undefined,
          new ParleyError('connection_lost', 'connection lost before the reply', {
            action: request.action,
            requestId: request.requestId,
          }),
        );
      }
    }
  }

  /** Fails every pending request with `error` (on `close()`). */
  rejectAll(error: ParleyError): void {
    for (const request of [...this.pending.values()]) this.settle(request, undefined, error);
  }

  private armTimeout(request: PendingRequest): void {
    const { action, requestId, timeoutMs } = request;
    request.timer = this.clock.setTimeout(() => {
      this.settle(request, undefined, new ParleyError('timeout', `no reply within ${timeoutMs} ms`, { action, requestId }));
    }, timeoutMs);
  }

  private transmit(request: PendingRequest): void {
    if (this.write(request)) request.machine.transition('in-flight');
  }

  /** Writes the request's frame; false when there is no socket, or it was closing (the request then failed). */
  private write(request: PendingRequest): boolean {
    try {
      const written = this.transport.write(request.frame);
      if (written) request.writes += 1;
      return written;
    } catch (error) {
      // send() throws when the socket is already closing; the close handler will reconnect.
      this.settle(request, undefined, new ParleyError('connection_lost', String(error), { action: request.action }));
      return false;
    }
  }

  private settle(request: PendingRequest, reply: unknown, error?: ParleyError): void {
    if (this.pending.get(request.requestId) !== request) return;
    this.pending.delete(request.requestId);
    request.machine.transition('settled');
    this.clock.clearTimeout(request.timer);
    if (request.resendTimer !== undefined) this.clock.clearTimeout(request.resendTimer);
    if (error) request.reject(error);
    else request.resolve(reply);
  }
}
