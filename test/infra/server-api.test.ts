import { App } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { defaultConfig } from '../../lib/config.js';
import { ParleyStack } from '../../lib/parley-stack.js';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { serverApi } from '../../lib/definitions.js';
import { allowedPairs, logicalId, synthesize } from './synth.js';

// Code assets do not matter here: no bundling.
const { stack, template, cleanup } = synthesize({}, { bundle: false });
afterAll(cleanup);

const tableId = (name: string) => logicalId(stack.node.findChild('Tables').node.findChild(name));

describe('server API', () => {
  it('is an HTTP API with exactly the routes of the definitions, every one AWS_IAM', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).filter(
      (route) => (route.Properties as { ApiId: { Ref: string } }).ApiId.Ref === logicalId(stack.serverApi.api),
    );
    expect(routes.map((route) => (route.Properties as { RouteKey: string }).RouteKey).sort()).toEqual(
      serverApi.routes.map((route) => `${route.method} ${route.path}`).sort(),
    );
    for (const route of routes) expect((route.Properties as { AuthorizationType: string }).AuthorizationType).toBe('AWS_IAM');
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
  });

  it("gives the server API function's role exactly the permissions its code uses", () => {
    const role = logicalId(stack.functions.serverApi.role);
    const dynamo = (action: string, table: string, suffix = '') => `dynamodb:${action} {${tableId(table)}.Arn}${suffix}`;
    const pairs = allowedPairs(template, role);
    expect(pairs.filter((pair) => pair.startsWith('dynamodb:'))).toEqual(
      [
        dynamo('GetItem', 'conversations'),
        dynamo('BatchGetItem', 'conversations'),
        dynamo('PutItem', 'conversations'),
        dynamo('UpdateItem', 'conversations'),
        dynamo('Query', 'members'),
        dynamo('PutItem', 'members'),
        dynamo('UpdateItem', 'members'),
        dynamo('DeleteItem', 'members'),
        dynamo('Query', 'members', '/index/byUser'),
        dynamo('GetItem', 'messages'),
        dynamo('BatchGetItem', 'messages'),
        dynamo('Query', 'messages'),
        dynamo('PutItem', 'messages'),
        dynamo('UpdateItem', 'messages'),
        dynamo('GetItem', 'idempotency'),
        dynamo('PutItem', 'idempotency'),
        dynamo('UpdateItem', 'idempotency'),
        dynamo('DeleteItem', 'idempotency'),
        dynamo('BatchGetItem', 'presence'),
        dynamo('UpdateItem', 'presence'),
        dynamo('BatchGetItem', 'users'),
        dynamo('PutItem', 'users'),
        dynamo('DeleteItem', 'users'),
        dynamo('PutItem', 'undelivered'),
        dynamo('Query', 'groupConnections'),
        dynamo('BatchWriteItem', 'groupConnections'),
      ].sort(),
    );
    // Beyond DynamoDB: its logs and traces, the fanout queue and @connections (pushes and closing sessions), nothing else.
    expect(
      pairs
        .filter((pair) => !pair.startsWith('dynamodb:'))
        .map((pair) => pair.split(' ')[0])
        .sort(),
    ).toEqual(
      [
        'execute-api:ManageConnections',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'sqs:SendMessage',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ].sort(),
    );
  });

  it('lets the authorizer read ban items and nothing else of the tables', () => {
    const pairs = allowedPairs(template, logicalId(stack.functions.authorizer.role));
    expect(pairs.filter((pair) => pair.startsWith('dynamodb:'))).toEqual([`dynamodb:GetItem {${tableId('users')}.Arn}`]);
  });

  it('outputs the URL and an invoke policy limited to execute-api:Invoke on its routes', () => {
    template.hasOutput('ServerApiUrl', {});
    template.hasOutput('ServerApiInvokePolicyArn', {});
    const policies = Object.values(template.findResources('AWS::IAM::ManagedPolicy'));
    const invoke = policies.find((policy) => JSON.stringify(policy).includes('execute-api:Invoke'));
    const statements = (invoke!.Properties as { PolicyDocument: { Statement: { Action: string; Resource: unknown[] }[] } }).PolicyDocument.Statement;
    expect(statements.map((statement) => statement.Action)).toEqual(['execute-api:Invoke']);
    expect(statements[0]!.Resource).toHaveLength(serverApi.routes.length);
  });

  it("grantInvoke gives a backend role execute-api:Invoke on the API's routes", () => {
    // A fresh stack: the tree of the one above is synthesized already.
    const fresh = new ParleyStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Grant', { config: defaultConfig });
    const backend = new Role(fresh, 'BackendRole', { assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com') });
    fresh.serverApi.grantInvoke(backend);
    const pairs = allowedPairs(Template.fromStack(fresh), logicalId(backend));
    expect(pairs).toHaveLength(serverApi.routes.length);
    for (const pair of pairs) expect(pair).toMatch(/^execute-api:Invoke /);
  });
});
