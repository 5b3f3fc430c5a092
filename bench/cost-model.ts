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

/** Where the prices come from. */
export const priceSources = [
  'API Gateway WebSocket ($1.00/M messages in 32 KB units, $0.25/M connection minutes): https://aws.amazon.com/api-gateway/pricing/ and shared/design.md',
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
  const lambda =
    perMillion(usage.lambdaRequests, prices.lambdaPerMillionRequests) + usage.lambdaGbSeconds * 1e6 * prices.lambdaArmPerGbSecond;
  const dynamoDb =
    perMillion(usage.writeUnits, prices.dynamoDbPerMillionWriteUnits) + perMillion(usage.readUnits, prices.dynamoDbPerMillionReadUnits);
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
