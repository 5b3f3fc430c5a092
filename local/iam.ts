import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { AnyFunctionName } from '../lib/definitions.js';
import type { SdkClientWithMiddleware } from './faults.js';

/** The account every local ARN is in. */
export const localAccount = '000000000000';

/** One Allow or Deny statement of a function's role, with its resources resolved to local ARNs. */
export interface LocalStatement {
  effect: 'Allow' | 'Deny';
  actions: string[];
  resources: string[];
  /** Condition keys are not evaluated locally: a statement with a condition never allows (fail closed). */
  conditional: boolean;
}

/** What one AWS call needs: an IAM action (`dynamodb:PutItem`) on a resource ARN. */
export interface Permission {
  action: string;
  resource: string;
}

/** A call refused by the local IAM check, shaped like the service's own refusal. */
export class AccessDeniedError extends Error {
  constructor(
    readonly functionName: AnyFunctionName,
    readonly permission: Permission,
  ) {
    super(
      `User: arn:aws:sts::${localAccount}:assumed-role/parley-${functionName}/parley-${functionName} is not authorized to perform: ` +
        `${permission.action} on resource: ${permission.resource} because no identity-based policy allows the ${permission.action} action`,
    );
    this.name = 'AccessDeniedError';
  }
}

/**
 * Each function's role policy, as the synthesized template states it. `check` answers like IAM: an explicit Deny
 * wins, else some Allow must match the action and the resource (with `*` and `?` wildcards), else the call is denied.
 */
export class LocalIam {
  /** The function whose invocation the current async context belongs to (set by the local invoker). */
  readonly currentFunction = new AsyncLocalStorage<AnyFunctionName>();
  /** Calls refused so far, for tests and the console. */
  readonly denied: { functionName: AnyFunctionName; permission: Permission }[] = [];

  constructor(
    private readonly policies: Partial<Record<AnyFunctionName, LocalStatement[]>>,
    private readonly onDenied: (error: AccessDeniedError) => void = () => undefined,
  ) {}

  /** Throws `AccessDeniedError` unless `functionName`'s role allows every permission. */
  check(functionName: AnyFunctionName, permissions: readonly Permission[]): void {
    for (const permission of permissions) {
      if (this.allows(functionName, permission)) continue;
      this.denied.push({ functionName, permission });
      const error = new AccessDeniedError(functionName, permission);
      this.onDenied(error);
      throw error;
    }
  }

  /** Whether the role of `functionName` allows one permission. */
  allows(functionName: AnyFunctionName, permission: Permission): boolean {
    const statements = this.policies[functionName] ?? [];
    const matching = statements.filter(
      (statement) =>
        statement.actions.some((pattern) => wildcardMatch(pattern, permission.action, true)) &&
        statement.resources.some((pattern) => wildcardMatch(pattern, permission.resource, false)),
    );
    if (matching.some((statement) => statement.effect === 'Deny')) return false;
    return matching.some((statement) => statement.effect === 'Allow' && !statement.conditional);
  }
}

const compiled = new Map<string, RegExp>();

/** IAM's wildcard match: `*` any run of characters, `?` one; actions compare case-insensitively. */
export function wildcardMatch(pattern: string, value: string, ignoreCase: boolean): boolean {
  const key = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let regex = compiled.get(key);
  if (!regex) {
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    regex = new RegExp(`^${source}$`, ignoreCase ? 'i' : '');
    compiled.set(key, regex);
  }
  return regex.test(value);
}

/** Where the local services live, to turn the resources a call names into ARNs. */
export interface LocalArns {
  region: string;
  /** `apiId/stage` of the WebSocket API as the template's ARNs name it. */
  webSocketStage: string;
}

const dynamoTableArn = (arns: LocalArns, table: string) => `arn:aws:dynamodb:${arns.region}:${localAccount}:table/${table}`;

/**
 * The permissions one SDK call needs. A transaction or batch is authorized per item and table, as IAM does, and a
 * query or scan of an index on the index's ARN.
 */
export function requiredPermissions(service: 'dynamodb' | 'sqs' | 'execute-api', operation: string, input: unknown, arns: LocalArns): Permission[] {
  const request = (input ?? {}) as Record<string, unknown>;
  if (service === 'dynamodb') {
    const onTable = (action: string, table: unknown, index?: unknown): Permission => ({
      action: `dynamodb:${action}`,
      resource: dynamoTableArn(arns, String(table)) + (index ? `/index/${String(index)}` : ''),
    });
    switch (operation) {
      case 'BatchGetItem':
      case 'BatchWriteItem':
        return Object.keys((request.RequestItems ?? {}) as object).map((table) => onTable(operation, table));
      case 'TransactWriteItems':
        return ((request.TransactItems ?? []) as Record<string, { TableName?: string }>[]).flatMap((item) =>
          Object.entries(transactActions).flatMap(([key, action]) => (item[key] ? [onTable(action, item[key]!.TableName)] : [])),
        );
      case 'TransactGetItems':
        return ((request.TransactItems ?? []) as { Get?: { TableName?: string } }[]).map((item) => onTable('GetItem', item.Get?.TableName));
      case 'Query':
      case 'Scan':
        return [onTable(operation, request.TableName, request.IndexName)];
      default:
        return [onTable(operation, request.TableName)];
    }
  }
  if (service === 'sqs') {
    const queue = String(request.QueueUrl ?? '')
      .split('/')
      .pop();
    // SendMessageBatch is authorized as sqs:SendMessage (and so on for the other batch calls).
    const action = operation.replace(/Batch$/, '');
    return [{ action: `sqs:${action}`, resource: `arn:aws:sqs:${arns.region}:${localAccount}:${queue}` }];
  }
  const method = { PostToConnection: 'POST', GetConnection: 'GET', DeleteConnection: 'DELETE' }[operation] ?? operation;
  return [
    {
      action: 'execute-api:ManageConnections',
      resource: `arn:aws:execute-api:${arns.region}:${localAccount}:${arns.webSocketStage}/${method}/@connections/${String(request.ConnectionId)}`,
    },
  ];
}

const transactActions = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem' } as const;

/** The error body each service answers a refused call with, for the SDK's own deserializer to build its exception. */
function deniedResponse(service: 'dynamodb' | 'sqs' | 'execute-api', error: AccessDeniedError) {
  const requestId = `iam-${randomUUID()}`;
  if (service === 'execute-api') {
    // The Management API refuses with 403 ForbiddenException.
    return {
      statusCode: 403,
      reason: 'Forbidden',
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'ForbiddenException', 'x-amzn-requestid': requestId },
      body: new TextEncoder().encode(JSON.stringify({ message: error.message })),
    };
  }
  const type = service === 'dynamodb' ? 'com.amazonaws.dynamodb.v20120810#AccessDeniedException' : 'com.amazonaws.sqs#AccessDenied';
  const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId };
  if (service === 'sqs') headers['x-amzn-query-error'] = 'AccessDenied;Sender';
  return {
    statusCode: service === 'dynamodb' ? 400 : 403,
    reason: 'AccessDenied',
    headers,
    body: new TextEncoder().encode(JSON.stringify({ __type: type, message: error.message })),
  };
}

/**
 * Checks every call an SDK client makes inside a function invocation against that function's role, and answers a
 * refused one the way the service does (`AccessDeniedException`, SQS `AccessDenied`, Management API 403), before
 * the request is sent. Calls outside any invocation (the local stack's own setup) are not a function's and pass.
 */
export function installIamChecks(client: SdkClientWithMiddleware, service: 'dynamodb' | 'sqs' | 'execute-api', iam: LocalIam, arns: LocalArns): void {
  type Next = (args: { input: unknown; request: unknown }) => Promise<{ response: unknown; output?: unknown }>;
  const middleware = (next: Next, context: { commandName?: string }) => async (args: { input: unknown; request: unknown }) => {
    const functionName = iam.currentFunction.getStore();
    if (!functionName) return next(args);
    const operation = (context.commandName ?? '').replace(/Command$/, '');
    try {
      iam.check(functionName, requiredPermissions(service, operation, args.input, arns));
    } catch (error) {
      if (error instanceof AccessDeniedError) return { response: deniedResponse(service, error) };
      throw error;
    }
    return next(args);
  };
  // Innermost, like the fault injection: the SDK deserializes the refusal into its real exception class.
  client.middlewareStack.add(middleware as never, { step: 'deserialize', priority: 'low', name: 'parleyLocalIam', override: true });
}
