import { type CfnElement, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, StorageClass, TransitionDefaultMinimumObjectSize } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { archive, type QueueName, type TableName } from './definitions.js';
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
  /** Where the positions of stream batches that kept failing go. */
  readonly deadLetterQueue: IQueue;

  constructor(scope: Construct, id: string, props: ParleyArchiveProps) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [
        {
          id: 'archive-to-glacier-ir',
          transitions: [{ storageClass: StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(archive.transitionAfterDays) }],
        },
      ],
      // Glacier Instant Retrieval bills at least 128 KB per object: smaller objects stay in S3 Standard. S3's own
      // minimum says so for every rule (a rule's ObjectSizeGreaterThan would be a number where CloudFormation's
      // schema wants a string: W9003).
      transitionDefaultMinimumObjectSize: TransitionDefaultMinimumObjectSize.ALL_STORAGE_CLASSES_128_K,
      removalPolicy: props.devStack ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Only the archive consumer writes here; its puts are in CloudTrail data events where needed, without a second logs bucket.',
    });
    this.consumer = new ParleyFunction(this, 'Consumer', {
      name: 'archive',
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
    // The stream event source (`streamSources.archive`) and its on-failure queue come with the function.
    this.deadLetterQueue = this.consumer.streamDeadLetterQueues.archive!;
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
