/**
 * Node only. A TCP proxy in front of a WebSocket endpoint that a test can cut at any moment, like a network
 * drop: both sides see the connection die without a close handshake, possibly mid-frame.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
}

/** A kill-switch proxy for one upstream host:port. */
export class TcpProxy {
  /** While true, new connections are cut at once (an outage). */
  refuse = false;
  /** Connections accepted so far. */
  accepted = 0;
  private readonly pairs = new Set<Pair>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Starts a proxy on 127.0.0.1 (random port) forwarding to `host:port`. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = createServer((client) => proxy.accept(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('proxy has no port');
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  /** Rewrites a ws:// URL so it goes through this proxy (path and query kept). */
  wrap(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  /** Number of open proxied connections. */
  get open(): number {
    return this.pairs.size;
  }

  /** Cuts every open connection. */
  killAll(): number {
    const n = this.pairs.size;
    for (const pair of [...this.pairs]) this.cut(pair);
    return n;
  }

  /** Cuts one open connection picked with `random`; returns whether one was open. */
  killOne(random: () => number = Math.random): boolean {
    const all = [...this.pairs];
    const pair = all[Math.floor(random() * all.length)];
    if (!pair) return false;
    this.cut(pair);
    return true;
  }

  /** Stops the proxy and cuts everything. */
  async close(): Promise<void> {
    this.killAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    this.accepted++;
    if (this.refuse) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => this.cut(pair);
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }

  private cut(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    // resetAndDestroy sends RST: neither side gets a clean FIN, as when a NAT mapping or Wi-Fi drops.
    for (const socket of [pair.client, pair.upstream]) {
      if (typeof socket.resetAndDestroy === 'function' && socket.readyState !== 'opening') socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}
