import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { webSocketLimits, type FunctionName, type RouteDefinition } from '../lib/definitions.js';
import { localCredentials, localRegion } from './dynamodb.js';
import { FaultRegistry, parseFaultRules, type FaultRule } from './faults.js';
import { readBody, sendJson, SignatureVerifier } from './sigv4.js';
import type { SendResult, SocketHostEvents } from './socket-host.js';
import { inProcessSockets, socketProcesses, type SocketTier } from './socket-tier.js';

/** Runs a Lambda function by its logical name with an event, as API Gateway's integration would. */
export type Invoke = (functionName: FunctionName, event: unknown) => Promise<unknown>;

/** How the emulator is wired: the same route table and limits the CDK stack deploys. */
export interface WebSocketApiEmulatorOptions {
  routes: readonly RouteDefinition[];
  routeSelectionExpression: string;
  /** The $connect REQUEST authorizer function. */
  authorizer: FunctionName;
  invoke: Invoke;
  port?: number;
  host?: string;
  stage?: string;
  /** Overrides of API Gateway's limits, e.g. a short idle timeout in tests. */
  limits?: Partial<typeof webSocketLimits>;
  /** Invoked when an integration fails, for logs. */
  onError?: (message: string, error: unknown) => void;
  /** The only credentials `@connections` accepts SigV4 signatures from (default: the local stack's). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** The region those signatures must be scoped to (default: the local stack's). */
  region?: string;
  /**
   * Child processes that hold the WebSocket connections (default 0: this process holds them). A process may hold
   * only RLIMIT_NOFILE open files, so more connections than that need several.
   */
  socketProcesses?: number;
}

interface Connection {
  id: string;
  connectedAt: Date;
  lastActiveAt: Date;
  sourceIp: string;
  userAgent: string;
  headers: Record<string, string>;
  authorizer: Record<string, unknown>;
  timers: NodeJS.Timeout[];
  /** Set once $disconnect has been scheduled, so it runs exactly once. */
  closing: boolean;
}

/** Counters for benchmarks and tests. */
export interface EmulatorStats {
  connects: number;
  rejectedConnects: number;
  disconnects: number;
  messagesIn: number;
  postToConnection: number;
  gone: number;
  openConnections: number;
}

/** Frames and messages that crossed the sockets in one direction. */
export interface DirectionStats {
  frames: number;
  messages: number;
  largestFrameBytes: number;
  largestMessageBytes: number;
}

/** Which way a frame travelled. */
export type FrameDirection = 'clientToServer' | 'serverToClient';

/** A frame or message over API Gateway's limits, and what the emulator did about it (what API Gateway does). */
export interface FrameViolation {
  direction: FrameDirection;
  /** `frame`: over `maxFrameBytes`; `message`: over `maxMessageBytes`. */
  kind: 'frame' | 'message';
  /** Where it came from: the client's socket, a two-way route's response, or an `@connections` POST. */
  path: 'client' | 'routeResponse' | 'postToConnection';
  bytes: number;
  limitBytes: number;
  connectionId: string;
  /** The authorizer's principalId of the connection (the user id in Parley). */
  principalId?: string;
  routeKey?: string;
  /** `closed1009`: the connection was closed; `dropped`: never sent; `rejected413`: PayloadTooLargeException. */
  outcome: 'closed1009' | 'dropped' | 'rejected413';
  at: string;
}

/** Frame accounting: per direction the counts and the largest frame and message, and every violation. */
export interface FrameStats {
  clientToServer: DirectionStats;
  serverToClient: DirectionStats;
  violations: FrameViolation[];
}

/** Violations kept in total and per principal; older ones are forgotten (the counts stay). */
const maxViolationsKept = 1000;

const emptyDirection = (): DirectionStats => ({ frames: 0, messages: 0, largestFrameBytes: 0, largestMessageBytes: 0 });
const emptyFrameStats = (): FrameStats => ({ clientToServer: emptyDirection(), serverToClient: emptyDirection(), violations: [] });

const accountId = '000000000000';
const connectionIdPattern = /^[A-Za-z0-9_=-]+$/;

/** API Gateway's connection ids look like `L0SM9cOFvHcCIhw=`: 12 random bytes in base64. */
const newConnectionId = () => randomBytes(10).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');

/** Reads the field `$request.body.<path>` names from a JSON body; undefined when the body is not JSON. */
function selectRouteKey(expression: string, body: string): string | undefined {
  const path = expression.replace(/^\$request\.body\./, '').split('.');
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  for (const key of path) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return typeof value === 'string' ? value : undefined;
}

const flatHeaders = (request: IncomingMessage): Record<string, string> =>
  Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [
      // API Gateway keeps the client's spelling; Node lower-cases, so restore the canonical form of the common ones.
      name.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase()),
      Array.isArray(value) ? value.join(',') : (value ?? ''),
    ]),
  );

const multi = (values: Record<string, string>) => Object.fromEntries(Object.entries(values).map(([key, value]) => [key, [value]]));

/**
 * A local API Gateway WebSocket API: the `$connect` authorizer and route, route selection on the request body,
 * `$default`, two-way route responses, `$disconnect`, the SigV4-authenticated `@connections` management endpoint
 * (POST, GET, DELETE, 410 GoneException, 413 PayloadTooLargeException), idle and maximum connection durations, and
 * the size limits: 32 KB per frame and 128 KB per (reassembled) message. It counts frames and messages both ways and
 * records every violation (`frameStats()`). It invokes the same handler code Lambda runs, with the event shapes API
 * Gateway sends. docs/LIMITS.md says where each behaviour comes from.
 */
export class WebSocketApiEmulator {
  readonly apiId = randomBytes(5).toString('hex');
  readonly stage: string;
  readonly faults = new FaultRegistry();
  readonly stats: EmulatorStats = {
    connects: 0,
    rejectedConnects: 0,
    disconnects: 0,
    messagesIn: 0,
    postToConnection: 0,
    gone: 0,
    openConnections: 0,
  };
  private readonly limits: typeof webSocketLimits;
  private readonly region: string;
  private readonly signature: SignatureVerifier;
  private frames = { all: emptyFrameStats(), byPrincipal: new Map<string, FrameStats>() };
  private readonly connections = new Map<string, Connection>();
  private sockets: SocketTier | undefined;
  private readonly server: Server;
  private readonly routeKeys: Map<string, RouteDefinition>;
  private pendingDisconnects = new Set<Promise<void>>();

  constructor(private readonly options: WebSocketApiEmulatorOptions) {
    this.stage = options.stage ?? 'local';
    this.limits = { ...webSocketLimits, ...options.limits };
    this.region = options.region ?? localRegion;
    this.signature = new SignatureVerifier(options.credentials ?? localCredentials, this.region);
    this.routeKeys = new Map(options.routes.map((route) => [route.routeKey, route]));
    this.server = createServer((request, response) => void this.handleHttp(request, response));
    this.server.on('upgrade', (request, socket, head) => void this.handleUpgrade(request, socket, head));
  }

  /** Starts the socket tier and listens; resolves with the bound port. */
  async listen(): Promise<number> {
    const wire = { maxFrameBytes: this.limits.maxFrameBytes, maxMessageBytes: this.limits.maxMessageBytes };
    const count = this.options.socketProcesses ?? 0;
    this.sockets = count > 0 ? await socketProcesses(count, wire, this.socketEvents) : inProcessSockets(wire, this.socketEvents);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    return (this.server.address() as { port: number }).port;
  }

  /** `ws://host:port/<stage>`: where clients connect. */
  get url(): string {
    const { port } = this.server.address() as { port: number };
    return `ws://${this.options.host ?? '127.0.0.1'}:${port}/${this.stage}`;
  }

  /** `http://host:port/<stage>`: the endpoint of the Management API (`stage.callbackUrl` in AWS). */
  get callbackUrl(): string {
    return this.url.replace(/^ws/, 'http');
  }

  /** Ids of the open connections. */
  connectionIds(): string[] {
    return [...this.connections.keys()];
  }

  /** Closes every connection (running $disconnect for each) and stops listening. */
  async close(): Promise<void> {
    for (const connection of this.connections.values()) this.disconnect(connection, 1001, 'Going away');
    await Promise.allSettled([...this.pendingDisconnects]);
    this.server.closeAllConnections();
    // Closed before the socket processes stop: a server whose sockets were passed on asks those processes whether
    // they still hold any, and would wait forever for one that is gone.
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.sockets?.stop();
    await closed;
  }

  /**
   * Frame accounting since the last reset: of every connection, or only of those whose authorizer principalId is
   * in `principalIds` (tests run in parallel against one emulator, each with its own users).
   */
  frameStats(principalIds?: readonly string[]): FrameStats {
    if (!principalIds) return structuredClone(this.frames.all);
    const merged = emptyFrameStats();
    for (const id of new Set(principalIds)) {
      const stats = this.frames.byPrincipal.get(id);
      if (!stats) continue;
      for (const direction of ['clientToServer', 'serverToClient'] as const) {
        const into = merged[direction];
        const from = stats[direction];
        into.frames += from.frames;
        into.messages += from.messages;
        into.largestFrameBytes = Math.max(into.largestFrameBytes, from.largestFrameBytes);
        into.largestMessageBytes = Math.max(into.largestMessageBytes, from.largestMessageBytes);
      }
      merged.violations.push(...structuredClone(stats.violations));
    }
    merged.violations.sort((a, b) => a.at.localeCompare(b.at));
    return merged;
  }

  /** Forgets the frame accounting of these principals, or all of it. */
  resetFrameStats(principalIds?: readonly string[]): void {
    if (!principalIds) {
      this.frames = { all: emptyFrameStats(), byPrincipal: new Map() };
      return;
    }
    for (const id of principalIds) this.frames.byPrincipal.delete(id);
  }

  /** The totals and the connection's principal's entry: what one frame or violation updates. */
  private frameTargets(connection: Pick<Connection, 'authorizer'>): FrameStats[] {
    const principalId = principalOf(connection);
    if (principalId === undefined) return [this.frames.all];
    let mine = this.frames.byPrincipal.get(principalId);
    if (!mine) this.frames.byPrincipal.set(principalId, (mine = emptyFrameStats()));
    return [this.frames.all, mine];
  }

  private countFrame(connection: Connection, direction: FrameDirection, bytes: number): void {
    for (const stats of this.frameTargets(connection)) {
      stats[direction].frames += 1;
      stats[direction].largestFrameBytes = Math.max(stats[direction].largestFrameBytes, bytes);
    }
  }

  private countMessage(connection: Connection, direction: FrameDirection, bytes: number): void {
    for (const stats of this.frameTargets(connection)) {
      stats[direction].messages += 1;
      stats[direction].largestMessageBytes = Math.max(stats[direction].largestMessageBytes, bytes);
    }
  }

  private recordViolation(connection: Connection, violation: Omit<FrameViolation, 'connectionId' | 'principalId' | 'at'>): void {
    const entry: FrameViolation = { ...violation, connectionId: connection.id, principalId: principalOf(connection), at: new Date().toISOString() };
    for (const stats of this.frameTargets(connection)) {
      stats.violations.push(entry);
      if (stats.violations.length > maxViolationsKept) stats.violations.shift();
    }
  }

  /** Drops a connection without invoking $disconnect, as when API Gateway's best-effort $disconnect is lost. */
  dropWithoutDisconnect(connectionId: string): boolean {
    const connection = this.connections.get(connectionId);
    if (!connection) return false;
    connection.closing = true;
    this.forget(connection);
    this.sockets?.terminate(connectionId);
    return true;
  }

  private requestContext(connection: Pick<Connection, 'id' | 'connectedAt' | 'sourceIp' | 'userAgent'>, routeKey: string, eventType: string) {
    const now = new Date();
    const requestId = randomUUID();
    return {
      routeKey,
      eventType,
      extendedRequestId: requestId,
      requestTime: now.toUTCString(),
      messageDirection: 'IN',
      stage: this.stage,
      connectedAt: connection.connectedAt.getTime(),
      requestTimeEpoch: now.getTime(),
      identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
      requestId,
      domainName: `${this.apiId}.execute-api.${this.region}.amazonaws.com`,
      connectionId: connection.id,
      apiId: this.apiId,
    };
  }

  private async handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // A client may vanish while the authorizer runs; the reset must not take the process down.
    socket.on('error', () => socket.destroy());
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname.replace(/\/$/, '') !== `/${this.stage}`) return reject(socket, 403, 'Forbidden');

    const headers = flatHeaders(request);
    const query = Object.fromEntries(url.searchParams);
    const pending = {
      id: newConnectionId(),
      connectedAt: new Date(),
      sourceIp: request.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
      userAgent: request.headers['user-agent'] ?? '',
    };
    const base = {
      headers,
      multiValueHeaders: multi(headers),
      queryStringParameters: Object.keys(query).length ? query : undefined,
      multiValueQueryStringParameters: Object.keys(query).length ? multi(query) : undefined,
      stageVariables: undefined,
    };

    let authorizer: Record<string, unknown>;
    try {
      const result = (await this.options.invoke(this.options.authorizer, {
        type: 'REQUEST',
        methodArn: `arn:aws:execute-api:${this.region}:${accountId}:${this.apiId}/${this.stage}/$connect`,
        ...base,
        requestContext: this.requestContext(pending, '$connect', 'CONNECT'),
      })) as { principalId?: string; policyDocument?: { Statement?: { Effect?: string }[] }; context?: Record<string, unknown> };
      const allowed = result?.policyDocument?.Statement?.some((statement) => statement.Effect === 'Allow') ?? false;
      if (!allowed) {
        this.stats.rejectedConnects += 1;
        return reject(socket, 403, 'Forbidden');
      }
      authorizer = { ...result.context, principalId: result.principalId, integrationLatency: 0 };
    } catch (error) {
      this.stats.rejectedConnects += 1;
      if ((error as Error)?.message === 'Unauthorized') return reject(socket, 401, 'Unauthorized');
      this.options.onError?.('authorizer failed', error);
      return reject(socket, 500, 'Internal Server Error');
    }

    let connectResult: { statusCode?: number; headers?: Record<string, string> } | undefined;
    try {
      connectResult = (await this.options.invoke(this.routeFunction('$connect'), {
        ...base,
        requestContext: { ...this.requestContext(pending, '$connect', 'CONNECT'), authorizer },
        isBase64Encoded: false,
      })) as typeof connectResult;
    } catch (error) {
      this.options.onError?.('$connect failed', error);
      this.stats.rejectedConnects += 1;
      return reject(socket, 500, 'Internal Server Error');
    }
    const status = connectResult?.statusCode ?? 200;
    if (status < 200 || status > 299) {
      this.stats.rejectedConnects += 1;
      return reject(socket, status, 'Connection refused');
    }
    const protocol = Object.entries(connectResult?.headers ?? {}).find(([name]) => name.toLowerCase() === 'sec-websocket-protocol')?.[1];
    // The connection exists before its 101 is written: a client that sees its handshake complete can be posted to at
    // once, whichever process completes it.
    const connection: Connection = { ...pending, headers, authorizer, lastActiveAt: new Date(), timers: [], closing: false };
    this.connections.set(connection.id, connection);
    this.stats.connects += 1;
    this.stats.openConnections = this.connections.size;
    this.armTimers(connection);
    this.sockets!.adopt(connection.id, { method: request.method ?? 'GET', url: request.url ?? '/', headers: request.headers }, socket, head, protocol);
  }

  /** What the socket tier reports: every message is routed, and a closed socket runs $disconnect once. */
  private readonly socketEvents: SocketHostEvents = {
    // The handshake never completed, so the client never had a connection: it goes without $disconnect.
    failed: (id) => {
      const connection = this.connections.get(id);
      if (!connection) return;
      connection.closing = true;
      this.forget(connection);
      this.stats.connects -= 1;
    },
    message: (id, body, isBinary, frames) => {
      const connection = this.connections.get(id);
      if (!connection || connection.closing) return;
      for (const bytes of frames) this.countFrame(connection, 'clientToServer', bytes);
      this.countMessage(
        connection,
        'clientToServer',
        frames.reduce((a, b) => a + b, 0),
      );
      this.handleMessage(connection, body, isBinary);
    },
    // API Gateway: frames over 32 KB, and messages whose frames add up to more than 128 KB, close with 1009.
    violation: (id, violation, frames) => {
      const connection = this.connections.get(id);
      if (!connection || connection.closing) return;
      for (const bytes of frames) this.countFrame(connection, 'clientToServer', bytes);
      this.recordViolation(connection, { direction: 'clientToServer', path: 'client', outcome: 'closed1009', ...violation });
      this.disconnect(connection, 1009, 'Message too big');
    },
    closed: (id, code, reason) => {
      const connection = this.connections.get(id);
      if (connection) this.disconnect(connection, code, reason);
    },
  };

  private armTimers(connection: Connection): void {
    for (const timer of connection.timers) clearTimeout(timer);
    const idleMs = this.limits.idleTimeoutSeconds * 1000 - (Date.now() - connection.lastActiveAt.getTime());
    const maxMs = this.limits.maxConnectionSeconds * 1000 - (Date.now() - connection.connectedAt.getTime());
    connection.timers = [
      setTimeout(() => this.disconnect(connection, 1001, 'Going away'), Math.max(0, idleMs)),
      setTimeout(() => this.disconnect(connection, 1001, 'Going away'), Math.max(0, maxMs)),
    ];
    for (const timer of connection.timers) timer.unref();
  }

  private routeFunction(routeKey: string): FunctionName {
    const route = this.routeKeys.get(routeKey);
    if (!route) throw new Error(`no route ${routeKey}`);
    return route.function;
  }

  /** Routes a client message (base64 when binary) to its integration. */
  private handleMessage(connection: Connection, body: string, isBinary: boolean): void {
    this.stats.messagesIn += 1;
    connection.lastActiveAt = new Date();
    this.armTimers(connection);
    // Binary frames cannot be routed on a JSON field; API Gateway sends them to $default.
    const selected = isBinary ? undefined : selectRouteKey(this.options.routeSelectionExpression, body);
    // $connect and $disconnect are lifecycle routes: a message naming them goes to $default, as in AWS.
    const routable = selected && selected !== '$connect' && selected !== '$disconnect' ? selected : undefined;
    const route = (routable && this.routeKeys.get(routable)) || this.routeKeys.get('$default');
    const requestContext = {
      ...this.requestContext(connection, route?.routeKey ?? '$default', 'MESSAGE'),
      messageId: randomUUID(),
      authorizer: connection.authorizer,
    };
    if (!route) {
      void this.deliver(connection, JSON.stringify({ message: 'Forbidden', connectionId: connection.id, requestId: requestContext.requestId }));
      return;
    }
    void this.options
      .invoke(route.function, { requestContext, body, isBase64Encoded: isBinary })
      .then((result) => {
        if (!route.returnResponse) return;
        const responseBody = (result as { body?: unknown } | undefined)?.body;
        if (typeof responseBody !== 'string' || responseBody.length === 0) return;
        const bytes = Buffer.byteLength(responseBody);
        if (bytes > this.limits.maxMessageBytes) {
          // AWS documents no behaviour for this (docs/LIMITS.md); the emulator drops the response and keeps the
          // connection, so the client sees a missing reply and the violation is recorded for tests to find.
          this.recordViolation(connection, {
            direction: 'serverToClient',
            kind: 'message',
            path: 'routeResponse',
            routeKey: route.routeKey,
            bytes,
            limitBytes: this.limits.maxMessageBytes,
            outcome: 'dropped',
          });
          this.options.onError?.(
            `${route.routeKey} route response dropped`,
            new Error(`${bytes} bytes exceed the ${this.limits.maxMessageBytes}-byte message limit`),
          );
          return;
        }
        void this.deliver(connection, responseBody);
      })
      .catch((error: unknown) => {
        this.options.onError?.(`${route.routeKey} failed`, error);
        void this.deliver(connection, JSON.stringify({ message: 'Internal server error', connectionId: connection.id, requestId: requestContext.requestId }));
      });
  }

  /**
   * Sends one text message (at most 128 KB, checked by the callers) in frames of at most 32 KB, and counts them;
   * `limitBuffered`: answer `busy` instead when the client stopped reading.
   */
  private async deliver(connection: Connection, text: string, limitBuffered = false): Promise<SendResult> {
    const result = (await this.sockets?.send(connection.id, text, limitBuffered)) ?? 'gone';
    if (result !== 'sent') return result;
    const bytes = Buffer.byteLength(text);
    let offset = 0;
    do {
      this.countFrame(connection, 'serverToClient', Math.min(this.limits.maxFrameBytes, bytes - offset));
      offset += this.limits.maxFrameBytes;
    } while (offset < bytes);
    this.countMessage(connection, 'serverToClient', bytes);
    return result;
  }

  private forget(connection: Connection): void {
    for (const timer of connection.timers) clearTimeout(timer);
    this.connections.delete(connection.id);
    this.stats.openConnections = this.connections.size;
  }

  /** Closes the socket (if open) and runs $disconnect once. */
  private disconnect(connection: Connection, code: number, reason: string): void {
    if (connection.closing) return;
    connection.closing = true;
    this.forget(connection);
    this.sockets?.close(connection.id, code, reason);
    this.stats.disconnects += 1;
    const run = this.options
      .invoke(this.routeFunction('$disconnect'), {
        headers: connection.headers,
        multiValueHeaders: multi(connection.headers),
        requestContext: {
          ...this.requestContext(connection, '$disconnect', 'DISCONNECT'),
          disconnectStatusCode: code,
          disconnectReason: reason,
          authorizer: connection.authorizer,
        },
        isBase64Encoded: false,
      })
      .then(() => undefined)
      .catch((error: unknown) => this.options.onError?.('$disconnect failed', error))
      .finally(() => this.pendingDisconnects.delete(run));
    this.pendingDisconnects.add(run);
  }

  private async handleHttp(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const management = url.pathname.match(new RegExp(`^/${this.stage}/@connections/([^/]+)$`));
    if (management) return this.handleManagement(request, response, management[1]!);
    if (url.pathname.startsWith('/_emulator/')) return this.handleControl(request, response, url);
    sendJson(response, 403, { message: 'Forbidden' }, 'ForbiddenException');
  }

  /** The Management API (`@connections`), as `@aws-sdk/client-apigatewaymanagementapi` calls it. */
  private async handleManagement(request: IncomingMessage, response: ServerResponse, encodedConnectionId: string): Promise<void> {
    const { body, size, sha256 } = await readBody(request, this.limits.maxMessageBytes + 1);
    // IAM authorization, as on AWS: checked before anything else, so an unsigned call learns nothing.
    const denied = await this.signature.verify(request, sha256);
    if (denied) return sendJson(response, 403, { message: denied.message }, denied.type);
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(encodedConnectionId);
    } catch {
      connectionId = '';
    }
    if (!connectionIdPattern.test(connectionId)) return sendJson(response, 400, { message: 'Invalid connectionId' }, 'BadRequestException');
    if (request.method === 'POST') this.stats.postToConnection += 1;
    const fault = request.method === 'POST' ? this.faults.take('postToConnection', { connectionId, text: () => body.toString('utf8') }) : undefined;
    if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault?.status) return sendFault(response, fault.status);

    const connection = this.connections.get(connectionId);
    const gone = () => {
      if (request.method === 'POST') this.stats.gone += 1;
      sendJson(response, 410, {}, 'GoneException');
    };
    if (!connection) return gone();
    switch (request.method) {
      case 'POST': {
        if (size > this.limits.maxMessageBytes) {
          this.recordViolation(connection, {
            direction: 'serverToClient',
            kind: 'message',
            path: 'postToConnection',
            bytes: size,
            limitBytes: this.limits.maxMessageBytes,
            outcome: 'rejected413',
          });
          return sendJson(response, 413, { message: 'Request entity too large' }, 'PayloadTooLargeException');
        }
        // A client that stopped reading: API Gateway answers 429 rather than buffering without bound. A socket
        // that is closing takes no more data: gone, as in AWS, rather than a 200 for a frame never sent.
        const result = await this.deliver(connection, body.toString('utf8'), true);
        if (result === 'busy') return sendJson(response, 429, { message: 'Too Many Requests' }, 'LimitExceededException');
        if (result === 'gone') return gone();
        response.writeHead(200, { 'Content-Length': '0' }).end();
        return;
      }
      case 'GET':
        return sendJson(response, 200, {
          connectedAt: connection.connectedAt.toISOString(),
          identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
          lastActiveAt: connection.lastActiveAt.toISOString(),
        });
      case 'DELETE':
        this.disconnect(connection, 1000, 'Closed by server');
        response.writeHead(204).end();
        return;
      default:
        return sendJson(response, 403, { message: 'Forbidden' }, 'ForbiddenException');
    }
  }

  /**
   * Local-only switches for tests (unsigned): faults, stats, frame accounting (`/_emulator/frames`, optionally
   * `?principalId=…` repeated), connections, and dropping a connection without $disconnect.
   */
  private async handleControl(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const { body } = await readBody(request, 64 * 1024);
    if (path === '/_emulator/faults' && request.method === 'POST') {
      let rules: FaultRule[];
      try {
        rules = parseFaultRules(JSON.parse(body.toString('utf8') || '[]'));
      } catch (error) {
        return sendJson(response, 400, { message: (error as Error).message });
      }
      return sendJson(response, 200, { ok: true, ids: rules.map((rule) => this.faults.add(rule)) });
    }
    if (path === '/_emulator/faults' && request.method === 'GET') return sendJson(response, 200, { rules: this.faults.list() });
    if (path === '/_emulator/faults' && request.method === 'DELETE') {
      this.faults.clear();
      return sendJson(response, 200, { ok: true });
    }
    const fault = path.match(/^\/_emulator\/faults\/([^/]+)$/);
    if (fault && (request.method === 'GET' || request.method === 'DELETE')) {
      const id = decodeURIComponent(fault[1]!);
      if (request.method === 'DELETE') this.faults.remove(id);
      const status = this.faults.status(id);
      return status ? sendJson(response, 200, status) : sendJson(response, 404, { message: `no fault ${id}` });
    }
    if (path === '/_emulator/stats') return sendJson(response, 200, this.stats);
    if (path === '/_emulator/frames' && (request.method === 'GET' || request.method === 'DELETE')) {
      const principalIds = url.searchParams.getAll('principalId');
      if (principalIds.some((id) => id.length === 0 || id.length > 256)) {
        return sendJson(response, 400, { message: 'principalId must be 1-256 characters' });
      }
      const scope = url.searchParams.has('principalId') ? principalIds : undefined;
      if (request.method === 'GET') return sendJson(response, 200, this.frameStats(scope));
      this.resetFrameStats(scope);
      return sendJson(response, 200, { ok: true });
    }
    if (path === '/_emulator/connections') {
      return sendJson(response, 200, {
        connections: [...this.connections.values()].map((c) => ({
          connectionId: c.id,
          principalId: c.authorizer.principalId,
          connectedAt: c.connectedAt.toISOString(),
        })),
      });
    }
    const drop = path.match(/^\/_emulator\/connections\/([^/]+)\/drop$/);
    if (drop && request.method === 'POST') {
      return sendJson(response, this.dropWithoutDisconnect(decodeURIComponent(drop[1]!)) ? 200 : 404, {});
    }
    sendJson(response, 404, { message: 'Not found' });
  }
}

function reject(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${message}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

const faultTypes = { 410: 'GoneException', 429: 'LimitExceededException', 500: 'InternalServerErrorException' } as const;

function sendFault(response: ServerResponse, status: keyof typeof faultTypes): void {
  sendJson(response, status, { message: `injected ${status}` }, faultTypes[status]);
}

const principalOf = (connection: Pick<Connection, 'authorizer'>): string | undefined =>
  typeof connection.authorizer.principalId === 'string' ? connection.authorizer.principalId : undefined;
