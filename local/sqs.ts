import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { queues, type QueueName } from '../lib/definitions.js';

/** A running SQS emulator with Parley's queues and their dead-letter queues. */
export interface LocalSqs {
  endpoint: string;
  queueUrls: Record<QueueName, string>;
  dlqUrls: Record<QueueName, string>;
  server: FauxqsServer;
  stop(): Promise<void>;
}

/** Starts fauxqs and creates every queue of `lib/definitions.ts` with a DLQ redrive after `maxReceiveCount` receives. */
export async function startSqs(options: { visibilityTimeoutSeconds?: Partial<Record<QueueName, number>> } = {}): Promise<LocalSqs> {
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  const queueUrls = {} as Record<QueueName, string>;
  const dlqUrls = {} as Record<QueueName, string>;
  for (const [name, def] of Object.entries(queues) as [QueueName, (typeof queues)[QueueName]][]) {
    const dlq = server.createQueue(`parley-${name}-dlq`, {
      attributes: { MessageRetentionPeriod: String(def.dlqRetentionDays * 24 * 3600) },
    });
    const queue = server.createQueue(`parley-${name}`, {
      attributes: {
        VisibilityTimeout: String(options.visibilityTimeoutSeconds?.[name] ?? def.visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: def.maxReceiveCount }),
      },
    });
    queueUrls[name] = queue.queueUrl;
    dlqUrls[name] = dlq.queueUrl;
  }
  return { endpoint: server.address, queueUrls, dlqUrls, server, stop: () => server.stop() };
}
