import { startFauxqs, type FauxqsServer } from 'fauxqs';
import type { QueueName } from '../lib/definitions.js';
import type { QueueSettings } from './template.js';

/** A running SQS emulator with Parley's queues and their dead-letter queues. */
export interface LocalSqs {
  endpoint: string;
  queueUrls: Record<QueueName, string>;
  dlqUrls: Record<QueueName, string>;
  server: FauxqsServer;
  stop(): Promise<void>;
}

/**
 * Starts fauxqs and creates each queue (`parley-<name>`) with the attributes the template gives it, and its dead-letter
 * queue (`parley-<name>-dlq`) with the redrive after `maxReceiveCount` receives.
 */
export async function startSqs(queues: Record<QueueName, QueueSettings>): Promise<LocalSqs> {
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  const queueUrls = {} as Record<QueueName, string>;
  const dlqUrls = {} as Record<QueueName, string>;
  for (const [name, settings] of Object.entries(queues) as [QueueName, QueueSettings][]) {
    const dlq = settings.deadLetterQueue && server.createQueue(`parley-${name}-dlq`, { attributes: settings.deadLetterQueue.attributes });
    const queue = server.createQueue(`parley-${name}`, {
      attributes: {
        ...settings.attributes,
        ...(dlq ? { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: settings.deadLetterQueue!.maxReceiveCount }) } : {}),
      },
    });
    queueUrls[name] = queue.queueUrl;
    if (dlq) dlqUrls[name] = dlq.queueUrl;
  }
  return { endpoint: server.address, queueUrls, dlqUrls, server, stop: () => server.stop() };
}
