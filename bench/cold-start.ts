import { execFile } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { bundleBanner, bundleExternalModules, bundleMainFields, bundleTarget } from '../lib/bundling.js';
import { commonEnv, functions, queues, tables, type FunctionName } from '../lib/definitions.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Size and module initialization time of one handler bundle. */
export interface BundleResult {
  function: FunctionName;
  bytes: number;
  gzipBytes: number;
  /** Median and min over the runs of the time to `import()` the bundle in a fresh `node` process. */
  initMsMedian: number;
  initMsMin: number;
  /** Median time from process start until the import finished (Node's own boot included). */
  processReadyMsMedian: number;
  runs: number;
  /** The biggest contributors to the bundle, by package (minified bytes). */
  topPackages: { name: string; bytes: number }[];
}

/** Target from the issue: every handler bundle at most this big. */
export const bundleBudgetBytes = 500 * 1024;

/** Environment a handler reads at import; the values point nowhere, since initialization makes no calls. */
function handlerEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    ...Object.fromEntries(Object.values(tables).map((table) => [table.envVar, `parley-${table.envVar.toLowerCase()}`])),
    [queues.fanout.envVar]: 'https://sqs.us-east-1.amazonaws.com/000000000000/parley-fanout',
    [commonEnv.callbackUrl]: 'https://example.execute-api.us-east-1.amazonaws.com/prod',
    [commonEnv.jwksUrl]: 'https://example.com/.well-known/jwks.json',
    [commonEnv.jwtIssuer]: 'https://example.com',
    [commonEnv.jwtAudience]: 'parley',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    POWERTOOLS_SERVICE_NAME: 'parley',
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
}

/** Bundles one handler as the CDK construct does (lib/parley-function.ts, with the options of lib/bundling.ts). */
async function bundle(name: FunctionName, outDir: string): Promise<{ file: string; topPackages: BundleResult['topPackages'] }> {
  const outfile = join(outDir, name, 'index.mjs');
  const result = await build({
    entryPoints: [join(root, functions[name].entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: bundleTarget,
    mainFields: bundleMainFields,
    banner: { js: bundleBanner },
    external: bundleExternalModules,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    logLevel: 'error',
    metafile: true,
  });
  // Attribute output bytes to packages (node_modules/<scope>/<name>), the rest to the project's own code.
  const byPackage = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
      const key = match ? match[1]! : 'parley (lambdas/, lib/)';
      byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
    }
  }
  const topPackages = [...byPackage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([packageName, bytes]) => ({ name: packageName, bytes }));
  return { file: outfile, topPackages };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number) => Math.round(value * 10) / 10;

/** Bundles every handler and times its module initialization in `runs` fresh processes each. */
export async function measureColdStart(outDir: string, runs: number, onProgress: (detail: string) => void): Promise<BundleResult[]> {
  await mkdir(outDir, { recursive: true });
  const results: BundleResult[] = [];
  for (const name of Object.keys(functions) as FunctionName[]) {
    onProgress(`bundling ${name}`);
    const { file, topPackages } = await bundle(name, outDir);
    const bytes = (await stat(file)).size;
    const gzipBytes = gzipSync(await readFile(file)).length;
    const script =
      `const t0 = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); const t1 = performance.now();` +
      'console.log(JSON.stringify({ importMs: t1 - t0, readyMs: t1 }));';
    const init: number[] = [];
    const ready: number[] = [];
    for (let i = 0; i < runs; i++) {
      onProgress(`initializing ${name} ${i + 1}/${runs}`);
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env: handlerEnv(), cwd: dirname(file) });
      const line = stdout.trim().split('\n').at(-1) ?? '{}';
      const { importMs, readyMs } = JSON.parse(line) as { importMs: number; readyMs: number };
      init.push(importMs);
      ready.push(readyMs);
    }
    results.push({
      function: name,
      bytes,
      gzipBytes,
      initMsMedian: round(median(init)),
      initMsMin: round(Math.min(...init)),
      processReadyMsMedian: round(median(ready)),
      runs,
      topPackages,
    });
  }
  return results;
}
