import { CfnElement, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, StorageClass } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption, type IQueue } from 'aws-cdk-lib/aws-sqs';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { archive, archiveFunction, type QueueName, type TableName } from './definitions.js';
import { ParleyFunction } from './parley-function.js';

/** Props of `ParleyArchive`. */
export interface ParleyArchiveProps {
  readonly tables: Record<TableName, ITable>;
  readonly queues: Record<QueueName, IQueue>;
  readonly stage: WebSocketStage;
  readonly devStack: boolean;
}

/**
 * The optional Parquet archive: a private, encrypted, TLS-only bucket whose objects move to Glacier Instant Retrieval,
 * and the Lambda consumer of the messages table's stream that writes it. Stream batches that keep failing are
 * recorded in a dead-letter queue (their positions, not their data) so they can be replayed.
 */
export class ParleyArchive extends Construct {
  readonly bucket: Bucket;
  readonly consumer: ParleyFunction;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: ParleyArchiveProps) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [
        {
          id: 'archive-to-glacier-ir',
          // Glacier Instant Retrieval bills at least 128 KB per object: smaller objects stay in S3 Standard.
          objectSizeGreaterThan: 128 * 1024,
          transitions: [{ storageClass: StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(archive.transitionAfterDays) }],
        },
      ],
      removalPolicy: props.devStack ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Only the archive consumer writes here; its puts are in CloudTrail data events where needed, without a second logs bucket.',
    });
    this.deadLetterQueue = new Queue(this, 'Dlq', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This is the dead-letter destination of the archive stream mapping itself.',
    });

    this.consumer = new ParleyFunction(this, 'Consumer', {
      name: 'archive',
      definition: archiveFunction,
      tables: props.tables,
      queues: props.queues,
      stage: props.stage,
      environment: { [archive.bucketEnvVar]: this.bucket.bucketName },
      devStack: props.devStack,
    });
    // Exactly PutObject on the archive's objects: the consumer never reads, lists or deletes.
    this.consumer.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:PutObject'], resources: [this.bucket.arnForObjects('*')] }));
    Validations.of(this.consumer.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${idOf(this.bucket)}.Arn>/*]`,
      reason: 'Object keys are per conversation and day, known only at run time; the grant is PutObject in this bucket only.',
    });
    Validations.of(this.consumer.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'dynamodb:ListStreams, which the stream event source mapping needs, cannot be scoped to a resource.',
    });
    this.consumer.function.addEventSource(
      new DynamoEventSource(props.tables.messages, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: archive.batchSize,
        maxBatchingWindow: Duration.seconds(archive.maxBatchingWindowSeconds),
        retryAttempts: archive.retryAttempts,
        bisectBatchOnError: true,
        onFailure: new SqsDlq(this.deadLetterQueue),
        // Every append also updates the head (seq 0), and TTL deletes are not archived: neither invokes the consumer.
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.or('INSERT', 'MODIFY'),
            dynamodb: { Keys: { seq: { N: FilterRule.notEquals('0') } } },
          }),
        ],
      }),
    );
  }

  /**
   * Lets `eraser` (the server API function, whose `eraseUser` route rewrites a user's bodies out of the archive) find
   * the archive and list, read and rewrite the objects of conversations; it never deletes.
   */
  grantErasure(eraser: ParleyFunction): void {
    eraser.function.addEnvironment(archive.bucketEnvVar, this.bucket.bucketName);
    const conversations = `${archive.conversationKeyPrefix}*`;
    eraser.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn], conditions: { StringLike: { 's3:prefix': [conversations] } } }),
    );
    eraser.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [this.bucket.arnForObjects(conversations)] }));
    Validations.of(eraser.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${idOf(this.bucket)}.Arn>/${conversations}]`,
      reason: "Erasure rewrites the objects of a user's conversations, known only at run time; GetObject and PutObject in this bucket only.",
    });
  }
}

/** The bucket's logical id, as cdk-nag names it in findings. */
const idOf = (bucket: Bucket) => Stack.of(bucket).resolve((bucket.node.defaultChild as CfnElement).logicalId) as string;
