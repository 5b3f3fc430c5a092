import { AsyncLocalStorage } from 'node:async_hooks';
import { apiGatewayUnits, sqsRequestUnits } from './cost-model.js';

/**
 * Which path an AWS call was made on ('send', 'fanout', 'connect', ...). Set around every handler invocation by
 * stack-hooks.ts; the SDK middleware reads it, so calls are attributed without touching the handler code.
 */
export const callPath = new AsyncLocalStorage<string>();

/** Counters for one operation of one service on one path. */
export interface CallStats {
  /** Logical SDK calls (`client.send`). */
  calls: number;
  /** HTTP attempts, retries included (what AWS bills). */
  attempts: number;
  errors: number;
  /** DynamoDB capacity the service reported (`ReturnConsumedCapacity: TOTAL`). */
  readUnits: number;
  writeUnits: number;
  /** Keys or items the request named (BatchGetItem keys, transaction items, ...). */
  items: number;
  /** Payload bytes: SQS message bodies, PostToConnection data. */
  payloadBytes: number;
  /** Billing units by payload: SQS bills each 64 KB chunk, API Gateway each 32 KB of a message. */
  billedUnits: number;
  /** Summed wall-clock time of the calls (local latency, for finding the slow step). */
  totalMs: number;
}

/** Counters by path, then by `Service.Operation`. */
export type CallCounts = Record<string, Record<string, CallStats>>;

const emptyStats = (): CallStats => ({ calls: 0, attempts: 0, errors: 0, readUnits: 0, writeUnits: 0, items: 0, payloadBytes: 0, billedUnits: 0, totalMs: 0 });

const readOperations = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

/** An SDK v3 client as far as the counter needs it. */
interface MiddlewareClient {
  middlewareStack: {
    add(middleware: (next: (args: any) => Promise<any>, context: any) => (args: any) => Promise<any>, options: Record<string, unknown>): void;
  };
}

const serviceName = (clientName: string | undefined) => (clientName ?? 'Unknown').replace(/Client$/, '');
const operationName = (commandName: string | undefined) => (commandName ?? 'Unknown').replace(/Command$/, '');
const byteLength = (value: unknown) => (typeof value === 'string' ? Buffer.byteLength(value) : value instanceof Uint8Array ? value.byteLength : 0);

/** Items a request names: batch keys, transaction items, batch entries. */
function itemsOf(operation: string, input: Record<string, any>): number {
  if (operation === 'BatchGetItem') return Object.values(input.RequestItems ?? {}).reduce((n: number, t: any) => n + (t.Keys?.length ?? 0), 0);
  if (operation === 'BatchWriteItem') return Object.values(input.RequestItems ?? {}).reduce((n: number, t: any) => n + (t.length ?? 0), 0);
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') return input.TransactItems?.length ?? 0;
  if (operation === 'SendMessageBatch' || operation === 'DeleteMessageBatch') return input.Entries?.length ?? 0;
  return 1;
}

/** Payload bytes and billing units: SQS bills per started 64 KB of a request, API Gateway per started 32 KB of a message. */
function payloadOf(operation: string, input: Record<string, any>): { bytes: number; units: number } {
  if (operation === 'SendMessageBatch' || operation === 'SendMessage') {
    const entries: any[] = input.Entries ?? [input];
    const bytes = entries.reduce((n, entry) => n + byteLength(entry.MessageBody), 0);
    return { bytes, units: sqsRequestUnits(bytes) };
  }
  if (operation === 'PostToConnection') {
    const bytes = byteLength(input.Data);
    return { bytes, units: apiGatewayUnits(bytes) };
  }
  return { bytes: 0, units: 1 };
}

/** Counts every call made through the clients it is attached to, by path, service and operation. */
export class SdkCallCounter {
  readonly counts: CallCounts = {};

  private stats(path: string, key: string): CallStats {
    const byKey = (this.counts[path] ??= {});
    return (byKey[key] ??= emptyStats());
  }

  /**
   * Adds the counting middleware to a client. Attach to each middleware stack once: a DynamoDBDocumentClient shares
   * its stack with the DynamoDBClient it wraps, so attaching to the document client covers both. `fixedPath` puts
   * every call of this client on one path (for clients that live outside any handler, like the SQS poller's).
   */
  attach(client: MiddlewareClient, fixedPath?: string): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const service = serviceName(context.clientName);
        const operation = operationName(context.commandName);
        const input = (args.input ?? {}) as Record<string, any>;
        // Ask DynamoDB what each call consumed instead of estimating item sizes; it does not change the call otherwise.
        if (service === 'DynamoDB' && input.ReturnConsumedCapacity === undefined) input.ReturnConsumedCapacity = 'TOTAL';
        const path = fixedPath ?? callPath.getStore() ?? 'other';
        let key = `${service}.${operation}`;
        const started = performance.now();
        try {
          const result = await next(args);
          const output = result.output ?? {};
          // An empty receive is an idle poll, not work for a message; keep it apart.
          if (operation === 'ReceiveMessage' && !(output.Messages?.length > 0)) key = `${service}.ReceiveMessage(empty)`;
          const stats = this.stats(path, key);
          stats.calls += 1;
          stats.totalMs += performance.now() - started;
          const consumed = ([] as any[]).concat(output.ConsumedCapacity ?? []);
          const reported = consumed.reduce((n, c) => n + Number(c?.CapacityUnits ?? 0), 0);
          const items = itemsOf(operation, input);
          // DynamoDB Local reports one item's cost per table for a transaction (AWS bills every item, 2 WRU per KB) and
          // nothing for batch keys it did not find (AWS bills at least 0.5 RRU per key): floor its figures at AWS's minimum.
          const units =
            operation === 'TransactWriteItems' ? Math.max(reported, 2 * items) : operation === 'BatchGetItem' ? Math.max(reported, 0.5 * items) : reported;
          if (readOperations.has(operation)) stats.readUnits += units;
          else stats.writeUnits += units;
          stats.items += items;
          const payload = payloadOf(operation, input);
          stats.payloadBytes += payload.bytes;
          stats.billedUnits += payload.units;
          return result;
        } catch (error) {
          const stats = this.stats(path, key);
          stats.calls += 1;
          stats.totalMs += performance.now() - started;
          stats.errors += 1;
          stats.items += itemsOf(operation, input);
          throw error;
        }
      },
      { step: 'initialize', name: 'benchCallCounter', priority: 'high' },
    );
    // After the retry middleware, so this sees every HTTP attempt.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const path = fixedPath ?? callPath.getStore() ?? 'other';
        this.stats(path, `${serviceName(context.clientName)}.${operationName(context.commandName)}`).attempts += 1;
        return next(args);
      },
      { step: 'deserialize', name: 'benchAttemptCounter' },
    );
  }

  /** A deep copy of the counters, to diff against later. */
  snapshot(): CallCounts {
    return structuredClone(this.counts);
  }
}

/** Counters accumulated between two snapshots. */
export function diffCounts(after: CallCounts, before: CallCounts): CallCounts {
  const result: CallCounts = {};
  for (const [path, byKey] of Object.entries(after)) {
    for (const [key, stats] of Object.entries(byKey)) {
      const prior = before[path]?.[key] ?? emptyStats();
      const delta = Object.fromEntries(Object.entries(stats).map(([field, value]) => [field, value - prior[field as keyof CallStats]])) as unknown as CallStats;
      if (delta.calls === 0 && delta.attempts === 0) continue;
      (result[path] ??= {})[key] = delta;
    }
  }
  return result;
}

/** Sums the counters of several paths (e.g. everything a message costs: its send and its fanout). */
export function sumPaths(counts: CallCounts, paths: readonly string[]): Record<string, CallStats> {
  const total: Record<string, CallStats> = {};
  for (const path of paths) {
    for (const [key, stats] of Object.entries(counts[path] ?? {})) {
      const sum = (total[key] ??= emptyStats());
      for (const field of Object.keys(sum) as (keyof CallStats)[]) sum[field] += stats[field];
    }
  }
  return total;
}
