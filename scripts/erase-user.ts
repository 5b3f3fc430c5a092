/**
 * `npm run erase-user -- <userId>`: erases every message of a user (GDPR erasure) with `eraseUser`, the domain
 * function the server API calls too: their messages become tombstones, their edits lose their bodies, and the
 * archive's objects of their conversations are rewritten without them. Prints a JSON report. Safe to run again.
 *
 * Where: `--outputs cdk-outputs.json` (the stack's `*TableName` and `ArchiveBucketName` outputs), else the table
 * variables (`MESSAGES_TABLE`, `MEMBERS_TABLE`, ...) and `ARCHIVE_BUCKET` / `ARCHIVE_DIR`, else the local stack of a
 * running `npm start` (`.data/local-stack.json`, archive in `.data/archive`). AWS credentials from the usual sources.
 */
import { existsSync, readFileSync } from 'node:fs';
import { archiveStoreFromEnv } from '../lambdas/app/archive-deps.js';
import { createDeps } from '../lambdas/app/deps.js';
import { userIdPattern } from '../lambdas/domain/auth.js';
import { eraseUser } from '../lambdas/domain/erasure.js';
import { createAwsClients } from '../lambdas/shared/aws-clients.js';
import { loadConfig } from '../lambdas/shared/config.js';
import { domainTelemetry } from '../lambdas/shared/telemetry.js';
import { destroyClients, runScript, stackEnv, type Env } from './stack-env.js';

const usage = 'Usage: npm run erase-user -- <userId> [--outputs cdk-outputs.json]';

/** The environment the handlers would have for this stack: table names, archive, and SDK endpoints when local. */
export function targetEnv(argv: readonly string[], env: Env, readFile: (path: string) => string | undefined): { userId: string; env: Env } {
  const positional = argv.filter((arg, i) => !arg.startsWith('--') && argv[i - 1] !== '--outputs');
  const outputsAt = argv.indexOf('--outputs');
  const unknown = argv.find((arg) => arg.startsWith('--') && arg !== '--outputs');
  if (unknown) throw new Error(`unknown option ${unknown}\n${usage}`);
  const [userId] = positional;
  if (positional.length !== 1 || !userId || !userIdPattern.test(userId)) throw new Error(`give exactly one valid user id\n${usage}`);
  return { userId, env: stackEnv(outputsAt >= 0 ? (argv[outputsAt + 1] ?? '') : undefined, env, readFile, usage) };
}

async function main(): Promise<void> {
  const readFile = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
  const { userId, env } = targetEnv(process.argv.slice(2), process.env, readFile);
  // The SDK clients read endpoints and credentials from the process environment.
  Object.assign(process.env, env);
  const config = loadConfig(process.env);
  const clients = createAwsClients(config);
  try {
    console.log(JSON.stringify(await eraseUser(createDeps(config, clients, domainTelemetry()), userId, archiveStoreFromEnv(process.env))));
  } finally {
    destroyClients(clients);
  }
}

runScript(import.meta.url, 'erase-user', main);
