import { createDocumentClient } from '../../shared/aws-clients.js';
import { telemetry } from '../../shared/telemetry.js';

/** This container's DynamoDB document client (traced), shared by all of the function's stores. */
export const ddb = createDocumentClient(telemetry.tracer);
