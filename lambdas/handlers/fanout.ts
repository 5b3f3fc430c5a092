import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { queues } from '../../lib/definitions.js';
import { fanoutJobSchema } from '../app/fanout-job-schema.js';
import { instrumented } from '../app/instrument.js';
import { deps } from '../app/runtime.js';
import { jobKeys, PushFailedError, runJob } from '../domain/fanout.js';
import { withKeys } from '../shared/telemetry.js';

const processor = new BatchProcessor(EventType.SQS);

const processRecord = async (record: SQSRecord): Promise<void> => {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount);
  let logger = withKeys(deps.logger, { messageId: record.messageId, receiveCount });
  try {
    const job = fanoutJobSchema.parse(JSON.parse(record.body));
    // The batch's records run concurrently: each job's logs carry its keys through its own deps.
    logger = withKeys(logger, jobKeys(job));
    await runJob({ ...deps, logger }, job);
  } catch (error) {
    if (error instanceof PushFailedError) {
      // Failing the last receive moves the record to the dead-letter queue; before that SQS redelivers it.
      if (receiveCount >= queues.fanout.maxReceiveCount) {
        deps.metrics.add('pushesDeadLettered', error.failed.length);
        logger.error('pushes dead-lettered: still failing on the last receive', { connections: error.failed });
      } else {
        logger.warn('pushes still failing after the last attempt; SQS redelivers the job', { connections: error.failed });
      }
    }
    throw error;
  }
};

/** Fanout worker: each record is one job; failed records are reported so only they are retried. */
export const handler = instrumented(
  'fanout',
  async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => processPartialResponse(event, processRecord, processor, { context }),
);
