import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { webSocketLimits, type FunctionName, type RouteDefinition } from '../lib/definitions.js';
import { FaultRegistry, parseFaultRules, type FaultRule } from './faults.js';

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
}

interface Connection {
  id: string;
  socket: WebSocket;
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

const region = 'us-east-1';
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
 * `$default`, two-way route responses, `$disconnect`, the `@connections` management endpoint (POST, GET, DELETE,
 * 410 GoneException), idle and maximum connection durations and frame/message size limits. It invokes the same
 * handler code Lambda runs, with the event shapes API Gateway sends.
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
  private readonly connections = new Map<string, Connection>();
  private readonly wss: WebSocketServer;
  /** The subprotocol $connect returned for an upgrade request, if any. */
  private readonly protocols = new WeakMap<IncomingMessage, string>();
  private readonly server: Server;
  private readonly routeKeys: Map<string, RouteDefinition>;
  private pendingDisconnects = new Set<Promise<void>>();

  constructor(private readonly options: WebSocketApiEmulatorOptions) {
    this.stage = options.stage ?? 'local';
    this.limits = { ...webSocketLimits, ...options.limits };
    this.routeKeys = new Map(options.routes.map((route) => [route.routeKey, route]));
    // ws applies maxPayload per message and closes with 1009 above it, as API Gateway does above 128 KB.
    // A client that offered a subprotocol gets one only when $connect returned it; otherwise its handshake fails, as in AWS.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxMessageBytes,
      handleProtocols: (offered, request) => {
        const chosen = this.protocols.get(request);
        return chosen && offered.has(chosen) ? chosen : false;
      },
    });
    this.server = createServer((request, response) => void this.handleHttp(request, response));
    this.server.on('upgrade', (request, socket, head) => void this.handleUpgrade(request, socket, head));
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
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
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Drops a connection without invoking $disconnect, as when API Gateway's best-effort $disconnect is lost. */
  dropWithoutDisconnect(connectionId: string): boolean {
    const connection = this.connections.get(connectionId);
    if (!connection) return false;
    connection.closing = true;
    this.forget(connection);
    connection.socket.terminate();
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
      domainName: `${this.apiId}.execute-api.${region}.amazonaws.com`,
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
        methodArn: `arn:aws:execute-api:${region}:${accountId}:${this.apiId}/${this.stage}/$connect`,
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
    if (protocol) this.protocols.set(request, protocol);

    this.wss.handleUpgrade(request, socket, head, (ws) => {
      const connection: Connection = { ...pending, socket: ws, lastActiveAt: new Date(), headers, authorizer, timers: [], closing: false };
      this.connections.set(connection.id, connection);
      this.stats.connects += 1;
      this.stats.openConnections = this.connections.size;
      this.armTimers(connection);
      ws.on('message', (data, isBinary) => this.handleMessage(connection, data, isBinary));
      ws.on('close', (code, reason) => this.disconnect(connection, code, reason.toString()));
      // ws follows every error (e.g. 1009 above maxPayload) with 'close', which runs $disconnect.
      ws.on('error', () => undefined);
    });
  }

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

  private handleMessage(connection: Connection, data: RawData, isBinary: boolean): void {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    // ws hands over whole messages; browsers and `ws` send each message as one frame, so this is the frame limit.
    if (bytes.length > this.limits.maxFrameBytes) {
      this.disconnect(connection, 1009, 'Message too big');
      return;
    }
    this.stats.messagesIn += 1;
    connection.lastActiveAt = new Date();
    this.armTimers(connection);
    const body = isBinary ? bytes.toString('base64') : bytes.toString('utf8');
    // Binary frames cannot be routed on a JSON field; API Gateway sends them to $default.
    const selected = isBinary ? undefined : selectRouteKey(this.options.routeSelectionExpression, body);
    // $connect and $disconnect are lifecycle routes: a message naming them goes to $default, as in AWS.
    const routable = selected && selected !== '$connect' && selected !== '$disconnect' ? selected : undefined;
    const route = (routable && this.routeKeys.get(routable)) || this.routeKeys.get('$default');
    const requestContext = { ...this.requestContext(connection, route?.routeKey ?? '$default', 'MESSAGE'), messageId: randomUUID(), authorizer: connection.authorizer };
    if (!route) {
      this.sendFrame(connection, JSON.stringify({ message: 'Forbidden', connectionId: connection.id, requestId: requestContext.requestId }));
      return;
    }
    void this.options
      .invoke(route.function, { requestContext, body, isBase64Encoded: isBinary })
      .then((result) => {
        if (!route.returnResponse) return;
        const responseBody = (result as { body?: unknown } | undefined)?.body;
        if (typeof responseBody === 'string' && responseBody.length > 0) this.sendFrame(connection, responseBody);
      })
      .catch((error: unknown) => {
        this.options.onError?.(`${route.routeKey} failed`, error);
        this.sendFrame(
          connection,
          JSON.stringify({ message: 'Internal server error', connectionId: connection.id, requestId: requestContext.requestId }),
        );
      });
  }

  private sendFrame(connection: Connection, data: string | Buffer): void {
    if (connection.socket.readyState === WebSocket.OPEN) connection.socket.send(data);
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
    if (connection.socket.readyState === WebSocket.OPEN) connection.socket.close(code, reason);
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
    if (management) return this.handleManagement(request, response, decodeURIComponent(management[1]!));
    if (url.pathname.startsWith('/_emulator/')) return this.handleControl(request, response, url.pathname);
    sendJson(response, 403, { message: 'Forbidden' }, 'ForbiddenException');
  }

  /** The Management API (`@connections`), as `@aws-sdk/client-apigatewaymanagementapi` calls it. */
  private async handleManagement(request: IncomingMessage, response: ServerResponse, connectionId: string): Promise<void> {
    const body = await readBody(request, this.limits.maxMessageBytes + 1);
    if (!connectionIdPattern.test(connectionId)) return sendJson(response, 400, { message: 'Invalid connectionId' }, 'BadRequestException');
    if (request.method === 'POST') this.stats.postToConnection += 1;
    const fault = request.method === 'POST' ? this.faults.take('postToConnection', { connectionId, text: () => body.toString('utf8') }) : undefined;
    if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault?.status) return sendFault(response, fault.status);

    const connection = this.connections.get(connectionId);
    // A socket that is closing takes no more data: gone, as in AWS, rather than a 200 for a frame never sent.
    if (!connection || connection.socket.readyState !== WebSocket.OPEN) {
      if (request.method === 'POST') this.stats.gone += 1;
      return sendJson(response, 410, {}, 'GoneException');
    }
    switch (request.method) {
      case 'POST': {
        if (body.length > this.limits.maxMessageBytes) return sendJson(response, 413, { message: 'Request entity too large' }, 'PayloadTooLargeException');
        // A client that stopped reading: API Gateway answers 429 rather than buffering without bound.
        if (connection.socket.bufferedAmount > 4 * this.limits.maxMessageBytes) {
          return sendJson(response, 429, { message: 'Too Many Requests' }, 'LimitExceededException');
        }
        connection.socket.send(body.toString('utf8'));
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

  /** Local-only switches for tests: faults, stats, connections, and dropping a connection without $disconnect. */
  private async handleControl(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const body = await readBody(request, 64 * 1024);
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
    if (path === '/_emulator/connections') {
      return sendJson(response, 200, {
        connections: [...this.connections.values()].map((c) => ({ connectionId: c.id, principalId: c.authorizer.principalId, connectedAt: c.connectedAt.toISOString() })),
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

function sendJson(response: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    ...(errorType ? { 'x-amzn-ErrorType': errorType } : {}),
  });
  response.end(payload);
}

const faultTypes = { 410: 'GoneException', 429: 'LimitExceededException', 500: 'InternalServerErrorException' } as const;

function sendFault(response: ServerResponse, status: keyof typeof faultTypes): void {
  sendJson(response, status, { message: `injected ${status}` }, faultTypes[status]);
}

async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
