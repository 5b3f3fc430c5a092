import { Duration } from 'aws-cdk-lib';
import { Queue, QueueEncryption, type IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { functions, queues, type QueueDefinition, type QueueName } from './definitions.js';

/** Every SQS queue of `definitions.queues`, each with its dead-letter queue; both encrypted and TLS-only. */
export class ParleyQueues extends Construct {
  /** The work queues by logical name. */
  readonly byName: Record<QueueName, IQueue>;
  /** Their dead-letter queues by the same name. */
  readonly deadLetterQueues: Record<QueueName, IQueue>;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const byName: Partial<Record<QueueName, IQueue>> = {};
    const deadLetterQueues: Partial<Record<QueueName, IQueue>> = {};
    for (const [name, definition] of Object.entries(queues) as [QueueName, QueueDefinition][]) {
      const consumerTimeout = functions[definition.consumer].timeoutSeconds;
      // A message must stay invisible while its consumer may still be working on it, or it runs twice at once.
      if (definition.visibilityTimeoutSeconds < consumerTimeout) {
        throw new Error(
          `queue ${name}: visibility timeout ${definition.visibilityTimeoutSeconds}s is shorter than the ` +
            `${consumerTimeout}s timeout of its consumer ${definition.consumer}`,
        );
      }
      const dlq = new Queue(this, `${name}Dlq`, {
        retentionPeriod: Duration.days(definition.dlqRetentionDays),
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      byName[name] = new Queue(this, name, {
        visibilityTimeout: Duration.seconds(definition.visibilityTimeoutSeconds),
        deadLetterQueue: { queue: dlq, maxReceiveCount: definition.maxReceiveCount },
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      deadLetterQueues[name] = dlq;
    }
    this.byName = byName as Record<QueueName, IQueue>;
    this.deadLetterQueues = deadLetterQueues as Record<QueueName, IQueue>;
  }
}
