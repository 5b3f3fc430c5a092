import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import {
  catchupActions,
  commonEnv,
  connectAuthorizer,
  eventBus,
  functions,
  queues,
  routes,
  streamSources,
  routeSelectionExpression,
  tables,
  type FunctionDefinition,
  type FunctionName,
  type QueueDefinition,
  type QueueName,
  type StreamSourceDefinition,
  type StreamSourceName,
  type TableDefinition,
  type TableName,
} from '../../lib/definitions.js';
import { bundleExternalModules } from '../../lib/bundling.js';
import { baseEnvironment } from '../../lib/parley-function.js';
import { metricDefinitions, metricNamespace, serviceName, stackNameEnvVar } from '../../lib/telemetry.js';
import { accessLogFields } from '../../lib/websocket-api.js';
import { allowedPairs, logicalId, render, synthesize } from './synth.js';

// One synth with real bundling for the whole file: it is the slow part.
const { stack, template, outdir, cleanup } = synthesize();
afterAll(cleanup);

const tableDefinitions = Object.entries(tables) as [TableName, TableDefinition][];
const functionDefinitions = Object.entries(functions) as [FunctionName, FunctionDefinition][];
const queueDefinitions = Object.entries(queues) as [QueueName, QueueDefinition][];
// The stream sources of the functions every deployment has (the archive's: test/infra/archive.test.ts).
const streamDefinitions = (Object.entries(streamSources) as [StreamSourceName, StreamSourceDefinition][]).filter(
  (entry): entry is [StreamSourceName, StreamSourceDefinition & { consumer: FunctionName }] => entry[1].consumer in functions,
);

const tableId = (name: TableName) => logicalId(stack.node.findChild('Tables').node.findChild(name));
const queueId = (name: QueueName) => logicalId(stack.node.findChild('Queues').node.findChild(name));
const dlqId = (name: QueueName) => logicalId(stack.node.findChild('Queues').node.findChild(`${name}Dlq`));
const fn = (name: FunctionName) => stack.functions[name];
const functionId = (name: FunctionName) => logicalId(fn(name).function);
const apiId = logicalId(stack.webSocket.api);

describe('tables', () => {
  it('creates exactly the tables of the definitions', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', tableDefinitions.length);
  });

  it.each(tableDefinitions)('%s: keys, indexes, TTL, on-demand, PITR, encryption, retention', (name, definition) => {
    const resource = template.toJSON().Resources[tableId(name)];
    const keySchema = (partitionKey: { name: string }, sortKey?: { name: string }) => [
      { AttributeName: partitionKey.name, KeyType: 'HASH' },
      ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' }] : []),
    ];
    const keys = [
      definition.partitionKey,
      definition.sortKey,
      ...(definition.globalSecondaryIndexes ?? []).flatMap((index) => [index.partitionKey, index.sortKey]),
    ];
    const attributes = new Map(keys.filter((key) => key !== undefined).map((key) => [key.name, key.type]));

    expect(resource.Properties).toMatchObject({
      KeySchema: keySchema(definition.partitionKey, definition.sortKey),
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect(resource.Properties.AttributeDefinitions).toEqual(
      expect.arrayContaining([...attributes].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }))),
    );
    expect(resource.Properties.AttributeDefinitions).toHaveLength(attributes.size);
    expect(resource.Properties.TimeToLiveSpecification).toEqual(
      definition.timeToLiveAttribute ? { AttributeName: definition.timeToLiveAttribute, Enabled: true } : undefined,
    );
    expect(resource.Properties.GlobalSecondaryIndexes).toEqual(
      definition.globalSecondaryIndexes?.map((index) => ({
        IndexName: index.indexName,
        KeySchema: keySchema(index.partitionKey, index.sortKey),
        Projection: { ProjectionType: 'ALL' },
      })),
    );
    expect(resource.DeletionPolicy).toBe(definition.retainInProduction ? 'Retain' : 'Delete');
    expect(resource.Properties.DeletionProtectionEnabled ?? false).toBe(definition.retainInProduction);
  });
});

describe('queues', () => {
  it.each(queueDefinitions)('%s: SSE, TLS only, visibility timeout and redrive to its DLQ', (name, definition) => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: definition.visibilityTimeoutSeconds,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId(name), 'Arn'] }, maxReceiveCount: definition.maxReceiveCount },
    });
    const dlq = template.toJSON().Resources[dlqId(name)];
    expect(dlq.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: definition.dlqRetentionDays * 86_400 });
    expect(definition.visibilityTimeoutSeconds).toBeGreaterThanOrEqual(functions[definition.consumer].timeoutSeconds);
    for (const queue of [queueId(name), dlqId(name)]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queue }],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
    }
  });

  it.each(queueDefinitions)('%s: its consumer polls it with partial batch failures and bounded concurrency', (name, definition) => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionId(definition.consumer) },
      EventSourceArn: { 'Fn::GetAtt': [queueId(name), 'Arn'] },
      BatchSize: definition.batchSize,
      MaximumBatchingWindowInSeconds: definition.maxBatchingWindowSeconds,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: definition.maximumConcurrency },
    });
  });
});

describe('event stream', () => {
  it.each(streamDefinitions)(
    '%s: the stream is on, and its consumer reads it with partial batch responses, bisect, bounded retries and an on-failure queue',
    (source, definition) => {
      const table = template.toJSON().Resources[tableId(definition.table)];
      expect(table.Properties.StreamSpecification).toEqual({ StreamViewType: (tables as Record<TableName, TableDefinition>)[definition.table].stream });
      const dlq = fn(definition.consumer).streamDeadLetterQueues[source]!;
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: functionId(definition.consumer) },
        EventSourceArn: { 'Fn::GetAtt': [tableId(definition.table), 'StreamArn'] },
        BatchSize: definition.batchSize,
        MaximumBatchingWindowInSeconds: definition.maxBatchingWindowSeconds,
        StartingPosition: definition.startingPosition,
        BisectBatchOnFunctionError: definition.bisectBatchOnFunctionError,
        MaximumRetryAttempts: definition.maximumRetryAttempts,
        ParallelizationFactor: definition.parallelizationFactor,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        FilterCriteria: { Filters: definition.filters.map((pattern) => ({ Pattern: JSON.stringify(pattern) })) },
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(dlq), 'Arn'] } } },
      });
      expect(template.toJSON().Resources[logicalId(dlq)].Properties).toMatchObject({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: definition.dlqRetentionDays * 86_400,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(dlq), 'QueueName'] } }],
        Threshold: 0,
      });
    },
  );

  it('streams exactly the tables a stream source reads', () => {
    const streamed = Object.entries(template.findResources('AWS::DynamoDB::Table'))
      .filter(([, resource]) => resource.Properties.StreamSpecification)
      .map(([id]) => id)
      .sort();
    expect(streamed).toEqual([...new Set(streamDefinitions.map(([, definition]) => tableId(definition.table)))].sort());
  });

  it('has one event bus, tells the consumer its name, and no webhook without the context setting', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
    const variables = template.toJSON().Resources[functionId('streamEvents')].Properties.Environment.Variables;
    expect(variables[eventBus.envVar]).toEqual({ Ref: logicalId(stack.events.bus) });
    template.resourceCountIs('AWS::Events::Rule', 0);
    template.resourceCountIs('AWS::Events::ApiDestination', 0);
    template.resourceCountIs('AWS::Events::Connection', 0);
  });
});

describe('functions', () => {
  it('creates exactly the functions of the definitions (no helper functions such as log retention)', () => {
    template.resourceCountIs('AWS::Lambda::Function', functionDefinitions.length);
  });

  it.each(functionDefinitions)('%s: Node.js 22 on arm64 with its memory, timeout, log group and environment', (name, definition) => {
    const expected: Record<string, unknown> = { ...baseEnvironment, [stackNameEnvVar]: stack.stackName };
    for (const table of Object.keys(definition.tables) as TableName[]) expected[tables[table].envVar] = { Ref: tableId(table) };
    for (const queue of definition.sendsTo) expected[queues[queue].envVar] = { Ref: queueId(queue) };
    const resource = template.toJSON().Resources[functionId(name)];
    expect(resource.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: definition.memorySize,
      Timeout: definition.timeoutSeconds,
      LoggingConfig: { LogGroup: { Ref: logicalId(fn(name).logGroup) } },
      TracingConfig: { Mode: 'Active' },
    });
    const variables = resource.Properties.Environment.Variables as Record<string, unknown>;
    expect(variables).toMatchObject(expected);
    expect(render(variables[commonEnv.callbackUrl] ?? '')).toBe(
      definition.postsToConnections ? `https://{${apiId}}.execute-api.{AWS::Region}.{AWS::URLSuffix}/prod` : '',
    );
    const log = template.toJSON().Resources[logicalId(fn(name).logGroup)];
    expect(log.Properties.RetentionInDays).toBeGreaterThan(0);
  });

  it('bundles each handler as minified ESM with a source map, the AWS SDK inside and zod in English only', () => {
    for (const [name] of functionDefinitions) {
      // The staged asset directory is named after the hash that also names the uploaded zip.
      const key = template.toJSON().Resources[functionId(name)].Properties.Code.S3Key as string;
      const asset = `asset.${key.replace(/\.zip$/, '')}`;
      const code = readFileSync(join(outdir, asset, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire } from 'node:module';")).toBe(true);
      expect(existsSync(join(outdir, asset, 'index.mjs.map'))).toBe(true);
      expect(code).not.toMatch(/from\s*["']@aws-sdk\//);
      // What is left out is loaded with import() only, and only the credential providers of lib/bundling.ts.
      const dynamic = [...code.matchAll(/import\(\s*["'](@[^"']+)["']\s*\)/g)].map((match) => match[1]);
      for (const specifier of dynamic) expect(bundleExternalModules).toContain(specifier);
      // zod's messages in English only: one other locale inside means all 40 are (a `{ z }` import of classic zod).
      expect(code).not.toContain('Eingabe: erwartet');
      // Minified: a few very long lines (template literals and legal comments keep some line breaks).
      expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
    }
  });
});

describe('least privilege', () => {
  // Active tracing: X-Ray's write actions support no resource-level permissions, so they are granted on *.
  const logWrite = (name: FunctionName) => [
    ...['logs:CreateLogStream', 'logs:PutLogEvents'].map((action) => `${action} {${logicalId(fn(name).logGroup)}.Arn}`),
    'xray:PutTelemetryRecords *',
    'xray:PutTraceSegments *',
  ];
  const connectionsArn = `arn:{AWS::Partition}:execute-api:{AWS::Region}:{AWS::AccountId}:{${apiId}}/prod/*/@connections/*`;
  const consume = (queue: QueueName) =>
    ['ChangeMessageVisibility', 'DeleteMessage', 'GetQueueAttributes', 'GetQueueUrl', 'ReceiveMessage'].map(
      (action) => `sqs:${action} {${queueId(queue)}.Arn}`,
    );

  it.each(functionDefinitions)('%s: exactly its DynamoDB actions, queues and @connections', (name, definition) => {
    const expected = [...logWrite(name)];
    for (const [table, grant] of Object.entries(definition.tables) as [TableName, NonNullable<FunctionDefinition['tables'][TableName]>][]) {
      for (const action of grant.table ?? []) expected.push(`dynamodb:${action} {${tableId(table)}.Arn}`);
      for (const [index, actions] of Object.entries(grant.indexes ?? {})) {
        for (const action of actions) expected.push(`dynamodb:${action} {${tableId(table)}.Arn}/index/${index}`);
      }
    }
    for (const queue of definition.sendsTo) expected.push(`sqs:SendMessage {${queueId(queue)}.Arn}`);
    for (const [queue, queueDefinition] of queueDefinitions) if (queueDefinition.consumer === name) expected.push(...consume(queue));
    if (definition.postsToConnections) expected.push(`execute-api:ManageConnections ${connectionsArn}`);
    if (definition.putsEvents) expected.push(`events:PutEvents {${logicalId(stack.events.bus)}.Arn}`);
    for (const [source, stream] of streamDefinitions) {
      if (stream.consumer !== name) continue;
      for (const action of ['DescribeStream', 'GetRecords', 'GetShardIterator', 'ListStreams']) {
        expected.push(`dynamodb:${action} {${tableId(stream.table)}.StreamArn}`);
      }
      expected.push(`sqs:SendMessage {${logicalId(fn(name).streamDeadLetterQueues[source]!)}.Arn}`);
    }

    expect(allowedPairs(template, logicalId(fn(name).role))).toEqual([...new Set(expected)].sort());
  });

  it('spells out the fanout worker: reads to re-check recipients after a membership change, writes to presence, group connections, undelivered and TTLs only', () => {
    // Members GetItem: a removed recipient's removedAtSeq; messages BatchGetItem: the head's membershipSeq;
    // group connections: a group's connection index (Query), and gone connections taken out (BatchWriteItem);
    // users Query: the blocks that hide a user's presence. Retention backfills: the conversation and its head read
    // consistently (GetItem), its timeline (Query), each item's expiresAt and the head's lastExpiresAt (UpdateItem).
    expect(allowedPairs(template, logicalId(fn('fanout').role)).filter((pair) => pair.startsWith('dynamodb:'))).toEqual(
      [
        `dynamodb:BatchGetItem {${tableId('conversations')}.Arn}`,
        `dynamodb:GetItem {${tableId('conversations')}.Arn}`,
        `dynamodb:BatchGetItem {${tableId('messages')}.Arn}`,
        `dynamodb:GetItem {${tableId('messages')}.Arn}`,
        `dynamodb:Query {${tableId('messages')}.Arn}`,
        `dynamodb:UpdateItem {${tableId('messages')}.Arn}`,
        `dynamodb:BatchGetItem {${tableId('presence')}.Arn}`,
        `dynamodb:GetItem {${tableId('members')}.Arn}`,
        `dynamodb:Query {${tableId('members')}.Arn}/index/byUser`,
        `dynamodb:PutItem {${tableId('undelivered')}.Arn}`,
        `dynamodb:Query {${tableId('users')}.Arn}`,
        `dynamodb:UpdateItem {${tableId('presence')}.Arn}`,
        `dynamodb:Query {${tableId('groupConnections')}.Arn}`,
        `dynamodb:BatchWriteItem {${tableId('groupConnections')}.Arn}`,
      ].sort(),
    );
  });

  it('gives the catch-up function reads only, but for seq placeholders and read limits, and @connections', () => {
    const dynamo = (action: string, table: TableName, suffix = '') => `dynamodb:${action} {${tableId(table)}.Arn}${suffix}`;
    expect(allowedPairs(template, logicalId(fn('catchup').role))).toEqual(
      [
        ...logWrite('catchup'),
        `execute-api:ManageConnections ${connectionsArn}`,
        dynamo('GetItem', 'conversations'),
        dynamo('BatchGetItem', 'conversations'),
        dynamo('GetItem', 'members'),
        dynamo('Query', 'members'),
        dynamo('Query', 'members', '/index/byUser'),
        dynamo('GetItem', 'messages'),
        dynamo('BatchGetItem', 'messages'),
        dynamo('Query', 'messages'),
        // A dead seq's `skipped` placeholder, written by whichever reader finds it.
        dynamo('PutItem', 'messages'),
        dynamo('BatchGetItem', 'presence'),
        dynamo('GetItem', 'users'),
        dynamo('BatchGetItem', 'users'),
        dynamo('Query', 'users'),
        dynamo('UpdateItem', 'rateLimits'),
      ].sort(),
    );
  });

  it('routes the catch-up actions to the catch-up function, with the reserved concurrency the context sets', () => {
    for (const action of catchupActions) {
      const [, route] = Object.entries(template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: action } }))[0]!;
      const integrationId = (route.Properties.Target['Fn::Join'][1] as { Ref?: string }[]).find((part) => part.Ref)!.Ref!;
      expect(render(template.toJSON().Resources[integrationId].Properties.IntegrationUri), action).toContain(`{${functionId('catchup')}.Arn}`);
    }
    expect(template.toJSON().Resources[functionId('catchup')].Properties.ReservedConcurrentExecutions).toBeUndefined();
    const reserved = synthesize({ catchupReservedConcurrency: 50 }, { bundle: false });
    try {
      const resources = reserved.template.toJSON().Resources;
      expect(resources[logicalId(reserved.stack.functions.catchup.function)].Properties.ReservedConcurrentExecutions).toBe(50);
      expect(resources[logicalId(reserved.stack.functions.actions.function)].Properties.ReservedConcurrentExecutions).toBeUndefined();
    } finally {
      reserved.cleanup();
    }
  });

  it('the authorizer may only write its logs and traces and read ban items', () => {
    expect(allowedPairs(template, logicalId(fn('authorizer').role))).toEqual([...logWrite('authorizer'), `dynamodb:GetItem {${tableId('users')}.Arn}`].sort());
  });

  it('grants no wildcard actions and no managed policies to function roles', () => {
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      const statements = (policy.Properties as { PolicyDocument: { Statement: { Action: string | string[] }[] } }).PolicyDocument.Statement;
      for (const statement of statements) {
        for (const action of [statement.Action].flat()) expect(action).not.toContain('*');
      }
    }
    for (const [name] of functionDefinitions) {
      expect(template.toJSON().Resources[logicalId(fn(name).role)].Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('WebSocket API', () => {
  // The server API (test/infra/server-api.test.ts) is an API Gateway v2 API too.
  const ofWebSocketApi = { Properties: { ApiId: { Ref: apiId } } };
  it('selects routes by the definitions expression', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: routeSelectionExpression,
    });
  });

  it('has one route per definitions route, each integrated with its function', () => {
    expect(Object.keys(template.findResources('AWS::ApiGatewayV2::Route', ofWebSocketApi))).toHaveLength(routes.length);
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
    for (const route of routes) {
      const found = Object.values(template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: route.routeKey } }));
      expect(found, route.routeKey).toHaveLength(1);
      const target = render(found[0]!.Properties.Target).match(/^integrations\/\{(.+)\}$/)?.[1];
      expect(integrations[target!]?.Properties.IntegrationType).toBe('AWS_PROXY');
      expect(render(integrations[target!]?.Properties.IntegrationUri)).toContain(`{${functionId(route.function)}.Arn}`);
    }
  });

  it('authorizes $connect, and only $connect, with the authorizer function and no identity sources', () => {
    const authorizers = template.findResources('AWS::ApiGatewayV2::Authorizer');
    expect(Object.keys(authorizers)).toHaveLength(1);
    const [authorizerId, authorizer] = Object.entries(authorizers)[0]!;
    expect(authorizer.Properties).toMatchObject({ AuthorizerType: 'REQUEST', IdentitySource: [] });
    expect(render(authorizer.Properties.AuthorizerUri)).toContain(`{${functionId(connectAuthorizer.function)}.Arn}`);
    for (const route of Object.values(template.findResources('AWS::ApiGatewayV2::Route', ofWebSocketApi))) {
      if (route.Properties.RouteKey === '$connect') {
        expect(route.Properties).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: authorizerId } });
      } else {
        expect(route.Properties.AuthorizationType).toBe('NONE');
        expect(route.Properties.AuthorizerId).toBeUndefined();
      }
    }
  });

  it('returns the integration response on two-way routes only', () => {
    const twoWay = routes.filter((route) => route.returnResponse);
    template.resourceCountIs('AWS::ApiGatewayV2::RouteResponse', twoWay.length);
    for (const route of routes) {
      const [id, resource] = Object.entries(template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: route.routeKey } }))[0]!;
      expect(resource.Properties.RouteResponseSelectionExpression).toBe(route.returnResponse ? '$default' : undefined);
      const responses = template.findResources('AWS::ApiGatewayV2::RouteResponse', {
        Properties: { RouteId: { Ref: id }, RouteResponseKey: '$default' },
      });
      expect(Object.keys(responses), route.routeKey).toHaveLength(route.returnResponse ? 1 : 0);
    }
  });

  it('deploys a throttled prod stage with JSON access logs that never include the token', () => {
    const stages = Object.values(template.findResources('AWS::ApiGatewayV2::Stage', ofWebSocketApi));
    expect(stages).toHaveLength(1);
    const properties = stages[0]!.Properties;
    expect(properties).toMatchObject({
      StageName: 'prod',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [logicalId(stack.webSocket.accessLogs), 'Arn'] } },
    });
    const format = properties.AccessLogSettings.Format as string;
    expect(JSON.parse(format)).toEqual(accessLogFields);
    expect(format).toContain('$context.connectionId');
    expect(format).toContain('$context.authorizer.error');
    expect(format).not.toMatch(/querystring|header|\$input|\$request/i);
  });

  it('sets the account CloudWatch role API Gateway needs for logs, and keeps it on delete', () => {
    const accounts = template.findResources('AWS::ApiGateway::Account');
    expect(Object.values(accounts)).toHaveLength(1);
    expect(Object.values(accounts)[0]!.DeletionPolicy).toBe('Retain');
    template.hasResource('AWS::ApiGatewayV2::Stage', { DependsOn: Object.keys(accounts) });
  });
});

describe('identity (Cognito)', () => {
  it('creates a retained user pool with a strong password policy and a public app client', () => {
    template.hasResource('AWS::Cognito::UserPool', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        DeletionProtection: 'ACTIVE',
        Policies: {
          PasswordPolicy: Match.objectLike({ MinimumLength: 12, RequireLowercase: true, RequireUppercase: true, RequireNumbers: true, RequireSymbols: true }),
        },
      }),
    });
    template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      GenerateSecret: false,
    });
    const [client] = Object.values(template.findResources('AWS::Cognito::UserPoolClient'));
    expect([...client!.Properties.ExplicitAuthFlows].sort()).toEqual(['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_USER_SRP_AUTH']);
  });

  it("points the authorizer at the pool's issuer and JWKS, with the app client as audience", () => {
    const pool = logicalId(stack.identity.userPool!);
    const variables = template.toJSON().Resources[functionId('authorizer')].Properties.Environment.Variables;
    expect(render(variables[commonEnv.jwtIssuer])).toBe(`https://{${pool}.ProviderURL}`);
    expect(render(variables[commonEnv.jwksUrl])).toBe(`https://{${pool}.ProviderURL}/.well-known/jwks.json`);
    expect(variables[commonEnv.jwtAudience]).toEqual({ Ref: logicalId(stack.identity.userPoolClient!) });
    expect(variables[commonEnv.userIdClaim]).toBe('sub');
  });
});

describe('operations', () => {
  const alarms = () => Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => alarm.Properties);

  it('alarms when a dead-letter queue holds messages', () => {
    for (const [name] of queueDefinitions) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId(name), 'QueueName'] } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
  });

  it('alarms on throttles of every function and on errors of every function but the authorizer', () => {
    const byMetric = (metric: string) =>
      alarms()
        .filter((alarm) => alarm.Namespace === 'AWS/Lambda' && alarm.MetricName === metric)
        .map((alarm) => (alarm.Dimensions as { Value: { Ref: string } }[])[0]!.Value.Ref)
        .sort();
    const all = functionDefinitions.map(([name]) => functionId(name));
    expect(byMetric('Throttles')).toEqual([...all].sort());
    expect(byMetric('Errors')).toEqual(all.filter((id) => id !== functionId('authorizer')).sort());
    expect(byMetric('Errors')).toContain(functionId('fanout'));
  });

  it('alarms on authorizer failures counted from its ERROR log lines', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logicalId(fn('authorizer').logGroup) },
      FilterPattern: '{ $.level = "ERROR" }',
      MetricTransformations: [Match.objectLike({ MetricName: 'AuthorizerFailures', MetricValue: '1' })],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'AuthorizerFailures', Threshold: 0 });
  });

  it('alarms on the p99 integration latency of the stage', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: 'IntegrationLatency',
      ExtendedStatistic: 'p99',
      Threshold: 200,
      Dimensions: Match.arrayWith([
        { Name: 'ApiId', Value: { Ref: apiId } },
        { Name: 'Stage', Value: 'prod' },
      ]),
    });
  });

  it('alarms on throttled requests of every table and its indexes', () => {
    for (const [name, definition] of tableDefinitions) {
      const alarm = alarms().find((properties) =>
        (properties.Metrics as { MetricStat?: { Metric: { Dimensions: { Value: unknown }[] } } }[] | undefined)?.some(
          (metric) => metric.MetricStat && render(metric.MetricStat.Metric.Dimensions[0]!.Value) === `{${tableId(name)}}`,
        ),
      );
      expect(alarm, name).toBeDefined();
      const metricNames = (alarm!.Metrics as { MetricStat?: { Metric: { MetricName: string } } }[]).flatMap((metric) =>
        metric.MetricStat ? [metric.MetricStat.Metric.MetricName] : [],
      );
      expect(metricNames).toHaveLength(2 * (1 + (definition.globalSecondaryIndexes?.length ?? 0)));
      expect(new Set(metricNames)).toEqual(new Set(['ReadThrottleEvents', 'WriteThrottleEvents']));
    }
  });

  const parleyAlarm = (metricName: string) => alarms().find((alarm) => alarm.Namespace === metricNamespace && alarm.MetricName === metricName);

  it('alarms on the p99 fanout lag above its target, on the metric and dimensions the handlers emit', () => {
    expect(parleyAlarm(metricDefinitions.fanoutLag.name)).toMatchObject({
      ExtendedStatistic: 'p99',
      Threshold: 200,
      EvaluationPeriods: 3,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: [
        { Name: 'service', Value: serviceName },
        { Name: 'stack', Value: stack.stackName },
      ],
    });
  });

  it('alarms on any dead-lettered push', () => {
    expect(parleyAlarm(metricDefinitions.pushesDeadLettered.name)).toMatchObject({
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      Dimensions: [
        { Name: 'service', Value: serviceName },
        { Name: 'stack', Value: stack.stackName },
      ],
    });
  });

  it('graphs every Parley metric on the dashboard, the 410 rate among them', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard!.Properties.DashboardBody);
    for (const { name } of Object.values(metricDefinitions)) expect(body).toContain(`\\"${metricNamespace}\\",\\"${name}\\"`);
    expect(body).toContain('410 Gone (% of pushes)');
  });

  it('has no alarm actions without alarmEmail, and a dashboard', () => {
    for (const alarm of alarms()) expect(alarm.AlarmActions).toBeUndefined();
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('outputs and names', () => {
  it('outputs the endpoints, the user pool, the tables and the queues', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(render(outputs.WebSocketUrl?.Value)).toBe(`{${apiId}.ApiEndpoint}/prod`);
    expect(render(outputs.CallbackUrl?.Value)).toBe(`https://{${apiId}}.execute-api.{AWS::Region}.{AWS::URLSuffix}/prod`);
    expect(outputs.UserPoolId?.Value).toEqual({ Ref: logicalId(stack.identity.userPool!) });
    expect(outputs.UserPoolClientId?.Value).toEqual({ Ref: logicalId(stack.identity.userPoolClient!) });
    for (const [name] of tableDefinitions) {
      expect(outputs[`${name[0]!.toUpperCase()}${name.slice(1)}TableName`]?.Value).toEqual({ Ref: tableId(name) });
    }
    for (const [name] of queueDefinitions) {
      const prefix = `${name[0]!.toUpperCase()}${name.slice(1)}`;
      expect(outputs[`${prefix}QueueUrl`]?.Value).toEqual({ Ref: queueId(name) });
      expect(outputs[`${prefix}DlqUrl`]?.Value).toEqual({ Ref: dlqId(name) });
    }
  });

  it('synthesizes without CDK warnings (deprecated APIs and the like)', () => {
    const annotations = Annotations.fromStack(stack);
    expect([...annotations.findWarning('*', Match.anyValue()), ...annotations.findError('*', Match.anyValue())]).toEqual([]);
  });

  it('hard-codes no physical names', () => {
    const physicalNames = [
      'TableName',
      'QueueName',
      'FunctionName',
      'RoleName',
      'LogGroupName',
      'TopicName',
      'AlarmName',
      'DashboardName',
      'UserPoolName',
      'ClientName',
    ];
    for (const [id, resource] of Object.entries(template.toJSON().Resources as Record<string, { Type: string; Properties?: Record<string, unknown> }>)) {
      // The event source mapping and the metric filter name their function and log group by reference.
      const references = ['AWS::Lambda::EventSourceMapping', 'AWS::Lambda::Permission', 'AWS::Logs::MetricFilter'];
      if (references.includes(resource.Type)) continue;
      for (const key of physicalNames) expect(resource.Properties?.[key], `${id}.${key}`).toBeUndefined();
    }
  });
});
