import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { eventBus } from '../../lib/definitions.js';
import type { EventPublisher, ParleyEvent } from '../domain/events.js';
import { logger } from '../shared/logger.js';

/** EventBridge's size of an entry: Time counts 14 bytes, Source, DetailType, Detail and Resources their UTF-8 bytes. */
export function entrySize(entry: PutEventsRequestEntry): number {
  const bytes = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text));
  return (
    (entry.Time ? 14 : 0) + bytes(entry.Source) + bytes(entry.DetailType) + bytes(entry.Detail) + (entry.Resources ?? []).reduce((sum, r) => sum + bytes(r), 0)
  );
}

/** The PutEvents entry of an event on `busName`, timed at the change. */
export function toEntry(event: ParleyEvent, busName: string): PutEventsRequestEntry {
  const time = new Date(event.detail.occurredAt);
  return {
    EventBusName: busName,
    Source: eventBus.source,
    DetailType: event.detailType,
    Detail: JSON.stringify(event.detail),
    ...(Number.isNaN(time.getTime()) ? {} : { Time: time }),
  };
}

/** Splits entries into PutEvents calls of at most 10 entries and 256 KB, keeping their order. */
export function packCalls(entries: PutEventsRequestEntry[]): PutEventsRequestEntry[][] {
  const calls: PutEventsRequestEntry[][] = [];
  let current: PutEventsRequestEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entrySize(entry);
    if (current.length === eventBus.maxEntriesPerCall || (current.length > 0 && bytes + size > eventBus.maxCallBytes)) {
      calls.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}

/**
 * Publishes with PutEvents. An entry EventBridge refuses (`FailedEntryCount`, per-entry `ErrorCode`) and every entry of
 * a call that failed as a whole (throttling after the SDK's retries, a network error) is reported as not accepted,
 * so the consumer fails exactly those records.
 */
export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(events: ParleyEvent[]): Promise<boolean[]> {
    const calls = packCalls(events.map((event) => toEntry(event, this.busName)));
    const results = await Promise.all(
      calls.map(async (entries) => {
        try {
          const output = await this.client.send(new PutEventsCommand({ Entries: entries }));
          const accepted = entries.map((_, index) => {
            const result = output.Entries?.[index];
            return Boolean(result?.EventId) && !result?.ErrorCode;
          });
          if (output.FailedEntryCount) {
            logger.warn('PutEvents refused entries', {
              failed: output.FailedEntryCount,
              codes: [...new Set((output.Entries ?? []).flatMap((result) => (result.ErrorCode ? [result.ErrorCode] : [])))],
            });
          }
          return accepted;
        } catch (error) {
          logger.warn('PutEvents failed', { entries: entries.length, error: error as Error });
          return entries.map(() => false);
        }
      }),
    );
    return results.flat();
  }
}
