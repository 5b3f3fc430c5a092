import type { SyncCursor } from './protocol.js';

/** Per-conversation cursors: the highest contiguous `seq` delivered to the application, and its epoch. */
export type Cursors = Record<string, SyncCursor>;

/**
 * Where the client keeps its cursors between sessions, so a restart or page reload resumes with `sync`
 * instead of re-delivering everything. Methods may be sync or async (React Native's AsyncStorage is async).
 */
export interface CursorStore {
  load(): Cursors | Promise<Cursors>;
  save(cursors: Cursors): void | Promise<void>;
}

/** Keeps cursors in memory only: a new client instance starts from scratch. */
export class MemoryCursorStore implements CursorStore {
  private cursors: Cursors;

  constructor(initial: Cursors = {}) {
    this.cursors = { ...initial };
  }

  load(): Cursors {
    return { ...this.cursors };
  }

  save(cursors: Cursors): void {
    this.cursors = { ...cursors };
  }
}

/** The subset of Web Storage / AsyncStorage the storage-backed store needs. */
export interface KeyValueStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
}

/**
 * Persists cursors as JSON under one key of a `localStorage`-like storage (or React Native's AsyncStorage).
 * Use one key per user: cursors of one account mean nothing to another.
 */
export class StorageCursorStore implements CursorStore {
  constructor(
    private readonly storage: KeyValueStorage,
    private readonly key: string,
  ) {}

  async load(): Promise<Cursors> {
    const raw = await this.storage.getItem(this.key);
    if (!raw) return {};
    try {
      return sanitize(JSON.parse(raw));
    } catch {
      // A corrupt entry must not brick the client: a full sync is the safe fallback.
      return {};
    }
  }

  async save(cursors: Cursors): Promise<void> {
    await this.storage.setItem(this.key, JSON.stringify(cursors));
  }
}

/** Keeps well-formed cursors; a bare number (stored by older SDKs) becomes a cursor of unknown epoch. */
function sanitize(value: unknown): Cursors {
  const out: Cursors = {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) return out;
  for (const [id, stored] of Object.entries(value)) {
    const cursor = typeof stored === 'number' ? { seq: stored, epoch: null } : (stored as Partial<SyncCursor> | null);
    const epoch = cursor?.epoch ?? null;
    if (Number.isSafeInteger(cursor?.seq) && cursor!.seq! >= 0 && (epoch === null || typeof epoch === 'string')) {
      out[id] = { seq: cursor!.seq!, epoch };
    }
  }
  return out;
}
