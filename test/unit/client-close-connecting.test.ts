import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ParleyClient, type ParleyClientOptions } from '../../client/index.js';

// A TCP server that accepts and never answers the WebSocket upgrade: the client's socket stays connecting.
const sockets: Socket[] = [];
const server = createServer((socket) => sockets.push(socket));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('ParleyClient on Node with ws', () => {
  it('closes while its socket is still connecting without an uncaught error', async () => {
    const client = new ParleyClient({
      url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/local`,
      userId: 'alice',
      token: () => 'token',
      WebSocket: WebSocket as unknown as ParleyClientOptions['WebSocket'],
    });
    void client.connect();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sockets).toHaveLength(1);
    client.close();
    // ws emits the abort as an error event on the next tick; unhandled, vitest fails the run.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.status.state).toBe('closed');
  });
});
