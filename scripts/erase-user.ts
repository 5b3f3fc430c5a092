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
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { archive, tables, type TableName } from '../lib/definitions.js';
import { archiveStoreFromEnv } from '../lambdas/app/archive-deps.js';
import { createDeps } from '../lambdas/app/deps.js';
import { userIdPattern } from '../lambdas/domain/auth.js';
import { eraseUser } from '../lambdas/domain/erasure.js';
import { createAwsClients } from '../lambdas/shared/aws-clients.js';
import { loadConfig } from '../lambdas/shared/config.js';
import { domainTelemetry } from '../lambdas/shared/telemetry.js';
import { localArchiveDir, localStackFile, type LocalStackRecord } from '../local/stack-record.js';

type Env = Record<string, string | undefined>;
const usage = 'Usage: npm run erase-user -- <userId> [--outputs cdk-outputs.json]';
const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

/** The environment the handlers would have for this stack: table names, archive, and SDK endpoints when local. */
export function targetEnv(argv: readonly string[], env: Env, readFile: (path: string) => string | undefined): { userId: string; env: Env } {
  const positional = argv.filter((arg, i) => !arg.startsWith('--') && argv[i - 1] !== '--outputs');
  const outputsAt = argv.indexOf('--outputs');
  const unknown = argv.find((arg) => arg.startsWith('--') && arg !== '--outputs');
  if (unknown) throw new Error(`unknown option ${unknown}\n${usage}`);
  const [userId] = positional;
  if (positional.length !== 1 || !userId || !userIdPattern.test(userId)) throw new Error(`give exactly one valid user id\n${usage}`);
  if (outputsAt >= 0) {
    const text = readFile(argv[outputsAt + 1] ?? '');
    if (text === undefined) throw new Error(`cannot read ${argv[outputsAt + 1]}\n${usage}`);
    const values = Object.fromEntries(Object.values(JSON.parse(text) as Record<string, Record<string, string>>).flatMap((stack) => Object.entries(stack)));
    const found: Env = Object.fromEntries((Object.keys(tables) as TableName[]).map((name) => [tables[name].envVar, values[`${pascal(name)}TableName`]]));
    return { userId, env: { ...env, ...found, [archive.bucketEnvVar]: values.ArchiveBucketName } };
  }
  if (env[tables.messages.envVar]) return { userId, env };
  const local = readFile(localStackFile);
  if (local === undefined) throw new Error(`cannot find the stack: run \`npm start\`, pass --outputs, or set the table variables\n${usage}`);
  const record = JSON.parse(local) as LocalStackRecord;
  return {
    userId,
    env: {
      ...env,
      ...Object.fromEntries((Object.keys(tables) as TableName[]).map((name) => [tables[name].envVar, `parley-${name}`])),
      [archive.directoryEnvVar]: localArchiveDir,
      AWS_ENDPOINT_URL_DYNAMODB: record.dynamodbEndpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    },
  };
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
    clients.ddb.destroy();
    clients.sqs.destroy();
    clients.management.destroy();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    console.error(`erase-user failed: ${(error as Error).message}`);
    process.exitCode = 1;
  });
}
