import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { webSocketLimits } from '../lib/definitions.js';

/** The limits a socket host enforces on the wire. */
export type WireLimits = Pick<typeof webSocketLimits, 'maxFrameBytes' | 'maxMessageBytes'>;

/** The parts of an HTTP upgrade request the WebSocket handshake reads. */
export interface UpgradeRequest {
  method: string;
  url: string;
  /** Node's lower-cased request headers. */
  headers: Record<string, string | string[] | undefined>;
}

/** A client frame or message over a limit: `frame` is over `maxFrameBytes`, `message` over `maxMessageBytes`. */
export interface WireViolation {
  kind: 'frame' | 'message';
  bytes: number;
  limitBytes: number;
}

/** What a socket host reports about the connections it holds, in the order it happened on each socket. */
export interface SocketHostEvents {
  /** The handshake did not complete (the client left, or its request was not a valid WebSocket upgrade). */
  failed(id: string): void;
  /** A whole client message, with the payload size of each of its data frames. */
  message(id: string, body: string, isBinary: boolean, frames: number[]): void;
  /** A client frame broke a limit; the host takes no more messages from the socket, and the owner closes it. */
  violation(id: string, violation: WireViolation, frames: number[]): void;
  /** The socket closed (by either side). */
  closed(id: string, code: number, reason: string): void;
}

/** What became of a message sent to a connection. */
export type SendResult = 'sent' | 'gone' | 'busy';

interface HeldSocket {
  ws: WebSocket;
  /** Set on a violation: the rest of the socket's messages reach nobody. */
  closing: boolean;
  /** Payload sizes of the data frames of the client message still arriving. */
  frames: number[];
  incomingBytes: number;
  /** The frame sizes of whole messages the reader has seen and ws has not yet handed over (a chunk can hold several). */
  complete: number[][];
}

/**
 * Holds WebSocket connections once their upgrade was authorized: completes the handshake, follows every client
 * frame against the 32 KB frame and 128 KB message limits, sends messages in frames of at most 32 KB, and reports
 * what happens. It knows nothing of routes or Lambda; the API Gateway emulator owns the connections. It runs in the
 * emulator's process or in a socket process of its own (`socket-process.ts`), so sockets spread over processes.
 */
export class SocketHost {
  private readonly sockets = new Map<string, HeldSocket>();
  private readonly protocols = new WeakMap<UpgradeRequest, string>();
  private readonly wss: WebSocketServer;

  constructor(
    private readonly limits: WireLimits,
    private readonly events: SocketHostEvents,
  ) {
    // The frame reader enforces both limits first; ws's maxPayload (per reassembled message) is only a backstop.
    // A client that offered a subprotocol gets one only when $connect returned it; otherwise its handshake fails, as in AWS.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.maxMessageBytes,
      handleProtocols: (offered, request) => {
        const chosen = this.protocols.get(request as unknown as UpgradeRequest);
        return chosen && offered.has(chosen) ? chosen : false;
      },
    });
  }

  /** Completes the handshake of an authorized upgrade on `socket`, answering with `protocol` when $connect chose one. */
  adopt(id: string, request: UpgradeRequest, socket: Duplex, head: Buffer, protocol?: string): void {
    // The client left while its upgrade was being authorized.
    if (socket.destroyed) {
      this.events.failed(id);
      return;
    }
    if (protocol) this.protocols.set(request, protocol);
    let opened = false;
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      if (!opened) this.events.failed(id);
    });
    // ws reads only method, url and headers of the request.
    this.wss.handleUpgrade(request as never, socket, head, (ws) => {
      opened = true;
      const held: HeldSocket = { ws, closing: false, frames: [], incomingBytes: 0, complete: [] };
      this.sockets.set(id, held);
      // ws reports whole messages only; the frame limit needs each frame's header. Prepended, so the reader sees a
      // chunk before ws does and stops an oversized frame before its message is handed on.
      socket.prependListener(
        'data',
        frameHeaderReader((frame) => this.handleFrame(id, held, frame)),
      );
      ws.on('message', (data, isBinary) => this.handleMessage(id, held, data, isBinary));
      ws.on('close', (code, reason) => {
        this.sockets.delete(id);
        this.events.closed(id, code, reason.toString());
      });
      // ws follows every error (e.g. 1009 above maxPayload) with 'close'.
      ws.on('error', () => undefined);
    });
  }

  /** Sends one text message in frames of at most 32 KB; `busy` (and nothing sent) when `limitBuffered` and the client stopped reading. */
  send(id: string, text: string, limitBuffered: boolean): SendResult {
    const held = this.sockets.get(id);
    if (!held || held.ws.readyState !== WebSocket.OPEN) return 'gone';
    if (limitBuffered && held.ws.bufferedAmount > 4 * this.limits.maxMessageBytes) return 'busy';
    const bytes = Buffer.from(text, 'utf8');
    let offset = 0;
    do {
      const chunk = bytes.subarray(offset, offset + this.limits.maxFrameBytes);
      offset += this.limits.maxFrameBytes;
      // ws sends the first fragment as a text frame and the rest as continuations, in order.
      held.ws.send(chunk, { binary: false, fin: offset >= bytes.length });
    } while (offset < bytes.length);
    return 'sent';
  }

  /** Starts the closing handshake. */
  close(id: string, code: number, reason: string): void {
    const held = this.sockets.get(id);
    if (held?.ws.readyState === WebSocket.OPEN) held.ws.close(code, reason);
  }

  /** Drops the socket without a closing handshake. */
  terminate(id: string): void {
    this.sockets.get(id)?.ws.terminate();
  }

  /** Drops every socket. */
  stop(): void {
    for (const held of this.sockets.values()) held.ws.terminate();
    this.wss.close();
  }

  private handleFrame(id: string, held: HeldSocket, frame: FrameHeader): void {
    // Control frames (close, ping, pong) are at most 125 bytes and belong to no message.
    if (held.closing || frame.opcode >= 0x8) return;
    if (frame.opcode === 0x0) {
      held.frames.push(frame.length);
      held.incomingBytes += frame.length;
    } else {
      held.frames = [frame.length];
      held.incomingBytes = frame.length;
    }
    const over: WireViolation | undefined =
      frame.length > this.limits.maxFrameBytes
        ? { kind: 'frame', bytes: frame.length, limitBytes: this.limits.maxFrameBytes }
        : held.incomingBytes > this.limits.maxMessageBytes
          ? { kind: 'message', bytes: held.incomingBytes, limitBytes: this.limits.maxMessageBytes }
          : undefined;
    if (over) {
      held.closing = true;
      this.events.violation(id, over, held.frames);
    } else if (frame.fin) {
      held.complete.push(held.frames);
      held.frames = [];
    }
  }

  private handleMessage(id: string, held: HeldSocket, data: RawData, isBinary: boolean): void {
    // A message whose frames broke a limit reaches nobody.
    if (held.closing) return;
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    // Binary messages travel base64-encoded, as API Gateway hands them to integrations.
    this.events.message(id, isBinary ? bytes.toString('base64') : bytes.toString('utf8'), isBinary, held.complete.shift() ?? []);
  }
}

/** The header of one WebSocket frame. */
interface FrameHeader {
  fin: boolean;
  opcode: number;
  /** Payload bytes. */
  length: number;
}

/**
 * Follows the frame headers in a client's byte stream (RFC 6455 section 5.2) and skips the payloads. The emulator
 * never negotiates permessage-deflate, so a frame's payload length is its size on the wire.
 */
function frameHeaderReader(onFrame: (frame: FrameHeader) => void): (chunk: Buffer) => void {
  let header: number[] = [];
  let skip = 0;
  return (chunk) => {
    let offset = 0;
    while (offset < chunk.length) {
      if (skip > 0) {
        const skipped = Math.min(skip, chunk.length - offset);
        skip -= skipped;
        offset += skipped;
        continue;
      }
      header.push(chunk[offset++]!);
      if (header.length < 2) continue;
      const short = header[1]! & 0x7f;
      const extended = short === 126 ? 2 : short === 127 ? 8 : 0;
      const masked = header[1]! & 0x80 ? 4 : 0;
      if (header.length < 2 + extended + masked) continue;
      let length = short;
      if (extended > 0) {
        length = 0;
        for (let i = 2; i < 2 + extended; i++) length = length * 256 + header[i]!;
      }
      onFrame({ fin: (header[0]! & 0x80) !== 0, opcode: header[0]! & 0x0f, length });
      header = [];
      skip = length;
    }
  };
}
