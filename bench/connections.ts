/**
 * The connections step of `npm run bench`: opens up to 100,000 concurrent authenticated WebSocket connections on the
 * local stack, from several client processes on several loopback source addresses, then holds them with heartbeats at
 * the SDK's production cadence plus a 1:1 trickle, then drives heartbeats as fast as the stack answers. Reports the
 * connect rate, heartbeat throughput, memory per connection, trickle latency, and what stopped the ramp short of the
 * target when something did.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { defaultHeartbeatIntervalMs } from '../client/types.js';
import { mapLimit } from '../lambdas/domain/concurrency.js';
import { startLocalStack } from '../local/stack.js';
import type { WorkerCommand, WorkerStats } from './connections-worker.js';
import type { LatencySummary } from './metrics.js';

/** API Gateway's default new-connection quota is 500 per second per account and region; the ramp stays below it. */
const rampPerSecond = 400;
/** Connections per client process: under the per-process descriptor limit, with room for the process itself. */
const perWorker = 15_000;
/** A loopback source address has ~28,000 ephemeral ports towards one server port; two per process is plenty. */
const addressesPerWorker = 2;
/** Descriptors a socket process keeps free besides its WebSocket connections (IPC, stdio, files). */
const socketFdReserve = 1_000;
const trickleIntervalMs = 10_000;

/** What one connections run measured. */
export interface ConnectionsResult {
  name: 'connections';
  generatedAt: string;
  quick: boolean;
  target: number;
  /** The most the stack's socket processes could hold, and why the ramp stopped where it did. */
  ceiling: { connections: number; socketProcesses: number; stoppedBy: string | null };
  ramp: {
    seconds: number;
    offeredPerSecond: number;
    open: number;
    connectsPerSecond: number;
    connectMs: LatencySummary;
    failed: Record<string, number>;
    stackCpuPercent: number;
    stackThreadBusyPercent: number;
    socketProcessesCpuPercent: number;
    dynamoDbCpuPercent: number | null;
  };
  hold: Phase & { heartbeatIntervalMs: number };
  burst: Phase & { heartbeatsPerSecond: number };
  memory: {
    stackRssBytesBefore: number;
    stackRssBytesAfter: number;
    stackBytesPerConnection: number;
    /** The socket processes' resident memory per connection they hold. */
    socketBytesPerConnection: number;
    dynamoDbRssBytes: number | null;
    clientBytesPerConnection: number;
  };
  environment: Record<string, string | number>;
}

interface Phase {
  seconds: number;
  open: number;
  closedAfterOpen: number;
  heartbeats: { sent: number; answered: number; latency: LatencySummary };
  trickle: { sent: number; acked: number; delivered: number; latency: LatencySummary };
  stackCpuPercent: number;
  stackThreadBusyPercent: number;
  socketProcessesCpuPercent: number;
  dynamoDbCpuPercent: number | null;
}

/** A client process and the one reply it owes for each command. */
class ClientProcess {
  private readonly child: ChildProcess;
  private waiting: { resolve: (value: unknown) => void; reject: (error: Error) => void } | undefined;

  constructor() {
    this.child = fork(new URL('./connections-worker.ts', import.meta.url), { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message) => this.settle()?.resolve(message));
    this.child.on('exit', (code) => this.settle()?.reject(new Error(`connections client exited with ${code}`)));
  }

  ask<T>(command: WorkerCommand): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve: resolve as (value: unknown) => void, reject };
      this.child.send(command);
    });
  }

  private settle() {
    const waiting = this.waiting;
    this.waiting = undefined;
    return waiting;
  }
}

/** The soft and hard limits on open files of this process, from /proc (Node has no getrlimit). */
export function openFileLimits(): { soft: number; hard: number } {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line?.match(/\d+|unlimited/g) ?? []).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
    return { soft: soft ?? Infinity, hard: hard ?? Infinity };
  } catch {
    return { soft: Infinity, hard: Infinity };
  }
}

/** CPU seconds (user + system) used so far and resident memory, summed over the processes `matches` picks. */
function usageOf(matches: (cmdline: string, status: string) => boolean): { cpuSeconds: number; rssBytes: number } | null {
  let found: { cpuSeconds: number; rssBytes: number } | null = null;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (!matches(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), status)) continue;
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      found ??= { cpuSeconds: 0, rssBytes: 0 };
      // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
      found.cpuSeconds += (Number(fields[11]) + Number(fields[12])) / 100;
      found.rssBytes += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // The process went away while being read.
    }
  }
  return found;
}

/** DynamoDB Local's JVM. */
const dynamoDbUsage = () => usageOf((cmdline) => cmdline.includes('DynamoDBLocal'));
/** The stack's socket processes (`local/socket-process.ts`), children of this process. */
const socketUsage = () => usageOf((cmdline, status) => cmdline.includes('socket-process') && status.includes(`PPid:\t${process.pid}\n`));

/** Measures CPU of the stack's process, of its event loop and of DynamoDB Local over a window. */
function cpuWindow() {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const elu: EventLoopUtilization = performance.eventLoopUtilization();
  const ddb = dynamoDbUsage();
  const sockets = socketUsage();
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const ddbNow = dynamoDbUsage();
    const socketsNow = socketUsage();
    return {
      socketProcessesCpuPercent: Math.round((((socketsNow?.cpuSeconds ?? 0) - (sockets?.cpuSeconds ?? 0)) / seconds) * 100),
      seconds: Math.round(seconds * 10) / 10,
      stackCpuPercent: Math.round(((used.user + used.system) / 1e6 / seconds) * 100),
      stackThreadBusyPercent: Math.round(performance.eventLoopUtilization(elu).utilization * 100),
      dynamoDbCpuPercent: ddb && ddbNow ? Math.round(((ddbNow.cpuSeconds - ddb.cpuSeconds) / seconds) * 100) : null,
    };
  };
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Merges per-process stats; latency summaries are taken from the process holding the most samples. */
function merge(stats: WorkerStats[]) {
  const biggest = (pick: (s: WorkerStats) => LatencySummary) => stats.map(pick).reduce((a, b) => (b.count > a.count ? b : a));
  const failed: Record<string, number> = {};
  for (const s of stats) for (const [code, n] of Object.entries(s.failed)) failed[code] = (failed[code] ?? 0) + n;
  return {
    open: sum(stats.map((s) => s.open)),
    closedAfterOpen: sum(stats.map((s) => s.closedAfterOpen)),
    failed,
    connectMs: biggest((s) => s.connectMs),
    heartbeats: {
      sent: sum(stats.map((s) => s.heartbeats.sent)),
      answered: sum(stats.map((s) => s.heartbeats.answered)),
      latency: biggest((s) => s.heartbeats.latency),
    },
    trickle: {
      sent: sum(stats.map((s) => s.trickle.sent)),
      acked: sum(stats.map((s) => s.trickle.acked)),
      delivered: sum(stats.map((s) => s.trickle.delivered)),
      latency: biggest((s) => s.trickle.latency),
    },
    rssBytes: sum(stats.map((s) => s.rssBytes)),
  };
}

/** Runs the connections step against a fresh local stack. */
export async function runConnectionsBench(options: {
  quick: boolean;
  /** How many connections to open (default 100,000; 2,000 when quick). */
  target?: number;
  env: Record<string, string>;
  environment: Record<string, string | number>;
  log: (line: string) => void;
  progress: (detail: string) => void;
}): Promise<ConnectionsResult> {
  const { quick, log } = options;
  const target = options.target ?? (quick ? 2_000 : 100_000);
  // The stack connects 50-80 per second on 2 cores (each connect runs the authorizer and $connect's writes, next to
  // DynamoDB Local and the client processes), so the ramp gets the time that takes, not the 250 s API Gateway's quota would allow.
  const rampSeconds = quick ? 30 : Math.ceil(target / 45);
  const holdSeconds = quick ? 15 : 60;
  const burstSeconds = quick ? 5 : 20;
  const pairs = quick ? 20 : 100;
  // A process may hold RLIMIT_NOFILE open files (here the hard limit, raised only with CAP_SYS_RESOURCE), one per
  // WebSocket: the stack spreads the connections over socket processes, as API Gateway spreads them over its fleet.
  const perSocketProcess = Math.max(1, openFileLimits().soft - socketFdReserve);
  const socketCount = Math.ceil(target / perSocketProcess);
  log(`  ${socketCount} socket processes of up to ${perSocketProcess} connections each`);

  const stack = await startLocalStack({ env: options.env, onError: () => undefined, socketProcesses: socketCount });
  const planned = target;
  const run = Date.now().toString(36);
  const workers: ClientProcess[] = [];
  try {
    const users = Array.from({ length: planned }, (_, i) => `c${run}-${i}`);
    options.progress('minting tokens');
    const tokens = await mapLimit(users, 64, (userId) => stack.devAuth.issueToken(userId));
    // User i connects from process i % count, as its (i / count)th socket. A chatting pair is two users of one process
    // (i and i + count), so each process measures its own pairs' latency on one clock.
    const count = Math.max(2, Math.ceil(planned / perWorker));
    const trickle = Array.from({ length: pairs }, (_, n) => {
      const a = 2 * count * Math.floor(n / count) + (n % count);
      return { process: n % count, pair: { a: Math.floor(a / count), b: Math.floor(a / count) + 1, peer: users[a + count]! } };
    });
    for (let w = 0; w < count; w++) workers.push(new ClientProcess());
    const share = (w: number) => users.map((_, i) => i).filter((i) => i % count === w);
    const rssBefore = process.memoryUsage().rss;
    const socketRssBefore = socketUsage()?.rssBytes ?? 0;
    const clientRssBefore = merge(await Promise.all(workers.map((w) => w.ask<WorkerStats>({ kind: 'stats' })))).rssBytes;

    options.progress(`ramp: ${planned} connections at ${rampPerSecond}/s`);
    const rampDone = cpuWindow();
    const deadline = Date.now() + rampSeconds * 1000;
    const ramp = merge(
      await Promise.all(
        workers.map((worker, w) =>
          worker.ask<WorkerStats>({
            kind: 'connect',
            wsUrl: stack.wsUrl,
            localAddresses: Array.from({ length: addressesPerWorker }, (_, a) => `127.0.0.${10 + w * addressesPerWorker + a}`),
            users: share(w).map((i) => ({ userId: users[i]!, token: tokens[i]! })),
            ratePerSecond: rampPerSecond / count,
            deadline,
            heartbeatIntervalMs: defaultHeartbeatIntervalMs,
          }),
        ),
      ),
    );
    const rampCpu = rampDone();
    const rampResult = {
      ...rampCpu,
      offeredPerSecond: rampPerSecond,
      open: ramp.open,
      connectsPerSecond: Math.round(ramp.open / rampCpu.seconds),
      connectMs: ramp.connectMs,
      failed: ramp.failed,
    };
    log(`  ramp: ${ramp.open} open in ${rampCpu.seconds} s (${rampResult.connectsPerSecond}/s), stack thread ${rampCpu.stackThreadBusyPercent}% busy`);
    const stoppedBy =
      ramp.open < planned
        ? Date.now() >= deadline
          ? `the ${rampSeconds} s ramp budget: the stack connected ${rampResult.connectsPerSecond}/s with its thread ${rampCpu.stackThreadBusyPercent}% busy and DynamoDB Local at ${rampCpu.dynamoDbCpuPercent ?? '?'}% CPU`
          : `connect failures: ${JSON.stringify(ramp.failed)}`
        : null;

    // Hold: every connection heartbeats at the SDK's cadence while the pairs chat.
    options.progress(`hold: ${ramp.open} connections, heartbeats every ${defaultHeartbeatIntervalMs / 1000} s, ${pairs} chatting pairs`);
    await Promise.all(workers.map((w) => w.ask({ kind: 'reset' })));
    await Promise.all(
      workers.map((w, index) =>
        w.ask({ kind: 'trickle', pairs: trickle.filter((t) => t.process === index).map((t) => t.pair), intervalMs: trickleIntervalMs }),
      ),
    );
    const holdDone = cpuWindow();
    await sleep(holdSeconds * 1000);
    const hold = merge(await Promise.all(workers.map((w) => w.ask<WorkerStats>({ kind: 'stats' }))));
    const holdCpu = holdDone();
    const rssAfter = process.memoryUsage().rss;
    const socketRssAfter = socketUsage()?.rssBytes ?? 0;

    options.progress(`burst: heartbeats as fast as the stack answers, ${burstSeconds} s`);
    const burstDone = cpuWindow();
    const burst = merge(await Promise.all(workers.map((w) => w.ask<WorkerStats>({ kind: 'burst', seconds: burstSeconds, inFlight: 64 }))));
    const burstCpu = burstDone();
    const heartbeatsPerSecond = Math.round(burst.heartbeats.answered / burstCpu.seconds);
    log(`  burst: ${heartbeatsPerSecond} heartbeats/s answered, stack thread ${burstCpu.stackThreadBusyPercent}% busy`);

    const ddb = dynamoDbUsage();
    const open = Math.max(1, ramp.open);
    return {
      name: 'connections',
      generatedAt: new Date().toISOString(),
      quick,
      target,
      ceiling: { connections: planned, socketProcesses: socketCount, stoppedBy },
      ramp: rampResult,
      hold: {
        ...holdCpu,
        open: hold.open,
        closedAfterOpen: hold.closedAfterOpen,
        heartbeats: hold.heartbeats,
        trickle: hold.trickle,
        heartbeatIntervalMs: defaultHeartbeatIntervalMs,
      },
      burst: {
        ...burstCpu,
        open: burst.open,
        closedAfterOpen: burst.closedAfterOpen,
        heartbeats: burst.heartbeats,
        trickle: burst.trickle,
        heartbeatsPerSecond,
      },
      memory: {
        stackRssBytesBefore: rssBefore,
        stackRssBytesAfter: rssAfter,
        stackBytesPerConnection: Math.round((rssAfter - rssBefore) / open),
        socketBytesPerConnection: Math.round((socketRssAfter - socketRssBefore) / open),
        dynamoDbRssBytes: ddb?.rssBytes ?? null,
        clientBytesPerConnection: Math.round((hold.rssBytes - clientRssBefore) / open),
      },
      environment: options.environment,
    };
  } finally {
    await Promise.all(workers.map((w) => w.ask({ kind: 'close' }).catch(() => undefined)));
    await stack.stop();
  }
}
