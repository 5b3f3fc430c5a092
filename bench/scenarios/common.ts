import { BenchClient, now, setCurrentPhase, startPhase, type PhaseRecorder } from '../bench-client.js';
import type { ControlAction, PhaseClientStats } from '../worker-protocol.js';
import { mapLimit } from '../../lambdas/domain/concurrency.js';

export { chunk, mapLimit } from '../../lambdas/domain/concurrency.js';

/** What a scenario gets from the load worker. */
export interface ScenarioContext {
  wsUrl: string;
  httpUrl: string;
  quick: boolean;
  progress(phase: string, detail?: string): void;
  log(line: string): void;
  /** Asks the stack side (main thread) to act, and waits until it has. */
  control(action: ControlAction): Promise<unknown>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Dev tokens for every user, from the local identity provider. */
export async function fetchTokens(ctx: ScenarioContext, users: readonly string[]): Promise<Map<string, string>> {
  const tokens = await mapLimit(users, 16, async (user) => {
    const response = await fetch(`${ctx.httpUrl}/dev/token?user=${encodeURIComponent(user)}`);
    if (!response.ok) throw new Error(`GET /dev/token failed: ${response.status}`);
    return ((await response.json()) as { token: string }).token;
  });
  return new Map(users.map((user, i) => [user, tokens[i]!]));
}

/**
 * Connects one client per user, at most `ratePerSecond` new connections per second: API Gateway allows 500 per
 * second per account and region, and the bench stays below it.
 */
export async function connectUsers(
  ctx: ScenarioContext,
  users: readonly string[],
  options: { ratePerSecond?: number; label?: string } = {},
): Promise<BenchClient[]> {
  const tokens = await fetchTokens(ctx, users);
  const rate = options.ratePerSecond ?? 250;
  const started = performance.now();
  let done = 0;
  return mapLimit(users, 32, async (user, index) => {
    const due = started + (index / rate) * 1000;
    if (due > performance.now()) await sleep(due - performance.now());
    const client = await BenchClient.connect(ctx.wsUrl, user, tokens.get(user)!);
    done += 1;
    ctx.progress(options.label ?? 'connecting', `${done}/${users.length}`);
    return client;
  });
}

/** Fails loudly when a setup request did not get the reply it needed. */
export function expectReply<T extends Record<string, any>>(reply: T, type: string, what: string): T {
  if (reply.type !== type) throw new Error(`${what} failed: ${JSON.stringify(reply).slice(0, 300)}`);
  return reply;
}

/** One send of an open-loop schedule: who sends, where, and how many connections should get it. */
export interface Send {
  client: BenchClient;
  conversationId: string;
  recipients: number;
}

/**
 * Open-loop load: each slot sends every `intervalMs` from a random phase, regardless of how fast replies come
 * back, so a slow system shows up as latency instead of silently lowering the offered load.
 */
export async function runOpenLoop(
  ctx: ScenarioContext,
  recorder: PhaseRecorder,
  slots: readonly (() => Send)[],
  options: { intervalMs: number; durationSeconds: number; label: string },
): Promise<void> {
  const start = performance.now() + 50;
  const end = start + options.durationSeconds * 1000;
  const schedule: { at: number; slot: number }[] = [];
  slots.forEach((_, slot) => {
    for (let at = start + Math.random() * options.intervalMs; at < end; at += options.intervalMs) schedule.push({ at, slot });
  });
  schedule.sort((a, b) => a.at - b.at);
  const inFlight: Promise<unknown>[] = [];
  for (const item of schedule) {
    const wait = item.at - performance.now();
    if (wait > 1) await sleep(wait);
    recorder.scheduleLagMaxMs = Math.max(recorder.scheduleLagMaxMs, performance.now() - item.at);
    const send = slots[item.slot]!();
    inFlight.push(send.client.sendMessage(recorder, send.conversationId, send.recipients));
    ctx.progress(options.label, `sent ${recorder.sent}/${schedule.length} acked ${recorder.acked} delivered ${recorder.deliveries}`);
  }
  await Promise.all(inFlight);
}

/** Waits until every expected delivery arrived, or `timeoutMs` passed. */
export async function drain(ctx: ScenarioContext, recorder: PhaseRecorder, label: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!recorder.complete() && performance.now() < deadline) {
    ctx.progress(label, `draining ${recorder.deliveries}/${recorder.expectedDeliveries}`);
    await sleep(50);
  }
}

/**
 * Measures one span of a phase into `recorder`: marks the AWS call counters before and after (after the fanout queue
 * went quiet, so queued fanout is included).
 */
async function measureSpan(ctx: ScenarioContext, recorder: PhaseRecorder, run: (recorder: PhaseRecorder) => Promise<void>): Promise<void> {
  setCurrentPhase(recorder);
  await ctx.control({ kind: 'mark', name: `${recorder.id}:start` });
  const started = now();
  await run(recorder);
  await drain(ctx, recorder, recorder.id);
  recorder.activeMs += Math.max(0, recorder.lastDeliveryAt - started);
  await ctx.control({ kind: 'settle', quietMs: 1500, timeoutMs: 30_000 });
  await ctx.control({ kind: 'mark', name: `${recorder.id}:end` });
  setCurrentPhase(undefined);
}

function finishPhase(ctx: ScenarioContext, recorder: PhaseRecorder): PhaseClientStats {
  const stats = recorder.finish();
  ctx.log(
    `  ${recorder.id}: ${stats.acked} messages, ${stats.deliveries}/${stats.expectedDeliveries} deliveries, ` +
      `p50 ${stats.latency.p50} ms, p99 ${stats.latency.p99} ms, errors ${recorder.errorCount()}, ` +
      `duplicates ${stats.duplicates}, order violations ${stats.orderViolations}`,
  );
  return stats;
}

/** Runs one measured phase in a single span and returns what the clients saw. */
export async function measurePhase(ctx: ScenarioContext, phase: string, run: (recorder: PhaseRecorder) => Promise<void>): Promise<PhaseClientStats> {
  const recorder = startPhase(phase);
  await measureSpan(ctx, recorder, run);
  return finishPhase(ctx, recorder);
}

/** A design to compare: its phase name, how to switch the stack to it, and how long to load it in all. */
export interface Design {
  phase: string;
  select: () => Promise<unknown>;
  seconds: number;
}

/**
 * Measures several designs in alternating spans (A B A B ...), so that whatever else the machine is doing meanwhile
 * weighs on each of them alike; `load(recorder, seconds)` offers the same load to each.
 */
export async function measureInterleaved(
  ctx: ScenarioContext,
  designs: readonly Design[],
  rounds: number,
  load: (recorder: PhaseRecorder, seconds: number) => Promise<void>,
): Promise<Record<string, PhaseClientStats>> {
  const recorders = designs.map((design) => startPhase(design.phase));
  for (let round = 0; round < rounds; round++) {
    for (const [i, design] of designs.entries()) {
      await design.select();
      await measureSpan(ctx, recorders[i]!, (recorder) => load(recorder, design.seconds / rounds));
    }
  }
  return Object.fromEntries(recorders.map((recorder) => [recorder.id, finishPhase(ctx, recorder)]));
}

/**
 * How long Parley and the naive design are loaded in a comparison. They take turns over several rounds, so other
 * load on the machine weighs on both alike.
 */
export const comparisonTimings = (quick: boolean) => ({
  durationSeconds: quick ? 5 : 30,
  naiveSeconds: quick ? 3 : 10,
  warmUpSeconds: quick ? 2 : 5,
  rounds: quick ? 1 : 3,
});

/**
 * Parley against the naive fanout under the same open-loop load: both warmed up, then measured interleaved;
 * leaves the stack on Parley.
 */
export async function compareWithNaive(
  ctx: ScenarioContext,
  slots: readonly (() => Send)[],
  options: { label: string; intervalMs: number },
): Promise<{ parley: PhaseClientStats; naive: PhaseClientStats }> {
  const timings = comparisonTimings(ctx.quick);
  const load = (recorder: PhaseRecorder, seconds: number) =>
    runOpenLoop(ctx, recorder, slots, { intervalMs: options.intervalMs, durationSeconds: seconds, label: `${options.label} ${recorder.id}` });
  const designs = [
    { phase: 'parley', select: () => ctx.control({ kind: 'naive', on: false }), seconds: timings.durationSeconds },
    { phase: 'naive', select: () => ctx.control({ kind: 'naive', on: true }), seconds: timings.naiveSeconds },
  ];
  for (const design of designs) {
    await design.select();
    await warmUp(ctx, design.phase, (recorder) => load(recorder, timings.warmUpSeconds));
  }
  const { parley, naive } = await measureInterleaved(ctx, designs, timings.rounds, load);
  await ctx.control({ kind: 'naive', on: false });
  return { parley: parley!, naive: naive! };
}

/**
 * Runs the same load unmeasured first: the JVM under DynamoDB Local and V8 both need a few seconds of traffic before
 * their steady state, and whichever design ran first would otherwise pay for it.
 */
export async function warmUp(ctx: ScenarioContext, phase: string, run: (recorder: PhaseRecorder) => Promise<void>): Promise<void> {
  const recorder = startPhase(`${phase}-warmup`);
  await run(recorder);
  await drain(ctx, recorder, `${phase} warm-up`);
  await quiesce(ctx, `${phase} warm-up`);
}

/** Lets the system finish background work (presence jobs after connects, conversation pushes) before measuring. */
export async function quiesce(ctx: ScenarioContext, label: string): Promise<void> {
  ctx.progress(label, 'waiting for queued work');
  await ctx.control({ kind: 'settle', quietMs: 1500, timeoutMs: 120_000 });
}

/** `prefix-0000` ... user ids. */
export const userIds = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
