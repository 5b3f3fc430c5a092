import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { queues } from '../../lib/definitions.js';
import { metricDefinitions, metricNamespace, serviceName, type MetricName } from '../../lib/telemetry.js';
import type { memoryDeps } from '../../lambdas/adapters/memory-stores.js';
import * as runtime from '../../lambdas/app/runtime.js';
import { createDirectConversation } from '../../lambdas/domain/conversations.js';
import { handler as actions } from '../../lambdas/handlers/actions.js';
import { handler as fanout } from '../../lambdas/handlers/fanout.js';
import { sqsEvent } from '../support/fanout-handler.js';

// The real Powertools output, captured: logs at INFO and EMF printed (both are off for the other unit tests).
vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  // As Lambda sets it; Powertools reports cold starts only for on-demand initialization.
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
});

// The handlers run on in-memory stores, with the container's Powertools logger and metrics as their deps'.
vi.mock('../../lambdas/app/runtime.js', async () => {
  const { memoryDeps } = await import('../../lambdas/adapters/memory-stores.js');
  const { domainTelemetry } = await import('../../lambdas/shared/telemetry.js');
  const memory = memoryDeps({ maxPushAttempts: 1 });
  Object.assign(memory.deps, domainTelemetry());
  return { deps: memory.deps, memory };
});
const { memory } = runtime as unknown as { memory: ReturnType<typeof memoryDeps> };

let output: Record<string, unknown>[] = [];
const capture = (chunk: unknown) => {
  for (const line of String(chunk).split('\n')) {
    if (line.startsWith('{')) output.push(JSON.parse(line) as Record<string, unknown>);
  }
  return true;
};
beforeEach(() => {
  output = [];
  vi.spyOn(process.stdout, 'write').mockImplementation(capture as typeof process.stdout.write);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture as typeof process.stderr.write);
});
afterEach(() => {
  vi.restoreAllMocks();
  memory.pusher.script = () => 'ok';
});

const context = (name: string, requestId: string) =>
  ({
    functionName: `parley-${name}`,
    awsRequestId: requestId,
    invokedFunctionArn: `arn:aws:lambda:us-east-1:0:function:parley-${name}`,
    memoryLimitInMB: '512',
    functionVersion: '$LATEST',
  }) as Context;
const frame = (connectionId: string, routeKey: string, body: Record<string, unknown>, userId?: string) => ({
  requestContext: { connectionId, routeKey, authorizer: userId ? { userId } : null },
  body: JSON.stringify(body),
});
const logs = () => output.filter((line) => typeof line.level === 'string');
/** The values of one metric in the EMF lines printed, after checking the namespace, unit and dimensions it was printed with. */
const emfValues = (metric: MetricName): number[] =>
  output.flatMap((line) => {
    const aws = line._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] } | undefined;
    const { name, unit } = metricDefinitions[metric];
    const directive = aws?.CloudWatchMetrics[0];
    if (!directive?.Metrics.some((entry) => entry.Name === name)) return [];
    expect(directive).toMatchObject({ Namespace: metricNamespace, Dimensions: [['service', 'stack']] });
    expect(directive.Metrics.find((entry) => entry.Name === name)?.Unit).toBe(unit);
    expect(line).toMatchObject({ service: serviceName, stack: 'local' });
    return [line[name] as number | number[]].flat();
  });

const alice = { userId: 'alice', connectionId: 'alice-1' };

describe('handler telemetry', () => {
  it('logs with the Lambda context and the request keys, and a warm invocation keeps none of the previous keys', async () => {
    const { conversationId } = await createDirectConversation(memory.deps, alice, 'bob');
    await memory.presence.addConnection({ userId: 'bob', connectionId: 'bob-1' }, memory.deps.now(), 600);
    // The inline push fails its only attempt, so the domain warns and queues the fanout.
    memory.pusher.script = () => 'failed';
    const send = { action: 'send', requestId: 'r1', conversationId, clientMessageId: 'c1', body: 'hi' };
    await actions(frame('alice-1', 'send', send, 'alice'), context('actions', 'request-1'));
    const warning = logs().find((line) => line.message === 'push failed, queueing the fanout');
    expect(warning).toMatchObject({
      level: 'WARN',
      service: serviceName,
      function_name: 'parley-actions',
      function_request_id: 'request-1',
      cold_start: true,
      connectionId: 'alice-1',
      action: 'send',
      userId: 'alice',
      conversationId,
      seq: 1,
    });

    // Next invocation of the warm container: another connection, no authorizer context (an unexpected error is logged).
    output = [];
    await actions(frame('other-1', 'heartbeat', { action: 'heartbeat', requestId: 'r2' }), context('actions', 'request-2'));
    const error = logs().find((line) => line.level === 'ERROR');
    expect(error).toMatchObject({ function_request_id: 'request-2', cold_start: false, connectionId: 'other-1', action: 'heartbeat' });
    expect(error).not.toHaveProperty('userId');
    expect(error).not.toHaveProperty('conversationId');
  });

  it('emits the metrics of a send as EMF once the invocation ends: one message stored, its push and the push lag', async () => {
    const { conversationId } = await createDirectConversation(memory.deps, alice, 'carol');
    await memory.presence.addConnection({ userId: 'carol', connectionId: 'carol-1' }, memory.deps.now(), 600);
    memory.pusher.script = () => {
      memory.advance(35);
      return 'ok';
    };
    const send = { action: 'send', requestId: 'r3', conversationId, clientMessageId: 'c2', body: 'hi carol' };
    const reply = await actions(frame('alice-1', 'send', send, 'alice'), context('actions', 'request-3'));
    expect(JSON.parse(reply.body!)).toMatchObject({ type: 'ack', seq: 1 });
    expect(emfValues('messagesStored')).toEqual([1]);
    expect(emfValues('pushesDelivered')).toEqual([1]);
    expect(emfValues('fanoutLag')).toEqual([35]);
    expect(emfValues('pushesDeadLettered')).toEqual([]);
  });
});

describe('fanout worker telemetry', () => {
  const deliverJob = (conversationId: string) => ({
    kind: 'deliver',
    event: { type: 'typing', conversationId, userId: 'alice', state: 'start' },
    targets: [{ userId: 'dave', connectionId: 'dave-1' }],
    scope: { conversationId, membershipSeq: 0, seq: 7 },
    // maxPushAttempts is 1 here: this is the worker's last own attempt.
    attempt: 0,
  });
  const withReceiveCount = (event: ReturnType<typeof sqsEvent>, count: number) => {
    for (const record of event.Records) record.attributes.ApproximateReceiveCount = String(count);
    return event;
  };

  it('on the last receive, counts the dead-lettered pushes and logs their connections with the job keys', async () => {
    memory.pusher.script = (connectionId) => (connectionId === 'dave-1' ? 'failed' : 'ok');
    const event = withReceiveCount(
      sqsEvent([deliverJob('grp_dead'), { kind: 'presence', userId: 'nobody', status: 'online', lastSeenAt: null }]),
      queues.fanout.maxReceiveCount,
    );
    const result = await fanout(event, context('fanout', 'request-4'));
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm-0' }]);
    expect(emfValues('pushesDeadLettered')).toEqual([1]);
    const error = logs().find((line) => line.level === 'ERROR');
    expect(error).toMatchObject({
      function_name: 'parley-fanout',
      function_request_id: 'request-4',
      messageId: 'm-0',
      conversationId: 'grp_dead',
      seq: 7,
      connections: [{ userId: 'dave', connectionId: 'dave-1' }],
    });
  });

  it('before the last receive, warns (SQS redelivers the job) and counts nothing as dead-lettered', async () => {
    memory.pusher.script = () => 'failed';
    const event = withReceiveCount(sqsEvent([deliverJob('grp_retry'), { kind: 'presence', userId: 'nobody', status: 'online', lastSeenAt: null }]), 1);
    const result = await fanout(event, context('fanout', 'request-5'));
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm-0' }]);
    expect(emfValues('pushesDeadLettered')).toEqual([]);
    expect(logs().filter((line) => line.level === 'ERROR')).toEqual([]);
    expect(logs().find((line) => line.level === 'WARN')).toMatchObject({
      conversationId: 'grp_retry',
      connections: [{ userId: 'dave', connectionId: 'dave-1' }],
    });
  });
});
