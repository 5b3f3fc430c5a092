/**
 * The SDK stays free of server-only runtime code: bundled for the browser as web/build.mjs does, the SDK and the web
 * chat contain only client/, web/src/ and the protocol module's zod-free files, never zod (the wire types come
 * from the schemas through `import type`, which leaves nothing in the bundle).
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const allowed = /^(client\/(?!testing\/)|web\/src\/|protocol\/(limits|actions)\.ts$)/;

async function bundleInputs(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [`${root}${entry}`],
    absWorkingDir: root,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('client bundle', () => {
  it.each(['client/index.ts', 'web/src/main.ts'])('%s bundles without zod or server modules', async (entry) => {
    const inputs = await bundleInputs(entry);
    expect(inputs).toContain('protocol/limits.ts');
    expect(inputs.filter((input) => !allowed.test(input))).toEqual([]);
  });
});
