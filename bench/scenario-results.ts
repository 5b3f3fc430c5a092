import { functions } from '../lib/definitions.js';
import { costPerMillionMessages, lambdaGbSeconds, type CostBreakdown, type MessageUsage } from './cost-model.js';
import { summarize, type LatencySummary } from './metrics.js';
import { diffCounts, sumPaths, type CallCounts, type CallStats } from './sdk-calls.js';
import type { PhaseClientStats, ScenarioClientResult } from './worker-protocol.js';

/** Counters captured at a mark. */
export interface Mark {
  at: number;
  calls: CallCounts;
  invocationMarks: Record<string, number>;
  emulator: { messagesIn: number; postToConnection: number; gone: number; connects: number; disconnects: number };
  poller: { batches: number; records: number; failedRecords: number };
}

/** What AWS saw during a window (summed over its spans). */
export interface WindowAws {
  seconds: number;
  /** SDK calls by path ('send', 'fanout', 'connect', ...), then by Service.Operation. */
  calls: CallCounts;
  /** Handler invocations by path with their wall-clock durations (local, shared CPU). */
  invocations: Record<string, LatencySummary>;
  apiGateway: Mark['emulator'];
  fanoutQueue: Mark['poller'];
}

/** A measured phase: the clients' view, AWS usage per message, and its price. */
export interface PhaseResult extends PhaseClientStats {
  aws: WindowAws;
  /** Calls per chat message and per delivery, for the paths a message takes. */
  perMessage: Record<'send' | 'fanout', Record<string, { calls: number; perDelivery: number; readUnits: number; writeUnits: number; meanMs: number }>>;
  usage: MessageUsage;
  cost: CostBreakdown;
  /** How busy the thread running the emulators and handlers was during the phase (event-loop utilization). */
  stackThread?: { busyMs: number; utilization: number };
}

/** A scenario's result file, `bench/results/<name>.json`. */
export interface ScenarioResult extends Omit<ScenarioClientResult, 'phases'> {
  phases: Record<string, PhaseResult>;
  /** Other marked windows (e.g. the presence probe). */
  windows: Record<string, WindowAws>;
  generatedAt: string;
  quick: boolean;
  environment: Record<string, string | number>;
}

/** One measured stretch: the marks around it. A phase may be measured in several (interleaved with other designs). */
export interface Span {
  start: Mark;
  end: Mark;
}

type Durations = Record<string, { durationsMs: number[] }>;

/** The AWS usage over `spans`, summed; `durations` are the invocation logs to slice. */
export function windowOver(spans: readonly Span[], durations: Durations): WindowAws {
  const invocations: Record<string, LatencySummary> = {};
  for (const [path, values] of Object.entries(sliceDurations(spans, durations))) if (values.length > 0) invocations[path] = summarize(values);
  const sum = <T extends Record<string, number>>(pick: (mark: Mark) => T) =>
    spans.reduce(
      (total, { start, end }) => {
        for (const [key, value] of Object.entries(pick(end))) total[key] = (total[key] ?? 0) + value - (pick(start)[key] ?? 0);
        return total;
      },
      {} as Record<string, number>,
    ) as T;
  const calls: CallCounts = {};
  for (const { start, end } of spans) {
    for (const [path, byKey] of Object.entries(diffCounts(end.calls, start.calls))) {
      for (const [key, stats] of Object.entries(byKey)) {
        const total = ((calls[path] ??= {})[key] ??= { ...stats, ...Object.fromEntries(Object.keys(stats).map((field) => [field, 0])) });
        for (const field of Object.keys(stats) as (keyof CallStats)[]) total[field] += stats[field];
      }
    }
  }
  return {
    seconds: Math.round(spans.reduce((n, { start, end }) => n + end.at - start.at, 0) / 100) / 10,
    calls,
    invocations,
    apiGateway: sum((mark) => mark.emulator),
    fanoutQueue: sum((mark) => mark.poller),
  };
}

function sliceDurations(spans: readonly Span[], durations: Durations): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(durations).map(([path, log]) => [
      path,
      spans.flatMap(({ start, end }) => log.durationsMs.slice(start.invocationMarks[path] ?? 0, end.invocationMarks[path] ?? 0)),
    ]),
  );
}

const isBilledSqs = (key: string) => key.startsWith('SQS.') && key !== 'SQS.ReceiveMessage(empty)';

/** Turns a phase's spans into usage per message and its cost. */
export function compilePhase(stats: PhaseClientStats, spans: readonly Span[], durations: Durations): PhaseResult {
  const aws = windowOver(spans, durations);
  const sliced = sliceDurations(spans, durations);
  const messages = Math.max(1, stats.acked);
  const deliveries = Math.max(1, stats.deliveries);
  const perMessage = { send: {}, fanout: {} } as PhaseResult['perMessage'];
  for (const path of ['send', 'fanout'] as const) {
    for (const [key, value] of Object.entries(aws.calls[path] ?? {})) {
      perMessage[path][key] = {
        calls: round(value.calls / messages),
        perDelivery: round(value.calls / deliveries),
        readUnits: round(value.readUnits / messages),
        writeUnits: round(value.writeUnits / messages),
        meanMs: round(value.totalMs / Math.max(1, value.calls)),
      };
    }
  }
  const total: Record<string, CallStats> = sumPaths(aws.calls, ['send', 'fanout']);
  const sum = (pick: (key: string, value: CallStats) => number) => Object.entries(total).reduce((n, [key, value]) => n + pick(key, value), 0);
  const usage: MessageUsage = {
    inboundUnits: 1,
    replyUnits: 1,
    deliveryUnits: sum((key, value) => (key === 'ApiGatewayManagementApi.PostToConnection' ? value.billedUnits : 0)) / messages,
    lambdaRequests: ((sliced.send?.length ?? 0) + (sliced.fanout?.length ?? 0)) / messages,
    lambdaGbSeconds:
      (lambdaGbSeconds(sliced.send ?? [], functions.actions.memorySize) + lambdaGbSeconds(sliced.fanout ?? [], functions.fanout.memorySize)) / messages,
    readUnits: sum((_, value) => value.readUnits) / messages,
    writeUnits: sum((_, value) => value.writeUnits) / messages,
    sqsRequests: sum((key, value) => (isBilledSqs(key) ? value.billedUnits : 0)) / messages,
  };
  return { ...stats, aws, perMessage, usage, cost: costPerMillionMessages(usage) };
}

const round = (value: number) => Math.round(value * 1000) / 1000;
