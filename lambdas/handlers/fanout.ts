import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { fanoutJobSchema } from '../app/fanout-job-schema.js';
import { deps } from '../app/runtime.js';
import { runJob } from '../domain/fanout.js';

const processor = new BatchProcessor(EventType.SQS);

const processRecord = async (record: SQSRecord): Promise<void> => {
  await runJob(deps, fanoutJobSchema.parse(JSON.parse(record.body)));
};

/** Fanout worker: each record is one job; failed records are reported so only they are retried. */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  processPartialResponse(event, processRecord, processor, { context });
