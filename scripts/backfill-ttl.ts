/**
 * `npm run backfill-ttl -- --default-days <days|none>`: applies the retention in force to the messages stored before
 * it (`backfillConversation` in `lambdas/domain/retention-backfill.ts`), after the deployment's default retention
 * (`-c messageRetentionDays`) was turned on or changed: items written while nothing expired have no TTL and would
 * stay forever, items written under a shorter default would be deleted too early. Groups with their own retention
 * keep it. A group's own change needs no script (it queues the same backfill as a job).
 *
 * Bounded and resumable: conversations come from a paged Scan of the conversations table (one small item each; the
 * messages table is never scanned), each conversation is walked with one Query per page of items and one UpdateItem
 * per item whose TTL changes. `--checkpoint <file>` records the scan position after every page of conversations and
 * resumes from it; running again is safe either way (items already right are only read).
 *
 * Options: `--default-days` (required unless `MESSAGE_RETENTION_DAYS` is set: the deployment's default, `none` for
 * kept forever), `--conversation <id>` (only these; repeatable), `--checkpoint <file>`, `--page <items>` (default
 * 200), `--outputs cdk-outputs.json` (else the table variables, else a running `npm start`). Prints a JSON report.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { retention } from '../lib/definitions.js';
import { createDeps } from '../lambdas/app/deps.js';
import type { Deps } from '../lambdas/domain/deps.js';
import { backfillConversation, backfillPageItems } from '../lambdas/domain/retention-backfill.js';
import { createAwsClients } from '../lambdas/shared/aws-clients.js';
import { loadConfig } from '../lambdas/shared/config.js';
import { domainTelemetry } from '../lambdas/shared/telemetry.js';
import { destroyClients, runScript, stackEnv, type Env } from './stack-env.js';

const usage =
  'Usage: npm run backfill-ttl -- --default-days <days|none> [--conversation <id> ...] [--checkpoint <file>] [--page <items>] [--outputs cdk-outputs.json]';
const valued = ['--default-days', '--conversation', '--checkpoint', '--page', '--outputs'];

/** What to backfill, parsed from the command line. */
export interface BackfillOptions {
  /** The deployment's default retention in days; null: kept forever. */
  defaultDays: number | null;
  /** Only these conversations; all when absent. */
  conversations?: string[];
  checkpointPath?: string;
  pageItems: number;
  env: Env;
}

/** Parses the command line; every mistake names the option. */
export function parseBackfillArgs(argv: readonly string[], env: Env, readFile: (path: string) => string | undefined): BackfillOptions {
  const values = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const option = argv[i]!;
    if (!valued.includes(option)) throw new Error(`unknown argument ${option}\n${usage}`);
    const value = argv[++i];
    if (value === undefined || value.startsWith('--')) throw new Error(`${option} needs a value\n${usage}`);
    values.set(option, [...(values.get(option) ?? []), value]);
  }
  const single = (option: string) => {
    const given = values.get(option);
    if (given && given.length > 1) throw new Error(`${option} is given twice\n${usage}`);
    return given?.[0];
  };
  const days = single('--default-days') ?? env[retention.envVar];
  if (days === undefined || days === '') {
    throw new Error(`--default-days is required: the deployment's messageRetentionDays, or none when messages are kept forever\n${usage}`);
  }
  const defaultDays = days === 'none' ? null : Number(days);
  if (defaultDays !== null && (!Number.isInteger(defaultDays) || defaultDays < 1 || defaultDays > retention.maxDays)) {
    throw new Error(`--default-days must be a whole number of days from 1 to ${retention.maxDays}, or none\n${usage}`);
  }
  const page = single('--page');
  const pageItems = page === undefined ? backfillPageItems : Number(page);
  if (!Number.isInteger(pageItems) || pageItems < 1 || pageItems > 1000) throw new Error(`--page must be a whole number from 1 to 1000\n${usage}`);
  const conversations = values.get('--conversation');
  const checkpointPath = single('--checkpoint');
  if (conversations && checkpointPath) throw new Error(`--checkpoint resumes the scan of all conversations; it does not go with --conversation\n${usage}`);
  return {
    defaultDays,
    ...(conversations ? { conversations } : {}),
    ...(checkpointPath ? { checkpointPath } : {}),
    pageItems,
    env: { ...stackEnv(single('--outputs'), env, readFile, usage), [retention.envVar]: defaultDays === null ? undefined : String(defaultDays) },
  };
}

/** One page of conversation ids and where the next page starts (none: that was the last). */
export type ConversationPages = (cursor: string | undefined) => Promise<{ ids: string[]; cursor?: string }>;

/** Where a run resumes: the cursor of the first page of conversations not yet done. */
export interface Checkpoint {
  read(): string | undefined;
  write(cursor: string | undefined): void;
}

/** Totals of a run. */
export interface BackfillReport {
  conversations: number;
  read: number;
  updated: number;
  /** Conversations whose retention changed while they were walked (their own queued backfill applies it). */
  superseded: number;
  /** True when the run went through every conversation. */
  complete: boolean;
}

/** Backfills the given conversations, or every conversation page by page, recording the position after each page. */
export async function backfillTtl(
  deps: Pick<Deps, 'conversations' | 'messages' | 'limits' | 'now'>,
  source: { conversations: string[] } | { pages: ConversationPages; checkpoint?: Checkpoint },
  pageItems: number,
  progress: (report: BackfillReport) => void = () => undefined,
): Promise<BackfillReport> {
  const report: BackfillReport = { conversations: 0, read: 0, updated: 0, superseded: 0, complete: false };
  const run = async (ids: string[]) => {
    for (const conversationId of ids) {
      const done = await backfillConversation(deps, conversationId, pageItems);
      report.conversations += 1;
      report.read += done.read;
      report.updated += done.updated;
      if (done.stopped === 'superseded') report.superseded += 1;
    }
  };
  if ('conversations' in source) {
    await run(source.conversations);
    return { ...report, complete: true };
  }
  let cursor = source.checkpoint?.read();
  do {
    const page = await source.pages(cursor);
    await run(page.ids);
    cursor = page.cursor;
    source.checkpoint?.write(cursor);
    progress(report);
  } while (cursor !== undefined);
  return { ...report, complete: true };
}

/** Pages of the conversations table's ids (a Scan projecting only the key), the cursor being its LastEvaluatedKey. */
export function scanConversations(ddb: DynamoDBDocumentClient, tableName: string, pageSize = 100): ConversationPages {
  return async (cursor) => {
    const page = await ddb.send(
      new ScanCommand({
        TableName: tableName,
        ProjectionExpression: 'conversationId',
        Limit: pageSize,
        ...(cursor === undefined ? {} : { ExclusiveStartKey: JSON.parse(cursor) as Record<string, unknown> }),
      }),
    );
    return {
      ids: (page.Items ?? []).map((item) => String(item.conversationId)),
      ...(page.LastEvaluatedKey ? { cursor: JSON.stringify(page.LastEvaluatedKey) } : {}),
    };
  };
}

/** A checkpoint file: the cursor as JSON; `{"done":true}` once the run finished. */
export function fileCheckpoint(path: string): Checkpoint {
  return {
    read: () => {
      if (!existsSync(path)) return undefined;
      const saved = JSON.parse(readFileSync(path, 'utf8')) as { cursor?: string; done?: boolean };
      if (saved.done) throw new Error(`${path} records a finished run; delete it to run again`);
      return saved.cursor;
    },
    write: (cursor) => writeFileSync(path, JSON.stringify(cursor === undefined ? { done: true } : { cursor })),
  };
}

async function main(): Promise<void> {
  const readFile = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
  const options = parseBackfillArgs(process.argv.slice(2), process.env, readFile);
  // The SDK clients read endpoints and credentials from the process environment, the domain its default retention.
  Object.assign(process.env, options.env);
  if (options.defaultDays === null) delete process.env[retention.envVar];
  const config = loadConfig(process.env);
  const clients = createAwsClients(config);
  try {
    const deps = createDeps(config, clients, domainTelemetry());
    const source = options.conversations
      ? { conversations: options.conversations }
      : {
          pages: scanConversations(clients.ddb, config.tables.conversations),
          ...(options.checkpointPath ? { checkpoint: fileCheckpoint(options.checkpointPath) } : {}),
        };
    const report = await backfillTtl(deps, source, options.pageItems, (soFar) => console.error(JSON.stringify(soFar)));
    console.log(JSON.stringify(report));
  } finally {
    destroyClients(clients);
  }
}

runScript(import.meta.url, 'backfill-ttl', main);
