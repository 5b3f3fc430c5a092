import { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { archive, tables } from '../../lib/definitions.js';
import { DirectoryArchiveStore, S3ArchiveStore } from '../adapters/archive-stores.js';
import { translateAwsErrors } from '../adapters/aws-errors.js';
import { DynamoUserStore } from '../adapters/dynamo-user-store.js';
import type { ArchiveDeps } from '../domain/archive.js';
import type { ArchiveStore } from '../domain/ports.js';

/** The archive named by the environment: `ARCHIVE_BUCKET` (S3) or `ARCHIVE_DIR` (a local folder); none when neither is set. */
export function archiveStoreFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  s3: () => S3Client = () => new S3Client({ maxAttempts: 4 }),
): ArchiveStore | undefined {
  const bucket = env[archive.bucketEnvVar];
  if (bucket) return translateAwsErrors(new S3ArchiveStore(s3(), bucket));
  const directory = env[archive.directoryEnvVar];
  return directory ? new DirectoryArchiveStore(directory) : undefined;
}

/** What the archive consumer needs, built from its environment, reading erasure markers with `ddb`. */
export function createArchiveDeps(env: NodeJS.ProcessEnv, ddb: DynamoDBDocumentClient): ArchiveDeps {
  const store = archiveStoreFromEnv(env);
  if (!store) throw new Error(`set ${archive.bucketEnvVar} or ${archive.directoryEnvVar}`);
  return { archive: store, users: translateAwsErrors(new DynamoUserStore(ddb, env[tables.users.envVar] ?? '')) };
}
