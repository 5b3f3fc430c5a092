/**
 * The local stack enforces each function's role policy from the synthesized template: with one permission removed
 * from one role, the call that needs it fails the way AWS fails it, and nothing else changes.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { installIamChecks } from '../../local/iam.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import type { CfnTemplate } from '../../local/template.js';

let stack: LocalStack;
const failures: { name: string; error: Error }[] = [];

/** Removes `action` from every statement of one function's role policy (`connect`, `authorizer`, ...). */
function withoutAction(functionName: string, action: string) {
  return (template: CfnTemplate) => {
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::IAM::Policy' || !id.startsWith(`${functionName}Function`)) continue;
      const document = resource.Properties!.PolicyDocument as { Statement: { Action: string | string[] }[] };
      for (const statement of document.Statement) {
        const actions = [statement.Action].flat().filter((candidate) => candidate !== action);
        statement.Action = actions.length ? actions : ['none:None'];
      }
    }
  };
}

beforeAll(async () => {
  stack = await startLocalStack({
    adjustTemplate: withoutAction('connect', 'dynamodb:UpdateItem'),
    // The archive consumer too, so its role (from the `-c archive=true` template) is checked like the others.
    archiveDir: mkdtempSync(join(tmpdir(), 'parley-iam-archive-')),
    // The refused $connect is logged as an error by the handler, as it would be on AWS; keep the test output quiet.
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
    onError: () => undefined,
  });
  stack.wrapInvocations((name, event, run) =>
    run(name, event).catch((error: Error) => {
      failures.push({ name, error });
      throw error;
    }),
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const connect = async (user: string, on = stack) => {
  const token = await on.devAuth.issueToken(user, { expiresInSeconds: 300 });
  return new Promise<'open' | number>((resolve) => {
    const ws = new WebSocket(`${on.wsUrl}?token=${token}`);
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    ws.once('error', () => undefined);
  });
};

describe('IAM from the template', () => {
  it('fails the connect function with AccessDeniedException when its role lacks dynamodb:UpdateItem on presence', async () => {
    // The handler fails the $connect, so API Gateway refuses the upgrade.
    expect(await connect('iam-alice')).toBe(500);
    expect(stack.iam.denied).toContainEqual({
      functionName: 'connect',
      permission: { action: 'dynamodb:UpdateItem', resource: expect.stringMatching(/table\/parley-presence$/) },
    });
  });

  it("answers a refused call with the service's own exception, as the SDK deserializes it", async () => {
    const ddb = DynamoDBDocumentClient.from(
      new DynamoDBClient({ endpoint: stack.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
    );
    const sqs = new SQSClient({ endpoint: stack.sqsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const arns = { region: 'us-east-1', webSocketStage: `${stack.emulator.apiId}/${stack.emulator.stage}` };
    installIamChecks(ddb, 'dynamodb', stack.iam, arns);
    installIamChecks(sqs, 'sqs', stack.iam, arns);
    const asConnect = <T>(call: () => Promise<T>) => stack.iam.currentFunction.run('connect', call);
    const update = new UpdateCommand({
      TableName: stack.tableNames.presence,
      Key: { userId: 'iam-bob' },
      UpdateExpression: 'SET lastSeenAt = :now',
      ExpressionAttributeValues: { ':now': 1 },
    });
    await expect(asConnect(() => ddb.send(update))).rejects.toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    // Outside any invocation nothing is checked; what the role still allows stays allowed.
    await ddb.send(update);
    expect(stack.iam.allows('connect', { action: 'sqs:SendMessage', resource: `arn:aws:sqs:us-east-1:000000000000:parley-fanout` })).toBe(true);
    await expect(asConnect(() => sqs.send(new SendMessageCommand({ QueueUrl: stack.dlqUrls.fanout, MessageBody: '{}' })))).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    ddb.destroy();
    sqs.destroy();
  });

  it('checks the archive consumer against its own role: the erasure markers, not the timeline', () => {
    const table = (name: string) => `arn:aws:dynamodb:us-east-1:000000000000:table/${name}`;
    expect(stack.iam.allows('archive', { action: 'dynamodb:BatchGetItem', resource: table(stack.tableNames.users) })).toBe(true);
    expect(stack.iam.allows('archive', { action: 'dynamodb:BatchGetItem', resource: table(stack.tableNames.messages) })).toBe(false);
    expect(stack.iam.allows('archive', { action: 'dynamodb:PutItem', resource: table(stack.tableNames.users) })).toBe(false);
    expect(stack.streamPollers.archive).toBeDefined();
  });

  it('leaves the other functions their permissions: the authorizer ran and was not refused', () => {
    expect(failures).toEqual([]);
    expect(stack.iam.denied.every((entry) => entry.functionName === 'connect')).toBe(true);
  });
});

describe("the authorizer's own client", () => {
  let denied: LocalStack;
  beforeAll(async () => {
    denied = await startLocalStack({
      adjustTemplate: withoutAction('authorizer', 'dynamodb:GetItem'),
      env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
      onError: () => undefined,
    });
  }, 120_000);
  afterAll(async () => {
    await denied?.stop();
  });

  it('is checked against its role too: without dynamodb:GetItem on users the ban check fails and the upgrade is refused', async () => {
    expect(await connect('iam-carol', denied)).not.toBe('open');
    expect(denied.iam.denied).toContainEqual({
      functionName: 'authorizer',
      permission: { action: 'dynamodb:GetItem', resource: expect.stringMatching(/table\/parley-users$/) },
    });
  });
});
