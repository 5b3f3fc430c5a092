import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Path of the built chat page's entry file. */
export const webIndex = join(root, 'web', 'dist', 'index.html');

/** Builds the chat page into web/dist (what `npm run build:web` does). */
export async function buildWeb(): Promise<void> {
  await promisify(execFile)(process.execPath, [join(root, 'web', 'build.mjs')], { cwd: root });
  if (!existsSync(webIndex)) throw new Error(`web build produced no ${webIndex}`);
}
