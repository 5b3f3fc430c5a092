/**
 * Capacity and cost of Parley on AWS at a given number of users: the AWS usage of each kind of event (a message, a
 * heartbeat, a connection, a presence transition), summed into a month and into the peak second, then checked against
 * the default quotas and priced at list prices (`cost-model.ts`), beside the list prices of hosted alternatives.
 * Pure: every function takes its inputs and returns numbers; `bench/report.ts` renders the tables.
 */

import { archiveFunction, functions, queues, streamSources, type FunctionName, type TableName } from '../lib/definitions.js';
import { loadLimits } from '../lambdas/shared/config.js';
import { apiGatewayMessagesCost, apiGatewayUnits, lambdaArmDurationCost, prices, scalePrices } from './cost-model.js';
import { modeledLambdaMs, steps } from './critical-path.js';

/** Parley's default handler limits (inline fanout up to 150, chunks of 100, presence pushes up to 256 members, ...). */
const limits = loadLimits({});

/** The traffic the model is run for. Defaults: `defaultTraffic`. */
export interface Traffic {
  /** Daily active users: every one sends `messagesPerUserPerDay`. */
  users: number;
  messagesPerUserPerDay: number;
  /** Share of a day's messages (and presence transitions) that falls in the busiest hour. */
  peakHourShare: number;
  /** Share of messages sent to groups of `groupMembers`; the rest are 1:1. */
  groupShare: number;
  groupMembers: number;
  /** Size of a message frame (body and envelope); API Gateway bills it in 32 KB units. */
  messageBytes: number;
  /** What a stored message item adds to the body: key and attribute names and values, and DynamoDB's 100 bytes per item. */
  messageItemOverheadBytes: number;
  /** Devices (connections) per user while online: 1.5 = half the users have a phone and a desktop. */
  devicesPerUser: number;
  /** Hours a day each device is connected. */
  onlineHoursPerDay: number;
  /** Share of devices connected in the peak hour (also the share of recipients a message finds online). */
  peakOnlineShare: number;
  /** Separate sessions a device opens a day; each is cut into connections of at most 2 h by API Gateway. */
  sessionsPerDevicePerDay: number;
  heartbeatSeconds: number;
  /** A user going online or offline (first connection up, last connection down). */
  presenceTransitionsPerUserPerDay: number;
  /** Contacts who get a user's presence: the members of their groups (up to 256 members) and their 1:1 partners. */
  groupsPerUser: number;
  directContactsPerUser: number;
  /** Conversations larger than this get no presence pushes (Parley's `PRESENCE_PUSH_MAX_MEMBERS`, default 256). */
  presencePushMaxMembers: number;
  /** Read units of the `sync` a client sends after every (re)connect: memberships and the messages it missed. */
  syncReadUnits: number;
  daysPerMonth: number;
}

export const defaultTraffic: Omit<Traffic, 'users'> = {
  messagesPerUserPerDay: 20,
  peakHourShare: 0.1,
  groupShare: 0.5,
  groupMembers: 130,
  messageBytes: 1024,
  messageItemOverheadBytes: 200,
  devicesPerUser: 1.5,
  onlineHoursPerDay: 8,
  // 8 h of 24 is a third of the day; the peak hour carries 2.4× the average (10% of 24 hours' traffic).
  peakOnlineShare: 0.8,
  sessionsPerDevicePerDay: 4,
  heartbeatSeconds: 240,
  // One online and one offline per session; a second device's overlapping session adds none.
  presenceTransitionsPerUserPerDay: 8,
  groupsPerUser: 2,
  directContactsPerUser: 20,
  presencePushMaxMembers: limits.presencePushMaxMembers,
  syncReadUnits: 6,
  daysPerMonth: 30,
};

/** The scales the report shows. */
export const scales = [100_000, 1_000_000, 10_000_000] as const;

/** Fixed AWS behaviour and default quotas (us-east-1), with the pages that state them. */
export const awsLimits = {
  /** API Gateway closes every WebSocket connection after 2 hours; clients reconnect. */
  maxConnectionMinutes: 120,
  newConnectionsPerSecond: 500,
  /** Account-level throttle across REST, HTTP, WebSocket APIs and the @connections callback API. */
  accountRequestsPerSecond: 10_000,
  accountBurst: 5_000,
  lambdaConcurrency: 1_000,
  /** Lambda adds at most 1,000 execution environments per function every 10 seconds. */
  lambdaScalingPer10Seconds: 1_000,
  /** On-demand tables: per-table maximum (adjustable); no account-level quota applies to on-demand. */
  dynamoDbTableReadUnits: 40_000,
  dynamoDbTableWriteUnits: 40_000,
  /** A new on-demand table serves up to this much at once before it has seen a higher peak. */
  dynamoDbNewTableWriteUnits: 4_000,
  dynamoDbNewTableReadUnits: 12_000,
  dynamoDbPartitionWriteUnits: 1_000,
  dynamoDbPartitionReadUnits: 3_000,
  sqsInFlight: 120_000,
} as const;

export const quotaSources = {
  apiGatewayWebSocket: 'https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html',
  apiGatewayAccount: 'https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html',
  lambda: 'https://docs.aws.amazon.com/lambda/latest/dg/limits.html',
  lambdaScaling: 'https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html',
  dynamoDb: 'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html',
  dynamoDbThrottling: 'https://repost.aws/knowledge-center/on-demand-table-throttling-dynamodb',
  sqs: 'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html',
} as const;

/** Model assumptions that are not traffic: durations of handlers the critical-path model does not cover, log sizes. */
export const modelConstants = {
  /** Authorizer: JWT signature check against the cached JWKS. */
  authorizerMs: 5,
  /** $connect / $disconnect / heartbeat: one presence `UpdateItem` after the invoke. */
  presenceUpdateMs: steps.invoke.p50 + steps.getItem.p50,
  /** `sync`: a memberships query and the queries of the conversations with new messages. */
  syncMs: steps.invoke.p50 + 2 * steps.getItem.p50 + steps.batchGet.p50,
  /** A `delivered` receipt: conversation read, cursor update, presence read, one push. */
  receiptMs: steps.invoke.p50 + 2 * steps.getItem.p50 + steps.batchGet.p50 + steps.post.p50,
  /** Pushes in flight per invocation (`lambdas/domain/fanout.ts`). */
  pushConcurrency: 32,
  /** Bytes of one member in a conversation item (36-character ids in a map), and of the rest of the item. */
  conversationBytesPerMember: 40,
  conversationBaseBytes: 200,
  /** Bytes of one membership entry in the `byUser` index. */
  membershipBytes: 150,
  /** Bytes of one group connection index item: the group id, `userId#connectionId` and the expiry, with their names. */
  groupConnectionBytes: 110,
  /** One API Gateway access log line (JSON, no tokens); Lambda's START/END/REPORT lines per invocation. */
  accessLogLineBytes: 500,
  lambdaLogBytesPerInvocation: 400,
  /** Log retention set by the stack: access logs 3 months, function logs 1 month. */
  accessLogRetentionMonths: 3,
  lambdaLogRetentionMonths: 1,
  /**
   * Archive: Parquet bytes per stored item byte (assumed: snappy-compressed columns of short chat text and repeated
   * ids, about half); objects per message (one object per conversation and day per stream batch: a 60 s batching
   * window catches about two messages of an active conversation); consumer time per batch of `streamSources.archive.batchSize`.
   */
  archiveParquetRatio: 0.5,
  archiveObjectsPerMessage: 0.5,
  archiveConsumerMsPerBatch: 2000,
  /** Glacier Instant Retrieval bills at least 128 KB per object, so the lifecycle rule moves only larger ones. */
  glacierMinObjectKb: 128,
} as const;

const tableNames: TableName[] = ['conversations', 'members', 'messages', 'idempotency', 'presence', 'groupConnections'];
const functionNames: FunctionName[] = ['authorizer', 'connect', 'disconnect', 'actions', 'fanout'];
const zeroBy = <K extends string>(keys: K[]) => Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;

/** AWS usage of one event, or of many summed. */
export interface Usage {
  /** Billed API Gateway messages (32 KB units): frames in, route replies and pushes. */
  apiGatewayMessages: number;
  /** Requests reaching API Gateway from clients (frames and $connect): they count against the account throttle. */
  inboundRequests: number;
  /** PostToConnection calls: also API Gateway requests (the @connections callback API). */
  posts: number;
  lambdaRequests: Record<FunctionName, number>;
  /** Billed execution seconds. */
  lambdaSeconds: Record<FunctionName, number>;
  readUnits: Record<TableName, number>;
  writeUnits: Record<TableName, number>;
  sqsRequests: number;
}

export function emptyUsage(): Usage {
  return {
    apiGatewayMessages: 0,
    inboundRequests: 0,
    posts: 0,
    lambdaRequests: zeroBy(functionNames),
    lambdaSeconds: zeroBy(functionNames),
    readUnits: zeroBy(tableNames),
    writeUnits: zeroBy(tableNames),
    sqsRequests: 0,
  };
}

/** `total + usage × times`, as a new object. */
export function addUsage(total: Usage, usage: Usage, times = 1): Usage {
  const add = <K extends string>(a: Record<K, number>, b: Record<K, number>) =>
    Object.fromEntries(Object.keys(a).map((key) => [key, a[key as K] + b[key as K] * times])) as Record<K, number>;
  return {
    apiGatewayMessages: total.apiGatewayMessages + usage.apiGatewayMessages * times,
    inboundRequests: total.inboundRequests + usage.inboundRequests * times,
    posts: total.posts + usage.posts * times,
    lambdaRequests: add(total.lambdaRequests, usage.lambdaRequests),
    lambdaSeconds: add(total.lambdaSeconds, usage.lambdaSeconds),
    readUnits: add(total.readUnits, usage.readUnits),
    writeUnits: add(total.writeUnits, usage.writeUnits),
    sqsRequests: total.sqsRequests + usage.sqsRequests * times,
  };
}

const sum = (record: Record<string, number>) => Object.values(record).reduce((n, v) => n + v, 0);

/** Bytes of a conversation item with this many members. */
export const conversationItemBytes = (members: number) => modelConstants.conversationBaseBytes + modelConstants.conversationBytesPerMember * members;

/** Connections a message to a conversation of `members` is pushed to: the other members' and the sender's other devices, online ones. */
export function recipientConnections(members: number, t: Omit<Traffic, 'users'>): number {
  return ((members - 1) * t.devicesPerUser + (t.devicesPerUser - 1)) * t.peakOnlineShare;
}

/** SQS requests for `jobs` fanout jobs: SendMessageBatch, ReceiveMessage and DeleteMessageBatch per 10 jobs. */
const sqsRequestsForJobs = (jobs: number) => 3 * Math.ceil(jobs / queues.fanout.batchSize);

/**
 * The reads that find the live connections of a conversation's members: in a group, one consistent Query of its
 * connection index per chunk of `fanoutChunkSize` members (only online connections have items, 1 RRU per started
 * 4 KB); in a direct conversation, the two presence items by BatchGetItem (eventually consistent, 0.5 RRU each).
 */
export function connectionReads(members: number, t: Omit<Traffic, 'users'>): { table: 'presence' | 'groupConnections'; units: number } {
  if (members <= 2) return { table: 'presence', units: 0.5 * members };
  let units = 0;
  for (let first = 0; first < members; first += limits.fanoutChunkSize) {
    const connections = Math.min(limits.fanoutChunkSize, members - first) * t.devicesPerUser * t.peakOnlineShare;
    units += Math.max(1, Math.ceil((connections * modelConstants.groupConnectionBytes) / 4096));
  }
  return { table: 'groupConnections', units };
}

/**
 * One message to a conversation of `members`, with the `delivered` receipts it causes (conversations up to 32 members):
 * the send frame and its ack, one push per recipient connection, the `actions` invocation (and the queued fanout
 * above 150 members) at the critical-path model's durations, the store transaction, the reads around it.
 */
export function messageUsage(members: number, t: Omit<Traffic, 'users'>): Usage {
  const usage = emptyUsage();
  const units = apiGatewayUnits(t.messageBytes);
  const deliveries = recipientConnections(members, t);
  usage.apiGatewayMessages = units + 1 + deliveries * units;
  usage.inboundRequests = 1;
  usage.posts = deliveries;
  const ms = modeledLambdaMs(members, 'parley', limits.inlineFanoutMaxRecipients, modelConstants.pushConcurrency, limits.fanoutChunkSize);
  usage.lambdaRequests.actions = 1;
  usage.lambdaSeconds.actions = ms.sendMs / 1000;
  usage.lambdaRequests.fanout = ms.fanoutInvocations;
  usage.lambdaSeconds.fanout = (ms.fanoutInvocations * ms.fanoutMs) / 1000;
  // Three single-item writes, 1 WRU per started KB each: the idempotency claim (PutItem), the head's counter
  // (UpdateItem ADD, a small item) and the message at its seq (PutItem). The first two are under 1 KB.
  const messageItemKb = Math.ceil((t.messageBytes + t.messageItemOverheadBytes) / 1024);
  usage.writeUnits.messages = sendWriteUnits.counter + messageItemKb;
  usage.writeUnits.idempotency = sendWriteUnits.claim;
  // Consistent GetItem of the conversation (members included) and of the head item, then the recipients' connections.
  usage.readUnits.conversations = Math.ceil(conversationItemBytes(members) / 4096);
  usage.readUnits.messages = 1;
  const reads = connectionReads(members, t);
  usage.readUnits[reads.table] += reads.units;
  if (members - 1 > limits.inlineFanoutMaxRecipients) usage.sqsRequests = sqsRequestsForJobs(Math.ceil((members - 1) / limits.fanoutChunkSize));
  if (members <= limits.receiptPushMaxMembers) {
    // Every receiving device acks `delivered`; the receipt is pushed to the other members' connections.
    const receiptPushes = (members - 1) * t.devicesPerUser * t.peakOnlineShare;
    usage.apiGatewayMessages += deliveries * (2 + receiptPushes);
    usage.inboundRequests += deliveries;
    usage.posts += deliveries * receiptPushes;
    usage.lambdaRequests.actions += deliveries;
    usage.lambdaSeconds.actions += (deliveries * modelConstants.receiptMs) / 1000;
    usage.readUnits.conversations += deliveries * Math.ceil(conversationItemBytes(members) / 4096);
    usage.readUnits[reads.table] += deliveries * reads.units;
    usage.writeUnits.members += deliveries;
  }
  return usage;
}

/** One heartbeat: the frame and its `pong`, an `actions` invocation, the presence item's TTL refreshed. */
export function heartbeatUsage(): Usage {
  const usage = emptyUsage();
  usage.apiGatewayMessages = 2;
  usage.inboundRequests = 1;
  usage.lambdaRequests.actions = 1;
  usage.lambdaSeconds.actions = modelConstants.presenceUpdateMs / 1000;
  usage.writeUnits.presence = 1;
  return usage;
}

/** One connection from $connect to $disconnect, without its minutes: authorizer, connect, the client's sync, disconnect. */
export function connectionUsage(t: Omit<Traffic, 'users'>): Usage {
  const usage = emptyUsage();
  usage.apiGatewayMessages = 2;
  usage.inboundRequests = 2;
  usage.lambdaRequests.authorizer = 1;
  usage.lambdaSeconds.authorizer = modelConstants.authorizerMs / 1000;
  usage.lambdaRequests.connect = 1;
  usage.lambdaSeconds.connect = modelConstants.presenceUpdateMs / 1000;
  usage.lambdaRequests.disconnect = 1;
  usage.lambdaSeconds.disconnect = modelConstants.presenceUpdateMs / 1000;
  usage.lambdaRequests.actions = 1;
  usage.lambdaSeconds.actions = modelConstants.syncMs / 1000;
  usage.writeUnits.presence = 2;
  // $connect and $disconnect each walk the user's groups (byUser, eventually consistent) and write or delete one group
  // connection index item per group (1 WRU each, in BatchWriteItem calls of 25).
  const walkUnits = Math.max(0.5, Math.ceil((t.groupsPerUser * modelConstants.membershipBytes) / 4096) / 2);
  usage.readUnits.members = 1 + 2 * walkUnits;
  usage.writeUnits.groupConnections = 2 * t.groupsPerUser;
  usage.readUnits.messages = Math.max(0, t.syncReadUnits - 1);
  return usage;
}

/** Users who get one user's presence pushes (groups over `presencePushMaxMembers` get none). */
export function presenceContacts(t: Omit<Traffic, 'users'>): number {
  const perGroup = t.groupMembers <= t.presencePushMaxMembers ? t.groupMembers - 1 : 0;
  return t.groupsPerUser * perGroup + t.directContactsPerUser;
}

/**
 * One presence transition: the job $connect or $disconnect queues, the fanout worker's reads (the user's memberships,
 * their conversations, the contacts' presence) and one push per online contact connection. Jobs arrive in batches of
 * 10 that the worker runs in parallel, so one invocation's duration is shared by 10 jobs.
 */
export function presenceTransitionUsage(t: Omit<Traffic, 'users'>): Usage {
  const usage = emptyUsage();
  const contacts = presenceContacts(t);
  const pushes = contacts * t.devicesPerUser * t.peakOnlineShare;
  usage.apiGatewayMessages = pushes;
  usage.posts = pushes;
  usage.sqsRequests = 1 + (2 * 1) / queues.fanout.batchSize;
  const resolveMs = steps.getItem.p50 + steps.batchGet.p50;
  const rounds = (n: number) => Math.ceil(n / modelConstants.pushConcurrency);
  let jobMs: number;
  if (contacts <= limits.inlineFanoutMaxRecipients) {
    jobMs = resolveMs + steps.batchGet.p50 + rounds(pushes) * steps.post.p50;
  } else {
    const chunks = Math.ceil(contacts / limits.fanoutChunkSize);
    usage.sqsRequests += sqsRequestsForJobs(chunks);
    jobMs = resolveMs + steps.sqsSend.p50 + chunks * (steps.batchGet.p50 + rounds(pushes / chunks) * steps.post.p50);
  }
  usage.lambdaRequests.fanout = 1 / queues.fanout.batchSize;
  usage.lambdaSeconds.fanout = jobMs / 1000 / queues.fanout.batchSize;
  const memberships = t.groupsPerUser + t.directContactsPerUser;
  usage.readUnits.members = 0.5 * Math.ceil((memberships * modelConstants.membershipBytes) / 4096);
  usage.readUnits.conversations =
    t.groupsPerUser * 0.5 * Math.ceil(conversationItemBytes(t.groupMembers) / 4096) +
    t.directContactsPerUser * 0.5 * Math.ceil(conversationItemBytes(2) / 4096);
  usage.readUnits.presence = 0.5 + 0.5 * contacts;
  return usage;
}

/** Event counts of a month and event rates of the peak second. */
export interface EventCounts {
  directMessages: number;
  groupMessages: number;
  heartbeats: number;
  connections: number;
  presenceTransitions: number;
  /** Device-minutes connected (API Gateway connection minutes). */
  connectionMinutes: number;
}

/** Connections a device opens a day: each session, cut every 2 h. */
export function connectionsPerDevicePerDay(t: Omit<Traffic, 'users'>): number {
  const sessionMinutes = (t.onlineHoursPerDay * 60) / t.sessionsPerDevicePerDay;
  return t.sessionsPerDevicePerDay * Math.ceil(sessionMinutes / awsLimits.maxConnectionMinutes);
}

export function monthlyEvents(t: Traffic): EventCounts {
  const messages = t.users * t.messagesPerUserPerDay * t.daysPerMonth;
  const devices = t.users * t.devicesPerUser;
  return {
    directMessages: messages * (1 - t.groupShare),
    groupMessages: messages * t.groupShare,
    heartbeats: devices * ((t.onlineHoursPerDay * 3600) / t.heartbeatSeconds) * t.daysPerMonth,
    connections: devices * connectionsPerDevicePerDay(t) * t.daysPerMonth,
    presenceTransitions: t.users * t.presenceTransitionsPerUserPerDay * t.daysPerMonth,
    connectionMinutes: devices * t.onlineHoursPerDay * 60 * t.daysPerMonth,
  };
}

/** Connections open in the peak hour. */
export const peakConnections = (t: Traffic) => t.users * t.devicesPerUser * t.peakOnlineShare;

export function peakEventsPerSecond(t: Traffic): EventCounts {
  const messages = (t.users * t.messagesPerUserPerDay * t.peakHourShare) / 3600;
  const connections = peakConnections(t);
  const connectionSeconds = ((t.onlineHoursPerDay * 60) / connectionsPerDevicePerDay(t)) * 60;
  return {
    directMessages: messages * (1 - t.groupShare),
    groupMessages: messages * t.groupShare,
    heartbeats: connections / t.heartbeatSeconds,
    connections: connections / connectionSeconds,
    presenceTransitions: (t.users * t.presenceTransitionsPerUserPerDay * t.peakHourShare) / 3600,
    connectionMinutes: connections / 60,
  };
}

/** Usage of a set of event counts (a month, or the peak second). */
export function usageOf(events: EventCounts, t: Omit<Traffic, 'users'>): Usage {
  let usage = emptyUsage();
  usage = addUsage(usage, messageUsage(2, t), events.directMessages);
  usage = addUsage(usage, messageUsage(t.groupMembers, t), events.groupMessages);
  usage = addUsage(usage, heartbeatUsage(), events.heartbeats);
  usage = addUsage(usage, connectionUsage(t), events.connections);
  usage = addUsage(usage, presenceTransitionUsage(t), events.presenceTransitions);
  return usage;
}

/** GB-seconds of billed execution seconds, each function at its memory size. */
export const gbSecondsOf = (usage: Usage) => functionNames.reduce((n, name) => n + usage.lambdaSeconds[name] * (functions[name].memorySize / 1024), 0);

/** Storage of the messages table and its archive, and the archive's requests. */
export interface StorageModel {
  /** GB added per month (message items). */
  growthGbPerMonth: number;
  hotGb: number;
  /** Parquet in S3: every item since the start (the archive keeps what retention removes from the table). */
  archiveGb: number;
  /** Monthly USD: the messages table's storage in each class, the archive's storage and its requests. */
  dynamoDbStandard: number;
  dynamoDbIa: number;
  s3Storage: number;
  /** PUTs (one object per conversation, day and stream batch) and the consumer's Lambda requests and duration. */
  archiveRequests: number;
  s3: number;
}

const GB = 1024 ** 3;

/**
 * Storage in month `month` of steady traffic. Without a retention every message stays in DynamoDB; with
 * `retentionDays`, TTL removes it after that (TTL deletes are free). With the archive on, every item is also written
 * as Parquet when it is stored, so the archive grows with all messages. Its objects are small (one per conversation,
 * day and batch), below the 128 KB Glacier Instant Retrieval bills at least, so they stay in S3 Standard.
 */
export function storageAt(t: Traffic, month: number, retentionDays: number | null, archiveOn = true): StorageModel {
  const messages = t.users * t.messagesPerUserPerDay * t.daysPerMonth;
  const growthGbPerMonth = (messages * (t.messageBytes + t.messageItemOverheadBytes)) / GB;
  const hotMonths = retentionDays === null ? month : Math.min(month, retentionDays / t.daysPerMonth);
  const hotGb = growthGbPerMonth * hotMonths;
  const archiveGb = archiveOn ? growthGbPerMonth * month * modelConstants.archiveParquetRatio : 0;
  const batches = messages / streamSources.archive.batchSize;
  const archiveRequests = archiveOn
    ? ((messages * modelConstants.archiveObjectsPerMessage) / 1000) * scalePrices.s3PutPerThousand +
      (batches / 1e6) * prices.lambdaPerMillionRequests +
      lambdaArmDurationCost(((batches * modelConstants.archiveConsumerMsPerBatch) / 1000) * (archiveFunction.memorySize / 1024))
    : 0;
  const s3Storage = archiveGb * scalePrices.s3StandardPerGbMonth;
  return {
    growthGbPerMonth,
    hotGb,
    archiveGb,
    dynamoDbStandard: hotGb * scalePrices.dynamoDbStandardPerGbMonth,
    dynamoDbIa: hotGb * scalePrices.dynamoDbIaPerGbMonth,
    s3Storage,
    archiveRequests,
    s3: s3Storage + archiveRequests,
  };
}

/** The messages table's monthly cost in each table class: its requests plus its storage. */
export function tableClassComparison(t: Traffic, month: number, hotDays: number | null) {
  const usage = usageOf(monthlyEvents(t), t);
  const wru = usage.writeUnits.messages;
  const rru = usage.readUnits.messages;
  const storage = storageAt(t, month, hotDays);
  const standard = (wru / 1e6) * prices.dynamoDbPerMillionWriteUnits + (rru / 1e6) * prices.dynamoDbPerMillionReadUnits + storage.dynamoDbStandard;
  const ia = (wru / 1e6) * scalePrices.dynamoDbIaPerMillionWriteUnits + (rru / 1e6) * scalePrices.dynamoDbIaPerMillionReadUnits + storage.dynamoDbIa;
  const extraRequests = ia - storage.dynamoDbIa - (standard - storage.dynamoDbStandard);
  // Months of messages kept hot at which Standard-IA's cheaper storage pays for its dearer requests.
  const breakEvenMonths = extraRequests / ((scalePrices.dynamoDbStandardPerGbMonth - scalePrices.dynamoDbIaPerGbMonth) * storage.growthGbPerMonth);
  return { standard, ia, cheaper: ia < standard ? ('Standard-IA' as const) : ('Standard' as const), breakEvenMonths };
}

/** Monthly USD by service. */
export interface MonthlyCost {
  apiGatewayMessages: number;
  apiGatewayConnectionMinutes: number;
  lambdaRequests: number;
  lambdaDuration: number;
  dynamoDbWrites: number;
  dynamoDbReads: number;
  sqs: number;
  cloudWatchLogs: number;
  /** Month 12 with the default 90-day retention: DynamoDB Standard storage plus the S3 archive and its requests. */
  storage: number;
  total: number;
}

/** The retention the cost table assumes. */
export const defaultHotDays = 90;

export function monthlyCost(t: Traffic, storageMonth = 12, hotDays: number | null = defaultHotDays): MonthlyCost {
  const events = monthlyEvents(t);
  const usage = usageOf(events, t);
  const invocations = sum(usage.lambdaRequests);
  const accessLogGb = (usage.inboundRequests * modelConstants.accessLogLineBytes) / GB;
  const lambdaLogGb = (invocations * modelConstants.lambdaLogBytesPerInvocation) / GB;
  const storage = storageAt(t, storageMonth, hotDays);
  const cost = {
    apiGatewayMessages: apiGatewayMessagesCost(usage.apiGatewayMessages),
    apiGatewayConnectionMinutes: (events.connectionMinutes / 1e6) * prices.apiGatewayPerMillionConnectionMinutes,
    lambdaRequests: (invocations / 1e6) * prices.lambdaPerMillionRequests,
    lambdaDuration: lambdaArmDurationCost(gbSecondsOf(usage)),
    dynamoDbWrites: (sum(usage.writeUnits) / 1e6) * prices.dynamoDbPerMillionWriteUnits,
    dynamoDbReads: (sum(usage.readUnits) / 1e6) * prices.dynamoDbPerMillionReadUnits,
    sqs: (usage.sqsRequests / 1e6) * prices.sqsPerMillionRequests,
    cloudWatchLogs:
      (accessLogGb + lambdaLogGb) * scalePrices.cloudWatchLogsIngestPerGb +
      (accessLogGb * modelConstants.accessLogRetentionMonths + lambdaLogGb * modelConstants.lambdaLogRetentionMonths) *
        scalePrices.cloudWatchLogsStoragePerGbMonth,
    storage: storage.dynamoDbStandard + storage.s3,
  };
  return { ...cost, total: Object.values(cost).reduce((n, v) => n + v, 0) };
}

/** One quota against the model's peak. */
export interface QuotaCheck {
  name: string;
  /** Short name for prose. */
  label: string;
  unit: string;
  peak: number;
  quota: number;
  /** Peak above the quota. */
  binds: boolean;
  /** Peak above 70% of the quota: no headroom for a burst or for growth. */
  near: boolean;
  /** What to ask for (peak with 50% headroom, rounded up), or undefined when the default is enough or cannot be raised. */
  request?: number;
  adjustable: boolean;
  /** What to do instead when a quota that cannot be raised binds. */
  remedy?: string;
  source: string;
}

/** Rounds up to 2 significant digits: the figure to put in a quota request. */
export function roundUpForRequest(value: number): number {
  if (value <= 0) return 0;
  const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(value)) - 1);
  return Math.ceil(value / magnitude) * magnitude;
}

const check = (
  name: string,
  label: string,
  unit: string,
  peak: number,
  quota: number,
  source: string,
  options: { adjustable?: boolean; remedy?: string } = {},
): QuotaCheck => {
  const adjustable = options.adjustable ?? true;
  const binds = peak > quota;
  const near = !binds && peak > 0.7 * quota;
  const request = (binds || near) && adjustable ? roundUpForRequest(peak * 1.5) : undefined;
  return { name, label, unit, peak, quota, binds, near, request, adjustable, remedy: options.remedy, source };
};

/** Seconds within which a reconnect storm (every peak connection at once) should be admitted. */
export const reconnectStormTargetSeconds = 300;

/**
 * Write units of one send besides the message item itself (docs/DESIGN.md, Send path): the idempotency claim and the
 * counter update, each a single small-item write. The message's put adds 1 WRU per started KB of the item. The
 * transactional design this replaced paid 2 WRU for each of its three items.
 */
export const sendWriteUnits = { claim: 1, counter: 1 } as const;

/** Members of one conversation who, sending at the per-connection rate limit, saturate its partition. */
export function membersToSaturatePartition(t: Omit<Traffic, 'users'>): number {
  return Math.ceil(awsLimits.dynamoDbPartitionWriteUnits / messageUsage(t.groupMembers, t).writeUnits.messages / limits.sendRatePerSecond);
}

/** Peak values against every quota that can bind. */
export function quotaChecks(t: Traffic): QuotaCheck[] {
  const rate = peakEventsPerSecond(t);
  const peak = usageOf(rate, t);
  const connections = peakConnections(t);
  const concurrency = functionNames.reduce((n, name) => n + peak.lambdaSeconds[name], 0);
  const fanoutConcurrency = peak.lambdaSeconds.fanout;
  const hottestTable = (units: Record<TableName, number>) => tableNames.reduce((best, name) => (units[name] > units[best] ? name : best), tableNames[0]!);
  const readTable = hottestTable(peak.readUnits);
  const writeTable = hottestTable(peak.writeUnits);
  // One group's share of the group traffic in the peak hour; each message writes the head's counter and the message item
  // in its partition (the idempotency claim lives in another table).
  const groupsCount = (t.users * t.groupsPerUser) / t.groupMembers;
  const perGroupPeak = rate.groupMessages / Math.max(1, groupsCount);
  const partitionWruPerMessage = messageUsage(t.groupMembers, t).writeUnits.messages;
  return [
    check(
      'API Gateway new connections per second (steady: sessions and 2 h reconnects)',
      'new connections per second',
      'connections/s',
      rate.connections,
      awsLimits.newConnectionsPerSecond,
      quotaSources.apiGatewayWebSocket,
    ),
    check(
      'API Gateway new connections per second (reconnect storm: all peak connections within 5 min)',
      'new connections per second in a reconnect storm',
      'connections/s',
      connections / reconnectStormTargetSeconds,
      awsLimits.newConnectionsPerSecond,
      quotaSources.apiGatewayWebSocket,
    ),
    check(
      'Concurrent WebSocket connections (no quota of their own: new connections/s × 2 h)',
      'concurrent connections',
      'connections',
      connections,
      awsLimits.newConnectionsPerSecond * awsLimits.maxConnectionMinutes * 60,
      quotaSources.apiGatewayWebSocket,
      { adjustable: false, remedy: 'raise new connections/s (row 1)' },
    ),
    check(
      '@connections PostToConnection calls per second (share the account throttle)',
      '@connections calls',
      'requests/s',
      peak.posts,
      awsLimits.accountRequestsPerSecond,
      quotaSources.apiGatewayAccount,
    ),
    check(
      'API Gateway account throttle (client frames + @connections; burst bucket 5,000)',
      'the API Gateway account throttle',
      'requests/s',
      peak.inboundRequests + peak.posts,
      awsLimits.accountRequestsPerSecond,
      quotaSources.apiGatewayAccount,
    ),
    check('Lambda concurrent executions (all functions)', 'Lambda concurrency', 'executions', concurrency, awsLimits.lambdaConcurrency, quotaSources.lambda),
    check(
      'Lambda scaling rate: actions function from cold to its peak (1,000 environments per 10 s per function)',
      'the Lambda scaling rate',
      'executions',
      peak.lambdaSeconds.actions,
      awsLimits.lambdaScalingPer10Seconds,
      quotaSources.lambdaScaling,
      { adjustable: false, remedy: 'takes more than 10 s; ramp traffic or use provisioned concurrency' },
    ),
    check(
      'Fanout event source maximum concurrency (Parley setting, lib/definitions.ts)',
      'the fanout maximum concurrency',
      'executions',
      fanoutConcurrency,
      queues.fanout.maximumConcurrency,
      'lib/definitions.ts',
      { adjustable: false, remedy: 'raise queues.fanout.maximumConcurrency' },
    ),
    check(
      `DynamoDB on-demand table reads (${readTable} table)`,
      `${readTable} table reads`,
      'RRU/s',
      peak.readUnits[readTable],
      awsLimits.dynamoDbTableReadUnits,
      quotaSources.dynamoDb,
    ),
    check(
      `DynamoDB on-demand table writes (${writeTable} table)`,
      `${writeTable} table writes`,
      'WRU/s',
      peak.writeUnits[writeTable],
      awsLimits.dynamoDbTableWriteUnits,
      quotaSources.dynamoDb,
    ),
    check(
      `DynamoDB new on-demand table: instant throughput (${writeTable} table writes at launch)`,
      "a new table's instant throughput",
      'WRU/s',
      peak.writeUnits[writeTable],
      awsLimits.dynamoDbNewTableWriteUnits,
      quotaSources.dynamoDbThrottling,
      { adjustable: false, remedy: 'set warm throughput before launch' },
    ),
    check(
      `DynamoDB partition: one ${t.groupMembers}-member group at the peak (ceiling ${fmtInt(awsLimits.dynamoDbPartitionWriteUnits / partitionWruPerMessage)} messages/s)`,
      'a conversation partition',
      'WRU/s',
      perGroupPeak * partitionWruPerMessage,
      awsLimits.dynamoDbPartitionWriteUnits,
      quotaSources.dynamoDbThrottling,
      { adjustable: false, remedy: 'shard the conversation' },
    ),
    check(
      'SQS fanout queue messages in flight',
      'SQS messages in flight',
      'messages',
      fanoutConcurrency * queues.fanout.batchSize,
      awsLimits.sqsInFlight,
      quotaSources.sqs,
    ),
  ];
}

const fmtInt = (value: number) => Math.floor(value).toLocaleString('en-US');

/** Published list prices of hosted alternatives, and how each counts. */
export const vendorPrices = {
  ably: {
    perMillionMessages: 2.5,
    perMillionConnectionMinutes: 1.0,
    perMillionChannelMinutes: 1.0,
    proBaseMonthly: 399,
    proMaxConnections: 50_000,
    proMaxMessagesPerSecond: 10_000,
    counting: 'a publish and each delivery are one message each (130-member group: 1 + 129 × devices online)',
    sources: [
      'https://ably.com/docs/platform/pricing/resource-based (packages, limits; per-minute model)',
      'https://ably.com/pricing/full-calculator ($2.50 per million messages; 1 published + N received)',
    ],
  },
  pusher: {
    largestPlan: 'Growth Plus',
    largestPlanMonthly: 1_199,
    largestPlanMessagesPerDay: 90_000_000,
    largestPlanConnections: 30_000,
    counting: 'a publish plus one per subscribed client it reaches (1 + N); presence joins and leaves count too',
    sources: [
      'https://pusher.com/channels/pricing (plans; Growth Plus: 90 M messages/day, 30,000 connections, $1,199/month)',
      'https://docs.bird.com/pusher/channels/channels/limits/how-is-my-message-count-calculated-in-channels',
    ],
  },
  pubnub: {
    perReplicatedTransaction: 0.000123,
    perEdgeTransaction: 0.000033,
    volumeDiscountAboveTransactions: 20_000_000,
    counting: 'a publish is a replicated transaction, each receive an edge transaction (2 KB units)',
    sources: ['https://www.pubnub.com/docs/general/resources/pricing', 'https://www.pubnub.com/pricing/'],
  },
  appSyncEvents: {
    perMillionOperations: 1.0,
    perMillionConnectionMinutes: 0.08,
    counting: 'publishes, each delivery to a subscriber, connects and subscribes are Event API operations',
    sources: ['https://aws.amazon.com/appsync/pricing/'],
  },
} as const;

/** A vendor's monthly price for the same traffic, or why there is no list price. */
export interface VendorQuote {
  vendor: string;
  /** USD at list unit prices (no volume discounts), when the vendor publishes unit prices. */
  listPrice?: number;
  /** Whether a published self-serve plan covers the traffic. */
  published: boolean;
  note: string;
}

/** The realtime traffic every service would carry: publishes, deliveries (connections reached), connection time. */
export function transportTraffic(t: Traffic) {
  const events = monthlyEvents(t);
  const publishes = events.directMessages + events.groupMessages;
  const deliveries = events.directMessages * recipientConnections(2, t) + events.groupMessages * recipientConnections(t.groupMembers, t);
  const rate = peakEventsPerSecond(t);
  const peakMessagesPerSecond = rate.directMessages * (1 + recipientConnections(2, t)) + rate.groupMessages * (1 + recipientConnections(t.groupMembers, t));
  return {
    publishes,
    deliveries,
    connectionMinutes: events.connectionMinutes,
    connections: events.connections,
    peakConnections: peakConnections(t),
    peakMessagesPerSecond,
  };
}

/** Parley's API Gateway charges for the same traffic: publishes with their acks, deliveries, connection minutes. */
export function parleyTransportCost(t: Traffic): number {
  const x = transportTraffic(t);
  const units = apiGatewayUnits(t.messageBytes);
  return apiGatewayMessagesCost(x.publishes * (units + 1) + x.deliveries * units) + (x.connectionMinutes / 1e6) * prices.apiGatewayPerMillionConnectionMinutes;
}

export function vendorQuotes(t: Traffic): VendorQuote[] {
  const x = transportTraffic(t);
  const { ably, pusher, pubnub, appSyncEvents } = vendorPrices;
  // Ably: one channel per user, attached while the user is online.
  const channelMinutes = t.users * t.onlineHoursPerDay * 60 * t.daysPerMonth;
  const ablyList =
    ably.proBaseMonthly +
    ((x.publishes + x.deliveries) / 1e6) * ably.perMillionMessages +
    (x.connectionMinutes / 1e6) * ably.perMillionConnectionMinutes +
    (channelMinutes / 1e6) * ably.perMillionChannelMinutes;
  const ablyFits = x.peakConnections <= ably.proMaxConnections && x.peakMessagesPerSecond <= ably.proMaxMessagesPerSecond;
  const pusherPerDay = (x.publishes + x.deliveries) / t.daysPerMonth;
  const pusherFits = pusherPerDay <= pusher.largestPlanMessagesPerDay && x.peakConnections <= pusher.largestPlanConnections;
  const pubnubTransactions = x.publishes + x.deliveries;
  return [
    {
      vendor: 'Ably (Pro, per-minute pricing)',
      listPrice: ablyList,
      published: ablyFits,
      note: ablyFits
        ? 'within the Pro package'
        : `${fmtInt(x.peakConnections)} connections, ${fmtInt(x.peakMessagesPerSecond)} messages/s: above Pro, Enterprise`,
    },
    {
      vendor: 'Pusher Channels',
      published: pusherFits,
      listPrice: pusherFits ? pusher.largestPlanMonthly : undefined,
      note: pusherFits
        ? `${pusher.largestPlan}`
        : `${fmtInt(pusherPerDay / 1e6)} M messages/day, ${fmtInt(x.peakConnections)} connections: above the largest plan`,
    },
    {
      vendor: 'PubNub (transaction pricing)',
      listPrice: x.publishes * pubnub.perReplicatedTransaction + x.deliveries * pubnub.perEdgeTransaction,
      published: pubnubTransactions <= pubnub.volumeDiscountAboveTransactions,
      note: `${fmtInt(pubnubTransactions / 1e6)} M transactions/month; volume pricing above ${pubnub.volumeDiscountAboveTransactions / 1e6} M`,
    },
    {
      vendor: 'AWS AppSync Events',
      listPrice:
        ((x.publishes + x.deliveries + 2 * x.connections) / 1e6) * appSyncEvents.perMillionOperations +
        (x.connectionMinutes / 1e6) * appSyncEvents.perMillionConnectionMinutes,
      published: true,
      note: 'pay per use',
    },
  ];
}
