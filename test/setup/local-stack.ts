import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { buildWeb } from './build-web.js';

/** What integration and browser tests learn about the running local stack, through `inject('parley')`. */
export interface ParleyInfo {
  wsUrl: string;
  httpUrl: string;
  callbackUrl: string;
  dynamodbEndpoint: string;
  sqsEndpoint: string;
  tableNames: LocalStack['tableNames'];
  queueUrls: LocalStack['queueUrls'];
  dlqUrls: LocalStack['dlqUrls'];
  serverApiUrl: string;
  serverApiCredentials: LocalStack['serverApiCredentials'];
  serverApiRegion: string;
  /** The local event bus (`/_events`, `/_events/dead-letters`). */
  eventsUrl: string;
  streamDlqUrls: LocalStack['streamDlqUrls'];
  /** Where the archive consumer writes the bucket's layout. */
  archiveDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    parley: ParleyInfo;
  }
}

/** `CLOCK_SKEW_SECONDS` of the test stack: a session ends this long after its token's exp. */
export const testClockSkewSeconds = 1;

// Handlers read their configuration once per process, so every project shares one stack (counted references).
const shared = globalThis as typeof globalThis & { parleyStack?: { stack: Promise<LocalStack>; users: number; archiveDir: string } };

/** Vitest globalSetup: starts the local stack (and builds the web chat it serves) and stops it after the run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!shared.parleyStack) {
    // The archive consumer's folder, one per run.
    const testArchiveDir = mkdtempSync(join(tmpdir(), 'parley-archive-'));
    const stack = buildWeb().then(() =>
      startLocalStack({
        webDir: 'web/dist',
        archiveDir: testArchiveDir,
        // Records a test fails come back in 2 s instead of 30 s.
        fanoutVisibilityTimeoutSeconds: 2,
        // Stream and webhook retries come back within milliseconds.
        retryBaseMs: 20,
        // The archive's mapping gathers records for a minute; tests read its objects within seconds.
        streamBatchingWindowSeconds: 1,
        env: {
          POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'ERROR',
          // A short skew so sessions of short-lived dev tokens end within seconds of their exp.
          CLOCK_SKEW_SECONDS: String(testClockSkewSeconds),
        },
      }),
    );
    shared.parleyStack = { stack, users: 0, archiveDir: testArchiveDir };
  }
  shared.parleyStack.users += 1;
  const stack = await shared.parleyStack.stack;
  project.provide('parley', {
    wsUrl: stack.wsUrl,
    httpUrl: stack.httpUrl,
    callbackUrl: stack.callbackUrl,
    dynamodbEndpoint: stack.dynamodbEndpoint,
    sqsEndpoint: stack.sqsEndpoint,
    tableNames: stack.tableNames,
    queueUrls: stack.queueUrls,
    dlqUrls: stack.dlqUrls,
    serverApiUrl: stack.serverApiUrl,
    serverApiCredentials: stack.serverApiCredentials,
    serverApiRegion: stack.serverApiRegion,
    eventsUrl: stack.eventsUrl,
    streamDlqUrls: stack.streamDlqUrls,
    archiveDir: shared.parleyStack.archiveDir,
  });
  return async () => {
    const entry = shared.parleyStack;
    if (!entry || --entry.users > 0) return;
    shared.parleyStack = undefined;
    await stack.stop();
    rmSync(entry.archiveDir, { recursive: true, force: true });
  };
}
