import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { defaultConfig } from '../lib/config.js';
import type { AnyFunctionName, FunctionName, QueueName, TableName } from '../lib/definitions.js';
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
  tables: Record<TableName, string>;
  queues: Record<QueueName, string>;
  deadLetterQueues: Record<QueueName, string>;
  webSocketApi: string;
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
      tables: mapRecord(stack.tables.byName, logicalId),
      queues: mapRecord(stack.queues.byName, logicalId),
      deadLetterQueues: mapRecord(stack.queues.deadLetterQueues, logicalId),
      webSocketApi: logicalId(stack.webSocket.api),
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
}

/**
 * Every function's role policy from the template, with `Ref`, `Fn::GetAtt` and `Fn::Join` resolved to local ARNs.
 * A resource the local stack does not have resolves to a name no call uses, so it can never allow one.
 */
export function rolePolicies(synthesized: SynthesizedStack, local: LocalResources): Partial<Record<AnyFunctionName, LocalStatement[]>> {
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
  for (const [name, id] of Object.entries(synthesized.queues) as [QueueName, string][]) queue(id, local.queueNames[name]);
  for (const [name, id] of Object.entries(synthesized.deadLetterQueues) as [QueueName, string][]) queue(id, local.deadLetterQueueNames[name]);
  refs.set(synthesized.webSocketApi, local.webSocketApiId);
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
