import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
 * whose endpoint is the stage's callback URL.
 */
export function createAwsClients(config: Config): AwsClients {
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 4 }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  // The queue is in our own region, so the resolved endpoint (or AWS_ENDPOINT_URL_SQS locally) is always right;
  // emulators hand out queue URLs whose hosts do not resolve.
  const sqs = new SQSClient({ maxAttempts: 4, useQueueUrlAsEndpoint: false });
  // Retries of PostToConnection are ours (bounded, per connection); the SDK's would double them.
  const management = new ApiGatewayManagementApiClient({ endpoint: config.callbackUrl || undefined, maxAttempts: 2 });
  return { ddb, sqs, management };
}
