/**
 * A socket process of the API Gateway emulator: holds the WebSocket connections the emulator hands it (with their
 * file descriptors) in a `SocketHost`, and relays what happens on them back over IPC. The emulator's process keeps
 * routes, connection state, timers and the Management API; this one only does the wire.
 */
import type { Socket } from 'node:net';
import { SocketHost, type SendResult, type SocketHostEvents, type UpgradeRequest, type WireLimits, type WireViolation } from './socket-host.js';

/** What the emulator tells a socket process. */
export type SocketCommand =
  | { t: 'adopt'; id: string; request: UpgradeRequest; head: string; protocol?: string }
  | { t: 'send'; id: string; text: string; limitBuffered: boolean; ref: number }
  | { t: 'close'; id: string; code: number; reason: string }
  | { t: 'terminate'; id: string }
  | { t: 'stop' };

/** What a socket process tells the emulator: its host's events, and the answer to each `send`. */
export type SocketReport =
  | { t: 'failed'; id: string }
  | { t: 'message'; id: string; body: string; isBinary: boolean; frames: number[] }
  | { t: 'violation'; id: string; violation: WireViolation; frames: number[] }
  | { t: 'closed'; id: string; code: number; reason: string }
  | { t: 'sent'; ref: number; result: SendResult };

const report = (message: SocketReport) => process.send!(message);
const events: SocketHostEvents = {
  failed: (id) => report({ t: 'failed', id }),
  message: (id, body, isBinary, frames) => report({ t: 'message', id, body, isBinary, frames }),
  violation: (id, violation, frames) => report({ t: 'violation', id, violation, frames }),
  closed: (id, code, reason) => report({ t: 'closed', id, code, reason }),
};
const host = new SocketHost(JSON.parse(process.env.PARLEY_WIRE_LIMITS!) as WireLimits, events);

process.on('message', (command: SocketCommand, socket?: Socket) => {
  switch (command.t) {
    case 'adopt':
      // The emulator's copy of the descriptor is closed once it was passed; a client that left meanwhile arrives without one.
      if (!socket) return report({ t: 'failed', id: command.id });
      return host.adopt(command.id, command.request, socket, Buffer.from(command.head, 'base64'), command.protocol);
    case 'send':
      return report({ t: 'sent', ref: command.ref, result: host.send(command.id, command.text, command.limitBuffered) });
    case 'close':
      return host.close(command.id, command.code, command.reason);
    case 'terminate':
      return host.terminate(command.id);
    case 'stop':
      host.stop();
      process.disconnect();
  }
});
// The emulator went away: nothing is left to report to.
process.on('disconnect', () => {
  host.stop();
  process.exit(0);
});
