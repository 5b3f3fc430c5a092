// Builds the chat page into web/dist: one ES module bundle plus the static files.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
const watch = process.argv.includes('--watch');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await Promise.all([copyFile(join(here, 'index.html'), join(out, 'index.html')), copyFile(join(here, 'src', 'styles.css'), join(out, 'styles.css'))]);

const options = {
  entryPoints: [join(here, 'src', 'main.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  outfile: join(out, 'main.js'),
  sourcemap: true,
  minify: !watch,
  logLevel: 'warning',
};

if (watch) {
  const { context } = await import('esbuild');
  const ctx = await context(options);
  await ctx.watch();
  console.log(`watching; writing ${out}`);
} else {
  await build(options);
  console.log(`built ${out}`);
}
