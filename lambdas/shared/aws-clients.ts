import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { Config } from './config.js';

/** The AWS SDK clients of the functions that use all three (actions, fanout, serverApi) and of the scripts. */
export interface AwsClients {
  ddb: DynamoDBDocumentClient;
  sqs: SQSClient;
  management: ApiGatewayManagementApiClient;
}

// With a tracer, every call is an X-Ray subsegment (when tracing is off, as outside Lambda, the client is left as it is).
const traced = <T>(client: T, tracer?: Tracer): T => (tracer ? tracer.captureAWSv3Client(client) : client);

/**
 * Resolve each command's middleware stack once per client instead of on every call: about 10-25% less SDK CPU per
 * request (PostToConnection is the fanout's hot call). Middleware must then be added before a client's first call,
 * which tracing and the local stack's instrumentation do. The document client refuses it (lib-dynamodb).
 */
const cacheMiddleware = true;

// One factory per client: a handler that builds only some of them bundles only those SDK packages (lambdas/app/container/).

/** The DynamoDB document client; its endpoint comes from `AWS_ENDPOINT_URL*` (DynamoDB Local, LocalStack). */
export function createDocumentClient(tracer?: Tracer): DynamoDBDocumentClient {
  // The base client is captured: the document client shares its middleware stack.
  return DynamoDBDocumentClient.from(traced(new DynamoDBClient({ maxAttempts: 4 }), tracer), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/** The SQS client; its endpoint comes from `AWS_ENDPOINT_URL*` (fauxqs, LocalStack). */
export function createSqsClient(tracer?: Tracer): SQSClient {
  // The queue is in our own region, so the resolved endpoint (or AWS_ENDPOINT_URL_SQS locally) is always right;
  // emulators hand out queue URLs whose hosts do not resolve.
  return traced(new SQSClient({ maxAttempts: 4, useQueueUrlAsEndpoint: false, cacheMiddleware }), tracer);
}

/** The API Gateway Management API client of the stage whose callback URL is `callbackUrl`. */
export function createManagementClient(callbackUrl: string, tracer?: Tracer): ApiGatewayManagementApiClient {
  // Retries of PostToConnection are ours (bounded, per connection); the SDK's would double them.
  return traced(new ApiGatewayManagementApiClient({ endpoint: callbackUrl || undefined, maxAttempts: 2, cacheMiddleware }), tracer);
}

/**
 * Builds all three SDK clients (the scripts and tests; the functions take theirs from lambdas/app/container/). Endpoints
 * come from the standard `AWS_ENDPOINT_URL*` variables except the Management API's, which is the stage's callback URL.
 */
export function createAwsClients(config: Config, tracer?: Tracer): AwsClients {
  return { ddb: createDocumentClient(tracer), sqs: createSqsClient(tracer), management: createManagementClient(config.callbackUrl, tracer) };
}
