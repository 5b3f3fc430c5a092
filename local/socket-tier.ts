import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SocketCommand, SocketReport } from './socket-process.js';
import { SocketHost, type SendResult, type SocketHostEvents, type UpgradeRequest, type WireLimits } from './socket-host.js';

/** Where the emulator's WebSocket connections live: in its own process, or spread over socket processes. */
export interface SocketTier {
  adopt(id: string, request: UpgradeRequest, socket: Duplex, head: Buffer, protocol?: string): void;
  send(id: string, text: string, limitBuffered: boolean): Promise<SendResult>;
  close(id: string, code: number, reason: string): void;
  terminate(id: string): void;
  stop(): Promise<void>;
}

/** The connections held in the emulator's own process. */
export function inProcessSockets(limits: WireLimits, events: SocketHostEvents): SocketTier {
  const host = new SocketHost(limits, events);
  return {
    adopt: (id, request, socket, head, protocol) => host.adopt(id, request, socket, head, protocol),
    send: async (id, text, limitBuffered) => host.send(id, text, limitBuffered),
    close: (id, code, reason) => host.close(id, code, reason),
    terminate: (id) => host.terminate(id),
    stop: async () => host.stop(),
  };
}

interface SocketChild {
  process: ChildProcess;
  /** Connections this process holds or is completing the handshake of. */
  held: Set<string>;
  /** Sends it has not answered yet. */
  sends: Map<number, (result: SendResult) => void>;
  exited: Promise<void>;
}

/**
 * The connections spread over `count` child processes, each holding its sockets' file descriptors: a process may
 * hold only RLIMIT_NOFILE descriptors (20,000 on the bench machine), and API Gateway holds far more connections than
 * that. Each authorized upgrade's socket is passed to the process holding the fewest; a process that dies takes its
 * connections with it (closed with 1006, so each runs $disconnect), as a lost API Gateway node would, and is replaced.
 */
export async function socketProcesses(count: number, limits: WireLimits, events: SocketHostEvents): Promise<SocketTier> {
  const owners = new Map<string, SocketChild>();
  let nextRef = 0;
  let stopping = false;

  const forget = (child: SocketChild, id: string) => {
    child.held.delete(id);
    owners.delete(id);
  };
  const onReport = (child: SocketChild, report: SocketReport) => {
    switch (report.t) {
      case 'failed':
        forget(child, report.id);
        return events.failed(report.id);
      case 'message':
        return events.message(report.id, report.body, report.isBinary, report.frames);
      case 'violation':
        return events.violation(report.id, report.violation, report.frames);
      case 'closed':
        forget(child, report.id);
        return events.closed(report.id, report.code, report.reason);
      case 'sent':
        child.sends.get(report.ref)?.(report.result);
        child.sends.delete(report.ref);
    }
  };
  const start = (): Promise<SocketChild> => {
    const process = fork(new URL('./socket-process.ts', import.meta.url), {
      execArgv: ['--import', 'tsx'],
      env: { ...globalThis.process.env, PARLEY_WIRE_LIMITS: JSON.stringify(limits) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const child: SocketChild = {
      process,
      held: new Set(),
      sends: new Map(),
      exited: new Promise((resolve) => process.once('exit', () => resolve())),
    };
    process.on('message', (report: SocketReport) => onReport(child, report));
    process.once('exit', (code, signal) => {
      for (const resolve of child.sends.values()) resolve('gone');
      child.sends.clear();
      for (const id of [...child.held]) {
        forget(child, id);
        if (!stopping) events.closed(id, 1006, `socket process exited (${signal ?? code})`);
      }
      if (stopping) return;
      const index = children.indexOf(child);
      void start().then(
        (replacement) => {
          if (stopping) replacement.process.kill();
          else children[index] = replacement;
        },
        () => undefined,
      );
    });
    return new Promise((resolve, reject) => {
      process.once('spawn', () => resolve(child));
      process.once('error', reject);
    });
  };
  const children: SocketChild[] = await Promise.all(Array.from({ length: count }, start));
  const tell = (id: string, command: SocketCommand) => owners.get(id)?.process.send(command);

  return {
    adopt(id, request, socket, head, protocol) {
      const child = children.filter((c) => c.process.connected).reduce<SocketChild | undefined>((a, b) => (a && a.held.size <= b.held.size ? a : b), undefined);
      if (!child) {
        socket.destroy();
        return events.failed(id);
      }
      child.held.add(id);
      owners.set(id, child);
      const command: SocketCommand = { t: 'adopt', id, request, head: head.toString('base64'), protocol };
      // The descriptor moves to the child; this process's copy is closed once it was sent.
      child.process.send(command, socket as Socket, (error) => {
        if (!error) return;
        socket.destroy();
        if (owners.get(id) !== child) return;
        forget(child, id);
        events.failed(id);
      });
    },
    send(id, text, limitBuffered) {
      const child = owners.get(id);
      if (!child?.process.connected) return Promise.resolve('gone');
      const ref = nextRef++;
      return new Promise((resolve) => {
        child.sends.set(ref, resolve);
        child.process.send({ t: 'send', id, text, limitBuffered, ref } satisfies SocketCommand);
      });
    },
    close: (id, code, reason) => tell(id, { t: 'close', id, code, reason }),
    terminate: (id) => tell(id, { t: 'terminate', id }),
    async stop() {
      stopping = true;
      for (const child of children) if (child.process.connected) child.process.send({ t: 'stop' } satisfies SocketCommand);
      await Promise.all(children.map((child) => child.exited));
    },
  };
}
