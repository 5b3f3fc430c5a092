/** The local stack's fault switches: rule validation and matching, and the SDK middleware (no network involved). */
import { DynamoDBClient, ProvisionedThroughputExceededException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { FaultRegistry, installSdkFaults, parseFaultRules } from '../../local/faults.js';

// Nothing listens here: a call that got past the fault middleware would fail with a connection error instead.
const nowhere = { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };

describe('fault rules', () => {
  it('validates rules and explains what is wrong', () => {
    expect(parseFaultRules({ target: 'postToConnection', status: 429, times: 3 })).toHaveLength(1);
    expect(
      parseFaultRules([
        { target: 'dynamodb:TransactWriteItems', error: 'TransactionCanceledException', reasons: ['ThrottlingError'] },
        { target: 'poller:crash', afterRecords: 2 },
      ]),
    ).toHaveLength(2);
    expect(() => parseFaultRules({ target: 'lambda:Invoke', error: 'X' })).toThrow(/unknown fault target/);
    expect(() => parseFaultRules({ target: 'postToConnection' })).toThrow(/needs a status/);
    expect(() => parseFaultRules({ target: 'postToConnection', status: 418 })).toThrow(/status/);
    expect(() => parseFaultRules({ target: 'dynamodb:GetItem' })).toThrow(/needs an error/);
    expect(() => parseFaultRules({ target: 'poller:skipDelete', error: 'Boom' })).toThrow(/dynamodb:\/sqs: targets and events:PutEvents only/);
    expect(() => parseFaultRules({ target: 'poller:duplicate', afterRecords: 1 })).toThrow(/poller:crash only/);
    expect(() => parseFaultRules({ target: 'postToConnection', status: 500, typo: true })).toThrow(/rule 0/);
  });

  it('matches by connection and payload, fires `times` times, and remembers how often it fired', () => {
    const faults = new FaultRegistry();
    const id = faults.add({ target: 'postToConnection', status: 500, connectionId: 'c1', match: 'grp_a', times: 2 });
    expect(faults.take('postToConnection', { connectionId: 'c2', text: () => 'grp_a' })).toBeUndefined();
    expect(faults.take('postToConnection', { connectionId: 'c1', text: () => 'grp_b' })).toBeUndefined();
    expect(faults.take('postToConnection', { connectionId: 'c1', text: () => '{"conversationId":"grp_a"}' })).toMatchObject({ status: 500 });
    expect(faults.status(id)).toMatchObject({ fired: 1, remaining: 1, active: true });
    expect(faults.take('postToConnection', { connectionId: 'c1', text: () => 'grp_a' })).toBeDefined();
    expect(faults.take('postToConnection', { connectionId: 'c1', text: () => 'grp_a' })).toBeUndefined();
    expect(faults.status(id)).toMatchObject({ fired: 2, remaining: 0, active: false });
    // Several texts: all of them must be in the payload.
    faults.add({ target: 'dynamodb:GetItem', error: 'ThrottlingException', match: ['"conversations"', 'grp_a'] });
    expect(faults.take('dynamodb:GetItem', { text: () => '{"TableName":"messages","Key":"grp_a"}' })).toBeUndefined();
    expect(faults.take('dynamodb:GetItem', { text: () => '{"TableName":"conversations","Key":"grp_a"}' })).toBeDefined();
    // The original signature (a connection id) still works.
    faults.add({ target: 'postToConnection', status: 410 });
    expect(faults.take('postToConnection', 'any')).toMatchObject({ status: 410 });
  });

  it('scopes poller faults to the records that match, one batch at a time, and removes rules by id', () => {
    const faults = new FaultRegistry();
    const id = faults.add({ id: 'mine', target: 'poller:crash', match: 'grp_a', times: 5 });
    expect(faults.takeBatch('poller:crash', ['grp_b'])).toBeUndefined();
    expect(faults.takeBatch('poller:crash', ['grp_b', 'x grp_a', 'grp_a y'])?.affected).toEqual(new Set([1, 2]));
    expect(faults.status(id)).toMatchObject({ fired: 1, remaining: 4 });
    expect(faults.remove('mine')).toBe(true);
    expect(faults.takeBatch('poller:crash', ['grp_a'])).toBeUndefined();
    expect(faults.list().map((status) => status.id)).toEqual(['mine']);
  });
});

describe('SDK fault middleware', () => {
  it('answers DynamoDB calls with the real exception classes, TransactionCanceledException with its reasons', async () => {
    const faults = new FaultRegistry();
    const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ ...nowhere, maxAttempts: 1 }));
    installSdkFaults(ddb, 'dynamodb', faults);
    faults.add({ target: 'dynamodb:TransactWriteItems', error: 'TransactionCanceledException', match: 'grp_a' });
    const write = () =>
      ddb.send(
        new TransactWriteCommand({ TransactItems: [{ Put: { TableName: 't', Item: { id: 'grp_a' } } }, { Put: { TableName: 't', Item: { id: 'x' } } }] }),
      );
    const error = await write().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TransactionCanceledException);
    expect((error as TransactionCanceledException).CancellationReasons).toEqual([
      { Code: 'TransactionConflict', Message: 'injected TransactionConflict' },
      { Code: 'None' },
    ]);
    // Used up: the next call goes to the (missing) endpoint.
    await expect(write()).rejects.toThrow(/ECONNREFUSED|connect/);
  });

  it('lets the SDK retry injected throttling like real throttling', async () => {
    const faults = new FaultRegistry();
    const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ ...nowhere, maxAttempts: 2 }));
    installSdkFaults(ddb, 'dynamodb', faults);
    const id = faults.add({ target: 'dynamodb:GetItem', error: 'ProvisionedThroughputExceededException', times: 5 });
    const error = await ddb.send(new GetCommand({ TableName: 't', Key: { id: 'a' } })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProvisionedThroughputExceededException);
    expect((error as ProvisionedThroughputExceededException).$metadata.attempts).toBe(2);
    expect(faults.status(id)).toMatchObject({ fired: 2 });
  });

  it('answers SQS calls with the named error', async () => {
    const faults = new FaultRegistry();
    const sqs = new SQSClient({ ...nowhere, maxAttempts: 1 });
    installSdkFaults(sqs, 'sqs', faults);
    faults.add({ target: 'sqs:SendMessageBatch', error: 'RequestThrottled' });
    await expect(
      sqs.send(new SendMessageBatchCommand({ QueueUrl: 'http://127.0.0.1:9/000000000000/q', Entries: [{ Id: '1', MessageBody: 'x' }] })),
    ).rejects.toMatchObject({
      name: 'RequestThrottled',
      $metadata: { httpStatusCode: 400 },
    });
  });
});
