/** Where the view finds the environment of the container the current async context belongs to. */
type EnvironmentLookup = () => Record<string, string> | undefined;

const lookups: EnvironmentLookup[] = [];

/**
 * Replaces `process.env` (once per process) by a view that reads and writes the environment of the container the
 * current async context belongs to (as `lookup` finds it), so each local function sees exactly its own variables, as in
 * its own execution environment. Outside any container (the local stack, the tests) it is the process's real one.
 */
export function installEnvironmentView(lookup: EnvironmentLookup): void {
  if (lookups.includes(lookup)) return;
  lookups.push(lookup);
  if (lookups.length > 1) return;
  const real = process.env;
  const target = (): Record<string, string | undefined> => {
    for (const find of lookups) {
      const environment = find();
      if (environment) return environment;
    }
    return real;
  };
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
