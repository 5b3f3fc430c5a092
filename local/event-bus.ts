import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { eventBus, webhookTarget } from '../lib/definitions.js';
import type { FaultRegistry } from './faults.js';

/** An event as EventBridge delivers it to targets (and as the webhook receives it). */
export interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** An event the webhook never accepted, as the rule target's DLQ would hold it. */
export interface DeadLetter {
  event: BusEvent;
  /** Requests made, the first one included. */
  attempts: number;
  /** The last HTTP status, or 0 for a network error or timeout. */
  lastStatus: number;
  reason: 'RetryAttemptsExhausted' | 'NonRetryableStatus' | 'MaximumEventAgeExceeded';
}

/** How the local bus runs. */
export interface LocalEventBusOptions {
  busName: string;
  host?: string;
  /** POST every event here (the API destination), with retries and backoff; unset: no webhook. */
  webhookUrl?: string;
  /** Sent as `x-api-key`, like the connection's API key. */
  webhookApiKey?: string;
  /** First retry delay; EventBridge backs off exponentially with jitter. Tests make it short. */
  retryBaseMs?: number;
  /** Print one line per event. */
  print?: boolean;
  faults?: FaultRegistry;
  onError?: (message: string, error: unknown) => void;
}

const maxKept = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A local EventBridge bus: serves `PutEvents` (JSON 1.1, the real SDK calls it through `AWS_ENDPOINT_URL_EVENTBRIDGE`)
 * with EventBridge's limits — at most 10 entries and 256 KB per call, per-entry errors counted in `FailedEntryCount` —,
 * keeps what it accepted for tests (`GET /_events`), prints it, and forwards every event to the webhook like an API
 * destination target: retried on 401, 407, 409, 429, 5xx and timeouts with exponential backoff, up to the rule's
 * retry policy, then dead-lettered (`GET /_events/dead-letters`); other answers are dead-lettered at once.
 */
export class LocalEventBus {
  readonly received: BusEvent[] = [];
  readonly deadLetters: DeadLetter[] = [];
  /** Webhook requests made, by event id (tests count retries with it). */
  readonly webhookAttempts = new Map<string, number>();
  /** Injected failures (`events:PutEvents`); settable because the registry may be created after the bus. */
  faults?: FaultRegistry;
  private server?: Server;
  private inFlight = new Set<Promise<void>>();
  private stopped = false;
  endpoint = '';

  constructor(private readonly options: LocalEventBusOptions) {
    this.faults = options.faults;
  }

  async listen(port = 0): Promise<void> {
    const server = createServer(
      (request, response) =>
        void this.handle(request, response).catch((error: unknown) => {
          this.options.onError?.('event bus request failed', error);
          if (!response.headersSent) response.writeHead(500).end();
        }),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.options.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.endpoint = `http://${this.options.host ?? '127.0.0.1'}:${(server.address() as { port: number }).port}`;
  }

  /** Resolves once every webhook delivery started so far has succeeded or been dead-lettered. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await Promise.allSettled([...this.inFlight]);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const json = (status: number, body: unknown, type = 'application/json'): void => {
      response.writeHead(status, { 'Content-Type': type }).end(JSON.stringify(body));
    };
    if (url.pathname.startsWith('/_events')) {
      const contains = url.searchParams.get('contains') ?? '';
      const pick = <T>(items: T[]) => items.filter((item) => JSON.stringify(item).includes(contains));
      if (url.pathname === '/_events' && request.method === 'GET') return json(200, { events: pick(this.received) });
      if (url.pathname === '/_events/dead-letters' && request.method === 'GET') return json(200, { deadLetters: pick(this.deadLetters) });
      return json(404, { message: 'not found' });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const awsError = (status: number, type: string, message: string) => json(status, { __type: type, message }, 'application/x-amz-json-1.1');
    if (request.headers['x-amz-target'] !== 'AWSEvents.PutEvents') return awsError(400, 'UnknownOperationException', 'only PutEvents is emulated');
    const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { Entries?: Record<string, unknown>[] };
    const entries = input.Entries ?? [];
    if (entries.length < 1 || entries.length > eventBus.maxEntriesPerCall) {
      return awsError(
        400,
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${eventBus.maxEntriesPerCall}`,
      );
    }
    if (entries.reduce((sum, entry) => sum + entrySize(entry), 0) > eventBus.maxCallBytes) {
      return awsError(400, 'ValidationException', 'Total size of the entries in the request is over the limit.');
    }
    const results = entries.map((entry) => this.accept(entry));
    json(200, { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results }, 'application/x-amz-json-1.1');
  }

  private accept(entry: Record<string, unknown>): { EventId: string } | { ErrorCode: string; ErrorMessage: string } {
    const bus = String(entry.EventBusName ?? 'default');
    if (bus !== this.options.busName && !bus.endsWith(`:event-bus/${this.options.busName}`)) {
      return { ErrorCode: 'InvalidArgument', ErrorMessage: `Event bus ${bus} does not exist.` };
    }
    if (typeof entry.Source !== 'string' || typeof entry.DetailType !== 'string' || typeof entry.Detail !== 'string') {
      return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameters Source, DetailType and Detail are required.' };
    }
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail);
    } catch {
      detail = undefined;
    }
    if (!detail || typeof detail !== 'object' || Array.isArray(detail)) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    const fault = this.faults?.take('events:PutEvents', { text: () => JSON.stringify(entry) });
    if (fault) return { ErrorCode: fault.error ?? 'InternalFailure', ErrorMessage: 'injected failure' };
    const time = typeof entry.Time === 'number' ? new Date(entry.Time * 1000) : new Date();
    const event: BusEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': entry.DetailType,
      source: entry.Source,
      account: '000000000000',
      // EventBridge times are whole seconds.
      time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: 'us-east-1',
      resources: (entry.Resources as string[] | undefined) ?? [],
      detail: detail as Record<string, unknown>,
    };
    this.received.push(event);
    if (this.received.length > maxKept) this.received.shift();
    if (this.options.print) console.log(`[event] ${compact(event)}`);
    if (this.options.webhookUrl && event.source === eventBus.source) this.track(this.forward(event));
    return { EventId: event.id };
  }

  private track(delivery: Promise<void>): void {
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
  }

  /** One event to the webhook, retried as the rule target's retry policy says. */
  private async forward(event: BusEvent): Promise<void> {
    const started = Date.now();
    const maxRequests = 1 + webhookTarget.maximumRetryAttempts;
    let status = 0;
    for (let attempt = 1; attempt <= maxRequests && !this.stopped; attempt++) {
      this.webhookAttempts.set(event.id, attempt);
      status = await this.post(event);
      if (status >= 200 && status < 300) return;
      const retryable = status === 0 || status >= 500 || webhookTarget.retryableStatuses.includes(status);
      if (!retryable) return this.deadLetter(event, attempt, status, 'NonRetryableStatus');
      if (Date.now() - started > webhookTarget.maximumEventAgeSeconds * 1000) return this.deadLetter(event, attempt, status, 'MaximumEventAgeExceeded');
      if (attempt < maxRequests) {
        // Exponential backoff with full jitter, at least the base.
        const base = this.options.retryBaseMs ?? 1000;
        await sleep(base + Math.random() * Math.min(60_000, base * 2 ** (attempt - 1)));
      }
    }
    this.deadLetter(event, this.webhookAttempts.get(event.id) ?? 0, status, 'RetryAttemptsExhausted');
  }

  private async post(event: BusEvent): Promise<number> {
    try {
      const response = await fetch(this.options.webhookUrl!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          ...(this.options.webhookApiKey ? { 'x-api-key': this.options.webhookApiKey } : {}),
        },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(webhookTarget.requestTimeoutSeconds * 1000),
      });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return 0;
    }
  }

  private deadLetter(event: BusEvent, attempts: number, lastStatus: number, reason: DeadLetter['reason']): void {
    this.deadLetters.push({ event, attempts, lastStatus, reason });
    if (this.deadLetters.length > maxKept) this.deadLetters.shift();
    if (this.options.print) console.log(`[event] dead-lettered after ${attempts} webhook request(s) (last status ${lastStatus}): ${compact(event)}`);
  }
}

/** EventBridge's PutEvents entry size (Time 14 bytes; Source, DetailType, Detail, Resources in UTF-8). */
function entrySize(entry: Record<string, unknown>): number {
  const bytes = (value: unknown) => (typeof value === 'string' ? Buffer.byteLength(value) : 0);
  const resources = Array.isArray(entry.Resources) ? entry.Resources.reduce((sum: number, r) => sum + bytes(r), 0) : 0;
  return (entry.Time !== undefined ? 14 : 0) + bytes(entry.Source) + bytes(entry.DetailType) + bytes(entry.Detail) + resources;
}

/** One line per event: type, id, actor and the interesting field. */
function compact(event: BusEvent): string {
  const d = event.detail;
  const who = d.actorId ?? d.senderId ?? '';
  const what =
    d.body !== undefined ? JSON.stringify(String(d.body).slice(0, 60)) : d.userIds ? `[${(d.userIds as string[]).join(',')}]` : (d.emoji ?? d.title ?? '');
  return `${event['detail-type']} ${String(d.eventId)} ${String(who)} ${String(what)}`.trim();
}
