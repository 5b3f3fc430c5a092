import { readFile, writeFile } from 'node:fs/promises';
import { defaultWireLimits } from '../protocol/limits.js';
import { webSocketLimits } from '../lib/definitions.js';
import type { SyncBenchResult } from './sync-bench.js';
import { callsCell, formatBytes, type SyncCost } from './sync-cost.js';

/** Markers around the sync section, so that `--scenario sync` can replace it alone. */
export const syncMarkers = { start: '<!-- sync-cost:start -->', end: '<!-- sync-cost:end -->' } as const;

const n = (value: number) => value.toLocaleString('en-US', { maximumFractionDigits: 1 });

/** A request-size cell: flagged when a frame exceeds the server's request limit (16 KB). */
export function requestCell(cost: Pick<SyncCost, 'requestBytes' | 'largestRequestBytes'>): string {
  const largest = formatBytes(cost.largestRequestBytes);
  const over = cost.largestRequestBytes > defaultWireLimits.maxFrameBytes;
  return `${formatBytes(cost.requestBytes)} (largest ${largest}${over ? `: **over the ${defaultWireLimits.maxFrameBytes / 1024} KB request limit, rejected as \`payload_too_large\`**` : ''})`;
}

/** A reply-size cell: flagged when a reply exceeds API Gateway's 128 KB message limit. */
export function replyCell(cost: Pick<SyncCost, 'replyBytes' | 'largestReplyBytes'>): string {
  const over = cost.largestReplyBytes > webSocketLimits.maxMessageBytes;
  return `${formatBytes(cost.replyBytes)} (largest ${formatBytes(cost.largestReplyBytes)}${over ? `: **over the ${webSocketLimits.maxMessageBytes / 1024} KB message limit**` : ''})`;
}

const ratio = (before: number, after: number) => (after > 0 ? `${(before / after).toFixed(1)}×` : '–');

/** The sync cost section (`bench/sync-bench.ts`), as Markdown lines; empty without a result. */
export function syncSection(result: SyncBenchResult | undefined): string[] {
  if (!result) return [];
  const rows = (label: string, cell: (cost: SyncCost) => string, compare?: (cost: SyncCost) => number) => [label, cell, compare] as const;
  const metrics = [
    rows('Requests (sync pages)', (c) => n(c.requests)),
    rows('Request bytes (before: all 1,000 cursors in every request)', (c) => requestCell(c)),
    rows(
      'AWS requests, total',
      (c) => n(c.totalCalls),
      (c) => c.totalCalls,
    ),
    rows('AWS requests by operation', (c) => callsCell(c.calls)),
    rows(
      'BatchGetItem keys',
      (c) => n(c.batchKeys),
      (c) => c.batchKeys,
    ),
    rows(
      'Read units (RRU)',
      (c) => n(c.readUnits),
      (c) => c.readUnits,
    ),
    rows('Write units (WRU)', (c) => n(c.writeUnits)),
    rows(
      'Reply bytes',
      (c) => replyCell(c),
      (c) => c.replyBytes,
    ),
    rows('Conversations / messages returned', (c) => `${n(c.conversations)} / ${n(c.messages)}`),
    rows(
      'Wall time (local)',
      (c) => `${n(c.wallMs)} ms`,
      (c) => c.wallMs,
    ),
  ];
  const lines = [
    syncMarkers.start,
    '## Sync cost for a user in 1,000 conversations (before and after the paged catch-up)',
    '',
    `A user in ${n(result.shape.conversations)} conversations (${result.shape.direct} direct, ${result.shape.smallGroups} groups of 3 to 7, ` +
      `${result.shape.bigGroups} groups of ${result.shape.bigGroupMembers}; user ids of ${result.shape.userIdChars} characters) reconnects holding a ` +
      `cursor at the head of every conversation, after some of them changed; limit ${result.limit}. **After** is the current \`sync\` ` +
      "(`lambdas/domain/sync.ts`: pages of 100 memberships, each request carrying only that page's cursors, one BatchGetItem of 100 heads " +
      'per page, then only the changed conversations). **Before** is the algorithm of commit `ae33cd7`, reimplemented over the same ' +
      'adapters in `bench/legacy-sync.ts` (every cursor in every request; per page of 100 memberships a `getMany` of all conversation ' +
      'items and heads, `listMemberStates` + `messages.after` per behind conversation, and the presence of every contact). Both run on ' +
      'the same seeded data in one run: the domain in-process on DynamoDB Local, counted with the SDK middleware of `bench/sdk-calls.ts` ' +
      '(read/write units as DynamoDB reported them, BatchGetItem floored at 0.5 RRU per key). Write units are the per-user sync rate ' +
      'limiter (after) only. Request and reply bytes are the JSON frames with a 128-character request id. Wall time is local and noisy ' +
      '(two shared cores).',
    '',
    `Regenerate this section alone: \`npm run bench -- --scenario sync\` (seeding took ${n(result.seedMs / 1000)} s; generated ${result.generatedAt}).`,
    '',
  ];
  for (const variant of result.variants) {
    lines.push(`### ${variant.name}`, '', '| | Before (ae33cd7) | After (paged) | Before / after |', '|---|---:|---:|---:|');
    for (const [label, cell, compare] of metrics) {
      lines.push(`| ${label} | ${cell(variant.before)} | ${cell(variant.after)} | ${compare ? ratio(compare(variant.before), compare(variant.after)) : ''} |`);
    }
    lines.push('');
  }
  lines.push(...findings(result), syncMarkers.end, '');
  return lines;
}

function findings(result: SyncBenchResult): string[] {
  const items: string[] = [];
  const oversized = result.variants.find((v) => v.before.largestRequestBytes > defaultWireLimits.maxFrameBytes);
  if (oversized) {
    items.push(
      `**The old request does not fit.** With ${n(result.shape.conversations)} cursors in one request the old design's frame is ` +
        `${formatBytes(oversized.before.largestRequestBytes)}, over the ${defaultWireLimits.maxFrameBytes / 1024} KB request limit: the server ` +
        'rejects it, so before the redesign this user could not catch up at all (the "before" numbers are what it would have cost if ' +
        `the frame were accepted). The paged requests stay at ${formatBytes(Math.max(...result.variants.map((v) => v.after.largestRequestBytes)))} at most.`,
    );
  }
  const few = result.variants.find((v) => v.changed === 10 && v.bodyChars < 100);
  if (few) {
    items.push(
      `**Few changes are cheap now.** With 10 changed: ${n(few.after.totalCalls)} AWS requests and ${n(few.after.readUnits)} RRU after, ` +
        `${n(few.before.totalCalls)} requests and ${n(few.before.readUnits)} RRU before; replies ${formatBytes(few.after.replyBytes)} against ` +
        `${formatBytes(few.before.replyBytes)} (the old reply carried every conversation item's member list and every contact's presence).`,
    );
  }
  const all = result.variants.find((v) => v.changed >= 1000);
  if (all) {
    items.push(
      `**Everything changed.** With ${n(all.changed)} changed: ${n(all.after.totalCalls)} AWS requests and ${n(all.after.readUnits)} RRU after ` +
        `(${n(all.after.requests)} requests, largest reply ${formatBytes(all.after.largestReplyBytes)}), ${n(all.before.totalCalls)} and ` +
        `${n(all.before.readUnits)} RRU before (largest reply ${formatBytes(all.before.largestReplyBytes)}` +
        `${all.before.largestReplyBytes > webSocketLimits.maxMessageBytes ? ", over API Gateway's 128 KB message limit" : ''}). ` +
        'When everything changed both designs pay per changed conversation (a timeline query each, member states for the small ' +
        'groups), so the totals are close; the paged design still keeps every request under 16 KB and every reply under 128 KB, ' +
        'at the price of more, smaller pages.',
    );
  }
  return items.length > 0 ? [...items.map((item, i) => `${i + 1}. ${item}`), ''] : [];
}

/** Replaces the sync section of the report at `reportPath` with the result in `resultFile` (appends it when missing). */
export async function updateSyncSection(reportPath: string, resultFile: string): Promise<string> {
  const result = JSON.parse(await readFile(resultFile, 'utf8')) as SyncBenchResult;
  const current = await readFile(reportPath, 'utf8').catch(() => '');
  await writeFile(reportPath, replaceSection(current, syncMarkers, syncSection(result).join('\n').trimEnd()));
  return reportPath;
}

/** `text` with the block between `markers` (inclusive) replaced by `block`, or `block` appended when absent. */
export function replaceSection(text: string, markers: { start: string; end: string }, block: string): string {
  const start = text.indexOf(markers.start);
  const end = text.indexOf(markers.end);
  if (start >= 0 && end > start) return `${text.slice(0, start)}${block}${text.slice(end + markers.end.length)}`;
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${block}\n\n`;
}
