import { ParleyClient, type ParleyClientEvents, type ParleyClientOptions } from '../client.js';
import type { FakeParleyServer } from './fake-server.js';
import { ManualClock, settle } from './manual-clock.js';

/** A seeded PRNG (mulberry32) so jitter and ids are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Everything a client emitted, by event type. */
export type EventLog = { [K in keyof ParleyClientEvents]: Array<ParleyClientEvents[K]> };

/** Records every event of `client`. */
export function recordEvents(client: ParleyClient): EventLog {
  const log: EventLog = {
    status: [],
    message: [],
    conversation: [],
    receipt: [],
    presence: [],
    typing: [],
    ack: [],
    sendFailed: [],
    limited: [],
    reset: [],
    expired: [],
    synced: [],
    error: [],
    timelineEvent: [],
    messageUpdated: [],
    membership: [],
    removed: [],
  };
  for (const type of Object.keys(log) as Array<keyof EventLog>) {
    client.on(type, (payload) => (log[type] as unknown[]).push(payload));
  }
  return log;
}

/** A client wired to a fake server and a manual clock, with its events recorded. */
export interface TestClient {
  client: ParleyClient;
  server: FakeParleyServer;
  clock: ManualClock;
  events: EventLog;
  tokenCalls: () => number;
}

/** Builds a `ParleyClient` for `userId` against `server`, driven by `clock`. */
export function createTestClient(server: FakeParleyServer, userId: string, options: Partial<ParleyClientOptions> & { clock?: ManualClock } = {}): TestClient {
  const clock = options.clock ?? new ManualClock();
  let calls = 0;
  const client = new ParleyClient({
    url: 'wss://parley.test/prod',
    token: () => {
      calls++;
      return { token: userId, userId };
    },
    WebSocket: server.WebSocket,
    random: seededRandom(42),
    ...options,
    clock,
  });
  return { client, server, clock, events: recordEvents(client), tokenCalls: () => calls };
}

/** Connects and waits (on the manual clock) until the first sync is done. */
export async function connectNow(t: TestClient): Promise<void> {
  let done = false;
  let failure: unknown;
  t.client.connect().then(
    () => (done = true),
    (error: unknown) => (failure = error),
  );
  for (let i = 0; i < 50 && !done && failure === undefined; i++) await t.clock.advance(100);
  if (failure !== undefined) throw failure;
  if (!done) throw new Error(`client did not come online (state ${t.client.status.state})`);
}

export { settle };

/** Resolves a client promise while advancing the shared manual clock (requests answer only as the clock moves). */
export async function drive<T>(clock: { advance(ms: number): Promise<void> }, promise: Promise<T>): Promise<T> {
  let settled = false;
  let value: T | undefined;
  let failure: unknown;
  promise.then(
    (result) => {
      settled = true;
      value = result;
    },
    (error: unknown) => {
      settled = true;
      failure = error;
    },
  );
  for (let i = 0; i < 100 && !settled; i++) await clock.advance(20);
  if (failure !== undefined) throw failure;
  return value as T;
}
