/**
 * Where the SDK keeps its durable state (the outbox of unsent messages and the per-conversation cursors): a small
 * async key-value interface, shaped like React Native's AsyncStorage so any such object fits.
 */
export interface ClientStorage {
  /** The value stored under `key`, or null. */
  getItem(key: string): Promise<string | null>;
  /** Stores `value` under `key`. */
  setItem(key: string, value: string): Promise<void>;
  /** Deletes `key`. */
  removeItem(key: string): Promise<void>;
}

/** Keeps state in memory: it survives a new client instance in the same process, not a restart. */
export class MemoryStorage implements ClientStorage {
  private readonly items = new Map<string, string>();

  /** Reads one key. */
  async getItem(key: string): Promise<string | null> {
    return this.items.get(key) ?? null;
  }

  /** Writes one key. */
  async setItem(key: string, value: string): Promise<void> {
    this.items.set(key, value);
  }

  /** Deletes one key. */
  async removeItem(key: string): Promise<void> {
    this.items.delete(key);
  }

  /** Every stored key (for tests and debugging). */
  keys(): string[] {
    return [...this.items.keys()];
  }
}

/** Anything with AsyncStorage's three methods: `@react-native-async-storage/async-storage`, MMKV wrappers, … */
export interface AsyncStorageLike {
  getItem(key: string): Promise<string | null | undefined> | string | null | undefined;
  setItem(key: string, value: string): Promise<unknown> | unknown;
  removeItem(key: string): Promise<unknown> | unknown;
}

/** Adapts an AsyncStorage-shaped object (React Native) to `ClientStorage`. */
export class AsyncStorageAdapter implements ClientStorage {
  constructor(private readonly storage: AsyncStorageLike) {}

  /** Reads one key. */
  async getItem(key: string): Promise<string | null> {
    const value = await this.storage.getItem(key);
    return typeof value === 'string' ? value : null;
  }

  /** Writes one key. */
  async setItem(key: string, value: string): Promise<void> {
    await this.storage.setItem(key, value);
  }

  /** Deletes one key. */
  async removeItem(key: string): Promise<void> {
    await this.storage.removeItem(key);
  }
}

/** Options of `IndexedDbStorage`. */
export interface IndexedDbStorageOptions {
  /** Database name (default `parley`); e.g. one per backend URL. */
  databaseName?: string;
  /** The IndexedDB factory (default `globalThis.indexedDB`; tests pass `fake-indexeddb`'s). */
  indexedDB?: IDBFactory;
}

const objectStore = 'kv';

/** Browser storage in IndexedDB: asynchronous, larger than localStorage, and shared by the tabs of an origin. */
export class IndexedDbStorage implements ClientStorage {
  private db: Promise<IDBDatabase> | undefined;

  constructor(private readonly options: IndexedDbStorageOptions = {}) {}

  /** Reads one key. */
  async getItem(key: string): Promise<string | null> {
    const value = await this.run<unknown>('readonly', (store) => store.get(key));
    return typeof value === 'string' ? value : null;
  }

  /** Writes one key. */
  async setItem(key: string, value: string): Promise<void> {
    await this.run('readwrite', (store) => store.put(value, key));
  }

  /** Deletes one key. */
  async removeItem(key: string): Promise<void> {
    await this.run('readwrite', (store) => store.delete(key));
  }

  /** Closes the database connection (a later call opens it again). */
  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db) (await db).close();
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const factory = this.options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
      if (!factory) throw new TypeError('IndexedDbStorage: no indexedDB in this environment');
      const request = factory.open(this.options.databaseName ?? 'parley', 1);
      request.onupgradeneeded = () => request.result.createObjectStore(objectStore);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error('could not open IndexedDB'));
    });
    // A failed open is retried next time rather than cached forever.
    this.db.catch(() => (this.db = undefined));
    return this.db;
  }

  private async run<T>(mode: IDBTransactionMode, operation: (store: IDBObjectStore) => IDBRequest): Promise<T> {
    const db = await this.open();
    return new Promise<T>((resolve, reject) => {
      const transaction = db.transaction(objectStore, mode);
      const request = operation(transaction.objectStore(objectStore));
      // Resolve on commit, not on the request's success: a write is durable only once its transaction completes.
      transaction.oncomplete = () => resolve(request.result as T);
      transaction.onerror = () => reject(transaction.error ?? request.error ?? new Error('IndexedDB transaction failed'));
      transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB transaction aborted'));
    });
  }
}
