import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WebSocket } from 'ws';
import { routes, routeSelectionExpression, webSocketLimits, type FunctionName } from '../../lib/definitions.js';
import { WebSocketApiEmulator } from '../../local/apigw-websocket.js';
import { localCredentials, localRegion } from '../../local/dynamodb.js';
import { expectNoOversizeFrames, frameStats, resetFrameStats } from '../support/frame-limits.js';
import { connectAs, uniqueUser } from '../support/ws-client.js';

// The emulator on its own, with recording stub functions: what API Gateway would send them and do with their results.
type Invocation = { fn: FunctionName; event: any };
const invocations: Invocation[] = [];
let connectStatus = 200;
let failActions = false;
const errors: string[] = [];
const { maxFrameBytes, maxMessageBytes } = webSocketLimits;

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
    case 'actions': {
      if (failActions) throw new Error('handler crashed');
      // `{"reply": n}` asks for a route response of exactly n bytes; large requests are answered with their size.
      const reply = /^\{"reply":(\d+)\}$/.exec(event.body)?.[1];
      if (reply) return { statusCode: 200, body: 'r'.repeat(Number(reply)) };
      if (event.body.length > 1024)
        return { statusCode: 200, body: JSON.stringify({ route: event.requestContext.routeKey, bytes: Buffer.byteLength(event.body) }) };
      return { statusCode: 200, body: JSON.stringify({ route: event.requestContext.routeKey, echo: event.body, b64: event.isBase64Encoded }) };
    }
    default:
      return { statusCode: 200 };
  }
};

let emulator: WebSocketApiEmulator;
let management: ApiGatewayManagementApiClient;

/** A real Management API client for the emulator, signing with the local credentials unless told otherwise. */
function managementClient(overrides: Partial<ConstructorParameters<typeof ApiGatewayManagementApiClient>[0]> = {}) {
  return new ApiGatewayManagementApiClient({
    endpoint: emulator.callbackUrl,
    region: localRegion,
    credentials: localCredentials,
    maxAttempts: 1,
    ...overrides,
  });
}

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
  invocations.filter((i) => i.fn === 'connect' && i.event.requestContext.authorizer.principalId === user).at(-1)!.event.requestContext.connectionId as string;

/** Descriptors this process has open. */
const openDescriptors = () => readdirSync('/proc/self/fd').length;

/** Pids of the emulator's socket processes (children of this process). */
const socketProcessPids = () =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return cmdline.includes('socket-process') && readFileSync(`/proc/${pid}/status`, 'utf8').includes(`PPid:\t${process.pid}\n`);
      } catch {
        return false;
      }
    })
    .map(Number);

// Every case runs with the connections held in this process and spread over socket processes (what the bench uses
// past one process's descriptor limit): the wire behaviour must not depend on where a socket lives.
describe.each([
  { where: 'in this process', socketProcesses: 0 },
  { where: 'in 2 socket processes', socketProcesses: 2 },
])('connections held $where', ({ socketProcesses }) => {
  beforeAll(async () => {
    emulator = new WebSocketApiEmulator({
      routes,
      routeSelectionExpression,
      authorizer: 'authorizer',
      invoke,
      limits: { idleTimeoutSeconds: 2, maxConnectionSeconds: 4 },
      onError: (message) => errors.push(message),
      socketProcesses,
    });
    await emulator.listen();
    management = managementClient();
  });
  afterAll(async () => {
    management.destroy();
    await emulator.close();
  });

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
  });

  /** Sends `text` as one message in frames of `frameBytes` (the last one may be shorter). */
  function sendFragmented(socket: WebSocket, text: string, frameBytes: number): void {
    for (let offset = 0; offset < text.length; offset += frameBytes) {
      socket.send(text.slice(offset, offset + frameBytes), { fin: offset + frameBytes >= text.length });
    }
  }

  const disconnects = (id: string) => invocations.filter((i) => i.fn === 'disconnect' && i.event.requestContext.connectionId === id);

  describe('frame and message limits (32 KB per frame, 128 KB per message)', () => {
    it('closes with 1009 when a frame exceeds 32 KB, records it, and runs $disconnect once without invoking the route', async () => {
      const { socket, closed } = await open('?token=gus');
      const id = connectionOf('gus');
      const routed = invocations.filter((i) => i.fn === 'actions').length;
      socket.send('x'.repeat(maxFrameBytes + 1));
      expect(await closed).toBe(1009);
      await until(() => disconnects(id).length > 0);
      expect(disconnects(id)).toHaveLength(1);
      expect(invocations.filter((i) => i.fn === 'actions')).toHaveLength(routed);
      expect(emulator.frameStats(['gus']).violations).toEqual([
        expect.objectContaining({
          direction: 'clientToServer',
          kind: 'frame',
          path: 'client',
          bytes: maxFrameBytes + 1,
          limitBytes: maxFrameBytes,
          connectionId: id,
          principalId: 'gus',
          outcome: 'closed1009',
        }),
      ]);
    });

    it('accepts a 128 KB message sent as four 32 KB frames and hands the reassembled message to the route', async () => {
      const { socket, frames } = await open('?token=lia');
      const shell = JSON.stringify({ action: 'send', pad: '' });
      const body = shell.replace('""', `"${'p'.repeat(maxMessageBytes - shell.length)}"`);
      expect(Buffer.byteLength(body)).toBe(maxMessageBytes);
      sendFragmented(socket, body, maxFrameBytes);
      await until(() => frames.length === 1);
      expect(JSON.parse(frames[0]!)).toEqual({ route: 'send', bytes: maxMessageBytes });
      expect(invocations.findLast((i) => i.fn === 'actions')!.event.body).toBe(body);
      const stats = emulator.frameStats(['lia']);
      expect(stats.violations).toEqual([]);
      expect(stats.clientToServer).toEqual({ frames: 4, messages: 1, largestFrameBytes: maxFrameBytes, largestMessageBytes: maxMessageBytes });
      expect(socket.readyState).toBe(WebSocket.OPEN);
      socket.close();
    });

    it('closes with 1009 when frames of 32 KB add up to more than 128 KB, and runs $disconnect once', async () => {
      const { socket, closed } = await open('?token=max');
      const id = connectionOf('max');
      sendFragmented(socket, 'm'.repeat(maxMessageBytes + 1), maxFrameBytes);
      expect(await closed).toBe(1009);
      await until(() => disconnects(id).length > 0);
      expect(disconnects(id)).toHaveLength(1);
      expect(emulator.frameStats(['max']).violations).toEqual([
        expect.objectContaining({
          direction: 'clientToServer',
          kind: 'message',
          bytes: maxMessageBytes + 1,
          limitBytes: maxMessageBytes,
          outcome: 'closed1009',
        }),
      ]);
    });

    it('sends a 128 KB route response in frames of at most 32 KB', async () => {
      const { socket, frames } = await open('?token=ned');
      socket.send(JSON.stringify({ reply: maxMessageBytes }));
      await until(() => frames.length === 1);
      expect(frames[0]).toBe('r'.repeat(maxMessageBytes));
      const { serverToClient, violations } = emulator.frameStats(['ned']);
      expect(violations).toEqual([]);
      expect(serverToClient).toEqual({ frames: 4, messages: 1, largestFrameBytes: maxFrameBytes, largestMessageBytes: maxMessageBytes });
      socket.close();
    });

    it('drops a route response over 128 KB, keeps the connection, reports it and records the violation', async () => {
      const { socket, frames } = await open('?token=oda');
      const id = connectionOf('oda');
      socket.send(JSON.stringify({ reply: maxMessageBytes + 1 }));
      await until(() => emulator.frameStats(['oda']).violations.length === 1);
      expect(emulator.frameStats(['oda']).violations[0]).toMatchObject({
        direction: 'serverToClient',
        kind: 'message',
        path: 'routeResponse',
        routeKey: '$default',
        bytes: maxMessageBytes + 1,
        connectionId: id,
        outcome: 'dropped',
      });
      expect(errors).toContain('$default route response dropped');
      // The connection stays usable: the next request gets its reply, and it is the only frame the client got.
      socket.send(JSON.stringify({ reply: 2 }));
      await until(() => frames.length === 1);
      expect(frames).toEqual(['rr']);
      socket.close();
    });

    it('records a 413 @connections POST as a violation and delivers a POST of exactly 128 KB', async () => {
      const { socket, frames } = await open('?token=pia');
      const id = connectionOf('pia');
      await expect(management.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.alloc(maxMessageBytes + 1, 97) }))).rejects.toBeInstanceOf(
        PayloadTooLargeException,
      );
      await management.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.alloc(maxMessageBytes, 98) }));
      await until(() => frames.length === 1);
      expect(frames[0]).toBe('b'.repeat(maxMessageBytes));
      const stats = emulator.frameStats(['pia']);
      expect(stats.violations).toEqual([
        expect.objectContaining({ direction: 'serverToClient', path: 'postToConnection', bytes: maxMessageBytes + 1, outcome: 'rejected413' }),
      ]);
      expect(stats.serverToClient).toMatchObject({ messages: 1, largestFrameBytes: maxFrameBytes, largestMessageBytes: maxMessageBytes });
      socket.close();
    });

    it('keeps the accounting per principal, serves it on the control API, and resets it per principal or entirely', async () => {
      const { socket, frames } = await open('?token=quin');
      socket.send(JSON.stringify({ reply: 10 }));
      await until(() => frames.length === 1);
      const control = `${new URL(emulator.callbackUrl).origin}/_emulator/frames`;
      const viaApi = await (await fetch(`${control}?principalId=quin&principalId=nobody`)).json();
      expect(viaApi).toEqual(emulator.frameStats(['quin']));
      expect(viaApi.clientToServer).toMatchObject({ frames: 1, messages: 1 });
      expect(emulator.frameStats(['nobody'])).toEqual(emulator.frameStats([]));
      expect((await fetch(`${control}?principalId=`)).status).toBe(400);

      expect((await fetch(`${control}?principalId=quin`, { method: 'DELETE' })).status).toBe(200);
      expect(emulator.frameStats(['quin']).clientToServer.frames).toBe(0);
      expect(emulator.frameStats().clientToServer.frames).toBeGreaterThan(0);
      emulator.resetFrameStats();
      expect(emulator.frameStats()).toEqual(emulator.frameStats([]));
      socket.close();
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

      await expect(management.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.alloc(128 * 1024 + 1, 97) }))).rejects.toBeInstanceOf(
        PayloadTooLargeException,
      );

      await management.send(new DeleteConnectionCommand({ ConnectionId: id }));
      await closed;
      await until(() => invocations.some((i) => i.fn === 'disconnect' && i.event.requestContext.connectionId === id));
      await expect(management.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('x') }))).rejects.toBeInstanceOf(GoneException);
      await expect(management.send(new GetConnectionCommand({ ConnectionId: id }))).rejects.toBeInstanceOf(GoneException);
      socket.terminate();
    });

    it('answers 410 for a connection dropped without $disconnect', async () => {
      await open('?token=ida');
      const id = connectionOf('ida');
      expect(emulator.dropWithoutDisconnect(id)).toBe(true);
      await expect(management.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('x') }))).rejects.toBeInstanceOf(GoneException);
      expect(invocations.some((i) => i.fn === 'disconnect' && i.event.requestContext.connectionId === id)).toBe(false);
    });
  });

  describe('@connections requires a valid SigV4 signature (execute-api, local region and credentials)', () => {
    const post = (client: ApiGatewayManagementApiClient, id: string, data = 'x') =>
      client.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from(data) }));

    /** The HTTP status and AWS error type of a rejected call. */
    const rejection = (promise: Promise<unknown>) =>
      promise.then(
        () => 'accepted',
        (error: { name: string; $metadata?: { httpStatusCode?: number } }) => `${error.$metadata?.httpStatusCode} ${error.name}`,
      );

    it('answers unsigned POST, GET and DELETE with 403 Missing Authentication Token and leaves the connection alone', async () => {
      const { socket, frames } = await open('?token=rae');
      const id = connectionOf('rae');
      const url = `${emulator.callbackUrl}/@connections/${encodeURIComponent(id)}`;
      for (const method of ['POST', 'GET', 'DELETE']) {
        const response = await fetch(url, { method, body: method === 'POST' ? 'unsigned' : undefined });
        expect(response.status, method).toBe(403);
        expect(response.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
        expect(await response.json()).toEqual({ message: 'Missing Authentication Token' });
      }
      const forged = await fetch(url, { method: 'POST', body: 'x', headers: { authorization: 'AWS4-HMAC-SHA256 nonsense' } });
      expect(forged.status).toBe(403);
      await post(management, id, 'signed');
      await until(() => frames.length === 1);
      expect(frames).toEqual(['signed']);
      expect(socket.readyState).toBe(WebSocket.OPEN);
      socket.close();
    });

    it('answers a wrong secret, an unknown access key, another region, a changed body and a stale date with 403', async () => {
      const { socket, frames } = await open('?token=sol');
      const id = connectionOf('sol');
      const clients = {
        wrongSecret: managementClient({ credentials: { ...localCredentials, secretAccessKey: 'not-the-secret' } }),
        unknownKey: managementClient({ credentials: { accessKeyId: 'AKIDSOMEONEELSE', secretAccessKey: localCredentials.secretAccessKey } }),
        otherRegion: managementClient({ region: 'eu-west-1' }),
        // Signs for a clock 10 minutes behind: outside the 5 minutes AWS allows.
        staleDate: managementClient({ systemClockOffset: -10 * 60 * 1000 }),
        changedBody: managementClient(),
      };
      // Swaps the body after the request was signed (the deserialize step runs between signing and sending).
      clients.changedBody.middlewareStack.add(
        (next) => async (args: any) => {
          args.request.body = Buffer.from('tampered');
          args.request.headers['content-length'] = '8';
          return next(args);
        },
        { step: 'deserialize' },
      );
      try {
        expect(await rejection(post(clients.wrongSecret, id))).toBe('403 InvalidSignatureException');
        expect(await rejection(post(clients.unknownKey, id))).toBe('403 UnrecognizedClientException');
        expect(await rejection(post(clients.otherRegion, id))).toBe('403 InvalidSignatureException');
        expect(await rejection(post(clients.staleDate, id))).toBe('403 InvalidSignatureException');
        expect(await rejection(post(clients.changedBody, id, 'original'))).toBe('403 InvalidSignatureException');
        expect(await rejection(clients.wrongSecret.send(new DeleteConnectionCommand({ ConnectionId: id })))).toBe('403 InvalidSignatureException');
      } finally {
        for (const client of Object.values(clients)) client.destroy();
      }
      // Nothing got through; the correctly signed client still does.
      expect(frames).toEqual([]);
      await post(management, id, 'ok');
      await until(() => frames.length === 1);
      expect(socket.readyState).toBe(WebSocket.OPEN);
      socket.close();
    });
  });

  describe('@connections bad input', () => {
    it('answers a correctly signed call with a malformed connection id with 400, not a crash', async () => {
      const client = managementClient();
      // Rewrites the path before signing (build step), so the signature is valid and only the id is bad.
      client.middlewareStack.add(
        (next) => async (args: any) => {
          args.request.path = `/${emulator.stage}/@connections/%E0%A4%A`;
          return next(args);
        },
        { step: 'build' },
      );
      try {
        const error = await client.send(new GetConnectionCommand({ ConnectionId: 'placeholder' })).catch((caught: unknown) => caught);
        expect(error).toMatchObject({ name: 'BadRequestException', $metadata: { httpStatusCode: 400 } });
      } finally {
        client.destroy();
      }
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

  describe.runIf(socketProcesses > 0)('socket processes', () => {
    it("hold the connections' descriptors, so this process's open files do not grow with its connections", async () => {
      const before = openDescriptors();
      const sockets = await Promise.all(Array.from({ length: 40 }, (_, n) => open(`?token=fd${n}`)));
      // Each client socket is one descriptor of this (the test's) process; the server ends live in the socket processes.
      expect(openDescriptors() - before).toBeLessThan(40 + 10);
      await Promise.all(
        sockets.map(async ({ socket, frames }, n) => {
          socket.send(JSON.stringify({ action: 'send', n }));
          await until(() => frames.length === 1);
          socket.close();
        }),
      );
    });

    it('close the connections of a process that dies with 1006, run $disconnect for each, and are replaced', async () => {
      const users = ['vic', 'wes', 'xan', 'yul'];
      const clients = await Promise.all(users.map((user) => open(`?token=${user}`)));
      const ids = users.map(connectionOf);
      expect(socketProcessPids()).toHaveLength(2);
      const [victim] = socketProcessPids();
      process.kill(victim!, 'SIGKILL');
      await until(() => socketProcessPids().length === 2 && !socketProcessPids().includes(victim!));
      // Connections go to the process holding the fewest, so some of the four lived in the victim: each of those is
      // closed and runs $disconnect once, with 1006; the others stay open.
      const settled = () => clients.every(({ socket }, n) => (socket.readyState === WebSocket.CLOSED) === disconnects(ids[n]!).length > 0);
      await until(() => settled() && clients.some(({ socket }) => socket.readyState === WebSocket.CLOSED));
      for (const id of ids.filter((id) => disconnects(id).length > 0)) {
        expect(disconnects(id)).toHaveLength(1);
        expect(disconnects(id)[0]!.event.requestContext).toMatchObject({ disconnectStatusCode: 1006 });
      }
      expect(clients.some(({ socket }) => socket.readyState === WebSocket.OPEN)).toBe(true);
      // The survivors and new connections keep working.
      const fresh = await open('?token=zed');
      for (const { socket, frames } of [...clients.filter(({ socket }) => socket.readyState === WebSocket.OPEN), fresh]) {
        socket.send(JSON.stringify({ action: 'send' }));
        await until(() => frames.length === 1);
        socket.close();
      }
    });
  });
});

describe('frame-limits helper against the shared local stack', () => {
  const info = inject('parley');

  it("finds a user's oversized frame, ignores other users, and forgets it after a reset", async () => {
    const [offender, bystander] = [uniqueUser('oversize'), uniqueUser('fits')];
    const [bad, good] = await Promise.all([connectAs(info, offender), connectAs(info, bystander)]);
    await resetFrameStats([offender, good]);
    expect(await good.request({ action: 'heartbeat' })).toMatchObject({ requestId: expect.any(String) });
    bad.sendRaw('x'.repeat(maxFrameBytes + 1));
    expect((await bad.closed).code).toBe(1009);

    await expect(expectNoOversizeFrames([offender])).rejects.toThrow(/over API Gateway limits/);
    const stats = await frameStats([bad]);
    expect(stats.violations).toEqual([expect.objectContaining({ principalId: offender, kind: 'frame', bytes: maxFrameBytes + 1 })]);
    const clean = await expectNoOversizeFrames([good]);
    expect(clean.clientToServer.messages).toBe(1);
    expect(clean.serverToClient.messages).toBeGreaterThanOrEqual(1);

    await resetFrameStats([offender]);
    await expectNoOversizeFrames([offender, bystander]);
    await expect(expectNoOversizeFrames([])).rejects.toThrow(/name the users/);
    await good.close();
  });
});
