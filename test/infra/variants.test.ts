import { App } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromContext, defaultConfig } from '../../lib/config.js';
import { commonEnv, functions, tables, type FunctionName, type TableActions, type TableDefinition, type TableName } from '../../lib/definitions.js';
import { logicalId, synthesize } from './synth.js';

const oidc = {
  issuer: 'https://login.example.com/',
  audience: 'parley-api',
  jwksUrl: 'https://login.example.com/.well-known/jwks.json',
};

// A dev stack on an external IdP with alarm mail; the code assets play no part, so bundling is skipped.
const { stack, template, cleanup } = synthesize(
  {
    oidc,
    userIdClaim: 'email',
    devStack: true,
    stageName: 'dev',
    alarmEmail: 'ops@example.com',
    throttle: { rateLimit: 50, burstLimit: 100 },
    apiGatewayLogsRole: false,
  },
  { bundle: false },
);
afterAll(cleanup);

describe('external OIDC provider', () => {
  it('creates no user pool', () => {
    template.resourceCountIs('AWS::Cognito::UserPool', 0);
    template.resourceCountIs('AWS::Cognito::UserPoolClient', 0);
    const outputs = Object.keys(template.toJSON().Outputs);
    expect(outputs).not.toContain('UserPoolId');
    expect(outputs).not.toContain('UserPoolClientId');
    expect(template.toJSON().Outputs.JwtIssuer.Value).toBe(oidc.issuer);
  });

  it('points the authorizer at the given issuer, audience, keys and user id claim', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [commonEnv.jwksUrl]: oidc.jwksUrl,
          [commonEnv.jwtIssuer]: oidc.issuer,
          [commonEnv.jwtAudience]: oidc.audience,
          [commonEnv.userIdClaim]: 'email',
        }),
      },
    });
    const authorizer = template.toJSON().Resources[logicalId(stack.functions.authorizer.function)];
    expect(authorizer.Properties.Environment.Variables[commonEnv.jwksUrl]).toBe(oidc.jwksUrl);
  });
});

describe('dev stack', () => {
  it('destroys every table, log group and queue with the stack', () => {
    for (const type of ['AWS::DynamoDB::Table', 'AWS::Logs::LogGroup', 'AWS::SQS::Queue']) {
      for (const [id, resource] of Object.entries(template.findResources(type))) {
        expect(resource.DeletionPolicy ?? 'Delete', id).toBe('Delete');
      }
    }
    for (const resource of Object.values(template.findResources('AWS::DynamoDB::Table'))) {
      expect(resource.Properties.DeletionProtectionEnabled ?? false).toBe(false);
    }
  });

  it('uses the configured stage name and throttling, and leaves the account logging role alone', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'dev',
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
  });
});

describe('alarm notifications', () => {
  it('mails every alarm and its recovery to alarmEmail through an encrypted-in-transit topic', () => {
    const topics = template.findResources('AWS::SNS::Topic');
    expect(Object.keys(topics)).toHaveLength(1);
    const topic = Object.keys(topics)[0]!;
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: topic } });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: topic }]);
    }
    expect(template.toJSON().Outputs.AlarmTopicArn.Value).toEqual({ Ref: topic });
  });
});

describe('configFromContext', () => {
  const read = (context: Record<string, unknown>) => configFromContext(new App({ context }).node);

  it('defaults to a production stack on Cognito', () => {
    expect(read({})).toEqual(defaultConfig);
  });

  it('reads every setting, as CLI strings or JSON values', () => {
    expect(
      read({
        stageName: 'v1',
        devStack: 'true',
        oidcIssuer: oidc.issuer,
        oidcAudience: oidc.audience,
        oidcJwksUrl: oidc.jwksUrl,
        userIdClaim: 'email',
        alarmEmail: 'ops@example.com',
        throttleRateLimit: '10',
        throttleBurstLimit: 20,
        latencyP99ThresholdMs: '150',
        fanoutLagP99ThresholdMs: 120,
        apiGatewayLogsRole: false,
      }),
    ).toEqual({
      stageName: 'v1',
      devStack: true,
      oidc,
      userIdClaim: 'email',
      alarmEmail: 'ops@example.com',
      throttle: { rateLimit: 10, burstLimit: 20 },
      latencyP99ThresholdMs: 150,
      fanoutLagP99ThresholdMs: 120,
      apiGatewayLogsRole: false,
      archive: false,
    });
  });

  it('rejects partial OIDC settings and malformed values', () => {
    expect(() => read({ oidcIssuer: oidc.issuer })).toThrow(/oidcIssuer, oidcAudience and oidcJwksUrl/);
    expect(() => read({ devStack: 'yes' })).toThrow(/devStack/);
    expect(() => read({ throttleRateLimit: '-1' })).toThrow(/throttleRateLimit/);
    expect(() => read({ stageName: 'has space' })).toThrow(/stageName/);
  });
});

describe('definitions: exact DynamoDB actions', () => {
  it.each(Object.keys(functions) as FunctionName[])('%s: every table it uses has actions, on indexes that exist', (name) => {
    for (const [table, grant] of Object.entries(functions[name].tables) as [TableName, TableActions][]) {
      const actions = [...(grant.table ?? []), ...Object.values(grant.indexes ?? {}).flat()];
      expect(actions.length, `${name} grants nothing on ${table}`).toBeGreaterThan(0);
      const indexNames = ((tables as Record<TableName, TableDefinition>)[table].globalSecondaryIndexes ?? []).map((index) => index.indexName);
      for (const index of Object.keys(grant.indexes ?? {})) expect(indexNames).toContain(index);
    }
  });
});
