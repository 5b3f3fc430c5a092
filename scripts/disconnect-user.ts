/**
 * `npm run disconnect-user -- <userId>`: closes every live connection (each device) of a user, e.g. after revoking
 * their tokens at the identity provider. Prints what it did as JSON; exits with 1 when a connection could not be closed.
 *
 * Where: `--table` / `--callback-url` / `--queue-url`, else `PRESENCE_TABLE` / `CALLBACK_URL` / `FANOUT_QUEUE_URL`,
 * else the stack outputs `PresenceTableName` / `CallbackUrl` / `FanoutQueueUrl` of `cdk deploy --outputs-file
 * cdk-outputs.json` (`--outputs <file>`), else the local stack of a running `npm start` (`.data/local-stack.json`).
 * AWS credentials and region come from the usual AWS SDK sources.
 */
import { existsSync, readFileSync } from 'node:fs';
import { commonEnv, queues, tables } from '../lib/definitions.js';
import { createDeps } from '../lambdas/app/deps.js';
import { userIdPattern } from '../lambdas/domain/auth.js';
import { disconnectUser, type DisconnectResult } from '../lambdas/domain/sessions.js';
import { createAwsClients } from '../lambdas/shared/aws-clients.js';
import { loadConfig } from '../lambdas/shared/config.js';
import { domainTelemetry } from '../lambdas/shared/telemetry.js';
import { localStackFile, type LocalStackRecord } from '../local/stack-record.js';
import { destroyClients, runScript, type Env } from './stack-env.js';

/** What the script needs to reach a stack. */
export interface Target {
  presenceTable: string;
  callbackUrl: string;
  fanoutQueueUrl: string;
  /** Environment for the AWS SDK clients (emulator endpoints and dummy credentials for the local stack). */
  sdkEnv: Env;
}

const usage = 'Usage: npm run disconnect-user -- <userId> [--table NAME --callback-url URL --queue-url URL] [--outputs cdk-outputs.json]';

/** Reads `PresenceTableName`, `CallbackUrl` and `FanoutQueueUrl` from a `cdk deploy --outputs-file` JSON. */
function fromOutputs(outputs: unknown): Partial<Target> {
  const values = Object.values((outputs ?? {}) as Record<string, Record<string, string>>).flatMap((stack) => Object.entries(stack ?? {}));
  const find = (prefix: string) => values.find(([key]) => key.startsWith(prefix))?.[1];
  return { presenceTable: find('PresenceTableName'), callbackUrl: find('CallbackUrl'), fanoutQueueUrl: find('FanoutQueueUrl') };
}

/** Parses the command line and finds the stack; throws with the usage on anything unclear. */
export function resolveTarget(argv: readonly string[], env: Env, readFile: (path: string) => string | undefined): { userId: string; target: Target } {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const name = arg.slice(2);
    if (!['table', 'callback-url', 'queue-url', 'outputs'].includes(name)) throw new Error(`unknown option ${arg}\n${usage}`);
    const value = argv[++i];
    if (value === undefined) throw new Error(`${arg} needs a value\n${usage}`);
    flags.set(name, value);
  }
  const [userId] = positional;
  if (positional.length !== 1 || !userId || !userIdPattern.test(userId)) throw new Error(`give exactly one valid user id\n${usage}`);

  let presenceTable = flags.get('table') ?? env[tables.presence.envVar];
  let callbackUrl = flags.get('callback-url') ?? env[commonEnv.callbackUrl];
  let fanoutQueueUrl = flags.get('queue-url') ?? env[queues.fanout.envVar];
  let sdkEnv: Env = {};
  const outputsText = readFile(flags.get('outputs') ?? 'cdk-outputs.json');
  if (flags.has('outputs') && outputsText === undefined) throw new Error(`cannot read ${flags.get('outputs')}`);
  if (outputsText !== undefined && (!presenceTable || !callbackUrl || !fanoutQueueUrl)) {
    const found = fromOutputs(JSON.parse(outputsText));
    presenceTable ??= found.presenceTable;
    callbackUrl ??= found.callbackUrl;
    fanoutQueueUrl ??= found.fanoutQueueUrl;
  }
  const localText = !presenceTable && !callbackUrl && !fanoutQueueUrl ? readFile(localStackFile) : undefined;
  if (localText !== undefined) {
    const local = JSON.parse(localText) as LocalStackRecord;
    ({ presenceTable, callbackUrl, fanoutQueueUrl } = local);
    sdkEnv = {
      AWS_ENDPOINT_URL_DYNAMODB: local.dynamodbEndpoint,
      AWS_ENDPOINT_URL_SQS: local.sqsEndpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
  }
  if (!presenceTable || !callbackUrl || !fanoutQueueUrl) {
    throw new Error(`cannot find the stack: run \`npm start\`, pass --outputs cdk-outputs.json, or give --table, --callback-url and --queue-url\n${usage}`);
  }
  return { userId, target: { presenceTable, callbackUrl, fanoutQueueUrl, sdkEnv } };
}

/** Closes every connection of `userId` on `target`. */
export async function disconnect(userId: string, target: Target): Promise<DisconnectResult> {
  // The SDK clients read endpoints and credentials from the process environment.
  Object.assign(process.env, target.sdkEnv);
  const config = loadConfig({
    ...process.env,
    [tables.presence.envVar]: target.presenceTable,
    [commonEnv.callbackUrl]: target.callbackUrl,
    [queues.fanout.envVar]: target.fanoutQueueUrl,
  });
  const clients = createAwsClients(config);
  try {
    return await disconnectUser(createDeps(config, clients, domainTelemetry()), userId);
  } finally {
    destroyClients(clients);
  }
}

async function main(): Promise<void> {
  const readFile = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
  const { userId, target } = resolveTarget(process.argv.slice(2), process.env, readFile);
  const result = await disconnect(userId, target);
  console.log(JSON.stringify({ userId, ...result }));
  if (result.failed.length > 0) process.exitCode = 1;
}

runScript(import.meta.url, 'disconnect-user', main);
