import { WebSocket } from 'ws';
import { cdfPoints, histogram, summarize } from './metrics.js';
import type { PhaseClientStats } from './worker-protocol.js';

/** A server frame. */
export type Frame = Record<string, any>;

/** Milliseconds on the clock every bench client stamps with (epoch-based, sub-millisecond). */
export const now = () => performance.timeOrigin + performance.now();

/**
 * What the clients observe during one measured phase. Message bodies carry the phase id and the send time, so a
 * late push is still counted in the phase that sent it and latency needs no clock but this process's.
 */
export class PhaseRecorder {
  readonly latencies: number[] = [];
  readonly ackLatencies: number[] = [];
  readonly errors: Record<string, number> = {};
  readonly otherPushes: Record<string, number> = {};
  sent = 0;
  acked = 0;
  expectedDeliveries = 0;
  deliveries = 0;
  duplicates = 0;
  orderViolations = 0;
  scheduleLagMaxMs = 0;
  firstSendAt = Number.POSITIVE_INFINITY;
  lastDeliveryAt = 0;
  /** Time spent sending and delivering, summed over the phase's spans (0: from the first send to the last delivery). */
  activeMs = 0;

  constructor(readonly id: string) {}

  error(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }

  /** True once every acked message reached every expected connection and every send was answered. */
  complete(): boolean {
    return this.acked + this.errorCount() >= this.sent && this.deliveries >= this.expectedDeliveries;
  }

  errorCount(): number {
    return Object.values(this.errors).reduce((sum, n) => sum + n, 0);
  }

  /** The phase's statistics. */
  finish(): PhaseClientStats {
    const durationSeconds = Math.max(0.001, (this.activeMs || this.lastDeliveryAt - this.firstSendAt) / 1000);
    return {
      sent: this.sent,
      acked: this.acked,
      errors: this.errors,
      expectedDeliveries: this.expectedDeliveries,
      deliveries: this.deliveries,
      missing: Math.max(0, this.expectedDeliveries - this.deliveries),
      duplicates: this.duplicates,
      orderViolations: this.orderViolations,
      latency: summarize(this.latencies),
      ackLatency: summarize(this.ackLatencies),
      cdf: cdfPoints(this.latencies),
      histogram: histogram(this.latencies),
      durationSeconds: Math.round(durationSeconds * 100) / 100,
      messagesPerSecond: Math.round((this.acked / durationSeconds) * 10) / 10,
      deliveriesPerSecond: Math.round((this.deliveries / durationSeconds) * 10) / 10,
      scheduleLagMaxMs: Math.round(this.scheduleLagMaxMs),
      otherPushes: this.otherPushes,
    };
  }
}

/** Phase recorders by id, shared by every client of the worker. */
const recorders = new Map<string, PhaseRecorder>();

/** Starts recording a phase. */
export function startPhase(id: string): PhaseRecorder {
  const recorder = new PhaseRecorder(id);
  recorders.set(id, recorder);
  return recorder;
}

let currentPhase: PhaseRecorder | undefined;

/** Where pushes that are not bench messages (presence, conversation, ...) are counted. */
export function setCurrentPhase(recorder: PhaseRecorder | undefined): void {
  currentPhase = recorder;
}

/** Bench message bodies: `bench|<phase>|<send time>|<padding>`, about the size of a short chat message. */
const bodyFor = (phase: string, sentAt: number) => `bench|${phase}|${sentAt.toFixed(3)}|${'x'.repeat(96)}`;

function parseBody(body: unknown): { phase: string; sentAt: number } | undefined {
  if (typeof body !== 'string' || !body.startsWith('bench|')) return undefined;
  const [, phase, sentAt] = body.split('|');
  return phase && sentAt ? { phase, sentAt: Number(sentAt) } : undefined;
}

/** A raw WebSocket client that tracks its pushes by (conversationId, seq), as the protocol asks clients to. */
export class BenchClient {
  private nextRequestId = 1;
  private readonly pending = new Map<string, (frame: Frame) => void>();
  /** Per conversation: the seqs this connection got pushed, and the highest. */
  readonly seen = new Map<string, { max: number; seqs: Set<number> }>();
  /** Every pushed message, in arrival order (for the reconnect scenario's checks). */
  readonly pushed: { conversationId: string; seq: number }[] = [];

  private constructor(
    readonly userId: string,
    readonly socket: WebSocket,
  ) {
    socket.on('message', (data) => this.onFrame(data.toString()));
    socket.on('close', () => {
      for (const resolve of this.pending.values()) resolve({ type: 'error', code: 'closed' });
      this.pending.clear();
    });
  }

  /** Opens a connection as `userId` with a dev token; resolves once the handshake succeeded. */
  static async connect(wsUrl: string, userId: string, token: string): Promise<BenchClient> {
    const socket = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_request, response) => reject(new Error(`handshake refused: HTTP ${response.statusCode}`)));
      socket.once('error', reject);
    });
    return new BenchClient(userId, socket);
  }

  /** Sends a request and resolves with its reply (an error frame with code `timeout` after `timeoutMs`). */
  request(frame: Record<string, unknown>, timeoutMs = 30_000): Promise<Frame> {
    const requestId = `r${this.nextRequestId++}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        resolve({ type: 'error', code: 'timeout', requestId });
      }, timeoutMs);
      this.pending.set(requestId, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      if (this.socket.readyState !== WebSocket.OPEN) {
        this.pending.delete(requestId);
        clearTimeout(timer);
        resolve({ type: 'error', code: 'closed', requestId });
        return;
      }
      this.socket.send(JSON.stringify({ ...frame, requestId }));
    });
  }

  /**
   * Sends a bench message and records its ack in `recorder`; `recipients` is how many connections should get it pushed.
   * Resolves with the ack (or error) frame.
   */
  async sendMessage(recorder: PhaseRecorder, conversationId: string, recipients: number): Promise<Frame> {
    const sentAt = now();
    recorder.sent += 1;
    recorder.firstSendAt = Math.min(recorder.firstSendAt, sentAt);
    const reply = await this.request({
      action: 'send',
      conversationId,
      clientMessageId: `${recorder.id}-${this.userId}-${this.nextRequestId}`,
      body: bodyFor(recorder.id, sentAt),
    });
    if (reply.type === 'ack') {
      recorder.acked += 1;
      recorder.ackLatencies.push(now() - sentAt);
      recorder.expectedDeliveries += recipients;
    } else {
      recorder.error(String(reply.code ?? reply.message ?? 'unknown'));
    }
    return reply;
  }

  /** Closes the connection (the server runs $disconnect). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === WebSocket.CLOSED) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }

  private onFrame(text: string): void {
    const receivedAt = now();
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      currentPhase?.error('non_json_frame');
      return;
    }
    if (typeof frame.requestId === 'string' && this.pending.has(frame.requestId)) {
      const resolve = this.pending.get(frame.requestId)!;
      this.pending.delete(frame.requestId);
      resolve(frame);
      return;
    }
    if (frame.type !== 'message') {
      // API Gateway's own error frames have no type, only a message.
      const type = String(frame.type ?? `apigw:${frame.message}`);
      if (currentPhase) currentPhase.otherPushes[type] = (currentPhase.otherPushes[type] ?? 0) + 1;
      return;
    }
    const { conversationId, seq, body } = frame.message as { conversationId: string; seq: number; body: string };
    this.pushed.push({ conversationId, seq });
    const state = this.seen.get(conversationId) ?? { max: 0, seqs: new Set<number>() };
    this.seen.set(conversationId, state);
    const tag = parseBody(body);
    const recorder = tag ? recorders.get(tag.phase) : undefined;
    if (state.seqs.has(seq)) {
      if (recorder) recorder.duplicates += 1;
      return;
    }
    if (seq < state.max && recorder) recorder.orderViolations += 1;
    state.seqs.add(seq);
    state.max = Math.max(state.max, seq);
    if (!recorder || !tag) return;
    recorder.deliveries += 1;
    recorder.latencies.push(receivedAt - tag.sentAt);
    recorder.lastDeliveryAt = Math.max(recorder.lastDeliveryAt, receivedAt);
  }
}
