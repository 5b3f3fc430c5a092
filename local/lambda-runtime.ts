import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { build, type Plugin } from 'esbuild';
import type { Deps } from '../lambdas/domain/deps.js';
import type { AwsClients } from '../lambdas/shared/aws-clients.js';
import type { Config } from '../lambdas/shared/config.js';
import type { SdkClientWithMiddleware } from './faults.js';
import { installEnvironmentView } from './lambda-environment.js';

/** How one function runs, as its template resource says (`Environment.Variables`, `Timeout`, `MemorySize`, ...). */
export interface LambdaFunctionConfig {
  /** Handler module relative to the repository root; it exports `handler`. */
  entry: string;
  /** Exactly what the handler's `process.env` holds. */
  environment: Record<string, string>;
  timeoutSeconds: number;
  memorySize: number;
  /** `ReservedConcurrentExecutions`: at most this many invocations at once; none: the account's unreserved pool. */
  reservedConcurrency?: number;
}

/** The module-level state of one container that the local stack instruments (its SDK clients). */
export interface ContainerModules {
  /** `lambdas/app/runtime.ts` of this container, if its handler loads it. */
  runtime?: { config: Config; clients: AwsClients; deps: Deps };
  /** `lambdas/app/connection-runtime.ts` (connect and disconnect: DynamoDB and SQS only). */
  connection?: { clients: Pick<AwsClients, 'ddb' | 'sqs'> };
  /** `lambdas/app/events-runtime.ts` of this container, if its handler loads it. */
  events?: { eventsClient: SdkClientWithMiddleware };
  /** `lambdas/app/archive-runtime.ts` (the archive consumer's own client). */
  archive?: { ddb: SdkClientWithMiddleware };
  /** `lambdas/app/authorizer-runtime.ts` (the authorizer's own client: ban items only). */
  authorizer?: { ddb: SdkClientWithMiddleware };
}

/** Counters of one function, for tests, the bench and the console. */
export interface FunctionStats {
  invocations: number;
  /** Invocations that started a new container (its module initialization). */
  coldStarts: number;
  timeouts: number;
  throttles: number;
  /** SDK calls refused because the invocation making them had timed out (its container was discarded). */
  refusedCalls: number;
  /** Containers alive now (busy or idle). */
  containers: number;
  /** Most invocations running at once. */
  peakConcurrency: number;
}

/** Lambda's answer when a function is at its concurrency limit (what API Gateway and event sources see). */
export class TooManyRequestsError extends Error {
  constructor(functionName: string) {
    super(`Rate Exceeded. (${functionName} is at its concurrency limit)`);
    this.name = 'TooManyRequestsException';
  }
}

/** An invocation that ran past its function's timeout. */
export class TaskTimedOutError extends Error {
  constructor(seconds: number) {
    super(`Task timed out after ${seconds.toFixed(2)} seconds`);
    this.name = 'TaskTimedOutError';
  }
}

/** An SDK call made after its invocation timed out: on AWS the container would be gone and the call never made. */
export class ContainerStoppedError extends Error {
  constructor(functionName: string, operation: string) {
    super(`${operation} refused: the ${functionName} invocation making it timed out and its container was discarded`);
    this.name = 'ContainerStoppedError';
  }
}

type Handler = (event: unknown, context: Context) => Promise<unknown>;

interface Container {
  id: number;
  functionName: string;
  handler?: Handler;
  modules: ContainerModules;
  discarded: boolean;
  /** Its `process.env`: a copy of the function's, so what its code writes stays in the container. */
  environment: Record<string, string>;
  /** Where its instrumented modules register. */
  runtime: { registerModule(container: Container, kind: keyof ContainerModules, exports: never): void };
}

/** What the current async context runs: a container's initialization or one of its invocations. */
interface Execution {
  container: Container;
  timedOut: boolean;
}

const executions = new AsyncLocalStorage<Execution>();

/** Modules whose exports a container hands to the runtime when it initializes them (appended by the bundler plugin). */
const instrumentedModules: Record<string, { kind: keyof ContainerModules; exports: string[] }> = {
  'lambdas/app/runtime.ts': { kind: 'runtime', exports: ['config', 'clients', 'deps'] },
  'lambdas/app/connection-runtime.ts': { kind: 'connection', exports: ['clients'] },
  'lambdas/app/events-runtime.ts': { kind: 'events', exports: ['eventsClient'] },
  'lambdas/app/archive-runtime.ts': { kind: 'archive', exports: ['ddb'] },
  'lambdas/app/authorizer-runtime.ts': { kind: 'authorizer', exports: ['ddb'] },
};
type ModuleHook = ((kind: keyof ContainerModules, exports: never) => void) & { lookups: (() => Container | undefined)[] };
// One hook per process, even if this file is loaded twice (a test runner's loader and Node's): each copy adds its lookup.
const moduleHook: ModuleHook = ((globalThis as Record<symbol, ModuleHook | undefined>)[Symbol.for('parley.local.containerModule')] ??= Object.assign(
  (kind: keyof ContainerModules, exports: never) => {
    for (const lookup of moduleHook.lookups) {
      const container = lookup();
      if (container) return container.runtime.registerModule(container, kind, exports);
    }
  },
  { lookups: [] },
));
moduleHook.lookups.push(() => executions.getStore()?.container);
// The same async context that says which container runs says whose `process.env` it sees (one store, not two).
const environmentOfExecution = () => executions.getStore()?.container.environment;

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
type NativeImport = (specifier: string) => Promise<{ handler: Handler }>;

/** Options of {@link LambdaRuntime}. */
export interface LambdaRuntimeOptions {
  /** Runs around every initialization and invocation (the IAM check's attribution). */
  around?: <T>(functionName: string, fn: () => Promise<T>) => Promise<T>;
  /** Concurrent invocations of all functions without reserved concurrency together (Lambda's default quota: 1000). */
  accountConcurrency?: number;
  /**
   * Containers per function at most (default 4): one process has one CPU for all of them, so beyond a few, more
   * containers only add module initializations. Invocations beyond it wait for a warm container; they still count
   * toward the concurrency that throttles.
   */
  maxContainersPerFunction?: number;
  /** How long an invocation waits for a busy container to free up before it starts another one (default 100 ms). */
  scaleUpDelayMs?: number;
  region?: string;
}

/**
 * Runs functions like Lambda execution environments, in-process: each container is its own module instance of the
 * function's esbuild bundle, with its own `process.env`, SDK clients and cold start. A container runs one invocation
 * at a time; more are started under concurrent load (up to a local cap), and an invocation beyond the reserved
 * concurrency is throttled (`TooManyRequestsException`). An invocation past the timeout fails with "Task timed out",
 * its container is discarded, and the SDK calls it still makes are refused.
 */
export class LambdaRuntime<Name extends string = string> {
  readonly stats: Record<Name, FunctionStats>;
  private readonly idle = new Map<Name, Container[]>();
  private readonly running = new Map<Name, number>();
  /** Invocations waiting for a container of a function at the local cap. */
  private readonly waiters = new Map<Name, (() => void)[]>();
  private readonly alive = new Set<Container>();
  private readonly hooks: ((functionName: Name, modules: ContainerModules) => void)[] = [];
  private readonly bundleDir = join(repositoryRoot, 'node_modules', '.cache', 'parley-local', `${process.pid}-${randomUUID().slice(0, 8)}`);
  private bundles: Partial<Record<Name, string>> = {};
  private nativeImport?: NativeImport;
  private nextContainerId = 1;

  constructor(
    private readonly functions: Record<Name, LambdaFunctionConfig>,
    private readonly options: LambdaRuntimeOptions = {},
  ) {
    this.stats = Object.fromEntries(
      Object.keys(functions).map((name) => [
        name,
        { invocations: 0, coldStarts: 0, timeouts: 0, throttles: 0, refusedCalls: 0, containers: 0, peakConcurrency: 0 },
      ]),
    ) as Record<Name, FunctionStats>;
  }

  /** The function's configuration (tests read the timeout the template gave it). */
  config(name: Name): LambdaFunctionConfig {
    return this.functions[name];
  }

  /** Bundles every function with esbuild (npm packages stay external: shared, loaded once by Node). */
  async build(): Promise<void> {
    const names = Object.keys(this.functions) as Name[];
    await build({
      entryPoints: Object.fromEntries(names.map((name) => [name, join(repositoryRoot, this.functions[name].entry)])),
      outdir: this.bundleDir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: `node${process.versions.node.split('.')[0]}`,
      mainFields: ['module', 'main'],
      packages: 'external',
      logLevel: 'silent',
      plugins: [containerModulesPlugin],
    });
    // Every container must be a fresh module instance of the whole bundle, which a query string gives only to modules
    // that Node's own loader loads. A test runner's transforming loader leaves files under node_modules to Node, so an
    // `import()` written there is Node's, whoever imports this runtime.
    const loader = join(this.bundleDir, 'native-import.mjs');
    await writeFile(loader, 'export const nativeImport = (specifier) => import(specifier);\n');
    this.nativeImport = ((await import(/* @vite-ignore */ pathToFileURL(loader).href)) as { nativeImport: NativeImport }).nativeImport;
    this.bundles = Object.fromEntries(names.map((name) => [name, pathToFileURL(join(this.bundleDir, `${name}.mjs`)).href])) as Record<Name, string>;
  }

  /**
   * Calls `hook` with the instrumented modules of every container of every function, the ones alive now and each one
   * started later (before its first invocation): where the local stack installs faults and IAM checks.
   */
  onContainerModules(hook: (functionName: Name, modules: ContainerModules) => void): void {
    this.hooks.push(hook);
    for (const container of this.alive) hook(container.functionName as Name, container.modules);
  }

  /** The instrumented modules of an idle container of `name`, started if there is none (the bench's naive design). */
  async containerModules(name: Name): Promise<ContainerModules> {
    const container = await this.acquire(name);
    this.release(container);
    return container.modules;
  }

  /** Invokes `name` with `event` as Lambda would (see the class comment). */
  async invoke(name: Name, event: unknown): Promise<unknown> {
    const config = this.functions[name];
    if (!config) throw new Error(`unknown function ${name}`);
    const stats = this.stats[name];
    const running = this.running.get(name) ?? 0;
    if (running >= this.limit(name)) {
      stats.throttles += 1;
      throw new TooManyRequestsError(name);
    }
    this.running.set(name, running + 1);
    stats.invocations += 1;
    stats.peakConcurrency = Math.max(stats.peakConcurrency, running + 1);
    let timer: NodeJS.Timeout | undefined;
    try {
      // Lambda runs an on-demand container's initialization before the invocation's timeout starts.
      const container = await this.acquire(name);
      const execution: Execution = { container, timedOut: false };
      const timeoutMs = config.timeoutSeconds * 1000;
      const deadline = Date.now() + timeoutMs;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          execution.timedOut = true;
          stats.timeouts += 1;
          this.discard(container);
          reject(new TaskTimedOutError(config.timeoutSeconds));
        }, timeoutMs);
      });
      const work = this.run(execution, () => container.handler!(event, lambdaContext(name, config, deadline, this.options.region)));
      // A timed-out invocation goes on in the background; its result no longer goes anywhere.
      work.catch(() => undefined);
      try {
        return await Promise.race([work, timedOut]);
      } finally {
        // A handler error leaves its container warm; a timeout discarded it.
        this.release(container);
      }
    } finally {
      clearTimeout(timer);
      this.running.set(name, (this.running.get(name) ?? 1) - 1);
    }
  }

  /** Discards every container and deletes the bundles. */
  async stop(): Promise<void> {
    for (const container of [...this.alive]) this.discard(container);
    await rm(this.bundleDir, { recursive: true, force: true });
  }

  /** Called by a container's instrumented module as it initializes. */
  registerModule(container: Container, kind: keyof ContainerModules, exports: NonNullable<ContainerModules[keyof ContainerModules]>): void {
    (container.modules as Record<string, unknown>)[kind] = exports;
    const modules = { [kind]: exports } as ContainerModules;
    const clients: SdkClientWithMiddleware[] = [
      ...Object.values(modules.runtime?.clients ?? {}),
      ...Object.values(modules.connection?.clients ?? {}),
      ...(modules.events ? [modules.events.eventsClient] : []),
      ...(modules.archive ? [modules.archive.ddb] : []),
      ...(modules.authorizer ? [modules.authorizer.ddb] : []),
    ];
    for (const hook of this.hooks) hook(container.functionName as Name, modules);
    // Innermost, after the hooks' own middleware (an injected delay runs first): a call of a timed-out invocation never
    // reaches the service.
    for (const client of clients) installStoppedCheck(client, this.stats[container.functionName as Name]);
  }

  private limit(name: Name): number {
    const reserved = this.functions[name].reservedConcurrency;
    if (reserved !== undefined) return reserved;
    const all = Object.values<LambdaFunctionConfig>(this.functions);
    const reservedTotal = all.reduce((sum, config) => sum + (config.reservedConcurrency ?? 0), 0);
    const unreservedRunning = [...this.running].reduce(
      (sum, [other, count]) => sum + (this.functions[other].reservedConcurrency === undefined && other !== name ? count : 0),
      0,
    );
    return Math.max(0, (this.options.accountConcurrency ?? 1000) - reservedTotal - unreservedRunning);
  }

  /**
   * A warm container of `name`, or a new one (a cold start) while the function has fewer than the local cap, or else
   * the next one an invocation releases.
   */
  private async acquire(name: Name): Promise<Container> {
    for (;;) {
      const idle = this.idle.get(name)?.pop();
      if (idle) return idle;
      const containers = this.stats[name].containers;
      if (containers === 0) return this.start(name);
      if (containers < (this.options.maxContainersPerFunction ?? 4)) {
        // A module initialization blocks the one event loop every container shares: give a busy container a moment
        // to free up before starting another, so a burst of short invocations does not become a burst of cold starts.
        if (!(await this.released(name, this.options.scaleUpDelayMs ?? 100))) return this.start(name);
        continue;
      }
      await this.released(name);
    }
  }

  /** Resolves true when an invocation of `name` releases its container, false after `ms` without one. */
  private released(name: Name, ms?: number): Promise<boolean> {
    return new Promise((resolve) => {
      const waiters = this.waitersOf(name);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer =
        ms === undefined
          ? undefined
          : setTimeout(() => {
              const index = waiters.indexOf(wake);
              if (index >= 0) waiters.splice(index, 1);
              resolve(false);
            }, ms);
      waiters.push(wake);
    });
  }

  private waitersOf(name: Name): (() => void)[] {
    let waiters = this.waiters.get(name);
    if (!waiters) this.waiters.set(name, (waiters = []));
    return waiters;
  }

  /** A cold start: a fresh module instance of the bundle, initialized in the container's environment. */
  private async start(name: Name): Promise<Container> {
    const url = this.bundles[name];
    const nativeImport = this.nativeImport;
    if (!url || !nativeImport) throw new Error(`${name} is not built (call build() first)`);
    const container: Container = {
      id: this.nextContainerId++,
      functionName: name,
      modules: {},
      discarded: false,
      environment: { ...this.functions[name].environment },
      runtime: this,
    };
    this.alive.add(container);
    this.stats[name].coldStarts += 1;
    this.stats[name].containers += 1;
    try {
      const module = await this.run({ container, timedOut: false }, () => nativeImport(`${url}?container=${container.id}`));
      if (typeof module.handler !== 'function') throw new Error(`${this.functions[name].entry} exports no handler`);
      container.handler = module.handler;
    } catch (error) {
      // A failed initialization fails the invocation that needed it; the next one tries a fresh container.
      this.discard(container);
      throw error;
    }
    return container;
  }

  private run<T>(execution: Execution, fn: () => Promise<T>): Promise<T> {
    const name = execution.container.functionName as Name;
    const around = this.options.around ?? ((_name: string, inner: () => Promise<T>) => inner());
    installEnvironmentView(environmentOfExecution);
    return executions.run(execution, () => around(name, fn));
  }

  private release(container: Container): void {
    const name = container.functionName as Name;
    if (!container.discarded) {
      const idle = this.idle.get(name) ?? [];
      idle.push(container);
      this.idle.set(name, idle);
    }
    this.waitersOf(name).shift()?.();
  }

  private discard(container: Container): void {
    if (container.discarded) return;
    const name = container.functionName as Name;
    container.discarded = true;
    this.alive.delete(container);
    this.stats[name].containers -= 1;
    this.idle.set(
      name,
      (this.idle.get(name) ?? []).filter((candidate) => candidate !== container),
    );
    // Its place under the cap is free: a waiting invocation may start a new container.
    this.waitersOf(name).shift()?.();
  }
}

/** The SDK middleware that refuses a call of a timed-out invocation (or of any code of a discarded container). */
function installStoppedCheck(client: SdkClientWithMiddleware, stats: FunctionStats): void {
  type Next = (args: unknown) => Promise<unknown>;
  const middleware = (next: Next, context: { commandName?: string }) => async (args: unknown) => {
    const execution = executions.getStore();
    if (execution && (execution.timedOut || execution.container.discarded)) {
      stats.refusedCalls += 1;
      throw new ContainerStoppedError(execution.container.functionName, (context.commandName ?? 'call').replace(/Command$/, ''));
    }
    return next(args);
  };
  client.middlewareStack.add(middleware as never, { step: 'deserialize', priority: 'low', name: 'parleyLocalStoppedContainer', override: true });
}

/** Appends to each instrumented module a call that hands its exports to the container initializing it. */
const containerModulesPlugin: Plugin = {
  name: 'parley-container-modules',
  setup(builder) {
    const byPath = new Map(Object.entries(instrumentedModules).map(([path, hook]) => [resolve(repositoryRoot, path), hook]));
    builder.onLoad({ filter: /lambdas[\\/]app[\\/][a-z-]+\.ts$/ }, async (args) => {
      const hook = byPath.get(args.path);
      if (!hook) return undefined;
      const source = await readFile(args.path, 'utf8');
      const register = `\n(globalThis as any)[Symbol.for('parley.local.containerModule')]?.('${hook.kind}', { ${hook.exports.join(', ')} });\n`;
      return { contents: source + register, loader: 'ts', resolveDir: dirname(args.path) };
    });
  },
};

/** A Lambda context for a local invocation. */
function lambdaContext(name: string, config: LambdaFunctionConfig, deadline: number, region = 'us-east-1'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `parley-${name}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:parley-${name}`,
    memoryLimitInMB: String(config.memorySize),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/parley-${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** The variables Lambda itself sets in every execution environment, that the handlers or Powertools read. */
export function lambdaRuntimeVariables(name: string, config: Pick<LambdaFunctionConfig, 'memorySize'>, region: string): Record<string, string> {
  return {
    AWS_LAMBDA_FUNCTION_NAME: `parley-${name}`,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(config.memorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/parley-${name}`,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    TZ: ':UTC',
  };
}
