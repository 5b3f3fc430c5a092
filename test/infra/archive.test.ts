import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { archive, archiveFunction, functions, retention, streamSources, tables, type FunctionName } from '../../lib/definitions.js';
import { allowedPairs, logicalId, synthesize } from './synth.js';

// The IAM statements and resource properties do not depend on the bundles.
const withArchive = synthesize({ archive: true, messageRetentionDays: 30 }, { bundle: false });
const plain = synthesize({}, { bundle: false });
afterAll(() => {
  withArchive.cleanup();
  plain.cleanup();
});

const { stack, template } = withArchive;
const messagesTable = () => logicalId(stack.node.findChild('Tables').node.findChild('messages'));

describe('retention', () => {
  it('enables TTL on expiresAt and a stream of new and old images on the messages table', () => {
    expect(template.toJSON().Resources[messagesTable()].Properties).toMatchObject({
      TimeToLiveSpecification: { AttributeName: tables.messages.timeToLiveAttribute, Enabled: true },
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
    });
    expect(tables.messages.timeToLiveAttribute).toBe('expiresAt');
  });

  it('passes the deployment’s retention to the functions that write, read or backfill timeline items, only when it is set', () => {
    const variables = (t: typeof template, s: typeof stack, name: FunctionName) =>
      t.toJSON().Resources[logicalId(s.functions[name].function)].Properties.Environment.Variables as Record<string, unknown>;
    expect(retention.functions).toEqual(['actions', 'catchup', 'serverApi', 'fanout']);
    for (const name of Object.keys(functions) as FunctionName[]) {
      expect(variables(template, stack, name)[retention.envVar]).toBe(retention.functions.includes(name) ? '30' : undefined);
      expect(variables(plain.template, plain.stack, name)[retention.envVar]).toBeUndefined();
    }
  });
});

describe('archive', () => {
  const bucketId = () => logicalId(stack.archive!.bucket);

  it('passes CloudFormation validation without findings (W9003 was a number where the schema wants a string)', () => {
    const report = JSON.parse(readFileSync(join(withArchive.outdir, 'validation-report.json'), 'utf8')) as { pluginReports: unknown[] };
    expect(report.pluginReports).toEqual([]);
  });

  it('exists only when the archive context setting is on', () => {
    plain.template.resourceCountIs('AWS::S3::Bucket', 0);
    expect(plain.stack.archive).toBeUndefined();
    template.resourceCountIs('AWS::S3::Bucket', 1);
  });

  it('blocks public access, encrypts with SSE-S3, refuses plain HTTP and moves objects to Glacier Instant Retrieval', () => {
    expect(template.toJSON().Resources[bucketId()].Properties).toMatchObject({
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LifecycleConfiguration: {
        Rules: [{ Status: 'Enabled', Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: archive.transitionAfterDays }] }],
        // Objects under the 128 KB Glacier IR bills at least stay in S3 Standard.
        TransitionDefaultMinimumObjectSize: 'all_storage_classes_128K',
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId() },
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it('consumes the messages stream as streamSources.archive says: large batches, bisecting failures, with a dead-letter queue', () => {
    const source = streamSources.archive;
    expect(source).toMatchObject({ consumer: 'archive', table: 'messages' });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(stack.archive!.consumer.function) },
      EventSourceArn: { 'Fn::GetAtt': [messagesTable(), 'StreamArn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: source.batchSize,
      MaximumBatchingWindowInSeconds: source.maxBatchingWindowSeconds,
      MaximumRetryAttempts: source.maximumRetryAttempts,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(stack.archive!.deadLetterQueue), 'Arn'] } } },
      FilterCriteria: {
        Filters: [{ Pattern: JSON.stringify({ eventName: ['INSERT', 'MODIFY'], dynamodb: { Keys: { seq: { N: [{ 'anything-but': ['0'] }] } } } }) }],
      },
    });
    const consumer = template.toJSON().Resources[logicalId(stack.archive!.consumer.function)].Properties;
    expect(consumer).toMatchObject({ MemorySize: archiveFunction.memorySize, Timeout: archiveFunction.timeoutSeconds });
    expect(consumer.Environment.Variables[archive.bucketEnvVar]).toEqual({ Ref: bucketId() });
    // Its DLQ is alarmed like every other.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack.archive!.deadLetterQueue), 'QueueName'] } }],
      Threshold: 0,
    });
  });

  it('gives the consumer exactly what it uses: the stream, PutObject on the archive, the erasure markers, its logs, its DLQ', () => {
    const users = logicalId(stack.node.findChild('Tables').node.findChild('users'));
    const { bucket, consumer, deadLetterQueue } = stack.archive!;
    const stream = `{${messagesTable()}.StreamArn}`;
    expect(allowedPairs(template, logicalId(consumer.role))).toEqual(
      [
        `dynamodb:BatchGetItem {${users}.Arn}`,
        `dynamodb:DescribeStream ${stream}`,
        `dynamodb:GetRecords ${stream}`,
        `dynamodb:GetShardIterator ${stream}`,
        `dynamodb:ListStreams ${stream}`,
        `logs:CreateLogStream {${logicalId(consumer.logGroup)}.Arn}`,
        `logs:PutLogEvents {${logicalId(consumer.logGroup)}.Arn}`,
        `s3:PutObject {${logicalId(bucket)}.Arn}/*`,
        'xray:PutTelemetryRecords *',
        'xray:PutTraceSegments *',
        `sqs:SendMessage {${logicalId(deadLetterQueue)}.Arn}`,
      ].sort(),
    );
  });
});

describe('erasure through the server API', () => {
  const s3Pairs = (t: typeof template, s: typeof stack) => allowedPairs(t, logicalId(s.functions.serverApi.role)).filter((pair) => pair.startsWith('s3:'));
  const variables = (t: typeof template, s: typeof stack) =>
    t.toJSON().Resources[logicalId(s.functions.serverApi.function)].Properties.Environment.Variables as Record<string, unknown>;

  it("lets the server API function list, read and rewrite the conversations' objects, and nothing else of the bucket", () => {
    const bucket = logicalId(stack.archive!.bucket);
    expect(s3Pairs(template, stack)).toEqual(
      [`s3:GetObject {${bucket}.Arn}/conversation=*`, `s3:ListBucket {${bucket}.Arn}`, `s3:PutObject {${bucket}.Arn}/conversation=*`].sort(),
    );
    // Listing is limited to the conversations' prefixes too.
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => (policy.Properties as { PolicyDocument: { Statement: Record<string, unknown>[] } }).PolicyDocument.Statement,
    );
    expect(statements.find((statement) => statement.Action === 's3:ListBucket')?.Condition).toEqual({ StringLike: { 's3:prefix': ['conversation=*'] } });
    expect(variables(template, stack)[archive.bucketEnvVar]).toEqual({ Ref: bucket });
  });

  it('gives it no S3 access and no bucket without the archive', () => {
    expect(s3Pairs(plain.template, plain.stack)).toEqual([]);
    expect(variables(plain.template, plain.stack)[archive.bucketEnvVar]).toBeUndefined();
  });
});
