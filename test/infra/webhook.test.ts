import { Match } from 'aws-cdk-lib/assertions';
import { App } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromContext } from '../../lib/config.js';
import { eventBus, webhookTarget } from '../../lib/definitions.js';
import { allowedPairs, logicalId, render, synthesize } from './synth.js';

const webhook = { url: 'https://hooks.example.com/parley', secretName: 'parley/webhook-key', apiKeyHeader: 'x-parley-key' };
// The webhook variant; the code assets play no part, so bundling is skipped.
const { stack, template, cleanup } = synthesize({ webhook }, { bundle: false });
afterAll(cleanup);

describe('webhook target (context webhookUrl)', () => {
  it('reads webhookUrl, webhookSecretName and webhookApiKeyHeader, and refuses half a setting or plain http', () => {
    const read = (context: Record<string, unknown>) => configFromContext(new App({ context }).node);
    expect(read({ webhookUrl: webhook.url, webhookSecretName: webhook.secretName, webhookApiKeyHeader: 'x-parley-key' }).webhook).toEqual(webhook);
    expect(read({ webhookUrl: webhook.url, webhookSecretName: 's' }).webhook?.apiKeyHeader).toBe('x-api-key');
    expect(read({}).webhook).toBeUndefined();
    expect(() => read({ webhookUrl: webhook.url })).toThrow(/webhookSecretName/);
    expect(() => read({ webhookSecretName: 's' })).toThrow(/webhookUrl/);
    expect(() => read({ webhookUrl: 'http://hooks.example.com/', webhookSecretName: 's' })).toThrow(/https/);
  });

  it('authorizes with an API key resolved from Secrets Manager at deploy time, never in the template', () => {
    const connections = Object.values(template.findResources('AWS::Events::Connection'));
    expect(connections).toHaveLength(1);
    const auth = connections[0]!.Properties.AuthParameters.ApiKeyAuthParameters;
    expect(auth.ApiKeyName).toBe('x-parley-key');
    expect(render(auth.ApiKeyValue)).toContain(`{{resolve:secretsmanager:${webhook.secretName}:SecretString:::}}`);
    template.hasResourceProperties('AWS::Events::ApiDestination', {
      InvocationEndpoint: webhook.url,
      HttpMethod: 'POST',
      InvocationRateLimitPerSecond: webhookTarget.invocationRateLimitPerSecond,
    });
  });

  it('forwards every Parley event on the bus with its own retry policy and an encrypted DLQ with an alarm', () => {
    const dlq = logicalId(stack.events.webhookDeadLetterQueue!);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: logicalId(stack.events.bus) },
      EventPattern: { source: [eventBus.source] },
      Targets: [
        Match.objectLike({
          RetryPolicy: { MaximumRetryAttempts: webhookTarget.maximumRetryAttempts, MaximumEventAgeInSeconds: webhookTarget.maximumEventAgeSeconds },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
        }),
      ],
    });
    expect(template.toJSON().Resources[dlq].Properties).toMatchObject({ SqsManagedSseEnabled: true });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
    });
  });

  it('lets the rule invoke only this API destination', () => {
    const roles = Object.entries(template.findResources('AWS::IAM::Role')).filter(([, role]) =>
      JSON.stringify(role.Properties.AssumeRolePolicyDocument).includes('events.amazonaws.com'),
    );
    expect(roles).toHaveLength(1);
    const destination = Object.keys(template.findResources('AWS::Events::ApiDestination'))[0]!;
    expect(allowedPairs(template, roles[0]![0])).toEqual([`events:InvokeApiDestination {${destination}.Arn}`]);
  });
});
