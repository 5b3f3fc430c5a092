/**
 * Published us-east-1 list prices (first tier, no free tier) and the formulas that turn measured AWS usage into USD.
 * Pure: the benchmark feeds it measurements, the unit tests feed it hand-computed cases.
 */
export const prices = {
  /** API Gateway WebSocket: per million messages sent or received, metered in 32 KB units (first billion). */
  apiGatewayPerMillionMessages: 1.0,
  /** API Gateway WebSocket: per million connection minutes. */
  apiGatewayPerMillionConnectionMinutes: 0.25,
  /** Lambda arm64: per GB-second (first 7.5 billion GB-s per month) and per million requests. */
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  /** DynamoDB on-demand (Standard table class): per million write and read request units. */
  dynamoDbPerMillionWriteUnits: 0.625,
  dynamoDbPerMillionReadUnits: 0.125,
  /** SQS standard queue: per million requests, each 64 KB chunk of a payload counting as one request. */
  sqsPerMillionRequests: 0.4,
} as const;

/**
 * Further us-east-1 list prices the capacity model (`capacity-model.ts`) needs: volume tiers, storage, logs.
 * Kept here, beside `prices`, so that every AWS price has one source.
 */
export const scalePrices = {
  /** API Gateway WebSocket messages beyond the first billion a month, per million. */
  apiGatewayPerMillionMessagesOver1B: 0.8,
  /** Lambda arm64 GB-second tiers: the first 7.5 billion GB-s at `prices.lambdaArmPerGbSecond`, then these. */
  lambdaArmPerGbSecondOver7_5B: 0.0000120001,
  lambdaArmPerGbSecondOver18_75B: 0.0000106667,
  /** DynamoDB Standard-IA on-demand request units: 1.25× the Standard table class. */
  dynamoDbIaPerMillionWriteUnits: 0.78125,
  dynamoDbIaPerMillionReadUnits: 0.15625,
  /** DynamoDB storage per GB-month (item sizes plus 100 bytes of overhead per item). */
  dynamoDbStandardPerGbMonth: 0.25,
  dynamoDbIaPerGbMonth: 0.1,
  /** S3: Standard (first 50 TB) and Glacier Instant Retrieval per GB-month, PUT and lifecycle-transition requests per 1,000. */
  s3StandardPerGbMonth: 0.023,
  s3GlacierInstantPerGbMonth: 0.004,
  s3PutPerThousand: 0.005,
  s3TransitionToGlacierInstantPerThousand: 0.02,
  /** CloudWatch Logs (Standard log class): ingestion per GB, archived storage per GB-month. */
  cloudWatchLogsIngestPerGb: 0.5,
  cloudWatchLogsStoragePerGbMonth: 0.03,
} as const;

/** Where `scalePrices` come from. */
export const scalePriceSources = [
  'API Gateway WebSocket: $1.00/M messages for the first billion a month, $0.80/M above: https://aws.amazon.com/api-gateway/pricing/',
  'Lambda arm64 duration tiers: $0.0000133334 per GB-s up to 7.5 billion GB-s a month, $0.0000120001 up to 18.75 billion, $0.0000106667 above (AWS Compute Blog, "Introducing tiered pricing for AWS Lambda": https://aws.amazon.com/blogs/compute/introducing-tiered-pricing-for-aws-lambda/; rates: https://aws.amazon.com/lambda/pricing/)',
  'DynamoDB storage $0.25 per GB-month (Standard), $0.10 (Standard-IA); Standard-IA on-demand requests at 1.25× Standard ($0.78125/M WRU, $0.15625/M RRU): https://aws.amazon.com/dynamodb/pricing/on-demand/ and https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithTables.tableclasses.html',
  'S3 Standard $0.023 per GB-month (first 50 TB), Glacier Instant Retrieval $0.004, PUT $0.005 per 1,000, lifecycle transitions to Glacier Instant Retrieval $0.02 per 1,000: https://aws.amazon.com/s3/pricing/',
  'CloudWatch Logs: ingestion $0.50 per GB, storage $0.03 per GB-month: https://aws.amazon.com/cloudwatch/pricing/',
];

/** Cost of `quantity` units priced in tiers: each tier's `price` applies to the units up to its `upTo` (cumulative). */
export function tieredCost(quantity: number, tiers: readonly { upTo: number; price: number }[]): number {
  let cost = 0;
  let from = 0;
  for (const tier of tiers) {
    if (quantity <= from) break;
    cost += (Math.min(quantity, tier.upTo) - from) * tier.price;
    from = tier.upTo;
  }
  return cost;
}

/** USD for a month's API Gateway WebSocket messages (32 KB units), with the volume tier above one billion. */
export function apiGatewayMessagesCost(messages: number): number {
  return tieredCost(messages, [
    { upTo: 1e9, price: prices.apiGatewayPerMillionMessages / 1e6 },
    { upTo: Infinity, price: scalePrices.apiGatewayPerMillionMessagesOver1B / 1e6 },
  ]);
}

/** USD for a month's Lambda arm64 GB-seconds, with the volume tiers. */
export function lambdaArmDurationCost(gbSeconds: number): number {
  return tieredCost(gbSeconds, [
    { upTo: 7.5e9, price: prices.lambdaArmPerGbSecond },
    { upTo: 18.75e9, price: scalePrices.lambdaArmPerGbSecondOver7_5B },
    { upTo: Infinity, price: scalePrices.lambdaArmPerGbSecondOver18_75B },
  ]);
}

/** Where the prices come from. */
export const priceSources = [
  'API Gateway WebSocket ($1.00/M messages in 32 KB units, $0.25/M connection minutes): https://aws.amazon.com/api-gateway/pricing/ and docs/DESIGN.md',
  'Lambda arm64 ($0.0000133334 per GB-s, $0.20/M requests, 1 ms billing): https://aws.amazon.com/lambda/pricing/',
  'DynamoDB on-demand ($0.625/M WRU, $0.125/M RRU since the November 2024 price cut; transactional writes 2 WRU per KB): https://aws.amazon.com/dynamodb/pricing/on-demand/',
  'SQS standard ($0.40/M requests, each 64 KB chunk one request): https://aws.amazon.com/sqs/pricing/',
];

/** API Gateway bills each started 32 KB of a WebSocket message as one message. */
export function apiGatewayUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / (32 * 1024)));
}

/** SQS bills each started 64 KB chunk of a request's payload as one request. */
export function sqsRequestUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / (64 * 1024)));
}

/** GB-seconds of invocations with these durations: each is billed rounded up to the millisecond. */
export function lambdaGbSeconds(durationsMs: readonly number[], memoryMb: number): number {
  return durationsMs.reduce((sum, ms) => sum + Math.ceil(ms) / 1000, 0) * (memoryMb / 1024);
}

/** AWS usage caused by one chat message, averaged over a measurement. */
export interface MessageUsage {
  /** API Gateway messages (32 KB units): the client's `send` frame, its ack reply, and the pushes to recipients. */
  inboundUnits: number;
  replyUnits: number;
  deliveryUnits: number;
  lambdaRequests: number;
  lambdaGbSeconds: number;
  readUnits: number;
  writeUnits: number;
  /** Billed SQS requests (64 KB chunks), sends, receives and deletes. */
  sqsRequests: number;
}

/** USD per million chat messages, by service, next to the floor (API Gateway messages alone). */
export interface CostBreakdown {
  apiGateway: number;
  lambda: number;
  dynamoDb: number;
  sqs: number;
  total: number;
  /** What API Gateway alone charges: 1 inbound + N deliveries + the ack reply. No design can cost less. */
  floor: number;
  /** total / floor. */
  ratio: number;
}

const perMillion = (units: number, pricePerMillion: number) => units * pricePerMillion;

/** Prices one message's usage, per million messages. */
export function costPerMillionMessages(usage: MessageUsage): CostBreakdown {
  const apiGateway = perMillion(usage.inboundUnits + usage.replyUnits + usage.deliveryUnits, prices.apiGatewayPerMillionMessages);
  const lambda = perMillion(usage.lambdaRequests, prices.lambdaPerMillionRequests) + usage.lambdaGbSeconds * 1e6 * prices.lambdaArmPerGbSecond;
  const dynamoDb = perMillion(usage.writeUnits, prices.dynamoDbPerMillionWriteUnits) + perMillion(usage.readUnits, prices.dynamoDbPerMillionReadUnits);
  const sqs = perMillion(usage.sqsRequests, prices.sqsPerMillionRequests);
  const total = apiGateway + lambda + dynamoDb + sqs;
  return { apiGateway, lambda, dynamoDb, sqs, total, floor: apiGateway, ratio: apiGateway > 0 ? total / apiGateway : Number.NaN };
}

/** The floor for a message pushed to `recipientConnections` connections: inbound + pushes + ack, in USD per million. */
export function floorPerMillionMessages(recipientConnections: number, messageBytes = 1024): number {
  const units = apiGatewayUnits(messageBytes);
  return (units * (recipientConnections + 1) + 1) * prices.apiGatewayPerMillionMessages;
}

/** USD per connected user per 30-day month for holding the WebSocket open (API Gateway connection minutes). */
export function connectionCostPerUserMonth(minutesPerMonth = 30 * 24 * 60): number {
  return (minutesPerMonth / 1e6) * prices.apiGatewayPerMillionConnectionMinutes;
}

/** EventBridge custom events: per million PutEvents entries, each 64 KB chunk of an entry counting as one. */
export const eventBridgePerMillionEvents = 1.0;

/** DynamoDB bytes of an `undelivered` item: attribute names and values, ids of `idBytes` each. */
export function undeliveredItemBytes(offlineUsers: number, idBytes = 36, previewBytes = 100): number {
  // deliveryId (~conversation id + epoch + seq + 16-char hash), conversationId, epoch, seq, senderId, preview,
  // occurredAt, expiresAt, and the userIds list (3 bytes of list overhead per element).
  const fixed = 10 + 70 + 14 + 36 + 5 + 5 + 3 + 8 + idBytes + 7 + previewBytes + 10 + 24 + 9 + 8 + 7;
  return fixed + offlineUsers * (idBytes + 3);
}

/** What the event stream adds to one chat message. */
export interface EventStreamUsage {
  /** Fanout chunks (≤ 100 recipients) of the message that found someone offline: one item and one event each. */
  offlineChunks: number;
  /** Offline users per such chunk (sizes the item). */
  offlineUsersPerChunk: number;
  /** Stream records per consumer invocation (1 at a trickle, up to the batch size of 100 under load). */
  recordsPerInvocation: number;
  /** Billed duration of one consumer invocation, at 256 MB. */
  invocationMs: number;
}

/**
 * USD per million chat messages that the event stream adds: the `message.sent` event, per offline chunk one
 * undelivered item (write units) and its event, and the consumer's invocations. Stream reads by Lambda and TTL
 * deletes cost nothing.
 */
export function eventStreamCostPerMillionMessages(usage: EventStreamUsage): { events: number; dynamoDb: number; lambda: number; total: number } {
  const events = (1 + usage.offlineChunks) * eventBridgePerMillionEvents;
  const writeUnits = usage.offlineChunks * Math.ceil(undeliveredItemBytes(usage.offlineUsersPerChunk) / 1024);
  const dynamoDb = writeUnits * prices.dynamoDbPerMillionWriteUnits;
  const invocations = (1 + usage.offlineChunks) / usage.recordsPerInvocation;
  const lambda = invocations * prices.lambdaPerMillionRequests + invocations * lambdaGbSeconds([usage.invocationMs], 256) * 1e6 * prices.lambdaArmPerGbSecond;
  return { events, dynamoDb, lambda, total: events + dynamoDb + lambda };
}
