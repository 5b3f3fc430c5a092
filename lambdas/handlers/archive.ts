import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { deps } from '../app/archive-runtime.js';
import { archiveChanges, type ArchiveChange } from '../domain/archive.js';

/**
 * Archive consumer of the messages table's stream: every insert and update of a timeline item becomes a Parquet row.
 * Removals (TTL expiry) are not archived: the archive keeps what retention removes from the table. A failure fails
 * the batch, which Lambda retries (the objects it writes are named by the batch, so a retry rewrites them).
 */
export const handler = async (event: DynamoDBStreamEvent): Promise<void> => {
  const changes: ArchiveChange[] = event.Records.flatMap((record) => {
    const image = record.dynamodb?.NewImage;
    if ((record.eventName !== 'INSERT' && record.eventName !== 'MODIFY') || !image) return [];
    const seconds = record.dynamodb?.ApproximateCreationDateTime ?? Date.now() / 1000;
    return [
      {
        change: record.eventName,
        item: unmarshall(image as Record<string, AttributeValue>),
        changedAt: new Date(seconds * 1000).toISOString(),
        sequenceNumber: record.dynamodb?.SequenceNumber ?? '0',
      },
    ];
  });
  await archiveChanges(deps, changes);
};
