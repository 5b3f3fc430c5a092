/**
 * The slice of the WebSocket API the SDK uses: the browser's and React Native's `WebSocket` and the `ws`
 * package's class all fit it. Handler parameters are `never` so any implementation's event types are accepted.
 */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

/** A WebSocket constructor such as `globalThis.WebSocket` or `ws`'s default export. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** What the SDK reads from a message event. */
export interface MessageEventLike {
  data: unknown;
}

/** What the SDK reads from a close event. */
export interface CloseEventLike {
  code?: number;
  reason?: string;
}

/** Turns a frame payload into text: browsers and `ws` give strings; some give ArrayBuffer or Uint8Array. */
export function frameText(data: unknown): string | null {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    return new TextDecoder().decode(data as ArrayBuffer | ArrayBufferView);
  }
  return null;
}
