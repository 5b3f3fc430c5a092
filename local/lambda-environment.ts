import { AsyncLocalStorage } from 'node:async_hooks';

/** The environment of the Lambda container whose code runs in the current async context. */
const current = new AsyncLocalStorage<Record<string, string>>();
let installed = false;

/**
 * Replaces `process.env` (once per process) by a view that reads and writes the environment of the container the
 * current async context belongs to, so each local function sees exactly its own variables, as in its own execution
 * environment. Outside any container (the local stack, the tests) it is the process's real environment.
 */
function installEnvironmentView(): void {
  if (installed) return;
  installed = true;
  const real = process.env;
  const target = (): Record<string, string | undefined> => current.getStore() ?? real;
  // An empty target object: the proxy may then report any key as present or absent without breaking an invariant.
  process.env = new Proxy({} as NodeJS.ProcessEnv, {
    get: (_, key) => (typeof key === 'string' ? target()[key] : undefined),
    set: (_, key, value) => {
      // Like the real process.env, values are strings.
      if (typeof key === 'string') target()[key] = String(value);
      return true;
    },
    has: (_, key) => typeof key === 'string' && target()[key] !== undefined,
    deleteProperty: (_, key) => (typeof key === 'string' ? delete target()[key] : true),
    ownKeys: () => Object.keys(target()).filter((key) => target()[key] !== undefined),
    getOwnPropertyDescriptor: (_, key) => {
      const value = typeof key === 'string' ? target()[key] : undefined;
      return value === undefined ? undefined : { value, writable: true, enumerable: true, configurable: true };
    },
    defineProperty: (_, key, descriptor) => {
      if (typeof key === 'string') target()[key] = String(descriptor.value);
      return true;
    },
  });
}

/** Runs `fn` (and everything it starts asynchronously) with `process.env` being `environment`. */
export function withEnvironment<T>(environment: Record<string, string>, fn: () => T): T {
  installEnvironmentView();
  return current.run(environment, fn);
}
