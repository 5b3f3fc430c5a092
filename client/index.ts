/** Parley client SDK: runs in browsers, Node (with `ws`) and React Native; no dependencies. */
export { ParleyClient } from './client.js';
export type {
  ConnectionState,
  ConnectionStatus,
  OutgoingMessage,
  ParleyClientEvents,
  ParleyClientOptions,
  SendFailure,
  TokenProvider,
  TokenResult,
} from './client.js';
export { ParleyError } from './errors.js';
export type { ClientErrorCode, ParleyErrorCode } from './errors.js';
export { MemoryCursorStore, StorageCursorStore } from './cursor-store.js';
export type { CursorStore, Cursors, KeyValueStorage } from './cursor-store.js';
export { AsyncStorageAdapter, IndexedDbStorage, MemoryStorage } from './client-storage.js';
export type { AsyncStorageLike, ClientStorage, IndexedDbStorageOptions } from './client-storage.js';
export { IllegalTransitionError } from './state-machine.js';
export { backoffDelay, defaultBackoff } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type { Clock, TimerHandle } from './clock.js';
export type { Unsubscribe } from './emitter.js';
export { SeqBuffer } from './seq-buffer.js';
export type { SeqGap } from './seq-buffer.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket.js';
export type * from './protocol.js';
