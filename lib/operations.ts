import { Duration, Stack } from 'aws-cdk-lib';
import type { WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, ComparisonOperator, Dashboard, GraphWidget, MathExpression, Metric, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { FilterPattern } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { connectAuthorizer, tables, type FunctionName, type QueueName, type TableDefinition, type TableName } from './definitions.js';
import type { ParleyFunction } from './parley-function.js';
import { metricDefinitions, metricDimensions, metricNamespace, type MetricName } from './telemetry.js';

/** Props of `ParleyOperations`. */
export interface ParleyOperationsProps {
  readonly stage: WebSocketStage;
  readonly functions: Record<FunctionName, ParleyFunction>;
  readonly tables: Record<TableName, ITable>;
  readonly queues: Record<QueueName, IQueue>;
  /** The fanout queues' DLQs by queue name, plus the stream and webhook DLQs under their own names. */
  readonly deadLetterQueues: Record<QueueName, IQueue> & Record<string, IQueue>;
  /** Alarm threshold for the p99 integration latency, in milliseconds. */
  readonly latencyP99ThresholdMs: number;
  /** Alarm threshold for the p99 fanout lag (a message's createdAt to its push), in milliseconds. */
  readonly fanoutLagP99ThresholdMs: number;
  /** Subscribes this address to the alarm topic; without it alarms have no action. */
  readonly alarmEmail?: string;
}

const fiveMinutes = Duration.minutes(5);

/** Alarms, an optional SNS topic for them, and a dashboard. */
export class ParleyOperations extends Construct {
  readonly alarms: Alarm[] = [];
  readonly topic?: Topic;
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: ParleyOperationsProps) {
    super(scope, id);
    if (props.alarmEmail) {
      this.topic = new Topic(this, 'AlarmTopic', { displayName: 'Parley alarms', enforceSSL: true });
      this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    }

    const { stage } = props;
    this.alarm('IntegrationLatencyP99', {
      metric: stage.metric('IntegrationLatency', { statistic: 'p99', period: fiveMinutes }),
      threshold: props.latencyP99ThresholdMs,
      evaluationPeriods: 3,
      description: `p99 integration latency above ${props.latencyP99ThresholdMs} ms for 15 minutes`,
    });

    const parley = (metric: MetricName, statistic: string, period = Duration.minutes(1), label?: string) =>
      parleyMetric(Stack.of(this).stackName, metric, { statistic, period, label });
    this.alarm('FanoutLagP99', {
      metric: parley('fanoutLag', 'p99', fiveMinutes),
      threshold: props.fanoutLagP99ThresholdMs,
      evaluationPeriods: 3,
      description: `p99 fanout lag (message stored to pushed) above ${props.fanoutLagP99ThresholdMs} ms for 15 minutes`,
    });
    this.alarm('PushesDeadLettered', {
      metric: parley('pushesDeadLettered', 'Sum'),
      threshold: 0,
      description: "Pushes still failed on the fanout job's last receive and were dead-lettered; the logs name the connections",
    });

    for (const [name, dlq] of Object.entries(props.deadLetterQueues)) {
      this.alarm(`${name}DlqNotEmpty`, {
        metric: dlq.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(1) }),
        threshold: 0,
        description: `Messages in the ${name} dead-letter queue: work was given up; inspect and redrive`,
      });
    }

    for (const [name, fn] of Object.entries(props.functions) as [FunctionName, ParleyFunction][]) {
      this.alarm(`${name}Throttles`, {
        metric: fn.function.metricThrottles({ period: fiveMinutes }),
        threshold: 0,
        description: `The ${name} function was throttled`,
      });
      // The authorizer reports every rejected token as an error (API Gateway requires that for a 401), so its own
      // failures are counted from ERROR log lines instead.
      if (name === connectAuthorizer.function) continue;
      this.alarm(`${name}Errors`, {
        metric: fn.function.metricErrors({ period: fiveMinutes }),
        threshold: 0,
        description: `The ${name} function failed`,
      });
    }

    const authorizer = props.functions[connectAuthorizer.function];
    const authorizerFailures = authorizer.logGroup.addMetricFilter('Failures', {
      filterPattern: FilterPattern.stringValue('$.level', '=', 'ERROR'),
      metricNamespace: `Parley/${Stack.of(this).stackName}`,
      metricName: 'AuthorizerFailures',
      metricValue: '1',
    });
    this.alarm('AuthorizerFailures', {
      metric: authorizerFailures.metric({ statistic: 'Sum', period: fiveMinutes }),
      threshold: 0,
      description: 'The $connect authorizer could not verify tokens (for example the JWKS endpoint failed)',
    });

    const throttleMetrics: Record<string, IMetric> = {};
    for (const [name, table] of Object.entries(props.tables) as [TableName, ITable][]) {
      const metric = throttleEvents(name, table, (tables as Record<TableName, TableDefinition>)[name]);
      throttleMetrics[name] = metric;
      this.alarm(`${name}TableThrottles`, {
        metric,
        threshold: 0,
        description: `Requests to the ${name} table (or its indexes) were throttled`,
      });
    }

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    const fns = Object.entries(props.functions) as [FunctionName, ParleyFunction][];
    this.dashboard.addWidgets(
      graph('Connections and messages', [
        stage.metric('ConnectCount', { statistic: 'Sum', period: Duration.minutes(1) }),
        stage.metric('MessageCount', { statistic: 'Sum', period: Duration.minutes(1) }),
      ]),
      graph('Integration latency (ms)', [
        stage.metric('IntegrationLatency', { statistic: 'p50', period: Duration.minutes(1) }),
        stage.metric('IntegrationLatency', { statistic: 'p99', period: Duration.minutes(1) }),
      ]),
      graph(
        'API errors',
        ['ClientError', 'IntegrationError', 'ExecutionError'].map((metric) => stage.metric(metric, { statistic: 'Sum', period: Duration.minutes(1) })),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Lambda errors',
        fns.map(([name, fn]) => fn.function.metricErrors({ label: name, period: Duration.minutes(1) })),
      ),
      graph(
        'Lambda throttles',
        fns.map(([name, fn]) => fn.function.metricThrottles({ label: name, period: Duration.minutes(1) })),
      ),
      graph(
        'Lambda duration p99 (ms)',
        fns.map(([name, fn]) => fn.function.metricDuration({ label: name, statistic: 'p99', period: Duration.minutes(1) })),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Queues',
        Object.entries(props.queues).flatMap(([name, queue]) => [
          queue.metricApproximateNumberOfMessagesVisible({ label: `${name} visible`, period: Duration.minutes(1) }),
          queue.metricApproximateAgeOfOldestMessage({ label: `${name} oldest (s)`, period: Duration.minutes(1) }),
          props.deadLetterQueues[name as QueueName].metricApproximateNumberOfMessagesVisible({
            label: `${name} DLQ`,
            period: Duration.minutes(1),
          }),
        ]),
      ),
      graph(
        'DynamoDB consumed capacity',
        Object.entries(props.tables).flatMap(([name, table]) => [
          table.metricConsumedReadCapacityUnits({ label: `${name} read`, period: Duration.minutes(1) }),
          table.metricConsumedWriteCapacityUnits({ label: `${name} write`, period: Duration.minutes(1) }),
        ]),
      ),
      graph('DynamoDB throttle events', Object.values(throttleMetrics)),
    );
    const delivered = parley('pushesDelivered', 'Sum', Duration.minutes(1), 'delivered');
    const gone = parley('connectionsGone', 'Sum', Duration.minutes(1), '410 Gone');
    this.dashboard.addWidgets(
      graph('Messages stored and pushes delivered', [parley('messagesStored', 'Sum', Duration.minutes(1), 'stored'), delivered]),
      new GraphWidget({
        title: 'Fanout lag (ms)',
        left: [parley('fanoutLag', 'p50', Duration.minutes(1), 'p50'), parley('fanoutLag', 'p99', Duration.minutes(1), 'p99')],
        leftAnnotations: [{ value: props.fanoutLagP99ThresholdMs, label: 'p99 alarm' }],
        width: 8,
      }),
      // A spike means many devices dropped at once (a client release, a network event); each 410 costs a presence write.
      new GraphWidget({
        title: '410 Gone (% of pushes)',
        left: [
          new MathExpression({
            expression: '100 * FILL(gone, 0) / (FILL(gone, 0) + FILL(delivered, 0))',
            usingMetrics: { gone, delivered },
            label: '410 rate %',
            period: Duration.minutes(1),
          }),
        ],
        right: [gone],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      graph('Retries and dead-lettered pushes', [
        parley('pushRetries', 'Sum', Duration.minutes(1), 'push retries'),
        parley('seqConflictRetries', 'Sum', Duration.minutes(1), 'seq conflict retries'),
        parley('pushesDeadLettered', 'Sum', Duration.minutes(1), 'dead-lettered pushes'),
      ]),
      // Each of these means a send attempt died between its writes (or was resent): rare, a steady rate is not.
      graph('Interrupted sends', [
        parley('seqHolesFilled', 'Sum', Duration.minutes(1), 'seqs filled with a placeholder'),
        parley('sendClaimTakeovers', 'Sum', Duration.minutes(1), 'claims taken over'),
        parley('resendsPushed', 'Sum', Duration.minutes(1), 'resends pushed again'),
      ]),
    );
  }

  private alarm(id: string, props: { metric: IMetric; threshold: number; description: string; evaluationPeriods?: number }) {
    const alarm = new Alarm(this, id, {
      metric: props.metric,
      threshold: props.threshold,
      evaluationPeriods: props.evaluationPeriods ?? 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      // No data means no traffic, which is not a problem.
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: props.description,
    });
    if (this.topic) {
      alarm.addAlarmAction(new SnsAction(this.topic));
      alarm.addOkAction(new SnsAction(this.topic));
    }
    this.alarms.push(alarm);
    return alarm;
  }
}

const graph = (title: string, left: IMetric[]) => new GraphWidget({ title, left, width: 8 });

/** One of the metrics the handlers emit (lib/telemetry.ts), with the dimensions they put on it. */
export function parleyMetric(stackName: string, metric: MetricName, options: { statistic: string; period: Duration; label?: string }): Metric {
  return new Metric({
    namespace: metricNamespace,
    metricName: metricDefinitions[metric].name,
    dimensionsMap: metricDimensions(stackName),
    ...options,
  });
}

/** Read and write throttle events of a table and its global secondary indexes, summed. */
function throttleEvents(name: TableName, table: ITable, definition: TableDefinition): IMetric {
  const indexes = (definition.globalSecondaryIndexes ?? []).map((index) => index.indexName);
  const metrics: Record<string, IMetric> = {};
  const dimensionSets = [{}, ...indexes.map((indexName) => ({ GlobalSecondaryIndexName: indexName }))];
  dimensionSets.forEach((extra, i) => {
    for (const [kind, metricName] of [
      ['r', 'ReadThrottleEvents'],
      ['w', 'WriteThrottleEvents'],
    ] as const) {
      // Ids are unique per table because one graph shows every table's expression.
      metrics[`${name.toLowerCase()}_${kind}${i}`] = table.metric(metricName, {
        statistic: 'Sum',
        period: fiveMinutes,
        dimensionsMap: { TableName: table.tableName, ...extra },
      });
    }
  });
  // Throttle metrics exist only for periods with throttling; FILL keeps the sum defined when some are absent.
  return new MathExpression({
    expression: Object.keys(metrics)
      .map((key) => `FILL(${key}, 0)`)
      .join(' + '),
    usingMetrics: metrics,
    label: `${name} throttle events`,
    period: fiveMinutes,
  });
}
