import type { ClientStorage } from './client-storage.js';
import { asError } from './util.js';

/** An unsent message as stored: enough to resend it with the same `clientMessageId` after a restart. */
export interface StoredMessage {
  conversationId: string;
  clientMessageId: string;
  body: string;
}

/** The storage keys of one user: two users on one device (or browser profile) never share state. */
export function storageKeys(userId: string): { cursors: string; outbox: string } {
  const namespace = `parley:${encodeURIComponent(userId)}`;
  return { cursors: `${namespace}:cursors`, outbox: `${namespace}:outbox` };
}

/**
 * Persists the outbox under one key: loaded once, then rewritten (coalesced, one write at a time, in order) whenever
 * it changes. Writes wait for the load, so a message queued before it finished cannot overwrite stored ones.
 */
export class DurableOutbox {
  private ready: Promise<void> = Promise.resolve();
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(
    private readonly storage: ClientStorage,
    private readonly key: string,
    private readonly current: () => StoredMessage[],
    private readonly onError: (error: Error) => void,
  ) {}

  /** Reads the stored messages and hands them to `restore`; later writes wait for it. */
  load(restore: (messages: StoredMessage[]) => void): Promise<void> {
    this.ready = (async () => {
      try {
        restore(sanitize(JSON.parse((await this.storage.getItem(this.key)) ?? '[]')));
      } catch (error) {
        // A corrupt entry must not brick the client; what is queued from now on is stored again.
        this.onError(new Error(`could not load the outbox: ${asError(error, 'load').message}`));
      }
    })();
    return this.ready;
  }

  /** Schedules a write of the current outbox. */
  save(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.writing = this.writing
      .then(() => this.ready)
      .then(async () => {
        this.dirty = false;
        const messages = this.current();
        if (messages.length === 0) await this.storage.removeItem(this.key);
        else await this.storage.setItem(this.key, JSON.stringify(messages));
      })
      .catch((error: unknown) => this.onError(new Error(`could not save the outbox: ${asError(error, 'save').message}`)));
  }

  /** Resolves once every scheduled write has finished. */
  flushed(): Promise<void> {
    return this.writing;
  }
}

function sanitize(value: unknown): StoredMessage[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter(
      (m): m is StoredMessage =>
        !!m && typeof m.conversationId === 'string' && typeof m.clientMessageId === 'string' && typeof m.body === 'string' && m.body.length > 0,
    )
    .map(({ conversationId, clientMessageId, body }) => ({ conversationId, clientMessageId, body }));
}
