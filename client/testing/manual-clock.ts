import type { Clock, TimerHandle } from '../clock.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** Lets pending promise callbacks and queued microtasks run (one macrotask turn, twice for chains). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => globalThis.setTimeout(resolve, 0));
}

/** A deterministic clock for tests: time moves only when `advance` is called. */
export class ManualClock implements Clock {
  private time: number;
  private nextId = 1;
  private readonly timers = new Map<number, Timer>();

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Number of scheduled timers. */
  get pending(): number {
    return this.timers.size;
  }

  /** Delay until the earliest timer fires, or undefined when none is scheduled. */
  nextDelay(): number | undefined {
    let at = Infinity;
    for (const timer of this.timers.values()) at = Math.min(at, timer.at);
    return at === Infinity ? undefined : at - this.time;
  }

  /** Moves time forward by `ms`, firing due timers in order and settling promises after each. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    await settle();
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.timers.values()) {
        if (timer.at <= target && (!next || timer.at < next.at || (timer.at === next.at && timer.id < next.id))) {
          next = timer;
        }
      }
      if (!next) break;
      this.time = next.at;
      this.timers.delete(next.id);
      next.fn();
      await settle();
    }
    this.time = target;
    await settle();
  }
}
