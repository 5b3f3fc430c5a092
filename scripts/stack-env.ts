import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { archive, tables, type TableName } from '../lib/definitions.js';
import { localArchiveDir, localStackFile, type LocalStackRecord } from '../local/stack-record.js';

/** Environment variables, as `process.env` holds them. */
export type Env = Record<string, string | undefined>;

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

/**
 * The environment the handlers would have for a stack, for the operator scripts: from `cdk-outputs.json` (the
 * stack's `*TableName` and `ArchiveBucketName` outputs) when given, else the table variables already set, else the
 * local stack of a running `npm start` (`.data/local-stack.json`, archive in `.data/archive`). Throws naming `usage`.
 */
export function stackEnv(outputsPath: string | undefined, env: Env, readFile: (path: string) => string | undefined, usage: string): Env {
  if (outputsPath !== undefined) {
    const text = readFile(outputsPath);
    if (text === undefined) throw new Error(`cannot read ${outputsPath}\n${usage}`);
    const values = Object.fromEntries(Object.values(JSON.parse(text) as Record<string, Record<string, string>>).flatMap((stack) => Object.entries(stack)));
    const found: Env = Object.fromEntries((Object.keys(tables) as TableName[]).map((name) => [tables[name].envVar, values[`${pascal(name)}TableName`]]));
    return { ...env, ...found, [archive.bucketEnvVar]: values.ArchiveBucketName };
  }
  if (env[tables.messages.envVar]) return env;
  const local = readFile(localStackFile);
  if (local === undefined) throw new Error(`cannot find the stack: run \`npm start\`, pass --outputs, or set the table variables\n${usage}`);
  const record = JSON.parse(local) as LocalStackRecord;
  return {
    ...env,
    ...Object.fromEntries((Object.keys(tables) as TableName[]).map((name) => [tables[name].envVar, `parley-${name}`])),
    [archive.directoryEnvVar]: localArchiveDir,
    AWS_ENDPOINT_URL_DYNAMODB: record.dynamodbEndpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  };
}

/** Closes the sockets of the clients `createAwsClients` made, so the script can exit. */
export function destroyClients(clients: object): void {
  for (const client of Object.values(clients) as { destroy(): void }[]) client.destroy();
}

/** Runs `main` when `moduleUrl` is the entry point; a failure prints `<name> failed: <message>` and exits 1. */
export function runScript(moduleUrl: string, name: string, main: () => Promise<void>): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(resolve(process.argv[1])).href) return;
  main().catch((error: unknown) => {
    console.error(`${name} failed: ${(error as Error).message}`);
    process.exitCode = 1;
  });
}
