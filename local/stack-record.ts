/** Where `npm start` records the running stack's endpoints for scripts such as `npm run disconnect-user` (removed on stop). */
export const localStackFile = '.data/local-stack.json';

/** What `npm start` writes to `localStackFile`. */
export interface LocalStackRecord {
  presenceTable: string;
  callbackUrl: string;
  fanoutQueueUrl: string;
  dynamodbEndpoint: string;
  sqsEndpoint: string;
}
