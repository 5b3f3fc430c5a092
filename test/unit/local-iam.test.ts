import { describe, expect, it } from 'vitest';
import { AccessDeniedError, LocalIam, requiredPermissions, wildcardMatch } from '../../local/iam.js';

const arns = { region: 'us-east-1', webSocketStage: 'abc123/local' };
const table = (name: string) => `arn:aws:dynamodb:us-east-1:000000000000:table/${name}`;

describe('local IAM', () => {
  const iam = new LocalIam({
    authorizer: [],
    connect: [{ effect: 'Allow', actions: ['dynamodb:UpdateItem'], resources: [table('parley-presence')], conditional: false }],
    disconnect: [],
    actions: [
      {
        effect: 'Allow',
        actions: ['dynamodb:Query', 'dynamodb:GetItem'],
        resources: [table('parley-members'), `${table('parley-members')}/index/byUser`],
        conditional: false,
      },
      {
        effect: 'Allow',
        actions: ['execute-api:ManageConnections'],
        resources: ['arn:aws:execute-api:us-east-1:000000000000:abc123/local/*/@connections/*'],
        conditional: false,
      },
      { effect: 'Deny', actions: ['dynamodb:*'], resources: [`${table('parley-members')}/index/secret`], conditional: false },
      { effect: 'Allow', actions: ['dynamodb:*'], resources: ['*'], conditional: true },
    ],
    fanout: [{ effect: 'Allow', actions: ['SQS:send*'], resources: ['arn:aws:sqs:us-east-1:000000000000:parley-fanout'], conditional: false }],
    serverApi: [],
    streamEvents: [],
  });

  it('allows exactly the granted action on the granted resource', () => {
    expect(iam.allows('connect', { action: 'dynamodb:UpdateItem', resource: table('parley-presence') })).toBe(true);
    expect(iam.allows('connect', { action: 'dynamodb:PutItem', resource: table('parley-presence') })).toBe(false);
    expect(iam.allows('connect', { action: 'dynamodb:UpdateItem', resource: table('parley-messages') })).toBe(false);
    expect(iam.allows('disconnect', { action: 'dynamodb:UpdateItem', resource: table('parley-presence') })).toBe(false);
  });

  it('matches wildcards, actions case-insensitively, and lets an explicit Deny win', () => {
    expect(iam.allows('fanout', { action: 'sqs:SendMessage', resource: 'arn:aws:sqs:us-east-1:000000000000:parley-fanout' })).toBe(true);
    expect(
      iam.allows('actions', {
        action: 'execute-api:ManageConnections',
        resource: 'arn:aws:execute-api:us-east-1:000000000000:abc123/local/POST/@connections/Xy=',
      }),
    ).toBe(true);
    expect(
      iam.allows('actions', {
        action: 'execute-api:ManageConnections',
        resource: 'arn:aws:execute-api:us-east-1:000000000000:other/local/POST/@connections/Xy=',
      }),
    ).toBe(false);
    expect(iam.allows('actions', { action: 'dynamodb:Query', resource: `${table('parley-members')}/index/secret` })).toBe(false);
    expect(wildcardMatch('a?c', 'abc', false)).toBe(true);
    expect(wildcardMatch('a.c', 'abc', false)).toBe(false);
  });

  it('never allows through a statement with a condition it cannot evaluate', () => {
    expect(iam.allows('actions', { action: 'dynamodb:PutItem', resource: table('parley-messages') })).toBe(false);
  });

  it('records and throws a denial naming the function, action and resource', () => {
    const permission = { action: 'dynamodb:DeleteItem', resource: table('parley-presence') };
    expect(() => iam.check('connect', [permission])).toThrow(AccessDeniedError);
    expect(() => iam.check('connect', [permission])).toThrow(/parley-connect is not authorized to perform: dynamodb:DeleteItem on resource: .*parley-presence/);
    expect(iam.denied).toContainEqual({ functionName: 'connect', permission });
  });

  it('derives the permissions of transactions, batches, index queries, SQS batches and @connections calls', () => {
    expect(
      requiredPermissions(
        'dynamodb',
        'TransactWriteItems',
        {
          TransactItems: [{ Put: { TableName: 'm' } }, { Update: { TableName: 'h' } }, { ConditionCheck: { TableName: 'c' } }, { Delete: { TableName: 'd' } }],
        },
        arns,
      ),
    ).toEqual([
      { action: 'dynamodb:PutItem', resource: table('m') },
      { action: 'dynamodb:UpdateItem', resource: table('h') },
      { action: 'dynamodb:ConditionCheckItem', resource: table('c') },
      { action: 'dynamodb:DeleteItem', resource: table('d') },
    ]);
    expect(requiredPermissions('dynamodb', 'BatchGetItem', { RequestItems: { a: {}, b: {} } }, arns).map((p) => p.resource)).toEqual([table('a'), table('b')]);
    expect(requiredPermissions('dynamodb', 'Query', { TableName: 'members', IndexName: 'byUser' }, arns)).toEqual([
      { action: 'dynamodb:Query', resource: `${table('members')}/index/byUser` },
    ]);
    expect(requiredPermissions('sqs', 'SendMessageBatch', { QueueUrl: 'http://127.0.0.1:1/000000000000/parley-fanout' }, arns)).toEqual([
      { action: 'sqs:SendMessage', resource: 'arn:aws:sqs:us-east-1:000000000000:parley-fanout' },
    ]);
    expect(requiredPermissions('execute-api', 'DeleteConnection', { ConnectionId: 'c1=' }, arns)).toEqual([
      { action: 'execute-api:ManageConnections', resource: 'arn:aws:execute-api:us-east-1:000000000000:abc123/local/DELETE/@connections/c1=' },
    ]);
  });
});
