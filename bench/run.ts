import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { startLocalStack, type LocalStack } from '../local/stack.js';
import { measureColdStart } from './cold-start.js';
import { runConnectionsBench } from './connections.js';
import { createNaiveSend } from './naive-fanout.js';
import { Progress } from './progress.js';
import { capacityText, updateCapacitySection, updateSyncSection, writeReport } from './report.js';
import { runSyncBench } from './sync-bench.js';
import { compilePhase, windowOver, type Mark, type ScenarioResult, type Span } from './scenario-results.js';
import { StackHooks } from './stack-hooks.js';
import { scenarioNames, type ControlAction, type FromWorker, type ScenarioName, type ToWorker } from './worker-protocol.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Steps besides the load scenarios: the cold-start measurement, the capacity model (no local stack), the sync
 * cost for a user in 1,000 conversations (its own DynamoDB Local), and 100,000 connections (its own local stack).
 */
const extraSteps = ['cold-start', 'capacity', 'sync', 'connections'];
const usage = `Usage: npm run bench -- [--quick] [--scenario NAME]... [--connections N] [--out DIR]
  --quick          a smoke run of about 2 minutes (fewer users, shorter phases); results go to bench/results/tmp/quick
  --scenario NAME  run only this step (repeatable): ${[...scenarioNames, ...extraSteps].join(', ')}
                   capacity alone prints the capacity and cost model and updates only its section of the report,
                   in seconds and without the local stack; every full run includes it
                   sync alone measures catch-up for a user in 1,000 conversations, before and after the paged
                   redesign, on its own DynamoDB Local (about a minute), and updates only its section of the report
                   connections opens up to 100,000 connections on its own local stack (about 45 minutes:
                   the stack connects 50-80 per second on 2 cores)
  --connections N  how many connections the connections step opens (default 100,000; 2,000 with --quick)
  --out DIR        where the result files and the report go (default: bench/results, and BENCHMARKS.md itself)
Environment: BENCH_QUICK=1 is the same as --quick.`;

/**
 * Handler limits the bench overrides. A 1,000-member group exceeds the default maxGroupMembers (256).
 * The per-connection send rate limit (10/s, burst 30) is left at its default: no bench client sends faster.
 */
const handlerEnv = { MAX_GROUP_MEMBERS: '1000', POWERTOOLS_LOG_LEVEL: 'ERROR' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
      scenario: { type: 'string', multiple: true },
      out: { type: 'string' },
      connections: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const quick = values.quick ?? false;
  const connections = values.connections === undefined ? undefined : Number(values.connections);
  if (connections !== undefined && !(Number.isInteger(connections) && connections >= 2)) {
    throw new Error(`--connections must be an integer of at least 2, got "${values.connections}"\n${usage}`);
  }
  const selected = values.scenario ?? [...scenarioNames, 'cold-start', 'sync', 'connections'];
  const unknown = selected.filter((name) => ![...scenarioNames, ...extraSteps].includes(name));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}\n${usage}`);
  const outDir = values.out ?? join(root, quick ? 'bench/results/tmp/quick' : 'bench/results');
  // An explicit --out keeps the run out of the committed report (a one-scenario run would otherwise replace it).
  const reportPath = quick || values.out !== undefined ? join(outDir, 'BENCHMARKS.md') : join(root, 'BENCHMARKS.md');
  if (selected.every((name) => name === 'capacity')) {
    // A model of AWS at scale: nothing to measure, so no stack, no result files; the measured sections stay as they are.
    process.stdout.write(capacityText());
    await mkdir(dirname(reportPath), { recursive: true });
    console.error(`Report (capacity section): ${await updateCapacitySection(reportPath)}`);
    return;
  }
  await mkdir(outDir, { recursive: true });
  if (selected.every((name) => name === 'capacity' || name === 'sync')) {
    // Sync cost alone: its own DynamoDB Local, its result file, its section of the report; the rest stays as it is.
    const progress = new Progress();
    progress.log('sync:');
    const result = await runSyncBench((line) => progress.log(line));
    const file = join(outDir, 'sync.json');
    await writeFile(file, `${JSON.stringify({ ...result, environment: { ...describeEnvironment(), loadAverage1m: loadavg()[0]!.toFixed(2) } }, null, 2)}\n`);
    progress.done();
    console.error(`Report (sync section): ${await updateSyncSection(reportPath, file)}`);
    if (selected.includes('capacity')) console.error(`Report (capacity section): ${await updateCapacitySection(reportPath)}`);
    return;
  }
  const progress = new Progress();
  const environment = describeEnvironment();
  const scenarios = scenarioNames.filter((name) => selected.includes(name));

  if (scenarios.length > 0) {
    progress.update('starting the local stack');
    const stackErrors = new Map<string, number>();
    const stack = await startLocalStack({
      env: handlerEnv,
      onError: (message) => stackErrors.set(message, (stackErrors.get(message) ?? 0) + 1),
    });
    try {
      const hooks = new StackHooks(stack);
      // The naive design runs on an actions container's own clients and deps (counted like the real handler's).
      const { runtime } = await stack.lambdas.containerModules('actions');
      if (!runtime) throw new Error('the actions function loads no lambdas/app/runtime.ts');
      const naiveSend = createNaiveSend(runtime.deps, runtime.clients, runtime.config.tables.presence);
      for (const name of scenarios) {
        progress.log(`${name}:`);
        const started = Date.now();
        const loadBefore = loadavg()[0]!;
        const result = await runScenario(name, { stack, hooks, naiveSend, quick, progress });
        const file = join(outDir, `${name}.json`);
        // Other processes on the machine skew local latencies; the load average says how much was going on.
        const load = `${loadBefore.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)}`;
        const stackErrorCounts = JSON.stringify(Object.fromEntries(stackErrors));
        await writeFile(
          file,
          `${JSON.stringify({ ...result, environment: { ...environment, loadAverage1m: load, stackErrors: stackErrorCounts } }, null, 2)}\n`,
        );
        progress.log(`  done in ${Math.round((Date.now() - started) / 1000)} s -> ${file}`);
      }
    } finally {
      progress.update('stopping the local stack');
      await stack.stop();
    }
  }
  if (selected.includes('cold-start')) {
    progress.log('cold-start:');
    const bundles = await measureColdStart(join(root, 'bench/results/tmp/bundles'), quick ? 3 : 7, (detail) => progress.update('cold start', detail));
    await writeFile(
      join(outDir, 'cold-start.json'),
      `${JSON.stringify({ name: 'cold-start', generatedAt: new Date().toISOString(), quick, environment, bundles }, null, 2)}\n`,
    );
    for (const bundle of bundles) progress.log(`  ${bundle.function}: ${(bundle.bytes / 1024).toFixed(0)} KB, init ${bundle.initMsMedian} ms`);
  }
  if (selected.includes('sync')) {
    progress.log('sync:');
    const started = Date.now();
    const result = await runSyncBench((line) => progress.log(line));
    const file = join(outDir, 'sync.json');
    await writeFile(file, `${JSON.stringify({ ...result, environment: { ...environment, loadAverage1m: loadavg()[0]!.toFixed(2) } }, null, 2)}\n`);
    progress.log(`  done in ${Math.round((Date.now() - started) / 1000)} s -> ${file}`);
  }
  if (selected.includes('connections')) {
    progress.log('connections:');
    const started = Date.now();
    const result = await runConnectionsBench({
      quick,
      target: connections,
      env: handlerEnv,
      environment: { ...environment, loadAverage1m: loadavg()[0]!.toFixed(2) },
      log: (line) => progress.log(line),
      progress: (detail) => progress.update('connections', detail),
    });
    const file = join(outDir, 'connections.json');
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    progress.log(`  done in ${Math.round((Date.now() - started) / 1000)} s -> ${file}`);
  }
  progress.update('writing the report');
  const report = await writeReport(outDir, reportPath);
  progress.done();
  console.error(`Report: ${report}`);
}

interface RunContext {
  stack: LocalStack;
  hooks: StackHooks;
  naiveSend: ReturnType<typeof createNaiveSend>;
  quick: boolean;
  progress: Progress;
}

/** Runs one scenario's load in a fresh worker thread, serving its control requests, and compiles its result. */
async function runScenario(name: ScenarioName, context: RunContext): Promise<ScenarioResult> {
  const { stack, hooks, progress } = context;
  // Spans by window name; a window marked more than once (interleaved designs) has several.
  const spans = new Map<string, { start: Mark; end?: Mark }[]>();
  // How busy the stack's thread (emulators, handlers, SDK clients) was per window: when near 100%, the local machine is
  // the bottleneck, not the design.
  const busy = new Map<string, { activeMs: number; idleMs: number }>();
  let spanStartedElu: EventLoopUtilization | undefined;
  const takeMark = (): Mark => ({
    at: Date.now(),
    calls: hooks.counter.snapshot(),
    invocationMarks: hooks.invocationMarks(),
    emulator: {
      messagesIn: stack.emulator.stats.messagesIn,
      postToConnection: stack.emulator.stats.postToConnection,
      gone: stack.emulator.stats.gone,
      connects: stack.emulator.stats.connects,
      disconnects: stack.emulator.stats.disconnects,
    },
    poller: { batches: stack.poller.stats.batches, records: stack.poller.stats.records, failedRecords: stack.poller.stats.failedRecords },
  });
  const control = async (action: ControlAction): Promise<unknown> => {
    switch (action.kind) {
      case 'mark': {
        const [window, edge] = action.name.split(':') as [string, 'start' | 'end'];
        const list = spans.get(window) ?? [];
        spans.set(window, list);
        if (edge === 'start') {
          list.push({ start: takeMark() });
          spanStartedElu = performance.eventLoopUtilization();
        } else {
          list.at(-1)!.end = takeMark();
          const elu = performance.eventLoopUtilization(spanStartedElu);
          const total = busy.get(window) ?? { activeMs: 0, idleMs: 0 };
          busy.set(window, { activeMs: total.activeMs + elu.active, idleMs: total.idleMs + elu.idle });
        }
        return undefined;
      }
      case 'naive':
        hooks.setSendOverride(action.on ? context.naiveSend : undefined);
        return undefined;
      case 'drop-connections':
        for (const id of stack.emulator.connectionIds()) stack.emulator.dropWithoutDisconnect(id);
        return undefined;
      case 'settle':
        return settle(context, action.quietMs, action.timeoutMs);
    }
  };
  // Workers do not inherit tsx's loader for their entry module; register it first, then load the worker.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./load-worker.ts', import.meta.url).href;
  const worker = new Worker(`import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`, {
    eval: true,
  });
  try {
    const clientResult = await new Promise<NonNullable<Extract<FromWorker, { kind: 'result' }>['result']>>((resolve, reject) => {
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`load worker exited with ${code}`)));
      worker.on('message', (message: FromWorker) => {
        if (message.kind === 'progress') progress.update(`${name} ${message.phase}`, message.detail);
        else if (message.kind === 'log') progress.log(message.line);
        else if (message.kind === 'result') resolve(message.result);
        else if (message.kind === 'error') reject(new Error(message.message));
        else void control(message.action).then((value) => worker.postMessage({ kind: 'control-done', id: message.id, value } satisfies ToWorker));
      });
      worker.postMessage({ kind: 'run', scenario: name, quick: context.quick, wsUrl: stack.wsUrl, httpUrl: stack.httpUrl } satisfies ToWorker);
    });
    const spansOf = (window: string): Span[] => {
      const list = spans.get(window) ?? [];
      if (list.length === 0 || list.some((span) => !span.end)) throw new Error(`${name}: incomplete marks for ${window}`);
      return list as Span[];
    };
    const phases = Object.fromEntries(
      Object.entries(clientResult.phases).map(([phase, stats]) => [
        phase,
        { ...compilePhase(stats, spansOf(phase), hooks.invocations), stackThread: stackThread(busy.get(phase)) },
      ]),
    );
    const windows = Object.fromEntries(
      [...spans.keys()].filter((window) => !(window in phases)).map((window) => [window, windowOver(spansOf(window), hooks.invocations)]),
    );
    return { ...clientResult, phases, windows, generatedAt: new Date().toISOString(), quick: context.quick, environment: {} };
  } finally {
    await worker.terminate();
  }
}

/** Busy time and share of the stack's thread over a window. */
function stackThread(totals: { activeMs: number; idleMs: number } | undefined) {
  if (!totals) return undefined;
  const utilization = totals.activeMs / Math.max(1, totals.activeMs + totals.idleMs);
  return { busyMs: Math.round(totals.activeMs), utilization: Math.round(utilization * 1000) / 1000 };
}

/** Waits until no handler runs and the fanout queue delivered nothing new for `quietMs`. */
async function settle(context: RunContext, quietMs: number, timeoutMs: number): Promise<void> {
  const { stack, hooks } = context;
  const deadline = Date.now() + timeoutMs;
  const signature = () => `${stack.poller.stats.records}/${stack.emulator.stats.postToConnection}/${stack.emulator.stats.messagesIn}`;
  let last = signature();
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    await sleep(100);
    const current = signature();
    if (current !== last || hooks.inFlight > 0) {
      last = current;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) {
      return;
    }
  }
}

function describeEnvironment(): Record<string, string | number> {
  const gitCommit = (() => {
    try {
      const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
      // The system under test is what is in the working tree, which may be ahead of the commit.
      const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lambdas', 'local', 'lib'], { cwd: root, encoding: 'utf8' }).trim();
      return dirty ? `${commit} + uncommitted changes in lambdas/, local/ or lib/` : commit;
    } catch {
      return 'unknown';
    }
  })();
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    platform: process.platform,
    gitCommit,
    handlerEnv: JSON.stringify(handlerEnv),
  };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
