import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { defaultConfig } from '../lib/config.js';
import {
  streamSources,
  type AnyFunctionName,
  type FunctionName,
  type QueueName,
  type RouteDefinition,
  type StreamSourceDefinition,
  type StreamSourceName,
  type StreamViewType,
  type TableName,
} from '../lib/definitions.js';
import { ParleyStack } from '../lib/parley-stack.js';
import { mapRecord } from '../lib/records.js';
import { localAccount, type LocalStatement } from './iam.js';

/** A CloudFormation template as JSON. */
export interface CfnTemplate {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
}

/** The synthesized stack and the logical ids the local stack maps onto its own resources. */
export interface SynthesizedStack {
  template: CfnTemplate;
  /** Every function's role, the archive consumer's only when the archive is on. */
  roles: Record<FunctionName, string> & Partial<Record<AnyFunctionName, string>>;
  /** Every function's `AWS::Lambda::Function` resource, likewise. */
  functions: Record<FunctionName, string> & Partial<Record<AnyFunctionName, string>>;
  tables: Record<TableName, string>;
  queues: Record<QueueName, string>;
  deadLetterQueues: Record<QueueName, string>;
  webSocketApi: string;
  eventBus: string;
}

const cdkJson = new URL('../cdk.json', import.meta.url);

/**
 * Synthesizes the CDK stack in-process, offline and without bundling (the local stack runs the sources; the template
 * is read for what it grants), with the emulator's stage name so ARNs line up, and with the archive when it runs.
 */
export function synthesizeStack(stageName: string, options: { archive?: boolean } = {}): SynthesizedStack {
  const outdir = mkdtempSync(join(tmpdir(), 'parley-local-synth-'));
  try {
    const context = (JSON.parse(readFileSync(cdkJson, 'utf8')) as { context: Record<string, unknown> }).context;
    const app = new App({ outdir, context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    const stack = new ParleyStack(app, 'Parley', { config: { ...defaultConfig, stageName, devStack: true, archive: options.archive ?? false } });
    const template = app.synth().getStackByName(stack.stackName).template as CfnTemplate;
    return {
      template,
      roles: { ...mapRecord(stack.functions, (fn) => logicalId(fn.role)), ...(stack.archive ? { archive: logicalId(stack.archive.consumer.role) } : {}) },
      functions: {
        ...mapRecord(stack.functions, (fn) => logicalId(fn.function)),
        ...(stack.archive ? { archive: logicalId(stack.archive.consumer.function) } : {}),
      },
      tables: mapRecord(stack.tables.byName, logicalId),
      queues: mapRecord(stack.queues.byName, logicalId),
      deadLetterQueues: mapRecord(stack.queues.deadLetterQueues, logicalId),
      webSocketApi: logicalId(stack.webSocket.api),
      eventBus: logicalId(stack.events.bus),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function logicalId(construct: IConstruct): string {
  const resource = construct instanceof CfnElement ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnElement)) throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return Stack.of(resource).resolve(resource.logicalId) as string;
}

/** The physical names and ids the local stack gave the template's resources. */
export interface LocalResources {
  region: string;
  tableNames: Record<TableName, string>;
  queueNames: Record<QueueName, string>;
  deadLetterQueueNames: Record<QueueName, string>;
  webSocketApiId: string;
  /** What a queue's `Ref` is (its URL); only the function environments need it. */
  queueUrls?: Record<QueueName, string>;
  eventBusName?: string;
}

/**
 * Resolves `Ref`, `Fn::GetAtt` and `Fn::Join` of the template to the local stack's names and ARNs. A resource the local
 * stack does not have resolves to `unresolved:...`, a name no call uses.
 */
function resolver(synthesized: SynthesizedStack, local: LocalResources): (value: unknown) => string {
  const arns = new Map<string, string>();
  const refs = new Map<string, string>();
  for (const [name, id] of Object.entries(synthesized.tables) as [TableName, string][]) {
    const arn = `arn:aws:dynamodb:${local.region}:${localAccount}:table/${local.tableNames[name]}`;
    arns.set(`${id}.Arn`, arn);
    arns.set(`${id}.StreamArn`, `${arn}/stream/*`);
    refs.set(id, local.tableNames[name]);
  }
  const queue = (id: string, queueName: string) => {
    arns.set(`${id}.Arn`, `arn:aws:sqs:${local.region}:${localAccount}:${queueName}`);
    arns.set(`${id}.QueueName`, queueName);
  };
  for (const [name, id] of Object.entries(synthesized.queues) as [QueueName, string][]) {
    queue(id, local.queueNames[name]);
    if (local.queueUrls) refs.set(id, local.queueUrls[name]);
  }
  for (const [name, id] of Object.entries(synthesized.deadLetterQueues) as [QueueName, string][]) queue(id, local.deadLetterQueueNames[name]);
  refs.set(synthesized.webSocketApi, local.webSocketApiId);
  if (local.eventBusName) refs.set(synthesized.eventBus, local.eventBusName);
  refs.set('AWS::Partition', 'aws');
  refs.set('AWS::Region', local.region);
  refs.set('AWS::AccountId', localAccount);
  refs.set('AWS::URLSuffix', 'amazonaws.com');

  const resolve = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const intrinsic = (value ?? {}) as Record<string, unknown>;
    if ('Ref' in intrinsic) return refs.get(String(intrinsic.Ref)) ?? `unresolved:${String(intrinsic.Ref)}`;
    if ('Fn::GetAtt' in intrinsic) {
      const [id, attribute] = intrinsic['Fn::GetAtt'] as [string, string];
      return arns.get(`${id}.${attribute}`) ?? `unresolved:${id}.${attribute}`;
    }
    if ('Fn::Join' in intrinsic) {
      const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(separator);
    }
    return `unresolved:${JSON.stringify(value)}`;
  };
  return resolve;
}

/**
 * Every function's role policy from the template, with `Ref`, `Fn::GetAtt` and `Fn::Join` resolved to local ARNs.
 * A resource the local stack does not have resolves to a name no call uses, so it can never allow one.
 */
export function rolePolicies(synthesized: SynthesizedStack, local: LocalResources): Partial<Record<AnyFunctionName, LocalStatement[]>> {
  const resolve = resolver(synthesized, local);
  const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

  const policies = Object.fromEntries(Object.keys(synthesized.roles).map((name) => [name, [] as LocalStatement[]])) as Record<
    AnyFunctionName,
    LocalStatement[]
  >;
  const functionOfRole = new Map(Object.entries(synthesized.roles).map(([name, id]) => [id, name as AnyFunctionName]));
  for (const resource of Object.values(synthesized.template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const properties = resource.Properties as {
      Roles?: { Ref?: string }[];
      PolicyDocument: { Statement: { Effect: 'Allow' | 'Deny'; Action: string | string[]; Resource: unknown; Condition?: unknown }[] };
    };
    for (const role of properties.Roles ?? []) {
      const functionName = role.Ref ? functionOfRole.get(role.Ref) : undefined;
      if (!functionName) continue;
      for (const statement of properties.PolicyDocument.Statement) {
        policies[functionName].push({
          effect: statement.Effect,
          actions: list(statement.Action),
          resources: list(statement.Resource as unknown).map(resolve),
          conditional: statement.Condition !== undefined,
        });
      }
    }
  }
  return policies;
}

/** How the template configures one function's execution environment. */
export interface FunctionSettings {
  /** `Environment.Variables`, resolved to the local resources' names. */
  environment: Record<string, string>;
  timeoutSeconds: number;
  memorySize: number;
  reservedConcurrency?: number;
}

/**
 * Each function's environment, timeout, memory and reserved concurrency as the template deploys them. `replace` gives
 * the local value of variables whose resource the local stack swaps for its own (the callback URL, the identity
 * provider): it applies only to variables the function's template environment has.
 */
export function functionSettings(
  synthesized: SynthesizedStack,
  local: LocalResources,
  replace: Record<string, string> = {},
): Record<FunctionName, FunctionSettings> & Partial<Record<AnyFunctionName, FunctionSettings>> {
  const resolve = resolver(synthesized, local);
  return mapRecord(synthesized.functions as Record<AnyFunctionName, string>, (id) => {
    const resource = synthesized.template.Resources[id];
    if (resource?.Type !== 'AWS::Lambda::Function') throw new Error(`the template has no function ${id}`);
    const properties = resource.Properties as {
      Environment?: { Variables?: Record<string, unknown> };
      Timeout?: number;
      MemorySize?: number;
      ReservedConcurrentExecutions?: number;
    };
    const variables = properties.Environment?.Variables ?? {};
    return {
      environment: Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, replace[name] ?? resolve(value)])),
      // Lambda's defaults when the template leaves them out.
      timeoutSeconds: properties.Timeout ?? 3,
      memorySize: properties.MemorySize ?? 128,
      reservedConcurrency: properties.ReservedConcurrentExecutions,
    };
  });
}

/** The function whose `AWS::Lambda::Function` resource has this logical id. */
function functionOfId(synthesized: SynthesizedStack, id: string | undefined): AnyFunctionName | undefined {
  return (Object.entries(synthesized.functions) as [AnyFunctionName, string][]).find(([, functionId]) => functionId === id)?.[0];
}

/** An SQS queue as the template creates it: its attributes, and its dead-letter queue's with the redrive's receive count. */
export interface QueueSettings {
  /** SQS attributes (`VisibilityTimeout`, `MessageRetentionPeriod`, ...) as `CreateQueue` takes them. */
  attributes: Record<string, string>;
  deadLetterQueue?: { attributes: Record<string, string>; maxReceiveCount: number };
}

/** The `AWS::SQS::Queue` properties that are queue attributes of the same name. */
const queueAttributes = ['VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds', 'MaximumMessageSize', 'ReceiveMessageWaitTimeSeconds'];

function queueResource(synthesized: SynthesizedStack, id: string): Record<string, unknown> {
  const resource = synthesized.template.Resources[id];
  if (resource?.Type !== 'AWS::SQS::Queue') throw new Error(`the template has no queue ${id}`);
  return resource.Properties ?? {};
}

/** A queue's attributes from its template properties (SQS's defaults for those left out). */
export function sqsAttributes(properties: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(queueAttributes.filter((name) => properties[name] !== undefined).map((name) => [name, String(properties[name])]));
}

/** Each queue's attributes and redrive policy as the template deploys them. */
export function queueSettings(synthesized: SynthesizedStack): Record<QueueName, QueueSettings> {
  return mapRecord(synthesized.queues, (id) => {
    const properties = queueResource(synthesized, id);
    const redrive = properties.RedrivePolicy as { deadLetterTargetArn?: { 'Fn::GetAtt'?: [string, string] }; maxReceiveCount?: number } | undefined;
    const dlqId = redrive?.deadLetterTargetArn?.['Fn::GetAtt']?.[0];
    return {
      attributes: sqsAttributes(properties),
      ...(dlqId && redrive?.maxReceiveCount !== undefined
        ? { deadLetterQueue: { attributes: sqsAttributes(queueResource(synthesized, dlqId)), maxReceiveCount: redrive.maxReceiveCount } }
        : {}),
    };
  });
}

/** An SQS event source mapping as the template configures it. */
export interface SqsEventSourceSettings {
  consumer: AnyFunctionName;
  batchSize: number;
  maxBatchingWindowSeconds: number;
  /** `FunctionResponseTypes` has `ReportBatchItemFailures`: only the reported records of a batch are retried. */
  reportBatchItemFailures: boolean;
  /** `ScalingConfig.MaximumConcurrency`; unset, Lambda scales up to 1,250 concurrent batches per queue. */
  maximumConcurrency?: number;
}

/** The event source mapping of each queue that has one (a queue no function reads is left out). */
export function sqsEventSources(synthesized: SynthesizedStack): Partial<Record<QueueName, SqsEventSourceSettings>> {
  const sources: Partial<Record<QueueName, SqsEventSourceSettings>> = {};
  for (const [queue, id] of Object.entries(synthesized.queues) as [QueueName, string][]) {
    const mapping = Object.values(synthesized.template.Resources).find((resource) => {
      if (resource.Type !== 'AWS::Lambda::EventSourceMapping') return false;
      const source = resource.Properties?.EventSourceArn as { 'Fn::GetAtt'?: [string, string] } | undefined;
      return source?.['Fn::GetAtt']?.[0] === id;
    });
    if (!mapping) continue;
    const properties = mapping.Properties as {
      FunctionName: { Ref?: string };
      BatchSize?: number;
      MaximumBatchingWindowInSeconds?: number;
      FunctionResponseTypes?: string[];
      ScalingConfig?: { MaximumConcurrency?: number };
    };
    const consumer = functionOfId(synthesized, properties.FunctionName.Ref);
    if (!consumer) throw new Error(`the event source mapping of queue ${queue} invokes no function of the stack`);
    sources[queue] = {
      consumer,
      // Lambda's defaults for an SQS source.
      batchSize: properties.BatchSize ?? 10,
      maxBatchingWindowSeconds: properties.MaximumBatchingWindowInSeconds ?? 0,
      reportBatchItemFailures: properties.FunctionResponseTypes?.includes('ReportBatchItemFailures') ?? false,
      maximumConcurrency: properties.ScalingConfig?.MaximumConcurrency,
    };
  }
  return sources;
}

/** A DynamoDB table as the template creates it, in `CreateTable`'s terms. */
export interface TableSettings {
  keySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  attributeDefinitions: { AttributeName: string; AttributeType: 'S' | 'N' | 'B' }[];
  globalSecondaryIndexes?: { IndexName: string; KeySchema: TableSettings['keySchema']; Projection: Record<string, unknown> }[];
  /** The stream's view type when the table has a stream. */
  streamViewType?: StreamViewType;
  /** The TTL attribute when TTL is on. */
  timeToLiveAttribute?: string;
}

/** Each table's keys, indexes, stream and TTL as the template deploys them. */
export function tableSettings(synthesized: SynthesizedStack): Record<TableName, TableSettings> {
  return mapRecord(synthesized.tables, (id) => {
    const resource = synthesized.template.Resources[id];
    if (resource?.Type !== 'AWS::DynamoDB::Table') throw new Error(`the template has no table ${id}`);
    const properties = resource.Properties as {
      KeySchema: TableSettings['keySchema'];
      AttributeDefinitions: TableSettings['attributeDefinitions'];
      GlobalSecondaryIndexes?: TableSettings['globalSecondaryIndexes'];
      StreamSpecification?: { StreamViewType?: StreamViewType };
      TimeToLiveSpecification?: { AttributeName?: string; Enabled?: boolean };
    };
    const ttl = properties.TimeToLiveSpecification;
    return {
      keySchema: properties.KeySchema,
      attributeDefinitions: properties.AttributeDefinitions,
      ...(properties.GlobalSecondaryIndexes ? { globalSecondaryIndexes: properties.GlobalSecondaryIndexes } : {}),
      ...(properties.StreamSpecification?.StreamViewType ? { streamViewType: properties.StreamSpecification.StreamViewType } : {}),
      ...(ttl?.Enabled && ttl.AttributeName ? { timeToLiveAttribute: ttl.AttributeName } : {}),
    };
  });
}

/** The WebSocket API as the template deploys it: how routes are selected, each route's function, and the authorizer. */
export interface WebSocketApiSettings {
  routeSelectionExpression: string;
  routes: RouteDefinition[];
  /** The REQUEST authorizer's function (on `$connect`). */
  authorizer: FunctionName;
}

/** The function a Lambda proxy integration or authorizer URI invokes (`…/functions/<Fn::GetAtt [id, Arn]>/invocations`). */
function invokedFunction(synthesized: SynthesizedStack, uri: unknown): FunctionName {
  const parts = ((uri as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join']?.[1] ?? []) as { 'Fn::GetAtt'?: [string, string] }[];
  const id = parts.find((part) => part['Fn::GetAtt']?.[1] === 'Arn')?.['Fn::GetAtt']?.[0];
  const name = functionOfId(synthesized, id) as FunctionName | undefined;
  if (!name) throw new Error(`the template invokes no function of the stack through ${JSON.stringify(uri)}`);
  return name;
}

/** The routes, their integrations' functions, their route responses and the authorizer of the stack's WebSocket API. */
export function webSocketApiSettings(synthesized: SynthesizedStack): WebSocketApiSettings {
  const resources = Object.entries(synthesized.template.Resources);
  const ofApi = (type: string) =>
    resources.filter(
      ([, resource]) => resource.Type === type && (resource.Properties?.ApiId as { Ref?: string } | undefined)?.Ref === synthesized.webSocketApi,
    );
  const api = synthesized.template.Resources[synthesized.webSocketApi]?.Properties as { RouteSelectionExpression?: string } | undefined;
  if (!api?.RouteSelectionExpression) throw new Error('the template has no WebSocket API with a route selection expression');
  const integrations = new Map(
    ofApi('AWS::ApiGatewayV2::Integration').map(([id, resource]) => [id, invokedFunction(synthesized, resource.Properties?.IntegrationUri)]),
  );
  const withResponse = new Set(
    ofApi('AWS::ApiGatewayV2::RouteResponse').map(([, resource]) => (resource.Properties?.RouteId as { Ref?: string } | undefined)?.Ref),
  );
  const authorizers = ofApi('AWS::ApiGatewayV2::Authorizer');
  if (authorizers.length !== 1) throw new Error(`the WebSocket API has ${authorizers.length} authorizers; the local stack emulates one, on $connect`);
  const routes = ofApi('AWS::ApiGatewayV2::Route').map(([id, resource]): RouteDefinition => {
    const properties = resource.Properties as { RouteKey: string; Target?: { 'Fn::Join'?: [string, { Ref?: string }[]] } };
    const integration = properties.Target?.['Fn::Join']?.[1].find((part) => part.Ref)?.Ref;
    const fn = integration ? integrations.get(integration) : undefined;
    if (!fn) throw new Error(`route ${properties.RouteKey} has no Lambda integration in the template`);
    return { routeKey: properties.RouteKey, function: fn, returnResponse: withResponse.has(id) };
  });
  return {
    routeSelectionExpression: api.RouteSelectionExpression,
    routes,
    authorizer: invokedFunction(synthesized, authorizers[0]![1].Properties?.AuthorizerUri),
  };
}

/**
 * The DynamoDB stream event source mappings of the deployed functions, named like `streamSources` (the consumer and
 * the table identify each), with every setting read from the template: batching, starting position, retries, bisect,
 * record age, parallelization, filters and the on-failure queue's retention.
 */
export function streamEventSources(synthesized: SynthesizedStack): Partial<Record<StreamSourceName, StreamSourceDefinition>> {
  const resources = synthesized.template.Resources;
  const tableOf = new Map(Object.entries(synthesized.tables).map(([name, id]) => [id, name as TableName]));
  const sources: Partial<Record<StreamSourceName, StreamSourceDefinition>> = {};
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::Lambda::EventSourceMapping') continue;
    const properties = resource.Properties as {
      EventSourceArn: { 'Fn::GetAtt'?: [string, string] };
      FunctionName: { Ref?: string };
      BatchSize?: number;
      MaximumBatchingWindowInSeconds?: number;
      StartingPosition?: 'TRIM_HORIZON' | 'LATEST';
      BisectBatchOnFunctionError?: boolean;
      MaximumRetryAttempts?: number;
      MaximumRecordAgeInSeconds?: number;
      ParallelizationFactor?: number;
      FilterCriteria?: { Filters?: { Pattern: string }[] };
      DestinationConfig?: { OnFailure?: { Destination?: { 'Fn::GetAtt'?: [string, string] } } };
    };
    const [sourceId, attribute] = properties.EventSourceArn['Fn::GetAtt'] ?? [];
    if (attribute !== 'StreamArn') continue;
    const table = tableOf.get(sourceId!);
    const consumer = functionOfId(synthesized, properties.FunctionName.Ref);
    const name = (Object.keys(streamSources) as StreamSourceName[]).find(
      (key) => streamSources[key].consumer === consumer && streamSources[key].table === table,
    );
    if (!table || !consumer || !name) throw new Error(`a stream event source mapping of the template reads no stream source of lib/definitions.ts`);
    const dlqId = properties.DestinationConfig?.OnFailure?.Destination?.['Fn::GetAtt']?.[0];
    const retention = dlqId ? Number(resources[dlqId]?.Properties?.MessageRetentionPeriod ?? 4 * 86400) : undefined;
    if (retention === undefined) throw new Error(`the stream source ${name} has no on-failure queue in the template`);
    // Lambda's defaults for a stream source where the template leaves a setting out.
    sources[name] = {
      table,
      consumer,
      batchSize: properties.BatchSize ?? 100,
      maxBatchingWindowSeconds: properties.MaximumBatchingWindowInSeconds ?? 0,
      startingPosition: properties.StartingPosition ?? 'TRIM_HORIZON',
      bisectBatchOnFunctionError: properties.BisectBatchOnFunctionError ?? false,
      maximumRetryAttempts: properties.MaximumRetryAttempts ?? -1,
      maximumRecordAgeSeconds: properties.MaximumRecordAgeInSeconds ?? -1,
      parallelizationFactor: properties.ParallelizationFactor ?? 1,
      filters: (properties.FilterCriteria?.Filters ?? []).map((filter) => JSON.parse(filter.Pattern) as Record<string, unknown>),
      dlqRetentionDays: retention / 86400,
    };
  }
  return sources;
}
