/**
 * The local event bus's webhook delivery against a real HTTP endpoint: the API destination's retry policy from
 * lib/definitions.ts (retryable answers retried with backoff, then dead-lettered; others dead-lettered at once).
 */
import { createServer, type Server } from 'node:http';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookTarget } from '../../lib/definitions.js';
import { LocalEventBus } from '../../local/event-bus.js';
import { until } from '../support/faults.js';

let server: Server;
let webhookUrl = '';
/** What the endpoint answers, per event id, in order; 200 once the list is used up. */
const script = new Map<string, number[]>();
const requests: { eventId: string; apiKey: string | undefined }[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const eventId = String(JSON.parse(body).detail.eventId);
      requests.push({ eventId, apiKey: request.headers['x-api-key'] as string | undefined });
      response.writeHead(script.get(eventId)?.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  webhookUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function withBus(run: (bus: LocalEventBus, client: EventBridgeClient) => Promise<void>) {
  const bus = new LocalEventBus({ busName: 'test-bus', webhookUrl, webhookApiKey: 'secret', retryBaseMs: 2 });
  await bus.listen();
  const client = new EventBridgeClient({ endpoint: bus.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  try {
    await run(bus, client);
  } finally {
    client.destroy();
    await bus.stop();
  }
}

const put = (client: EventBridgeClient, eventId: string) =>
  client.send(
    new PutEventsCommand({ Entries: [{ EventBusName: 'test-bus', Source: 'parley', DetailType: 'message.sent', Detail: JSON.stringify({ eventId }) }] }),
  );

describe('local event bus webhook', () => {
  it('retries a webhook answering 500 up to the retry policy, then dead-letters the event', async () => {
    await withBus(async (bus, client) => {
      script.set(
        'always-500',
        Array.from({ length: 100 }, () => 500),
      );
      expect((await put(client, 'always-500')).FailedEntryCount).toBe(0);
      await until('the dead letter', () => bus.deadLetters.length === 1);
      const attempts = requests.filter((request) => request.eventId === 'always-500');
      expect(attempts).toHaveLength(1 + webhookTarget.maximumRetryAttempts);
      expect(attempts.every((request) => request.apiKey === 'secret')).toBe(true);
      expect(bus.deadLetters[0]).toMatchObject({ attempts: 1 + webhookTarget.maximumRetryAttempts, lastStatus: 500, reason: 'RetryAttemptsExhausted' });
      expect(bus.deadLetters[0]!.event.detail).toEqual({ eventId: 'always-500' });
    });
  });

  it('delivers to a webhook that recovers, without dead-lettering', async () => {
    await withBus(async (bus, client) => {
      script.set('recovers', [500, 503, 429]);
      await put(client, 'recovers');
      await until('the delivery', () => requests.filter((request) => request.eventId === 'recovers').length === 4);
      await bus.idle();
      expect(bus.deadLetters).toEqual([]);
      expect(script.get('recovers')).toEqual([]);
    });
  });

  it('dead-letters at once on an answer EventBridge does not retry (400)', async () => {
    await withBus(async (bus, client) => {
      script.set('bad-request', [400]);
      await put(client, 'bad-request');
      await until('the dead letter', () => bus.deadLetters.length === 1);
      expect(requests.filter((request) => request.eventId === 'bad-request')).toHaveLength(1);
      expect(bus.deadLetters[0]).toMatchObject({ attempts: 1, lastStatus: 400, reason: 'NonRetryableStatus' });
    });
  });

  it('enforces PutEvents limits: 10 entries per call, per-entry errors for malformed detail', async () => {
    await withBus(async (_, client) => {
      const entry = { EventBusName: 'test-bus', Source: 'parley', DetailType: 'x', Detail: '{}' };
      await expect(client.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry) }))).rejects.toMatchObject({
        name: 'ValidationException',
      });
      const mixed = await client.send(new PutEventsCommand({ Entries: [entry, { ...entry, Detail: 'not json' }] }));
      expect(mixed.FailedEntryCount).toBe(1);
      expect(mixed.Entries?.[1]?.ErrorCode).toBe('MalformedDetail');
      expect(mixed.Entries?.[0]?.EventId).toBeTruthy();
    });
  });
});
