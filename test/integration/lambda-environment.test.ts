/**
 * The local stack runs each function in its own execution environments, configured from the synthesized template:
 * its environment variables, timeout and reserved concurrency are the template's, so an edit there shows locally.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { AnyFunctionName, FunctionName } from '../../lib/definitions.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import type { CfnTemplate } from '../../local/template.js';
import WebSocket from 'ws';
import { ParleyClient, type ParleyClientOptions } from '../../client/index.js';
import { until } from '../support/faults.js';
import { connectAs, devToken, uniqueUser } from '../support/ws-client.js';

const fanoutTimeoutSeconds = 1;
// Longer than the timeout, as AWS advises (lib/definitions.ts derives the real one from the consumer's timeout).
const fanoutVisibilityTimeoutSeconds = 3;

/** The properties of one function's `AWS::Lambda::Function` resource (logical ids start with the function's name). */
function functionProperties(template: CfnTemplate, name: FunctionName): Record<string, any> {
  const entry = Object.entries(template.Resources).find(([id, resource]) => resource.Type === 'AWS::Lambda::Function' && id.startsWith(`${name}Function`));
  if (!entry) throw new Error(`no ${name} function in the template`);
  return entry[1].Properties!;
}

/** One finished invocation, as the wrapper saw it. */
interface Invocation {
  name: AnyFunctionName;
  event: unknown;
  outcome: 'ok' | string;
  result?: unknown;
}

let stack: LocalStack;
let sqs: SQSClient;
const invocations: Invocation[] = [];
const errors: { message: string; error: unknown }[] = [];

beforeAll(async () => {
  stack = await startLocalStack({
    adjustTemplate: (template) => {
      // The disconnect function loses its presence table; connect, with the same variable, keeps it.
      delete functionProperties(template, 'disconnect').Environment.Variables.PRESENCE_TABLE;
      functionProperties(template, 'fanout').Timeout = fanoutTimeoutSeconds;
      functionProperties(template, 'actions').ReservedConcurrentExecutions = 1;
      functionProperties(template, 'catchup').ReservedConcurrentExecutions = 1;
    },
    // A timed-out fanout batch comes back 3 s after it was received.
    fanoutVisibilityTimeoutSeconds,
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
    onError: (message, error) => errors.push({ message, error }),
  });
  stack.wrapInvocations(async (name, event, run) => {
    try {
      const result = await run(name, event);
      invocations.push({ name, event, outcome: 'ok', result });
      return result;
    } catch (error) {
      invocations.push({ name, event, outcome: (error as Error).message });
      throw error;
    }
  });
  sqs = new SQSClient({ endpoint: stack.sqsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
}, 120_000);

afterAll(async () => {
  sqs?.destroy();
  await stack?.stop();
});

describe('functions configured from the template', () => {
  it('gives each function exactly its own environment: without its variable one function fails, and only that one', async () => {
    expect(stack.lambdas.config('disconnect').environment.PRESENCE_TABLE).toBeUndefined();
    expect(stack.lambdas.config('connect').environment.PRESENCE_TABLE).toBe(stack.tableNames.presence);
    // Nothing of another function's environment leaks in: disconnect has no table the template did not give it.
    expect(stack.lambdas.config('disconnect').environment.MESSAGES_TABLE).toBeUndefined();

    const user = uniqueUser('env');
    const client = await connectAs(stack, user);
    await client.close();
    await until('the $disconnect failed', () => errors.some(({ message }) => message === '$disconnect failed'));
    // Its presence update names no table, which its role does not allow.
    expect(stack.iam.denied).toContainEqual({
      functionName: 'disconnect',
      permission: { action: 'dynamodb:UpdateItem', resource: expect.stringMatching(/:table\/$/) },
    });
    expect(invocations.filter(({ name, outcome }) => outcome !== 'ok' && name !== 'disconnect')).toEqual([]);
    expect(invocations.filter(({ name }) => name === 'authorizer' || name === 'connect').map(({ outcome }) => outcome)).toEqual(['ok', 'ok']);
  });

  it('kills a fanout invocation past its timeout and refuses its later calls; SQS redelivers the job after the visibility timeout', async () => {
    const recipient = uniqueUser('slow');
    const job = { kind: 'deliver', event: { type: 'typing' }, recipients: [recipient], attempt: 0 };
    // The first read of the recipient's presence hangs past the function's timeout (the fault delays only the first).
    stack.emulator.faults.add({ target: 'dynamodb:BatchGetItem', delayMs: fanoutVisibilityTimeoutSeconds * 1000, match: recipient });
    const refusedBefore = stack.lambdas.stats.fanout.refusedCalls;
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls.fanout, MessageBody: JSON.stringify(job) }));

    const runs = () =>
      invocations
        .filter(({ name, event }) => name === 'fanout' && (event as SQSEvent).Records.some((record) => record.body.includes(recipient)))
        .map(({ event, outcome, result }) => ({
          receiveCount: (event as SQSEvent).Records.find((record) => record.body.includes(recipient))!.attributes.ApproximateReceiveCount,
          outcome,
          failures: (result as SQSBatchResponse | undefined)?.batchItemFailures.length,
        }));
    await until('the job was handled on redelivery', () => runs().some(({ outcome }) => outcome === 'ok'), 30_000, runs);
    expect(runs()).toEqual([
      { receiveCount: '1', outcome: `Task timed out after ${fanoutTimeoutSeconds}.00 seconds`, failures: undefined },
      { receiveCount: '2', outcome: 'ok', failures: 0 },
    ]);
    expect(stack.lambdas.stats.fanout.timeouts).toBe(1);
    // The killed invocation wakes up from its hung read and goes on: its next call never reaches DynamoDB.
    await until('the timed-out invocation was refused a call', () => stack.lambdas.stats.fanout.refusedCalls > refusedBefore);
  });

  it("throttles a WebSocket route beyond its function's reserved concurrency with API Gateway's internal-error frame", async () => {
    const user = uniqueUser('throttle');
    const client = await connectAs(stack, user);
    // The first request holds the only actions invocation allowed: its read of the user's settings hangs a while.
    const rule = stack.emulator.faults.add({ target: 'dynamodb:GetItem', delayMs: 1500, match: [stack.tableNames.users, user] });
    const first = client.request({ action: 'getSettings' });
    await until('the first request is in flight', () => (stack.emulator.faults.status(rule)?.fired ?? 0) > 0);
    client.sendRaw(JSON.stringify({ action: 'getSettings', requestId: 'throttled' }));
    const refused = await client.waitFor((frame) => frame.message === 'Internal server error');
    expect(refused).toMatchObject({ message: 'Internal server error', connectionId: expect.any(String), requestId: expect.any(String) });
    expect((await first).type).toBe('settings');
    expect(stack.lambdas.stats.actions.throttles).toBe(1);
    await client.close();
  });
  it('lets the SDK resend catch-up reads that API Gateway refused (a throttled catchup function) without waiting out its timeout', async () => {
    const [user, peer] = [uniqueUser('catchup'), uniqueUser('catchup-peer')];
    const client = new ParleyClient({
      url: stack.wsUrl,
      userId: user,
      token: () => devToken(stack, user),
      WebSocket: WebSocket as unknown as ParleyClientOptions['WebSocket'],
      // Resends spread over seconds, so one outlasts the held read even on a loaded machine.
      backoff: { baseMs: 500, maxMs: 2_000 },
      // Far beyond the test's own timeout: only the resend on API Gateway's frame can finish these reads in time.
      requestTimeoutMs: 120_000,
    });
    try {
      await client.connect();
      const conversationId = (await client.createDirect(peer)).conversationId;
      await client.send(conversationId, 'kept').acked;
      const throttlesBefore = stack.lambdas.stats.catchup.throttles;
      // The first read holds the only catchup invocation allowed a while; the second is refused meanwhile.
      stack.emulator.faults.add({ target: 'dynamodb:Query', delayMs: 500, match: [stack.tableNames.messages, conversationId] });
      const pages = await Promise.all([0, 1].map(() => client.history(conversationId)));
      expect(pages.map((page) => page.messages.map((message) => message.body))).toEqual([['kept'], ['kept']]);
      expect(stack.lambdas.stats.catchup.throttles).toBeGreaterThan(throttlesBefore);
    } finally {
      client.close();
    }
  }, 30_000);
});
