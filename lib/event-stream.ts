import { Duration, RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import { ApiDestination, Authorization, Connection, EventBus, HttpMethod, Rule } from 'aws-cdk-lib/aws-events';
import { ApiDestination as ApiDestinationTarget } from 'aws-cdk-lib/aws-events-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { WebhookSettings } from './config.js';
import { eventBus, webhookTarget } from './definitions.js';

/** Props of `ParleyEventStream`. */
export interface ParleyEventStreamProps {
  /** Forward every Parley event to this endpoint. */
  readonly webhook?: WebhookSettings;
  readonly devStack: boolean;
}

/**
 * Parley's EventBridge bus, and with `webhook` an API destination that receives every event on it: a connection
 * whose API key comes from Secrets Manager, a rule with its own retry policy, and an encrypted dead-letter queue.
 */
export class ParleyEventStream extends Construct {
  readonly bus: EventBus;
  /** The webhook rule and its dead-letter queue, when a webhook is configured. */
  readonly webhookRule?: Rule;
  readonly webhookDeadLetterQueue?: Queue;

  constructor(scope: Construct, id: string, props: ParleyEventStreamProps) {
    super(scope, id);
    this.bus = new EventBus(this, 'Bus', { description: 'Parley timeline and delivery events (docs/EVENTS.md)' });
    if (!props.webhook) return;

    const { webhook } = props;
    const connection = new Connection(this, 'WebhookConnection', {
      description: 'Parley webhook: API key from Secrets Manager',
      authorization: Authorization.apiKey(webhook.apiKeyHeader, SecretValue.secretsManager(webhook.secretName)),
    });
    const destination = new ApiDestination(this, 'WebhookDestination', {
      connection,
      endpoint: webhook.url,
      httpMethod: HttpMethod.POST,
      rateLimitPerSecond: webhookTarget.invocationRateLimitPerSecond,
      description: 'Receives every Parley event',
    });
    this.webhookDeadLetterQueue = new Queue(this, 'WebhookDlq', {
      retentionPeriod: Duration.days(webhookTarget.dlqRetentionDays),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy: props.devStack ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    Validations.of(this.webhookDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the webhook rule target: events the endpoint never accepted.',
    });
    this.webhookRule = new Rule(this, 'WebhookRule', {
      eventBus: this.bus,
      description: 'Every Parley event to the webhook',
      eventPattern: { source: [eventBus.source] },
      targets: [
        new ApiDestinationTarget(destination, {
          retryAttempts: webhookTarget.maximumRetryAttempts,
          maxEventAge: Duration.seconds(webhookTarget.maximumEventAgeSeconds),
          deadLetterQueue: this.webhookDeadLetterQueue,
        }),
      ],
    });
  }
}
