import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { fanoutJobSchema } from '../app/fanout-job-schema.js';
import { deps } from '../app/runtime.js';
import { PushFailedError, runJob } from '../domain/fanout.js';
import { logger } from '../shared/logger.js';

const processor = new BatchProcessor(EventType.SQS);

const processRecord = async (record: SQSRecord): Promise<void> => {
  try {
    await runJob(deps, fanoutJobSchema.parse(JSON.parse(record.body)));
  } catch (error) {
    // After the last attempt SQS redrives the record and, at its maxReceiveCount, dead-letters it: say to whom.
    if (error instanceof PushFailedError) {
      logger.error('pushes still failing after the last attempt', {
        messageId: record.messageId,
        receiveCount: Number(record.attributes.ApproximateReceiveCount),
        connections: error.failed,
      });
    }
    throw error;
  }
};

/** Fanout worker: each record is one job; failed records are reported so only they are retried. */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  processPartialResponse(event, processRecord, processor, { context });
