import type { LocalStack } from '../local/stack.js';
import { callPath, SdkCallCounter } from './sdk-calls.js';

/** A replacement for the actions handler's `send` route (the naive design). */
export type SendOverride = (event: any) => Promise<unknown>;

/** Wall-clock duration of handler invocations on one path. */
export interface InvocationLog {
  durationsMs: number[];
}

/**
 * Instruments a running local stack: every invocation that the WebSocket emulator or the SQS poller makes runs
 * inside `callPath`, so SDK calls are attributed to the route or function that made them, and is timed.
 */
export class StackHooks {
  readonly counter = new SdkCallCounter();
  readonly invocations: Record<string, InvocationLog> = {};
  /** Invocations running right now (0 when the stack is idle). */
  inFlight = 0;
  private sendOverride: SendOverride | undefined;

  constructor(stack: LocalStack) {
    // Every container has its own clients: count on each one's, the running ones and every one started later.
    stack.lambdas.onContainerModules((_name, { runtime, connection }) => {
      for (const client of Object.values(runtime?.clients ?? connection?.clients ?? {})) this.counter.attach(client);
    });
    // The event source mapping's receives and deletes are billed SQS requests of the fanout path too.
    this.counter.attach(stack.pollerSqs, 'fanout');
    stack.wrapInvocations((name, event, run) => {
      const routeKey = (event as { requestContext?: { routeKey?: string } }).requestContext?.routeKey;
      const path = (name === 'actions' || name === 'catchup') && routeKey ? routeKey : name;
      const override = path === 'send' ? this.sendOverride : undefined;
      return this.run(path, () => callPath.run(path, () => (override ? override(event) : run(name, event))));
    });
  }

  /** Routes `send` to `override` (the naive design) until called again with undefined. */
  setSendOverride(override: SendOverride | undefined): void {
    this.sendOverride = override;
  }

  /** Lengths of the invocation logs, to slice the ones of a measurement window later. */
  invocationMarks(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.invocations).map(([path, log]) => [path, log.durationsMs.length]));
  }

  private async run<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    this.inFlight += 1;
    try {
      return await fn();
    } finally {
      this.inFlight -= 1;
      (this.invocations[path] ??= { durationsMs: [] }).durationsMs.push(performance.now() - started);
    }
  }
}
