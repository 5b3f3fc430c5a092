import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { Config } from './config.js';

/** The AWS SDK clients every handler shares. */
export interface AwsClients {
  ddb: DynamoDBDocumentClient;
  sqs: SQSClient;
  management: ApiGatewayManagementApiClient;
}

/**
 * Builds the SDK clients once per Lambda container. Endpoints come from the standard
 * `AWS_ENDPOINT_URL*` variables (LocalStack, DynamoDB Local, fauxqs) except the Management API,
 * whose endpoint is the stage's callback URL. With a tracer, every call is an X-Ray subsegment (when tracing is
 * off, as outside Lambda, the clients are left as they are).
 */
export function createAwsClients(config: Config, tracer?: Tracer): AwsClients {
  const traced = <T>(client: T): T => (tracer ? tracer.captureAWSv3Client(client) : client);
  // The base client is captured: the document client shares its middleware stack.
  const ddb = DynamoDBDocumentClient.from(traced(new DynamoDBClient({ maxAttempts: 4 })), {
    marshallOptions: { removeUndefinedValues: true },
  });
  // The queue is in our own region, so the resolved endpoint (or AWS_ENDPOINT_URL_SQS locally) is always right;
  // emulators hand out queue URLs whose hosts do not resolve.
  const sqs = traced(new SQSClient({ maxAttempts: 4, useQueueUrlAsEndpoint: false }));
  // Retries of PostToConnection are ours (bounded, per connection); the SDK's would double them.
  const management = traced(new ApiGatewayManagementApiClient({ endpoint: config.callbackUrl || undefined, maxAttempts: 2 }));
  return { ddb, sqs, management };
}
