/**
 * How browser tests start Chromium, so that `npm ci && npm test` needs nothing but Node and Java: the system's
 * Chromium when there is one, otherwise the headless Chromium shipped inside the npm package `@sparticuz/chromium`,
 * inflated once into a cache in the temp directory. Nothing is downloaded at run time.
 *
 * ```ts
 * const browser = await launchBrowser({ viewport: { width: 390, height: 844 } });
 * const page = browser.context.pages()[0] ?? (await browser.context.newPage());
 * // ...
 * await browser.close();
 * ```
 */
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** A Chromium to launch, and where it came from. */
export interface ChromiumExecutable {
  path: string;
  /** `env`: `CHROMIUM_PATH`; `system`: found on PATH; `bundled`: the one inside `@sparticuz/chromium`. */
  source: 'env' | 'system' | 'bundled';
  /** Extra environment the browser needs (the bundled one's fonts). */
  env: Record<string, string>;
}

/** What `launchBrowser` accepts. */
export interface LaunchBrowserOptions {
  viewport?: { width: number; height: number };
  /** Flags added to the defaults (headless, no sandbox, no GPU, no background traffic). */
  args?: readonly string[];
}

/** A running browser with its own fresh profile (its own localStorage and cookies). */
export interface LaunchedBrowser {
  context: BrowserContext;
  executable: ChromiumExecutable;
  /** The profile directory, deleted by `close()`. */
  profile: string;
  /** Closes the browser (also when it was closed already) and deletes its profile. */
  close(): Promise<void>;
}

const defaultArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Names a system Chromium goes by on Debian and Ubuntu. */
const systemNames = ['chromium', 'chromium-browser'];

/** True for an executable regular file (a path hidden by a bind-mounted /dev/null is not one). */
function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function systemChromium(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of systemNames) {
    for (const dir of [...dirs, '/usr/bin']) {
      if (isExecutableFile(join(dir, name))) return join(dir, name);
    }
  }
  return undefined;
}

/**
 * Inflates the Chromium of `@sparticuz/chromium` (binary, SwiftShader, fonts) into a cache directory named after
 * its version. It inflates into a private directory first and renames it into place, so test files launching in
 * parallel never run a half-written binary.
 */
async function bundledChromium(): Promise<ChromiumExecutable> {
  // The package exports only its entry (build/index.js); its root holds package.json and bin/.
  const root = join(dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')), '..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const cache = join(tmpdir(), `parley-chromium-${version}`);
  if (!isExecutableFile(join(cache, 'chromium'))) {
    const staging = mkdtempSync(join(tmpdir(), 'parley-chromium-inflating-'));
    // The package inflates into os.tmpdir(); point that at the staging directory for the duration.
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = staging;
    try {
      const { default: Chromium } = await import('@sparticuz/chromium');
      await Chromium.executablePath(join(root, 'bin'));
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
    }
    // The package's fonts.conf names fixed Lambda paths; ours names the inflated fonts and keeps the system's.
    writeFileSync(
      join(staging, 'fonts.conf'),
      `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n` +
        `  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n  <dir>${join(cache, 'fonts')}</dir>\n` +
        `  <cachedir>${join(cache, 'fonts-cache')}</cachedir>\n</fontconfig>\n`,
    );
    mkdirSync(join(staging, 'fonts-cache'), { recursive: true });
    try {
      renameSync(staging, cache);
    } catch {
      if (isExecutableFile(join(cache, 'chromium'))) {
        // Another test file won the race; use its copy.
        rmSync(staging, { recursive: true, force: true });
      } else {
        // A broken cache (e.g. an interrupted clean-up): replace it.
        rmSync(cache, { recursive: true, force: true });
        renameSync(staging, cache);
      }
    }
  }
  return { path: join(cache, 'chromium'), source: 'bundled', env: { FONTCONFIG_FILE: join(cache, 'fonts.conf') } };
}

let resolved: Promise<ChromiumExecutable> | undefined;

/**
 * The Chromium browser tests use: `CHROMIUM_PATH` if set, else a system `chromium` or `chromium-browser` (PATH or
 * /usr/bin), else the one bundled in `@sparticuz/chromium`. Resolved once per test file.
 */
export function chromiumExecutable(): Promise<ChromiumExecutable> {
  resolved ??= (async () => {
    const fromEnv = process.env.CHROMIUM_PATH;
    if (fromEnv) {
      if (!isExecutableFile(fromEnv)) throw new Error(`CHROMIUM_PATH=${fromEnv} is not an executable file`);
      return { path: fromEnv, source: 'env' as const, env: {} };
    }
    const system = systemChromium();
    if (system) return { path: system, source: 'system' as const, env: {} };
    try {
      return await bundledChromium();
    } catch (error) {
      throw new Error(`no system Chromium, and the one in @sparticuz/chromium could not be inflated: ${(error as Error).message}`, {
        cause: error,
      });
    }
  })();
  // A failure is not cached, so a later launch can try again.
  resolved.catch(() => (resolved = undefined));
  return resolved;
}

/** Launches Chromium with a fresh profile and returns its context; `close()` also deletes the profile. */
export async function launchBrowser(options: LaunchBrowserOptions = {}): Promise<LaunchedBrowser> {
  const executable = await chromiumExecutable();
  const profile = mkdtempSync(join(tmpdir(), 'parley-browser-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: executable.path,
      args: [...defaultArgs, ...(options.args ?? [])],
      viewport: options.viewport,
      env: { ...process.env, ...executable.env },
    });
    return {
      context,
      executable,
      profile,
      async close() {
        await context.close().catch(() => undefined);
        if (existsSync(profile)) rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw new Error(`Chromium (${executable.source}, ${executable.path}) did not start: ${(error as Error).message}`, { cause: error });
  }
}
