/**
 * The single source of truth for Parley's tables, queues, functions and routes.
 * Pure data (no CDK imports): the CDK stack (`lib/`) and the local stack (`local/`) both read it,
 * so the deployed and the emulated shapes cannot drift.
 */
import { actions, catchupActions, type ActionName } from '../protocol/actions.js';
import { fixedLimits } from '../protocol/limits.js';

/** A DynamoDB attribute type used in a key. */
export type KeyType = 'S' | 'N';

/** A key attribute of a table or index. */
export interface KeyDefinition {
  readonly name: string;
  readonly type: KeyType;
}

/** A global secondary index (projection ALL). */
export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: KeyDefinition;
  readonly sortKey?: KeyDefinition;
}

/** A DynamoDB table as both stacks create it. */
export interface TableDefinition {
  /** Environment variable through which handlers learn the physical table name. */
  readonly envVar: string;
  readonly partitionKey: KeyDefinition;
  readonly sortKey?: KeyDefinition;
  readonly globalSecondaryIndexes?: readonly IndexDefinition[];
  /** Attribute holding an epoch-seconds expiry that DynamoDB TTL deletes lazily. */
  readonly timeToLiveAttribute?: string;
  /** Holds user data that must survive a stack deletion in production. */
  readonly retainInProduction: boolean;
  /** A DynamoDB stream with this view type, read by the `streamSources` on this table. */
  readonly stream?: StreamViewType;
  /** Table class; Standard unless set (the choice for messages is worked out in BENCHMARKS.md, Storage). */
  readonly tableClass?: 'STANDARD' | 'STANDARD_INFREQUENT_ACCESS';
}

/** What a DynamoDB stream record carries of the item. */
export type StreamViewType = 'KEYS_ONLY' | 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES';

export const tables = {
  /** One item per conversation: kind, title, member count and the last assigned seq. */
  conversations: {
    envVar: 'CONVERSATIONS_TABLE',
    partitionKey: { name: 'conversationId', type: 'S' },
    retainInProduction: true,
  },
  /** One item per (conversation, member), with that member's receipt cursors. */
  members: {
    envVar: 'MEMBERS_TABLE',
    partitionKey: { name: 'conversationId', type: 'S' },
    sortKey: { name: 'userId', type: 'S' },
    globalSecondaryIndexes: [
      {
        indexName: 'byUser',
        partitionKey: { name: 'userId', type: 'S' },
        sortKey: { name: 'conversationId', type: 'S' },
      },
    ],
    retainInProduction: true,
  },
  /**
   * Messages partitioned by conversation, sorted by their gap-free seq. Timeline items carry `expiresAt` when a
   * retention applies (never the head item, seq 0), so DynamoDB TTL removes expired messages without a scan.
   */
  messages: {
    envVar: 'MESSAGES_TABLE',
    partitionKey: { name: 'conversationId', type: 'S' },
    sortKey: { name: 'seq', type: 'N' },
    timeToLiveAttribute: 'expiresAt',
    retainInProduction: true,
    // The event stream reads new items; old images too, so an archive can read what TTL or an erasure removed.
    stream: 'NEW_AND_OLD_IMAGES',
  },
  /** (sender, conversation, clientMessageId) -> seq, so a retried send yields the same ack. */
  idempotency: {
    envVar: 'IDEMPOTENCY_TABLE',
    partitionKey: { name: 'idempotencyKey', type: 'S' },
    timeToLiveAttribute: 'expiresAt',
    retainInProduction: false,
  },
  /** One item per user: live connection ids with their expiry, and lastSeenAt. */
  presence: {
    envVar: 'PRESENCE_TABLE',
    partitionKey: { name: 'userId', type: 'S' },
    timeToLiveAttribute: 'expiresAt',
    retainInProduction: false,
  },
  /**
   * Per-user data, one partition per user: `settings`, `block#<blockedUserId>`, `invite#<conversationId>` (an
   * invitation to a group) and `reaction#<conversationId>#<seq>#<emoji>` (the user reacted so to that message).
   */
  users: {
    envVar: 'USERS_TABLE',
    partitionKey: { name: 'userId', type: 'S' },
    sortKey: { name: 'item', type: 'S' },
    retainInProduction: true,
  },
  /**
   * The live connections of each group's members: one item per (group, `userId#connectionId`), written when the
   * connection opens (for every group of the user) and when the user joins a group, deleted on $disconnect, expiring
   * with API Gateway's 2-hour connection limit. Group fanout reads one group's connections with one Query instead of
   * reading every member's presence item (docs/DESIGN.md, "Group fanout").
   */
  groupConnections: {
    envVar: 'GROUP_CONNECTIONS_TABLE',
    partitionKey: { name: 'conversationId', type: 'S' },
    sortKey: { name: 'connection', type: 'S' },
    timeToLiveAttribute: 'expiresAt',
    retainInProduction: false,
  },
  /** Per-user request counters in fixed windows, shared by every connection and Lambda container of the user. */
  rateLimits: {
    envVar: 'RATE_LIMITS_TABLE',
    partitionKey: { name: 'bucket', type: 'S' },
    timeToLiveAttribute: 'expiresAt',
    retainInProduction: false,
  },
  /**
   * One small item per fanout chunk that found recipients without a live connection (`undelivered` events): the
   * offline user ids of that chunk, kept a day. It exists for its stream; nothing reads it.
   */
  undelivered: {
    envVar: 'UNDELIVERED_TABLE',
    partitionKey: { name: 'deliveryId', type: 'S' },
    timeToLiveAttribute: 'expiresAt',
    retainInProduction: false,
    stream: 'NEW_IMAGE',
  },
} as const satisfies Record<string, TableDefinition>;

/** Logical table names. */
export type TableName = keyof typeof tables;

/** Logical function names (keys of `functions`). */
export type FunctionName = 'authorizer' | 'connect' | 'disconnect' | 'actions' | 'catchup' | 'fanout' | 'serverApi' | 'streamEvents';

/** Functions that exist only when their feature is on (keys of `optionalFunctions`): the archive consumer. */
export type OptionalFunctionName = 'archive';

/** Every function a deployment may have. */
export type AnyFunctionName = FunctionName | OptionalFunctionName;

/** Logical queue names (keys of `queues`). */
export type QueueName = 'fanout';

/** An SQS queue feeding a Lambda function, with its dead-letter queue. */
export interface QueueDefinition {
  readonly envVar: string;
  readonly visibilityTimeoutSeconds: number;
  /** Receives before a message moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  readonly batchSize: number;
  readonly maxBatchingWindowSeconds: number;
  /** Upper bound on concurrent Lambda invocations from this queue. */
  readonly maximumConcurrency: number;
  readonly dlqRetentionDays: number;
  /** The function (key of `functions`) that consumes this queue. */
  readonly consumer: FunctionName;
}

/**
 * AWS's advice for an SQS event source: a visibility timeout of at least six times the consumer's timeout, so Lambda
 * can retry a throttled batch before its messages reappear.
 */
export const visibilityTimeoutPerConsumerTimeout = 6;

export const queues = {
  /** Fanout jobs: one event for up to `limits.fanoutChunkSize` recipients. */
  fanout: {
    envVar: 'FANOUT_QUEUE_URL',
    // Derived from the consumer's timeout so the fact lives once; a getter, because `functions` is defined below.
    get visibilityTimeoutSeconds() {
      return visibilityTimeoutPerConsumerTimeout * functions[this.consumer].timeoutSeconds;
    },
    maxReceiveCount: 5,
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    maximumConcurrency: 50,
    dlqRetentionDays: 14,
    consumer: 'fanout',
  },
} as const satisfies Record<QueueName, QueueDefinition>;

/** A DynamoDB API action, as its IAM action name without the `dynamodb:` prefix. */
export type DynamoDbAction = 'GetItem' | 'BatchGetItem' | 'Query' | 'Scan' | 'ConditionCheckItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'BatchWriteItem';

/**
 * The exact DynamoDB actions a function calls on one table. A `TransactWriteItems` is authorized per item
 * (`PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem`), so it is listed as those actions.
 */
export interface TableActions {
  /** Actions on the table's items, including `Query` on its primary key. */
  readonly table?: readonly DynamoDbAction[];
  /** Actions on global secondary indexes, by index name. */
  readonly indexes?: Readonly<Record<string, readonly ('Query' | 'Scan')[]>>;
}

/** A Lambda function and the handler module it runs. */
export interface FunctionDefinition {
  /** Path of the handler module relative to the repository root; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  /**
   * The tables it uses, with the exact DynamoDB actions its code calls on each: the CDK stack passes it these
   * tables' names and grants exactly these actions, nothing else.
   */
  readonly tables: Partial<Record<TableName, TableActions>>;
  /** Queues it sends to. */
  readonly sendsTo: readonly QueueName[];
  /** Whether it calls the API Gateway Management API (@connections). */
  readonly postsToConnections: boolean;
  /** Whether it calls `events:PutEvents` on Parley's event bus. */
  readonly putsEvents?: boolean;
}

export const functions = {
  authorizer: {
    entry: 'lambdas/handlers/authorizer.ts',
    description: 'Verifies the JWT on $connect and resolves the user id',
    memorySize: 256,
    timeoutSeconds: 5,
    // The user's ban item: banned users cannot connect.
    tables: { users: { table: ['GetItem'] } },
    sendsTo: [],
    postsToConnections: false,
  },
  connect: {
    entry: 'lambdas/handlers/connect.ts',
    description: 'Registers a new connection and marks the user online',
    memorySize: 256,
    timeoutSeconds: 10,
    // Presence fanout resolves the user's contacts in the fanout worker, not here. The user's groups (byUser) get the
    // connection in their connection index.
    tables: {
      presence: { table: ['UpdateItem'] },
      members: { indexes: { byUser: ['Query'] } },
      groupConnections: { table: ['BatchWriteItem'] },
    },
    sendsTo: ['fanout'],
    postsToConnections: false,
  },
  disconnect: {
    entry: 'lambdas/handlers/disconnect.ts',
    description: 'Removes a connection and records lastSeenAt when the user goes offline',
    memorySize: 256,
    timeoutSeconds: 10,
    tables: {
      presence: { table: ['UpdateItem'] },
      members: { indexes: { byUser: ['Query'] } },
      groupConnections: { table: ['BatchWriteItem'] },
    },
    sendsTo: ['fanout'],
    postsToConnections: false,
  },
  actions: {
    entry: 'lambdas/handlers/actions.ts',
    description: 'Handles every client action (send, history, sync, ...) and replies on the route response',
    memorySize: 512,
    timeoutSeconds: 15,
    tables: {
      conversations: { table: ['GetItem', 'BatchGetItem', 'PutItem', 'UpdateItem'] },
      // DeleteItem: a group create that lost a race removes the member items it wrote.
      members: {
        table: ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
        indexes: { byUser: ['Query'] },
      },
      // The head item (seq 0) holds lastSeq: read with the conversation, advanced by a send's counter update or a timeline
      // transaction; PutItem stores a message at its seq and fills a dead seq with a placeholder.
      messages: { table: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem'] },
      // A send claims its key before taking a seq: UpdateItem takes over a dead attempt's claim, DeleteItem releases one.
      idempotency: { table: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] },
      presence: { table: ['BatchGetItem', 'UpdateItem'] },
      // Settings, blocks, invitations; reaction markers are put and deleted in the reaction's transaction.
      users: { table: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'DeleteItem'] },
      rateLimits: { table: ['UpdateItem'] },
      // Inline fanout records the recipients it found offline.
      undelivered: { table: ['PutItem'] },
      // Group fanout reads the group's connections; joins, a re-registering heartbeat and gone connections write them.
      groupConnections: { table: ['Query', 'BatchWriteItem'] },
    },
    sendsTo: ['fanout'],
    postsToConnections: true,
  },
  catchup: {
    entry: 'lambdas/handlers/catchup.ts',
    description: 'Handles the catch-up actions (sync, history, listConversations) apart from live sends',
    memorySize: 512,
    timeoutSeconds: 15,
    // Reads only, but for a dead seq's placeholder (messages PutItem) and the per-user read limits (rateLimits); a
    // connection whose session ended is told and closed (@connections).
    tables: {
      conversations: { table: ['GetItem', 'BatchGetItem'] },
      members: { table: ['GetItem', 'Query'], indexes: { byUser: ['Query'] } },
      messages: { table: ['GetItem', 'BatchGetItem', 'Query', 'PutItem'] },
      presence: { table: ['BatchGetItem'] },
      users: { table: ['GetItem', 'BatchGetItem', 'Query'] },
      rateLimits: { table: ['UpdateItem'] },
    },
    sendsTo: [],
    postsToConnections: true,
  },
  fanout: {
    entry: 'lambdas/handlers/fanout.ts',
    description: 'Pushes queued events to recipient connections with PostToConnection',
    memorySize: 512,
    timeoutSeconds: 25,
    // Presence jobs resolve contacts: memberships through byUser, the conversations' member sets, and the user's
    // blocks. Conversation jobs whose membership changed since they were queued re-check recipients: the head
    // (messages), the member set, and a removed recipient's removedAtSeq (members). Retention backfill jobs read the
    // conversation and its head, page through its timeline and set each item's TTL and the head's lastExpiresAt.
    tables: {
      conversations: { table: ['GetItem', 'BatchGetItem'] },
      members: { table: ['GetItem'], indexes: { byUser: ['Query'] } },
      messages: { table: ['GetItem', 'BatchGetItem', 'Query', 'UpdateItem'] },
      presence: { table: ['BatchGetItem', 'UpdateItem'] },
      users: { table: ['Query'] },
      undelivered: { table: ['PutItem'] },
      // Group fanout reads the group's connections; joins, a re-registering heartbeat and gone connections write them.
      groupConnections: { table: ['Query', 'BatchWriteItem'] },
    },
    sendsTo: ['fanout'],
    postsToConnections: true,
  },
  serverApi: {
    entry: 'lambdas/handlers/server-api.ts',
    description: "Serves the IAM-authorized server API for the app's backend (HTTP API)",
    memorySize: 512,
    timeoutSeconds: 15,
    // The server principal's paths only: no consent, invitation, settings or rate-limit reads (see principal.ts).
    // Erasure (`eraseUser`) needs nothing more: memberships by `byUser`, a sender's items by Query, scrubs by
    // UpdateItem, its marker by PutItem on users. With the archive on, `ParleyArchive.grantErasure` adds the S3 grants.
    tables: {
      conversations: { table: ['GetItem', 'BatchGetItem', 'PutItem', 'UpdateItem'] },
      // DeleteItem: a group create that lost a race removes the member items it wrote.
      // Query: a resend reads the receipt cursors to push only to members who may have missed the message.
      members: { table: ['Query', 'PutItem', 'UpdateItem', 'DeleteItem'], indexes: { byUser: ['Query'] } },
      messages: { table: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem'] },
      idempotency: { table: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] },
      presence: { table: ['BatchGetItem', 'UpdateItem'] },
      // Ban items, and blocks checked when posting into a direct conversation as a user.
      users: { table: ['BatchGetItem', 'PutItem', 'DeleteItem'] },
      // Offline recipients of its inline fanout, for the event stream's `undelivered`.
      undelivered: { table: ['PutItem'] },
      // Group fanout reads the group's connections; joins, a re-registering heartbeat and gone connections write them.
      groupConnections: { table: ['Query', 'BatchWriteItem'] },
    },
    sendsTo: ['fanout'],
    postsToConnections: true,
  },
  streamEvents: {
    entry: 'lambdas/handlers/stream-events.ts',
    description: 'Turns timeline and undelivered stream records into events on the Parley event bus',
    memorySize: 256,
    timeoutSeconds: 30,
    // Stream reads are granted by its streamSources, not as table actions.
    tables: {},
    sendsTo: [],
    postsToConnections: false,
    putsEvents: true,
  },
} as const satisfies Record<FunctionName, FunctionDefinition>;

/**
 * How long a timeline seq may stay allocated but unwritten, and a send's idempotency claim pending, before another
 * request treats the attempt as dead: longer than any function that sends may run (Lambda ends it at its timeout),
 * plus a margin for clock skew between containers and a write still in flight when the function ended. Readers then
 * fill such a seq with a `skipped` placeholder, and a retry takes the claim over (see docs/DESIGN.md, Send path).
 */
export const seqHoleGraceSeconds = Math.max(functions.actions.timeoutSeconds, functions.serverApi.timeoutSeconds) + 15;

/** Logical names of DynamoDB stream event sources (keys of `streamSources`). */
export type StreamSourceName = 'timeline' | 'undelivered' | 'archive';

/**
 * How long messages stay readable. The deployment-wide default is CDK context `messageRetentionDays` (unset: kept
 * forever), passed to the handlers as `envVar`; groups may override it (`updateConversation`, owners only).
 */
export const retention = {
  contextKey: 'messageRetentionDays',
  envVar: 'MESSAGE_RETENTION_DAYS',
  /** The functions that write or read timeline items (the fanout worker runs retention backfills). */
  functions: ['actions', 'catchup', 'serverApi', 'fanout'] as readonly FunctionName[],
  /** Longest retention a deployment or a group may set. */
  maxDays: fixedLimits.maxRetentionDays,
} as const;

/**
 * The optional archive (CDK context `archive=true`): every stored timeline item is also written as Parquet to S3,
 * partitioned by conversation and day, by a Lambda consumer of the messages table's stream.
 */
export const archive = {
  contextKey: 'archive',
  /** Where the consumer writes: an S3 bucket in AWS, a local folder in the local stack (same layout). */
  bucketEnvVar: 'ARCHIVE_BUCKET',
  directoryEnvVar: 'ARCHIVE_DIR',
  /** Every object key starts with this and the conversation id (`conversation=<id>/date=<day>/…`); IAM grants are scoped to it. */
  conversationKeyPrefix: 'conversation=',
  /** Objects move to S3 Glacier Instant Retrieval after this many days. */
  transitionAfterDays: 30,
} as const;

/** The archive consumer (`streamSources.archive`): an optional function, since it exists only when the archive is on. */
export const archiveFunction = {
  entry: 'lambdas/handlers/archive.ts',
  description: 'Writes timeline items from the messages stream to the Parquet archive',
  memorySize: 1024,
  timeoutSeconds: 120,
  // Erasure markers (`erased`): rows of an erased sender are written without their body, even if they were in flight.
  tables: { users: { table: ['BatchGetItem'] } },
  sendsTo: [],
  postsToConnections: false,
} as const satisfies FunctionDefinition;

export const optionalFunctions = { archive: archiveFunction } as const satisfies Record<OptionalFunctionName, FunctionDefinition>;

/** The definition of any function, optional or not. */
export const functionDefinition = (name: AnyFunctionName): FunctionDefinition => (name === 'archive' ? optionalFunctions[name] : functions[name]);

/**
 * A DynamoDB stream feeding a Lambda function, as an event source mapping: both the CDK stack and the local stream
 * poller (`local/dynamodb-stream-poller.ts`) are built from it. A source of an optional function exists only with it.
 */
export interface StreamSourceDefinition {
  /** The table whose stream is read; it must define `stream`. */
  readonly table: TableName;
  readonly consumer: AnyFunctionName;
  readonly batchSize: number;
  readonly maxBatchingWindowSeconds: number;
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  /** On a function error, split the batch in two and retry the halves (splitting does not count as a retry). */
  readonly bisectBatchOnFunctionError: boolean;
  /** Retries of a failed batch before its position is sent to the on-failure queue and the shard moves on. */
  readonly maximumRetryAttempts: number;
  /** Records older than this are sent to the on-failure queue unprocessed; -1: no limit. */
  readonly maximumRecordAgeSeconds: number;
  readonly parallelizationFactor: number;
  /** Event filter patterns (EventBridge syntax over the stream record); a record reaches the function if one matches. */
  readonly filters: readonly Readonly<Record<string, unknown>>[];
  /** Retention of the on-failure (dead-letter) SQS queue. */
  readonly dlqRetentionDays: number;
}

/** The event consumer's mapping settings, the same for every stream it reads. */
const eventStreamMapping = {
  consumer: 'streamEvents',
  batchSize: 100,
  maxBatchingWindowSeconds: 1,
  startingPosition: 'TRIM_HORIZON',
  bisectBatchOnFunctionError: true,
  maximumRetryAttempts: 5,
  maximumRecordAgeSeconds: -1,
  parallelizationFactor: 1,
  dlqRetentionDays: 14,
} as const;

export const streamSources = {
  /** New timeline items of the messages table (not the head item, seq 0, and not in-place updates). */
  timeline: {
    ...eventStreamMapping,
    table: 'messages',
    filters: [{ eventName: ['INSERT'], dynamodb: { Keys: { seq: { N: [{ 'anything-but': ['0'] }] } } } }],
  },
  /** New undelivered items (TTL removals are filtered out). */
  undelivered: {
    ...eventStreamMapping,
    table: 'undelivered',
    filters: [{ eventName: ['INSERT'] }],
  },
  /**
   * Every stored and updated timeline item, for the archive (`-c archive=true`): large batches gathered for up to a
   * minute (fewer, larger Parquet objects); failures are retried (split in halves) before they go to the DLQ. Head
   * items (seq 0) and TTL removals are not archived.
   */
  archive: {
    consumer: 'archive',
    table: 'messages',
    batchSize: 1000,
    maxBatchingWindowSeconds: 60,
    startingPosition: 'TRIM_HORIZON',
    bisectBatchOnFunctionError: true,
    maximumRetryAttempts: 10,
    maximumRecordAgeSeconds: -1,
    parallelizationFactor: 1,
    filters: [{ eventName: ['INSERT', 'MODIFY'], dynamodb: { Keys: { seq: { N: [{ 'anything-but': ['0'] }] } } } }],
    dlqRetentionDays: 14,
  },
} as const satisfies Record<StreamSourceName, StreamSourceDefinition>;

/** Parley's EventBridge bus: the `source` of every event and how the consumer learns the bus name. */
export const eventBus = {
  envVar: 'EVENT_BUS_NAME',
  source: 'parley',
  /** PutEvents takes at most this many entries per call. */
  maxEntriesPerCall: 10,
  /** PutEvents rejects a call whose entries add up to more than 256 KB (EventBridge's entry-size arithmetic). */
  maxCallBytes: 256 * 1024,
} as const;

/**
 * The optional webhook target (an API destination): its retry policy, both in the CDK rule target and in the local
 * bus. EventBridge retries 401, 407, 409, 429 and 5xx answers and timeouts, and dead-letters the rest at once.
 */
export const webhookTarget = {
  maximumRetryAttempts: 8,
  maximumEventAgeSeconds: 3600,
  /** API destinations give up on a request after 5 s. */
  requestTimeoutSeconds: 5,
  invocationRateLimitPerSecond: 20,
  retryableStatuses: [401, 407, 409, 429] as readonly number[],
  dlqRetentionDays: 14,
} as const;

/** Client actions (defined by the wire protocol); each is a WebSocket route handled by the `actions` function. */
export { actions, type ActionName };

/**
 * The catch-up actions (protocol/actions.ts), routed to their own function: after a reconnect storm every client syncs
 * at once, and that work must not take the containers (and the concurrency) live sends need.
 */
export { catchupActions };

/** A WebSocket API route. */
export interface RouteDefinition {
  readonly routeKey: string;
  readonly function: FunctionName;
  /** Send the integration's response body back to the client (a two-way route). */
  readonly returnResponse: boolean;
}

export const routeSelectionExpression = '$request.body.action';

export const routes: readonly RouteDefinition[] = [
  { routeKey: '$connect', function: 'connect', returnResponse: false },
  { routeKey: '$disconnect', function: 'disconnect', returnResponse: false },
  { routeKey: '$default', function: 'actions', returnResponse: true },
  ...actions.map((routeKey) => ({ routeKey, function: catchupActions.includes(routeKey) ? 'catchup' : 'actions', returnResponse: true }) as const),
];

/** The function that authorizes `$connect`, and where it finds the token. */
export const connectAuthorizer = {
  function: 'authorizer' as const,
  /** Query string parameter carrying the JWT. */
  tokenQueryParameter: 'token',
  /** Alternative for clients that cannot set a query string: `Sec-WebSocket-Protocol: parley, <jwt>`. */
  tokenProtocolHeader: 'Sec-WebSocket-Protocol',
  /** The subprotocol the server echoes when the token came in the protocol header. */
  subprotocol: 'parley',
};

/** API Gateway WebSocket service limits that the local emulator enforces too. */
export const webSocketLimits = {
  idleTimeoutSeconds: 600,
  maxConnectionSeconds: 7200,
  maxFrameBytes: 32 * 1024,
  maxMessageBytes: 128 * 1024,
};

/**
 * How long a group join stays noted on the joining user's presence item. $connect finds the user's groups through the
 * members table's byUser index, which is eventually consistent; a join younger than this may not be in it yet, so
 * $connect indexes the connection in the noted groups too. Far above DynamoDB's usual index propagation (under a second).
 */
export const groupJoinNoticeSeconds = 60;

/**
 * Environment variables besides the table and queue variables. The CDK stack sets the callback URL on the functions
 * that post to connections and the token settings on the authorizer.
 */
export const commonEnv = {
  callbackUrl: 'CALLBACK_URL',
  jwksUrl: 'JWKS_URL',
  jwtIssuer: 'JWT_ISSUER',
  jwtAudience: 'JWT_AUDIENCE',
  userIdClaim: 'USER_ID_CLAIM',
} as const;

/** Operations of the server API (keys of its request schemas, `lambdas/app/server-schemas.ts`). */
export type ServerOperation =
  | 'createConversation'
  | 'addMembers'
  | 'removeMember'
  | 'setRole'
  | 'postMessage'
  | 'history'
  | 'listUserConversations'
  | 'redactMessage'
  | 'disconnectUser'
  | 'banUser'
  | 'unbanUser'
  | 'eraseUser'
  | 'getConversation'
  | 'getConversationByExternalId';

/** A route of the server API (an API Gateway HTTP API; every route is `AWS_IAM`). */
export interface ServerRouteDefinition {
  readonly operation: ServerOperation;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** API Gateway path template; `{name}` is a path parameter. */
  readonly path: string;
  readonly summary: string;
}

/** The server API: the function behind it and its routes, which the CDK stack, the local server and the OpenAPI document build from. */
export const serverApi = {
  function: 'serverApi' as const satisfies FunctionName,
  /** AWS's SigV4 service name of API Gateway invocations. */
  signingService: 'execute-api',
  routes: [
    { operation: 'createConversation', method: 'POST', path: '/conversations', summary: 'Create a group (idempotent on externalId)' },
    // A query parameter, not a path segment: HTTP APIs decode the path before routing, so an externalId with `/` or `%` could not be addressed.
    { operation: 'getConversationByExternalId', method: 'GET', path: '/conversations/by-external-id', summary: 'Read the group created with an externalId' },
    {
      operation: 'getConversation',
      method: 'GET',
      path: '/conversations/{conversationId}',
      summary: 'Read a conversation: members, roles, title, externalId, metadata',
    },
    { operation: 'addMembers', method: 'POST', path: '/conversations/{conversationId}/members', summary: 'Add members to a group' },
    { operation: 'removeMember', method: 'DELETE', path: '/conversations/{conversationId}/members/{userId}', summary: 'Remove a member from a group' },
    { operation: 'setRole', method: 'PUT', path: '/conversations/{conversationId}/members/{userId}/role', summary: "Change a member's role" },
    {
      operation: 'postMessage',
      method: 'POST',
      path: '/conversations/{conversationId}/messages',
      summary: 'Post a message as a user, the system or a bot (idempotent on clientMessageId)',
    },
    { operation: 'history', method: 'GET', path: '/conversations/{conversationId}/messages', summary: 'Read the timeline, newest first' },
    {
      operation: 'redactMessage',
      method: 'DELETE',
      path: '/conversations/{conversationId}/messages/{seq}',
      summary: 'Delete a message as the system (tombstone)',
    },
    { operation: 'listUserConversations', method: 'GET', path: '/users/{userId}/conversations', summary: "List a user's conversations" },
    { operation: 'disconnectUser', method: 'POST', path: '/users/{userId}/disconnect', summary: 'Close every session of a user' },
    { operation: 'banUser', method: 'PUT', path: '/users/{userId}/ban', summary: 'Ban a user deployment-wide and close their sessions' },
    { operation: 'unbanUser', method: 'DELETE', path: '/users/{userId}/ban', summary: 'Lift a ban' },
    { operation: 'eraseUser', method: 'POST', path: '/users/{userId}/erase', summary: 'Erase every message of a user (GDPR; idempotent)' },
  ] as const satisfies readonly ServerRouteDefinition[],
};
