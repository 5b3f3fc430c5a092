import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/**
 * Where a fault can be injected:
 * - `postToConnection`: the emulator's `@connections` POST answers `status` (410 GoneException, 429, 500).
 * - `dynamodb:<Operation>` / `sqs:<Operation>` (e.g. `dynamodb:TransactWriteItems`, `sqs:SendMessageBatch`): an
 *   SDK middleware on the handlers' clients answers the call with the AWS error `error`, before or after the request
 *   really reached the service (`when`), or only delays it (`delayMs` without `error`).
 * - `poller:crash`: the fanout worker processes the first `afterRecords` matching records of a batch, then crashes;
 *   none of the matching records is deleted, so all of them come back after the visibility timeout.
 * - `poller:skipDelete`: the batch is processed, but the matching records are not deleted (SQS redelivery).
 * - `poller:duplicate`: the matching records are delivered twice, to two concurrent invocations (SQS at-least-once).
 * - `streams:crash`: a DynamoDB stream batch with a matching record is handled, then the invocation fails (a crash
 *   after the work, before the response): the event source mapping retries (bisecting) as after any function error.
 *   Only the event consumer's mappings take it (the archive's reads the same records and would race for it).
 * - `events:PutEvents`: the local event bus refuses each matching entry (`error` as its ErrorCode, default
 *   `InternalFailure`) while accepting the others of the call, as a partial `FailedEntryCount`; `times` counts entries.
 */
export type FaultTarget =
  | 'postToConnection'
  | `dynamodb:${string}`
  | `sqs:${string}`
  | 'poller:crash'
  | 'poller:skipDelete'
  | 'poller:duplicate'
  | 'streams:crash'
  | 'events:PutEvents';

/** One injected failure: the next `times` matching calls fail. */
export interface FaultRule {
  /** Chosen by the caller or generated; `DELETE /_emulator/faults/{id}` removes the rule. */
  id?: string;
  target: FaultTarget;
  /** `postToConnection` only: the status API Gateway answers with (and its error type). */
  status?: 410 | 429 | 500;
  /** SDK targets: the AWS error name, e.g. `ProvisionedThroughputExceededException`, `TransactionCanceledException`. */
  error?: string;
  /** `TransactionCanceledException` only: one code per transaction item (default: the first item `TransactionConflict`). */
  reasons?: string[];
  /** SDK targets: fail before the request is sent (default) or after it succeeded, losing the response. */
  when?: 'before' | 'after';
  /** Delay every matching call this long (SDK targets and `postToConnection`). */
  delayMs?: number;
  /** How many matching calls (poller targets: batches) fail before the rule is used up (default 1). */
  times?: number;
  /** Only calls for this connection fail (`postToConnection`). */
  connectionId?: string;
  /**
   * Only calls whose payload contains this text (or every one of these texts) fail: the pushed frame
   * (`postToConnection`), the JSON of the SDK command input, or a record body (poller targets). Scopes a rule to one
   * test's conversation or users, e.g. `["parley-conversations", "grp_..."]` for reads of one conversation item.
   */
  match?: string | string[];
  /** `poller:crash`: matching records processed before the crash (default 1). */
  afterRecords?: number;
}

/** What the control API reports about a rule. */
export interface FaultStatus {
  id: string;
  rule: FaultRule;
  /** Calls that failed because of the rule so far. */
  fired: number;
  remaining: number;
  active: boolean;
}

const pollerTargets = ['poller:crash', 'poller:skipDelete', 'poller:duplicate', 'streams:crash'] as const;

const ruleSchema = z
  .object({
    id: z.string().min(1).max(128).optional(),
    target: z
      .string()
      .regex(/^(postToConnection|(dynamodb|sqs):[A-Z][A-Za-z]+|poller:(crash|skipDelete|duplicate)|streams:crash|events:PutEvents)$/, 'unknown fault target'),
    status: z.union([z.literal(410), z.literal(429), z.literal(500)]).optional(),
    error: z
      .string()
      .regex(/^[A-Za-z.]+$/)
      .optional(),
    reasons: z
      .array(z.string().regex(/^[A-Za-z]+$/))
      .max(100)
      .optional(),
    when: z.enum(['before', 'after']).optional(),
    delayMs: z.number().int().min(0).max(60_000).optional(),
    times: z.number().int().positive().optional(),
    connectionId: z.string().min(1).optional(),
    match: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(10)]).optional(),
    afterRecords: z.number().int().min(0).optional(),
  })
  .strict()
  .superRefine((rule, context) => {
    const sdk = /^(dynamodb|sqs):/.test(rule.target);
    if (rule.target === 'postToConnection' && rule.status === undefined && rule.delayMs === undefined) {
      context.addIssue({ code: 'custom', message: 'postToConnection needs a status (or a delayMs)' });
    }
    if (sdk && rule.error === undefined && rule.delayMs === undefined) {
      context.addIssue({ code: 'custom', message: `${rule.target} needs an error (or a delayMs)` });
    }
    if (!sdk && rule.target !== 'events:PutEvents' && rule.error !== undefined) {
      context.addIssue({ code: 'custom', message: 'error applies to dynamodb:/sqs: targets and events:PutEvents only' });
    }
    if (!sdk && (rule.when !== undefined || rule.reasons !== undefined)) {
      context.addIssue({ code: 'custom', message: 'when and reasons apply to dynamodb:/sqs: targets only' });
    }
    if (rule.target !== 'postToConnection' && rule.status !== undefined) {
      context.addIssue({ code: 'custom', message: 'status applies to postToConnection only' });
    }
    if (rule.afterRecords !== undefined && rule.target !== 'poller:crash') {
      context.addIssue({ code: 'custom', message: 'afterRecords applies to poller:crash only' });
    }
  });

/** Validates fault rules as the control API receives them; throws with a readable message. */
export function parseFaultRules(body: unknown): FaultRule[] {
  const rules = Array.isArray(body) ? body : [body];
  return rules.map((rule, index) => {
    const parsed = ruleSchema.safeParse(rule);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`rule ${index}: ${issue?.path.join('.') || 'rule'}: ${issue?.message ?? 'invalid'}`);
    }
    return parsed.data as FaultRule;
  });
}

/** What a call looks like to the fault matcher. */
export interface FaultCall {
  connectionId?: string;
  /** The call's payload, computed only when a rule with `match` needs it. */
  text?: () => string;
}

/** True when `payload` contains every text of the rule's `match` (or the rule has none). */
const matches = (rule: FaultRule, payload: () => string) =>
  rule.match === undefined || (Array.isArray(rule.match) ? rule.match : [rule.match]).every((part) => payload().includes(part));

interface ActiveRule {
  id: string;
  rule: FaultRule;
  remaining: number;
}

/** Injected failures shared by the emulators; tests switch them on through `POST /_emulator/faults`. */
export class FaultRegistry {
  private rules: ActiveRule[] = [];
  /** Fired counts by rule id, kept after a rule is used up so tests can check it engaged. */
  private readonly fired = new Map<string, { rule: FaultRule; fired: number }>();

  /** Adds a rule; returns its id. */
  add(rule: FaultRule): string {
    const id = rule.id ?? randomUUID();
    this.remove(id);
    this.rules.push({ id, rule: { ...rule, id }, remaining: rule.times ?? 1 });
    this.fired.set(id, { rule: { ...rule, id }, fired: 0 });
    // Bounded history for long `npm start` sessions.
    if (this.fired.size > 10_000) this.fired.delete(this.fired.keys().next().value as string);
    return id;
  }

  /** Removes one rule; true when it was still active. */
  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((active) => active.id !== id);
    return this.rules.length < before;
  }

  clear(): void {
    this.rules = [];
  }

  /** Every rule ever added that is still remembered, active or used up. */
  list(): FaultStatus[] {
    return [...this.fired.keys()].map((id) => this.status(id)!);
  }

  status(id: string): FaultStatus | undefined {
    const record = this.fired.get(id);
    if (!record) return undefined;
    const active = this.rules.find((candidate) => candidate.id === id);
    return { id, rule: record.rule, fired: record.fired, remaining: active?.remaining ?? 0, active: Boolean(active) };
  }

  /**
   * Consumes and returns the first rule matching this call, if any. The second argument may be a connection id
   * (the original signature) or a {@link FaultCall}.
   */
  take(target: FaultTarget, call?: string | FaultCall): FaultRule | undefined {
    const { connectionId, text } = typeof call === 'string' ? { connectionId: call, text: undefined } : (call ?? {});
    let payload: string | undefined;
    const payloadOf = () => (payload ??= text?.() ?? '');
    const active = this.rules.find(
      (candidate) =>
        candidate.rule.target === target &&
        (!candidate.rule.connectionId || candidate.rule.connectionId === connectionId) &&
        matches(candidate.rule, payloadOf),
    );
    if (!active) return undefined;
    this.consume(active);
    return active.rule;
  }

  /**
   * For poller targets: the first rule whose `match` any of `bodies` contains, consumed once for the batch, with the
   * indexes of the records it applies to (all records when the rule has no `match`).
   */
  takeBatch(target: (typeof pollerTargets)[number], bodies: readonly string[]): { rule: FaultRule; affected: Set<number> } | undefined {
    const affectedBy = (rule: FaultRule) => new Set(bodies.flatMap((body, index) => (matches(rule, () => body) ? [index] : [])));
    const active = this.rules.find((candidate) => candidate.rule.target === target && affectedBy(candidate.rule).size > 0);
    if (!active) return undefined;
    this.consume(active);
    return { rule: active.rule, affected: affectedBy(active.rule) };
  }

  private consume(active: ActiveRule): void {
    active.remaining -= 1;
    const record = this.fired.get(active.id);
    if (record) record.fired += 1;
    if (active.remaining <= 0) this.rules = this.rules.filter((candidate) => candidate !== active);
  }
}

/** The middleware stack of an AWS SDK v3 client (DynamoDB, DynamoDB document client, SQS). */
export interface SdkClientWithMiddleware {
  middlewareStack: {
    add(middleware: never, options: { step: 'deserialize'; priority: 'low'; name: string; override: boolean }): void;
  };
}

/** HTTP status DynamoDB and SQS answer with for an error name; throttling and client errors are 400. */
const errorStatus: Record<string, number> = {
  InternalServerError: 500,
  InternalFailure: 500,
  InternalError: 500,
  ServiceUnavailable: 503,
  ServiceUnavailableException: 503,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The error response the service would send, for the real deserializer to turn into the real exception class. */
function errorResponse(service: 'dynamodb' | 'sqs', rule: FaultRule, input: unknown) {
  const name = rule.error!;
  const statusCode = errorStatus[name] ?? 400;
  const body: Record<string, unknown> = {
    __type: service === 'dynamodb' ? `com.amazonaws.dynamodb.v20120810#${name}` : `com.amazonaws.sqs#${name}`,
    message: `injected ${name}`,
  };
  if (name === 'TransactionCanceledException') {
    const items = ((input as { TransactItems?: unknown[] } | undefined)?.TransactItems ?? [undefined]).length;
    const codes = rule.reasons ?? Array.from({ length: items }, (_, index) => (index === 0 ? 'TransactionConflict' : 'None'));
    body.Message = `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`;
    body.CancellationReasons = codes.map((code) => (code === 'None' ? { Code: code } : { Code: code, Message: `injected ${code}` }));
  }
  const headers: Record<string, string> = {
    'content-type': 'application/x-amz-json-1.0',
    'x-amzn-requestid': `fault-${randomUUID()}`,
  };
  if (service === 'sqs') headers['x-amzn-query-error'] = `${name};${statusCode >= 500 ? 'Receiver' : 'Sender'}`;
  return { statusCode, reason: 'injected', headers, body: new TextEncoder().encode(JSON.stringify(body)) };
}

/** Lets a real response go: its body is a stream holding the socket. */
function discard(response: unknown): void {
  const body = (response as { body?: { resume?: () => void; destroy?: () => void } } | undefined)?.body;
  if (typeof body?.resume === 'function') body.resume();
}

/**
 * Installs fault injection on an SDK client: a middleware at the innermost deserialize position, so the SDK's own
 * retries (and their backoff) see every injected failure as they would see a real one, and the real deserializer
 * builds the real exception (`TransactionCanceledException` with its `CancellationReasons`, ...).
 */
export function installSdkFaults(client: SdkClientWithMiddleware, service: 'dynamodb' | 'sqs', faults: FaultRegistry): void {
  type Next = (args: { input: unknown; request: unknown }) => Promise<{ response: unknown; output?: unknown }>;
  type Context = { commandName?: string };
  const middleware = (next: Next, context: Context) => async (args: { input: unknown; request: unknown }) => {
    const operation = (context.commandName ?? '').replace(/Command$/, '');
    const rule = faults.take(`${service}:${operation}`, { text: () => JSON.stringify(args.input) });
    if (!rule) return next(args);
    if (rule.delayMs) await sleep(rule.delayMs);
    if (!rule.error) return next(args);
    if (rule.when === 'after') discard((await next(args)).response);
    return { response: errorResponse(service, rule, args.input) };
  };
  client.middlewareStack.add(middleware as never, { step: 'deserialize', priority: 'low', name: 'parleyFaultInjection', override: true });
}
