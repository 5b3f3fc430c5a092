import { describe, expect, it } from 'vitest';
import {
  apiGatewayUnits,
  connectionCostPerUserMonth,
  costPerMillionMessages,
  floorPerMillionMessages,
  lambdaGbSeconds,
  prices,
  sqsRequestUnits,
  type MessageUsage,
} from '../../bench/cost-model.js';
import { modelPath } from '../../bench/critical-path.js';
import { quantile, summarize } from '../../bench/metrics.js';

const apiOnly: MessageUsage = {
  inboundUnits: 1,
  replyUnits: 1,
  deliveryUnits: 1,
  lambdaRequests: 0,
  lambdaGbSeconds: 0,
  readUnits: 0,
  writeUnits: 0,
  sqsRequests: 0,
};

describe('bench cost model', () => {
  it('bills API Gateway per started 32 KB and SQS per started 64 KB', () => {
    expect(apiGatewayUnits(0)).toBe(1);
    expect(apiGatewayUnits(32 * 1024)).toBe(1);
    expect(apiGatewayUnits(32 * 1024 + 1)).toBe(2);
    expect(sqsRequestUnits(64 * 1024)).toBe(1);
    expect(sqsRequestUnits(200 * 1024)).toBe(4);
  });

  it('rounds each Lambda invocation up to the millisecond before converting to GB-s', () => {
    expect(lambdaGbSeconds([10.2, 0.1], 512)).toBeCloseTo(((11 + 1) / 1000) * 0.5, 12);
    expect(lambdaGbSeconds([], 1024)).toBe(0);
  });

  it('puts the floor at inbound + pushes + ack', () => {
    expect(floorPerMillionMessages(1)).toBe(3);
    expect(floorPerMillionMessages(129)).toBe(131);
    // A 40 KB message is two units in and two per push; the ack stays one.
    expect(floorPerMillionMessages(1, 40 * 1024)).toBe(5);
  });

  it('prices usage per million messages and relates it to the floor', () => {
    const onlyApi = costPerMillionMessages(apiOnly);
    expect(onlyApi.total).toBe(3);
    expect(onlyApi.ratio).toBe(1);

    const usage: MessageUsage = { ...apiOnly, lambdaRequests: 1, lambdaGbSeconds: 0.02, readUnits: 2, writeUnits: 6, sqsRequests: 3 };
    const cost = costPerMillionMessages(usage);
    expect(cost.lambda).toBeCloseTo(0.2 + 0.02 * 1e6 * prices.lambdaArmPerGbSecond, 10);
    expect(cost.dynamoDb).toBeCloseTo(6 * 0.625 + 2 * 0.125, 10);
    expect(cost.sqs).toBeCloseTo(1.2, 10);
    expect(cost.total).toBeCloseTo(cost.apiGateway + cost.lambda + cost.dynamoDb + cost.sqs, 10);
    expect(cost.ratio).toBeCloseTo(cost.total / 3, 10);
  });

  it('prices a month of connection minutes', () => {
    expect(connectionCostPerUserMonth(1e6)).toBe(0.25);
    expect(connectionCostPerUserMonth()).toBeCloseTo(0.0108, 6);
  });
});

describe('bench metrics', () => {
  it('takes nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(sorted, 0.5)).toBe(50);
    expect(quantile(sorted, 0.99)).toBe(99);
    expect(quantile(sorted, 1)).toBe(100);
    expect(summarize([5, 1, 3])).toMatchObject({ count: 3, p50: 3, max: 5, mean: 3 });
  });
});

describe('bench critical path model', () => {
  it('is deterministic and puts queued fanout behind inline fanout', () => {
    const direct = modelPath(2);
    expect(modelPath(2)).toEqual(direct);
    expect(direct.p50).toBeLessThan(direct.p99);
    expect(direct.p99).toBeLessThanOrEqual(direct.sumP99);
    expect(modelPath(1000).p50).toBeGreaterThan(direct.p50);
  });
});
