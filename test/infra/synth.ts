import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { defaultConfig, type ParleyConfig } from '../../lib/config.js';
import { ParleyStack } from '../../lib/parley-stack.js';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> };

/** A synthesized Parley stack and its template. */
export interface Synthesized {
  app: App;
  stack: ParleyStack;
  template: Template;
  /** The cloud assembly directory (bundled assets live here). */
  outdir: string;
  /** Deletes the cloud assembly directory. */
  cleanup: () => void;
}

/**
 * Synthesizes one Parley stack with the feature flags of cdk.json. Bundling the five functions takes seconds,
 * so callers synthesize once per file; `bundle: false` skips it where the code assets do not matter.
 */
export function synthesize(overrides: Partial<ParleyConfig> = {}, options: { bundle?: boolean } = {}): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'parley-cdk-'));
  const app = new App({
    outdir,
    context: { ...cdkJson.context, ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}) },
  });
  const stack = new ParleyStack(app, 'Parley', { config: { ...defaultConfig, ...overrides } });
  return { app, stack, template: Template.fromStack(stack), outdir, cleanup: () => rmSync(outdir, { recursive: true, force: true }) };
}

/** The CloudFormation logical id of a construct's resource. */
export function logicalId(construct: IConstruct): string {
  const resource = construct instanceof CfnElement ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnElement)) throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return Stack.of(resource).resolve(resource.logicalId) as string;
}

/** Renders an intrinsic-laden value as a string, e.g. `{Table.Arn}/index/byUser`, to compare resources as text. */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if ('Ref' in object) return `{${String(object.Ref)}}`;
    if ('Fn::GetAtt' in object) return `{${(object['Fn::GetAtt'] as string[]).join('.')}}`;
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
  }
  return JSON.stringify(value);
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** Every (action, resource) pair the inline policies of a role allow, as `action resource` strings. */
export function allowedPairs(template: Template, roleLogicalId: string): string[] {
  const pairs = new Set<string>();
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: roleLogicalId }] },
  });
  for (const policy of Object.values(policies)) {
    const statements = (policy.Properties as { PolicyDocument: { Statement: Record<string, unknown>[] } }).PolicyDocument.Statement;
    for (const statement of statements) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of asArray(statement.Action as string | string[])) {
        for (const resource of asArray(statement.Resource)) pairs.add(`${action} ${render(resource)}`);
      }
    }
  }
  return [...pairs].sort();
}
