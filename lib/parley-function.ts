import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CfnElement, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type { WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { Architecture, FilterCriteria, Runtime, StartingPosition, Tracing, type DlqDestinationConfig, type IEventSourceDlq } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption, type IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  commonEnv,
  eventBus,
  functionDefinition,
  queues,
  streamSources,
  tables,
  type AnyFunctionName,
  type FunctionDefinition,
  type QueueDefinition,
  type QueueName,
  type StreamSourceDefinition,
  type StreamSourceName,
  type TableActions,
  type TableDefinition,
  type TableName,
} from './definitions.js';
import { bundleBanner, bundleExternalModules, bundleMainFields, bundleTarget } from './bundling.js';
import { metricNamespace, serviceName, stackNameEnvVar } from './telemetry.js';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Environment of every function besides its tables, queues and callback URL. */
export const baseEnvironment = {
  POWERTOOLS_SERVICE_NAME: serviceName,
  POWERTOOLS_METRICS_NAMESPACE: metricNamespace,
  POWERTOOLS_LOG_LEVEL: 'INFO',
  NODE_OPTIONS: '--enable-source-maps',
};

/** Props of `ParleyFunction`. */
export interface ParleyFunctionProps {
  /** Which entry of `definitions.functions` (or `optionalFunctions`) this is. */
  readonly name: AnyFunctionName;
  readonly tables: Record<TableName, ITable>;
  readonly queues: Record<QueueName, IQueue>;
  /** The stage whose @connections endpoint the function posts to, if it does. */
  readonly stage: WebSocketStage;
  /** Variables on top of the ones derived from the definition. */
  readonly environment?: Record<string, string>;
  /** Short log retention and logs destroyed with the stack. */
  readonly devStack: boolean;
  /** The bus a function with `putsEvents` publishes to. */
  readonly eventBus?: IEventBus;
  /** Reserved concurrency; unset reserves none. */
  readonly reservedConcurrency?: number;
}

/** An event source mapping's on-failure destination whose send permission is granted explicitly, and only that. */
class OnFailureQueue implements IEventSourceDlq {
  constructor(private readonly queue: IQueue) {}

  bind(): DlqDestinationConfig {
    return { destination: this.queue.queueArn };
  }
}

/**
 * One Parley Lambda function, built from its entry in `definitions.functions`: an ESM bundle with the AWS SDK
 * inside (lib/bundling.ts), its own log group and role, exactly the DynamoDB, SQS and @connections permissions its code uses, and
 * the SQS event source of every queue it consumes.
 */
export class ParleyFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;
  /** The on-failure queue of every stream this function consumes, by stream source name. */
  readonly streamDeadLetterQueues: Partial<Record<StreamSourceName, IQueue>> = {};
  private readonly definition: FunctionDefinition;

  constructor(scope: Construct, id: string, props: ParleyFunctionProps) {
    super(scope, id);
    const definition = functionDefinition(props.name);
    this.definition = definition;

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.devStack ? RetentionDays.ONE_WEEK : RetentionDays.ONE_MONTH,
      removalPolicy: props.devStack ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: it may write to this log group only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Parley ${props.name} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: join(projectRoot, definition.entry),
      handler: 'handler',
      description: definition.description,
      // The bundles below target the same Node.js version.
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: definition.memorySize,
      timeout: Duration.seconds(definition.timeoutSeconds),
      reservedConcurrentExecutions: props.reservedConcurrency,
      role: this.role,
      logGroup: this.logGroup,
      // X-Ray traces of every invocation; the handlers add SDK-call subsegments (lambdas/shared/aws-clients.ts).
      tracing: Tracing.ACTIVE,
      environment: { ...baseEnvironment, ...this.environmentFor(props), ...props.environment },
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      bundling: {
        // esbuild from node_modules, never Docker: synth works offline.
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: bundleTarget,
        mainFields: bundleMainFields,
        banner: bundleBanner,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // The AWS SDK v3 is bundled (a pinned, tree-shaken version) but for the credential providers Lambda never loads.
        externalModules: bundleExternalModules,
      },
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions.',
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Node.js 22 is the runtime the handlers are built and tested for; moving to a newer one is a deliberate upgrade.',
    });

    this.grantTables(props.tables, definition.tables);
    for (const queue of definition.sendsTo) {
      // SendMessageBatch is authorized as sqs:SendMessage; nothing else is needed to enqueue.
      this.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [props.queues[queue].queueArn] }));
    }
    if (definition.postsToConnections) this.grantManagementApi(props.stage);
    if (definition.putsEvents) {
      if (!props.eventBus) throw new Error(`${props.name} puts events but was given no event bus`);
      this.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['events:PutEvents'], resources: [props.eventBus.eventBusArn] }));
    }
    this.addQueueEventSources(props.name, props.queues);
    this.addStreamEventSources(props.name, props.tables, props.devStack);
  }

  private environmentFor(props: ParleyFunctionProps): Record<string, string> {
    const env: Record<string, string> = { [stackNameEnvVar]: Stack.of(this).stackName };
    for (const table of Object.keys(this.definition.tables) as TableName[]) {
      env[tables[table].envVar] = props.tables[table].tableName;
    }
    for (const queue of this.definition.sendsTo) env[queues[queue].envVar] = props.queues[queue].queueUrl;
    if (this.definition.postsToConnections) env[commonEnv.callbackUrl] = props.stage.callbackUrl;
    if (this.definition.putsEvents && props.eventBus) env[eventBus.envVar] = props.eventBus.eventBusName;
    return env;
  }

  private grantTables(byName: Record<TableName, ITable>, grants: Partial<Record<TableName, TableActions>>): void {
    for (const [name, grant] of Object.entries(grants) as [TableName, TableActions][]) {
      const table = byName[name];
      if (grant.table?.length) {
        this.role.addToPrincipalPolicy(new PolicyStatement({ actions: grant.table.map((action) => `dynamodb:${action}`), resources: [table.tableArn] }));
      }
      const indexes: TableDefinition['globalSecondaryIndexes'] = (tables as Record<TableName, TableDefinition>)[name].globalSecondaryIndexes;
      for (const [indexName, actions] of Object.entries(grant.indexes ?? {})) {
        if (!indexes?.some((index) => index.indexName === indexName)) {
          throw new Error(`${this.node.id}: table ${name} has no index ${indexName}`);
        }
        this.role.addToPrincipalPolicy(
          new PolicyStatement({
            actions: actions.map((action) => `dynamodb:${action}`),
            resources: [`${table.tableArn}/index/${indexName}`],
          }),
        );
      }
    }
  }

  private grantManagementApi(stage: WebSocketStage): void {
    stage.grantManagementApiAccess(this.function);
    // cdk-nag names the finding by the resource as synthesized: pseudo parameters unless the stack's env is known.
    const stack = Stack.of(this);
    const known = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value);
    const api = stack.resolve((stage.api.node.defaultChild as CfnElement).logicalId) as string;
    const resource = `arn:<AWS::Partition>:execute-api:${known(stack.region, 'Region')}:${known(stack.account, 'AccountId')}:<${api}>/${stage.stageName}/*/@connections/*`;
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${resource}]`,
      reason: 'Connection ids exist only at run time; the grant is ManageConnections on this API stage only.',
    });
  }

  private addQueueEventSources(name: AnyFunctionName, byName: Record<QueueName, IQueue>): void {
    for (const [queue, definition] of Object.entries(queues) as [QueueName, QueueDefinition][]) {
      if (definition.consumer !== name) continue;
      this.function.addEventSource(
        new SqsEventSource(byName[queue], {
          batchSize: definition.batchSize,
          maxBatchingWindow: Duration.seconds(definition.maxBatchingWindowSeconds),
          maxConcurrency: definition.maximumConcurrency,
          // Only the failed records of a batch are retried.
          reportBatchItemFailures: true,
        }),
      );
    }
  }

  /**
   * The DynamoDB stream event sources of `definitions.streamSources` this function consumes: partial batch
   * responses, bisect on error, bounded retries, and an encrypted SQS on-failure queue each. The role may read
   * exactly those streams and send to exactly those queues.
   */
  private addStreamEventSources(name: AnyFunctionName, byName: Record<TableName, ITable>, devStack: boolean): void {
    for (const [source, definition] of Object.entries(streamSources) as [StreamSourceName, StreamSourceDefinition][]) {
      if (definition.consumer !== name) continue;
      const table = byName[definition.table];
      if (!(tables as Record<TableName, TableDefinition>)[definition.table].stream || !table.tableStreamArn) {
        throw new Error(`stream source ${source}: table ${definition.table} has no stream`);
      }
      const dlq = new Queue(this, `${source}StreamDlq`, {
        retentionPeriod: Duration.days(definition.dlqRetentionDays),
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        removalPolicy: devStack ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      });
      Validations.of(dlq).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is the on-failure destination of a stream event source mapping: it is the dead-letter queue.',
      });
      this.streamDeadLetterQueues[source] = dlq;
      this.function.addEventSourceMapping(`${source}Stream`, {
        eventSourceArn: table.tableStreamArn,
        startingPosition: StartingPosition[definition.startingPosition],
        batchSize: definition.batchSize,
        maxBatchingWindow: Duration.seconds(definition.maxBatchingWindowSeconds),
        bisectBatchOnError: definition.bisectBatchOnFunctionError,
        retryAttempts: definition.maximumRetryAttempts,
        maxRecordAge: definition.maximumRecordAgeSeconds < 0 ? undefined : Duration.seconds(definition.maximumRecordAgeSeconds),
        parallelizationFactor: definition.parallelizationFactor,
        reportBatchItemFailures: true,
        filters: definition.filters.map((pattern) => FilterCriteria.filter(pattern as Record<string, unknown>)),
        onFailure: new OnFailureQueue(dlq),
      });
      this.role.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'],
          resources: [table.tableStreamArn],
        }),
      );
      this.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [dlq.queueArn] }));
    }
  }
}
