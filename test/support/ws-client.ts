import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';

/** A server frame as the tests read it. */
export type Frame = Record<string, any>;

/** What a test needs to reach the local stack. */
export interface StackUrls {
  wsUrl: string;
  httpUrl: string;
}

/** A raw WebSocket client that records every frame it receives. */
export interface TestClient {
  userId: string;
  socket: WebSocket;
  /** Every frame received so far, in arrival order. */
  frames: Frame[];
  /** Sends a frame (adding a requestId unless it has one) and resolves with the reply carrying that requestId. */
  request(frame: Record<string, unknown>, options?: { timeoutMs?: number }): Promise<Frame>;
  /** Sends raw text or bytes without waiting for anything. */
  sendRaw(data: string | Buffer): void;
  /** Resolves with the first frame (already received or future) matching `predicate`, or when it returns true for any. */
  waitFor(predicate: (frame: Frame) => boolean, options?: { timeoutMs?: number }): Promise<Frame>;
  /** Closes the socket and waits for it to be closed. */
  close(): Promise<void>;
  /** Resolves with the close code once the server closes the socket. */
  closed: Promise<{ code: number; reason: string }>;
}

/** A user id no other test uses. */
export const uniqueUser = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** Fetches a dev token for `userId` from the local identity provider. */
export async function devToken(urls: Pick<StackUrls, 'httpUrl'>, userId: string, expiresInSeconds?: number): Promise<string> {
  const query = new URLSearchParams({ user: userId, ...(expiresInSeconds ? { expiresIn: String(expiresInSeconds) } : {}) });
  const response = await fetch(`${urls.httpUrl}/dev/token?${query}`);
  if (!response.ok) throw new Error(`GET /dev/token failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { token: string }).token;
}

/** Opens a WebSocket to the stack as `userId`; rejects with the HTTP status when the handshake is refused. */
export async function connectAs(urls: StackUrls, userId: string, options: { token?: string } = {}): Promise<TestClient> {
  const token = options.token ?? (await devToken(urls, userId));
  const socket = new WebSocket(`${urls.wsUrl}?token=${encodeURIComponent(token)}`);
  const frames: Frame[] = [];
  const listeners = new Set<() => void>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  socket.on('message', (data) => {
    let frame: Frame;
    try {
      frame = JSON.parse(data.toString()) as Frame;
    } catch {
      frame = { type: '<non-json>', raw: data.toString() };
    }
    frames.push(frame);
    for (const listener of [...listeners]) listener();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_request, response) => reject(new Error(`handshake refused: HTTP ${response.statusCode}`)));
    socket.once('error', reject);
  });

  const waitFor = (predicate: (frame: Frame) => boolean, { timeoutMs = 10_000 } = {}) =>
    new Promise<Frame>((resolve, reject) => {
      let seen = 0;
      const check = () => {
        for (; seen < frames.length; seen += 1) {
          if (predicate(frames[seen]!)) {
            cleanup();
            resolve(frames[seen]!);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${userId}: no matching frame within ${timeoutMs} ms; last frames: ${JSON.stringify(frames.slice(-3))}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  return {
    userId,
    socket,
    frames,
    closed,
    waitFor,
    sendRaw: (data) => socket.send(data),
    async request(frame, options) {
      const requestId = (frame.requestId as string | undefined) ?? randomUUID();
      socket.send(JSON.stringify({ ...frame, requestId }));
      return waitFor((reply) => reply.requestId === requestId, options);
    },
    async close() {
      if (socket.readyState !== WebSocket.CLOSED) socket.close();
      await closed;
    },
  };
}
