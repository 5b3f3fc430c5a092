import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { streamItemOf } from '../adapters/stream-records.js';
import { publisher } from '../app/events-runtime.js';
import { forwardStreamBatch } from '../domain/events.js';
import { logger } from '../shared/logger.js';

/**
 * Stream consumer: every record of the timeline and undelivered streams becomes one event on the bus. A record whose
 * event is refused is reported as the batch item failure; Lambda retries from it (bisecting on errors) and sends
 * what exhausts the retries to the on-failure queue.
 */
export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  const items = event.Records.map(streamItemOf);
  for (const item of items) {
    if ('error' in item) logger.error('stream record yields no event', { position: item.position, error: item.error });
  }
  const retryFrom = await forwardStreamBatch(publisher, items);
  return { batchItemFailures: retryFrom === undefined ? [] : [{ itemIdentifier: retryFrom }] };
};
