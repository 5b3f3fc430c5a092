import { createSqsClient } from '../../shared/aws-clients.js';
import { telemetry } from '../../shared/telemetry.js';

/** This container's SQS client (traced): the fanout queue's producer. */
export const sqs = createSqsClient(telemetry.tracer);
