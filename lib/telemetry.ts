/**
 * Parley's own CloudWatch metrics and the names around them. Pure data (no CDK, no Powertools imports): the handlers
 * emit these metrics (embedded metric format) and the CDK alarms and dashboard read them, so the two cannot drift.
 * docs/OPERATIONS.md describes each metric and alarm.
 */

/** Service name on every log line, metric and trace segment (POWERTOOLS_SERVICE_NAME). */
export const serviceName = 'parley';

/** CloudWatch namespace of every Parley metric. */
export const metricNamespace = 'Parley';

/**
 * The functions learn their stack's name from this variable and put it on every metric as the `stack` dimension,
 * so two Parley stacks in one account (prod and a dev stack) never share a metric or an alarm.
 */
export const stackNameEnvVar = 'PARLEY_STACK_NAME';

/** The dimensions on every Parley metric: `service` (added by Powertools) and `stack`. */
export const metricDimensions = (stackName: string): Record<string, string> => ({ service: serviceName, stack: stackName });

/** The `stack` dimension outside a deployed stack (local stack, tests, scripts). */
export const localStackName = 'local';

/** A Parley metric: its CloudWatch name, unit and meaning. */
export interface MetricDefinition {
  readonly name: string;
  readonly unit: 'Count' | 'Milliseconds';
  readonly description: string;
}

export const metricDefinitions = {
  messagesStored: {
    name: 'MessagesStored',
    unit: 'Count',
    description: 'Chat messages stored by `send` (a retried send that is a duplicate is not counted)',
  },
  pushesDelivered: {
    name: 'PushesDelivered',
    unit: 'Count',
    description: 'Pushes that PostToConnection accepted, inline from the send handler and from the fanout worker',
  },
  fanoutLag: {
    name: 'FanoutLag',
    unit: 'Milliseconds',
    description: "Time from a timeline item's createdAt (set just before it is stored) to its accepted push, one value per push",
  },
  connectionsGone: {
    name: 'ConnectionsGone',
    unit: 'Count',
    description: 'Pushes answered 410 Gone: the connection had closed; its presence record is removed',
  },
  pushRetries: {
    name: 'PushRetries',
    unit: 'Count',
    description: 'Connections whose push failed (not 410) and was queued for another attempt with backoff',
  },
  seqConflictRetries: {
    name: 'SeqConflictRetries',
    unit: 'Count',
    description:
      'Timeline event appends that lost the race for the next seq to a concurrent writer and were retried, and sends whose seq allocation met a changed head',
  },
  seqHolesFilled: {
    name: 'SeqHolesFilled',
    unit: 'Count',
    description: 'Seqs a reader filled with a skipped placeholder: their sender took the seq and died before storing the item',
  },
  sendClaimTakeovers: {
    name: 'SendClaimTakeovers',
    unit: 'Count',
    description: 'Retried sends that took over the idempotency claim of an attempt that died before storing its message',
  },
  resendsPushed: {
    name: 'ResendsPushed',
    unit: 'Count',
    description: 'Duplicate sends that queued the stored message again for members whose delivered cursor was behind it',
  },
  pushesDeadLettered: {
    name: 'PushesDeadLettered',
    unit: 'Count',
    description: "Connections whose push still failed on the fanout job's last receive: the job goes to the dead-letter queue",
  },
} as const satisfies Record<string, MetricDefinition>;

/** A Parley metric, by its key in `metricDefinitions`. */
export type MetricName = keyof typeof metricDefinitions;
