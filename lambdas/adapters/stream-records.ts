import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
// A namespace import, which esbuild tree-shakes: `{ z }` pulls every locale of zod into each bundle (~350 KB).
import * as z from 'zod';
import { tables } from '../../lib/definitions.js';
import { parseEvent, timelineEvent, UnmappableRecordError, undeliveredEvent, type ParleyEvent, type StreamItem } from '../domain/events.js';
import { toMessage } from './dynamo-message-store.js';

const undeliveredItemSchema = z.object({
  deliveryId: z.string().min(1),
  conversationId: z.string().min(1),
  epoch: z.string(),
  seq: z.number().int().positive(),
  senderId: z.string(),
  userIds: z.array(z.string()).min(1),
  preview: z.string(),
  occurredAt: z.string(),
});

// The table a record comes from, told by its key attributes (both streams feed one function).
const isUndelivered = (keys: Record<string, unknown>) => tables.undelivered.partitionKey.name in keys;

/** The event a stream record's new image yields, validated against its schema. */
function eventOf(record: DynamoDBRecord): ParleyEvent | null {
  const image = record.dynamodb?.NewImage;
  if (!image) throw new UnmappableRecordError(`record ${record.eventID} has no new image`);
  const item = unmarshall(image as Record<string, AttributeValue>);
  const event = isUndelivered(record.dynamodb?.Keys ?? {})
    ? undeliveredEvent(undeliveredItemSchema.parse({ ...item, userIds: item.userIds instanceof Set ? [...item.userIds] : item.userIds }))
    : timelineEvent(toMessage(item));
  return event && parseEvent(event.detailType, event.detail);
}

/** A DynamoDB stream record as the domain sees it: its sequence number and its event, or why it has none. */
export function streamItemOf(record: DynamoDBRecord): StreamItem {
  const position = record.dynamodb?.SequenceNumber ?? '';
  try {
    const event = eventOf(record);
    return event ? { position, event } : { position, skip: true };
  } catch (error) {
    return { position, error: error as Error };
  }
}
