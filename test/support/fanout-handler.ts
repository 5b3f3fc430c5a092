import { inject } from 'vitest';
import { localStackEnv } from './local-env.js';

/** Imports the fanout handler in the test's process with its environment pointed at the local stack. */
export async function loadFanoutHandler() {
  Object.assign(process.env, localStackEnv(inject('parley')));
  return (await import('../../lambdas/handlers/fanout.js')).handler;
}

/** An SQS event carrying `jobs`, as the event source mapping hands them to the fanout function. */
export const sqsEvent = (jobs: unknown[]) => ({
  Records: jobs.map((job, index) => ({
    messageId: `m-${index}`,
    receiptHandle: `r-${index}`,
    body: JSON.stringify(job),
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'local', ApproximateFirstReceiveTimestamp: String(Date.now()) },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:fanout',
    awsRegion: 'us-east-1',
  })),
});
