import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { ParleyConfig } from './config.js';
import { ParleyArchive } from './archive.js';
import { commonEnv, connectAuthorizer, functions, retention, serverApi as serverApiDefinition, type FunctionName } from './definitions.js';
import { ParleyEventStream } from './event-stream.js';
import { ParleyIdentity } from './identity.js';
import { ParleyOperations } from './operations.js';
import { ParleyFunction } from './parley-function.js';
import { ParleyQueues } from './queues.js';
import { ParleyServerApi } from './server-api.js';
import { mapRecord } from './records.js';
import { ParleyTables } from './tables.js';
import { ParleyWebSocketApi } from './websocket-api.js';

/** Props of `ParleyStack`. */
export interface ParleyStackProps extends StackProps {
  readonly config: ParleyConfig;
}

/** Everything Parley runs on, built from `lib/definitions.ts`: tables, queues, functions, the WebSocket API, identity, alarms. */
export class ParleyStack extends Stack {
  readonly identity: ParleyIdentity;
  readonly webSocket: ParleyWebSocketApi;
  readonly functions: Record<FunctionName, ParleyFunction>;
  readonly operations: ParleyOperations;
  /** The IAM-authorized server API for the app's backend; `serverApi.grantInvoke(role)` gives a role access. */
  readonly serverApi: ParleyServerApi;
  readonly events: ParleyEventStream;
  readonly tables: ParleyTables;
  readonly queues: ParleyQueues;
  /** The Parquet archive, when context `archive` is true. */
  readonly archive?: ParleyArchive;

  constructor(scope: Construct, id: string, props: ParleyStackProps) {
    super(scope, id, props);
    const { config } = props;

    const tables = new ParleyTables(this, 'Tables', { devStack: config.devStack });
    const queues = new ParleyQueues(this, 'Queues');
    this.events = new ParleyEventStream(this, 'Events', { webhook: config.webhook, devStack: config.devStack });
    this.tables = tables;
    this.queues = queues;
    this.identity = new ParleyIdentity(this, 'Identity', { oidc: config.oidc, devStack: config.devStack });
    this.webSocket = new ParleyWebSocketApi(this, 'WebSocket', {
      stageName: config.stageName,
      throttle: config.throttle,
      devStack: config.devStack,
      apiGatewayLogsRole: config.apiGatewayLogsRole,
    });
    const { stage } = this.webSocket;

    const authorizerEnv = {
      [commonEnv.jwksUrl]: this.identity.jwksUrl,
      [commonEnv.jwtIssuer]: this.identity.issuer,
      [commonEnv.jwtAudience]: this.identity.audience,
      [commonEnv.userIdClaim]: config.userIdClaim,
    };
    // The deployment's retention is read where timeline items are written and read.
    const retentionEnv = config.messageRetentionDays === undefined ? undefined : { [retention.envVar]: String(config.messageRetentionDays) };
    this.functions = mapRecord(
      functions as Record<FunctionName, unknown>,
      (_, name) =>
        new ParleyFunction(this, `${name}Function`, {
          name,
          tables: tables.byName,
          queues: queues.byName,
          stage,
          environment: name === connectAuthorizer.function ? authorizerEnv : retention.functions.includes(name) ? retentionEnv : undefined,
          devStack: config.devStack,
          eventBus: this.events.bus,
          reservedConcurrency: name === 'catchup' ? config.catchupReservedConcurrency : undefined,
        }),
    );
    this.webSocket.addRoutes(mapRecord(this.functions, (fn) => fn.function));
    this.serverApi = new ParleyServerApi(this, 'ServerApi', { handler: this.functions[serverApiDefinition.function].function, devStack: config.devStack });
    if (config.archive) {
      this.archive = new ParleyArchive(this, 'Archive', { tables: tables.byName, queues: queues.byName, stage, devStack: config.devStack });
      this.archive.grantErasure(this.functions[serverApiDefinition.function]);
      new CfnOutput(this, 'ArchiveBucketName', { value: this.archive.bucket.bucketName });
    }

    this.operations = new ParleyOperations(this, 'Operations', {
      stage,
      functions: this.functions,
      tables: tables.byName,
      queues: queues.byName,
      deadLetterQueues: {
        ...queues.deadLetterQueues,
        ...Object.fromEntries(
          Object.values(this.functions).flatMap((fn) => Object.entries(fn.streamDeadLetterQueues).map(([source, dlq]) => [`${source}Stream`, dlq])),
        ),
        ...(this.archive ? { archiveStream: this.archive.deadLetterQueue } : {}),
        ...(this.events.webhookDeadLetterQueue ? { webhook: this.events.webhookDeadLetterQueue } : {}),
      },
      latencyP99ThresholdMs: config.latencyP99ThresholdMs,
      fanoutLagP99ThresholdMs: config.fanoutLagP99ThresholdMs,
      alarmEmail: config.alarmEmail,
    });

    // The API's own endpoint: on AWS identical to stage.url, and the address LocalStack really serves.
    new CfnOutput(this, 'WebSocketUrl', { value: `${this.webSocket.api.apiEndpoint}/${stage.stageName}` });
    new CfnOutput(this, 'CallbackUrl', { value: stage.callbackUrl });
    new CfnOutput(this, 'JwtIssuer', { value: this.identity.issuer });
    if (this.identity.userPool && this.identity.userPoolClient) {
      new CfnOutput(this, 'UserPoolId', { value: this.identity.userPool.userPoolId });
      new CfnOutput(this, 'UserPoolClientId', { value: this.identity.userPoolClient.userPoolClientId });
    }
    for (const [name, table] of Object.entries(tables.byName)) {
      new CfnOutput(this, `${pascal(name)}TableName`, { value: table.tableName });
    }
    for (const [name, queue] of Object.entries(queues.byName)) {
      new CfnOutput(this, `${pascal(name)}QueueUrl`, { value: queue.queueUrl });
      new CfnOutput(this, `${pascal(name)}DlqUrl`, { value: queues.deadLetterQueues[name as keyof typeof queues.byName].queueUrl });
    }
    new CfnOutput(this, 'EventBusName', { value: this.events.bus.eventBusName });
    if (this.events.webhookDeadLetterQueue) new CfnOutput(this, 'WebhookDlqUrl', { value: this.events.webhookDeadLetterQueue.queueUrl });
    if (this.operations.topic) new CfnOutput(this, 'AlarmTopicArn', { value: this.operations.topic.topicArn });
  }
}

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
