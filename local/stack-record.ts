/** Where `npm start` records the running stack's endpoints for scripts such as `npm run disconnect-user` (removed on stop). */
export const localStackFile = '.data/local-stack.json';

/** Where `npm start` keeps the archive (the bucket's layout in a folder). */
export const localArchiveDir = '.data/archive';

/** What `npm start` writes to `localStackFile`. */
export interface LocalStackRecord {
  presenceTable: string;
  callbackUrl: string;
  fanoutQueueUrl: string;
  dynamodbEndpoint: string;
  sqsEndpoint: string;
}
