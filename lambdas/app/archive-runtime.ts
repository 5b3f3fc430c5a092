import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createArchiveDeps } from './archive-deps.js';

/** The archive consumer's DynamoDB client, built once per Lambda container (the local stack checks its calls against the role). */
export const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 4 }));
/** The archive consumer's dependencies. */
export const deps = createArchiveDeps(process.env, ddb);
