import type { Cursors } from './cursor-store.js';
import { ParleyError } from './errors.js';
import type { Conversation, Message } from './protocol.js';
import type { WebSocketLike } from './websocket.js';

/** A reply or push frame without its envelope fields (`type`, `requestId`). */
export function withoutType<T extends object>(frame: T): T {
  const { type: _type, requestId: _requestId, ...rest } = frame as T & { type?: unknown; requestId?: unknown };
  return rest as T;
}

/** Appends one query parameter to a URL (before any `#fragment`). */
export function withQuery(url: string, name: string, value: string): string {
  const hashAt = url.indexOf('#');
  const base = hashAt >= 0 ? url.slice(0, hashAt) : url;
  return `${base}${base.includes('?') ? '&' : '?'}${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
}

/** Closes a socket, ignoring implementations that throw. */
export function safeClose(ws: WebSocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason.slice(0, 120));
  } catch {
    // Already closed, or an implementation that rejects the code: nothing left to release.
  }
}

/** Whether two cursor sets hold the same cursors. */
export function sameCursors(a: Cursors, b: Cursors): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k]?.seq === b[k]?.seq && a[k]?.epoch === b[k]?.epoch);
}

/** UTF-8 length of a string without TextEncoder (not in every React Native runtime). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** `error` if it is an Error, else an Error describing it. */
export function asError(error: unknown, context: string): Error {
  if (error instanceof Error) return error;
  return new Error(`${context}: ${String(error)}`);
}

/** Whether a pushed or fetched value is a usable timeline item. */
export function isMessage(value: unknown): value is Message {
  const m = value as Message | undefined;
  return !!m && typeof m.conversationId === 'string' && Number.isSafeInteger(m.seq) && m.seq > 0;
}

/** Whether a pushed value is a usable conversation. */
export function isConversation(value: unknown): value is Conversation {
  const c = value as Conversation | undefined;
  return !!c && typeof c.conversationId === 'string' && Array.isArray(c.members);
}

/** The error every operation of a closed client fails with. */
export function closedError(action?: string): ParleyError {
  return new ParleyError('client_closed', 'the client was closed', action ? { action } : {});
}

const idAlphabet = '0123456789abcdefghijklmnopqrstuvwxyz';

/** 20 random characters of [0-9a-z]; no crypto needed, ids only have to be unique per sender. */
export function randomId(random: () => number): string {
  let id = '';
  for (let i = 0; i < 20; i++) id += idAlphabet[Math.floor(random() * idAlphabet.length)];
  return id;
}
