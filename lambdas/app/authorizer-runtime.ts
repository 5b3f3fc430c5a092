import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoUserStore } from '../adapters/dynamo-user-store.js';
import { loadConfig } from '../shared/config.js';

/** The authorizer's configuration, loaded once per Lambda container. */
export const config = loadConfig();
/** The authorizer's only client (ban items on the users table); the local stack checks its calls against the role. */
export const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 3 }));
/** Ban items: banned users cannot connect. */
export const users = new DynamoUserStore(ddb, config.tables.users);
