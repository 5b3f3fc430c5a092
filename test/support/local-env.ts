import { commonEnv, queues, tables, type TableName } from '../../lib/definitions.js';

/** The endpoints of a running local stack that handler code needs. */
export interface LocalEndpoints {
  dynamodbEndpoint: string;
  sqsEndpoint: string;
  callbackUrl: string;
  tableNames: Record<TableName, string>;
  queueUrls: Record<keyof typeof queues, string>;
}

/** Environment variables that point handler modules imported in a test process at the local stack. */
export function localStackEnv(endpoints: LocalEndpoints): Record<string, string> {
  return {
    ...Object.fromEntries(Object.entries(tables).map(([name, def]) => [def.envVar, endpoints.tableNames[name as TableName]])),
    [queues.fanout.envVar]: endpoints.queueUrls.fanout,
    [commonEnv.callbackUrl]: endpoints.callbackUrl,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodbEndpoint,
    AWS_ENDPOINT_URL_SQS: endpoints.sqsEndpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    AWS_XRAY_MANUAL_MODE: 'true',
  };
}
