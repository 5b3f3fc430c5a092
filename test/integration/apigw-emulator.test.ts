import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { routes, routeSelectionExpression, type FunctionName } from '../../lib/definitions.js';
import { WebSocketApiEmulator } from '../../local/apigw-websocket.js';

// The emulator on its own, with recording stub functions: what API Gateway would send them and do with their results.
type Invocation = { fn: FunctionName; event: any };
const invocations: Invocation[] = [];
let connectStatus = 200;
let failActions = false;

const invoke = async (fn: FunctionName, event: any): Promise<unknown> => {
  invocations.push({ fn, event });
  switch (fn) {
    case 'authorizer': {
      const token = event.queryStringParameters?.token;
      if (!token) throw new Error('Unauthorized');
      if (token === 'deny') return { principalId: 'x', policyDocument: { Statement: [{ Effect: 'Deny' }] } };
      if (token === 'boom') throw new Error('authorizer bug');
      return { principalId: token, policyDocument: { Statement: [{ Effect: 'Allow' }] }, context: { userId: token } };
    }
    case 'connect': {
      const protocol = event.headers['Sec-Websocket-Protocol'];
      return { statusCode: connectStatus, ...(protocol ? { headers: { 'Sec-WebSocket-Protocol': 'parley' } } : {}) };
    }
    case 'actions':
      if (failActions) throw new Error('handler crashed');
      return { statusCode: 200, body: JSON.stringify({ route: event.requestContext.routeKey, echo: event.body, b64: event.isBase64Encoded }) };
    default:
      return { statusCode: 200 };
  }
};

const emulator = new WebSocketApiEmulator({
  routes,
  routeSelectionExpression,
  authorizer: 'authorizer',
  invoke,
  limits: { idleTimeoutSeconds: 2, maxConnectionSeconds: 4 },
});
let management: ApiGatewayManagementApiClient;

beforeAll(async () => {
  await emulator.listen();
  management = new ApiGatewayManagementApiClient({
    endpoint: emulator.callbackUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  management.destroy();
  await emulator.close();
});

/** Opens a socket; resolves with it once open, or rejects with the HTTP status of a refused handshake. */
function open(query: string, protocols?: string[]): Promise<{ socket: WebSocket; frames: string[]; closed: Promise<number> }> {
  const socket = new WebSocket(`${emulator.url}${query}`, protocols);
  const frames: string[] = [];
  socket.on('message', (data) => frames.push(data.toString()));
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket, frames, closed }));
    socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    socket.once('error', reject);
  });
}

const until = async (condition: () => boolean, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const connectionOf = (user: string) =>
  invocations.filter((i) => i.fn === 'connect' && i.event.requestContext.authorizer.principalId === user).at(-1)!.event.requestContext
    .connectionId as string;

describe('$connect', () => {
  it('refuses with 401 when the authorizer says Unauthorized, 403 on Deny, 500 when it fails', async () => {
    await expect(open('')).rejects.toThrow('HTTP 401');
    await expect(open('?token=deny')).rejects.toThrow('HTTP 403');
    await expect(open('?token=boom')).rejects.toThrow('HTTP 500');
    await expect(open('/wrong-stage')).rejects.toThrow();
  });

  it('sends the authorizer a REQUEST event and passes its context to $connect and every route', async () => {
    const { socket } = await open('?token=alice&x=1');
    const auth = invocations.findLast((i) => i.fn === 'authorizer')!.event;
    expect(auth).toMatchObject({
      type: 'REQUEST',
      methodArn: expect.stringMatching(/^arn:aws:execute-api:us-east-1:\d{12}:\w+\/local\/\$connect$/),
      queryStringParameters: { token: 'alice', x: '1' },
      requestContext: { routeKey: '$connect', eventType: 'CONNECT', stage: 'local' },
    });
    const connect = invocations.findLast((i) => i.fn === 'connect')!.event;
    expect(connect.requestContext).toMatchObject({ eventType: 'CONNECT', authorizer: { userId: 'alice', principalId: 'alice' } });
    expect(connect.requestContext.connectionId).toMatch(/^[A-Za-z0-9_=-]+$/);
    socket.close();
  });

  it('rejects the handshake when $connect returns a non-2xx status', async () => {
    connectStatus = 403;
    try {
      await expect(open('?token=carol')).rejects.toThrow('HTTP 403');
    } finally {
      connectStatus = 200;
    }
  });

  it('echoes a subprotocol only when $connect returned one', async () => {
    const { socket } = await open('?token=dave', ['parley', 'ignored']);
    expect(socket.protocol).toBe('parley');
    socket.close();
  });
});

describe('routes', () => {
  it('selects the route from $request.body.action, falls back to $default (also for lifecycle route names), and sends binary frames to $default in base64', async () => {
    const { socket, frames } = await open('?token=erin');
    socket.send(JSON.stringify({ action: 'send', n: 1 }));
    socket.send(JSON.stringify({ action: 'nope' }));
    socket.send('not json');
    socket.send(Buffer.from([1, 2, 3]));
    socket.send(JSON.stringify({ action: '$disconnect' }));
    await until(() => frames.length === 5);
    const replies = frames.map((frame) => JSON.parse(frame));
    expect(replies).toEqual(
      expect.arrayContaining([
        { route: 'send', echo: JSON.stringify({ action: 'send', n: 1 }), b64: false },
        { route: '$default', echo: JSON.stringify({ action: 'nope' }), b64: false },
        { route: '$default', echo: 'not json', b64: false },
        { route: '$default', echo: Buffer.from([1, 2, 3]).toString('base64'), b64: true },
        { route: '$default', echo: JSON.stringify({ action: '$disconnect' }), b64: false },
      ]),
    );
    const message = invocations.findLast((i) => i.fn === 'actions')!.event;
    expect(message.requestContext).toMatchObject({ eventType: 'MESSAGE', messageDirection: 'IN', authorizer: { userId: 'erin' } });
    socket.close();
  });

  it('answers a crashed integration with API Gateway\'s "Internal server error" frame and keeps the connection', async () => {
    const { socket, frames } = await open('?token=fay');
    failActions = true;
    socket.send(JSON.stringify({ action: 'send' }));
    await until(() => frames.length === 1);
    failActions = false;
    expect(JSON.parse(frames[0]!)).toMatchObject({ message: 'Internal server error', connectionId: expect.any(String) });
    socket.send(JSON.stringify({ action: 'send' }));
    await until(() => frames.length === 2);
    socket.close();
  });

  it('closes with 1009 when a frame exceeds 32 KB, and runs $disconnect once', async () => {
    const { socket, closed } = await open('?token=gus');
    const id = connectionOf('gus');
    socket.send('x'.repeat(32 * 1024 + 1));
    expect(await closed).toBe(1009);
    await until(() => invocations.some((i) => i.fn === 'disconnect' && i.event.requestContext.connectionId === id));
    expect(invocations.filter((i) => i.fn === 'disconnect' && i.event.requestContext.connectionId === id)).toHaveLength(1);
  });
});

describe('@connections with the real Management API client', () => {
  it('posts to a connection, describes it, deletes it, then answers 410 GoneException', async () => {
    const { socket, frames, closed } = await open('?token=hal');
    const id = connectionOf('hal');
    await management.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('{"type":"hello"}') }));
    await until(() => frames.length === 1);
    expect(frames[0]).toBe('{"type":"hello"}');

    const described = await management.send(new GetConnectionCommand({ ConnectionId: id }));
    expect(described.ConnectedAt).toBeInstanceOf(Date);
    expect(described.Identity?.SourceIp).toBe('127.0.0.1');

    await expect(
      management.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.alloc(128 * 1024 + 1, 97) })),
    ).rejects.toBeInstanceOf(PayloadTooLargeException);

    await management.send(new DeleteConnectionCommand({ ConnectionId: id }));
    await closed;
    await until(() => invocations.some((i) => i.fn === 'disconnect' && i.event.requestContext.connectionId === id));
    await expect(management.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('x') }))).rejects.toBeInstanceOf(
      GoneException,
    );
    await expect(management.send(new GetConnectionCommand({ ConnectionId: id }))).rejects.toBeInstanceOf(GoneException);
    socket.terminate();
  });

  it('answers 410 for a connection dropped without $disconnect', async () => {
    await open('?token=ida');
    const id = connectionOf('ida');
    expect(emulator.dropWithoutDisconnect(id)).toBe(true);
    await expect(management.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('x') }))).rejects.toBeInstanceOf(
      GoneException,
    );
    expect(invocations.some((i) => i.fn === 'disconnect' && i.event.requestContext.connectionId === id)).toBe(false);
  });
});

describe('durations', () => {
  it('closes an idle connection with 1001 after the idle timeout and calls $disconnect', async () => {
    const { closed } = await open('?token=jan');
    const id = connectionOf('jan');
    const started = Date.now();
    expect(await closed).toBe(1001);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    await until(() => invocations.some((i) => i.fn === 'disconnect' && i.event.requestContext.connectionId === id));
    const disconnect = invocations.find((i) => i.fn === 'disconnect' && i.event.requestContext.connectionId === id)!.event;
    expect(disconnect.requestContext).toMatchObject({ eventType: 'DISCONNECT', disconnectStatusCode: 1001, authorizer: { userId: 'jan' } });
  });

  it('closes even an active connection at the maximum duration', async () => {
    const { socket, closed } = await open('?token=kim');
    const keepAlive = setInterval(() => socket.send(JSON.stringify({ action: 'heartbeat' })), 300);
    const started = Date.now();
    expect(await closed).toBe(1001);
    clearInterval(keepAlive);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3500);
  });
});
