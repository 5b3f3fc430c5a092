/**
 * One client process of the connections bench (`bench/connections.ts`). A process may hold only as many sockets as
 * its file-descriptor limit, and each loopback source address only ~28,000 ephemeral ports towards one server port,
 * so the bench spreads its connections over several of these processes, each with its own source addresses.
 * Commands arrive over IPC; the process answers each with one reply.
 */
import { WebSocket } from 'ws';
import { summarize, type LatencySummary } from './metrics.js';

/** A command from the bench. */
export type WorkerCommand =
  | {
      kind: 'connect';
      wsUrl: string;
      localAddresses: string[];
      users: { userId: string; token: string }[];
      ratePerSecond: number;
      deadline: number;
      heartbeatIntervalMs: number;
    }
  | { kind: 'reset' }
  | { kind: 'burst'; seconds: number; inFlight: number }
  | { kind: 'trickle'; pairs: { a: number; b: number; peer: string }[]; intervalMs: number }
  | { kind: 'stats' }
  | { kind: 'close' };

/** What the process reports after `connect` and for `stats`. */
export interface WorkerStats {
  open: number;
  failed: Record<string, number>;
  closedAfterOpen: number;
  connectMs: LatencySummary;
  heartbeats: { sent: number; answered: number; latency: LatencySummary };
  trickle: { sent: number; acked: number; delivered: number; latency: LatencySummary };
  rssBytes: number;
}

const send = (message: unknown) => process.send!(message);
const sockets: WebSocket[] = [];
let failed: Record<string, number> = {};
let closedAfterOpen = 0;
const connectMs: number[] = [];
const heartbeat = { sent: 0, answered: 0, latencies: [] as number[] };
const trickle = { sent: 0, acked: 0, delivered: 0, latencies: [] as number[] };
/** Heartbeats awaiting their pong, by socket; answered in order (one socket's replies keep its requests' order). */
const pending = new Map<WebSocket, { sentAt: number; answered: () => void }[]>();
let timers: NodeJS.Timeout[] = [];
/** Pending `createConversation` requests of the trickle, by requestId. */
const created = new Map<string, (conversationId: string) => void>();
let nextRequest = 0;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function onFrame(ws: WebSocket, data: Buffer): void {
  const frame = JSON.parse(data.toString()) as Record<string, any>;
  if (frame.type === 'pong') {
    const request = pending.get(ws)?.shift();
    heartbeat.answered++;
    if (request) {
      heartbeat.latencies.push(now() - request.sentAt);
      request.answered();
    }
  } else if (frame.type === 'conversation' && typeof frame.requestId === 'string') {
    created.get(frame.requestId)?.(String(frame.conversation?.conversationId));
    created.delete(frame.requestId);
  } else if (frame.type === 'ack') {
    trickle.acked++;
  } else if (frame.type === 'message') {
    const sentAt = Number(String(frame.message?.body ?? '').split(':')[1]);
    if (Number.isFinite(sentAt)) {
      trickle.delivered++;
      trickle.latencies.push(now() - sentAt);
    }
  } else if (frame.type === 'error') {
    failed[`frame:${frame.code}`] = (failed[`frame:${frame.code}`] ?? 0) + 1;
  }
}

function open(wsUrl: string, localAddress: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const ws = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`, { localAddress, perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('timeout'));
    }, 30_000);
    ws.once('open', () => {
      clearTimeout(timer);
      connectMs.push(performance.now() - started);
      ws.on('message', (data: Buffer) => onFrame(ws, data));
      ws.once('close', () => closedAfterOpen++);
      resolve(ws);
    });
    ws.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      reject(new Error(`http ${response.statusCode}`));
    });
    ws.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(error.code ?? error.message));
    });
  });
}

/**
 * Opens one socket per user at the given rate, up to the deadline, 64 handshakes in flight at most. Each socket
 * heartbeats from when it opened, as the SDK does: a long ramp must not leave the first ones idle.
 */
async function connectAll(command: Extract<WorkerCommand, { kind: 'connect' }>): Promise<void> {
  const started = performance.now();
  let index = 0;
  const worker = async () => {
    while (index < command.users.length && Date.now() < command.deadline) {
      const i = index++;
      const due = started + (i / command.ratePerSecond) * 1000;
      if (due > performance.now()) await sleep(due - performance.now());
      const user = command.users[i]!;
      try {
        const ws = await open(command.wsUrl, command.localAddresses[i % command.localAddresses.length]!, user.token);
        sockets[i] = ws;
        startHeartbeats(ws, command.heartbeatIntervalMs);
      } catch (error) {
        const code = (error as Error).message;
        failed[code] = (failed[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}

const live = () => sockets.filter((ws) => ws?.readyState === WebSocket.OPEN);

/** Sends a heartbeat; resolves on its pong, or after 5 s without one (counted as unanswered). */
function sendHeartbeat(ws: WebSocket): Promise<void> {
  if (ws.readyState !== WebSocket.OPEN) return Promise.resolve();
  let queue = pending.get(ws);
  if (!queue) pending.set(ws, (queue = []));
  heartbeat.sent++;
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 5000);
    queue.push({
      sentAt: now(),
      answered: () => {
        clearTimeout(timer);
        resolve();
      },
    });
    ws.send(JSON.stringify({ action: 'heartbeat', requestId: `h${nextRequest++}` }));
  });
}

/** The socket heartbeats once per interval, from a random phase (the sockets of a ramp open in a steady stream). */
function startHeartbeats(ws: WebSocket, intervalMs: number): void {
  const first = setTimeout(() => {
    void sendHeartbeat(ws);
    timers.push(setInterval(() => void sendHeartbeat(ws), intervalMs));
  }, Math.random() * intervalMs);
  timers.push(first);
}

/** Closed loop: `inFlight` heartbeats outstanding at all times, round robin over the sockets. */
async function burst(seconds: number, inFlight: number): Promise<void> {
  const sockets = live();
  if (sockets.length === 0) return;
  const end = Date.now() + seconds * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < end) await sendHeartbeat(sockets[next++ % sockets.length]!);
    }),
  );
}

/** Opens the pair's direct conversation from its first socket; resolves with its id, or '' (no trickle) after 10 s. */
function openDirect(ws: WebSocket | undefined, peer: string): Promise<string> {
  if (ws?.readyState !== WebSocket.OPEN) return Promise.resolve('');
  const requestId = `c${nextRequest++}`;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(''), 10_000);
    created.set(requestId, (conversationId) => {
      clearTimeout(timer);
      resolve(conversationId);
    });
    ws.send(JSON.stringify({ action: 'createConversation', requestId, kind: 'direct', userId: peer }));
  });
}

/** Each pair opens a direct conversation, then sends one message every interval, alternating direction; bodies carry the send time. */
async function startTrickle(pairs: Extract<WorkerCommand, { kind: 'trickle' }>['pairs'], intervalMs: number): Promise<void> {
  const conversations = await Promise.all(pairs.map((pair) => openDirect(sockets[pair.a], pair.peer)));
  pairs.forEach((pair, n) => {
    const conversationId = conversations[n]!;
    if (!conversationId) return;
    let turn = 0;
    const tick = () => {
      const ws = sockets[turn++ % 2 === 0 ? pair.a : pair.b];
      if (ws?.readyState !== WebSocket.OPEN) return;
      trickle.sent++;
      ws.send(
        JSON.stringify({
          action: 'send',
          requestId: `t${nextRequest++}`,
          conversationId,
          clientMessageId: `t-${n}-${turn}`,
          body: `t:${now()}`,
        }),
      );
    };
    timers.push(setTimeout(() => timers.push(setInterval(tick, intervalMs)), Math.random() * intervalMs));
  });
}

function stats(): WorkerStats {
  return {
    open: live().length,
    failed,
    closedAfterOpen,
    connectMs: summarize(connectMs),
    heartbeats: { sent: heartbeat.sent, answered: heartbeat.answered, latency: summarize(heartbeat.latencies) },
    trickle: { sent: trickle.sent, acked: trickle.acked, delivered: trickle.delivered, latency: summarize(trickle.latencies) },
    rssBytes: process.memoryUsage().rss,
  };
}

/** Starts a new measurement window: counters and samples from here on. */
function resetSamples(): void {
  failed = {};
  closedAfterOpen = 0;
  connectMs.length = 0;
  Object.assign(heartbeat, { sent: 0, answered: 0, latencies: [] });
  Object.assign(trickle, { sent: 0, acked: 0, delivered: 0, latencies: [] });
}

process.on('message', async (command: WorkerCommand) => {
  switch (command.kind) {
    case 'connect':
      await connectAll(command);
      send(stats());
      break;
    case 'reset':
      resetSamples();
      send({ ok: true });
      break;
    case 'burst':
      resetSamples();
      await burst(command.seconds, command.inFlight);
      send(stats());
      break;
    case 'trickle':
      await startTrickle(command.pairs, command.intervalMs);
      send({ ok: true });
      break;
    case 'stats':
      send(stats());
      break;
    case 'close':
      for (const timer of timers) clearTimeout(timer);
      timers = [];
      for (const ws of sockets) ws?.terminate();
      send({ ok: true });
      process.exit(0);
  }
});
