import type { LatencySummary } from './metrics.js';

/** Scenario names, as `--scenario` takes them and as their result files are named. */
export const scenarioNames = ['direct-1000', 'groups-130', 'group-1000', 'reconnect-1000', 'hot-group'] as const;
export type ScenarioName = (typeof scenarioNames)[number];

/** Requests from the load generator to the stack side, which owns the emulators and the counters. */
export type ControlAction =
  /** Snapshots the SDK counters and handler timings under this name. */
  | { kind: 'mark'; name: string }
  /** Routes `send` through the naive design (on) or back to Parley's handler (off). */
  | { kind: 'naive'; on: boolean }
  /** Closes every open connection without running $disconnect, so finished scenarios leave no presence traffic. */
  | { kind: 'drop-connections' }
  /** Waits until the fanout queue has had no work for a while (drains queued fanout). */
  | { kind: 'settle'; quietMs: number; timeoutMs: number };

/** Main thread -> load worker. */
export type ToWorker =
  | { kind: 'run'; scenario: ScenarioName; quick: boolean; wsUrl: string; httpUrl: string }
  | { kind: 'control-done'; id: number; value?: unknown };

/** Load worker -> main thread. */
export type FromWorker =
  | { kind: 'progress'; phase: string; detail: string }
  | { kind: 'log'; line: string }
  | { kind: 'control'; id: number; action: ControlAction }
  | { kind: 'result'; result: ScenarioClientResult }
  | { kind: 'error'; message: string };

/** What the clients observed in one measured phase. */
export interface PhaseClientStats {
  /** Messages sent, and acked without error. */
  sent: number;
  acked: number;
  /** Error replies and timeouts, by code. */
  errors: Record<string, number>;
  /** Deliveries the acked messages should cause (each recipient connection), received ones (first copies) and missing ones. */
  expectedDeliveries: number;
  deliveries: number;
  missing: number;
  /** A (conversationId, seq) pushed twice to one connection. */
  duplicates: number;
  /** A push whose seq is lower than one the same connection already got in that conversation. */
  orderViolations: number;
  latency: LatencySummary;
  ackLatency: LatencySummary;
  cdf: { q: number; ms: number }[];
  histogram: { from: number; to: number; count: number }[];
  /** Sending and delivering time: from the first send to the last delivery of each span, summed. */
  durationSeconds: number;
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  /** How far behind its schedule the open-loop sender fell (a saturated load generator shows here). */
  scheduleLagMaxMs: number;
  /** Other pushed frames the clients got during the phase, by type. */
  otherPushes: Record<string, number>;
}

/** The load worker's part of a scenario result; the main thread adds AWS calls and cost. */
export interface ScenarioClientResult {
  name: ScenarioName;
  title: string;
  description: string;
  parameters: Record<string, number | string | boolean>;
  /** Phases by name; `parley` is the system under test, `naive` the comparison design. */
  phases: Record<string, PhaseClientStats>;
  /** Scenario-specific findings (reconnect timings, presence probe, ...). */
  extra: Record<string, unknown>;
  setupSeconds: number;
}
